"""The residual lab (seeds 001, 002): skip connections against vanishing gradients; Adam vs AdaMax.

Two runs train side by side on the same batches, from the same initial parameters:
- compare="plain" (default): the residual network and its plain twin (the same layers and
  parameters, the skip connections removed); ``plain=True`` swaps which one is inspected;
- compare="optimizer": the same network trained with Adam and with AdaMax;
- compare="none": one run only.
Each phase runs the same block of both runs. For every residual block, the gradient that
reached its input is measured split into what came through the skip path and what came
through the residual branch (see engines/torch_engine/resnet.py).

Engines: torch (the CIFAR-style ResNet of He et al. with depth 6n+2 for MNIST, or ResNet-50),
numpy (residual Dense blocks, depth 2n+2). Torch runs use staged autograd: each block's input
is a detached leaf with requires_grad, forward runs block by block, backward block by block
with ``out_k.backward(grad_k)``, so the gradient reaching each block is real, not replayed.

ResNet-50 (arch="resnet50") takes 3×224×224 input: here an MNIST digit, upsampled bilinearly
to 224×224 and repeated on 3 channels (a real picture the student recognises, and a 10-way
head the loss makes sense for; random noise would make the maps meaningless). It is built to
be opened and stepped through, one input per batch; training it on a CPU is slow.
"""
from __future__ import annotations

import copy
from typing import Any, Iterator, TypedDict

import numpy as np
import torch
import torch.nn.functional as F

from .. import StepwiseError
from ..loading import read_model, write_model
from ..data import load_mnist, next_batch_indices
from ..trainer import (BACKWARD, FORWARD, LOSS, UPDATE, BlockInfo, PhaseCounter, PhaseEvent, PhaseSpec, Trainer, check_finite,
                       rng_state, set_rng_state)
from .classifier import ClassificationReport, classification_report, histogram
from .classifier_torch import load_optimizer_state, optimizer_state

DEFAULT_LR = {"adam": 1e-3, "adamax": 2e-3, "sgd": 0.01}  # Adam paper's α for Adam and AdaMax
MAX_TILES = 64
MAX_STEP_VALUES = 4096        # per-parameter step sizes sent to the view, per run


# ---------------------------------------------------------------------- what the view is handed
class ResNetRunView(TypedDict):
    """One network of the comparison: its gradient flow through the residual blocks."""
    tag: str
    title: str
    skip: bool                          # True: residual (x + F(x)); False: the plain net (F(x) only)
    optimizer: str
    grad_skip: np.ndarray               # (blocks,): ‖dL/dx‖ through the skip path
    grad_branch: np.ndarray             # (blocks,): through the branch F
    grad_total: np.ndarray              # (blocks,): ‖dL/dx‖ at each block's input
    fresh: np.ndarray                   # (blocks,) bool: computed in this iteration's backward
    init_total: np.ndarray | None       # (blocks,): grad_total at initialization
    ratio_names: list[str]              # one per weight
    ratios: np.ndarray                  # (weights,): ‖Δθ‖ / ‖θ‖ of the last update


class ResNetStepsRun(TypedDict):
    tag: str
    title: str
    optimizer: str
    lr: float
    steps: np.ndarray                   # (≤ 4096,): Δθ of the block's first weight, per parameter
    n: int                              # that weight's size


class ResNetSteps(TypedDict):
    block: int
    label: str
    runs: list[ResNetStepsRun]          # empty before the first update


class ResNetView(TypedDict):
    mode: str                           # the comparison: plain, optimizer or none
    arch: str                           # small or resnet50
    engine: str
    depth: int
    norm: str
    block_labels: list[str]             # the residual blocks, "1.1", "1.2", ...
    runs: list[ResNetRunView]
    steps: ResNetSteps
    init_ratio: float | None            # ‖dL/dx‖ at the first block at init, plain / residual
    report: ClassificationReport | None  # the first run's, from the last evaluation
    hyperparams: dict[str, float]


VIEW_DATA = ResNetView                   # view_data(), both engines (tests/test_view_contracts.py)
PHASE_DATA = None                        # its view reads no per-block phase data
MNIST_MEAN, MNIST_STD = 0.1307, 0.3081


def other_optimizer(name: str) -> str:
    return "adamax" if name == "adam" else "adam"


# ================================================================================ runs
class Run:
    """One network and its optimizer, stepped block by block. Subclasses: TorchRun, NumpyRun."""

    tag: str          # "residual", "plain", "adam", ...: the prefix of this run's metrics
    title: str        # for the view, e.g. "ResNet-20 · Adam"
    skip: bool
    optimizer_name: str

    def n_blocks(self) -> int:
        raise NotImplementedError

    def first_block_total(self) -> float:
        n = self.norms[0] if self.norms else None
        return float(n["total"]) if n else float("nan")

    def block_grad_norms(self) -> list[dict]:
        return [dict(n) if n else {"skip": float("nan"), "branch": float("nan"), "total": float("nan")}
                for n in self.norms]


