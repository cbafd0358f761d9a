"""The batch-size-1 lab's routing net (``--router``): why its first write-up trained one image at a time.

Its author wanted a network that runs a sub-network chosen per example ("if the result is an
animal, run the sub-network that recognizes animals"). A batch would have to split: each image
takes its own path. Here, per image:

    stem:      WS conv 1→c1 3×3 → GroupNorm → ReLU → max-pool                 (c1, 14, 14), always runs
    router:    WS conv c1→c1 3×3 → GroupNorm → ReLU → max-pool → dense → 3 logits   (3 experts)
    k* = argmax of the router's logits                                        a hard choice: one expert runs
    expert k*: conv c1→c2 3×3 → norm → ReLU → max-pool → dense → 10 logits   (the others do nothing)

How the router learns: a coarse fixed grouping of the digits — round 0 6 8 9, straight 1 4 7,
the rest 2 3 5 — that the router learns to predict:

    L = CE(the chosen expert's logits, digit) + CE(the router's logits, the digit's group)

The image goes where the router's argmax says, right or wrong, in training as in evaluation, so
each expert learns from what it is actually sent (a misrouted 9 teaches the straight expert).

A gate learned from the experts' results alone was tried first and did not train: the chosen
expert's logits times g = p_k*/stopgrad(p_k*) (value 1, gradient ⟨dL/dz, z⟩/p_k*: the Switch
Transformer's straight-through signal), balanced first by Switch's loss 0.1 · K Σ_k f_k p_k (f_k
a moving average of the choices), then by auxiliary-loss-free balancing (a selection bias
b ← b + β(1/K − onehot(k*)), Wang et al. 2024). Measured, 2,000 images, seed 0: every image went
to one expert (the Switch loss, and β 0.01 and 0.05: shares [1, 0, 0], held-out top-1 94 %, a
single CNN); with β 0.5 the loss became NaN at image 1,547. At batch size 1 the expert that happens to train first gets
better and keeps winning; the router's softmax saturates, so Switch's balancing loss K Σ f_k p_k
has no gradient left either.

Gradient flows only where the image went: the chosen expert's weights, the router (its group
loss) and the stem (from both); the other experts get no gradient and no update.

Two such nets side by side, the same initial weights and images: the experts' norm is GroupNorm
with weight standardization in one, BatchNorm in the other — its statistics in training then come
from a single routed image, and its running statistics only from the images routed to that
expert. The stem and the router use GN+WS in both. Held-out: top-1 and top-5 accuracy of the
routed prediction, and the share of images each expert takes.
"""
from __future__ import annotations

import copy
from typing import Any, Iterator

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .. import StepwiseError
from ..loading import read_model, write_model
from ..options import settings
from ..torch_engine.models import conv_block, dense_block
from ..torch_engine.staged import StagedBlock, StagedRunner
from ..trainer import BACKWARD, FORWARD, LOSS, UPDATE, BlockInfo, PhaseEvent, PhaseSpec, Trainer, check_finite
from .batch1 import Batch1Trainer, runner_weight_view
from .classifier_torch import staged_phase_data

NETS = ("bn", "gnws")                               # the experts' norm
TITLES = {"bn": "BN experts", "gnws": "GN+WS experts"}
SHORT = {"bn": "BN", "gnws": "GN+WS"}
GROUPS = ((0, 6, 8, 9), (1, 4, 7), (2, 3, 5))   # round, straight, the rest: one expert each
GROUP_NAMES = ("round 0 6 8 9", "straight 1 4 7", "2 3 5")
GROUP_OF = torch.tensor([next(g for g, digits in enumerate(GROUPS) if d in digits) for d in range(10)])
ROUTER_FORMAT = "stepwise-torch-router-1"
SHARE_DECAY = 0.99          # the moving window of the routing fractions f_k: about the last 100 images
ROUTING_LOG = 2000          # the training images remembered for the view (label, expert)


