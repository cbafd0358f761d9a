"""The optimizer lab: optimizers racing on a 2-D surface, or training one small network each.

Surface mode (``surface`` = rosenbrock, beale, himmelblau, saddle, quadratic): every selected
optimizer starts from the same point; one iteration is one step of each:
  loss      f(x, y) at every optimizer's point
  backward  the exact gradient ∇f at every point
  update    each optimizer's step (its own rule, in engines/numpy_engine/optimizers.py)
An optimizer whose point becomes non-finite or leaves the surface far behind stops there
(the others race on); ``stopped`` says at which iteration.

Network mode (``surface`` = network): the same race on a real problem, a small MLP on MNIST
(784→32→10, ReLU, no dropout) per optimizer, all from the same initial weights and fed the
same batches; the flattened parameters are recorded every few iterations, and
``command("landscape")`` returns a task that draws every trajectory on one plane of the loss
surface (engines/landscape.py).

The "blocks" of the diagram are the optimizers.
"""
from __future__ import annotations

from typing import Any, Iterator, Literal, NotRequired, TypedDict

import numpy as np

from .. import StepwiseError
from ..data import next_batch_indices
from ..landscape import flatten, plane_landscape, project, pca_directions
from ..numpy_engine.optimizers import OPTIMIZERS, TYPICAL_LR, Optimizer, make_optimizer
from ..options import OPTIMIZER_HYPERPARAMS, live_spec, settings
from ..surfaces import Surface, make_surface
from ..trainer import (BACKWARD, LOSS, UPDATE, BlockInfo, PhaseEvent, PhaseSpec, Trainer, check_finite,
                       downsample_indices, rng_state, set_rng_state)

ALL = tuple(OPTIMIZERS)  # sgd, momentum, nesterov, adagrad, rmsprop, adadelta, adam, adamax, adamw
OPTIMIZER_KEYS = ("lr", "momentum", *(o.key for o in OPTIMIZER_HYPERPARAMS))   # the live hyperparameters' names
NETWORK_DEFAULT = ("sgd", "momentum", "adam", "adamax")
MAX_VIEW_POINTS = 2000   # path points sent to the view per optimizer (downsampled beyond)
CHUNK = 256              # path rows per frozen chunk
GRID = 160               # contour grid resolution


# ---------------------------------------------------------------------- what the view is handed
class SurfaceGrid(TypedDict):
    """f on a GRID × GRID grid, z[i, j] = f(x[j], y[i]), and the surface's description; the same
    arrays every time (the view redraws only when "key" changes)."""
    x: np.ndarray                       # (GRID,)
    y: np.ndarray                       # (GRID,)
    z: np.ndarray                       # (GRID, GRID) float32
    id: str
    title: str
    formula: str
    bounds: tuple[float, float, float, float]   # x0, x1, y0, y1
    start: tuple[float, float]
    minima: tuple[tuple[float, float], ...]
    f_min: float | None
    log_scale: bool
    key: str


class UpdateParts(TypedDict):
    """An optimizer's next update Δθ = −scale ⊙ direction (− ηλθ), from its current point."""
    grad: np.ndarray                    # (2,): g = ∇f
    direction: np.ndarray               # (2,): g, or its momentum / moment estimate
    scale: np.ndarray                   # (2,): η, or η / (√v + ε) per axis
    step: np.ndarray                    # (2,): Δθ
    terms: dict[str, np.ndarray]        # its state: v, G, m, m̂, v̂, … (2,) each


class Nothing(TypedDict):
    """No next update: the optimizer left the plot and stopped."""


class SurfaceRaceView(TypedDict):
    mode: Literal["surface"]
    surface: SurfaceGrid
    optimizers: list[str]               # ids, in racing order
    titles: list[str]
    rules: list[str]                    # each one's update rule, e.g. "θ ← θ − η·g"
    direction_names: list[str]
    iterations: np.ndarray              # (L,): the iterations kept (downsampled beyond MAX_VIEW_POINTS)
    paths: np.ndarray                   # (n_opt, L, 2)
    losses: np.ndarray                  # (n_opt, L): f after each kept iteration
    current: np.ndarray                 # (n_opt, 2)
    current_loss: np.ndarray            # (n_opt,)
    stopped: list[int]                  # the iteration each left the plot at (−1: still racing)
    next_updates: list[UpdateParts | Nothing]
    optimizer_hyperparams: dict[str, dict[str, float]]
    start: np.ndarray                   # (2,)
    iteration: int