class TorchRun(Run):
    """A BlockNet stepped by the shared staged-autograd runner (engines/torch_engine/staged.py)."""

    def __init__(self, net, optimizer_name: str, lr: float, tag: str, title: str):
        from ..torch_engine.staged import StagedBlock, StagedRunner
        self.net, self.tag, self.title = net, tag, title
        self.optimizer_name = optimizer_name
        self.skip = all(net.blocks[i].skip for i in net.residual_indices())
        self.runner = StagedRunner([StagedBlock(f"block{i}", b.describe(), b.kind, b) for i, b in enumerate(net.blocks)],
                                   input_grad=True)
        params = list(net.parameters())  # the same tensors, in the same order, as self.runner.parameters()
        if optimizer_name == "adam":
            self.optimizer = torch.optim.Adam(params, lr=lr)
        elif optimizer_name == "adamax":
            self.optimizer = torch.optim.Adamax(params, lr=lr)
        else:
            self.optimizer = torch.optim.SGD(params, lr=lr, momentum=0.9)
        self.residual = net.residual_indices()
        self.weights = [(n, p) for n, p in net.named_parameters() if p.dim() > 1]  # conv and linear weights
        self.clear()

    def clear(self) -> None:
        self.runner.clear()
        self.updates: list[torch.Tensor] | None = None
        self.norms: list[dict | None] = [None] * len(self.residual)  # per residual block, latest measured
        self.fresh = [False] * len(self.residual)                     # measured in this iteration
        self.net.release()

    def n_blocks(self) -> int:
        return len(self.net.blocks)

    # what the phases of the latest iteration computed (the runner's caches)
    @property
    def outputs(self) -> list:
        return self.runner.outputs

    @property
    def logits(self):
        return self.runner.logits

    def grad_output(self, k: int):
        return self.runner.grad_outputs[k]  # dL/d(out_k)

    def grad_input(self, k: int):
        return self.runner.grad_inputs[k]   # dL/d(x_k)

    # ---- phases
    def begin(self, x: torch.Tensor) -> None:
        self.runner.begin(x, training=True)
        self.fresh = [False] * len(self.residual)

    def forward_block(self, k: int) -> None:
        self.runner.forward_block(k)  # x_k = out_{k−1} detached as a leaf; out_k = block_k(x_k)

    def loss(self, y: torch.Tensor) -> float:
        # dL/dlogits = (softmax(z) − onehot(y)) / N; the parameters' gradients are zeroed for backward
        return self.runner.loss(F.cross_entropy, y)

    def backward_block(self, k: int) -> None:
        self.runner.backward_block(k)  # out_k.backward(dL/dout_k): dL/dx_k and dL/dθ_k
        if k in self.residual:
            j = self.residual.index(k)
            self.norms[j] = self.net.blocks[k].grad_norms()
            self.fresh[j] = True

    def update(self, keep_updates: bool = True) -> None:
        params = [p for p in self.net.parameters()]
        before = [p.detach().clone() for p in params] if keep_updates else None
        self.optimizer.step()
        self.updates = [p.detach() - b for p, b in zip(params, before)] if keep_updates else None

    # ---- reading
    def weight_ratios(self) -> tuple[list[tuple[int, str]], np.ndarray]:
        """‖dL/dW‖ / ‖W‖ per conv/linear weight, first layer first (NaN before any backward);
        each named (block index, "branch" | "shortcut" | "")."""
        where, values = [], []
        for name, p in self.weights:
            parts = name.split(".")  # blocks.<k>.branch.<j>.weight, blocks.<k>.shortcut.0.weight, ...
            where.append((int(parts[1]), parts[2] if parts[2] in ("branch", "shortcut") else ""))
            values.append(float(p.grad.norm() / p.detach().norm()) if p.grad is not None else np.nan)
        return where, np.asarray(values)

    def predict(self, x: torch.Tensor) -> np.ndarray:
        return self.runner.predict(x).double().numpy()  # evaluation mode, in chunks; caches untouched

    def block_params(self, k: int) -> list[torch.Tensor]:
        return list(self.net.blocks[k].parameters())

    def param_index_range(self, k: int) -> range:
        start = sum(len(list(b.parameters())) for b in self.net.blocks[:k])
        return range(start, start + len(self.block_params(k)))

    def first_weight(self, k: int) -> torch.Tensor | None:
        """The block's first spatial (k×k, k > 1) convolution weight, else its first weight matrix."""
        weights = [p for p in self.net.blocks[k].parameters() if p.dim() > 1]
        spatial = [p for p in weights if p.dim() == 4 and p.shape[-1] > 1]
        return (spatial or weights or [None])[0]

    # ---- state
    def get_state(self) -> dict:
        return {"net": {k: v.detach().clone() for k, v in self.net.state_dict().items()},
                "optimizer": optimizer_state(self.optimizer),
                "norms": [dict(n) if n else None for n in self.norms]}

    def set_state(self, state: dict) -> None:
        self.net.load_state_dict(state["net"])
        load_optimizer_state(self.optimizer, state["optimizer"])
        for p in self.net.parameters():
            p.grad = None
        self.clear()
        self.norms = [dict(n) if n else None for n in state["norms"]]

    def set_lr(self, lr: float) -> None:
        for group in self.optimizer.param_groups:
            group["lr"] = lr

    def get_lr(self) -> float:
        return float(self.optimizer.param_groups[0]["lr"])


