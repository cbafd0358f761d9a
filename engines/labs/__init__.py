"""The labs registry (engine side): lab id -> trainer factory, imported lazily.

Each lab module defines ``make_trainer(config: dict) -> Trainer`` which validates the
config and raises StepwiseError with one clear sentence for bad values.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass

from .. import StepwiseError
from ..options import check_config


@dataclass(frozen=True)
class LabInfo:
    id: str
    title: str
    engines: tuple[str, ...]
    module: str


LABS: dict[str, LabInfo] = {
    info.id: info for info in [
        LabInfo("mlp", "MLP on MNIST", ("numpy", "torch"), "engines.labs.mlp"),
        LabInfo("cnn", "CNN on MNIST", ("numpy", "torch"), "engines.labs.cnn"),
        LabInfo("batch1", "Batch size 1: GN+WS vs BatchNorm", ("torch",), "engines.labs.batch1"),
        LabInfo("optimizers", "Optimizers race", ("numpy",), "engines.labs.optimizers"),
        LabInfo("resnet", "Residual vs plain (ResNet)", ("torch", "numpy"), "engines.labs.resnet"),
        LabInfo("char-rnn", "char-RNN on Shakespeare", ("numpy",), "engines.labs.char_rnn"),
        LabInfo("lstm", "LSTM on Shakespeare", ("torch", "numpy"), "engines.labs.lstm"),
    ]
}


def lab_ids() -> list[str]:
    return list(LABS)


def lab_info(lab: str) -> LabInfo:
    if lab not in LABS:
        raise StepwiseError(f"Unknown lab {lab!r}; choose one of: {', '.join(LABS)}.")
    return LABS[lab]


def make_trainer(config: dict):
    info = lab_info(config.get("lab", ""))
    engine = config.get("engine") or info.engines[0]
    if engine not in info.engines:
        raise StepwiseError(f"The {info.id} lab runs on the {' or '.join(info.engines)} engine, not {engine!r}.")
    # every value against its declaration (engines/options.py): the same sentence on the CLI and in the form
    config = check_config(dict(config, engine=engine))
    return importlib.import_module(info.module).make_trainer(config)
