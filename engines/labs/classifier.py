"""Image classifiers on MNIST, trained phase by phase: the shared trainer of the MLP and CNN labs.

A subclass builds its layers (``build_layers``); this class owns the data order, the loss,
the optimizer, evaluation (accuracy, per-class report, confusion matrix), keyframe state,
save/load, and the per-phase data the views show. The inspected example of a phase is the
first example of the current batch.
"""
from __future__ import annotations

from typing import Any, Iterator, NotRequired, TypedDict

import numpy as np

from ..data import ALL_DIGITS, load_mnist, next_batch_indices, select_digits
from ..loading import check_blocks, read_model, write_model
from ..landscape import ParameterTrajectory, classifier_landscape, with_path_iterations
from ..numpy_engine.layers import Layer, preserved_caches
from ..numpy_engine.losses import SoftmaxCrossEntropy, softmax
from ..numpy_engine.model import Model
from ..numpy_engine.optimizers import OPTIMIZERS, TYPICAL_LR
from ..trainer import (BACKWARD, FORWARD, LOSS, UPDATE, BlockInfo, PhaseCounter, PhaseEvent, PhaseSpec, Trainer,
                       check_finite, rng_state, set_rng_state)

HIST_BINS = 40
MAX_TILES = 64  # weight tiles / feature maps sent to a view at most


# ---------------------------------------------------------------------- what the views are handed
# view_data and the per-block phase data of the classifier labs (MLP, CNN, and the batch-1 lab's
# nets), declared once; tests/test_view_contracts.py checks real trainers of both engines against it.
class Histogram(TypedDict):
    counts: np.ndarray          # (bins,)
    edges: np.ndarray           # (bins + 1,)


class LayerArray(TypedDict, total=False):
    """One example's array: maps (C, H, W) for a convolution's output, else a vector (n,)."""
    maps: np.ndarray
    vector: np.ndarray


class ClassificationReport(TypedDict):
    precision: np.ndarray       # (10,)
    recall: np.ndarray          # (10,)
    f1: np.ndarray              # (10,)
    support: np.ndarray         # (10,)
    confusion: np.ndarray       # (10, 10): rows true, columns predicted
    accuracy: float
    macro_f1: float
    iteration: NotRequired[int]


class ClassifierView(TypedDict):
    hyperparams: dict[str, float]
    report: NotRequired[ClassificationReport]     # from the last evaluation at or before the cursor


class Weights(TypedDict, total=False):
    """A block's weights as the views show them (none for a parameter-free block)."""
    weight_tiles: np.ndarray    # (units, 28, 28): the first Dense layer, one tile per unit
    weight_matrix: np.ndarray   # (in, out), at most 128 × 128
    kernels: np.ndarray         # (C_out, C_in, kh, kw), at most 64 × 64


class ClassifierForward(Weights):
    input_image: np.ndarray     # (28, 28): the first example of the batch
    label: int
    activation: LayerArray
    activation_hist: NotRequired[Histogram]   # unless Trainer.histograms is off


class ClassifierLoss(TypedDict):
    loss: float
    probs: np.ndarray           # (10,): softmax of the first example
    label: int


class ClassifierBackward(TypedDict):
    grad_output: LayerArray     # dL/d(output) of the first example
    grad_hist: NotRequired[Histogram]   # unless Trainer.histograms is off
    grad_input: NotRequired[LayerArray]
    param_grad_norms: NotRequired[list[float]]
    grad_weight_tiles: NotRequired[np.ndarray]
    grad_weight_matrix: NotRequired[np.ndarray]
    grad_kernels: NotRequired[np.ndarray]


class ClassifierUpdate(TypedDict):
    update_norms: list[float]   # ‖Δθ‖ per parameter of the block
    param_norms: list[float]
    update_hist: NotRequired[Histogram]   # unless Trainer.histograms is off
    update_weight_tiles: NotRequired[np.ndarray]
    update_weight_matrix: NotRequired[np.ndarray]
    update_kernels: NotRequired[np.ndarray]


class Nothing(TypedDict):
    """A phase that has nothing to show for this block (no parameters, or the gradient stopped before it)."""


class ClassifierPhaseData(TypedDict, total=False):
    """Session.block_phase_data(block): each phase kind reached in this iteration. Restored from a
    keyframe (no batch computed yet) the forward phase carries the weights only."""
    forward: ClassifierForward | Weights
    loss: ClassifierLoss
    backward: ClassifierBackward | Nothing
    update: ClassifierUpdate | Nothing


