"""The labs registry (UI side): lab id -> view class and the settings shown for it.

The engine side (lab id -> trainer) is engines/labs/__init__.py. Views are imported lazily.
"""
from __future__ import annotations

import dataclasses
import importlib
from dataclasses import dataclass, field

from engines.options import LAB_OPTIONS, OptionSpec
from widgets.lab_view import LabView


@dataclass(frozen=True)
class LabUI:
    view: str                                   # "module:Class"
    options: tuple[OptionSpec, ...] = field(default=())


SEED_HELP = "Seeds every random draw (initial weights, batch order, dropout): the same seed gives the same run."
DECAY_HELP = "Learning-rate schedule η_t = η / (1 + t / decay): the rate halves after this many iterations; 0 keeps it constant."
SHIFT_HELP = "Each training image is moved by up to this many pixels at random: more variety from the same 8,000 images."
BATCH_HELP = "Examples B per iteration; the loss is their mean L = (1/B) Σ ℓ_i, and so is its gradient."
OPTIMIZER_HELP = ("The NumPy engine's own optimizers (SGD θ ← θ − η·g; momentum v ← μv + g, θ ← θ − η·v; Adam with "
                  "moment estimates m, v: θ ← θ − η·m̂ / (√v̂ + ε); ...); each starts at a rate that suits it.")

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


# The form's tooltip of each setting: one sentence, with the math where there is one. By (lab, key),
# or (lab, key, engine) where one key has two meanings; then by key; else the declaration's own.
COMMON_HELP = {"seed": SEED_HELP, "shift": SHIFT_HELP, "batch_size": BATCH_HELP, "optimizer": OPTIMIZER_HELP,
               "decay": DECAY_HELP}
TEXT_HELP = {
    "hidden": "Units H per layer: the hidden state h_t has H numbers (h_t = tanh(W_xh·x_t + W_hh·h_{t−1} + b) in the "
              "RNN; four gates of H in the LSTM).",
    "depth": "Stacked recurrent layers: layer l reads layer l−1's h_t as its input.",
    "seq_len": "Characters T per training sequence: backpropagation through time walks them back one phase per "
               "character (several per phase above 50).",
    "batch_size": "Sequences B trained side by side; the loss is their mean over B·T characters.",
    "text": "A UTF-8 text file to train on; empty: Tiny Shakespeare (shipped in assets/).",
}
LAB_HELP = {
    ("mlp", "hidden"): "Units of each hidden Dense layer, comma-separated (e.g. 256,128,64): h = act(x·W + b).",
    ("mlp", "activation"): "The nonlinearity after each hidden layer: relu(z) = max(0, z); tanh; "
                           "sigmoid(z) = 1 / (1 + e^−z).",
    ("mlp", "dropout"): "Probability p of zeroing each input pixel while training; kept ones are scaled by 1/(1 − p).",
    ("cnn", "channels"): "Feature maps of the two 3×3 convolutions, e.g. 12,24: y[c] = Σ_k W[c,k] ⋆ x[k] + b[c].",
    ("batch1", "batch_size"): "1: the point of the lab (BatchNorm's mean and variance of one example are that "
                              "example); try 32 to see BatchNorm work again.",
    ("batch1", "groups"): "GroupNorm normalises each example over groups of channels: x̂ = (x − μ_g) / √(σ²_g + ε), "
                          "with no dependence on the batch.",
    ("optimizers", "surface"): "The function f(x, y) every optimizer descends, e.g. Rosenbrock (1 − x)² + "
                               "100(y − x²)²; network: one small MLP on MNIST per optimizer, and its loss landscape.",
    ("optimizers", "start"): "Where every optimizer starts, as x,y; empty: the surface's usual start; or click the plot.",
    ("optimizers", "condition"): "f = ½(x² + κ·y²): κ = the ratio of the largest to the smallest curvature; large κ "
                                 "makes a narrow valley that plain SGD zig-zags across.",
    ("optimizers", "angle"): "Rotates the quadratic's valley away from the x, y axes: per-coordinate methods "
                             "(Adagrad, RMSprop, Adam) lose their advantage.",
    ("optimizers", "optimizers"): "all, or some of: sgd,momentum,nesterov,adagrad,rmsprop,adadelta,adam,adamax,adamw.",
    ("resnet", "arch"): "small: a ResNet for MNIST of the chosen depth; resnet50: ResNet-50 stepped on one "
                        "224×224 input.",
    ("resnet", "depth", "torch"): "Weight layers of the small net: 6n + 2 = 8, 14, 20, 26, 32, 44, 56, ... "
                                  "(3 stages of n blocks); ResNet-50's depth is fixed.",
    ("resnet", "depth", "numpy"): "Weight layers, an even number 2n + 2: n residual Dense blocks y = x + F(x).",
    ("resnet", "norm"): "auto: none for the small net, BatchNorm for ResNet-50; bn: BatchNorm; gnws: GroupNorm + "
                        "weight-standardized convolutions (Ŵ = (W − mean) / std per filter).",
    ("resnet", "compare"): "plain: the same net without skips (y = F(x) instead of x + F(x)); optimizer: the same net "
                           "with the other optimizer.",
    ("resnet", "plain"): "Removes the skip connections of the first (inspected) run: y = F(x); a new run from the "
                         "same init.",
    ("resnet", "optimizer"): "Adam: θ ← θ − η·m̂ / (√v̂ + ε); AdaMax: the ∞-norm u ← max(β2·u, |g|) in place of √v̂; "
                             "SGD: θ ← θ − η·g.",
}
TEXT_LABS = ("char-rnn", "lstm")


def with_help(lab: str, spec: OptionSpec) -> OptionSpec:
    """The declaration with the form's tooltip (see LAB_HELP)."""
    engine = spec.engines[0] if spec.engines else ""
    text = (LAB_HELP.get((lab, spec.key, engine)) or LAB_HELP.get((lab, spec.key))
            or (TEXT_HELP.get(spec.key) if lab in TEXT_LABS else None) or COMMON_HELP.get(spec.key) or spec.tooltip)
    return dataclasses.replace(spec, tooltip=text)


# the settings are declared once, in engines/options.py (the CLI checks the same declarations)
LAB_UIS: dict[str, LabUI] = {lab: LabUI(view, tuple(with_help(lab, o) for o in LAB_OPTIONS[lab] if o.form))
                             for lab, view in {
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
