"""The MLP lab: a multilayer perceptron on MNIST (seed 004), NumPy engine."""
from __future__ import annotations

import numpy as np

from .. import StepwiseError
from ..numpy_engine.layers import Dense, DropoutLayer, Layer
from .classifier import ClassifierPhaseData, ClassifierView, NumpyClassifierTrainer


class MLPView(ClassifierView):
    """The MLP's view_data: the classifier's (live hyperparameters, the held-out report)."""


VIEW_DATA = MLPView                      # view_data(), both engines (tests/test_view_contracts.py)
PHASE_DATA = ClassifierPhaseData         # Session.block_phase_data(block)


def parse_hidden(value) -> tuple[int, ...]:
    """Hidden sizes from '256,128,64', a list, or a tuple; each a whole number from 1 to 4096."""
    if isinstance(value, str):
        parts = [p.strip() for p in value.replace(" ", ",").split(",") if p.strip()]
    else:
        parts = list(value)
    if not parts:
        raise StepwiseError("Hidden sizes are empty; give a list of whole numbers such as 256,128,64.")
    sizes = []
    for p in parts:
        try:
            n = int(p)
        except (TypeError, ValueError):
            raise StepwiseError(f"Hidden size {p!r} is not a whole number; give sizes such as 256,128,64.") from None
        if not 1 <= n <= 4096:
            raise StepwiseError(f"Hidden size {n} is out of range; each size must be between 1 and 4096.")
        sizes.append(n)
    if len(sizes) > 8:
        raise StepwiseError("At most 8 hidden layers; give fewer sizes.")
    return tuple(sizes)


class MLPLab:
    """What the MLP lab adds to either engine's classifier trainer (a mixin; the trainer comes second):
    its settings, read once from their declarations."""

    lab = "mlp"
    default_lr = 0.05

    def __init__(self, config: dict):
        opts = self.read_settings(config)
        self.hidden = parse_hidden(opts["hidden"])
        self.activation, self.dropout = opts["activation"], opts["dropout"]
        super().__init__(config)


class MLPTrainer(MLPLab, NumpyClassifierTrainer):

    def build_layers(self, rng: np.random.Generator) -> list[Layer]:
        layers: list[Layer] = [DropoutLayer("dropout", self.dropout, self.rng)] if self.dropout > 0 else []
        sizes = (784, *self.hidden)
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:]), start=1):
            layers.append(Dense(f"dense{i}", a, b, self.activation, rng, self.dtype))
        layers.append(Dense("output", sizes[-1], 10, "linear", rng, self.dtype))
        return layers