def histogram(values: np.ndarray, bins: int = HIST_BINS) -> dict[str, np.ndarray]:
    """Counts in ``bins`` equal bins from the finite values' min to their max (NaN and ±inf left out)."""
    v = np.asarray(values, dtype=np.float64).ravel()
    lo, hi = (float(v.min()), float(v.max())) if v.size else (np.nan, np.nan)
    if not (np.isfinite(lo) and np.isfinite(hi)):   # the copy without them only then: 2.3× the cost (CNN maps)
        v = v[np.isfinite(v)]
        if v.size == 0:
            return {"counts": np.zeros(bins), "edges": np.linspace(-1, 1, bins + 1)}
        lo, hi = float(v.min()), float(v.max())
    scale = max(abs(lo), abs(hi))
    if hi - lo < max(1e-12, 1e3 * bins * np.spacing(scale)):
        # one value (or bins too narrow for float64 at this size: a diverged layer's 1e14): a bin around it
        pad = max(0.5, 1e-6 * scale)
        lo, hi = lo - pad, hi + pad
    counts, edges = np.histogram(v, bins=bins, range=(lo, hi))
    return {"counts": counts.astype(np.float64), "edges": edges}


def classification_report(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int = 10,
                          classes: tuple[int, ...] | None = None) -> dict[str, np.ndarray]:
    """Per-class precision, recall, F1 and support, and the confusion matrix (rows: true, cols: predicted).
    The macro F1 averages over ``classes`` (default: all), e.g. only the digits a run trains on."""
    cm = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(cm, (y_true, y_pred), 1)
    tp = np.diag(cm).astype(np.float64)
    predicted = cm.sum(axis=0).astype(np.float64)
    support = cm.sum(axis=1).astype(np.float64)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    recall = np.divide(tp, support, out=np.zeros_like(tp), where=support > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(tp), where=denom > 0)
    return {"precision": precision, "recall": recall, "f1": f1, "support": support, "confusion": cm,
            "accuracy": float(tp.sum() / max(cm.sum(), 1)),
            "macro_f1": float(f1.mean() if classes is None else f1[list(classes)].mean())}


def backward_plan(trains: list[bool]) -> list[bool]:
    """Which blocks' backward runs, given which blocks train (have parameters that are not frozen):
    block k runs iff it trains or some block before it does (dL/dx must reach that one). Below the
    last block that needs it the gradient stops: nothing is computed there, not even dL/dx."""
    return [t or any(trains[:k]) for k, t in enumerate(trains)]


class ClassifierCommands:
    """What both engines' MNIST classifiers give the views alike: the live hyperparameters and the
    held-out report, the loss landscape (a task), classifying a drawn digit, and a strip of
    held-out examples with predictions."""

    default_lr = 0.05   # SGD / momentum when lr is empty (each lab may tune its own)

    def evaluate(self) -> dict[str, float]:
        """Held-out accuracy, macro-F1 (the report the view shows, kept per iteration) and loss."""
        logits = self.predict_logits(self.data.heldout_x)
        pred = logits.argmax(axis=1)
        self.report = dict(classification_report(self.data.heldout_y, pred, classes=self.digits),
                           iteration=self.iteration)
        self.reports[self.iteration] = self.report
        return {"heldout_accuracy": self.report["accuracy"], "heldout_loss": self.heldout_loss(logits),
                "heldout_macro_f1": self.report["macro_f1"]}

    def adopt_evaluation(self, other: Trainer) -> None:
        self.reports.update(other.reports)
        self.report = other.report

    def _start_epoch_state(self, config: dict) -> None:
        """What both engines' trainers hold besides the model: the data order, held-out reports,
        the last updates and batch, and the landscape's trajectory (in the NumPy engine's layout)."""
        self.perm = self.rng.permutation(len(self.data.train_x))
        self.cursor = 0
        self.report: dict[str, Any] | None = None
        self.reports: dict[int, dict[str, Any]] = {}  # iteration -> its held-out report (the view follows the timeline)
        self._updates: list = []
        self._x = self._y = None
        self.trajectory = ParameterTrajectory(config.get("record_every", 25))  # for the landscape view

    def starting_lr(self, opts: dict) -> float:
        """The declared lr; empty: the lab's tuned rate for SGD / momentum, else a rate that suits the optimizer."""
        if opts["lr"] is not None:
            return opts["lr"]
        return self.default_lr if opts["optimizer"] in ("sgd", "momentum") else TYPICAL_LR[opts["optimizer"]]

    def view_data(self, selected_block: int) -> dict[str, Any]:
        out: dict[str, Any] = {"hyperparams": self.hyperparams()}
        # the report of the last evaluation at or before the cursor: going back shows the report of then
        past = [k for k in self.reports if k <= self.iteration]
        if past:
            out["report"] = self.reports[max(past)]
        return out

    def command(self, name: str, args: dict) -> dict[str, Any]:
        if name == "landscape":
            return self.landscape(args)
        if name == "classify":
            return self.classify(args["image"])
        if name == "batch":
            return self.batch_view()
        if name == "heldout_examples":
            idx = np.asarray(args.get("indices", range(16)), dtype=int)
            x = self.data.heldout_x[idx]
            pred = self.predict_logits(x).argmax(axis=1)
            return {"images": x.copy(), "labels": self.data.heldout_y[idx].copy(), "predictions": pred,
                    "indices": idx}
        return super().command(name, args)

    def batch_view(self, limit: int = 64) -> dict[str, Any]:
        """The current batch for the diagram's "input" and "loss" boxes: the images and true labels,
        and once this iteration's loss phase has run, each example's loss ℓ_i = −log p_i(true) and
        softmax (from the training forward pass, dropout included)."""
        if self._x is None:
            return {"images": None}
        n = min(limit, len(self._y))
        labels = np.asarray(self._y[:n]).copy()
        out: dict[str, Any] = {"images": np.stack([self.data_image(self._x[i]) for i in range(n)]),
                               "labels": labels, "batch_size": int(len(self._y))}
        logits = self.batch_logits()
        if logits is not None:
            probs = softmax(np.asarray(logits[:n], dtype=np.float64))  # (n, 10)
            out["probs"] = probs
            out["losses"] = -np.log(np.maximum(probs[np.arange(n), labels], 1e-300))
        return out