class NumpyRun(Run):
    """A NumPy Model: Dense stem, ResidualDense blocks, Dense head."""

    def __init__(self, layers: list, optimizer_name: str, lr: float, tag: str, title: str):
        from ..numpy_engine.losses import SoftmaxCrossEntropy
        from ..numpy_engine.model import Model
        from ..numpy_engine.optimizers import make_optimizer
        from ..numpy_engine.residual import ResidualDense
        self.model = Model(layers, SoftmaxCrossEntropy())
        self.tag, self.title, self.optimizer_name = tag, title, optimizer_name
        kwargs = {"lr": lr}
        if optimizer_name == "sgd":
            optimizer_name, kwargs["momentum"] = "momentum", 0.9
        self.optimizer = make_optimizer(optimizer_name, self.model.params(), **kwargs)
        self.residual = [i for i, layer in enumerate(layers) if isinstance(layer, ResidualDense)]
        self.skip = all(layers[i].skip for i in self.residual)
        self.clear()

    def clear(self) -> None:
        self.updates = None
        self.norms: list[dict | None] = [None] * len(self.residual)
        self.fresh = [False] * len(self.residual)
        self.x = self.grad = None
        for layer in self.model.layers:  # forget the caches of the last iteration
            for attr in ("output_grad", "input_grad"):
                if hasattr(layer, attr):
                    delattr(layer, attr)
            if hasattr(layer, "branch_grad"):
                layer.branch_grad = layer.skip_grad = None
        self._grads_valid = False

    def n_blocks(self) -> int:
        return len(self.model.layers)

    def begin(self, x: np.ndarray) -> None:
        self.x = x
        self.fresh = [False] * len(self.residual)

    def forward_block(self, k: int) -> None:
        layer = self.model.layers[k]
        layer.forward(self.x if k == 0 else self.model.layers[k - 1].output, training=True)

    def loss(self, y: np.ndarray) -> float:
        value = self.model.loss.forward(self.model.layers[-1].output, y)
        self.grad = self.model.loss.backward()  # dL/dlogits = (softmax(z) − onehot(y)) / N
        return float(value)

    def backward_block(self, k: int) -> None:
        layers = self.model.layers
        g = self.grad if k == len(layers) - 1 else layers[k + 1].input_grad
        layers[k].backward(g)
        self._grads_valid = True
        if k in self.residual:
            j = self.residual.index(k)
            self.norms[j] = layers[k].grad_norms()
            self.fresh[j] = True

    def update(self, keep_updates: bool = True) -> None:
        params = self.model.params()
        before = [p.copy() for p in params] if keep_updates else None
        self.optimizer.step(self.model.param_grads())
        self.updates = [p - b for p, b in zip(params, before)] if keep_updates else None

    def weight_ratios(self) -> tuple[list[tuple[int, str]], np.ndarray]:
        where, values = [], []
        for k, layer in enumerate(self.model.layers):
            for op in layer.param_ops():
                if op.param.ndim > 1:
                    where.append((k, "branch" if k in self.residual else ""))
                    ok = self._grads_valid and hasattr(layer, "input_grad")
                    values.append(float(np.linalg.norm(op.param_grad) / np.linalg.norm(op.param)) if ok else np.nan)
        return where, np.asarray(values)

    def predict(self, x: np.ndarray) -> np.ndarray:
        # evaluation must not overwrite the training caches the views read: run on shallow copies
        layers = [copy.copy(layer) for layer in self.model.layers]
        out = []
        for i in range(0, len(x), 1000):
            h = x[i:i + 1000]
            for layer in layers:
                h = _forward_copy(layer, h)
            out.append(h.astype(np.float64))
        return np.concatenate(out)

    def block_params(self, k: int) -> list[np.ndarray]:
        return self.model.layers[k].params()

    def param_index_range(self, k: int) -> range:
        start = sum(len(layer.params()) for layer in self.model.layers[:k])
        return range(start, start + len(self.model.layers[k].params()))

    def first_weight(self, k: int) -> np.ndarray | None:
        for p in self.model.layers[k].params():
            if p.ndim > 1:
                return p
        return None

    def get_state(self) -> dict:
        return {"params": [p.copy() for p in self.model.params()], "optimizer": self.optimizer.state_dict(),
                "norms": [dict(n) if n else None for n in self.norms]}

    def set_state(self, state: dict) -> None:
        for p, saved in zip(self.model.params(), state["params"]):
            p[...] = saved
        self.optimizer.load_state_dict(state["optimizer"])
        self.clear()
        self.norms = [dict(n) if n else None for n in state["norms"]]

    def set_lr(self, lr: float) -> None:
        self.optimizer.lr = lr

    def get_lr(self) -> float:
        return float(self.optimizer.lr)


