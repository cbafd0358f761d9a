"""A Model is an ordered list of layers and a loss."""
from __future__ import annotations

import numpy as np

from .layers import Layer, preserved_caches
from .losses import Loss


class Model:
    def __init__(self, layers: list[Layer], loss: Loss):
        names = [layer.name for layer in layers]
        assert len(set(names)) == len(names), "layer names must be unique"
        self.layers = layers
        self.loss = loss

    def __repr__(self) -> str:
        """Its layers, one a line with their parameters' shapes (and the last output's), as torch prints a Module."""
        lines = [f"  ({i}) {layer!r}" for i, layer in enumerate(self.layers)]
        total = sum(p.size for p in self.params())
        return f"{type(self).__name__}(\n" + "\n".join(lines) + f"\n  loss: {self.loss!r}\n) {total:,} parameters"

    def forward(self, x: np.ndarray, training: bool = True) -> np.ndarray:
        for layer in self.layers:
            x = layer.forward(x, training)
        return x

    def backward(self, grad: np.ndarray) -> np.ndarray:
        for layer in reversed(self.layers):
            grad = layer.backward(grad)
        return grad

    def params(self) -> list[np.ndarray]:
        return [p for layer in self.layers for p in layer.params()]

    def param_grads(self) -> list[np.ndarray]:
        return [g for layer in self.layers for g in layer.param_grads()]

    def param_names(self) -> list[str]:
        return [f"{layer.name}.{op.param_name}" for layer in self.layers for op in layer.param_ops()]

    def predict(self, x: np.ndarray, batch_size: int = 1000) -> np.ndarray:
        """Logits in evaluation mode, in chunks to bound memory. Leaves the caches of a training
        iteration in progress as they were, so evaluating mid-iteration changes nothing."""
        with preserved_caches(self.layers):
            out = [self.forward(x[i:i + batch_size], training=False) for i in range(0, len(x), batch_size)]
        return np.concatenate(out, axis=0)

    def state_arrays(self) -> dict[str, np.ndarray]:
        return {name: p.copy() for name, p in zip(self.param_names(), self.params())}

    def load_state_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        for name, p in zip(self.param_names(), self.params()):
            if name not in arrays:
                raise KeyError(name)
            if arrays[name].shape != p.shape:
                raise ValueError(f"{name}: shape {arrays[name].shape} != {p.shape}")
            p[...] = arrays[name]  # in place: operations and optimizers keep their references
