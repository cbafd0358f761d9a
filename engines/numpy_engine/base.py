"""The two building blocks of the NumPy engine.

An Operation maps an input array to an output array and knows how to send the
gradient of the loss back through itself. A ParamOperation also owns a parameter
array and computes the gradient with respect to it. Each forward stores what its
backward needs; shapes are asserted at every boundary.
"""
from __future__ import annotations

import numpy as np


def assert_same_shape(a: np.ndarray, b: np.ndarray, what: str) -> None:
    assert a.shape == b.shape, f"{what}: shape {a.shape} != {b.shape}"


def shape_text(a: np.ndarray) -> str:
    """(784, 256) float32 -> "784×256 float32"."""
    return f"{'×'.join(map(str, a.shape)) or 'scalar'} {a.dtype}"


def settings_text(obj, names: tuple[str, ...]) -> str:
    """"kernel=2, stride=2" from the attributes that exist."""
    return ", ".join(f"{n}={getattr(obj, n)!r}" for n in names if hasattr(obj, n))


class Operation:
    """y = f(x). forward caches x and y; backward maps dL/dy to dL/dx."""

    shown: tuple[str, ...] = ("p", "kernel", "stride", "padding", "groups", "eps")   # settings __repr__ shows

    def __repr__(self) -> str:
        return f"{type(self).__name__}({settings_text(self, self.shown)})"

    def forward(self, x: np.ndarray, training: bool = True) -> np.ndarray:
        self.input = x
        self.training = training
        self.output = self._output()
        return self.output

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        assert_same_shape(self.output, grad_output, f"{type(self).__name__} grad_output")
        self.input_grad = self._input_grad(grad_output)
        assert_same_shape(self.input, self.input_grad, f"{type(self).__name__} input_grad")
        return self.input_grad

    def _output(self) -> np.ndarray:
        raise NotImplementedError

    def _input_grad(self, grad_output: np.ndarray) -> np.ndarray:
        raise NotImplementedError


class ParamOperation(Operation):
    """y = f(x; θ). Also computes dL/dθ, stored in param_grad — unless ``frozen``: then backward
    sends dL/dx on and computes no dL/dθ (param_grad is None, and optimizers leave θ alone)."""

    frozen = False

    def __init__(self, param: np.ndarray, name: str = "param"):
        self.param = param
        self.param_name = name
        self.param_grad = np.zeros_like(param)

    def __repr__(self) -> str:
        extra = settings_text(self, self.shown)
        return (f"{type(self).__name__}({self.param_name} {shape_text(self.param)}"
                f"{', ' + extra if extra else ''}{', frozen' if self.frozen else ''})")

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        input_grad = super().backward(grad_output)
        if self.frozen:
            self.param_grad = None
            return input_grad
        self.param_grad = self._param_grad(grad_output)
        assert_same_shape(self.param, self.param_grad, f"{type(self).__name__} param_grad")
        return input_grad

    def _param_grad(self, grad_output: np.ndarray) -> np.ndarray:
        raise NotImplementedError
