"""The CNN lab: a small convolutional network on MNIST, on the NumPy engine or the Torch engine.

    conv 1→12 3×3 pad 1 + ReLU → maxpool 2×2 → conv 12→24 3×3 pad 1 + ReLU → maxpool 2×2
    → flatten + dense 1176→10 → softmax          (channels: config "channels", e.g. "8,16";
                                                  activation: "relu", "sigmoid" or "tanh")

Both engines start from the same weights and see the same batches for a seed (training images
shifted by up to ``shift`` pixels, a cheap augmentation that matters with 8,000 training images;
``augment`` adds rotation, scale, elastic, blur, contrast, noise: engines/augment.py).

Transfer learning: ``digits`` trains and holds out only some classes (e.g. "0-4"); ``init`` starts
from a saved model (either engine's file), with a new head when its digits differ; ``freeze`` names
blocks whose parameters take no gradient and no update (live: hyperparameters "freeze:<block>" =
0 or 1, so going back replays a toggle at the iteration it was made). ``normalize`` standardizes
every input with the training split's pixel mean and standard deviation.

Beyond the classifier's phase data the lab offers:
- "kernels" (C_out, C_in, kh, kw) for convolution blocks (and "grad_kernels" in backward);
- an *inspected example* (a held-out image or a digit drawn on the canvas): ``inspect`` sets it,
  and every later view_data carries its maps at every block and the gradient reaching each
  block for its loss, with the current weights, paused or training;
- ``parity``: with the current weights and the current batch, every block's gradients computed
  by both engines and their differences (max absolute and relative);
- ``speed``: both engines' training iterations per second, measured side by side (a task).
"""
from __future__ import annotations

import sys
import time
from typing import Any, Iterator, NotRequired, TypedDict

import numpy as np

from .. import StepwiseError
from ..augment import augment_images, augmentation_strip, input_statistics, parse_augment, shift_images  # noqa: F401
from ..data import ALL_DIGITS, next_batch_indices, parse_digits
from ..numpy_engine.conv import Conv2d, FlattenDense, MaxPool2d
from ..numpy_engine.layers import Layer
from ..numpy_engine.losses import SoftmaxCrossEntropy, softmax
from ..numpy_engine.model import Model
from ..trainer import PhaseSpec
from .classifier import (MAX_TILES, ClassifierPhaseData, ClassifierView, LayerArray, NumpyClassifierTrainer,
                         backward_plan)

BLOCK_NAMES = ("conv1", "pool1", "conv2", "pool2", "output")
FREEZABLE = ("conv1", "conv2", "output")   # the blocks with parameters


# ---------------------------------------------------------------------- what the view is handed
class CNNTransfer(TypedDict):
    frozen: list[str]                   # blocks that take no gradient and no update
    gradient_stops_at: int | None       # the lowest block backward still reaches (None: all of them)
    freezable: list[str]
    digits: list[int]                   # the classes trained and held out
    init: str | None                    # the saved model this run started from
    init_report: dict[str, Any] | None  # loaded / new parameters and the saved model's digits


class CNNInputs(TypedDict):
    """The training split's pixel statistics, before and after standardization x̂ = (x − μ)/σ."""
    normalize: bool
    augment: list[str]
    shift: int
    mean: float
    std: float
    raw_counts: np.ndarray              # (bins,)
    raw_edges: np.ndarray               # (bins + 1,)
    normalized_counts: np.ndarray
    normalized_edges: np.ndarray
    normalized_mean: float
    normalized_std: float
    n_pixels: int


class CNNInspected(TypedDict):
    """The inspected example through the current weights: every block's output and dL/d(output)."""
    loss: float
    probs: np.ndarray                   # (10,)
    prediction: int
    target: int                         # its label, or (a drawing) the prediction
    activations: list[LayerArray]       # one per block
    grads: list[LayerArray]
    input_grad: np.ndarray              # (28, 28): dL/dx
    image: np.ndarray                   # (28, 28)
    label: int | None
    source: str
    iteration: int


class CNNSpeed(TypedDict):
    numpy_it_per_s: float
    torch_it_per_s: float
    numpy_over_torch: float
    batch_size: int


class CNNView(ClassifierView):
    channels: list[int]
    engine: str
    kernels: NotRequired[np.ndarray]    # (C_out, C_in, 3, 3) of the selected block, if a convolution
    inspected: NotRequired[CNNInspected]
    speed: NotRequired[CNNSpeed]
    transfer: CNNTransfer
    inputs: CNNInputs