class NetworkRaceView(TypedDict):
    mode: Literal["network"]
    optimizers: list[str]
    titles: list[str]
    rules: list[str]
    iterations: np.ndarray              # (L,)
    losses: np.ndarray                  # (n_opt, L): each network's training loss
    optimizer_hyperparams: dict[str, dict[str, float]]
    iteration: int
    recorded: int                       # points of each path recorded for the landscape
    landscape: NotRequired[dict[str, Any]]   # the held-out loss around the paths, once computed


VIEW_DATA = SurfaceRaceView | NetworkRaceView   # view_data() (tests/test_view_contracts.py)
PHASE_DATA = None                        # its view reads no per-block phase data


def parse_start(value) -> tuple[float, float]:
    """'X,Y' or (x, y) -> two finite floats."""
    if isinstance(value, str):
        parts = [p for p in value.replace(";", ",").replace(" ", ",").split(",") if p]
    else:
        parts = list(value)
    try:
        x, y = (float(p) for p in parts)
    except (TypeError, ValueError):
        raise StepwiseError(f"The start point {value!r} is not two numbers; give it as X,Y such as -1.5,2.") from None
    if not (np.isfinite(x) and np.isfinite(y)):
        raise StepwiseError("The start point must be two finite numbers, such as -1.5,2.")
    return x, y


def parse_optimizers(value, default=ALL) -> tuple[str, ...]:
    if value is None or value == "" or value == "all":
        return tuple(default)
    parts = [p.strip() for p in value.split(",")] if isinstance(value, str) else [str(p) for p in value]
    out = []
    for p in parts:
        if not p:
            continue
        if p not in OPTIMIZERS:
            raise StepwiseError(f"Unknown optimizer {p!r}; choose from: {', '.join(OPTIMIZERS)}.")
        if p not in out:
            out.append(p)
    if not out:
        raise StepwiseError("Choose at least one optimizer, e.g. sgd,momentum,adam.")
    return tuple(out)


def pick_optimizers(opts: dict):
    """The racing optimizers: ``optimizers`` ("all" or a list), or the one ``optimizer`` when only it is given."""
    return opts["optimizer"] if opts["optimizers"] == "all" and opts["optimizer"] else opts["optimizers"]


def _config_hyper(config: dict, name: str, defaults: dict[str, float], cls: type[Optimizer]) -> dict:
    """Hyperparameters of optimizer ``name``: defaults, then global config keys (lr, momentum,
    beta1, ...), then per-optimizer keys ("adam.lr")."""
    hyper = dict(lr=defaults[name])
    if name in ("momentum", "nesterov"):
        hyper["momentum"] = 0.9
    for key in cls.hyperparams:
        for given in (key, f"{name}.{key}"):
            if config.get(given) is not None:
                hyper[key] = _check_value(given, config[given])
    return hyper


def _check_value(name: str, value: float) -> float:
    """``name`` ("lr", "adam.beta1") against its declaration (engines/options.py)."""
    return float(live_spec("optimizers", name).check(value))


