"""MNIST classifiers on the Torch engine, trained phase by phase with staged autograd.

The torch twin of engines/labs/classifier.py (NumpyClassifierTrainer): the same data order (a
NumPy generator seeded from the config), the same initial weights (drawn by the blocks'
builders from the NumPy engine's generator), the same phases, and the same ``phase_data`` keys
and layouts (weights in the NumPy engine's (in, out) layout), so every view works unchanged
with ``--engine torch``. A subclass builds its blocks (``build_blocks``) and may change how
images are laid out (``input_shape``).
"""
from __future__ import annotations

import copy
import multiprocessing as mp
from typing import Any, Callable, Iterator

import numpy as np
import torch
import torch.nn.functional as F

from .. import StepwiseError
from ..data import ALL_DIGITS, load_mnist, next_batch_indices, select_digits
from .classifier import MAX_TILES, ClassifierCommands, backward_plan, histogram
from ..loading import check_blocks, read_model, write_model
from ..landscape import classifier_landscape, with_path_iterations
from ..numpy_engine.losses import softmax
from ..trainer import (BACKWARD, FORWARD, LOSS, UPDATE, BlockInfo, PhaseCounter, PhaseEvent, PhaseSpec, Trainer, check_finite,
                       rng_state, set_rng_state)
from ..torch_engine.models import main_weight, to_numpy_layout
from ..torch_engine.staged import StagedBlock, StagedRunner

TORCH_OPTIMIZERS = ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adadelta", "adam", "adamw", "adamax")


def configure_threads(config: dict, default: int | None = None) -> None:
    """torch's intra-op threads for this process: ``threads`` from the config if given; otherwise
    1 inside a spawned worker process (the app's engine process, so the UI keeps a core), and
    ``default`` in a main process (None: torch's own default, all cores). Work on one example is
    too small to split: there a second thread only waits (7 → 120 ms per step on a busy 2-core machine)."""
    n = config.get("threads")   # checked against its declaration (engines/options.py)
    if n is None:
        if mp.parent_process() is not None:
            n = 1
        elif default is not None:
            n = default
        else:
            return
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)