VIEW_DATA = CNNView                      # view_data(), both engines (tests/test_view_contracts.py)
PHASE_DATA = ClassifierPhaseData         # Session.block_phase_data(block)
FREEZE_PREFIX = "freeze:"  # live hyperparameter "freeze:conv1" = 1.0 (frozen) or 0.0


def parse_channels(value) -> tuple[int, int]:
    """Two channel counts from '8,16', a list or a tuple; each from 1 to 64."""
    parts = [p.strip() for p in value.replace(" ", ",").split(",") if p.strip()] if isinstance(value, str) else list(value)
    try:
        sizes = tuple(int(p) for p in parts)
    except (TypeError, ValueError):
        raise StepwiseError(f"Channels {value!r} are not whole numbers; give two such as 8,16.") from None
    if len(sizes) != 2:
        raise StepwiseError(f"Give two channel counts (conv1, conv2), such as 8,16, not {value!r}.")
    if not all(1 <= s <= 64 for s in sizes):
        raise StepwiseError("Each channel count must be between 1 and 64.")
    return sizes


def parse_freeze(value) -> frozenset:
    """'conv1,conv2' or a list -> the block names; unknown names are an error."""
    if value is None:
        return frozenset()
    parts = [p.strip() for p in value.replace(" ", ",").split(",")] if isinstance(value, str) else [str(p) for p in value]
    names = frozenset(p for p in parts if p and p != "none")
    unknown = sorted(names - set(BLOCK_NAMES))
    if unknown:
        raise StepwiseError(f"There is no block {unknown[0]!r} to freeze; the blocks are {', '.join(BLOCK_NAMES)}.")
    return names


def read_model_blocks(path: str, channels: tuple[int, int], activation: str) -> tuple[dict, dict[str, list[np.ndarray]]]:
    """A saved CNN of either engine (.npz of the NumPy engine, .pt of the Torch engine), checked by
    engines/loading.py against this network's arrays (names, shapes, finite values): its metadata
    and, per block name, its parameters in the NumPy engine's layout and order."""
    import zipfile

    from ..loading import check_path, read_model
    p = check_path(path, "model file to start from")
    try:
        with zipfile.ZipFile(p) as z:
            torch_file = any(n.endswith("data.pkl") for n in z.namelist())
    except (zipfile.BadZipFile, OSError):
        torch_file = False                                 # read_model says what is wrong with it
    if torch_file:
        from ..torch_engine.models import cnn_blocks
        from ..torch_engine.staged import StagedNet
        own = StagedNet(cnn_blocks(channels, np.random.default_rng(0), activation=activation)).state_dict()
        meta, arrays = read_model(p, "cnn", own, ("stepwise-torch-model-1",), what="model file to start from")
    else:
        own = Model(numpy_cnn_layers(channels, np.random.default_rng(0), np.float32, activation),
                    SoftmaxCrossEntropy()).state_arrays()
        meta, arrays = read_model(p, "cnn", own, ("stepwise-model-1",), what="model file to start from")
    blocks: dict[str, list[np.ndarray]] = {}
    for key in own:                          # "<block>.<param>" (NumPy) or "blocks.<block>.<module>.<param>" (torch)
        a = np.asarray(arrays[key])
        name = key.split(".")[1] if torch_file else key.split(".")[0]
        blocks.setdefault(name, []).append(a.T if torch_file and a.ndim == 2 else a)  # Linear (out, in) -> (in, out)
    return meta, blocks


class CNNModel(Model):
    """A Model that evaluates 250 images at a time: with 1,000 the im2col matrix (56 MB) falls out of
    the cache and evaluation ran 6× slower on this kind of machine."""

    def predict(self, x: np.ndarray, batch_size: int = 250) -> np.ndarray:
        return super().predict(x, batch_size=batch_size)


def numpy_cnn_layers(channels: tuple[int, int], rng: np.random.Generator, dtype=np.float32,
                     activation: str = "relu") -> list[Layer]:
    c1, c2 = channels
    return [Conv2d("conv1", 1, c1, 3, rng, padding=1, activation=activation, dtype=dtype),
            MaxPool2d("pool1", 2),
            Conv2d("conv2", c1, c2, 3, rng, padding=1, activation=activation, dtype=dtype),
            MaxPool2d("pool2", 2),
            FlattenDense("output", c2 * 7 * 7, 10, "linear", rng, dtype)]


