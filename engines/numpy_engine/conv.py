"""Convolution, max pooling and flattening for the NumPy engine, with hand-written backward passes.

Layout. Arrays between layers have the shape torch uses, (N, C, H, W), but the arrays these
operations produce are *views* whose memory is (C, H, W, N): the batch is the innermost axis.
``batch_last(x)`` turns such a view back into its (C, H, W, N) memory at no cost, and in that
layout every kernel offset of a convolution is one large strided copy, and the convolution is
a single BLAS matmul over all pixels of all examples at once:

    cols[(c, i, j), (h, w, n)] = x_padded[c, h·s + i, w·s + j, n]           im2col, one copy per (i, j)
    Y[o, (h, w, n)]            = Σ_(c,i,j) W[o, (c, i, j)] · cols[(c, i, j), (h, w, n)]

There is no Python loop over pixels, channels or examples: the only loops run over the kh·kw
kernel offsets (9 for a 3×3 kernel). Training passes write into persistent buffers (``out=``)
to avoid page faults on fresh multi-megabyte temporaries; evaluation passes (training=False)
allocate their own arrays, so evaluating or classifying a drawn digit never overwrites what a
training iteration in progress keeps for its backward pass.
"""
from __future__ import annotations

import numpy as np

from .base import Operation, ParamOperation
from .layers import Layer
from .ops import ACTIVATIONS, BiasAdd, WeightMultiply


# ---------------------------------------------------------------------------- layout helpers
def batch_last(x: np.ndarray) -> np.ndarray:
    """(N, d1, ..., dk) -> (d1, ..., dk, N), a view (free when x came from batch_first)."""
    return x.transpose(*range(1, x.ndim), 0)


def batch_first(a: np.ndarray) -> np.ndarray:
    """(d1, ..., dk, N) -> (N, d1, ..., dk), a view."""
    return a.transpose(a.ndim - 1, *range(a.ndim - 1))


class Buffers:
    """Work arrays of one operation. In training they persist and are reused while the shape
    stays the same (written with out=). In evaluation, arrays an operation returns are fresh
    (a caller may keep them), and its private scratch (``scratch=True``: the padded input, the
    im2col matrix) persists apart from the training arrays: a fresh 50 MB im2col matrix per call
    made evaluating 1,000 images 6× slower (page faults)."""

    def __init__(self):
        self._arrays: dict[str, np.ndarray] = {}
        self._eval: dict[str, np.ndarray] = {}

    def get(self, name: str, shape: tuple, dtype, training: bool, zero: bool = False,
            scratch: bool = False) -> np.ndarray:
        if not training and not scratch:
            return np.zeros(shape, dtype) if zero else np.empty(shape, dtype)
        store = self._arrays if training else self._eval
        a = store.get(name)
        if a is None or a.shape != shape or a.dtype != dtype:
            a = np.zeros(shape, dtype)  # zeroed once: padding borders stay zero for good
            store[name] = a
        elif zero:
            a.fill(0)
        return a


def out_size(size: int, kernel: int, stride: int, padding: int) -> int:
    return (size + 2 * padding - kernel) // stride + 1


def window(a: np.ndarray, i: int, j: int, n_out_h: int, n_out_w: int, stride: int) -> np.ndarray:
    """The (C, Ho, Wo, N) view of a (C, H, W, N) array read by kernel offset (i, j)."""
    return a[:, i:i + stride * (n_out_h - 1) + 1:stride, j:j + stride * (n_out_w - 1) + 1:stride, :]


