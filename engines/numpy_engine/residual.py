"""A residual block for the NumPy engine, and its plain twin.

    F(x) = relu(x · W1 + b1) · W2 + b2          (the residual branch, width → width)
    z    = x + F(x)                              (the add node; plain block: z = F(x))
    y    = relu(z)

Backward: the add node copies dL/dz to both of its inputs, and x fans out to both paths, so
the gradient reaching x is the sum of what came back through each:

    dL/dx = dL/dz (through the identity skip)  +  J_F^T · dL/dz (through the branch)

The block keeps both parts (``skip_grad``, ``branch_grad``) so the lab can show how much of
the gradient arrived through the skip connection. Dense layers rather than convolutions keep
the NumPy lab quick; the math of the skip is the same.
"""
from __future__ import annotations

import numpy as np

from .base import Operation, assert_same_shape
from .layers import Layer, init_weight
from .ops import BiasAdd, ReLU, WeightMultiply


class ResidualDense(Layer):
    """y = relu(x + F(x)) with F = Dense(relu) → Dense(linear); ``skip=False``: y = relu(F(x))."""

    kind = "residual"

    def __init__(self, name: str, width: int, rng: np.random.Generator, dtype=np.float32, skip: bool = True,
                 hidden: int | None = None):
        self.width, self.hidden, self.skip = width, hidden or width, skip
        W1 = init_weight(rng, width, self.hidden, "relu", dtype)   # (width, hidden), He
        W2 = init_weight(rng, self.hidden, width, "relu", dtype)   # (hidden, width), He
        self.branch: list[Operation] = [WeightMultiply(W1), BiasAdd(np.zeros(self.hidden, dtype=dtype)), ReLU(),
                                        WeightMultiply(W2), BiasAdd(np.zeros(width, dtype=dtype))]
        for op, pname in zip((self.branch[0], self.branch[1], self.branch[3], self.branch[4]),
                             ("weight1", "bias1", "weight2", "bias2")):
            op.param_name = pname  # unique names within the layer (Model.param_names: "<layer>.<param>")
        self.out_relu = ReLU()
        super().__init__(name, [*self.branch, self.out_relu])
        self.skip_grad: np.ndarray | None = None
        self.branch_grad: np.ndarray | None = None

    def forward(self, x: np.ndarray, training: bool = True) -> np.ndarray:
        assert x.ndim == 2 and x.shape[1] == self.width, f"{self.name}: input {x.shape}, expected (N, {self.width})"
        self.input = x                                   # (N, width)
        f = x
        for op in self.branch:
            f = op.forward(f, training)                  # (N, width)
        self.z = x + f if self.skip else f               # the add node
        self.output = self.out_relu.forward(self.z, training)
        return self.output

    def backward(self, grad: np.ndarray) -> np.ndarray:
        assert_same_shape(self.output, grad, f"{self.name} grad_output")
        self.output_grad = grad
        gz = self.out_relu.backward(grad)                # dL/dz = relu'(z) ⊙ dL/dy
        g = gz
        for op in reversed(self.branch):
            g = op.backward(g)
        self.branch_grad = g                             # J_F^T · dL/dz
        # the add node passes dL/dz unchanged to the skip path (d(x + F)/dx along the skip = I)
        self.skip_grad = gz if self.skip else np.zeros_like(gz)
        self.input_grad = self.skip_grad + self.branch_grad  # x fans out to both paths: their gradients add
        assert_same_shape(self.input, self.input_grad, f"{self.name} input_grad")
        return self.input_grad

    def grad_norms(self) -> dict[str, float] | None:
        """{"skip", "branch", "total"}: norms of the two parts of dL/dx and of their sum."""
        if self.branch_grad is None:
            return None
        return {"skip": float(np.linalg.norm(self.skip_grad)), "branch": float(np.linalg.norm(self.branch_grad)),
                "total": float(np.linalg.norm(self.input_grad))}

    def describe(self) -> str:
        kind = "Residual" if self.skip else "Plain"
        return f"{kind} Dense {self.width}→{self.hidden}→{self.width}"