def weight_view_of(w: np.ndarray | None) -> dict[str, Any]:
    """Conv kernels as (C_out, C_in, kh, kw); the dense head's (in, out) matrix whole (784×10)."""
    if w is None:
        return {}
    w = np.asarray(w, dtype=np.float32)
    if w.ndim == 4:
        return {"kernels": w[:MAX_TILES, :MAX_TILES].copy()}
    if w.ndim == 2:
        return {"weight_matrix": w.copy()}
    return {}


def difference(ours: np.ndarray, theirs: np.ndarray) -> dict[str, float]:
    """max |a − b|; that relative to the largest magnitude of either; and how many elements
    differ by more than 1e-3 of that magnitude (rounding alone never gets there: such elements
    are where a max-pool window had two values equal up to rounding and the engines picked
    different winners, so the gradient went to a different pixel)."""
    a = np.asarray(ours, dtype=np.float64)
    b = np.asarray(theirs, dtype=np.float64)
    if not a.size:
        return {"max_abs": 0.0, "max_rel": 0.0, "scale": 0.0, "n_diff": 0, "size": 0}
    d = np.abs(a - b)
    diff = float(d.max())
    scale = float(max(np.max(np.abs(a)), np.max(np.abs(b))))
    return {"max_abs": diff, "max_rel": diff / scale if scale > 0 else 0.0, "scale": scale,
            "n_diff": int(np.count_nonzero(d > 1e-3 * scale)), "size": int(a.size)}


def gradient_parity(weights: list[np.ndarray], images: np.ndarray, labels: np.ndarray,
                    channels: tuple[int, int], dtype: str = "float32", activation: str = "relu") -> dict[str, Any]:
    """One forward and backward of the same batch with the same weights (NumPy layout) on both
    engines; per block, the differences of its output, of every parameter gradient, and of the
    gradient reaching its input."""
    import torch
    import torch.nn.functional as F

    from ..torch_engine.models import cnn_blocks, to_numpy_layout
    from ..torch_engine.staged import StagedRunner

    np_dtype = np.float64 if dtype == "float64" else np.float32
    t_dtype = torch.float64 if dtype == "float64" else torch.float32
    dummy = np.random.default_rng(0)
    model = Model(numpy_cnn_layers(channels, dummy, np_dtype, activation), SoftmaxCrossEntropy())
    for p, w in zip(model.params(), weights):
        p[...] = w
    x = images.reshape(len(images), 1, 28, 28).astype(np_dtype)
    logits = model.forward(x, training=True)
    loss_np = model.loss.forward(logits, labels)
    model.backward(model.loss.backward())

    runner = StagedRunner(cnn_blocks(channels, dummy, activation=activation), input_grad=True)
    runner.net.to(t_dtype)
    with torch.no_grad():
        for p, w in zip(runner.parameters(), weights):
            p.copy_(torch.from_numpy(np.ascontiguousarray(w.T if w.ndim == 2 else w)))
    runner.begin(torch.from_numpy(x.copy()))
    for k in range(len(runner)):
        runner.forward_block(k)
    loss_t = runner.loss(F.cross_entropy, torch.from_numpy(labels))
    for k in reversed(range(len(runner))):
        runner.backward_block(k)

    rows = []
    for k, (layer, block) in enumerate(zip(model.layers, runner.blocks)):
        entries = [dict(what="output", **difference(layer.output, runner.outputs[k].detach().numpy())),
                   dict(what="dL/d input", **difference(layer.input_grad, runner.grad_inputs[k].numpy()))]
        names = [op.param_name for op in layer.param_ops()]
        for name, g_np, p in zip(names, layer.param_grads(), runner.block_params(k)):
            entries.append(dict(what=f"dL/d {name}", **difference(g_np, to_numpy_layout(p.grad))))
        rows.append({"block": block.name, "label": block.label, "entries": entries})
    return {"dtype": dtype, "loss_numpy": float(loss_np), "loss_torch": float(loss_t),
            "blocks": rows, "batch_size": int(len(images)),
            "max_rel": max(e["max_rel"] for r in rows for e in r["entries"] if e["what"] != "output")}