class RoutedNet:
    """One side: a stem, a router and K experts, each a one-block StagedRunner (staged autograd)."""

    def __init__(self, norm: str, channels: tuple[int, int], n_experts: int, groups: int, rng: np.random.Generator):
        c1, c2 = channels
        g1, g2 = min(groups, c1), min(groups, c2)
        self.norm, self.K = norm, n_experts
        stem = nn.Sequential(conv_block("c", 1, c1, 3, rng, 1, "relu", "gnws", g1).module, nn.MaxPool2d(2))
        router = nn.Sequential(conv_block("c", c1, c1, 3, rng, 1, "relu", "gnws", g1).module, nn.MaxPool2d(2),
                               dense_block("d", c1 * 7 * 7, n_experts, "linear", rng, flatten=True).module)
        self.stem = StagedRunner([StagedBlock("stem", f"stem · WS Conv 1→{c1} + GN + pool", "conv", stem)],
                                 input_grad=False)
        self.router = StagedRunner([StagedBlock("router", f"router · WS Conv {c1}→{c1} + GN + pool → {n_experts}",
                                                "conv", router)])
        norm_label = "BN" if norm == "bn" else "GN"
        prefix = "WS " if norm == "gnws" else ""
        self.experts = []
        for k in range(n_experts):
            expert = nn.Sequential(conv_block("c", c1, c2, 3, rng, 1, "relu", norm, g2).module, nn.MaxPool2d(2),
                                   dense_block("d", c2 * 7 * 7, 10, "linear", rng, flatten=True).module)
            label = f"expert {k + 1} · {prefix}Conv {c1}→{c2} + {norm_label} + pool → 10"
            self.experts.append(StagedRunner([StagedBlock(f"expert{k + 1}", label, "conv", expert)]))
        self.runners = [self.stem, self.router, *self.experts]     # the diagram's order
        self.share = np.full(n_experts, 1.0 / n_experts)            # f_k: moving average of the choices
        self.clear()

    def clear(self) -> None:
        self.chosen = -1
        self.probs: np.ndarray | None = None
        self.gate_logits: torch.Tensor | None = None    # the router's logits, a leaf, in the loss
        self.expert_logits: torch.Tensor | None = None  # the chosen expert's logits, a leaf, in the loss
        self.task_loss = self.router_loss = float("nan")
        self.updates: dict[int, list[torch.Tensor]] = {}
        for r in self.runners:
            r.clear()

    def parameters(self) -> list[torch.Tensor]:
        return [p for r in self.runners for p in r.parameters()]

    def buffers(self) -> list[torch.Tensor]:
        return [b for r in self.runners for b in r.buffers()]

    def modules(self) -> list[nn.Module]:
        return [r.net for r in self.runners]

    # ------------------------------------------------------------------ one image, phase by phase
    def forward(self, part: int, x: torch.Tensor) -> None:
        """part 0: the stem; 1: the router (and the choice); 2 + k: expert k, if it was chosen."""
        if part == 0:
            self.stem.begin(x, training=True)
            self.stem.forward_block(0)
        elif part == 1:
            self.router.begin(self.stem.outputs[0].detach(), training=True)
            logits = self.router.forward_block(0)                             # (1, K)
            self.probs = torch.softmax(logits.detach().double(), 1)[0].numpy()
            self.chosen = int(np.argmax(self.probs))                          # the hard gate: one expert runs
        elif part - 2 == self.chosen:
            expert = self.experts[self.chosen]
            expert.begin(self.stem.outputs[0].detach(), training=True)
            expert.forward_block(0)

    def loss(self, y: torch.Tensor) -> float:
        """L = CE(the chosen expert's logits, digit) + CE(the router's logits, the digit's group)."""
        self.expert_logits = self.experts[self.chosen].outputs[0].detach().requires_grad_(True)   # z (1, 10)
        self.gate_logits = self.router.outputs[0].detach().requires_grad_(True)                   # (1, K)
        with torch.enable_grad():
            task = F.cross_entropy(self.expert_logits, y)                     # the chosen expert's loss
            routing = F.cross_entropy(self.gate_logits, GROUP_OF[y])          # the router learns the groups
            (task + routing).backward()                                       # dL/dz and dL/d(router logits)
        self.task_loss, self.router_loss = float(task.detach()), float(routing.detach())
        for r in self.runners:
            r.zero_grad()                                                     # .grad fills up in backward
        self.experts[self.chosen].grad_outputs[0] = self.expert_logits.grad
        self.router.grad_outputs[0] = self.gate_logits.grad
        return self.task_loss

    def backward(self, part: int) -> None:
        """part 2 + k: expert k (only the chosen one has a gradient); 1: the router; 0: the stem,
        which sums what the expert and the router sent back: dL/dh = dL/dh|expert + dL/dh|router."""
        if part >= 2:
            if part - 2 == self.chosen:
                self.experts[self.chosen].backward_block(0)
        elif part == 1:
            self.router.backward_block(0)
        else:
            g = self.experts[self.chosen].grad_inputs[0] + self.router.grad_inputs[0]
            self.stem.grad_outputs[0] = g
            self.stem.backward_block(0)

    def finish(self) -> None:
        """After the update: the moving routing fractions (shown) take this image's choice."""
        onehot = np.zeros(self.K)
        onehot[self.chosen] = 1.0
        self.share = SHARE_DECAY * self.share + (1.0 - SHARE_DECAY) * onehot

    def grad_norm(self, part: int) -> float | None:
        """‖∇θ‖ of a part's parameters, None where no gradient reached them."""
        grads = [p.grad for p in self.runners[part].parameters() if p.grad is not None]
        return float(torch.sqrt(sum(torch.sum(g.double() ** 2) for g in grads))) if grads else None

    # ------------------------------------------------------------------ evaluation
    @torch.no_grad()
    def predict(self, x: torch.Tensor) -> tuple[np.ndarray, torch.Tensor, np.ndarray]:
        """Routed evaluation: (the expert chosen per image, the logits of that expert (N, 10), the
        router's probabilities (N, K)). Every expert is run on every image, then one is picked."""
        h = self.stem.predict(x)
        gate = self.router.predict(h)                                          # (N, K)
        chosen = gate.argmax(1)
        all_logits = torch.stack([e.predict(h) for e in self.experts], 1)      # (N, K, 10)
        logits = all_logits[torch.arange(len(x)), chosen]                      # (N, 10)
        return chosen.numpy(), logits, torch.softmax(gate.double(), 1).numpy()


