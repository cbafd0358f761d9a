"""The labs registry (UI side): lab id -> view class and the settings shown for it.

The engine side (lab id -> trainer) is engines/labs/__init__.py. Views are imported lazily.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field

from widgets.lab_view import LabView, OptionSpec

ACTIVATIONS = ("relu", "tanh", "sigmoid")


@dataclass(frozen=True)
class LabUI:
    view: str                                   # "module:Class"
    options: tuple[OptionSpec, ...] = field(default=())


LAB_UIS: dict[str, LabUI] = {
    "mlp": LabUI("widgets.mlp_view:MLPView", (
        OptionSpec("hidden", "hidden sizes", "text", "256,128,64", tooltip="comma-separated, e.g. 256,128,64"),
        OptionSpec("activation", "activation", "choice", "relu", ACTIVATIONS),
        OptionSpec("dropout", "dropout before layer 1", "float", 0.3, maximum=0.95),
        OptionSpec("optimizer", "optimizer", "choice", "momentum", ("sgd", "momentum")),
        OptionSpec("batch_size", "batch size", "int", 64, minimum=1, maximum=4096),
        OptionSpec("seed", "seed", "int", 0, maximum=2**31 - 1),
    )),
}


def lab_ui(lab: str) -> LabUI:
    return LAB_UIS.get(lab, LabUI("widgets.mlp_view:MLPView"))


def make_view(lab: str) -> LabView:
    module, cls = lab_ui(lab).view.split(":")
    return getattr(importlib.import_module(module), cls)()