class CNNLab:
    """What the CNN lab adds to either engine's classifier trainer (a mixin; the trainer comes second)."""

    lab = "cnn"
    default_lr = 0.02  # momentum 0.9: 0.05 trains as fast but wanders ±0.5 % in held-out accuracy
    eval_every = 100

    def _read_config(self, config: dict) -> None:
        opts = self.read_settings(config)   # declared in engines/options.py
        self.channels = parse_channels(opts["channels"])
        self.shift, self.decay, self.activation = opts["shift"], opts["decay"], opts["activation"]
        self.digits = parse_digits(opts["digits"])
        self.augment = parse_augment(opts["augment"])
        self.normalize = opts["normalize"]
        self.frozen = parse_freeze(opts["freeze"])
        self.init_path = opts["init"] or None
        self.init_report: dict[str, list[str]] | None = None
        self.input_mean, self.input_std = 0.0, 1.0
        self._input_stats: dict[str, Any] | None = None
        self.inspected: dict[str, Any] | None = None
        self._inspected_cache: tuple | None = None
        self.speed_result: dict[str, Any] | None = None
        self._batch_images: np.ndarray | None = None
        self._batch_labels: np.ndarray | None = None
        self._batch_source: np.ndarray | None = None

    def _finish_setup(self) -> None:
        """After the engine built the network: the input statistics and the starting weights."""
        if self.normalize:
            x = self.data.train_x.astype(np.float64)
            self.input_mean, self.input_std = float(x.mean()), float(x.std())  # μ, σ over every training pixel
        if self.init_path:
            self.start_from(self.init_path)

    # ---- transfer learning: start from a saved model; frozen blocks
    def start_from(self, path: str) -> None:
        """Copy every block of a saved CNN whose shapes fit; the head is new when the saved model was
        trained on other digits (its outputs meant other classes)."""
        meta, saved = read_model_blocks(path, self.channels, self.activation)
        saved_digits = tuple(meta.get("digits", ALL_DIGITS))
        loaded, fresh = [], []
        for k, name in enumerate(BLOCK_NAMES):
            mine = self.block_param_arrays(k)
            if not mine:
                continue
            if name == "output" and saved_digits != self.digits:
                fresh.append(name)   # a new head, initialised as a run from scratch would be
                continue
            theirs = saved.get(name, [])
            if [a.shape for a in theirs] != [a.shape for a in mine]:
                raise StepwiseError(f"The model in {path} has {name} of shape {[a.shape for a in theirs]}, this "
                                    f"network's is {[a.shape for a in mine]}; set the same channels to start from it.")
            self.set_block_params(k, theirs)
            loaded.append(name)
        self.init_report = {"loaded": loaded, "new": fresh, "from_digits": list(saved_digits)}
        self.trajectory.clear()
        self.trajectory.maybe_record(0, self.numpy_params)

    def block_param_arrays(self, block: int) -> list[np.ndarray]:
        """Block ``block``'s parameters in the NumPy engine's layout (copies)."""
        raise NotImplementedError

    def set_block_params(self, block: int, arrays: list[np.ndarray]) -> None:
        raise NotImplementedError

    def gradient_stops_at(self) -> int | None:
        """The block where backward stops (nothing at or below it trains), or None."""
        trains = [n in FREEZABLE and n not in self.frozen for n in BLOCK_NAMES]
        stopped = [k for k, runs in enumerate(backward_plan(trains)) if not runs]
        return max(stopped) if stopped else None

    # ---- inputs: normalization and augmentation
    def prepare(self, images: np.ndarray):
        if self.normalize:
            images = (np.asarray(images, np.float64) - self.input_mean) / self.input_std   # x̂ = (x − μ)/σ
        return super().prepare(images)

    def data_image(self, x) -> np.ndarray:
        """The inspected input as the student drew or saw it, in [0, 1] (normalization undone)."""
        img = super().data_image(x)
        return img * np.float32(self.input_std) + np.float32(self.input_mean) if self.normalize else img

    def input_stats(self) -> dict[str, Any]:
        if self._input_stats is None:
            self._input_stats = input_statistics(self.data.train_x)
        return self._input_stats

    def augment_strip(self, count: int = 8, draw: int = 0) -> dict[str, Any]:
        """The inspected example (or the first training image of the current batch, before augmentation)
        through each chosen augmentation, drawn from a generator of its own seeded by (seed, iteration,
        draw): the training generator is not touched, and the same request shows the same strip."""
        if self.inspected is not None:
            image, source = self.inspected["image"], self.inspected["source"] or "inspected example"
        else:
            image = self._batch_source if self._batch_source is not None else self.data.train_x[0]
            source = "first training image of the batch" if self._batch_source is not None else "training image #0"
        rng = np.random.default_rng([self.seed, 7, self.iteration, max(0, int(draw))])
        items = augmentation_strip(image, rng, self.augment, self.shift, combined=max(1, min(int(count), 16)))
        return {"captions": [c for c, _ in items], "images": np.stack([im for _, im in items]),
                "augment": list(self.augment), "source": source, "iteration": self.iteration}

    # ---- the learning-rate schedule: lr_t = lr / (1 + t / decay); "lr" is the rate at t = 0
    def current_lr(self, iteration: int | None = None) -> float:
        t = self.iteration if iteration is None else iteration
        return self.base_lr / (1.0 + t / self.decay) if self.decay > 0 else self.base_lr

    def run_iteration(self, detail: bool = True):
        self.set_optimizer_lr(self.current_lr())
        yield from super().run_iteration(detail)

    def phase_specs(self):
        specs = super().phase_specs()
        rate = f"lr {self.base_lr:g} / (1 + t/{self.decay:g})" if self.decay > 0 else f"lr {self.base_lr:g}"
        last = specs[-1]
        specs[-1] = PhaseSpec(last.kind, last.block, last.label.split(" (lr")[0] + f" ({rate})")
        return specs

    def hyperparams(self) -> dict[str, float]:
        out = super().hyperparams()
        out["lr"] = float(self.base_lr)
        for name in FREEZABLE:
            out[FREEZE_PREFIX + name] = float(name in self.frozen)
        return out

    def set_hyperparam(self, name: str, value: float) -> None:
        if name.startswith(FREEZE_PREFIX):
            block = name[len(FREEZE_PREFIX):]
            if block not in BLOCK_NAMES:
                raise StepwiseError(f"There is no block {block!r} to freeze; the blocks are {', '.join(BLOCK_NAMES)}.")
            self.frozen = self.frozen | {block} if value else self.frozen - {block}
            return
        super().set_hyperparam(name, value)
        if name == "lr":
            self.base_lr = float(value)

    def get_state(self) -> dict:
        state = super().get_state()
        state["hyper"] = {k: v for k, v in state["hyper"].items() if not k.startswith(FREEZE_PREFIX)}
        state["frozen"] = sorted(self.frozen)
        state["optimizer_lr"] = self.optimizer_lr()   # the scheduled rate; state["hyper"]["lr"] is the base one
        return state

    def set_state(self, state: dict) -> None:
        super().set_state(state)   # writes hyper["lr"] (the base rate) into the optimizer ...
        self.frozen = frozenset(state.get("frozen", ()))
        self.base_lr = float(state["hyper"]["lr"])
        # ... so put back the rate it ran at (older states: the schedule's rate of the last iteration)
        self.set_optimizer_lr(float(state.get("optimizer_lr", self.current_lr(max(self.iteration - 1, 0)))))
        self._batch_images = self._batch_labels = None  # replay brings back the batch of that iteration
        self._inspected_cache = None

    def augmented_batch(self) -> tuple[np.ndarray, np.ndarray]:
        idx, self.perm, self.cursor = next_batch_indices(self.rng, self.perm, self.cursor, self.batch_size)
        images = augment_images(self.data.train_x[idx], self.rng, self.augment, self.shift)
        self._batch_images, self._batch_labels = images, self.data.train_y[idx]
        self._batch_source = self.data.train_x[idx[0]]
        return images, self._batch_labels

    # ---- engine-specific pieces (and numpy_params(): the weights in the NumPy engine's layout)
    def forward_backward_one(self, image: np.ndarray, target: int | None) -> dict[str, Any]:
        raise NotImplementedError

    # ---- the inspected example
    def inspect(self, image: np.ndarray | None, label: int | None = None, source: str = "") -> dict[str, Any]:
        if image is None:
            self.inspected = None
            self._inspected_cache = None
            return {"cleared": True}
        img = np.asarray(image, dtype=np.float32).reshape(28, 28)
        if not np.isfinite(img).all():
            raise StepwiseError("The drawn image has invalid pixel values; clear the canvas and draw again.")
        self.inspected = {"image": np.clip(img, 0.0, 1.0).copy(), "label": None if label is None else int(label),
                          "source": str(source)}
        self._inspected_cache = None
        return self.inspected_view()

    def inspected_view(self) -> dict[str, Any]:
        """Maps and gradients of the inspected example with the current weights (cached per iteration)."""
        if self.inspected is None:
            return {}
        key = (self.iteration, id(self.inspected), self.weights_fingerprint())
        if self._inspected_cache is not None and self._inspected_cache[0] == key:
            return self._inspected_cache[1]
        img, label = self.inspected["image"], self.inspected["label"]
        result = self.forward_backward_one(img, label)   # no label (a drawing): toward the prediction
        result.update({"image": img.copy(), "label": label, "source": self.inspected["source"],
                       "iteration": self.iteration})
        self._inspected_cache = (key, result)
        return result

    def weights_fingerprint(self) -> float:
        """Changes when the weights do (cheap: a sum over 10k numbers)."""
        return float(sum(float(np.sum(p)) for p in self.numpy_params()))

    # ---- views
    def view_data(self, selected_block: int) -> dict[str, Any]:
        out = super().view_data(selected_block)
        out["channels"] = list(self.channels)
        out["engine"] = self.engine
        if self.inspected is not None:
            out["inspected"] = self.inspected_view()
        weights = self.block_weights(selected_block)
        if weights is not None and weights.ndim == 4:
            out["kernels"] = weights[:MAX_TILES, :MAX_TILES].astype(np.float32)
        if self.speed_result is not None:
            out["speed"] = dict(self.speed_result)
        out["transfer"] = {"frozen": sorted(self.frozen), "gradient_stops_at": self.gradient_stops_at(),
                           "freezable": list(FREEZABLE),
                           "digits": list(self.digits), "init": self.init_path, "init_report": self.init_report}
        stats = self.input_stats()
        out["inputs"] = {"normalize": self.normalize, "augment": list(self.augment), "shift": self.shift,
                         **{k: v for k, v in stats.items()}}
        return out

    def block_weights(self, block: int) -> np.ndarray | None:
        raise NotImplementedError


    def parity(self, dtype: str = "float32") -> dict[str, Any]:
        if self._batch_images is not None:
            images, labels = self._batch_images, self._batch_labels
        else:  # before the first iteration: the first examples of the training set, unshifted
            images, labels = self.data.train_x[:self.batch_size], self.data.train_y[:self.batch_size]
        if self.normalize:
            images = (images - self.input_mean) / self.input_std
        result = gradient_parity(self.numpy_params(), images, labels, self.channels, dtype, self.activation)
        result["iteration"] = self.iteration
        return result

    def speed_task(self, iterations: int = 20) -> Iterator[dict[str, Any]]:
        """Both engines' training iterations per second on fresh copies of this lab (same settings),
        measured one after the other in this process (``python -m bench cnn`` measures carefully)."""
        from . import make_trainer
        rates = {}
        for engine in ("numpy", "torch"):
            done = len(rates) / 2
            if engine == "torch" and "torch._dynamo" not in sys.modules:
                # The first click used to sit silent for 10-30 s: loading PyTorch takes ~5 s here, and the
                # first torch.optim optimizer imports torch._dynamo (another ~5 s; more on a busy machine).
                # Say so before each, and let the worker pump between them.
                yield {"engine": "torch", "progress": done, "stage": "loading PyTorch (first time only)"}
                import torch  # noqa: F401
                yield {"engine": "torch", "progress": done,
                       "stage": "loading torch._dynamo, which torch.optim needs (first time only)"}
                import torch._dynamo  # noqa: F401
            yield {"engine": engine, "progress": done, "stage": f"building the {engine} twin of this network"}
            config = {k: v for k, v in self.config.items() if k not in ("notify", "load")}
            trainer = make_trainer(dict(config, lab="cnn", engine=engine))
            times = []
            for i in range(iterations + 3):
                t0 = time.perf_counter()
                for _ in trainer.run_iteration(detail=False):
                    pass
                if i >= 3:  # warm-up first
                    times.append(time.perf_counter() - t0)
                yield {"engine": engine, "progress": (len(rates) * (iterations + 3) + i + 1) / (2 * (iterations + 3)),
                       "stage": f"timing the {engine} engine"}
            rates[engine] = 1.0 / float(np.median(times))
        self.speed_result = {"numpy_it_per_s": rates["numpy"], "torch_it_per_s": rates["torch"],
                             "numpy_over_torch": rates["torch"] / rates["numpy"], "batch_size": self.batch_size}
        yield {"done": True, **self.speed_result}

    def command(self, name: str, args: dict) -> dict[str, Any]:
        if name == "inspect":
            return self.inspect(args.get("image"), args.get("label"), args.get("source", ""))
        if name == "inspect_heldout":
            i = int(args["index"])
            if not 0 <= i < len(self.data.heldout_x):
                raise StepwiseError(f"There is no held-out example {i}.")
            return self.inspect(self.data.heldout_x[i], int(self.data.heldout_y[i]), f"held-out #{i}")
        if name == "parity":
            return self.parity(args.get("dtype", "float32"))
        if name == "speed":
            return {"task": self.speed_task(int(args.get("iterations", 20)))}
        if name == "augment_strip":
            return self.augment_strip(int(args.get("count", 8)), int(args.get("draw", 0)))
        return super().command(name, args)

    def summary(self) -> dict[str, Any]:
        out = {"channels": list(self.channels), "shift": self.shift, "decay": self.decay,
               "activation": self.activation, "augment": list(self.augment), "normalize": self.normalize,
               "digits": list(self.digits), "frozen": sorted(self.frozen)}
        if self.normalize:
            out.update(input_mean=self.input_mean, input_std=self.input_std)
        if self.init_report is not None:
            out.update(init=self.init_path, init_loaded=self.init_report["loaded"], init_new=self.init_report["new"])
        return out


