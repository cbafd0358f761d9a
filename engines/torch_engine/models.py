"""The labs' networks as torch.nn blocks for the staged runner.

Each builder returns a list of ``StagedBlock``s whose names, labels and parameter order are the
NumPy engine's (engines/labs/mlp.py, engines/labs/cnn.py), and whose initial weights are drawn
from the same NumPy generator in the same order, so both engines start from identical weights
for a seed. Layouts differ only where torch's convention does: nn.Linear keeps W as (out, in),
the NumPy engine as (in, out).
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..numpy_engine.conv import init_conv_weight
from ..numpy_engine.layers import init_weight
from .staged import StagedBlock

TORCH_ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "linear": nn.Identity}


# ---------------------------------------------------------------------------- layers
class Conv2dWS(nn.Conv2d):
    """Conv2d with weight standardization (Qiao et al. 2019, arXiv 1903.10520): before the
    convolution each output filter is standardized over (in, kh, kw):

        ŵ_o = (w_o − mean(w_o)) / sqrt(var(w_o) + eps),   var biased, eps = 1e-5

    Autograd differentiates through the standardization (the NumPy engine's WSConv2dOp does it by hand)."""

    eps = 1e-5

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight                                               # (out, in, kh, kw)
        mean = w.mean(dim=(1, 2, 3), keepdim=True)                    # (out, 1, 1, 1)
        var = w.var(dim=(1, 2, 3), keepdim=True, unbiased=False)      # (out, 1, 1, 1)
        w_hat = (w - mean) / torch.sqrt(var + self.eps)
        return F.conv2d(x, w_hat, self.bias, self.stride, self.padding, self.dilation, self.groups)


class GenDropout(nn.Module):
    """Inverted dropout whose masks come from a torch.Generator (no global seeding), as the NumPy engine's."""

    def __init__(self, p: float, generator: torch.Generator):
        super().__init__()
        self.p = float(p)
        self.generator = generator

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        keep = torch.rand(x.shape, generator=self.generator, dtype=x.dtype) >= self.p
        return x * keep.to(x.dtype) / (1.0 - self.p)  # survivors scaled by 1/(1−p)


class ConvBlock(nn.Module):
    """conv → (norm) → activation."""

    def __init__(self, conv: nn.Conv2d, norm: nn.Module | None, activation: str):
        super().__init__()
        self.conv = conv
        self.norm = norm if norm is not None else nn.Identity()
        self.act = TORCH_ACTIVATIONS[activation]()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.norm(self.conv(x)))


class DenseBlock(nn.Module):
    """(flatten) → linear → activation."""

    def __init__(self, n_in: int, n_out: int, activation: str, flatten: bool = False):
        super().__init__()
        self.flatten = flatten
        self.linear = nn.Linear(n_in, n_out)
        self.act = TORCH_ACTIVATIONS[activation]()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.flatten:
            x = torch.flatten(x, 1)                                   # (N, C, H, W) -> (N, C·H·W)
        return self.act(self.linear(x))


def _set(param: torch.Tensor, value: np.ndarray) -> None:
    with torch.no_grad():
        param.copy_(torch.from_numpy(np.ascontiguousarray(value)))


def dense_block(name: str, n_in: int, n_out: int, activation: str, rng: np.random.Generator,
                flatten: bool = False) -> StagedBlock:
    block = DenseBlock(n_in, n_out, activation, flatten)
    _set(block.linear.weight, init_weight(rng, n_in, n_out, activation, np.float32).T)  # (out, in)
    _set(block.linear.bias, np.zeros(n_out, np.float32))
    act = "" if activation == "linear" else f" + {activation}"
    label = f"{'Flatten + ' if flatten else ''}Dense {n_in}→{n_out}{act}"
    return StagedBlock(name, label, "dense", block)


def conv_block(name: str, c_in: int, c_out: int, kernel: int, rng: np.random.Generator, padding: int = 0,
               activation: str = "relu", norm: str = "none", groups: int = 4) -> StagedBlock:
    """norm "none": conv (with bias) + act; "bn": conv (no bias) + BatchNorm2d + act;
    "gnws": weight-standardized conv (no bias) + GroupNorm + act."""
    bias = norm == "none"
    cls = Conv2dWS if norm == "gnws" else nn.Conv2d
    conv = cls(c_in, c_out, kernel, padding=padding, bias=bias)
    _set(conv.weight, init_conv_weight(rng, c_out, c_in, kernel, activation, np.float32))
    if bias:
        _set(conv.bias, np.zeros(c_out, np.float32))
    norm_module = nn.BatchNorm2d(c_out) if norm == "bn" else nn.GroupNorm(groups, c_out) if norm == "gnws" else None
    pad = f" pad {padding}" if padding else ""
    act = "" if activation == "linear" else f" + {activation}"
    prefix = "WS " if norm == "gnws" else ""
    suffix = {"none": "", "bn": " + BatchNorm", "gnws": f" + GroupNorm({groups})"}[norm]
    label = f"{prefix}Conv {c_in}→{c_out} {kernel}×{kernel}{pad}{suffix}{act}"
    return StagedBlock(name, label, "conv", ConvBlock(conv, norm_module, activation))


def pool_block(name: str, kernel: int = 2) -> StagedBlock:
    return StagedBlock(name, f"MaxPool {kernel}×{kernel}", "pool", nn.MaxPool2d(kernel))


# ---------------------------------------------------------------------------- networks
def mlp_blocks(hidden: tuple[int, ...], activation: str, dropout: float, rng: np.random.Generator,
               generator: torch.Generator) -> list[StagedBlock]:
    """The MLP lab's network (engines/labs/mlp.py), same names, labels and initial weights."""
    blocks = []
    if dropout > 0:
        blocks.append(StagedBlock("dropout", f"Dropout p={dropout:g}", "dropout", GenDropout(dropout, generator)))
    sizes = (784, *hidden)
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:]), start=1):
        blocks.append(dense_block(f"dense{i}", a, b, activation, rng))
    blocks.append(dense_block("output", sizes[-1], 10, "linear", rng))
    return blocks


def cnn_blocks(channels: tuple[int, int], rng: np.random.Generator, norm: str = "none",
               groups: int = 4, kernel: int = 3, activation: str = "relu") -> list[StagedBlock]:
    """conv 1→c1 → act → pool → conv c1→c2 → act → pool → flatten + dense → 10 logits, for 1×28×28 inputs.

    With norm "none" these are the CNN lab's blocks (the NumPy engine's names, labels and init)."""
    c1, c2 = channels
    pad = kernel // 2
    return [conv_block("conv1", 1, c1, kernel, rng, pad, activation, norm, min(groups, c1)),
            pool_block("pool1"),
            conv_block("conv2", c1, c2, kernel, rng, pad, activation, norm, min(groups, c2)),
            pool_block("pool2"),
            dense_block("output", c2 * 7 * 7, 10, "linear", rng, flatten=True)]


def main_weight(module: nn.Module) -> torch.Tensor | None:
    """The block's first weight with 2+ dimensions (a conv kernel or a Linear matrix), if any."""
    return next((p for p in module.parameters() if p.ndim >= 2), None)


def to_numpy_layout(t: torch.Tensor) -> np.ndarray:
    """A parameter (or its gradient) in the NumPy engine's layout: Linear (out, in) -> (in, out)."""
    a = t.detach().cpu().numpy()
    return a.T if a.ndim == 2 else a
