"""The labs: one module per lab and engine (``mlp.py`` its NumPy trainer, ``mlp_torch.py`` its torch
trainer; a lab on one engine only is ``<lab>.py``), built on engines/numpy_engine and
engines/torch_engine (building blocks that never import a lab). Which trainer runs which lab on which
engine is declared once, in engines/lab_registry.py.
"""
from __future__ import annotations

import importlib

from .. import StepwiseError
from ..lab_registry import LABS, LabInfo, lab_ids, lab_info  # noqa: F401  (the registry, re-exported)
from ..options import check_config


def make_trainer(config: dict):
    info = lab_info(config.get("lab", ""))
    engine = config.get("engine") or info.engines[0]
    if engine not in info.engines:
        raise StepwiseError(f"The {info.id} lab runs on the {' or '.join(info.engines)} engine, not {engine!r}.")
    # every value against its declaration (engines/options.py): the same sentence on the CLI and in the form
    config = check_config(dict(config, engine=engine))
    module, name = info.trainers[engine].split(":")
    return getattr(importlib.import_module(module), name)(config)