def make_torch_optimizer(name: str, params: list[torch.Tensor], lr: float, momentum: float = 0.9) -> torch.optim.Optimizer:
    """The torch.optim twin of the NumPy engine's optimizer of the same name."""
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr)
    if name == "momentum":
        return torch.optim.SGD(params, lr=lr, momentum=momentum)
    if name == "nesterov":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, nesterov=True)
    classes = {"adagrad": torch.optim.Adagrad, "rmsprop": torch.optim.RMSprop, "adadelta": torch.optim.Adadelta,
               "adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "adamax": torch.optim.Adamax}
    if name not in classes:
        raise StepwiseError(f"Unknown optimizer {name!r}; choose one of: {', '.join(TORCH_OPTIMIZERS)}.")
    return classes[name](params, lr=lr)


def clone_state(obj: Any) -> Any:
    """A copy of nested dicts / lists / tuples of tensors and plain values: tensors cloned, plain values
    shared (they are immutable). ~10× faster than copy.deepcopy on an optimizer's state (a ResNet-20
    keyframe: 3 ms instead of 30)."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().clone()
    if isinstance(obj, dict):
        return {k: clone_state(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(clone_state(v) for v in obj)
    return obj


def optimizer_state(optimizer: torch.optim.Optimizer) -> dict:
    """A copy: torch's state_dict() hands out the live momentum buffers."""
    return clone_state(optimizer.state_dict())


def load_optimizer_state(optimizer: torch.optim.Optimizer, state: dict) -> None:
    # torch keeps the tensors it is given as its live state: give it copies, so a keyframe never changes
    optimizer.load_state_dict(clone_state(state))


def layer_view(t: torch.Tensor) -> dict[str, Any]:
    """One example's tensor as the view shows it: a vector, or maps (C, H, W)."""
    a = t.detach().to(torch.float32).numpy()
    if a.ndim == 3:
        return {"maps": a[:MAX_TILES].copy()}
    return {"vector": a.ravel().copy()}


def staged_phase_data(runner: StagedRunner, kind: str, block: int, *, image: np.ndarray, label: int,
                      updates: list[torch.Tensor], weight_view: Callable[..., dict],
                      histograms: bool = True) -> dict[str, Any]:
    """What phase ``kind`` of the latest iteration computed for ``block`` of ``runner``, with the
    NumPy classifier's keys: the inspected example is the first of the batch. ``weight_view(k,
    weights=None)`` turns a block's main weight (or its gradient, NumPy layout) into view arrays."""
    out: dict[str, Any] = {}
    if kind == FORWARD:
        act = runner.outputs[block]
        if act is None:
            return {}
        out = {"input_image": image, "label": label, "activation": layer_view(act[0])}
        if histograms:
            out["activation_hist"] = histogram(act.detach().numpy())
        out.update(weight_view(block))
    elif kind == LOSS:
        if runner.logits is None:
            return {}
        logits = runner.logits.detach().to(torch.float64).numpy()
        out = {"loss": float(runner.loss_value), "probs": softmax(logits[:1])[0], "label": label}
    elif kind == BACKWARD:
        g_out = runner.grad_outputs[block]
        if g_out is None:
            return {}
        g_in = runner.grad_inputs[block]
        out = {"grad_output": layer_view(g_out[0])}
        if histograms:
            out["grad_hist"] = histogram(g_out.numpy())
        if g_in is not None:
            out["grad_input"] = layer_view(g_in[0])
        params = runner.block_params(block)
        if params and all(p.grad is not None for p in params):
            out["param_grad_norms"] = [float(torch.linalg.vector_norm(p.grad)) for p in params]
            w_t = main_weight(runner.blocks[block].module)
            if w_t is not None and w_t.grad is not None:
                out.update({"grad_" + key: v for key, v in weight_view(block, to_numpy_layout(w_t.grad)).items()})
    elif kind == UPDATE and updates:
        ids = runner.param_index_range(block)
        if not len(ids):
            return {}
        params = runner.parameters()
        out = {"update_norms": [float(torch.linalg.vector_norm(updates[i])) for i in ids],
               "param_norms": [float(torch.linalg.vector_norm(params[i].detach())) for i in ids]}
        if histograms:
            out["update_hist"] = histogram(updates[ids[0]].numpy())
        if updates[ids[0]].ndim >= 2:  # the main weight's Δθ as an image, in the NumPy layout
            out.update({"update_" + key: v for key, v in weight_view(block, to_numpy_layout(updates[ids[0]])).items()})
    out.update(runner.extra(kind, block))
    return out


class TorchClassifierTrainer(ClassifierCommands, Trainer):
    """Softmax classifier of MNIST images as a list of torch blocks, run with staged autograd."""

    engine = "torch"
    eval_every = 50
    keyframe_every = 10
    input_shape: tuple = (784,)
    loss_label = "softmax cross-entropy"
    frozen: frozenset = frozenset()  # names of blocks whose parameters take no gradient and no update
    digits: tuple = ALL_DIGITS       # the classes trained on and held out

    def __init__(self, config: dict):
        super().__init__(config)
        opts = self.options
        configure_threads(opts)
        self.batch_size = opts["batch_size"]
        self.dtype = torch.float64 if config.get("dtype") == "float64" else torch.float32
        self.data = load_mnist(opts["data"], notify=config.get("notify"))
        self.data = select_digits(self.data, self.digits)        # the whole set unless a lab chose digits
        self.rng = np.random.default_rng(self.seed)                    # data order (as the NumPy engine)
        self.generator = torch.Generator().manual_seed(self.seed)       # dropout masks
        init_rng = np.random.default_rng([self.seed, 1])                # weights (as the NumPy engine)
        self.runner = StagedRunner(self.build_blocks(init_rng), input_grad=True)
        self.runner.net.to(self.dtype)
        opt_name = opts["optimizer"]
        self.optimizer_name = opt_name
        self.optimizer = make_torch_optimizer(opt_name, self.runner.parameters(), self.starting_lr(opts),
                                              opts["momentum"])
        self._start_epoch_state(config)
        self.trajectory.maybe_record(0, self.numpy_params)

    # ------------------------------------------------------------------ to fill in
    def build_blocks(self, rng: np.random.Generator) -> list[StagedBlock]:
        raise NotImplementedError

    twin_model_class = None  # the NumPy Model class of the twin (None: engines.numpy_engine.model.Model)

    def numpy_twin_layers(self) -> list:
        """The same network as NumPy engine layers (for the loss landscape, computed by the NumPy
        engine on a copy with these weights); a subclass that has one returns it."""
        raise StepwiseError(f"The {self.lab} lab has no loss landscape on the torch engine.")

    def prepare(self, images: np.ndarray) -> torch.Tensor:
        """(N, 28, 28) float images -> the first block's input."""
        return torch.from_numpy(np.ascontiguousarray(images).reshape(len(images), *self.input_shape)).to(self.dtype)

    # ------------------------------------------------------------------ structure
    def blocks(self) -> list[BlockInfo]:
        outs = self.runner.forward_all(torch.zeros((1, *self.input_shape), dtype=self.dtype))
        return [BlockInfo(b.name, b.label, b.kind, int(sum(p.numel() for p in b.module.parameters())),
                          tuple(o.shape[1:])) for b, o in zip(self.runner.blocks, outs)]

    def phase_specs(self) -> list[PhaseSpec]:
        blocks = self.runner.blocks
        specs = [PhaseSpec(FORWARD, i, f"forward · {b.label}") for i, b in enumerate(blocks)]
        specs.append(PhaseSpec(LOSS, -1, f"loss · {self.loss_label}"))
        specs += [PhaseSpec(BACKWARD, i, f"backward · {blocks[i].label}") for i in reversed(range(len(blocks)))]
        specs.append(PhaseSpec(UPDATE, -1, f"update · {self.optimizer_name} (lr {self.optimizer.param_groups[0]['lr']:g})"))
        return specs

    # ------------------------------------------------------------------ running
    def next_batch(self) -> tuple[np.ndarray, np.ndarray]:
        """Images (N, 28, 28) and labels of the next batch, in the NumPy engine's order."""
        idx, self.perm, self.cursor = next_batch_indices(self.rng, self.perm, self.cursor, self.batch_size)
        return self.data.train_x[idx], self.data.train_y[idx]

    def run_iteration(self, detail: bool = True) -> Iterator[PhaseEvent]:
        it = self.iteration
        event = PhaseCounter(it, self.phase_specs())

        images, y = self.next_batch()
        x = self.prepare(images)
        self._x, self._y = x, y
        yt = torch.from_numpy(y)
        runner = self.runner
        for b in runner.blocks:
            for p in b.module.parameters():
                p.requires_grad_(b.name not in self.frozen)   # frozen: autograd computes no dL/dW
        runs = backward_plan([bool(runner.block_params(k)) and b.name not in self.frozen
                              for k, b in enumerate(runner.blocks)])
        runner.begin(x, training=True)
        for k in range(len(runner)):
            runner.forward_block(k)
            yield event()
        loss = runner.loss(F.cross_entropy, yt)
        check_finite(loss, it)
        yield event()
        for k in reversed(range(len(runner))):
            if runs[k]:
                runner.backward_block(k)
            else:  # nothing here or below trains: the gradient stops at this block's output
                runner.stop_gradient(k)
            yield event()
        params = runner.parameters()
        with torch.no_grad():
            before = [p.detach().clone() for p in params]
            self.optimizer.step()
            self._updates = [p.detach() - b for p, b in zip(params, before)]
        if not all(bool(torch.isfinite(u).all()) for u in self._updates):
            check_finite(float("nan"), it)  # the update overflowed: same message as a NaN loss
        accuracy = float((runner.logits.detach().argmax(dim=1).numpy() == y).mean())
        self.last_metrics = {"loss": loss, "train_accuracy": accuracy}
        self.iteration += 1
        self.trajectory.maybe_record(self.iteration, self.numpy_params)
        yield event()

    def predict_logits(self, images: np.ndarray) -> np.ndarray:
        return self.runner.predict(self.prepare(images)).numpy()

    def heldout_loss(self, logits: np.ndarray) -> float:
        return float(F.cross_entropy(torch.from_numpy(logits.astype(np.float64)), torch.from_numpy(self.data.heldout_y)))

    # ------------------------------------------------------------------ views (the NumPy trainer's keys)
    @staticmethod
    def data_image(x: torch.Tensor) -> np.ndarray:
        return x.detach().to(torch.float32).numpy().reshape(28, 28).copy()

    layer_view = staticmethod(layer_view)

    def weight_view(self, k: int, weights: np.ndarray | None = None) -> dict[str, Any]:
        """A block's main weight (or its gradient), as NumpyClassifierTrainer.weight_view shows it,
        plus "kernels" (C_out, C_in, kh, kw) for convolutions."""
        w_t = main_weight(self.runner.blocks[k].module)
        if w_t is None:
            return {}
        w = to_numpy_layout(w_t) if weights is None else weights
        w = np.asarray(w, dtype=np.float32)
        if w.ndim == 4:
            return {"kernels": w[:MAX_TILES, :MAX_TILES].copy()}
        if w.shape[0] == 784 and self.input_shape == (784,):
            return {"weight_tiles": np.ascontiguousarray(w[:, :MAX_TILES].T.reshape(-1, 28, 28))}
        return {"weight_matrix": w[:128, :128].copy()}

    def phase_data(self, index: int, block: int) -> dict[str, Any]:
        if not (0 <= block < len(self.runner)):
            return {}
        kind = self.phase_specs()[index].kind
        if self._x is None:  # nothing computed yet (a new run, or restored from a keyframe): the weights are there
            return self.weight_view(block) if kind == FORWARD else {}
        return staged_phase_data(self.runner, kind, block, image=self.data_image(self._x[0]), label=int(self._y[0]),
                                 updates=self._updates, weight_view=self.weight_view, histograms=self.histograms)

    def batch_logits(self) -> np.ndarray | None:
        logits = self.runner.logits  # None from the start of an iteration until its loss phase
        return None if logits is None else logits.detach().numpy()

    def classify(self, image: np.ndarray) -> dict[str, Any]:
        """Forward one 28×28 image in evaluation mode; every block's output for the views."""
        x = self.prepare(np.asarray(image, dtype=np.float32).reshape(1, 28, 28))
        outs = self.runner.forward_all(x)
        probs = softmax(outs[-1].to(torch.float64).numpy())[0]
        return {"probs": probs, "prediction": int(probs.argmax()), "layers": [self.layer_view(o[0]) for o in outs]}

    def numpy_params(self) -> list[np.ndarray]:
        """The parameters in the NumPy engine's layout and order."""
        return [to_numpy_layout(p).copy() for p in self.runner.parameters()]

    def landscape(self, args: dict) -> dict[str, Any]:
        """The loss landscape around this run's path, computed by the NumPy engine on a twin of the
        network with the same weights (the landscape code is the NumPy engine's)."""
        from types import SimpleNamespace

        from ..numpy_engine.losses import SoftmaxCrossEntropy
        from ..numpy_engine.model import Model
        model = (self.twin_model_class or Model)(self.numpy_twin_layers(), SoftmaxCrossEntropy())
        for p, q in zip(model.params(), self.numpy_params()):
            p[...] = q
        twin = SimpleNamespace(model=model, data=self.data, lab=self.lab,
                               prepare=lambda images: self.prepare(images).to(torch.float32).numpy())
        points = self.trajectory.path_to(self.iteration, self.numpy_params())
        task = classifier_landscape(twin, points, directions=args.get("directions", "pca"),
                                    resolution=int(args.get("resolution", 25)),
                                    n_examples=int(args.get("n_examples", 2000)), seed=self.seed)
        return {"task": with_path_iterations(task, self.trajectory.iterations_to(self.iteration))}

    # ------------------------------------------------------------------ hyperparameters
    def hyperparams(self) -> dict[str, float]:
        group = self.optimizer.param_groups[0]
        out = {"lr": float(group["lr"])}
        if self.optimizer_name in ("momentum", "nesterov"):
            out["momentum"] = float(group["momentum"])
        return out

    def set_hyperparam(self, name: str, value: float) -> None:
        if name not in self.hyperparams():
            return super().set_hyperparam(name, value)
        value = self.check_live(name, value)
        for group in self.optimizer.param_groups:
            group[name] = value

    # ------------------------------------------------------------------ state
    def get_state(self) -> dict:
        return {"iteration": self.iteration,
                "params": [p.detach().clone() for p in self.runner.parameters()],
                "buffers": [b.detach().clone() for b in self.runner.buffers()],
                "optimizer": optimizer_state(self.optimizer), "hyper": self.hyperparams(),
                "rng": rng_state(self.rng), "torch_rng": self.generator.get_state(),
                "perm": self.perm.copy(), "cursor": self.cursor, "last_metrics": dict(self.last_metrics)}

    def set_state(self, state: dict) -> None:
        self.iteration = state["iteration"]
        with torch.no_grad():
            for p, saved in zip(self.runner.parameters(), state["params"]):
                p.copy_(saved)
            for b, saved in zip(self.runner.buffers(), state["buffers"]):
                b.copy_(saved)
        load_optimizer_state(self.optimizer, state["optimizer"])
        for k, v in state["hyper"].items():
            for group in self.optimizer.param_groups:
                group[k] = v
        set_rng_state(self.rng, state["rng"])
        self.generator.set_state(state["torch_rng"])
        self.perm = np.array(state["perm"])
        self.cursor = int(state["cursor"])
        self.last_metrics = dict(state["last_metrics"])
        self._updates = []
        self._x = None
        self.runner.clear()
        self.trajectory.truncate(self.iteration)

    def architecture(self) -> dict:
        return {"lab": self.lab, "blocks": [b.label for b in self.runner.blocks]}

    def save(self, path: str) -> None:
        write_model(path, {"format": "stepwise-torch-model-1", **self.architecture(), "iteration": self.iteration,
                           "digits": list(self.digits)}, self.runner.net.state_dict())

    def load(self, path: str) -> None:
        mine = self.architecture()
        meta, arrays = read_model(path, self.lab, self.runner.net.state_dict(), ("stepwise-torch-model-1",),
                                  check=lambda meta: check_blocks(meta, mine, path))
        self.runner.net.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in arrays.items()})
        self.report = None
        self.reports = {}