class NumpyCNNTrainer(CNNLab, NumpyClassifierTrainer):
    input_shape = (1, 28, 28)

    def __init__(self, config: dict):
        self._read_config(config)
        super().__init__(config)
        self.base_lr = float(self.optimizer.lr)
        self.model = CNNModel(self.model.layers, self.model.loss)  # the same layers and arrays, chunked evaluation
        self._inspector: Model | None = None
        self._finish_setup()

    def set_optimizer_lr(self, lr: float) -> None:
        self.optimizer.lr = lr

    def optimizer_lr(self) -> float:
        return float(self.optimizer.lr)

    def build_layers(self, rng: np.random.Generator) -> list[Layer]:
        return numpy_cnn_layers(self.channels, rng, self.dtype, self.activation)

    def block_param_arrays(self, block: int) -> list[np.ndarray]:
        return [p.copy() for p in self.model.layers[block].params()]

    def set_block_params(self, block: int, arrays: list[np.ndarray]) -> None:
        for p, a in zip(self.model.layers[block].params(), arrays):
            p[...] = a   # in place: the optimizer keeps its references

    def next_batch(self) -> tuple[np.ndarray, np.ndarray]:
        images, labels = self.augmented_batch()
        return self.prepare(images), labels


    def weight_view(self, layer: Layer, weights: np.ndarray | None = None) -> dict[str, Any]:
        params = layer.params()
        if not params:
            return {}
        return weight_view_of(params[0] if weights is None else weights)

    def numpy_params(self) -> list[np.ndarray]:
        return [p.copy() for p in self.model.params()]

    def block_weights(self, block: int) -> np.ndarray | None:
        if not 0 <= block < len(self.model.layers):
            return None
        params = self.model.layers[block].params()
        return params[0] if params else None

    def forward_backward_one(self, image: np.ndarray, target: int | None) -> dict[str, Any]:
        """One example through a twin of the model that shares nothing with the training caches."""
        if self._inspector is None:
            self._inspector = Model(self.build_layers(np.random.default_rng(0)), SoftmaxCrossEntropy())
        model = self._inspector
        for p, q in zip(model.params(), self.model.params()):
            p[...] = q
        x = self.prepare(image.reshape(1, 28, 28))
        logits = model.forward(x, training=True)                 # no dropout or batch statistics here
        probs = softmax(logits.astype(np.float64))[0]
        target = int(probs.argmax()) if target is None else int(target)
        loss = model.loss.forward(logits, np.array([target]))
        model.backward(model.loss.backward())
        return {"loss": float(loss), "probs": probs, "prediction": int(probs.argmax()), "target": target,
                "activations": [self.layer_view(layer.output[0]) for layer in model.layers],
                "grads": [self.layer_view(layer.output_grad[0]) for layer in model.layers],
                "input_grad": np.asarray(model.layers[0].input_grad[0, 0], dtype=np.float32).copy()}