class _Trace:
    """An append-only table of rows (one per iteration), cheap to save at every keyframe: full
    chunks are frozen (read-only) and shared between saved states; only the tail is copied."""

    def __init__(self):
        self.chunks: list[np.ndarray] = []
        self.tail: list[np.ndarray] = []
        self._joined: np.ndarray | None = None  # cache of the chunks concatenated
        self._joined_n = 0

    def append(self, row: np.ndarray) -> None:
        row = np.array(row, dtype=np.float64)
        row.flags.writeable = False
        self.tail.append(row)
        if len(self.tail) == CHUNK:
            chunk = np.stack(self.tail)
            chunk.flags.writeable = False
            self.chunks.append(chunk)
            self.tail = []

    def __len__(self) -> int:
        return len(self.chunks) * CHUNK + len(self.tail)

    def array(self) -> np.ndarray:
        """All rows as one array (len, *row shape)."""
        if self._joined_n != len(self.chunks) or (self.chunks and self._joined is None):
            self._joined = np.concatenate(self.chunks) if self.chunks else None
            self._joined_n = len(self.chunks)
        parts = ([self._joined] if self._joined is not None else []) + ([np.stack(self.tail)] if self.tail else [])
        return np.concatenate(parts)

    def row(self, i: int) -> np.ndarray:
        n = len(self.chunks) * CHUNK
        return self.chunks[i // CHUNK][i % CHUNK] if i < n else self.tail[i - n]

    def get_state(self) -> dict:
        return {"chunks": list(self.chunks), "tail": list(self.tail)}  # read-only arrays: sharing them is a copy

    def set_state(self, state: dict) -> None:
        self.chunks = list(state["chunks"])
        self.tail = list(state["tail"])
        self._joined, self._joined_n = None, 0


class _RaceBase(Trainer):
    """What both modes share: the optimizers as blocks, live hyperparameters, the three phases."""

    lab = "optimizers"
    engine = "numpy"
    eval_every = 10 ** 9  # nothing held out on a surface (network mode overrides)
    default_speed = "100 it/s"  # a race at "max" speed is over before the eye can follow it

    names: tuple[str, ...]
    optimizers: list[Optimizer]

    def blocks(self) -> list[BlockInfo]:
        return [BlockInfo(n, self._block_label(k), "optimizer", self._n_params(), self.out_shape)
                for k, n in enumerate(self.names)]

    out_shape: tuple = (2,)

    def _n_params(self) -> int:
        return 2

    def _block_label(self, k: int) -> str:
        opt = self.optimizers[k]
        return f"{opt.title} (lr {opt.lr:g})"

    def hyperparams(self) -> dict[str, float]:
        return {f"{n}.{k}": v for n, opt in zip(self.names, self.optimizers) for k, v in opt.get_hyperparams().items()}

    def optimizer_hyperparams(self) -> dict[str, dict[str, float]]:
        return {n: opt.get_hyperparams() for n, opt in zip(self.names, self.optimizers)}

    def set_hyperparam(self, name: str, value: float) -> None:
        if name not in self.hyperparams():
            if name in OPTIMIZER_KEYS:  # a bare name: every optimizer that has it
                targets = [f"{n}.{name}" for n, opt in zip(self.names, self.optimizers) if name in opt.hyperparams]
                if targets:
                    for t in targets:
                        self.set_hyperparam(t, value)
                    return
            return super().set_hyperparam(name, value)
        value = _check_value(name, value)
        opt_name, hp = name.split(".", 1)
        setattr(self.optimizers[self.names.index(opt_name)], hp, value)


class SurfaceRace(_RaceBase):
    keyframe_every = 10

    def __init__(self, config: dict):
        super().__init__(config)
        opts = self.read_settings(config)   # declared in engines/options.py
        self.surface: Surface = make_surface(opts["surface"], opts["condition"], opts["angle"])
        start = opts["start"]
        self.start = parse_start(start) if start not in (None, "") else tuple(self.surface.start)
        x0, x1, y0, y1 = self.surface.bounds
        span = max(x1 - x0, y1 - y0)
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        # a point this far from the drawn region (one span beyond each edge) has left the race
        self.limit = (x0 - span, x1 + span, y0 - span, y1 + span)
        if not (self.limit[0] < self.start[0] < self.limit[1] and self.limit[2] < self.start[1] < self.limit[3]):
            raise StepwiseError(f"The start point {self.start} is far outside the {self.surface.title} surface "
                                f"(x from {x0:g} to {x1:g}, y from {y0:g} to {y1:g}); choose a point inside.")
        self.names = parse_optimizers(pick_optimizers(opts))
        self.points = [np.array(self.start, dtype=np.float64) for _ in self.names]
        self.optimizers = []
        for n in self.names:
            opt = make_optimizer(n, [self.points[len(self.optimizers)]],
                                 **_config_hyper(config, n, self.surface.lrs, OPTIMIZERS[n]))
            opt.record = True
            self.optimizers.append(opt)
        self.stopped = [-1] * len(self.names)  # iteration at which each one left the race (-1: racing)
        f0 = float(self.surface.value(*self.start))
        self.trace = _Trace()  # row per iteration: (n_opt, 3) = x, y, f after that many steps
        self.trace.append(np.array([[*self.start, f0]] * len(self.names)))
        self._grid: dict | None = None
        self._running = False  # an iteration is part-way through (its update has not run yet)
        self._components: list[dict] | None = None  # what each step of the latest update was made of

    # ------------------------------------------------------------------ structure
    def phase_specs(self) -> list[PhaseSpec]:
        return [PhaseSpec(LOSS, -1, f"loss · f(x, y) at every point ({self.surface.title})"),
                PhaseSpec(BACKWARD, -1, "backward · the exact gradient ∇f at every point"),
                PhaseSpec(UPDATE, -1, "update · every optimizer takes one step")]

    # ------------------------------------------------------------------ running
    def run_iteration(self, detail: bool = True) -> Iterator[PhaseEvent]:
        it = self.iteration
        specs = self.phase_specs()
        s = self.surface
        pts = np.array(self.points)  # (n_opt, 2)
        f = np.asarray(s.value(pts[:, 0], pts[:, 1]), dtype=np.float64)  # (n_opt,)
        self._running = True
        yield PhaseEvent(it, 0, specs[0])
        gx, gy = s.gradient(pts[:, 0], pts[:, 1])
        g = np.stack([np.asarray(gx, dtype=np.float64), np.asarray(gy, dtype=np.float64)], axis=1)  # (n_opt, 2)
        yield PhaseEvent(it, 1, specs[1])
        x0, x1, y0, y1 = self.limit
        components = []
        row = np.empty((len(self.names), 3))
        for k, (p, opt) in enumerate(zip(self.points, self.optimizers)):
            if self.stopped[k] < 0:
                before = p.copy()
                opt.step([g[k].copy()])
                if not (np.all(np.isfinite(p)) and x0 < p[0] < x1 and y0 < p[1] < y1):
                    p[...] = before  # stays at its last point on the surface, out of the race
                    self.stopped[k] = it + 1
                components.append(opt.last_components[0] if self.stopped[k] < 0 else {})
            else:
                components.append({})
            row[k] = (p[0], p[1], s.value(p[0], p[1]))
        self._components = components
        self._running = False
        self.trace.append(row)
        racing = [float(v) for k, v in enumerate(f) if self.stopped[k] < 0 or self.stopped[k] == it + 1]
        loss = min(racing) if racing else float(np.min(f))
        check_finite(loss, it)
        self.last_metrics = {"loss": loss}
        self.iteration += 1
        yield PhaseEvent(it, 2, specs[2])

    def phase_data(self, index: int, block: int) -> dict[str, Any]:
        """The latest iteration's numbers for optimizer ``block``: f, ∇f at the point it stepped
        from, and the step it took (with what the step was made of)."""
        if not 0 <= block < len(self.names):
            return {}
        it = self.iteration if self._running else self.iteration - 1  # the iteration phase ``index`` belongs to
        if it < 0:
            return {}
        x, y, f = self.trace.row(it)[block]
        gx, gy = self.surface.gradient(x, y)
        if index == 0:
            return {"point": np.array([x, y]), "loss": float(f)}
        if index == 1:
            return {"point": np.array([x, y]), "grad": np.array([gx, gy], dtype=np.float64)}
        if index == 2 and len(self.trace) > it + 1:
            after = self.trace.row(it + 1)[block]
            out = {"point": np.array([x, y]), "step": after[:2] - np.array([x, y]), "loss_after": float(after[2])}
            if self._components is not None and self._components[block]:
                out["components"] = self._components[block]
            return out
        return {}

    # ------------------------------------------------------------------ views
    def grid(self) -> dict:
        if self._grid is None:
            grid = self.surface.grid(GRID)
            grid["z"] = grid["z"].astype(np.float32)
            self._grid = dict(grid, **self.surface.describe())
        return self._grid

    def next_updates(self) -> list[dict]:
        """For each racing optimizer, what its next step from the current point is made of."""
        out = []
        for k, (p, opt) in enumerate(zip(self.points, self.optimizers)):
            if self.stopped[k] >= 0:
                out.append({})
                continue
            gx, gy = self.surface.gradient(p[0], p[1])
            comps = opt.preview([np.array([gx, gy], dtype=np.float64)])[0]
            out.append(comps)
        return out

    def view_data(self, selected_block: int) -> dict[str, Any]:
        table = self.trace.array()  # (n_iter + 1, n_opt, 3)
        idx = downsample_indices(len(table), MAX_VIEW_POINTS)
        sub = table[idx]
        current = np.array(self.points)
        return {
            "mode": "surface",
            "surface": self.grid(),  # the same arrays every time: views redraw only when "key" changes
            "optimizers": list(self.names),
            "titles": [opt.title for opt in self.optimizers],
            "rules": [opt.rule for opt in self.optimizers],
            "direction_names": [opt.direction_name for opt in self.optimizers],
            "iterations": idx.astype(np.float64),          # (L,)
            "paths": np.ascontiguousarray(sub[:, :, :2].transpose(1, 0, 2)),  # (n_opt, L, 2)
            "losses": np.ascontiguousarray(sub[:, :, 2].T),  # (n_opt, L): f after each kept iteration
            "current": current,                               # (n_opt, 2)
            "current_loss": table[-1, :, 2].copy(),          # (n_opt,)
            "stopped": list(self.stopped),
            "next_updates": self.next_updates(),
            "optimizer_hyperparams": self.optimizer_hyperparams(),
            "start": np.array(self.start),
            "iteration": self.iteration,
        }

    def command(self, name: str, args: dict) -> dict[str, Any]:
        if name == "surface_grid":
            return self.grid()
        return super().command(name, args)

    # ------------------------------------------------------------------ CLI
    def final_lines(self) -> list[dict]:
        out = []
        for k, (n, opt, p) in enumerate(zip(self.names, self.optimizers, self.points)):
            line = {"optimizer": n, "x": float(p[0]), "y": float(p[1]), "loss": float(self.surface.value(p[0], p[1])),
                    **{k2: v for k2, v in opt.get_hyperparams().items()}}
            if self.surface.minima:
                line["distance_to_minimum"] = float(min(np.hypot(p[0] - mx, p[1] - my)
                                                        for mx, my in self.surface.minima))
            if self.stopped[k] >= 0:
                line["stopped_at"] = self.stopped[k]
            out.append(line)
        return out

    def summary(self) -> dict[str, Any]:
        losses = [float(self.surface.value(p[0], p[1])) for p in self.points]
        return {"surface": self.surface.id, "start": list(self.start), "best": self.names[int(np.argmin(losses))]}

    # ------------------------------------------------------------------ state
    def get_state(self) -> dict:
        return {"iteration": self.iteration, "points": [p.copy() for p in self.points],
                "optimizers": [opt.state_dict() for opt in self.optimizers], "stopped": list(self.stopped),
                "trace": self.trace.get_state(), "last_metrics": dict(self.last_metrics)}

    def set_state(self, state: dict) -> None:
        self.iteration = state["iteration"]
        for p, saved in zip(self.points, state["points"]):
            p[...] = saved
        for opt, d in zip(self.optimizers, state["optimizers"]):
            opt.load_state_dict(d)
        self.stopped = list(state["stopped"])
        self.trace.set_state(state["trace"])
        self.last_metrics = dict(state["last_metrics"])
        self._running = False
        self._components = None


class NetworkRace(_RaceBase):
    """One small MLP per optimizer, same initial weights, same batches; trajectories recorded."""

    keyframe_every = 25
    eval_every = 50
    hidden = 32
    out_shape = (10,)
    max_records = 300  # recorded points per optimizer before the record is thinned

    def __init__(self, config: dict):
        super().__init__(config)
        from ..data import load_mnist
        from ..numpy_engine.layers import Dense
        from ..numpy_engine.losses import SoftmaxCrossEntropy
        from ..numpy_engine.model import Model

        opts = self.read_settings(config)   # declared in engines/options.py
        self.names = parse_optimizers(pick_optimizers(opts), NETWORK_DEFAULT)
        self.batch_size = opts["batch_size"]
        self.record_every = int(config.get("record_every", 5))
        if self.record_every < 1:
            raise StepwiseError("record_every must be a positive whole number.")
        self.data = load_mnist(opts["data"], notify=config.get("notify"))
        self.rng = np.random.default_rng(self.seed)  # batch order, shared by every network
        self.models = []
        for _ in self.names:
            rng = np.random.default_rng([self.seed, 1])  # the same initial weights for every optimizer
            self.models.append(Model([Dense("dense1", 784, self.hidden, "relu", rng),
                                      Dense("output", self.hidden, 10, "linear", rng)], SoftmaxCrossEntropy()))
        self.optimizers = [make_optimizer(n, m.params(), **_config_hyper(config, n, TYPICAL_LR, OPTIMIZERS[n]))
                           for n, m in zip(self.names, self.models)]
        self.perm = self.rng.permutation(len(self.data.train_x))
        self.cursor = 0
        self.records: list[np.ndarray] = []  # read-only (n_opt, D) float32 rows
        self.record_iters: list[int] = []
        self._record()
        self.loss_trace = _Trace()
        self.landscape: dict | None = None
        self._cancel = False
        self._batch = None
        self._losses: np.ndarray | None = None

    def _n_params(self) -> int:
        return int(sum(p.size for p in self.models[0].params()))

    def phase_specs(self) -> list[PhaseSpec]:
        return [PhaseSpec(LOSS, -1, f"forward + loss · each network on the same batch of {self.batch_size}"),
                PhaseSpec(BACKWARD, -1, "backward · each network's gradients"),
                PhaseSpec(UPDATE, -1, "update · each optimizer updates its own network")]

    def _record(self) -> None:
        row = np.stack([flatten(m.params(), np.float32) for m in self.models])  # (n_opt, D)
        row.flags.writeable = False
        self.records.append(row)
        self.record_iters.append(self.iteration)
        if len(self.records) > self.max_records:  # keep every other point, record half as often
            keep = list(range(0, len(self.records) - 1, 2)) + [len(self.records) - 1]
            self.records = [self.records[i] for i in keep]
            self.record_iters = [self.record_iters[i] for i in keep]
            self.record_every *= 2

    def next_batch(self):
        idx, self.perm, self.cursor = next_batch_indices(self.rng, self.perm, self.cursor, self.batch_size)
        return self.data.train_x[idx].reshape(len(idx), 784), self.data.train_y[idx]

    def run_iteration(self, detail: bool = True) -> Iterator[PhaseEvent]:
        it = self.iteration
        specs = self.phase_specs()
        x, y = self.next_batch()
        self._batch = (x, y)
        losses = np.array([m.loss.forward(m.forward(x, training=True), y) for m in self.models])
        self._losses = losses
        yield PhaseEvent(it, 0, specs[0])
        for m in self.models:
            m.backward(m.loss.backward())
        yield PhaseEvent(it, 1, specs[1])
        for m, opt in zip(self.models, self.optimizers):
            opt.step(m.param_grads())
        for k, v in enumerate(losses):
            check_finite(float(v), it)
        self.loss_trace.append(losses)
        self.iteration += 1
        if self.iteration % self.record_every == 0:
            self._record()
        self.last_metrics = {"loss": float(losses.min())}
        yield PhaseEvent(it, 2, specs[2])

    def phase_data(self, index: int, block: int) -> dict[str, Any]:
        if self._losses is None or not 0 <= block < len(self.names):
            return {}
        m = self.models[block]
        if index == 0:
            return {"loss": float(self._losses[block])}
        if index >= 1:
            grads = m.param_grads()
            return {"grad_norms": [float(np.linalg.norm(g)) for g in grads],
                    "param_names": m.param_names()}
        return {}

    def evaluate(self) -> dict[str, float]:
        x = self.data.heldout_x.reshape(-1, 784)
        y = self.data.heldout_y
        out = {}
        for n, m in zip(self.names, self.models):
            logits = m.predict(x)
            out[f"heldout_accuracy_{n}"] = float((logits.argmax(axis=1) == y).mean())
            out[f"heldout_loss_{n}"] = float(m.loss.forward(logits.astype(np.float64), y))
        return out

    def trajectories(self) -> dict[str, np.ndarray]:
        """name -> (n, D) recorded parameter vectors, the current parameters last."""
        rec = np.stack(self.records)  # (n_rec, n_opt, D)
        out = {}
        for k, (n, m) in enumerate(zip(self.names, self.models)):
            t = rec[:, k]
            if self.record_iters[-1] != self.iteration:
                t = np.concatenate([t, flatten(m.params(), np.float32)[None]])
            out[n] = t
        return out

    def view_data(self, selected_block: int) -> dict[str, Any]:
        table = self.loss_trace.array() if len(self.loss_trace) else np.zeros((0, len(self.names)))
        idx = downsample_indices(len(table), MAX_VIEW_POINTS)
        out = {"mode": "network", "optimizers": list(self.names),
               "titles": [opt.title for opt in self.optimizers], "rules": [opt.rule for opt in self.optimizers],
               "iterations": (idx + 1).astype(np.float64), "losses": np.ascontiguousarray(table[idx].T),
               "optimizer_hyperparams": self.optimizer_hyperparams(), "iteration": self.iteration,
               "recorded": len(self.records)}
        if self.landscape is not None:
            out["landscape"] = self.landscape
        return out

    def landscape_task(self, args: dict) -> Iterator[dict]:
        x = self.data.heldout_x[: int(args.get("n_examples", 2000))].reshape(-1, 784)
        y = self.data.heldout_y[: len(x)]
        trajs = self.trajectories()
        if len(next(iter(trajs.values()))) < 3:
            raise StepwiseError("Train at least a few dozen iterations before computing the landscape.")
        result = None
        self._cancel = False
        for msg in plane_landscape(self.models[0], x, y, trajs, directions=args.get("directions", "pca"),
                                   center="first", resolution=int(args.get("resolution", 25)),
                                   seed=int(args.get("seed", self.seed))):
            if self._cancel:  # command("landscape_cancel"): stop at the next point
                yield {"done": True, "cancelled": True}
                return
            if msg.get("done"):
                result = msg
            else:
                yield msg
        result = dict(result, iteration=self.iteration, optimizers=list(self.names))
        self.landscape = result
        yield result

    def command(self, name: str, args: dict) -> dict[str, Any]:
        if name == "landscape":
            return {"task": self.landscape_task(dict(args))}
        if name == "landscape_cancel":
            self._cancel = True
            return {"cancelled": True}
        return super().command(name, args)

    def final_lines(self) -> list[dict]:
        """One line per optimizer: held-out loss and accuracy, and where it ended on the plane of
        the top two principal directions of all trajectories (from the shared start)."""
        trajs = self.trajectories()
        allpts = np.concatenate(list(trajs.values()))
        start = allpts[0].astype(np.float64)
        try:
            d1, d2, _ = pca_directions(allpts, start)
        except StepwiseError:
            d1 = d2 = None
        metrics = self.evaluate()
        out = []
        for n, m in zip(self.names, self.models):
            if d1 is not None:
                x, y = project(flatten(m.params())[None], start, d1, d2)[0]
            else:
                x = y = 0.0
            out.append({"optimizer": n, "x": float(x), "y": float(y), "loss": metrics[f"heldout_loss_{n}"],
                        "heldout_accuracy": metrics[f"heldout_accuracy_{n}"],
                        **self.optimizers[self.names.index(n)].get_hyperparams()})
        return out

    def summary(self) -> dict[str, Any]:
        return {"surface": "network", "plane": "top two principal directions of all trajectories, from the shared start"}

    def get_state(self) -> dict:
        return {"iteration": self.iteration,
                "params": [[p.copy() for p in m.params()] for m in self.models],
                "optimizers": [opt.state_dict() for opt in self.optimizers],
                "rng": rng_state(self.rng), "perm": self.perm.copy(), "cursor": self.cursor,
                "records": list(self.records), "record_iters": list(self.record_iters),  # read-only rows: shared
                "record_every": self.record_every, "loss_trace": self.loss_trace.get_state(),
                "last_metrics": dict(self.last_metrics)}

    def set_state(self, state: dict) -> None:
        self.iteration = state["iteration"]
        for m, saved in zip(self.models, state["params"]):
            for p, s in zip(m.params(), saved):
                p[...] = s
        for opt, d in zip(self.optimizers, state["optimizers"]):
            opt.load_state_dict(d)
        set_rng_state(self.rng, state["rng"])
        self.perm = state["perm"].copy()
        self.cursor = state["cursor"]
        self.records = list(state["records"])
        self.record_iters = list(state["record_iters"])
        self.record_every = state["record_every"]
        self.loss_trace.set_state(state["loss_trace"])
        self.last_metrics = dict(state["last_metrics"])
        self._losses = None


def make_trainer(config: dict) -> Trainer:
    return NetworkRace(config) if settings(config, "optimizers")["surface"] == "network" else SurfaceRace(config)
