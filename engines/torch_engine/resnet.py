"""Residual networks (He et al. 2015) built from blocks the app can step through one at a time.

A network here is a ``BlockNet``: an ``nn.ModuleList`` of blocks run in order (stem, residual
blocks, head), so a staged runner can forward block by block and backward block by block.

Every residual block computes

    z = shortcut(x) + F(x)        y = relu(z)

and measures how the gradient reaching its input splits between the two paths:

    dL/dx = S^T · dL/dz   (through the shortcut)   +   J_F^T · dL/dz   (through the branch F)

To measure the two parts honestly, the block feeds its input to each path through its own
alias (``x.view_as(x)``): autograd then keeps a separate node per path, and after backward
each alias's ``.grad`` holds exactly that path's contribution. Their sum is the total that
autograd accumulates into x. A *plain* block (``skip=False``) computes y = relu(F(x)): the
same layers, same parameters, no skip; its skip part is 0.

Builders:
- ``mnist_resnet(depth, ...)``: the CIFAR-style ResNet of the paper (3 stages, depth = 6n + 2,
  BasicBlocks, parameter-free "option A" shortcuts: subsample and pad with zero channels), so
  the residual and the plain net have exactly the same parameters and can share one init.
- ``resnet50(...)``: Bottleneck blocks [3, 4, 6, 3] for 3×224×224 input, projection
  ("option B") shortcuts where the shape changes, as torchvision's resnet50.
Normalization: "bn" (BatchNorm), "gnws" (GroupNorm after weight-standardized convolutions),
or "none".
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .models import Conv2dWS  # one weight-standardized conv for every lab

NORMS = ("bn", "gnws", "none")


# ---------------------------------------------------------------------------- layers
def gn_groups(channels: int) -> int:
    """GroupNorm groups: 32 as in the GN paper for wide layers, about 4 channels a group for narrow ones."""
    if channels >= 64 and channels % 32 == 0:
        return 32
    g = max(1, channels // 4)
    while channels % g:
        g -= 1
    return g


def conv(norm: str, c_in: int, c_out: int, k: int, stride: int = 1) -> nn.Conv2d:
    """A k×k convolution, 'same' padding; weight-standardized under GN+WS; a bias only without norm."""
    cls = Conv2dWS if norm == "gnws" else nn.Conv2d
    return cls(c_in, c_out, k, stride=stride, padding=k // 2, bias=(norm == "none"))


def norm_layer(norm: str, channels: int) -> nn.Module:
    if norm == "bn":
        return nn.BatchNorm2d(channels)
    if norm == "gnws":
        return nn.GroupNorm(gn_groups(channels), channels)
    if norm == "none":
        return nn.Identity()
    raise ValueError(f"unknown normalization {norm!r}")


class PadShortcut(nn.Module):
    """Option A shortcut (He et al. 2015, CIFAR): subsample by the stride, pad the new channels with
    zeros. No parameters. Its transpose S^T puts the gradient back at the kept positions."""

    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.c_in, self.c_out, self.stride = c_in, c_out, stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = x[:, :, ::self.stride, ::self.stride]                      # (N, C_in, H/s, W/s)
        return F.pad(s, (0, 0, 0, 0, 0, self.c_out - self.c_in))       # (N, C_out, H/s, W/s)


# ---------------------------------------------------------------------------- blocks
class StageBlock(nn.Module):
    """A block of the diagram. ``kind`` and ``describe()`` name it; subclasses set ``out_channels``."""

    kind = "block"

    def describe(self) -> str:
        return type(self).__name__


class ResidualBlock(StageBlock):
    """y = relu(shortcut(x) + F(x)), or y = relu(F(x)) when skip is off (the plain twin).

    After a backward pass, ``grad_split()`` returns (skip, branch) = (S^T·dL/dz, J_F^T·dL/dz)."""

    kind = "residual"

    def __init__(self, branch: nn.Module, shortcut: nn.Module, skip: bool = True):
        super().__init__()
        self.branch = branch
        self.shortcut = shortcut
        self.skip = skip
        self._x_skip: torch.Tensor | None = None
        self._x_branch: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        track = torch.is_grad_enabled() and x.requires_grad
        x_branch = x.view_as(x)  # an alias of x: its .grad is the branch's share of dL/dx
        f = self.branch(x_branch)
        if self.skip:
            x_skip = x.view_as(x)  # a second alias: its .grad is the skip path's share
            z = self.shortcut(x_skip) + f
        else:
            x_skip = None
            z = f
        if track:  # a training forward; evaluation (no grad) keeps the split of the last training backward
            x_branch.retain_grad()
            if x_skip is not None:
                x_skip.retain_grad()
            self._x_branch, self._x_skip = x_branch, x_skip
        return F.relu(z)

    def grad_split(self) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """(dL/dx through the skip path, dL/dx through the branch) from the latest backward;
        the skip part is zeros for a plain block; (None, None) before any backward."""
        if self._x_branch is None or self._x_branch.grad is None:
            return None, None
        gb = self._x_branch.grad
        gs = self._x_skip.grad if self._x_skip is not None and self._x_skip.grad is not None else torch.zeros_like(gb)
        return gs, gb

    def grad_norms(self) -> dict[str, float] | None:
        """{"skip", "branch", "total"}: the L2 norms of the two parts of dL/dx and of their sum."""
        gs, gb = self.grad_split()
        if gb is None:
            return None
        return {"skip": float(gs.norm()), "branch": float(gb.norm()), "total": float((gs + gb).norm())}

    def release(self) -> None:
        """Drop the references to the last graph (keeps memory flat between iterations)."""
        self._x_branch = self._x_skip = None


class BasicBlock(ResidualBlock):
    """F(x) = norm(conv3×3(relu(norm(conv3×3(x))))), the two-layer block of ResNet-18/34 and the CIFAR nets."""

    expansion = 1

    def __init__(self, c_in: int, c_out: int, stride: int = 1, norm: str = "bn", skip: bool = True,
                 shortcut: str = "B"):
        branch = nn.Sequential(conv(norm, c_in, c_out, 3, stride), norm_layer(norm, c_out), nn.ReLU(),
                               conv(norm, c_out, c_out, 3), norm_layer(norm, c_out))
        super().__init__(branch, make_shortcut(c_in, c_out, stride, norm, shortcut), skip)
        self.c_in, self.c_out, self.stride = c_in, c_out, stride
        self.out_channels = c_out

    def describe(self) -> str:
        s = f", /{self.stride}" if self.stride > 1 else ""
        return f"{'Basic' if self.skip else 'Plain'} {self.c_in}→{self.c_out}{s}"


class Bottleneck(ResidualBlock):
    """F(x) = norm(conv1×1(relu(norm(conv3×3(relu(norm(conv1×1(x)))))))): reduce to ``mid`` channels,
    3×3 (with the stride, as torchvision's "ResNet v1.5"), expand to 4·mid."""

    expansion = 4

    def __init__(self, c_in: int, mid: int, stride: int = 1, norm: str = "bn", skip: bool = True,
                 shortcut: str = "B"):
        c_out = mid * self.expansion
        branch = nn.Sequential(conv(norm, c_in, mid, 1), norm_layer(norm, mid), nn.ReLU(),
                               conv(norm, mid, mid, 3, stride), norm_layer(norm, mid), nn.ReLU(),
                               conv(norm, mid, c_out, 1), norm_layer(norm, c_out))
        super().__init__(branch, make_shortcut(c_in, c_out, stride, norm, shortcut), skip)
        self.c_in, self.mid, self.c_out, self.stride = c_in, mid, c_out, stride
        self.out_channels = c_out

    def describe(self) -> str:
        s = f", /{self.stride}" if self.stride > 1 else ""
        return f"{'Bottleneck' if self.skip else 'Plain bottleneck'} {self.c_in}→{self.mid}→{self.c_out}{s}"


def make_shortcut(c_in: int, c_out: int, stride: int, norm: str, kind: str) -> nn.Module:
    """Identity when the shape is kept; else option A (pad, no parameters) or B (1×1 conv + norm)."""
    if stride == 1 and c_in == c_out:
        return nn.Identity()
    if kind == "A":
        return PadShortcut(c_in, c_out, stride)
    return nn.Sequential(conv(norm, c_in, c_out, 1, stride), norm_layer(norm, c_out))


class Stem(StageBlock):
    """The first convolution (+ norm + relu, + max-pool for ImageNet-sized input)."""

    kind = "conv"

    def __init__(self, c_in: int, c_out: int, k: int, stride: int, norm: str, pool: bool):
        super().__init__()
        layers = [conv(norm, c_in, c_out, k, stride), norm_layer(norm, c_out), nn.ReLU()]
        if pool:
            layers.append(nn.MaxPool2d(3, stride=2, padding=1))
        self.body = nn.Sequential(*layers)
        self.c_in, self.c_out, self.k, self.stride, self.pool = c_in, c_out, k, stride, pool
        self.out_channels = c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def describe(self) -> str:
        s = f"/{self.stride}" if self.stride > 1 else ""
        return f"Stem conv{self.k}×{self.k}{s} {self.c_in}→{self.c_out}" + (" + pool" if self.pool else "")


class Head(StageBlock):
    """Global average pool and the linear classifier: (N, C, H, W) -> (N, classes)."""

    kind = "dense"

    def __init__(self, c_in: int, n_classes: int):
        super().__init__()
        self.fc = nn.Linear(c_in, n_classes)
        self.c_in, self.n_classes = c_in, n_classes

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x.mean(dim=(2, 3)))  # (N, C, H, W) -> (N, C) -> (N, classes)

    def describe(self) -> str:
        return f"avgpool + fc {self.c_in}→{self.n_classes}"


