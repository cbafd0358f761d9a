"""Elementwise and matrix operations with hand-written backward passes."""
from __future__ import annotations

import numpy as np

from .base import Operation, ParamOperation


class WeightMultiply(ParamOperation):
    """y = x · W, x: (N, in), W: (in, out)."""

    def __init__(self, W: np.ndarray):
        super().__init__(W, "weight")

    def _output(self):
        return self.input @ self.param  # (N, out)

    def _input_grad(self, g):
        return g @ self.param.T  # dL/dx = dL/dy · W^T

    def _param_grad(self, g):
        return self.input.T @ g  # dL/dW = x^T · dL/dy


class BiasAdd(ParamOperation):
    """y = x + b, b: (out,) broadcast over the batch."""

    def __init__(self, b: np.ndarray):
        super().__init__(b, "bias")

    def _output(self):
        return self.input + self.param

    def _input_grad(self, g):
        return g  # dL/dx = dL/dy

    def _param_grad(self, g):
        return g.sum(axis=0)  # dL/db = Σ_n dL/dy_n


class Sigmoid(Operation):
    def _output(self):
        # σ(x) = 1 / (1 + e^-x), written to avoid overflow for large |x|
        x = self.input
        e = np.exp(-np.abs(x))
        return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e)).astype(x.dtype, copy=False)

    def _input_grad(self, g):
        return g * self.output * (1.0 - self.output)  # dσ/dx = σ(1 − σ)


class Tanh(Operation):
    def _output(self):
        return np.tanh(self.input)

    def _input_grad(self, g):
        return g * (1.0 - self.output * self.output)  # d tanh/dx = 1 − tanh²


class ReLU(Operation):
    def _output(self):
        return np.maximum(self.input, 0)

    def _input_grad(self, g):
        return g * (self.input > 0)  # dReLU/dx = 1 where x > 0, else 0 (torch's choice at 0)


class Identity(Operation):
    def _output(self):
        return self.input

    def _input_grad(self, g):
        return g


class Dropout(Operation):
    """Inverted dropout: in training, zero each unit with probability p and scale the
    survivors by 1/(1−p), so evaluation needs no rescaling. Identity in evaluation."""

    def __init__(self, p: float, rng: np.random.Generator):
        assert 0.0 <= p < 1.0, "dropout probability must be in [0, 1)"
        self.p = p
        self.rng = rng

    def _output(self):
        if not self.training or self.p == 0.0:
            self.mask = None
            return self.input
        keep = self.rng.random(self.input.shape) >= self.p
        self.mask = keep.astype(self.input.dtype) / (1.0 - self.p)
        return self.input * self.mask

    def _input_grad(self, g):
        return g if self.mask is None else g * self.mask  # dL/dx = mask/(1−p) ⊙ dL/dy


ACTIVATIONS = {"relu": ReLU, "tanh": Tanh, "sigmoid": Sigmoid, "linear": Identity}
