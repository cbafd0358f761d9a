"""The residual lab (seeds 001, 002): skip connections against vanishing gradients; Adam vs AdaMax.

Two runs train side by side on the same batches, from the same initial parameters:
- compare="plain" (default): the residual network and its plain twin (the same layers and
  parameters, the skip connections removed); ``plain=True`` swaps which one is inspected;
- compare="optimizer": the same network trained with Adam and with AdaMax;
- compare="none": one run only.
Each phase runs the same block of both runs. For every residual block, the gradient that
reached its input is measured split into what came through the skip path and what came
through the residual branch (see engines/torch_engine/resnet.py).

Engines: torch (the CIFAR-style ResNet of He et al. with depth 6n+2 for MNIST, or ResNet-50;
resnet_torch.py), numpy (residual Dense blocks, depth 2n+2; resnet_numpy.py). Torch runs use staged
autograd: each block's input is a detached leaf with requires_grad, forward runs block by block,
backward block by block with ``out_k.backward(grad_k)``, so the gradient reaching each block is
real, not replayed.

This module is the engine-free part: ``Run``, the interface a run implements (phases in, NumPy
arrays out), and ``ResNetTrainer``, which drives the runs; each engine's module subclasses both.

ResNet-50 (arch="resnet50") takes 3×224×224 input: here an MNIST digit, upsampled bilinearly
to 224×224 and repeated on 3 channels (a real picture the student recognises, and a 10-way
head the loss makes sense for; random noise would make the maps meaningless). It is built to
be opened and stepped through, one input per batch; training it on a CPU is slow.
"""
from __future__ import annotations

import copy
from abc import ABC, abstractmethod
from typing import Any, Iterator, TypedDict

import numpy as np

from .. import StepwiseError
from ..data import load_mnist, next_batch_indices
from ..loading import read_model
from ..trainer import (BACKWARD, FORWARD, LOSS, UPDATE, BlockInfo, PhaseCounter, PhaseEvent, PhaseSpec, Trainer,
                       attribute_set_to, check_finite, rng_state, set_rng_state)
from .classifier import ClassificationReport, classification_report, histogram

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
OPTIMIZER_TITLES = {"adam": "Adam", "adamax": "AdaMax", "sgd": "SGD"}


def other_optimizer(name: str) -> str:
    return "adamax" if name == "adam" else "adam"


# ================================================================================ runs
class Run(ABC):
    """One network and its optimizer, stepped block by block: inputs and labels in the engine's own
    type (a tensor or an array), everything the trainer reads back as NumPy arrays in the NumPy
    engine's layout (a weight matrix is (in, out)). resnet_torch.TorchRun, resnet_numpy.NumpyRun."""

    tag: str          # "residual", "plain", "adam", ...: the prefix of this run's metrics
    title: str        # for the view, e.g. "ResNet-20 · Adam"
    skip: bool        # every residual block keeps its skip connection
    optimizer_name: str
    residual: list[int]           # indices of the residual blocks
    norms: list[dict | None]      # per residual block, the latest measured split of ‖dL/dx‖
    fresh: list[bool]             # measured in this iteration
    updates: list | None          # Δθ of the last update per parameter (None when not kept)

    # ---- structure
    @abstractmethod
    def n_blocks(self) -> int: ...

    @abstractmethod
    def block_infos(self) -> list[BlockInfo]: ...

    @abstractmethod
    def clear(self) -> None:
        """Forget what the last iteration cached (activations, gradients, updates)."""

    # ---- phases
    @abstractmethod
    def begin(self, x) -> None: ...

    @abstractmethod
    def forward_block(self, k: int) -> None: ...

    @abstractmethod
    def loss(self, y) -> float:
        """The mean cross-entropy; dL/dlogits = (softmax(z) − onehot(y)) / N is ready for backward."""

    @abstractmethod
    def backward_block(self, k: int) -> None: ...

    @abstractmethod
    def update(self, keep_updates: bool = True) -> None: ...

    # ---- reading, as NumPy arrays
    @abstractmethod
    def batch_accuracy(self, y) -> float: ...

    @abstractmethod
    def output(self, k: int) -> np.ndarray | None:
        """Block k's output in the latest forward (None before it ran)."""

    @abstractmethod
    def logits(self) -> np.ndarray | None: ...

    @abstractmethod
    def gradients(self, k: int) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]] | None:
        """(dL/d(out_k), dL/d(x_k), dL/dθ_k for each parameter) of the latest backward, or None."""

    @abstractmethod
    def weight_ratios(self) -> tuple[list[tuple[int, str]], np.ndarray]:
        """‖dL/dW‖ / ‖W‖ per weight matrix or kernel, first layer first (NaN before any backward);
        each named (block index, "branch" | "shortcut" | "")."""

    @abstractmethod
    def predict(self, x) -> np.ndarray:
        """Logits in evaluation mode (float64), leaving the training caches untouched."""

    @abstractmethod
    def first_weight(self, k: int) -> np.ndarray | None:
        """The block's first spatial (k×k, k > 1) convolution kernel, else its first weight matrix (in, out)."""

    @abstractmethod
    def block_update(self, k: int) -> tuple[list[np.ndarray], list[np.ndarray]] | None:
        """(Δθ, θ) for each parameter of block k after the last update; None when updates were not kept."""

    @abstractmethod
    def first_weight_step(self, k: int) -> np.ndarray | None:
        """Δθ of ``first_weight(k)`` in the last update (None when updates were not kept)."""

    # ---- state
    @abstractmethod
    def get_state(self) -> dict: ...

    @abstractmethod
    def set_state(self, state: dict) -> None: ...

    @abstractmethod
    def set_lr(self, lr: float) -> None: ...

    @abstractmethod
    def get_lr(self) -> float: ...

    # ---- files
    @abstractmethod
    def save(self, path: str, meta: dict) -> None: ...

    @abstractmethod
    def own_arrays(self) -> dict:
        """This run's parameters by name: what read_model checks a loaded file against."""

    @abstractmethod
    def load_arrays(self, arrays: dict[str, np.ndarray]) -> None: ...

    # ---- the same for every engine
    def first_block_total(self) -> float:
        n = self.norms[0] if self.norms else None
        return float(n["total"]) if n else float("nan")

    def block_grad_norms(self) -> list[dict]:
        return norm_dicts(self.norms)


