"""The labs registry (UI side): lab id -> view class and the settings shown for it.

The engine side (lab id -> trainer) is engines/labs/__init__.py. Views are imported lazily.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field

from engines.options import LAB_OPTIONS, OptionSpec
from widgets.lab_view import LabView


@dataclass(frozen=True)
class LabUI:
    view: str                                   # "module:Class"
    options: tuple[OptionSpec, ...] = field(default=())


# Live hyperparameters (changed from the next iteration on), by name; "plain_lr" etc. use "lr".
LIVE_HELP = {
    "lr": "Learning rate η: θ ← θ − η·∇L (scaled by the optimizer's own terms); too large and the loss explodes.",
    "momentum": "Momentum μ: v ← μ·v + ∇L, θ ← θ − η·v; the velocity keeps 90% of itself each step at μ = 0.9.",
    "clip": "Gradient clipping before the update: entries to [−clip, clip] (char-RNN), or the whole gradient's "
            "norm to at most clip (g ← g·clip/‖g‖, LSTM); tames exploding gradients through time.",
    "lr_decay": "Adagrad's rate decay: η_t = η / (1 + (t − 1)·lr_decay).",
    "beta1": "β1: the first-moment average m ← β1·m + (1 − β1)·g.",
    "beta2": "β2: the second-moment average v ← β2·v + (1 − β2)·g².",
    "rho": "ρ: the running average of squared gradients E[g²] ← ρ·E[g²] + (1 − ρ)·g².",
    "eps": "ε: added to the denominator, θ ← θ − η·m / (√v + ε), so a tiny v cannot blow the step up.",
    "weight_decay": "Weight decay λ: θ ← θ − η·λ·θ each step, on top of the gradient step (AdamW: decoupled).",
}


# the settings are declared once, in engines/options.py (the CLI checks the same declarations)
LAB_UIS: dict[str, LabUI] = {lab: LabUI(view, tuple(o for o in LAB_OPTIONS[lab] if o.form)) for lab, view in {
    "mlp": "widgets.mlp_view:MLPView",
    "cnn": "widgets.cnn_view:CNNView",
    "batch1": "widgets.batch1_view:Batch1View",
    "optimizers": "widgets.optimizer_view:OptimizerView",
    "resnet": "widgets.resnet_view:ResNetView",
    "char-rnn": "widgets.text_view:TextView",
    "lstm": "widgets.text_view:TextView",
}.items()}


def lab_ui(lab: str) -> LabUI:
    return LAB_UIS.get(lab, LabUI("widgets.mlp_view:MLPView"))


def make_view(lab: str) -> LabView:
    module, cls = lab_ui(lab).view.split(":")
    return getattr(importlib.import_module(module), cls)()