# ---------------------------------------------------------------------------- operations
class Conv2dOp(ParamOperation):
    """Y = W ⋆ X (cross-correlation, as torch): W (C_out, C_in, kh, kw), stride s, zero padding p.

    Forward is im2col + one matmul; backward is one matmul per product and col2im."""

    def __init__(self, W: np.ndarray, stride: int = 1, padding: int = 0):
        assert W.ndim == 4, "conv weight is (C_out, C_in, kh, kw)"
        super().__init__(W, "weight")
        self.stride, self.padding = int(stride), int(padding)
        self.buf = Buffers()

    # Weight standardization (norm.py) overrides these two; a plain convolution uses W as is.
    def effective_weight(self) -> np.ndarray:
        return self.param

    def weight_grad(self, grad_effective: np.ndarray) -> np.ndarray:
        return grad_effective

    def _output(self) -> np.ndarray:
        x = self.input
        assert x.ndim == 4, f"Conv2d input must be (N, C, H, W), got {x.shape}"
        n, c, h, w = x.shape
        c_out, c_in, kh, kw = self.param.shape
        assert c == c_in, f"Conv2d expects {c_in} input channels, got {c}"
        s, p = self.stride, self.padding
        ho, wo = out_size(h, kh, s, p), out_size(w, kw, s, p)
        assert ho > 0 and wo > 0, f"Conv2d: a {kh}×{kw} kernel does not fit a {h}×{w} input"
        dtype = np.result_type(x.dtype, self.param.dtype)
        train = self.training
        xc = batch_last(x)                                                    # (C, H, W, N)
        if p:
            xp = self.buf.get("padded", (c, h + 2 * p, w + 2 * p, n), dtype, train, scratch=True)
            xp[:, p:p + h, p:p + w, :] = xc                                   # borders stay 0
        else:
            xp = xc
        cols = self.buf.get("cols", (c, kh, kw, ho, wo, n), dtype, train, scratch=True)
        for i in range(kh):
            for j in range(kw):
                cols[:, i, j] = window(xp, i, j, ho, wo, s)                   # (C, Ho, Wo, N)
        self.geometry = (n, c, h, w, ho, wo)
        self.cols2d = cols.reshape(c * kh * kw, ho * wo * n)                  # (K, M), K = C·kh·kw, M = Ho·Wo·N
        self.w_eff = self.effective_weight()
        y = self.buf.get("out", (c_out, ho, wo, n), dtype, train)
        np.matmul(self.w_eff.reshape(c_out, -1), self.cols2d, out=y.reshape(c_out, -1))  # (C_out, M)
        return batch_first(y)                                                 # (N, C_out, Ho, Wo) view

    def _input_grad(self, g: np.ndarray) -> np.ndarray:
        n, c, h, w, ho, wo = self.geometry
        c_out, _, kh, kw = self.param.shape
        s, p = self.stride, self.padding
        dtype = self.cols2d.dtype
        gc = batch_last(g)                                                    # (C_out, Ho, Wo, N)
        if not gc.flags.c_contiguous:
            gc = np.ascontiguousarray(gc)
        self.g2d = gc.reshape(c_out, ho * wo * n)                             # (C_out, M)
        dcols = self.buf.get("dcols", (c, kh, kw, ho, wo, n), dtype, True)
        # dL/dcols = W^T · dL/dY   (K, C_out)·(C_out, M)
        np.matmul(self.w_eff.reshape(c_out, -1).T, self.g2d, out=dcols.reshape(c * kh * kw, -1))
        dxp = self.buf.get("dpadded", (c, h + 2 * p, w + 2 * p, n), dtype, True, zero=True)
        for i in range(kh):
            for j in range(kw):
                # col2im: every window position sends its gradient back to the pixels it read
                window(dxp, i, j, ho, wo, s)[...] += dcols[:, i, j]
        dx = dxp[:, p:p + h, p:p + w, :] if p else dxp                        # (C, H, W, N), drop the padding
        return batch_first(dx)

    def _param_grad(self, g: np.ndarray) -> np.ndarray:
        c_out = self.param.shape[0]
        dw = self.buf.get("dweight", (c_out, self.cols2d.shape[0]), self.cols2d.dtype, True)
        np.matmul(self.g2d, self.cols2d.T, out=dw)                            # dL/dW = dL/dY · cols^T
        return self.weight_grad(dw.reshape(self.param.shape))


class ChannelBias(ParamOperation):
    """y[n, c, h, w] = x[n, c, h, w] + b[c]."""

    def __init__(self, b: np.ndarray):
        super().__init__(b, "bias")
        self.buf = Buffers()

    def _output(self):
        xc = batch_last(self.input)                                           # (C, ..., N)
        dtype = np.result_type(xc.dtype, self.param.dtype)
        y = self.buf.get("out", xc.shape, dtype, self.training)
        np.add(xc, self.param.reshape(-1, *([1] * (xc.ndim - 1))), out=y)
        return batch_first(y)

    def _input_grad(self, g):
        return g  # dL/dx = dL/dy

    def _param_grad(self, g):
        gc = batch_last(g)                                                    # (C, ..., N)
        return gc.reshape(gc.shape[0], -1).sum(axis=1) if gc.flags.c_contiguous else \
            gc.sum(axis=tuple(range(1, gc.ndim)))                             # dL/db_c = Σ_(n,h,w) dL/dy


