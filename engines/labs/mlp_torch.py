"""The MLP lab on the Torch engine: the NumPy lab's network (engines/labs/mlp.py) as torch blocks."""
from __future__ import annotations

import numpy as np

from ..torch_engine.models import mlp_blocks
from ..torch_engine.staged import StagedBlock
from .classifier_torch import TorchClassifierTrainer
from .mlp import MLPLab


class TorchMLPTrainer(MLPLab, TorchClassifierTrainer):

    def build_blocks(self, rng: np.random.Generator) -> list[StagedBlock]:
        return mlp_blocks(self.hidden, self.activation, self.dropout, rng, self.generator)

    def numpy_twin_layers(self) -> list:
        """The NumPy MLP lab's layers (weights are overwritten by the caller)."""
        from ..numpy_engine.layers import Dense, DropoutLayer
        rng = np.random.default_rng(0)
        layers = [DropoutLayer("dropout", self.dropout, rng)] if self.dropout > 0 else []
        sizes = (784, *self.hidden)
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:]), start=1):
            layers.append(Dense(f"dense{i}", a, b, self.activation, rng))
        layers.append(Dense("output", sizes[-1], 10, "linear", rng))
        return layers