class RouterTrainer(Batch1Trainer):
    """Two routing nets (BN experts, GN+WS experts) side by side at batch size 1."""

    eval_every = 500
    keyframe_every = 50

    def __init__(self, config: dict):
        super(Batch1Trainer, self).__init__(config)
        self.setup(config)
        if self.batch_size != 1:
            raise StepwiseError("The routing net trains one image at a time, each on its own expert; "
                                "set the batch size to 1.")
        self.n_experts = len(GROUPS)
        self.nets: dict[str, RoutedNet] = {}
        self.optimizers: dict[str, torch.optim.Optimizer] = {}
        for net in NETS:
            init_rng = np.random.default_rng([self.seed, 1])                  # the same initial weights
            self.nets[net] = RoutedNet(net, self.channels, self.n_experts, self.groups, init_rng)
            self.optimizers[net] = torch.optim.SGD(self.nets[net].parameters(), lr=self.base_lr,
                                                   momentum=self.momentum)
        self.perm = self.rng.permutation(len(self.data.train_x))
        self.cursor = 0
        self._x = self._y = None
        self.routing_log: list[tuple[int, int, int, int]] = []   # (iteration, label, expert bn, expert gnws)
        self.last_eval: dict[str, Any] = {}

    # ------------------------------------------------------------------ structure
    @property
    def parts(self) -> int:
        return 2 + self.n_experts

    def locate(self, block: int) -> tuple[str, int]:
        return NETS[block // self.parts], block % self.parts

    def blocks(self) -> list[BlockInfo]:
        out = []
        for net in NETS:
            for r in self.nets[net].runners:
                b = r.blocks[0]
                shape = (10,) if b.name.startswith("expert") else (self.n_experts,) if b.name == "router" else \
                    (self.channels[0], 14, 14)
                out.append(BlockInfo(f"{net}.{b.name}", f"{SHORT[net]} · {b.label}", b.kind,
                                     int(sum(p.numel() for p in r.parameters())), shape))
        return out

    def phase_specs(self) -> list[PhaseSpec]:
        P = self.parts
        label = {j: f"{SHORT[NETS[j // P]]} · {self.nets[NETS[j // P]].runners[j % P].blocks[0].label}"
                 for j in range(2 * P)}
        specs = []
        for j in range(2 * P):
            if j % P >= 2:
                specs.append(PhaseSpec(FORWARD, j, f"forward · {label[j]} (runs only if the router chose it)"))
            elif j % P == 1:
                specs.append(PhaseSpec(FORWARD, j, f"forward · {label[j]} · picks one expert (argmax)"))
            else:
                specs.append(PhaseSpec(FORWARD, j, f"forward · {label[j]}"))
        specs.append(PhaseSpec(LOSS, -1, "loss · cross-entropy of each net's chosen expert + its router's, "
                                         "of the digit's group"))
        for net_index in reversed(range(len(NETS))):
            for part in reversed(range(P)):
                j = net_index * P + part
                note = " (a gradient only if chosen)" if part >= 2 else \
                    " (its group loss)" if part == 1 else " (from the expert and the router)"
                specs.append(PhaseSpec(BACKWARD, j, f"backward · {label[j]}{note}"))
        schedule = f"lr {self.base_lr:g} / (1 + t/{self.decay:g})" if self.decay > 0 else f"lr {self.base_lr:g}"
        specs.append(PhaseSpec(UPDATE, -1, f"update · SGD of both nets ({schedule}); unchosen experts stay as they "
                                           "were"))
        return specs

    # ------------------------------------------------------------------ running
    def run_iteration(self, detail: bool = True) -> Iterator[PhaseEvent]:
        it = self.iteration
        event, lr, x, y, yt = self.start_iteration()
        for net in NETS:
            self.nets[net].clear()
            for p in self.nets[net].parameters():
                p.grad = None                                  # unchosen experts: no gradient, so no update
        for net in NETS:
            for part in range(self.parts):
                self.nets[net].forward(part, x)
                yield event()
        losses = {}
        for net in NETS:
            losses[net] = self.nets[net].loss(yt)
            check_finite(losses[net], it)
        yield event()
        for net in reversed(NETS):
            for part in reversed(range(self.parts)):
                self.nets[net].backward(part)
                yield event()
        with torch.no_grad():
            for net in NETS:
                routed = self.nets[net]
                before = {i: [p.detach().clone() for p in r.parameters()] for i, r in enumerate(routed.runners)}
                self.optimizers[net].step()                    # SGD skips the parameters without a gradient
                routed.updates = {i: [p.detach() - b for p, b in zip(r.parameters(), before[i])]
                                  for i, r in enumerate(routed.runners)}
                if not all(bool(torch.isfinite(p).all()) for p in routed.parameters()):
                    check_finite(float("nan"), it)
                routed.finish()
        self.routing_log.append((it + 1, int(y[0]), self.nets["bn"].chosen, self.nets["gnws"].chosen))
        if len(self.routing_log) > 2 * ROUTING_LOG:
            del self.routing_log[:-ROUTING_LOG]
        correct = {net: float(int(self.nets[net].expert_logits.detach().argmax(1)[0]) == int(y[0])) for net in NETS}
        self.last_metrics = {"loss": losses["gnws"], "loss_gnws": losses["gnws"], "loss_bn": losses["bn"],
                             "train_accuracy": correct["gnws"], "train_accuracy_gnws": correct["gnws"],
                             "train_accuracy_bn": correct["bn"], "expert_gnws": float(self.nets["gnws"].chosen),
                             "expert_bn": float(self.nets["bn"].chosen), "lr": lr}
        self.iteration += 1
        yield event()

    # ------------------------------------------------------------------ evaluation
    def evaluate(self) -> dict[str, float]:
        x = self.prepare(self.data.heldout_x)
        y = torch.from_numpy(self.data.heldout_y)
        out: dict[str, float] = {}
        detail: dict[str, Any] = {}
        for net in NETS:
            chosen, logits, _ = self.nets[net].predict(x)
            top5 = logits.topk(5, dim=1).indices
            out[f"heldout_top1_{net}"] = float((top5[:, 0] == y).double().mean())
            out[f"heldout_top5_{net}"] = float((top5 == y[:, None]).any(1).double().mean())
            out[f"heldout_loss_{net}"] = float(F.cross_entropy(logits, y))
            share = np.bincount(chosen, minlength=self.n_experts) / len(chosen)
            counts = np.zeros((self.n_experts, 10), dtype=np.int64)              # (expert, digit)
            np.add.at(counts, (chosen, self.data.heldout_y), 1)
            right = (top5[:, 0] == y).numpy()
            acc = [float(right[chosen == k].mean()) if (chosen == k).any() else float("nan")
                   for k in range(self.n_experts)]
            detail[net] = {"share": share, "counts": counts, "expert_accuracy": np.array(acc)}
        out["heldout_top1"], out["heldout_top5"] = out["heldout_top1_gnws"], out["heldout_top5_gnws"]
        out["heldout_accuracy"], out["heldout_loss"] = out["heldout_top1"], out["heldout_loss_gnws"]
        self.last_eval = dict(out, detail=detail, iteration=self.iteration)
        return out

    def adopt_evaluation(self, other: Trainer) -> None:
        self.last_eval = dict(other.last_eval)

    # ------------------------------------------------------------------ views
    def phase_data(self, index: int, block: int) -> dict[str, Any]:
        if self._x is None or not 0 <= block < 2 * self.parts:
            return {}
        net, part = self.locate(block)
        routed = self.nets[net]
        kind = self.phase_specs()[index].kind
        if part >= 2 and part - 2 != routed.chosen:
            if routed.chosen < 0:
                return {}
            runner = routed.runners[part]
            return {"net": net, "skipped": True, "chosen": routed.chosen, **runner_weight_view(runner)(0),
                    "note": f"not chosen for this image (the router picked expert {routed.chosen + 1}): "
                            f"{'no forward' if kind == FORWARD else 'no gradient' if kind == BACKWARD else 'no update'}"
                            " — its weights (shown) stay as they are"}
        runner = routed.runners[part]
        if kind == LOSS:
            if routed.expert_logits is None:
                return {}
            probs = torch.softmax(routed.expert_logits.detach().double(), 1)[0].numpy()
            return {"net": net, "loss": routed.task_loss, "probs": probs,
                    "label": int(self._y[0]), "chosen": routed.chosen}
        out = staged_phase_data(runner, kind, 0, image=self._x[0, 0].numpy().copy(), label=int(self._y[0]),
                                updates=routed.updates.get(part, []), weight_view=runner_weight_view(runner),
                                histograms=self.histograms)
        if out:
            out["net"] = net
            if part == 1 and routed.probs is not None:
                out["router_probs"] = routed.probs.copy()
                out["chosen"] = routed.chosen
        return out

    def routing_view(self) -> dict[str, Any]:
        """Per net: this image's router probabilities and choice, and where the gradient reached
        (‖∇θ‖ per part: stem, router, experts; None where none arrived)."""
        out: dict[str, Any] = {"label": None if self._y is None else int(self._y[0])}
        if self._x is not None:
            out["image"] = self._x[0, 0].numpy().copy()
        for net in NETS:
            r = self.nets[net]
            pred = None if r.expert_logits is None else int(r.expert_logits.detach().argmax(1)[0])
            out[net] = {"probs": None if r.probs is None else r.probs.copy(), "chosen": r.chosen, "prediction": pred,
                        "grad_norms": [r.grad_norm(i) for i in range(self.parts)], "share": r.share.copy(),
                        "router_loss": r.router_loss}
        return out

    def recent_routing(self) -> dict[str, Any]:
        """The last ROUTING_LOG training images: how many of each digit each expert took."""
        rows = np.array(self.routing_log[-ROUTING_LOG:], dtype=np.int64).reshape(-1, 4)
        out = {"n": len(rows)}
        for j, net in enumerate(NETS):
            counts = np.zeros((self.n_experts, 10), dtype=np.int64)             # (expert, digit)
            np.add.at(counts, (rows[:, 2 + j], rows[:, 1]), 1)
            out[net] = counts
        out["last"] = rows[-40:].copy()                                          # (iteration, label, bn, gnws)
        return out

    def view_data(self, selected_block: int) -> dict[str, Any]:
        out: dict[str, Any] = {"hyperparams": self.hyperparams(), "router": True, "nets": dict(TITLES),
                               "n_experts": self.n_experts, "parts": self.parts, "groups_routed": list(GROUP_NAMES),
                               "batch_size": 1, "routing": self.routing_view(), "recent": self.recent_routing(),
                               "last_eval": copy.deepcopy(self.last_eval)}
        if 0 <= selected_block < 2 * self.parts:
            out["selected_net"] = self.locate(selected_block)[0]
        return out

    def command(self, name: str, args: dict) -> dict[str, Any]:
        if name == "classify":
            x = self.prepare(np.asarray(args["image"], dtype=np.float32).reshape(1, 28, 28))
            reply: dict[str, Any] = {}
            for net in NETS:
                chosen, logits, gate = self.nets[net].predict(x)
                probs = torch.softmax(logits.double(), 1)[0].numpy()
                reply[net] = {"probs": probs, "prediction": int(probs.argmax()), "expert": int(chosen[0]),
                              "router_probs": gate[0]}
            reply["probs"], reply["prediction"] = reply["gnws"]["probs"], reply["gnws"]["prediction"]
            return reply
        return super(Batch1Trainer, self).command(name, args)

    def summary(self) -> dict[str, Any]:
        if not self.last_eval or self.last_eval.get("iteration") != self.iteration:
            self.evaluate()
        e = self.last_eval
        return {"router": True, "experts": self.n_experts, "groups_routed": list(GROUP_NAMES), "batch_size": 1,
                "channels": list(self.channels), "groups": self.groups, "base_lr": self.base_lr, "decay": self.decay,
                "heldout_top1": e["heldout_top1"], "heldout_top5": e["heldout_top5"],
                "expert_share": [round(float(v), 4) for v in e["detail"]["gnws"]["share"]],
                "heldout_top1_bn": e["heldout_top1_bn"], "heldout_top5_bn": e["heldout_top5_bn"],
                "expert_share_bn": [round(float(v), 4) for v in e["detail"]["bn"]["share"]],
                "expert_accuracy": [round(float(v), 4) for v in e["detail"]["gnws"]["expert_accuracy"]],
                "expert_digits": e["detail"]["gnws"]["counts"].tolist(),
                "expert_digits_bn": e["detail"]["bn"]["counts"].tolist()}

    # ------------------------------------------------------------------ state
    def trained_nets(self) -> dict[str, Any]:
        return self.nets

    def get_state(self) -> dict:
        state = super().get_state()
        for net in NETS:
            state["nets"][net]["share"] = self.nets[net].share.copy()
        return state

    def after_set_state(self, state: dict) -> None:
        for net in NETS:
            self.nets[net].share = np.array(state["nets"][net]["share"], dtype=np.float64)
        self.routing_log = [row for row in self.routing_log if row[0] <= self.iteration]  # replay writes the rest
        self._y = None

    def model_arrays(self) -> dict[str, dict[str, torch.Tensor]]:
        """Per net, every module's state ("<part>.<name>") and the routing shares: what a model file holds."""
        return {net: {**{f"{i}.{k}": v for i, m in enumerate(self.nets[net].modules()) for k, v in m.state_dict().items()},
                      "share": torch.from_numpy(self.nets[net].share)} for net in NETS}

    def save(self, path: str) -> None:
        write_model(path, {"format": ROUTER_FORMAT, "lab": self.lab, "channels": list(self.channels),
                           "groups": self.groups, "experts": self.n_experts, "iteration": self.iteration},
                    self.model_arrays(), "the models")

    def load(self, path: str) -> None:
        def check(meta: dict) -> None:
            if meta.get("format") != ROUTER_FORMAT:
                raise StepwiseError(f"The file {path} holds the batch-size-1 lab's two plain CNNs, not a routing net; "
                                    "open it without the routing net (--router off).")
            if (meta.get("channels"), meta.get("groups"), meta.get("experts")) != (list(self.channels), self.groups,
                                                                                   self.n_experts):
                raise StepwiseError(f"The routing nets in {path} have channels {meta.get('channels')}, "
                                    f"{meta.get('groups')} groups and {meta.get('experts')} experts; set the same "
                                    "to load them.")

        own = {f"{net}/{k}": v for net, arrays in self.model_arrays().items() for k, v in arrays.items()}
        _, arrays = read_model(path, self.lab, own, (ROUTER_FORMAT, "stepwise-torch-batch1-1"), check=check)
        for net in NETS:
            routed = self.nets[net]
            for i, m in enumerate(routed.modules()):
                prefix = f"{net}/{i}."
                m.load_state_dict({k[len(prefix):]: torch.from_numpy(np.array(v)) for k, v in arrays.items()
                                   if k.startswith(prefix)})
            routed.share = np.array(arrays[f"{net}/share"], dtype=np.float64)


def make_trainer(config: dict) -> Batch1Trainer:
    """The batch1 lab's trainer: the routed experts with ``router``, else the two networks side by side."""
    return RouterTrainer(config) if settings(config, "batch1", "torch")["router"] else Batch1Trainer(config)
