"""The labs registry (UI side): lab id -> view class and the settings shown for it.

The settings themselves (type, default, range, help = the tooltip, live or not) are plain data
declared once in engines/options.py; this file only picks the form's ones.

The engine side (lab id -> trainer) is engines/labs/__init__.py. Views are imported lazily.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field

from engines.options import LAB_OPTIONS, OptionSpec, live_help
from widgets.lab_view import LabView


@dataclass(frozen=True)
class LabUI:
    view: str                                   # "module:Class"
    options: tuple[OptionSpec, ...] = field(default=())


# Live hyperparameters' tooltips (changed from the next iteration on), by name; "plain_lr" etc. use
# "lr". Declared with the settings (engines/options.py, ``live=True``).
LIVE_HELP = live_help()


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