def _forward_copy(layer, h: np.ndarray) -> np.ndarray:
    """Evaluation forward of a NumPy layer whose operations are copied, so the originals keep their caches."""
    from ..numpy_engine.residual import ResidualDense
    if isinstance(layer, ResidualDense):
        f = h
        for op in layer.branch:
            f = copy.copy(op).forward(f, training=False)
        z = h + f if layer.skip else f
        return np.maximum(z, 0)
    for op in layer.operations:
        h = copy.copy(op).forward(h, training=False)
    return h


# ================================================================================ the trainer
class ResNetTrainer(Trainer):
    lab = "resnet"

    def __init__(self, config: dict):
        super().__init__(config)
        self.engine = config.get("engine") or "torch"
        if self.engine not in ("torch", "numpy"):
            raise StepwiseError(f"The resnet lab runs on the torch or numpy engine, not {self.engine!r}.")
        opts = self.read_settings(config)   # declared in engines/options.py (arch, norm: torch only)
        notify = config.get("notify") or (lambda message: None)
        self.arch = opts.get("arch", "small")
        if self.engine == "numpy" and config.get("arch") == "resnet50":   # the window may carry it over
            notify("ResNet-50 runs on the torch engine only; the NumPy engine trains its small residual MLP.")
        self.plain, self.compare, self.optimizer_name = opts["plain"], opts["compare"], opts["optimizer"]
        big = self.arch == "resnet50"
        norm = opts.get("norm", "auto")
        self.norm = ("bn" if big else "none") if norm == "auto" else norm
        if self.engine == "numpy" and config.get("norm") not in (None, "", "auto", "none"):
            notify(f"The NumPy residual blocks have no normalization; {config['norm']} applies to the torch engine "
                   "only.")
        self.depth = 50 if big else opts["depth"]   # the depth setting is for the small network
        self.batch_size = opts["batch_size"] or (1 if big else 32)
        if big and self.batch_size > 16:
            raise StepwiseError("ResNet-50 on a CPU takes at most 16 images a batch (more would take minutes "
                                "per step); lower the batch size.")
        lr = opts["lr"]
        self.eval_every = 25 if big else 50
        self.keyframe_every = 25 if big else 5  # a ResNet-50 keyframe holds ~100 MB of parameters per run
        self.eval_size = 16 if big else None     # ResNet-50 held-out metrics on 16 images (CPU time)

        self.data = load_mnist(opts["data"], notify=config.get("notify"))
        self.rng = np.random.default_rng(self.seed)      # data order
        self.perm = self.rng.permutation(len(self.data.train_x))
        self.cursor = 0

        # the runs: the same initial parameters (the same init seed), the same batches
        primary_skip = not self.plain
        specs = [(primary_skip, self.optimizer_name)]
        if self.compare == "plain":
            specs.append((not primary_skip, self.optimizer_name))
        elif self.compare == "optimizer":
            specs.append((primary_skip, other_optimizer(self.optimizer_name)))
        self.runs: list[Run] = []
        for skip, opt in specs:
            run_lr = float(lr) if lr is not None else DEFAULT_LR[opt]
            self.runs.append(self._make_run(skip, opt, run_lr))
        self.last_metrics = {}
        self._x = self._y = None
        self._images = None
        self._losses: dict[str, float] = {}
        self._eval_cache: tuple | None = None
        self._blocks: list[BlockInfo] | None = None
        self._specs: list[PhaseSpec] | None = None
        self.report: dict | None = None
        self.init_norms: list[list[dict] | None] = [None] * len(self.runs)  # measured in iteration 1

    # ---------------------------------------------------------------- building
    def _make_run(self, skip: bool, opt: str, lr: float) -> Run:
        name = {"adam": "Adam", "adamax": "AdaMax", "sgd": "SGD"}[opt]
        tag = {"plain": "residual" if skip else "plain", "optimizer": opt, "none": "residual" if skip else "plain"}[self.compare]
        if self.engine == "numpy":
            from ..numpy_engine.layers import Dense
            from ..numpy_engine.residual import ResidualDense
            rng = np.random.default_rng([self.seed, 1])  # weights: the same for every run
            width, n = 64, (self.depth - 2) // 2
            layers = [Dense("stem", 784, width, "relu", rng)]
            layers += [ResidualDense(f"block{i + 1}", width, rng, skip=skip) for i in range(n)]
            layers.append(Dense("head", width, 10, "linear", rng))
            title = f"{'Residual' if skip else 'Plain'} MLP-{self.depth} · {name}"
            return NumpyRun(layers, opt, lr, tag, title)
        from ..torch_engine.resnet import mnist_resnet, resnet50
        gen = torch.Generator().manual_seed(self.seed)  # weights: the same for every run
        if self.arch == "resnet50":
            net = resnet50(n_classes=10, norm=self.norm, skip=skip, generator=gen)
        else:
            net = mnist_resnet(self.depth, norm=self.norm, skip=skip, generator=gen)
        return TorchRun(net, opt, lr, tag, f"{net.name} · {name}")

    @property
    def primary(self) -> Run:
        return self.runs[0]

    # ---------------------------------------------------------------- structure
    def blocks(self) -> list[BlockInfo]:
        if self._blocks is None:
            self._blocks = self._build_blocks()
        return self._blocks

    def _build_blocks(self) -> list[BlockInfo]:
        run = self.primary
        out = []
        if isinstance(run, TorchRun):
            net = run.net
            x = torch.zeros(1, *net.input_shape)
            net.eval()
            with torch.no_grad():
                for i, block in enumerate(net.blocks):
                    x = block(x)
                    out.append(BlockInfo(f"block{i}", block.describe(), block.kind,
                                         int(sum(p.numel() for p in block.parameters())), tuple(x.shape[1:])))
            net.train()
        else:
            for layer in run.model.layers:
                n_out = layer.width if hasattr(layer, "width") else layer.n_out
                out.append(BlockInfo(layer.name, layer.describe(), layer.kind,
                                     int(sum(p.size for p in layer.params())), (n_out,)))
        return out

    def phase_specs(self) -> list[PhaseSpec]:
        if self._specs is None:
            blocks = self.blocks()
            both = " (both runs)" if len(self.runs) > 1 else ""
            specs = [PhaseSpec(FORWARD, i, f"forward · {b.label}{both}") for i, b in enumerate(blocks)]
            specs.append(PhaseSpec(LOSS, -1, "loss · softmax cross-entropy"))
            specs += [PhaseSpec(BACKWARD, i, f"backward · {blocks[i].label}{both}") for i in reversed(range(len(blocks)))]
            opts = " / ".join(dict.fromkeys(r.optimizer_name for r in self.runs))
            specs.append(PhaseSpec(UPDATE, -1, f"update · {opts}"))
            self._specs = specs
        return self._specs

    def _layer_names(self, run: Run, where: list[tuple[int, str]]) -> list[str]:
        """Short names of weight layers: "stem", "1.2a" (stage 1, block 2, first conv), "2.1 proj", "fc"."""
        labels = dict(zip(run.residual, self.residual_labels()))
        names, count = [], {}
        for k, part in where:
            if k in labels:
                if part == "shortcut":
                    names.append(f"{labels[k]} proj")
                else:
                    j = count.get(k, 0)
                    count[k] = j + 1
                    names.append(f"{labels[k]}{'abc'[j] if j < 3 else j}")
            else:
                names.append("stem" if k == 0 else "fc")
        return names

    def residual_labels(self) -> list[str]:
        """Short names of the residual blocks, first first: "1.1" = stage 1, block 1."""
        blocks = self.blocks()
        labels, stage, j = [], 0, 0
        prev = None
        for b in blocks:
            if b.kind != "residual":
                continue
            shape = b.out_shape[0] if b.out_shape else None
            if shape != prev:
                stage, j = stage + 1, 0
                prev = shape
            j += 1
            labels.append(f"{stage}.{j}")
        return labels

    # ---------------------------------------------------------------- data
    def _prepare(self, images: np.ndarray):
        """(N, 28, 28) in [0, 1] -> the network's input: (N, 1, 28, 28), (N, 3, 224, 224) or (N, 784)."""
        if self.engine == "numpy":
            return images.reshape(len(images), 784).astype(np.float32)  # (N, 784)
        x = torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32)).unsqueeze(1)  # (N, 1, 28, 28)
        if self.arch == "resnet50":
            x = F.interpolate(x, size=(224, 224), mode="bilinear", align_corners=False)   # (N, 1, 224, 224)
            x = ((x - MNIST_MEAN) / MNIST_STD).expand(-1, 3, -1, -1).contiguous()          # (N, 3, 224, 224)
        return x

    def next_batch(self):
        idx, self.perm, self.cursor = next_batch_indices(self.rng, self.perm, self.cursor, self.batch_size)
        images, labels = self.data.train_x[idx], self.data.train_y[idx]
        y = labels if self.engine == "numpy" else torch.from_numpy(labels)
        return images, self._prepare(images), y

    # ---------------------------------------------------------------- running
    def run_iteration(self, detail: bool = True) -> Iterator[PhaseEvent]:
        it = self.iteration
        event = PhaseCounter(it, self.phase_specs())

        images, x, y = self.next_batch()
        self._images, self._x, self._y = images, x, y
        nb = len(self.blocks())
        for run in self.runs:
            run.begin(x)
        for k in range(nb):
            for run in self.runs:
                run.forward_block(k)
            yield event()
        losses = [run.loss(y) for run in self.runs]
        self._losses = {run.tag: loss for run, loss in zip(self.runs, losses)}
        for loss in losses:
            check_finite(loss, it)
        yield event()
        for k in reversed(range(nb)):
            for run in self.runs:
                run.backward_block(k)
            yield event()
        keep = self.arch != "resnet50" or detail
        for run in self.runs:
            run.update(keep_updates=keep)
        if it == 0:
            self.init_norms = [run.block_grad_norms() for run in self.runs]
        metrics: dict[str, float] = {"loss": losses[0], "train_accuracy": self._batch_accuracy(self.primary, y)}
        metrics["_grad_first"] = self.primary.first_block_total()
        for run, loss in zip(self.runs[1:], losses[1:]):
            metrics[f"{run.tag}_loss"] = loss
            metrics[f"_{run.tag}_grad_first"] = run.first_block_total()
        self.last_metrics = metrics
        self.iteration += 1
        yield event()

    def _batch_accuracy(self, run: Run, y) -> float:
        if isinstance(run, TorchRun):
            return float((run.logits.detach().argmax(dim=1) == y).double().mean())
        return float((run.model.layers[-1].output.argmax(axis=1) == y).mean())

    def settings(self) -> dict[str, Any]:
        out = {"arch": self.arch, "norm": self.norm, "compare": self.compare, "plain": self.plain,
               "optimizer": self.optimizer_name}
        if self.arch != "resnet50":   # ResNet-50's 50 is not a setting: back on the small net it would be its depth
            out["depth"] = self.depth
        return out

    def metric_labels(self) -> dict[str, str]:
        names = {"loss": "training loss", "heldout_accuracy": "held-out accuracy", "heldout_loss": "held-out loss",
                 "heldout_macro_f1": "held-out macro F1"}
        out = {}
        for i, run in enumerate(self.runs):
            prefix = "" if i == 0 else f"{run.tag}_"
            for key, name in names.items():
                out[prefix + key] = f"{run.tag}: {name}"
        return out

    def evaluate(self) -> dict[str, Any]:
        key = (self.iteration, tuple(self.hyperparams().values()))
        if self._eval_cache is not None and self._eval_cache[0] == key:  # e.g. the CLI's final lines
            return copy.deepcopy(self._eval_cache[1])
        out = self._evaluate()
        self._eval_cache = (key, copy.deepcopy(out))
        return out

    def _evaluate(self) -> dict[str, Any]:
        n = self.eval_size or len(self.data.heldout_x)
        images, labels = self.data.heldout_x[:n], self.data.heldout_y[:n]
        x = self._prepare(images)
        out: dict[str, Any] = {}
        for i, run in enumerate(self.runs):
            logits = run.predict(x)
            report = classification_report(labels, logits.argmax(axis=1))
            z = logits - logits.max(axis=1, keepdims=True)
            loss = float(-(z[np.arange(n), labels] - np.log(np.exp(z).sum(axis=1))).mean())
            prefix = "" if i == 0 else f"{run.tag}_"
            out[f"{prefix}heldout_accuracy"] = report["accuracy"]
            out[f"{prefix}heldout_loss"] = loss
            out[f"{prefix}heldout_macro_f1"] = report["macro_f1"]
            if i == 0:
                self.report = report
        for i, run in enumerate(self.runs):
            prefix = "" if i == 0 else f"{run.tag}_"
            out[f"{prefix}block_grad_norms"] = run.block_grad_norms()
        return out

    # ---------------------------------------------------------------- views
    def _layer_view(self, a) -> dict[str, Any]:
        a = a.detach().numpy() if isinstance(a, torch.Tensor) else np.asarray(a)
        a = np.asarray(a, dtype=np.float32)
        if a.ndim == 3:
            maps = a[:MAX_TILES]
            while maps.shape[-1] > 64:  # keep the tiled image small: halve big maps
                maps = maps[:, ::2, ::2]
            return {"maps": maps.copy()}
        return {"vector": a.ravel().copy()}

    def _input_image(self) -> np.ndarray:
        img = np.asarray(self._images[0], dtype=np.float32)  # (28, 28) in [0, 1]
        if self.arch == "resnet50":
            t = torch.from_numpy(img)[None, None]
            img = F.interpolate(t, size=(224, 224), mode="bilinear", align_corners=False)[0, 0].clamp(0, 1).numpy()
        return img.copy()

    def phase_data(self, index: int, block: int) -> dict[str, Any]:
        run = self.primary
        if self._x is None or not (0 <= block < run.n_blocks()):
            return {}
        spec = self.phase_specs()[index]
        torch_run = isinstance(run, TorchRun)
        if spec.kind == FORWARD:
            out_t = run.outputs[block] if torch_run else run.model.layers[block].output
            if out_t is None:
                return {}
            out_a = out_t.detach().numpy() if torch_run else out_t
            data = {"input_image": self._input_image(), "label": int(self._y[0]),
                    "activation": self._layer_view(out_a[0]), "activation_hist": histogram(out_a)}
            w = run.first_weight(block)
            if w is not None:
                w = w.detach().numpy() if torch_run else w
                if w.ndim == 4:
                    data["kernels"] = np.ascontiguousarray(w.reshape(-1, w.shape[2], w.shape[3])[:MAX_TILES],
                                                           dtype=np.float32)
                elif w.ndim == 2:
                    data["weight_matrix"] = np.asarray(w[:128, :128] if not torch_run else w.T[:128, :128],
                                                       dtype=np.float32).copy()
            return data
        if spec.kind == LOSS:
            logits = run.logits.detach().numpy() if torch_run else run.model.layers[-1].output
            if logits is None:
                return {}
            z = logits[0].astype(np.float64)
            p = np.exp(z - z.max())
            losses = dict(self._losses)
            return {"loss": losses[run.tag], "probs": p / p.sum(), "label": int(self._y[0]), "run_losses": losses}
        if spec.kind == BACKWARD:
            if torch_run:
                g_out, g_in = run.grad_output(block), run.grad_input(block)
                if g_out is None or g_in is None:
                    return {}
                g_out, g_in = g_out.numpy(), g_in.numpy()
                grads = [p.grad.numpy() for p in run.block_params(block) if p.grad is not None]
            else:
                layer = run.model.layers[block]
                if not hasattr(layer, "input_grad"):
                    return {}
                g_out, g_in = layer.output_grad, layer.input_grad
                grads = layer.param_grads()
            data = {"grad_output": self._layer_view(g_out[0]), "grad_hist": histogram(g_out),
                    "grad_input": self._layer_view(g_in[0]),
                    "param_grad_norms": [float(np.linalg.norm(g)) for g in grads]}
            if block in run.residual:
                j = run.residual.index(block)
                if run.norms[j]:
                    data["grad_split"] = dict(run.norms[j])
            return data
        if spec.kind == UPDATE and run.updates is not None:
            ids = run.param_index_range(block)
            if not len(ids):
                return {}
            params = run.block_params(block)
            updates = [run.updates[i] for i in ids]
            to_np = (lambda t: t.detach().numpy()) if torch_run else (lambda a: a)
            return {"update_norms": [float(np.linalg.norm(to_np(u))) for u in updates],
                    "param_norms": [float(np.linalg.norm(to_np(p))) for p in params],
                    "update_hist": histogram(to_np(updates[0]))}
        return {}

    def _steps(self, selected_block: int) -> dict[str, Any]:
        """Per-parameter step sizes Δθ of the last update, for the first weight of the selected block
        (or of the first residual block), for every run: the same parameters, so they pair up."""
        run = self.primary
        block = selected_block if 0 <= selected_block < run.n_blocks() and run.first_weight(selected_block) is not None \
            else (run.residual[0] if run.residual else 0)
        out: dict[str, Any] = {"block": int(block), "label": self.blocks()[block].label, "runs": []}
        for r in self.runs:
            if r.updates is None:
                continue
            w = r.first_weight(block)
            ids = r.param_index_range(block)
            k = next(i for i, p in zip(ids, r.block_params(block)) if p is w)
            u = r.updates[k]
            u = u.detach().numpy() if isinstance(u, torch.Tensor) else u
            u = np.asarray(u, dtype=np.float64).ravel()
            out["runs"].append({"tag": r.tag, "title": r.title, "optimizer": r.optimizer_name, "lr": r.get_lr(),
                                "steps": u[:MAX_STEP_VALUES].copy(), "n": int(u.size)})
        return out

    def view_data(self, selected_block: int) -> dict[str, Any]:
        runs = []
        for i, run in enumerate(self.runs):
            norms = run.block_grad_norms()
            where, ratios = run.weight_ratios()
            names = self._layer_names(run, where)
            init = self.init_norms[i]
            runs.append({
                "tag": run.tag, "title": run.title, "skip": run.skip, "optimizer": run.optimizer_name,
                "grad_skip": np.array([n["skip"] for n in norms]),
                "grad_branch": np.array([n["branch"] for n in norms]),
                "grad_total": np.array([n["total"] for n in norms]),
                "fresh": np.array(run.fresh, dtype=bool),
                "init_total": np.array([n["total"] for n in init]) if init else None,
                "ratio_names": names, "ratios": ratios,
            })
        return {"mode": self.compare, "arch": self.arch, "engine": self.engine, "depth": self.depth, "norm": self.norm,
                "block_labels": self.residual_labels(), "runs": runs, "steps": self._steps(selected_block),
                "init_ratio": self.init_first_block_ratio(), "report": self.report, "hyperparams": self.hyperparams()}

    def init_first_block_ratio(self) -> float | None:
        """‖dL/dx‖ at the first residual block at init: plain net / residual net (None if not both measured)."""
        by_skip = {run.skip: init for run, init in zip(self.runs, self.init_norms) if init}
        if True not in by_skip or False not in by_skip:
            return None
        return float(by_skip[False][0]["total"] / by_skip[True][0]["total"])

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {"arch": self.arch, "depth": self.depth, "norm": self.norm, "compare": self.compare,
                               "runs": [r.title for r in self.runs]}
        for run, init in zip(self.runs, self.init_norms):
            if init:
                out[f"init_block_grad_norms_{run.tag}"] = init
        ratio = self.init_first_block_ratio()
        if ratio is not None:
            out["init_first_block_grad_ratio_plain_over_residual"] = ratio
        return out

    def final_lines(self) -> list[dict]:
        """One line per run: its held-out metrics now."""
        ev = self.evaluate()
        lines = []
        for i, run in enumerate(self.runs):
            p = "" if i == 0 else f"{run.tag}_"
            lines.append({"run": run.tag, "title": run.title, "optimizer": run.optimizer_name, "skip": run.skip,
                          "heldout_accuracy": ev[f"{p}heldout_accuracy"], "heldout_macro_f1": ev[f"{p}heldout_macro_f1"],
                          "heldout_loss": ev[f"{p}heldout_loss"], "block_grad_norms": ev[f"{p}block_grad_norms"]})
        return lines

    # ---------------------------------------------------------------- hyperparameters
    def hyperparams(self) -> dict[str, float]:
        out = {"lr": self.primary.get_lr()}
        for run in self.runs[1:]:
            out[f"{run.tag}_lr"] = run.get_lr()
        return out

    def set_hyperparam(self, name: str, value: float) -> None:
        if name not in self.hyperparams():
            return super().set_hyperparam(name, value)
        value = self.check_live(name, value)
        if name == "lr":
            self.primary.set_lr(value)
        for run in self.runs[1:]:
            if name == f"{run.tag}_lr":
                run.set_lr(value)

    # ---------------------------------------------------------------- state
    def get_state(self) -> dict:
        return {"iteration": self.iteration, "runs": [r.get_state() for r in self.runs],
                "rng": rng_state(self.rng), "perm": self.perm.copy(), "cursor": self.cursor,
                "last_metrics": dict(self.last_metrics), "hyper": self.hyperparams(),
                "init_norms": copy.deepcopy(self.init_norms)}

    def set_state(self, state: dict) -> None:
        self.iteration = state["iteration"]
        for run, s in zip(self.runs, state["runs"]):
            run.set_state(s)
        for k, v in state["hyper"].items():
            self.set_hyperparam(k, v)
        set_rng_state(self.rng, state["rng"])
        self.perm = state["perm"].copy()
        self.cursor = state["cursor"]
        self.last_metrics = dict(state["last_metrics"])
        self.init_norms = copy.deepcopy(state["init_norms"])
        self._x = self._y = self._images = None
        self._eval_cache = None

    # ---------------------------------------------------------------- save / load
    def save(self, path: str) -> None:
        run = self.primary
        meta = {"format": "stepwise-resnet-1", "lab": self.lab, "engine": self.engine, "arch": self.arch,
                "depth": self.depth, "norm": self.norm, "skip": run.skip, "iteration": self.iteration}
        write_model(path, meta, run.net.state_dict() if isinstance(run, TorchRun) else run.model.state_arrays())

    def load(self, path: str) -> None:
        run = self.primary
        mine = {k: getattr(self, k) for k in ("engine", "arch", "depth", "norm")}

        def check(meta: dict) -> None:
            if any(meta.get(k) != v for k, v in mine.items()):
                raise StepwiseError(f"The model in {path} is a {meta.get('arch')} net of depth {meta.get('depth')} "
                                    f"({meta.get('engine')}, norm {meta.get('norm')}); set the same options to "
                                    "load it.")

        own = run.net.state_dict() if isinstance(run, TorchRun) else run.model.state_arrays()
        _, arrays = read_model(path, self.lab, own, ("stepwise-resnet-1",), check=check)
        for r in self.runs:  # every run starts from the loaded parameters
            if isinstance(r, TorchRun):
                r.net.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in arrays.items()})
            else:
                r.model.load_state_arrays(arrays)
            r.clear()
