"""Staged autograd: a torch network run one block at a time, forward and backward.

A network is a list of ``StagedBlock``s (an ``nn.Module`` each, with a name and a label). The
runner keeps each block's input as a *detached leaf* that requires grad, so the graph of one
block ends at its input:

    forward k:   x_k = out_{k-1}.detach().requires_grad_()      out_k = block_k(x_k)
    loss:        z = out_last.detach().requires_grad_()         L = loss(z, y);  L.backward()  → dL/dz
    backward k:  out_k.backward(dL/dout_k)                      → dL/dx_k = x_k.grad  (= dL/dout_{k-1})
                                                                   and dL/dθ_k in each parameter's .grad

Every backward phase really runs autograd through that block alone, with the gradient that
reached its output; nothing is replayed. Chained, the blocks compute exactly what one
``loss.backward()`` through the whole network would.

The runner knows nothing about labs: a classifier (engines/labs/classifier_torch.py), the
batch-size-1 lab and other labs use it. Per-block extras (norms of a skip path, BatchNorm
statistics, ...) come from ``StagedBlock.extra(kind, runner, k)``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import torch
from torch import nn


@dataclass
class StagedBlock:
    """One box of the diagram: a module and how to show it."""
    name: str                      # unique id, e.g. "conv1" (its parameters are "<name>.<param>")
    label: str                     # e.g. "Conv 1→8 3×3 pad 1 + relu"
    kind: str                      # "conv", "pool", "dense", "dropout", "norm", ...
    module: nn.Module
    # optional extras for a phase of this block: extra(phase_kind, runner, k) -> dict of arrays/numbers
    extra: Callable[[str, "StagedRunner", int], dict[str, Any]] | None = None


class StagedNet(nn.Module):
    """The blocks as one module: state_dict keys are "<block name>.<param>"."""

    def __init__(self, blocks: list[StagedBlock]):
        super().__init__()
        self.names = [b.name for b in blocks]
        assert len(set(self.names)) == len(self.names), "block names must be unique"
        self.blocks = nn.ModuleDict({b.name: b.module for b in blocks})

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for name in self.names:
            x = self.blocks[name](x)
        return x


class StagedRunner:
    """Forward block by block, the loss, backward block by block; caches what each phase computed."""

    def __init__(self, blocks: list[StagedBlock], input_grad: bool = True):
        self.blocks = list(blocks)
        self.net = StagedNet(self.blocks)
        self.input_grad = input_grad   # also compute dL/d(input of block 0), e.g. the gradient on the image
        # the blocks and their parameters are fixed: listed once (walking the modules at every zero_grad
        # and optimizer step was 6 % of a batch-1 iteration)
        self._parameters = tuple(p for b in self.blocks for p in b.module.parameters())
        self.clear()

    def __len__(self) -> int:
        return len(self.blocks)

    def __repr__(self) -> str:
        """Its blocks, one a line: label, parameters' shapes, count (torch's own repr: ``runner.net``)."""
        lines = []
        for i, b in enumerate(self.blocks):
            params = ", ".join(f"{n} {'×'.join(map(str, p.shape))}" for n, p in b.module.named_parameters())
            n = sum(p.numel() for p in b.module.parameters())
            lines.append(f"  ({i}) {b.name}: {b.label}" + (f"; {params}; {n:,} parameters" if params else ""))
        total = sum(p.numel() for p in self.parameters())
        return "StagedRunner(\n" + "\n".join(lines) + f"\n) {total:,} parameters"

    # ------------------------------------------------------------------ parameters
    def parameters(self) -> list[torch.Tensor]:
        return list(self._parameters)

    def block_params(self, k: int) -> list[torch.Tensor]:
        return list(self.blocks[k].module.parameters())

    def param_index_range(self, k: int) -> range:
        start = sum(len(self.block_params(i)) for i in range(k))
        return range(start, start + len(self.block_params(k)))

    def param_names(self) -> list[str]:
        return [f"{b.name}.{n}" for b in self.blocks for n, _ in b.module.named_parameters()]

    def buffers(self) -> list[torch.Tensor]:
        """Non-parameter state (BatchNorm running statistics): part of a keyframe."""
        return [t for b in self.blocks for t in b.module.buffers()]

    def zero_grad(self) -> None:
        for p in self.parameters():
            p.grad = None

    # ------------------------------------------------------------------ running
    def clear(self) -> None:
        n = len(self.blocks)
        self.x: torch.Tensor | None = None
        self.inputs: list[torch.Tensor | None] = [None] * n        # leaves x_k
        self.outputs: list[torch.Tensor | None] = [None] * n       # out_k (with block k's graph until backward k)
        self.grad_outputs: list[torch.Tensor | None] = [None] * n  # dL/dout_k
        self.grad_inputs: list[torch.Tensor | None] = [None] * n   # dL/dx_k
        self.logits: torch.Tensor | None = None
        self.loss_value: torch.Tensor | None = None

    def begin(self, x: torch.Tensor, training: bool = True) -> None:
        """Start an iteration on input batch ``x``."""
        self.clear()
        self.x = x
        self.net.train(training)

    def forward_block(self, k: int) -> torch.Tensor:
        src = self.x if k == 0 else self.outputs[k - 1]
        assert src is not None, f"forward of block {k} before block {k - 1}"
        leaf = src.detach().requires_grad_(k > 0 or self.input_grad)  # the graph of block k starts here
        with torch.enable_grad():
            out = self.blocks[k].module(leaf)
        self.inputs[k], self.outputs[k] = leaf, out
        return out

    def loss(self, loss_fn: Callable[[torch.Tensor, Any], torch.Tensor], target: Any) -> float:
        """The loss on the last block's output; fills dL/d(last output) for the first backward phase."""
        last = self.outputs[-1]
        assert last is not None, "loss before the forward phases"
        self.logits = last.detach().requires_grad_(True)
        with torch.enable_grad():
            loss = loss_fn(self.logits, target)
        loss.backward()                                              # dL/dz only: z is a leaf
        self.loss_value = loss.detach()
        self.grad_outputs[-1] = self.logits.grad
        self.zero_grad()                                             # the parameters' .grad fill up in backward
        return float(self.loss_value)

    def backward_block(self, k: int) -> torch.Tensor | None:
        """out_k.backward(dL/dout_k): dL/dx_k and dL/dθ_k. Returns dL/dx_k (None if x_k needs none)."""
        out, grad = self.outputs[k], self.grad_outputs[k]
        assert grad is not None, f"backward of block {k} before block {k + 1}"
        if out.requires_grad:
            out.backward(grad)                                       # dL/dx_k = J_k^T · dL/dout_k
        g = self.inputs[k].grad
        self.grad_inputs[k] = g
        if k > 0:
            self.grad_outputs[k - 1] = g if g is not None else torch.zeros_like(self.inputs[k])
        return g

    def stop_gradient(self, k: int) -> None:
        """Backward k without any work: nothing at or below block k trains, so neither dL/dθ_k nor
        dL/dx_k is computed; dL/dout_k (what arrived) stays for the views."""
        self.grad_inputs[k] = None
        if k > 0:
            self.grad_outputs[k - 1] = None

    def extra(self, kind: str, k: int) -> dict[str, Any]:
        fn = self.blocks[k].extra
        return fn(kind, self, k) if fn is not None else {}

    # ------------------------------------------------------------------ whole passes (no stepping)
    @torch.no_grad()
    def predict(self, x: torch.Tensor, batch: int = 500) -> torch.Tensor:
        """The last block's output in evaluation mode, in chunks; training caches are untouched."""
        was = self.net.training
        self.net.eval()
        try:
            outs = [self.net(x[i:i + batch]) for i in range(0, len(x), batch)]
        finally:
            self.net.train(was)
        return torch.cat(outs)

    @torch.no_grad()
    def forward_all(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Every block's output for ``x`` in evaluation mode (a drawn digit, the diagram's shapes)."""
        was = self.net.training
        self.net.eval()
        outs = []
        try:
            for b in self.blocks:
                x = b.module(x)
                outs.append(x)
        finally:
            self.net.train(was)
        return outs