# ---------------------------------------------------------------------------- networks
class BlockNet(nn.Module):
    """A network as a list of blocks run in order; the unit of staged forward/backward."""

    def __init__(self, blocks: list[StageBlock], name: str, input_shape: tuple[int, ...]):
        super().__init__()
        self.blocks = nn.ModuleList(blocks)
        self.name = name
        self.input_shape = tuple(input_shape)  # per example, e.g. (1, 28, 28)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = block(x)
        return x

    def residual_indices(self) -> list[int]:
        return [i for i, b in enumerate(self.blocks) if isinstance(b, ResidualBlock)]

    def block_grad_norms(self) -> list[dict[str, float] | None]:
        """Per residual block, first first: {"skip", "branch", "total"} norms of dL/d(block input)."""
        return [self.blocks[i].grad_norms() for i in self.residual_indices()]

    def set_skip(self, skip: bool) -> None:
        for i in self.residual_indices():
            self.blocks[i].skip = skip

    def release(self) -> None:
        for i in self.residual_indices():
            self.blocks[i].release()


def init_weights(net: nn.Module, generator: torch.Generator, zero_init_residual: bool = False) -> nn.Module:
    """torchvision's ResNet init, drawn from ``generator``: He normal (fan_out) for convolutions,
    norm scale 1 and shift 0, the classifier U(±1/sqrt(fan_in)). Optionally the last norm of each
    branch starts at 0, so every residual block starts as the identity (Goyal et al. 2017)."""
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu", generator=generator)
                if m.bias is not None:
                    m.bias.zero_()
            elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
                m.weight.fill_(1.0)
                m.bias.zero_()
            elif isinstance(m, nn.Linear):
                bound = 1.0 / m.in_features ** 0.5
                nn.init.uniform_(m.weight, -bound, bound, generator=generator)
                nn.init.uniform_(m.bias, -bound, bound, generator=generator)
        if zero_init_residual:
            for m in net.modules():
                if isinstance(m, ResidualBlock) and isinstance(m.branch[-1], (nn.BatchNorm2d, nn.GroupNorm)):
                    m.branch[-1].weight.zero_()
    return net


