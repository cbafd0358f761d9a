"""Layers: named groups of operations, the unit the app steps through and shows."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterable, Iterator

import numpy as np

from .base import Operation, ParamOperation, shape_text
from .ops import ACTIVATIONS, BiasAdd, Dropout, WeightMultiply


class Layer:
    """A sequence of Operations run in order; backward runs them in reverse."""

    kind = "layer"

    def __init__(self, name: str, operations: list[Operation]):
        self.name = name
        self.operations = operations

    def forward(self, x: np.ndarray, training: bool = True) -> np.ndarray:
        self.input = x
        for op in self.operations:
            x = op.forward(x, training)
        self.output = x
        return x

    def backward(self, grad: np.ndarray) -> np.ndarray:
        self.output_grad = grad
        for op in reversed(self.operations):
            grad = op.backward(grad)
        self.input_grad = grad
        return grad

    def param_ops(self) -> list[ParamOperation]:
        return [op for op in self.operations if isinstance(op, ParamOperation)]

    def params(self) -> list[np.ndarray]:
        return [op.param for op in self.param_ops()]

    def param_grads(self) -> list[np.ndarray]:
        return [op.param_grad for op in self.param_ops()]

    def describe(self) -> str:
        return self.name

    def __repr__(self) -> str:
        """Dense('dense1': Dense 784→256 + relu; W 784×256 float32, b 256 float32; 200,960 parameters)."""
        params = ", ".join(f"{op.param_name} {shape_text(op.param)}" for op in self.param_ops())
        n = sum(p.size for p in self.params())
        out = f" → {tuple(self.output.shape)}" if getattr(self, "output", None) is not None else ""
        return (f"{type(self).__name__}({self.name!r}: {self.describe()}; "
                f"{params + f'; {n:,} parameters' if params else 'no parameters'}{out})")


def init_weight(rng: np.random.Generator, fan_in: int, fan_out: int, activation: str, dtype) -> np.ndarray:
    """He initialisation for ReLU, Glorot (Xavier) otherwise; drawn from the layer's own generator."""
    if activation == "relu":
        std = np.sqrt(2.0 / fan_in)
    else:
        std = np.sqrt(2.0 / (fan_in + fan_out))
    return (rng.standard_normal((fan_in, fan_out)) * std).astype(dtype)


class Dense(Layer):
    """y = act(x · W + b)."""

    kind = "dense"

    def __init__(self, name: str, n_in: int, n_out: int, activation: str, rng: np.random.Generator,
                 dtype=np.float32):
        if activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r}")
        self.n_in, self.n_out, self.activation = n_in, n_out, activation
        W = init_weight(rng, n_in, n_out, activation, dtype)
        b = np.zeros(n_out, dtype=dtype)
        super().__init__(name, [WeightMultiply(W), BiasAdd(b), ACTIVATIONS[activation]()])

    @property
    def weight(self) -> np.ndarray:
        return self.operations[0].param

    @property
    def bias(self) -> np.ndarray:
        return self.operations[1].param

    def describe(self) -> str:
        act = "" if self.activation == "linear" else f" + {self.activation}"
        return f"Dense {self.n_in}→{self.n_out}{act}"


class DropoutLayer(Layer):
    kind = "dropout"

    def __init__(self, name: str, p: float, rng: np.random.Generator):
        self.p = p
        super().__init__(name, [Dropout(p, rng)])

    def describe(self) -> str:
        return f"Dropout p={self.p:g}"


def _cache_holders(obj, found: dict[int, object]) -> None:
    """obj and every Operation / Layer reachable from its attributes (directly or in lists)."""
    if id(obj) in found:
        return
    found[id(obj)] = obj
    for value in vars(obj).values():
        for item in (value if isinstance(value, (list, tuple)) else (value,)):
            if isinstance(item, (Operation, Layer)):
                _cache_holders(item, found)


@contextmanager
def preserved_caches(layers: Iterable[Layer]) -> Iterator[None]:
    """Run forward passes (evaluation, a drawn digit, the diagram's shapes) inside this block
    without disturbing a training iteration in progress: every forward overwrites the inputs
    and outputs its layer and operations keep for backward, so they are put back afterwards.
    Parameters are shared, not copied (forward never changes them)."""
    found: dict[int, object] = {}
    for layer in layers:
        _cache_holders(layer, found)
    saved = [(obj, dict(vars(obj))) for obj in found.values()]
    try:
        yield
    finally:
        for obj, attributes in saved:
            vars(obj).clear()
            vars(obj).update(attributes)
