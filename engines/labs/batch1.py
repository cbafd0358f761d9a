"""Batch size 1: GroupNorm + weight standardization vs BatchNorm (Torch engine).

Two CNNs with the same layers, the same initial weights, the same examples in the same order,
trained side by side with one example per step:

    BN net:     conv → BatchNorm2d → ReLU → pool → conv → BatchNorm2d → ReLU → pool → dense
    GN+WS net:  WS conv → GroupNorm → ReLU → pool → WS conv → GroupNorm → ReLU → pool → dense

BatchNorm normalizes with statistics of the *batch*. With one example they are that example's
own per-channel statistics over its pixels, so in training every image is normalized by itself;
in evaluation BatchNorm switches to running averages of those statistics, which wander from
example to example (the running mean and variance drift). The network is then evaluated with
a normalization it never trained with. GroupNorm (Wu & He 2018) normalizes each example by
itself in training and evaluation alike, and weight standardization (Qiao et al. 2019) keeps
each filter at zero mean and unit variance, which smooths the loss landscape as BatchNorm's
batch statistics would.

One iteration: forward through the BN net's blocks, then the GN+WS net's, both losses,
backward through the GN+WS net, then the BN net, and one SGD step of each (learning rate
lr / (1 + t / decay)). Staged autograd as everywhere on the Torch engine.
"""
from __future__ import annotations

import copy
import re
from typing import Any, Iterator, Literal, NotRequired, TypedDict

import numpy as np
import torch
import torch.nn.functional as F

from .. import StepwiseError
from ..data import load_mnist, next_batch_indices
from ..loading import read_model, write_model
from ..numpy_engine.losses import softmax
from ..torch_engine.models import ConvBlock, cnn_blocks, main_weight, to_numpy_layout
from ..torch_engine.staged import StagedRunner
from ..trainer import (BACKWARD, FORWARD, LOSS, UPDATE, BlockInfo, PhaseCounter, PhaseEvent, PhaseSpec, Trainer, check_finite,
                       downsample_indices, rng_state, set_rng_state)
from .classifier import (ClassificationReport, ClassifierBackward, ClassifierForward, ClassifierLoss,
                         ClassifierUpdate, Nothing, classification_report)
from .classifier_torch import configure_threads, layer_view, load_optimizer_state, optimizer_state, staged_phase_data
from .cnn import parse_channels, shift_images, weight_view_of

NETS = ("bn", "gnws")
TITLES = {"bn": "BN", "gnws": "GN+WS"}
MAX_CURVE_POINTS = 600


# ---------------------------------------------------------------------- what the view is handed
class BNHistoryLayer(TypedDict):
    name: str
    mean: np.ndarray                    # (T, C): running mean per recorded iteration
    var: np.ndarray                     # (T, C): running variance


class BNHistory(TypedDict, total=False):
    """Empty before the first iteration."""
    iterations: np.ndarray              # (T,)
    layers: list[BNHistoryLayer]


class Batch1View(TypedDict):
    hyperparams: dict[str, float]
    router: Literal[False]              # the two nets side by side (True: RouterView)
    nets: dict[str, str]                # "bn", "gnws" -> title
    n_blocks_per_net: int
    bn_history: BNHistory
    batch_size: int
    last_eval: dict[str, float]         # held-out accuracy and loss of each net (empty before the first)
    selected_net: NotRequired[str]      # the net of the selected block
    reports: NotRequired[dict[str, ClassificationReport]]
    report: NotRequired[ClassificationReport]   # the GN+WS net's


class RoutingNet(TypedDict):
    """One net's router on the last image (None before the first)."""
    probs: np.ndarray | None            # (experts,): the router's softmax
    chosen: int | None
    prediction: int | None
    grad_norms: list[float | None]      # ‖∇θ‖ per part (stem, router, experts); None where none arrived
    share: np.ndarray                   # (experts,): the share of images routed to each so far
    router_loss: float | None


class Routing(TypedDict):
    label: int | None                   # the last training image's
    image: NotRequired[np.ndarray]      # (28, 28)
    bn: RoutingNet
    gnws: RoutingNet


class RecentRouting(TypedDict):
    n: int                              # the last n training images
    bn: np.ndarray                      # (experts, 10): how many of each digit each expert took
    gnws: np.ndarray
    last: np.ndarray                    # (≤ 40, 4): iteration, label, bn's expert, gnws's expert


class RouterView(TypedDict):
    """The routing net (option router): three experts per net, a router picks one per image."""
    hyperparams: dict[str, float]
    router: Literal[True]
    nets: dict[str, str]
    n_experts: int
    parts: int
    groups_routed: list[str]
    batch_size: int
    routing: Routing
    recent: RecentRouting
    last_eval: dict[str, Any]
    selected_net: NotRequired[str]