class BufferedReLU(Operation):
    """ReLU for maps, in the batch-innermost layout with persistent buffers."""

    def __init__(self):
        self.buf = Buffers()

    def _output(self):
        xc = batch_last(self.input)
        y = self.buf.get("out", xc.shape, xc.dtype, self.training)
        np.maximum(xc, 0, out=y)
        return batch_first(y)

    def _input_grad(self, g):
        xc, gc = batch_last(self.input), batch_last(g)
        mask = self.buf.get("mask", xc.shape, np.bool_, True)
        np.greater(xc, 0, out=mask)
        dx = self.buf.get("dx", xc.shape, gc.dtype, True)
        np.multiply(gc, mask, out=dx)  # dReLU/dx = 1 where x > 0, else 0 (torch's choice at 0)
        return batch_first(dx)


class MaxPool2dOp(Operation):
    """y = the maximum of each k×k window (stride s, no padding, floor mode, as torch).

    Ties: the first maximum in scan order (row by row) wins and alone receives the gradient,
    as in torch. (A mask ``x == max`` would send the gradient to every tied position.)"""

    def __init__(self, kernel: int = 2, stride: int | None = None):
        self.kernel = int(kernel)
        self.stride = int(stride or kernel)
        self.buf = Buffers()

    def _output(self):
        x = self.input
        assert x.ndim == 4, f"MaxPool2d input must be (N, C, H, W), got {x.shape}"
        n, c, h, w = x.shape
        k, s = self.kernel, self.stride
        ho, wo = out_size(h, k, s, 0), out_size(w, k, s, 0)
        train = self.training
        xc = batch_last(x)                                                    # (C, H, W, N)
        y = self.buf.get("out", (c, ho, wo, n), xc.dtype, train)
        index = np.min_scalar_type(k * k - 1)      # uint8 up to 16×16 windows, uint16 beyond (no wrap-around)
        arg = self.buf.get("argmax", (c, ho, wo, n), index, train)            # offset o = i·k + j of the max
        equal = self.buf.get("equal", (c, ho, wo, n), np.bool_, train)
        step = self.buf.get("step", (c, ho, wo, n), index, train)
        offsets = [window(xc, o // k, o % k, ho, wo, s) for o in range(k * k)]  # (C, Ho, Wo, N) views
        np.copyto(y, offsets[0])
        for v in offsets[1:]:
            np.maximum(y, v, out=y)
        # the winner is the FIRST offset holding the maximum: scan the offsets backwards and let
        # each one that equals the maximum overwrite the winner (arg ← o where equal, without `where=`)
        arg.fill(k * k - 1)
        for o in range(k * k - 2, -1, -1):
            np.equal(offsets[o], y, out=equal)
            np.subtract(arg, o, out=step)          # arg > o here, so no wrap-around
            np.multiply(step, equal, out=step)
            np.subtract(arg, step, out=arg)        # arg = o where offset o holds the maximum
        self.geometry = (n, c, h, w, ho, wo)
        self.argmax = arg
        return batch_first(y)                                                 # (N, C, Ho, Wo) view

    def _input_grad(self, g):
        n, c, h, w, ho, wo = self.geometry
        k, s = self.kernel, self.stride
        gc = batch_last(g)                                                    # (C, Ho, Wo, N)
        overlap = s < k
        dx = self.buf.get("dx", (c, h, w, n), gc.dtype, True, zero=overlap)   # rows/cols no window covers stay 0
        hit = self.buf.get("hit", (c, ho, wo, n), np.bool_, True)
        tmp = self.buf.get("tmp", (c, ho, wo, n), gc.dtype, True) if overlap else None
        for o in range(k * k):
            np.equal(self.argmax, o, out=hit)
            target = window(dx, o // k, o % k, ho, wo, s)
            # dL/dx = dL/dy at the window's (first) maximum, 0 elsewhere
            if overlap:
                np.multiply(gc, hit, out=tmp)
                target += tmp
            else:
                np.multiply(gc, hit, out=target)
        return batch_first(dx)


class Flatten(Operation):
    """(N, C, H, W) -> (N, C·H·W) in torch's order (c, h, w); a view when the input is batch-innermost."""

    def _output(self):
        xc = batch_last(self.input)                                           # (C, H, W, N)
        self.map_shape = xc.shape
        flat = xc.reshape(-1, xc.shape[-1])                                   # (C·H·W, N); a copy only if strided
        return flat.T                                                         # (N, C·H·W)

    def _input_grad(self, g):
        return batch_first(g.T.reshape(self.map_shape))  # dL/dx = dL/dy, reshaped back to (N, C, H, W)


# ---------------------------------------------------------------------------- layers
def init_conv_weight(rng: np.random.Generator, c_out: int, c_in: int, kernel: int, activation: str,
                     dtype=np.float32) -> np.ndarray:
    """He normal (std √(2/fan_in)) for ReLU, Glorot normal otherwise; fan = channels · kh · kw."""
    fan_in, fan_out = c_in * kernel * kernel, c_out * kernel * kernel
    std = np.sqrt(2.0 / fan_in) if activation == "relu" else np.sqrt(2.0 / (fan_in + fan_out))
    return (rng.standard_normal((c_out, c_in, kernel, kernel)) * std).astype(dtype)


class Conv2d(Layer):
    """y = act(W ⋆ x + b): a convolution, its bias, its activation."""

    kind = "conv"
    op_class = Conv2dOp

    def __init__(self, name: str, c_in: int, c_out: int, kernel: int, rng: np.random.Generator,
                 stride: int = 1, padding: int = 0, activation: str = "relu", bias: bool = True,
                 dtype=np.float32):
        if activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r}")
        self.c_in, self.c_out, self.kernel = c_in, c_out, kernel
        self.stride, self.padding, self.activation = stride, padding, activation
        W = init_conv_weight(rng, c_out, c_in, kernel, activation, dtype)
        ops: list[Operation] = [self.op_class(W, stride, padding)]
        if bias:
            ops.append(ChannelBias(np.zeros(c_out, dtype=dtype)))
        if activation == "relu":
            ops.append(BufferedReLU())
        elif activation != "linear":
            ops.append(ACTIVATIONS[activation]())
        super().__init__(name, ops)

    @property
    def weight(self) -> np.ndarray:
        return self.operations[0].param

    def describe(self) -> str:
        extra = "".join([f" stride {self.stride}" if self.stride != 1 else "",
                         f" pad {self.padding}" if self.padding else ""])
        act = "" if self.activation == "linear" else f" + {self.activation}"
        return f"Conv {self.c_in}→{self.c_out} {self.kernel}×{self.kernel}{extra}{act}"


class MaxPool2d(Layer):
    kind = "pool"

    def __init__(self, name: str, kernel: int = 2, stride: int | None = None):
        self.kernel, self.stride = kernel, stride or kernel
        super().__init__(name, [MaxPool2dOp(kernel, stride)])

    def describe(self) -> str:
        stride = f" stride {self.stride}" if self.stride != self.kernel else ""
        return f"MaxPool {self.kernel}×{self.kernel}{stride}"


class FlattenDense(Layer):
    """Flatten the maps, then y = act(x · W + b): the classifier head of a CNN."""

    kind = "dense"

    def __init__(self, name: str, n_in: int, n_out: int, activation: str, rng: np.random.Generator,
                 dtype=np.float32):
        from .layers import init_weight
        self.n_in, self.n_out, self.activation = n_in, n_out, activation
        W = init_weight(rng, n_in, n_out, activation, dtype)                  # (n_in, n_out)
        ops: list[Operation] = [Flatten(), WeightMultiply(W), BiasAdd(np.zeros(n_out, dtype=dtype))]
        if activation != "linear":
            ops.append(ACTIVATIONS[activation]())
        super().__init__(name, ops)

    @property
    def weight(self) -> np.ndarray:
        return self.operations[1].param

    def describe(self) -> str:
        act = "" if self.activation == "linear" else f" + {self.activation}"
        return f"Flatten + Dense {self.n_in}→{self.n_out}{act}"