class NumpyClassifierTrainer(ClassifierCommands, Trainer):
    """Softmax classifier of MNIST images with a NumPy layer stack."""

    engine = "numpy"
    eval_every = 50
    keyframe_every = 10
    input_shape: tuple = (784,)  # per example, as the first layer expects it
    frozen: frozenset = frozenset()  # names of blocks whose parameters take no gradient and no update
    digits: tuple = ALL_DIGITS       # the classes trained on and held out

    def __init__(self, config: dict):
        super().__init__(config)
        opts = self.options
        self.batch_size = opts["batch_size"]
        self.dtype = np.float64 if config.get("dtype") == "float64" else np.float32
        self.data = load_mnist(opts["data"], notify=config.get("notify"))
        self.data = select_digits(self.data, self.digits)        # the whole set unless a lab chose digits
        self.rng = np.random.default_rng(self.seed)          # data order and dropout
        init_rng = np.random.default_rng([self.seed, 1])      # weights
        self.model = Model(self.build_layers(init_rng), SoftmaxCrossEntropy())
        opt_name = opts["optimizer"]
        kwargs = {"lr": self.starting_lr(opts)}
        if opt_name in ("momentum", "nesterov"):
            kwargs["momentum"] = opts["momentum"]
        self.optimizer = OPTIMIZERS[opt_name](self.model.params(), **kwargs)
        self._start_epoch_state(config)
        self.trajectory.maybe_record(0, self.model.params)

    def build_layers(self, rng: np.random.Generator) -> list[Layer]:
        raise NotImplementedError

    def prepare(self, images: np.ndarray) -> np.ndarray:
        """(N, 28, 28) float images -> the first layer's input layout."""
        return images.reshape(len(images), *self.input_shape).astype(self.dtype, copy=False)

    # ------------------------------------------------------------------ structure
    def blocks(self) -> list[BlockInfo]:
        out = []
        x = np.zeros((1, *self.input_shape), dtype=self.dtype)
        with preserved_caches(self.model.layers):  # may be asked mid-iteration
            for layer in self.model.layers:
                x = layer.forward(x, training=False)
                out.append(BlockInfo(layer.name, layer.describe(), layer.kind,
                                     int(sum(p.size for p in layer.params())), tuple(x.shape[1:])))
        return out

    def phase_specs(self) -> list[PhaseSpec]:
        layers = self.model.layers
        specs = [PhaseSpec(FORWARD, i, f"forward · {layer.describe()}") for i, layer in enumerate(layers)]
        specs.append(PhaseSpec(LOSS, -1, "loss · softmax cross-entropy"))
        specs += [PhaseSpec(BACKWARD, i, f"backward · {layers[i].describe()}") for i in reversed(range(len(layers)))]
        specs.append(PhaseSpec(UPDATE, -1, f"update · {self.optimizer.name} (lr {self.optimizer.lr:g})"))
        return specs

    # ------------------------------------------------------------------ running
    def next_batch(self) -> tuple[np.ndarray, np.ndarray]:
        idx, self.perm, self.cursor = next_batch_indices(self.rng, self.perm, self.cursor, self.batch_size)
        return self.prepare(self.data.train_x[idx]), self.data.train_y[idx]

    def run_iteration(self, detail: bool = True) -> Iterator[PhaseEvent]:
        it = self.iteration
        event = PhaseCounter(it, self.phase_specs())

        x, y = self.next_batch()
        self._x, self._y = x, y
        self.logits = None  # until this iteration's loss phase
        layers = self.model.layers
        for layer in layers:
            for op in layer.param_ops():
                op.frozen = layer.name in self.frozen     # frozen: dL/dx passes, no dL/dW
        runs = backward_plan([bool(layer.params()) and layer.name not in self.frozen for layer in layers])
        h = x
        for layer in layers:
            h = layer.forward(h, training=True)
            yield event()
        self.logits = h
        loss = self.model.loss.forward(h, y)
        check_finite(loss, it)
        yield event()
        grad = self.model.loss.backward()
        for k in reversed(range(len(layers))):
            if runs[k]:
                grad = layers[k].backward(grad)
            else:  # nothing here or below trains: the gradient stops at this block's output
                layers[k].output_grad, layers[k].input_grad, grad = grad, None, None
                for op in layers[k].param_ops():
                    op.param_grad = None                  # no dL/dW (and no stale one for the optimizer)
            yield event()
        before = [p.copy() for p in self.model.params()]
        self.optimizer.step(self.model.param_grads())
        self._updates = [p - b for p, b in zip(self.model.params(), before)]
        if not all(np.isfinite(u).all() for u in self._updates):
            check_finite(float("nan"), it)  # the update overflowed: same message as a NaN loss
        accuracy = float((h.argmax(axis=1) == y).mean())
        self.last_metrics = {"loss": loss, "train_accuracy": accuracy}
        self.iteration += 1
        self.trajectory.maybe_record(self.iteration, self.model.params)
        yield event()

    def predict_logits(self, images: np.ndarray) -> np.ndarray:
        return self.model.predict(self.prepare(images))

    def batch_logits(self) -> np.ndarray | None:
        return getattr(self, "logits", None)

    def heldout_loss(self, logits: np.ndarray) -> float:
        return SoftmaxCrossEntropy().forward(logits.astype(np.float64), self.data.heldout_y)

    # ------------------------------------------------------------------ views
    def _param_index_range(self, block: int) -> range:
        start = sum(len(layer.params()) for layer in self.model.layers[:block])
        return range(start, start + len(self.model.layers[block].params()))

    def layer_view(self, array: np.ndarray) -> dict[str, Any]:
        """One example's array as the view shows it: a vector, or maps (C, H, W)."""
        a = np.asarray(array, dtype=np.float32)
        if a.ndim == 3:
            return {"maps": a[:MAX_TILES].copy()}
        return {"vector": a.ravel().copy()}

    def phase_data(self, index: int, block: int) -> dict[str, Any]:
        if not (0 <= block < len(self.model.layers)):
            return {}
        spec = self.phase_specs()[index]
        layer = self.model.layers[block]
        if self._x is None:  # nothing computed yet (a new run, or restored from a keyframe): the weights are there
            return self.weight_view(layer) if spec.kind == FORWARD else {}
        if spec.kind == FORWARD:
            out = {"input_image": self.data_image(self._x[0]), "label": int(self._y[0]),
                   "activation": self.layer_view(layer.output[0])}
            if self.histograms:
                out["activation_hist"] = histogram(layer.output)
            out.update(self.weight_view(layer))
            return out
        if spec.kind == LOSS:
            return {"loss": float(SoftmaxCrossEntropy().forward(self.logits, self._y)),
                    "probs": softmax(self.logits[:1].astype(np.float64))[0], "label": int(self._y[0])}
        if spec.kind == BACKWARD:
            if getattr(layer, "output_grad", None) is None:
                return {}
            out = {"grad_output": self.layer_view(layer.output_grad[0])}
            if self.histograms:
                out["grad_hist"] = histogram(layer.output_grad)
            if layer.input_grad is not None:
                out["grad_input"] = self.layer_view(layer.input_grad[0])
            grads = layer.param_grads()
            if grads and all(g is not None for g in grads):
                out["param_grad_norms"] = [float(np.linalg.norm(g)) for g in grads]
                out.update({"grad_" + k: v for k, v in self.weight_view(layer, grads[0]).items()})
            return out
        if spec.kind == UPDATE and self._updates:
            ids = self._param_index_range(block)
            if not len(ids):
                return {}
            params = [self.model.params()[i] for i in ids]
            updates = [self._updates[i] for i in ids]
            out = {"update_norms": [float(np.linalg.norm(u)) for u in updates],
                   "param_norms": [float(np.linalg.norm(p)) for p in params]}
            if self.histograms:
                out["update_hist"] = histogram(updates[0])
            out.update({"update_" + k: v for k, v in self.weight_view(layer, updates[0]).items()})  # Δθ as an image
            return out
        return {}

    @staticmethod
    def data_image(x: np.ndarray) -> np.ndarray:
        return np.asarray(x, dtype=np.float32).reshape(28, 28).copy()

    def weight_view(self, layer: Layer, weights: np.ndarray | None = None) -> dict[str, Any]:
        """The first Dense layer's weights as 28×28 tiles (one per unit); other layers as a matrix."""
        params = layer.params()
        if not params:
            return {}
        w = params[0] if weights is None else weights
        if w.ndim == 2 and w.shape[0] == 784:
            return {"weight_tiles": np.ascontiguousarray(w[:, :MAX_TILES].T.reshape(-1, 28, 28), dtype=np.float32)}
        if w.ndim == 2:
            return {"weight_matrix": np.asarray(w[:128, :128], dtype=np.float32).copy()}
        return {}

    def classify(self, image: np.ndarray) -> dict[str, Any]:
        """Forward one 28×28 image in evaluation mode; every layer's output for the views."""
        h = self.prepare(np.asarray(image, dtype=np.float32).reshape(1, 28, 28))
        layers = []
        with preserved_caches(self.model.layers):  # a digit drawn mid-iteration changes nothing
            for layer in self.model.layers:
                h = layer.forward(h, training=False)
                layers.append(self.layer_view(h[0]))
        probs = softmax(h.astype(np.float64))[0]
        return {"probs": probs, "prediction": int(probs.argmax()), "layers": layers}

    def landscape(self, args: dict) -> dict[str, Any]:
        points = self.trajectory.path_to(self.iteration, self.model.params())
        return {"task": with_path_iterations(classifier_landscape(
            self, points, directions=args.get("directions", "pca"), resolution=int(args.get("resolution", 25)),
            n_examples=int(args.get("n_examples", 2000)), seed=self.seed), self.trajectory.iterations_to(self.iteration))}

    # ------------------------------------------------------------------ hyperparameters
    def hyperparams(self) -> dict[str, float]:
        out = {"lr": float(self.optimizer.lr)}
        if hasattr(self.optimizer, "momentum"):
            out["momentum"] = float(self.optimizer.momentum)
        return out

    def set_hyperparam(self, name: str, value: float) -> None:
        if name not in self.hyperparams():
            return super().set_hyperparam(name, value)
        setattr(self.optimizer, name, self.check_live(name, value))

    # ------------------------------------------------------------------ state
    def get_state(self) -> dict:
        return {"iteration": self.iteration, "params": [p.copy() for p in self.model.params()],
                "optimizer": self.optimizer.state_dict(), "hyper": self.hyperparams(),
                "rng": rng_state(self.rng), "perm": self.perm.copy(), "cursor": self.cursor,
                "last_metrics": dict(self.last_metrics)}

    def set_state(self, state: dict) -> None:
        self.iteration = state["iteration"]
        for p, saved in zip(self.model.params(), state["params"]):
            p[...] = saved
        self.optimizer.load_state_dict(state["optimizer"])
        for k, v in state["hyper"].items():
            setattr(self.optimizer, k, v)
        set_rng_state(self.rng, state["rng"])
        self.perm = state["perm"].copy()
        self.cursor = state["cursor"]
        self.last_metrics = dict(state["last_metrics"])
        self._updates = []
        self._x = None
        self.trajectory.truncate(self.iteration)

    def architecture(self) -> dict:
        return {"lab": self.lab, "blocks": [b.label for b in self.blocks()]}

    def save(self, path: str) -> None:
        write_model(path, {"format": "stepwise-model-1", **self.architecture(), "iteration": self.iteration,
                           "digits": list(self.digits)}, self.model.state_arrays())

    def load(self, path: str) -> None:
        mine = self.architecture()
        meta, arrays = read_model(path, self.lab, self.model.state_arrays(), ("stepwise-model-1",),
                                  check=lambda meta: check_blocks(meta, mine, path))
        self.model.load_state_arrays(arrays)
        self.report = None
        self.reports = {}