def mnist_depths(max_depth: int = 110) -> list[int]:
    return list(range(8, max_depth + 1, 6))


def mnist_resnet(depth: int = 20, widths: tuple[int, int, int] = (8, 16, 32), norm: str = "bn",
                 skip: bool = True, generator: torch.Generator | None = None, n_classes: int = 10,
                 in_channels: int = 1) -> BlockNet:
    """The CIFAR ResNet of He et al. (2015) sized for MNIST: depth = 6n + 2 weight layers
    (a stem conv, 3 stages of n BasicBlocks at 28×28, 14×14, 7×7, the classifier).
    skip=False gives the plain net with the same layers and the same parameters."""
    if norm not in NORMS:
        raise ValueError(f"unknown normalization {norm!r}")
    if depth < 8 or (depth - 2) % 6:
        raise ValueError(f"depth {depth} is not 6n+2")
    n = (depth - 2) // 6
    blocks: list[StageBlock] = [Stem(in_channels, widths[0], 3, 1, norm, pool=False)]
    c = widths[0]
    for stage, w in enumerate(widths):
        for j in range(n):
            stride = 2 if stage > 0 and j == 0 else 1
            blocks.append(BasicBlock(c, w, stride, norm, skip, shortcut="A"))
            c = w
    blocks.append(Head(c, n_classes))
    net = BlockNet(blocks, f"{'ResNet' if skip else 'Plain'}-{depth}", (in_channels, 28, 28))
    init_weights(net, generator or torch.Generator().manual_seed(0))
    return net