def norm_dicts(norms: list[dict | None]) -> list[dict]:
    """Copies of per-block ‖dL/dx‖ splits, NaN where a block has none measured yet."""
    return [dict(n) if n else {"skip": float("nan"), "branch": float("nan"), "total": float("nan")} for n in norms]


# ================================================================================ the trainer
class ResNetTrainer(Trainer, ABC):
    """Two runs (or one) stepped phase by phase on the same batches. An engine's subclass builds the
    runs and the network's input: resnet_torch.TorchResNetTrainer, resnet_numpy.NumpyResNetTrainer."""

    lab = "resnet"
    archs: tuple[str, ...] = ("small", "resnet50")   # what this engine builds; another arch falls back to "small"
    arch_note = ""                           # ... and says so
    norms: tuple[str, ...] = ("bn", "gnws", "none")
    norm_note = ""                           # "{norm}": a normalization this engine lacks

    def __init__(self, config: dict):
        super().__init__(config)
        opts = self.read_settings(config)   # declared in engines/options.py (arch and norm: torch only)
        notify = config.get("notify") or (lambda message: None)
        self.arch = opts.get("arch", "small")
        if str(config.get("arch") or "small") not in self.archs:   # the window may carry it over from torch
            notify(self.arch_note)
        self.plain, self.compare, self.optimizer_name = opts["plain"], opts["compare"], opts["optimizer"]
        big = self.arch == "resnet50"
        norm = opts.get("norm", "auto")
        self.norm = ("bn" if big else "none") if norm == "auto" else norm
        asked = str(config.get("norm") or "auto")
        if asked not in ("auto", *self.norms):
            notify(self.norm_note.format(norm=asked))
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
        self._counter: PhaseCounter | None = None   # this iteration's phases so far (shows_from_caches)
        self._after_loss: tuple | None = None       # (iteration, per run (norms, ratios)) just after the loss
        self._view_reached: int | None = None       # reached_at: view_data as after this many phases

    # ---------------------------------------------------------------- building
    def _make_run(self, skip: bool, opt: str, lr: float) -> Run:
        tag = {"plain": "residual" if skip else "plain", "optimizer": opt, "none": "residual" if skip else "plain"}[self.compare]
        return self.build_run(skip, opt, lr, tag, OPTIMIZER_TITLES[opt])

    @abstractmethod
    def build_run(self, skip: bool, optimizer: str, lr: float, tag: str, optimizer_title: str) -> Run:
        """A run from the initial parameters every run shares (the same init seed)."""

    @property
    def primary(self) -> Run:
        return self.runs[0]

    # ---------------------------------------------------------------- structure
    def blocks(self) -> list[BlockInfo]:
        if self._blocks is None:
            self._blocks = self.primary.block_infos()
        return self._blocks

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
    @abstractmethod
    def prepare(self, images: np.ndarray):
        """(N, 28, 28) in [0, 1] -> the network's input in the engine's type."""

    @abstractmethod
    def prepare_labels(self, labels: np.ndarray):
        """(N,) digit labels -> the engine's type."""

    def next_batch(self):
        idx, self.perm, self.cursor = next_batch_indices(self.rng, self.perm, self.cursor, self.batch_size)
        images, labels = self.data.train_x[idx], self.data.train_y[idx]
        return images, self.prepare(images), self.prepare_labels(labels)

    # ---------------------------------------------------------------- running
    def run_iteration(self, detail: bool = True) -> Iterator[PhaseEvent]:
        it = self.iteration
        event = self._counter = PhaseCounter(it, self.phase_specs())

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
        if self.keeps_earlier_views:   # what a block not reached yet by backward shows (its norms, ‖∇W‖/‖W‖)
            self._after_loss = (it, [(list(run.norms), run.weight_ratios()[1]) for run in self.runs])
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
        metrics: dict[str, float] = {"loss": losses[0], "train_accuracy": self.primary.batch_accuracy(y)}
        metrics["_grad_first"] = self.primary.first_block_total()
        for run, loss in zip(self.runs[1:], losses[1:]):
            metrics[f"{run.tag}_loss"] = loss
            metrics[f"_{run.tag}_grad_first"] = run.first_block_total()
        self.last_metrics = metrics
        self.iteration += 1
        yield event()

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

    def adopt_evaluation(self, other: Trainer) -> None:
        self.report = other.report

    def _evaluate(self) -> dict[str, Any]:
        n = self.eval_size or len(self.data.heldout_x)
        images, labels = self.data.heldout_x[:n], self.data.heldout_y[:n]
        x = self.prepare(images)
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
    def _layer_view(self, a: np.ndarray) -> dict[str, Any]:
        a = np.asarray(a, dtype=np.float32)
        if a.ndim == 3:
            maps = a[:MAX_TILES]
            while maps.shape[-1] > 64:  # keep the tiled image small: halve big maps
                maps = maps[:, ::2, ::2]
            return {"maps": maps.copy()}
        return {"vector": a.ravel().copy()}

    def input_image(self, image: np.ndarray) -> np.ndarray:
        """The inspected (28, 28) image in [0, 1] as the network sees it (a subclass may resize it)."""
        return image.copy()

    def phase_data(self, index: int, block: int) -> dict[str, Any]:
        run = self.primary
        if self._x is None or not (0 <= block < run.n_blocks()):
            return {}
        spec = self.phase_specs()[index]
        if spec.kind == FORWARD:
            out_a = run.output(block)
            if out_a is None:
                return {}
            data = {"input_image": self.input_image(np.asarray(self._images[0], dtype=np.float32)),
                    "label": int(self._y[0]), "activation": self._layer_view(out_a[0])}
            if self.histograms:
                data["activation_hist"] = histogram(out_a)
            w = run.first_weight(block)
            if w is not None:
                if w.ndim == 4:  # (C_out, C_in, kh, kw) -> (C_out·C_in, kh, kw) tiles
                    data["kernel_grid"] = (int(w.shape[0]), int(w.shape[1]))   # (filters, input channels)
                    data["kernels"] = np.ascontiguousarray(w.reshape(-1, w.shape[2], w.shape[3])[:MAX_TILES],
                                                           dtype=np.float32)
                elif w.ndim == 2:
                    data["weight_matrix"] = np.asarray(w[:128, :128], dtype=np.float32).copy()
            return data
        if spec.kind == LOSS:
            logits = run.logits()
            if logits is None:
                return {}
            z = logits[0].astype(np.float64)
            p = np.exp(z - z.max())
            losses = dict(self._losses)
            return {"loss": losses[run.tag], "probs": p / p.sum(), "label": int(self._y[0]), "run_losses": losses}
        if spec.kind == BACKWARD:
            grads = run.gradients(block)
            if grads is None:
                return {}
            g_out, g_in, param_grads = grads
            data = {"grad_output": self._layer_view(g_out[0]), "grad_input": self._layer_view(g_in[0]),
                    "param_grad_norms": [float(np.linalg.norm(g)) for g in param_grads]}
            if self.histograms:
                data["grad_hist"] = histogram(g_out)
            if block in run.residual:
                j = run.residual.index(block)
                if run.norms[j]:
                    data["grad_split"] = dict(run.norms[j])
            return data
        if spec.kind == UPDATE:
            update = run.block_update(block)
            if update is None or not update[0]:
                return {}
            updates, params = update
            data = {"update_norms": [float(np.linalg.norm(u)) for u in updates],
                    "param_norms": [float(np.linalg.norm(p)) for p in params]}
            if self.histograms:
                data["update_hist"] = histogram(updates[0])
            return data
        return {}

    def _steps(self, selected_block: int) -> dict[str, Any]:
        """Per-parameter step sizes Δθ of the last update, for the first weight of the selected block
        (or of the first residual block), for every run: the same parameters, so they pair up."""
        run = self.primary
        block = selected_block if 0 <= selected_block < run.n_blocks() and run.first_weight(selected_block) is not None \
            else (run.residual[0] if run.residual else 0)
        out: dict[str, Any] = {"block": int(block), "label": self.blocks()[block].label, "runs": []}
        for r in self.runs:
            u = r.first_weight_step(block)
            if u is None:
                continue
            u = np.asarray(u, dtype=np.float64).ravel()
            out["runs"].append({"tag": r.tag, "title": r.title, "optimizer": r.optimizer_name, "lr": r.get_lr(),
                                "steps": u[:MAX_STEP_VALUES].copy(), "n": int(u.size)})
        return out

    # ---------------------------------------------------------------- ← from the caches
    def _phases_reached(self) -> int:
        """Phases of the iteration under way run so far (0 at a boundary or after a restore)."""
        c = self._counter
        return c.index if c is not None and self._x is not None and c.iteration == self.iteration else 0

    def shows_from_caches(self, phase: int) -> bool:
        """In the forward phases: a later block's forward leaves the blocks before it as they were. Inside
        backward, before the update: block k's backward writes only block k's gradients and norms and what
        flows to block k−1, so the blocks it has reached show what they showed, and the blocks not reached
        yet show what they showed just after the loss (kept then, while played phase by phase). Not across
        the loss (it clears the parameters' gradients). Checked bit for bit against stepping there, both
        engines (test_resnet_lab)."""
        reached, nb = self._phases_reached(), len(self.blocks())
        if not 1 <= phase < reached:
            return False
        if reached <= nb:
            return True
        kept = self._after_loss
        return nb + 1 <= phase and reached <= 2 * nb + 1 and kept is not None and kept[0] == self.iteration

    def reached_at(self, phase: int):
        return attribute_set_to(self, "_view_reached", phase)

    def _backward_reached(self, i: int, where: list, ratios: np.ndarray) -> tuple[list, np.ndarray, list[bool]] | None:
        """(norms, ‖∇W‖/‖W‖, fresh) of run ``i`` as after ``_view_reached`` phases, from its norms and ratios
        now (``where``: each weight's block); None inside the forward phases or with none asked."""
        q, nb = self._view_reached, len(self.blocks())
        if q is None or q <= nb or self._after_loss is None:
            return None
        run = self.runs[i]
        norms_then, ratios_then = self._after_loss[1][i]
        done = lambda k: k > 2 * nb - q   # block k's backward is phase 2·nb − k
        norms = [n if done(k) else norms_then[j] for j, (k, n) in enumerate(zip(run.residual, run.norms))]
        ratios = np.where([done(k) for k, _ in where], ratios, ratios_then)
        return norms, ratios, [done(k) for k in run.residual]

    def view_data(self, selected_block: int) -> dict[str, Any]:
        runs = []
        for i, run in enumerate(self.runs):
            norms = run.block_grad_norms()
            where, ratios = run.weight_ratios()
            fresh = run.fresh
            earlier = self._backward_reached(i, where, ratios)
            if earlier is not None:   # ← to an earlier backward phase of this iteration
                norms, ratios, fresh = norm_dicts(earlier[0]), earlier[1], earlier[2]
            names = self._layer_names(run, where)
            init = self.init_norms[i]
            runs.append({
                "tag": run.tag, "title": run.title, "skip": run.skip, "optimizer": run.optimizer_name,
                "grad_skip": np.array([n["skip"] for n in norms]),
                "grad_branch": np.array([n["branch"] for n in norms]),
                "grad_total": np.array([n["total"] for n in norms]),
                "fresh": np.array(fresh, dtype=bool),
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
        run.save(path, meta)

    def load(self, path: str) -> None:
        mine = {k: getattr(self, k) for k in ("engine", "arch", "depth", "norm")}

        def check(meta: dict) -> None:
            if any(meta.get(k) != v for k, v in mine.items()):
                raise StepwiseError(f"The model in {path} is a {meta.get('arch')} net of depth {meta.get('depth')} "
                                    f"({meta.get('engine')}, norm {meta.get('norm')}); set the same options to "
                                    "load it.")

        _, arrays = read_model(path, self.lab, self.primary.own_arrays(), ("stepwise-resnet-1",), check=check)
        for r in self.runs:  # every run starts from the loaded parameters
            r.load_arrays(arrays)
            r.clear()
