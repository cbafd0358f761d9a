"""Group normalization and weight standardization for the NumPy engine, with hand-written backward.

GroupNorm (Wu & He 2018): the C channels are split into G groups; each example's group is
normalized over its channels and pixels, then each channel is scaled and shifted:

    x̂ = (x − μ) / σ,   μ, σ² = mean and (biased) variance over (C/G, H, W) of one example's group,
    σ = √(σ² + ε),     y[n, c] = γ_c · x̂[n, c] + β_c

Weight standardization (Qiao et al. 2019, arXiv 1903.10520): before a convolution, each output
filter's weights are standardized over (C_in, kh, kw):

    Ŵ_o = (W_o − mean(W_o)) / √(var(W_o) + ε)

Both normalize a vector v to v̂ = (v − mean v)/σ, and both have the same backward:

    dL/dv = (1/σ) · (g − mean(g) − v̂ · mean(g ⊙ v̂)),   g = dL/dv̂,

because v̂ is invariant to shifting v (hence − mean g) and to scaling it (hence − v̂ mean(g v̂)).
Neither depends on the batch, so both work at batch size 1, where BatchNorm's statistics over
the batch break down.
"""
from __future__ import annotations

import numpy as np

from .base import Operation, ParamOperation
from .conv import Buffers, Conv2d, Conv2dOp, batch_first, batch_last
from .layers import Layer
from .ops import ACTIVATIONS


def standardize_backward(g: np.ndarray, v_hat: np.ndarray, inv_sigma: np.ndarray, axis) -> np.ndarray:
    """dL/dv for v̂ = (v − mean v)/σ with the mean and variance taken over ``axis``."""
    g_mean = g.mean(axis=axis, keepdims=True)
    gv_mean = (g * v_hat).mean(axis=axis, keepdims=True)
    return inv_sigma * (g - g_mean - v_hat * gv_mean)  # dL/dv = (1/σ)(g − mean g − v̂·mean(g v̂))


class GroupNormalize(Operation):
    """x̂ = (x − μ)/√(σ² + ε) per example and group of channels; no parameters (γ, β follow)."""

    def __init__(self, groups: int, eps: float = 1e-5):
        self.groups, self.eps = int(groups), float(eps)
        self.buf = Buffers()

    def _output(self):
        x = self.input
        n, c = x.shape[0], x.shape[1]
        assert c % self.groups == 0, f"GroupNorm: {c} channels do not split into {self.groups} groups"
        xc = np.ascontiguousarray(batch_last(x))                              # (C, H, W, N)
        self.map_shape = xc.shape
        xg = xc.reshape(self.groups, -1, n)                                   # (G, C/G·H·W, N)
        mu = xg.mean(axis=1, keepdims=True)                                   # (G, 1, N)
        y = self.buf.get("out", xg.shape, xg.dtype, self.training)
        np.subtract(xg, mu, out=y)
        var = np.mean(y * y, axis=1, keepdims=True)                           # biased variance, (G, 1, N)
        self.inv_sigma = 1.0 / np.sqrt(var + self.eps)
        y *= self.inv_sigma
        self.x_hat = y                                                        # (G, C/G·H·W, N)
        return batch_first(y.reshape(self.map_shape))                         # (N, C, H, W) view

    def _input_grad(self, g):
        gc = batch_last(g)
        gg = np.ascontiguousarray(gc).reshape(self.x_hat.shape)               # (G, C/G·H·W, N)
        dx = standardize_backward(gg, self.x_hat, self.inv_sigma, axis=1)
        return batch_first(dx.reshape(self.map_shape))


class ChannelScale(ParamOperation):
    """y[n, c, ...] = γ_c · x[n, c, ...]."""

    def __init__(self, gamma: np.ndarray):
        super().__init__(gamma, "weight")
        self.buf = Buffers()

    def _output(self):
        xc = batch_last(self.input)                                           # (C, ..., N)
        y = self.buf.get("out", xc.shape, np.result_type(xc.dtype, self.param.dtype), self.training)
        np.multiply(xc, self.param.reshape(-1, *([1] * (xc.ndim - 1))), out=y)
        return batch_first(y)

    def _input_grad(self, g):
        gc = batch_last(g)
        return batch_first(gc * self.param.reshape(-1, *([1] * (gc.ndim - 1))))  # dL/dx = γ · dL/dy

    def _param_grad(self, g):
        prod = batch_last(g) * batch_last(self.input)
        return prod.reshape(prod.shape[0], -1).sum(axis=1)                    # dL/dγ_c = Σ dL/dy · x


class GroupNorm(Layer):
    """GroupNorm(G, C) with scale γ and shift β, then an optional activation."""

    kind = "norm"

    def __init__(self, name: str, groups: int, channels: int, activation: str = "linear", eps: float = 1e-5,
                 dtype=np.float32):
        from .conv import BufferedReLU, ChannelBias
        if channels % groups:
            raise ValueError(f"{channels} channels do not split into {groups} groups")
        self.groups, self.channels, self.activation = groups, channels, activation
        ops: list[Operation] = [GroupNormalize(groups, eps), ChannelScale(np.ones(channels, dtype=dtype)),
                                ChannelBias(np.zeros(channels, dtype=dtype))]
        if activation == "relu":
            ops.append(BufferedReLU())
        elif activation != "linear":
            ops.append(ACTIVATIONS[activation]())
        super().__init__(name, ops)

    def describe(self) -> str:
        act = "" if self.activation == "linear" else f" + {self.activation}"
        return f"GroupNorm {self.groups} groups × {self.channels // self.groups} ch{act}"


class WSConv2dOp(Conv2dOp):
    """A convolution with a weight-standardized kernel: Y = Ŵ ⋆ X, Ŵ_o = (W_o − mean W_o)/√(var W_o + ε)."""

    eps = 1e-5

    def effective_weight(self) -> np.ndarray:
        c_out = self.param.shape[0]
        w = self.param.reshape(c_out, -1)                                     # (C_out, C_in·kh·kw)
        centred = w - w.mean(axis=1, keepdims=True)
        var = np.mean(centred * centred, axis=1, keepdims=True)               # biased, as torch var(unbiased=False)
        self.inv_sigma = 1.0 / np.sqrt(var + self.eps)                        # (C_out, 1)
        self.w_hat = centred * self.inv_sigma
        return self.w_hat.reshape(self.param.shape)

    def weight_grad(self, grad_effective: np.ndarray) -> np.ndarray:
        c_out = self.param.shape[0]
        g = grad_effective.reshape(c_out, -1)                                 # dL/dŴ, (C_out, C_in·kh·kw)
        return standardize_backward(g, self.w_hat, self.inv_sigma, axis=1).reshape(self.param.shape)


class Conv2dWS(Conv2d):
    """A Conv2d layer whose filters are weight-standardized (usually followed by GroupNorm, no bias)."""

    op_class = WSConv2dOp

    def describe(self) -> str:
        return "WS " + super().describe()