class BNStats(TypedDict):
    running_mean: np.ndarray            # (C,)
    running_var: np.ndarray
    batch_mean: NotRequired[np.ndarray]  # forward: this batch's statistics (what BN divides by in training)
    batch_var: NotRequired[np.ndarray]


class Batch1Forward(ClassifierForward):
    net: str
    bn: NotRequired[BNStats]
    router_probs: NotRequired[np.ndarray]
    chosen: NotRequired[int]


class Batch1Loss(ClassifierLoss):
    net: str
    bn: NotRequired[BNStats]
    chosen: NotRequired[int]


class Batch1Backward(ClassifierBackward):
    net: str
    bn: NotRequired[BNStats]
    router_probs: NotRequired[np.ndarray]
    chosen: NotRequired[int]


class Batch1Update(ClassifierUpdate):
    net: str
    bn: NotRequired[BNStats]
    router_probs: NotRequired[np.ndarray]
    chosen: NotRequired[int]


class SkippedExpert(TypedDict):
    """An expert the router did not choose for this image: it computed nothing."""
    net: str
    skipped: bool
    chosen: int
    kernels: NotRequired[np.ndarray]
    note: str


class Batch1PhaseData(TypedDict, total=False):
    forward: Batch1Forward | SkippedExpert | Nothing
    loss: Batch1Loss | SkippedExpert | Nothing
    backward: Batch1Backward | SkippedExpert | Nothing
    update: Batch1Update | SkippedExpert | Nothing


VIEW_DATA = Batch1View | RouterView      # view_data() (tests/test_view_contracts.py)
PHASE_DATA = Batch1PhaseData             # Session.block_phase_data(block)


def bn_extra(kind: str, runner: StagedRunner, k: int) -> dict[str, Any]:
    """BatchNorm blocks: the statistics this batch was normalized with, and the running ones
    that evaluation will use instead."""
    module = runner.blocks[k].module
    bn = module.norm
    out = {"bn": {"running_mean": bn.running_mean.detach().numpy().copy(),
                  "running_var": bn.running_var.detach().numpy().copy()}}
    if kind == FORWARD and runner.inputs[k] is not None:
        with torch.no_grad():
            h = module.conv(runner.inputs[k])                                # (N, C, H, W) before the norm
            out["bn"]["batch_mean"] = h.mean(dim=(0, 2, 3)).numpy().copy()
            out["bn"]["batch_var"] = h.var(dim=(0, 2, 3), unbiased=False).numpy().copy()
    return out


def runner_weight_view(runner: StagedRunner):
    """view(k, weights=None): block k's main weight (or, given, its gradient) as the views show it."""
    def view(k: int, weights: np.ndarray | None = None) -> dict[str, Any]:
        w = main_weight(runner.blocks[k].module)
        if w is None:
            return {}
        return weight_view_of(to_numpy_layout(w) if weights is None else weights)
    return view