RESNET50_LAYERS = (3, 4, 6, 3)


def resnet50(n_classes: int = 1000, norm: str = "bn", skip: bool = True,
             generator: torch.Generator | None = None) -> BlockNet:
    """ResNet-50: stem conv7×7/2 + maxpool, Bottleneck stages [3, 4, 6, 3] with 64, 128, 256, 512
    middle channels (×4 out), global average pool, fc. 25,557,032 parameters with 1000 classes."""
    return bottleneck_resnet(RESNET50_LAYERS, n_classes, norm, skip, generator, name="ResNet-50")


def bottleneck_resnet(layers: tuple[int, ...], n_classes: int = 1000, norm: str = "bn", skip: bool = True,
                      generator: torch.Generator | None = None, name: str = "ResNet") -> BlockNet:
    if norm not in NORMS:
        raise ValueError(f"unknown normalization {norm!r}")
    blocks: list[StageBlock] = [Stem(3, 64, 7, 2, norm, pool=True)]
    c = 64
    for stage, count in enumerate(layers):
        mid = 64 * 2 ** stage
        for j in range(count):
            stride = 2 if stage > 0 and j == 0 else 1
            blocks.append(Bottleneck(c, mid, stride, norm, skip, shortcut="B"))
            c = mid * Bottleneck.expansion
    blocks.append(Head(c, n_classes))
    net = BlockNet(blocks, name if skip else f"Plain {name}", (3, 224, 224))
    init_weights(net, generator or torch.Generator().manual_seed(0))
    return net


def split_by_autograd(block: ResidualBlock, x: torch.Tensor, grad_out: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Reference split for tests: dL/dx through each path computed separately with torch.autograd.grad.

    skip part = S^T · dL/dz and branch part = J_F^T · dL/dz, where dL/dz = relu'(z) ⊙ dL/dy."""
    x = x.detach().requires_grad_(True)
    f = block.branch(x)
    s = block.shortcut(x) if block.skip else torch.zeros_like(f)
    z = s + f
    (gz,) = torch.autograd.grad(F.relu(z), z, grad_out, retain_graph=True)       # dL/dz = relu'(z) ⊙ dL/dy
    (gb,) = torch.autograd.grad(f, x, gz, retain_graph=True)                      # J_F^T · dL/dz
    gs = torch.autograd.grad(s, x, gz)[0] if block.skip else torch.zeros_like(x)  # S^T · dL/dz
    return gs, gb


def count_params(module: nn.Module) -> int:
    return int(sum(p.numel() for p in module.parameters()))
