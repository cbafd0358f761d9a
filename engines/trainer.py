"""The phase vocabulary both engines speak, and the Trainer contract every lab implements.

One training iteration is a fixed sequence of phases: forward through block 0..B-1, the
loss, backward through block B-1..0, the optimizer update. Text labs split backward phases
further by time step. A Trainer runs them one at a time (``run_iteration`` is a generator)
so the Session can stop between any two phases, and it can save and restore its whole
state (``get_state``/``set_state``) so the Session can go back in time by replaying from a
keyframe. Everything here is plain Python + NumPy: no Qt.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any, Iterator

import numpy as np

from . import StepwiseError

FORWARD, LOSS, BACKWARD, UPDATE = "forward", "loss", "backward", "update"


@dataclass(frozen=True)
class BlockInfo:
    """One box of the network diagram."""
    name: str            # unique id, e.g. "dense1"
    label: str           # shown in the diagram, e.g. "Dense 784→256 + relu"
    kind: str            # "dense", "conv", "pool", "dropout", "residual", "lstm", ...
    n_params: int = 0
    out_shape: tuple = ()  # per example, e.g. (256,) or (8, 14, 14)


@dataclass(frozen=True)
class PhaseSpec:
    kind: str            # FORWARD | LOSS | BACKWARD | UPDATE
    block: int           # index into Trainer.blocks(); -1 for the loss and the update
    label: str           # e.g. "backward · Dense 784→256 + relu"
    step: int | None = None  # time step, for backward-through-time phases


@dataclass
class PhaseEvent:
    iteration: int       # the iteration this phase belongs to (0 = the first one)
    index: int           # position in phase_specs()
    spec: PhaseSpec
    data: dict[str, Any] = field(default_factory=dict)  # copies only: arrays and numbers for the views


@contextlib.contextmanager
def attribute_set_to(obj: Any, name: str, value: Any):
    """``obj.name`` is ``value`` inside the block, what it was after it (a trainer's reached_at)."""
    saved = getattr(obj, name)
    setattr(obj, name, value)
    try:
        yield
    finally:
        setattr(obj, name, saved)


class PhaseCounter:
    """The PhaseEvents of one iteration, in order: each call returns the next one."""

    def __init__(self, iteration: int, specs: list[PhaseSpec]):
        self.iteration, self.specs, self.index = iteration, specs, 0

    def __call__(self) -> PhaseEvent:
        event = PhaseEvent(self.iteration, self.index, self.specs[self.index])
        self.index += 1
        return event


def check_finite(loss: float, iteration: int) -> None:
    if not np.isfinite(loss):
        raise StepwiseError(
            f"The loss became {loss} at iteration {iteration + 1}: the learning rate is probably too large; "
            "lower it, go back on the timeline to before the loss started to climb, and press play "
            "(training paused at the iteration before, nothing is lost).")


class Trainer:
    """Base class of every lab's trainer. Subclasses fill in the methods that raise.

    Contract:
    - all randomness comes from generators created from ``seed`` in __init__ and saved in
      get_state(); two trainers with the same config produce bit-identical numbers;
    - ``run_iteration(detail)`` executes phase_specs() in order, yielding one PhaseEvent after
      each (events carry no arrays); by the time the last one is yielded ``self.iteration``
      has grown by one and ``self.last_metrics`` holds at least {"loss": float}. detail=False
      lets a trainer skip work that only views need (fast play);
    - ``phase_data(index, block)`` rebuilds what a phase computed from the engine's caches, so
      a snapshot can be made at any time, after stepping or after fast play;
    - ``get_state()`` returns copies (parameters, optimizer state, RNG states, data cursor,
      iteration); ``set_state`` restores them exactly.
    """

    lab: str = ""
    engine: str = "numpy"
    eval_every: int = 50        # iterations between held-out evaluations
    keyframe_every: int = 10    # iterations between keyframes (heavy labs use 1)
    # phase_data's histograms over the batch ("activation_hist", "grad_hist", "update_hist"): left out while
    # the view on screen draws none (set by the Session; they were most of a CNN snapshot's cost)
    histograms: bool = True

    def __init__(self, config: dict):
        self.config = config
        self.seed = self.read_settings(config).get("seed", 0)
        self.iteration = 0
        self.last_metrics: dict[str, float] = {}

    def __repr__(self) -> str:
        """What a student printing a trainer sees: the lab, the engine, where it is, and its blocks
        (the diagram's boxes: label, parameter count, output shape per example)."""
        try:
            blocks = self.blocks()
        except Exception as e:   # a half-built trainer still prints
            return f"{type(self).__name__}(lab={self.lab!r}, engine={self.engine!r}; blocks unavailable: {e})"
        rows = [f"  ({i}) {b.name}: {b.label}; {b.n_params:,} parameters → {b.out_shape}" for i, b in enumerate(blocks)]
        return (f"{type(self).__name__}(lab={self.lab!r}, engine={self.engine!r}, seed={self.seed}, "
                f"iteration={self.iteration}\n" + "\n".join(rows) + "\n)")

    def check_live(self, name: str, value: float) -> float:
        """A new value of live hyperparameter ``name`` against its declaration (engines/options.py):
        the value, or StepwiseError with one sentence naming it and its range."""
        from .options import live_spec
        return float(live_spec(self.lab, name).check(value))

    def read_settings(self, config: dict) -> dict:
        """This lab's settings for this engine (engines/options.py): each value of ``config`` checked
        against its declaration (StepwiseError, one sentence), the declared default where absent.
        Read once; a subclass may call it before ``Trainer.__init__``."""
        if getattr(self, "options", None) is None:
            from .options import settings
            self.options = settings(config, self.lab, config.get("engine") or self.engine)
        return self.options

    # ---- structure
    def blocks(self) -> list[BlockInfo]:
        raise NotImplementedError

    def phase_specs(self) -> list[PhaseSpec]:
        raise NotImplementedError

    # ---- running
    def run_iteration(self, detail: bool = True) -> Iterator[PhaseEvent]:
        raise NotImplementedError

    def phase_data(self, index: int, block: int) -> dict[str, Any]:
        """Data that phase ``index`` of the most recent iteration computed, for the view of
        ``block`` (for the update phase: the update applied to that block's parameters).
        Rebuilt from what the engine cached, as copies; {} when there is nothing to show."""
        return {}

    def evaluate(self) -> dict[str, float]:
        """Held-out metrics (e.g. {"heldout_accuracy": 0.97}); deterministic, consumes no randomness."""
        return {}

    def adopt_evaluation(self, other: "Trainer") -> None:
        """Take over what ``other`` (a trainer of the same config that ran evaluate() on a copy of this
        one's state, off the engine's loop) left for the views besides the figures: a report."""

    # ---- going back
    def get_state(self) -> dict:
        raise NotImplementedError

    def set_state(self, state: dict) -> None:
        raise NotImplementedError

    # ---- extras for views and the CLI
    # how long one view_data call may work on a costly part that can wait (the text labs' live sample:
    # 200 ms); None: all of it at once (tests, the CLI). The engine process sets it, and gives the rest
    # its idle time (advance_view)
    view_slice_s: float | None = None

    def view_data(self, selected_block: int) -> dict[str, Any]:
        """Lab-specific data for the views at the current state (copies, downsampled)."""
        return {}

    def advance_view(self, seconds: float) -> bool:
        """Work up to ``seconds`` on what view_data left unfinished; True when the view changed."""
        return False

    # set while the app plays this iteration phase by phase (Session.play_phase): a lab may then keep, at
    # little cost, what shows_from_caches needs to rebuild an earlier phase's view (ResNet: its views just
    # after the loss); off for whole iterations (headless, replays), which never show an earlier phase
    keeps_earlier_views: bool = False

    def shows_from_caches(self, phase: int) -> bool:
        """Whether phase_data of the phases before ``phase`` of this iteration, read now (with
        ``reached_at(phase)``, the iteration run further on), is bit for bit what it was at ``phase``: ← then
        shows it without replaying. False unless a lab knows its later phases leave those caches alone."""
        return False

    @contextlib.contextmanager
    def reached_at(self, phase: int):
        """phase_data and view_data read as if this iteration had run its first ``phase`` phases only."""
        raise NotImplementedError
        yield

    def command(self, name: str, args: dict) -> dict[str, Any]:
        """A lab-specific request from a view (e.g. classify a drawn digit). Returns a reply dict."""
        raise StepwiseError(f"The {self.lab} lab does not understand the request {name!r}.")

    def reads_caches(self, command: str) -> bool:
        """Whether a request reads what the last iteration left behind (activations, the batch) or
        changes what the views show, rather than only the parameters: before it, the app brings
        the trainer exactly to the state shown."""
        return True

    def summary(self) -> dict[str, Any]:
        """Extra fields for the CLI's final summary line."""
        return {}

    def settings(self) -> dict[str, Any]:
        """The settings the trainer really uses where they differ from the config asked for
        (e.g. "auto" resolved), so the settings form shows the truth."""
        return {}

    def metric_labels(self) -> dict[str, str]:
        """Names for the curves of this lab's metrics, e.g. {"plain_loss": "plain: training loss"}."""
        return {}

    def final_lines(self) -> list[dict[str, Any]]:
        """JSON objects the CLI prints before its summary line (e.g. one per optimizer)."""
        return []

    def save(self, path: str) -> None:
        raise StepwiseError(f"The {self.lab} lab cannot save models yet.")

    def load(self, path: str) -> None:
        raise StepwiseError(f"The {self.lab} lab cannot load models yet.")

    def hyperparams(self) -> dict[str, float]:
        """Hyperparameters editable while training (e.g. {"lr": 0.1})."""
        return {}

    def set_hyperparam(self, name: str, value: float) -> None:
        raise StepwiseError(f"The {self.lab} lab has no setting {name!r}.")


def downsample_indices(n: int, limit: int) -> np.ndarray:
    """Indices 0..n−1 thinned to at most ``limit``: every ``stride``-th, the stride the smallest power
    of two that fits, and the last. The kept indices stay the same from one call to the next until the
    stride doubles, so the window draws a curve's settled part once (widgets/growing_curves.py)."""
    if n <= limit:
        return np.arange(n)
    stride = 1
    while (n - 2) // stride + 2 > limit:   # the grid 0, s, 2s, … below n − 1, then n − 1
        stride *= 2
    return np.append(np.arange(0, n - 1, stride), n - 1)


def rng_state(rng: np.random.Generator) -> dict:
    return rng.bit_generator.state  # a fresh dict each call


def set_rng_state(rng: np.random.Generator, state: dict) -> None:
    rng.bit_generator.state = state