class Batch1Trainer(Trainer):
    lab = "batch1"
    engine = "torch"
    eval_every = 500
    keyframe_every = 50

    def __init__(self, config: dict):
        super().__init__(config)
        self.setup(config)
        self.runners: dict[str, StagedRunner] = {}
        self.optimizers: dict[str, torch.optim.Optimizer] = {}
        for net in NETS:
            init_rng = np.random.default_rng([self.seed, 1])                 # the same initial weights
            runner = StagedRunner(cnn_blocks(self.channels, init_rng, norm=net, groups=self.groups), input_grad=True)
            for b in runner.blocks:
                short = re.sub(r"GroupNorm\(\d+\)", "GN", b.label.replace(" pad 1", "").replace("BatchNorm", "BN"))
                b.label = f"{TITLES[net]} · {short}"
                if net == "bn" and isinstance(b.module, ConvBlock):
                    b.extra = bn_extra
            self.runners[net] = runner
            self.optimizers[net] = torch.optim.SGD(runner.parameters(), lr=self.base_lr, momentum=self.momentum)
        self.perm = self.rng.permutation(len(self.data.train_x))
        self.cursor = 0
        self._updates: dict[str, list[torch.Tensor]] = {net: [] for net in NETS}
        self._x = self._y = None
        self._losses: dict[str, float] = {}
        self.bn_log: list[tuple[int, np.ndarray]] = []   # (iteration, running mean/var of every BN layer)
        self.reports: dict[str, dict] = {}
        self.last_eval: dict[str, float] = {}

    def setup(self, config: dict) -> None:
        """What the routing net (engines/labs/router.py) shares: the settings, the data, the data order."""
        if config.get("engine", "torch") != "torch":
            raise StepwiseError("The batch-size-1 lab runs on the torch engine only.")
        opts = self.read_settings(config)   # declared in engines/options.py
        configure_threads(opts, default=1)
        self.channels = parse_channels(opts["channels"])
        self.groups = opts["groups"]
        for c in self.channels:
            if c % min(self.groups, c):
                raise StepwiseError(f"{c} channels do not split into {self.groups} GroupNorm groups; "
                                    "choose groups that divide both channel counts.")
        self.batch_size, self.base_lr, self.decay = opts["batch_size"], opts["lr"], opts["decay"]
        self.momentum, self.shift = opts["momentum"], opts["shift"]
        self.data = load_mnist(opts["data"], notify=config.get("notify"))
        self.rng = np.random.default_rng(self.seed)                           # one data order for both nets

    # ------------------------------------------------------------------ structure
    @property
    def n(self) -> int:
        return len(self.runners["bn"])

    def locate(self, block: int) -> tuple[str, int]:
        return ("bn", block) if block < self.n else ("gnws", block - self.n)

    def blocks(self) -> list[BlockInfo]:
        out = []
        for net in NETS:
            runner = self.runners[net]
            shapes = runner.forward_all(torch.zeros((1, 1, 28, 28)))
            for b, o in zip(runner.blocks, shapes):
                out.append(BlockInfo(f"{net}.{b.name}", b.label, b.kind,
                                     int(sum(p.numel() for p in b.module.parameters())), tuple(o.shape[1:])))
        return out

    def phase_specs(self) -> list[PhaseSpec]:
        n = self.n
        labels = [b.label for net in NETS for b in self.runners[net].blocks]
        specs = [PhaseSpec(FORWARD, j, f"forward · {labels[j]}") for j in range(2 * n)]
        specs.append(PhaseSpec(LOSS, -1, "loss · cross-entropy of both nets"))
        specs += [PhaseSpec(BACKWARD, j, f"backward · {labels[j]}") for j in reversed(range(n, 2 * n))]
        specs += [PhaseSpec(BACKWARD, j, f"backward · {labels[j]}") for j in reversed(range(n))]
        schedule = f"lr {self.base_lr:g} / (1 + t/{self.decay:g})" if self.decay > 0 else f"lr {self.base_lr:g}"
        specs.append(PhaseSpec(UPDATE, -1, f"update · SGD of both nets ({schedule})"))
        return specs

    def current_lr(self, iteration: int | None = None) -> float:
        t = self.iteration if iteration is None else iteration
        return self.base_lr / (1.0 + t / self.decay) if self.decay > 0 else self.base_lr

    # ------------------------------------------------------------------ running
    def next_batch(self) -> tuple[np.ndarray, np.ndarray]:
        idx, self.perm, self.cursor = next_batch_indices(self.rng, self.perm, self.cursor, self.batch_size)
        return shift_images(self.data.train_x[idx], self.rng, self.shift), self.data.train_y[idx]

    @staticmethod
    def prepare(images: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32).reshape(len(images), 1, 28, 28))

    def start_iteration(self) -> tuple[PhaseCounter, float, torch.Tensor, np.ndarray, torch.Tensor]:
        """This iteration's phase counter, learning rate (set in the optimizers) and examples (x, y, y as a tensor)."""
        lr = self.current_lr(self.iteration)
        for opt in self.optimizers.values():
            for group in opt.param_groups:
                group["lr"] = lr
        images, y = self.next_batch()
        x = self.prepare(images)
        self._x, self._y = x, y
        return PhaseCounter(self.iteration, self.phase_specs()), lr, x, y, torch.from_numpy(y)

    def run_iteration(self, detail: bool = True) -> Iterator[PhaseEvent]:
        it = self.iteration
        event, lr, x, y, yt = self.start_iteration()
        for net in NETS:
            self.runners[net].begin(x, training=True)
        for net in NETS:
            for k in range(self.n):
                self.runners[net].forward_block(k)
                yield event()
        for net in NETS:
            self._losses[net] = self.runners[net].loss(F.cross_entropy, yt)
            check_finite(self._losses[net], it)
        yield event()
        for net in reversed(NETS):
            for k in reversed(range(self.n)):
                self.runners[net].backward_block(k)
                yield event()
        with torch.no_grad():
            for net in NETS:
                params = self.runners[net].parameters()
                before = [p.detach().clone() for p in params]
                self.optimizers[net].step()
                self._updates[net] = [p.detach() - b for p, b in zip(params, before)]
        if not all(bool(torch.isfinite(u).all()) for net in NETS for u in self._updates[net]):
            check_finite(float("nan"), it)
        self.bn_log.append((it + 1, self._bn_row()))
        acc = {net: float((self.runners[net].logits.detach().argmax(1).numpy() == y).mean()) for net in NETS}
        self.last_metrics = {"loss": self._losses["gnws"], "loss_gnws": self._losses["gnws"],
                             "loss_bn": self._losses["bn"], "train_accuracy": acc["gnws"],
                             "train_accuracy_gnws": acc["gnws"], "train_accuracy_bn": acc["bn"], "lr": lr}
        self.iteration += 1
        yield event()

    def _bn_layers(self) -> list[tuple[str, torch.nn.BatchNorm2d]]:
        return [(b.name, b.module.norm) for b in self.runners["bn"].blocks if isinstance(b.module, ConvBlock)]

    def _bn_row(self) -> np.ndarray:
        """Every BN layer's running mean then running variance, as one row."""
        return np.concatenate([np.concatenate([bn.running_mean.numpy(), bn.running_var.numpy()])
                               for _, bn in self._bn_layers()]).astype(np.float32)

    # ------------------------------------------------------------------ evaluation
    @torch.no_grad()
    def _own_stats_logits(self, x: torch.Tensor) -> torch.Tensor:
        """The BN net with each example normalized by its own statistics, as training at batch 1
        normalized it (BatchNorm on a batch of one = instance normalization with BN's γ, β)."""
        h = x
        for b in self.runners["bn"].blocks:
            m = b.module
            if isinstance(m, ConvBlock):
                h = m.conv(h)
                h = F.instance_norm(h, weight=m.norm.weight, bias=m.norm.bias, eps=m.norm.eps)
                h = m.act(h)
            else:
                h = m(h)
        return h

    def evaluate(self) -> dict[str, float]:
        x = self.prepare(self.data.heldout_x)
        y = self.data.heldout_y
        out: dict[str, float] = {}
        for net in NETS:
            logits = self.runners[net].predict(x)                            # BN in eval mode: running statistics
            report = classification_report(y, logits.argmax(1).numpy())
            self.reports[net] = report
            out[f"heldout_accuracy_{net}"] = report["accuracy"]
            out[f"heldout_loss_{net}"] = float(F.cross_entropy(logits, torch.from_numpy(y)))
        own = torch.cat([self._own_stats_logits(x[i:i + 500]) for i in range(0, len(x), 500)])
        out["heldout_accuracy_bn_own_stats"] = float((own.argmax(1).numpy() == y).mean())
        out["heldout_accuracy"] = out["heldout_accuracy_gnws"]
        out["heldout_loss"] = out["heldout_loss_gnws"]
        self.last_eval = dict(out)
        return out

    def adopt_evaluation(self, other: Trainer) -> None:
        self.reports = dict(other.reports)
        self.last_eval = dict(other.last_eval)

    # ------------------------------------------------------------------ views
    def weight_view(self, net: str):
        return runner_weight_view(self.runners[net])

    def phase_data(self, index: int, block: int) -> dict[str, Any]:
        if self._x is None or not 0 <= block < 2 * self.n:
            return {}
        net, k = self.locate(block)
        kind = self.phase_specs()[index].kind
        image = self._x[0, 0].numpy().copy()
        out = staged_phase_data(self.runners[net], kind, k, image=image, label=int(self._y[0]),
                                updates=self._updates[net], weight_view=self.weight_view(net),
                                histograms=self.histograms)
        if out:
            out["net"] = net
        return out

    def bn_history(self) -> dict[str, Any]:
        """Running mean and variance of every BN layer per iteration (at most MAX_CURVE_POINTS rows, the
        same ones from call to call while the stride holds: the window draws the settled part once)."""
        if not self.bn_log:
            return {}
        rows = [self.bn_log[i] for i in downsample_indices(len(self.bn_log), MAX_CURVE_POINTS)]
        its = np.array([r[0] for r in rows], dtype=np.int64)
        table = np.stack([r[1] for r in rows])                               # (T, Σ 2·C)
        layers, start = [], 0
        for name, bn in self._bn_layers():
            c = bn.num_features
            layers.append({"name": name, "mean": table[:, start:start + c].copy(),
                           "var": table[:, start + c:start + 2 * c].copy()})
            start += 2 * c
        return {"iterations": its, "layers": layers}

    def view_data(self, selected_block: int) -> dict[str, Any]:
        out: dict[str, Any] = {"hyperparams": self.hyperparams(), "router": False, "nets": dict(TITLES),
                               "n_blocks_per_net": self.n,
                               "bn_history": self.bn_history(), "batch_size": self.batch_size,
                               "last_eval": dict(self.last_eval)}
        if 0 <= selected_block < 2 * self.n:
            out["selected_net"] = self.locate(selected_block)[0]
        if self.reports:
            out["reports"] = {net: r for net, r in self.reports.items()}
            out["report"] = self.reports["gnws"]
        return out

    def command(self, name: str, args: dict) -> dict[str, Any]:
        if name == "classify":
            x = self.prepare(np.asarray(args["image"], dtype=np.float32).reshape(1, 28, 28))
            reply: dict[str, Any] = {}
            for net in NETS:
                outs = self.runners[net].forward_all(x)
                probs = softmax(outs[-1].double().numpy())[0]
                reply[net] = {"probs": probs, "prediction": int(probs.argmax()),
                              "layers": [layer_view(o[0]) for o in outs]}
            reply["probs"], reply["prediction"] = reply["gnws"]["probs"], reply["gnws"]["prediction"]
            return reply
        return super().command(name, args)

    def summary(self) -> dict[str, Any]:
        return {"batch_size": self.batch_size, "groups": self.groups, "channels": list(self.channels),
                "base_lr": self.base_lr, "decay": self.decay, "momentum": self.momentum}

    # ------------------------------------------------------------------ hyperparameters
    def hyperparams(self) -> dict[str, float]:
        return {"lr": float(self.base_lr)}   # decay is a setting (a new run); lr: the rate before decay

    def set_hyperparam(self, name: str, value: float) -> None:
        if name not in self.hyperparams():
            return super().set_hyperparam(name, value)
        self.base_lr = self.check_live(name, value)

    # ------------------------------------------------------------------ state
    def trained_nets(self) -> dict[str, Any]:
        """Per net, what a keyframe saves: an object with parameters(), buffers() and clear()."""
        return self.runners

    def get_state(self) -> dict:
        nets = {}
        for net, r in self.trained_nets().items():
            nets[net] = {"params": [p.detach().clone() for p in r.parameters()],
                         "buffers": [b.detach().clone() for b in r.buffers()],
                         "optimizer": optimizer_state(self.optimizers[net])}
        return {"iteration": self.iteration, "nets": nets, "hyper": self.hyperparams(), "rng": rng_state(self.rng),
                "perm": self.perm.copy(), "cursor": self.cursor, "last_metrics": dict(self.last_metrics)}

    def set_state(self, state: dict) -> None:
        self.iteration = int(state["iteration"])
        for net, r in self.trained_nets().items():
            saved = state["nets"][net]
            with torch.no_grad():
                for p, v in zip(r.parameters(), saved["params"]):
                    p.copy_(torch.as_tensor(v))
                for b, v in zip(r.buffers(), saved["buffers"]):
                    b.copy_(torch.as_tensor(v))
            load_optimizer_state(self.optimizers[net], saved["optimizer"])
            r.clear()
        for k, v in state["hyper"].items():
            self.set_hyperparam(k, v)
        set_rng_state(self.rng, state["rng"])
        self.perm = np.array(state["perm"])
        self.cursor = int(state["cursor"])
        self.last_metrics = dict(state["last_metrics"])
        self._x = None
        self.after_set_state(state)

    def after_set_state(self, state: dict) -> None:
        self._updates = {net: [] for net in NETS}
        self.bn_log = [row for row in self.bn_log if row[0] <= self.iteration]  # replay writes the rest again

    def save(self, path: str) -> None:
        write_model(path, {"format": "stepwise-torch-batch1-1", "lab": self.lab, "channels": list(self.channels),
                           "groups": self.groups, "iteration": self.iteration},
                    {net: self.runners[net].net.state_dict() for net in NETS}, "the models")

    def load(self, path: str) -> None:
        def check(meta: dict) -> None:
            if meta.get("channels") != list(self.channels) or meta.get("groups") != self.groups:
                raise StepwiseError(f"The models in {path} have channels {meta.get('channels')} and "
                                    f"{meta.get('groups')} groups; set the same to load them.")

        # both nets' state dicts, flattened to "net/name" as the loader reads them
        own = {f"{net}/{k}": v for net in NETS for k, v in self.runners[net].net.state_dict().items()}
        _, arrays = read_model(path, self.lab, own, ("stepwise-torch-batch1-1",), check=check)
        for net in NETS:
            prefix = f"{net}/"
            self.runners[net].net.load_state_dict({k[len(prefix):]: torch.from_numpy(np.array(v))
                                                   for k, v in arrays.items() if k.startswith(prefix)})
