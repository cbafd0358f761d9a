"""The Session: a cursor over training, with history, keyframes and deterministic replay.

Plain Python, no Qt: it is tested in-process, and the worker process (visualizer/worker.py)
is a thin transport around it.

The cursor is (iteration, phase): ``iteration`` iterations are complete and ``phase``
phases of the next one have run. Going back restores the nearest keyframe at or before the
target and replays forward; because every trainer is deterministic given its state, the
replayed state is bit-identical to the one left behind. Hyperparameter changes are logged
with the iteration they take effect at, so replay applies them at the same point.
"""
from __future__ import annotations

import time
from typing import Any, Iterator

from engines import StepwiseError
from engines.trainer import PhaseEvent, Trainer


def state_nbytes(obj) -> int:
    """Approximate memory of a keyframe: the arrays and tensors inside nested containers."""
    if isinstance(obj, dict):
        return sum(state_nbytes(v) for v in obj.values())
    if isinstance(obj, (list, tuple)):
        return sum(state_nbytes(v) for v in obj)
    nbytes = getattr(obj, "nbytes", None)
    if isinstance(nbytes, int):
        return nbytes
    if hasattr(obj, "element_size") and hasattr(obj, "nelement"):
        return obj.element_size() * obj.nelement()
    return 64


class Session:
    def __init__(self, trainer: Trainer, max_keyframes: int = 200, keyframe_budget_bytes: int = 512 << 20):
        self.trainer = trainer
        self.specs = trainer.phase_specs()
        first = trainer.get_state()
        # keep the keyframes within a memory budget (ResNet-50 with Adam: ~300 MB each)
        self.max_keyframes = max(4, min(max_keyframes, keyframe_budget_bytes // max(1, state_nbytes(first))))
        start = trainer.iteration
        self.keyframes: dict[int, dict] = {start: first}
        self.pinned: set[int] = {start}
        self.settings_log: list[tuple[int, str, float]] = []  # (iteration, name, value)
        self.history: dict[int, dict[str, float]] = {}  # iteration (1-based, completed) -> metrics
        self.history_version = 0  # bumped when history is rewritten (not merely appended)
        self.history_log: list[int] = []  # iterations in the order their records were written
        self.furthest = start
        self.phase = 0
        self._gen: Iterator[PhaseEvent] | None = None
        self.events: dict[int, PhaseEvent] = {}  # phases of the current iteration
        # inspect the first block with parameters (the first Dense / Conv layer)
        self.selected_block = next((i for i, b in enumerate(trainer.blocks()) if b.n_params), 0)
        self.error: str | None = None
        self._rate_window: list[float] = []

    # ------------------------------------------------------------------ cursor
    @property
    def iteration(self) -> int:
        return self.trainer.iteration

    @property
    def position(self) -> int:
        return self.iteration * len(self.specs) + self.phase

    def _apply_settings_at(self, iteration: int) -> None:
        for it, name, value in self.settings_log:
            if it == iteration:
                self.trainer.set_hyperparam(name, value)

    def _begin_iteration(self, detail: bool) -> None:
        self._apply_settings_at(self.iteration)
        self._gen = self.trainer.run_iteration(detail=detail)
        self.events = {}

    def _finish_iteration(self) -> None:
        self._gen = None
        self.phase = 0
        it = self.iteration
        record = dict(self.trainer.last_metrics)
        if it > self.furthest or it not in self.history:
            if it % self.trainer.eval_every == 0:
                record.update(self.trainer.evaluate())
            self.history[it] = record
            self.history_log.append(it)
        elif it % self.trainer.eval_every == 0 and not any(k.startswith("heldout") for k in self.history[it]):
            self.history[it].update(self.trainer.evaluate())
            self.history_log.append(it)
        self.furthest = max(self.furthest, it)
        if it % self.trainer.keyframe_every == 0 and it not in self.keyframes:
            self._add_keyframe(it)
        now = time.perf_counter()
        self._rate_window = [t for t in self._rate_window if now - t < 2.0] + [now]

    def _add_keyframe(self, it: int) -> None:
        self.keyframes[it] = self.trainer.get_state()
        if len(self.keyframes) > self.max_keyframes:
            # thin old keyframes: drop every other unpinned one outside the most recent quarter
            keys = sorted(k for k in self.keyframes if k not in self.pinned)
            old = keys[: len(keys) * 3 // 4]
            for k in old[1::2]:
                del self.keyframes[k]

    def _run_phase(self, detail: bool = True) -> PhaseEvent | None:
        if self._gen is None:
            self._begin_iteration(detail)
        try:
            event = next(self._gen)
        except StepwiseError:
            self._recover()
            raise
        self.events[event.index] = event
        self.phase = event.index + 1
        if self.phase == len(self.specs):
            # the generator has finished its work; exhaust it so iteration bookkeeping runs
            for _ in self._gen:
                pass
            self._finish_iteration()
        return event

    def _recover(self) -> None:
        """After a failed iteration (NaN loss): restore the state at its start.

        Always from a keyframe: the failed iteration already drew its batch and its dropout
        masks, so the trainer's data cursor and generator are past the start of the iteration."""
        target = self.iteration
        self._gen = None
        self._seek_position(target * len(self.specs), restore=True)

    # ------------------------------------------------------------------ commands
    def step_phase(self) -> PhaseEvent:
        return self._run_phase(detail=True)

    def step_iteration(self, detail: bool = False) -> None:
        """Finish the current iteration (or run a whole one when at a boundary)."""
        if self._gen is None:
            self._begin_iteration(detail)
        while True:
            try:
                next(self._gen)
            except StopIteration:
                break
            except StepwiseError:
                self._recover()
                raise
        self._finish_iteration()

    def run(self, iterations: int) -> None:
        for _ in range(iterations):
            self.step_iteration()

    def step_back_phase(self) -> None:
        if self.position > min(self.keyframes) * len(self.specs):
            self._seek_position(self.position - 1)

    def step_back_iteration(self) -> None:
        if self.phase > 0:
            self._seek_position(self.iteration * len(self.specs))
        elif self.iteration > min(self.keyframes):
            self._seek_position((self.iteration - 1) * len(self.specs))

    def seek(self, iteration: int) -> None:
        """Jump to the start of ``iteration`` (0..furthest)."""
        iteration = max(min(self.keyframes), min(int(iteration), self.furthest))
        self._seek_position(iteration * len(self.specs))

    def _seek_position(self, position: int, restore: bool = False) -> None:
        n = len(self.specs)
        target_it, target_phase = divmod(position, n)
        if restore or not (self._gen is None and self.phase == 0 and self.iteration <= target_it
                           and self.iteration + 20 >= target_it):
            base = max(k for k in self.keyframes if k <= target_it)
            self.trainer.set_state(self.keyframes[base])
            self._gen = None
            self.phase = 0
            self.events = {}
        while self.iteration < target_it:
            self.step_iteration(detail=False)
        for _ in range(target_phase):
            self._run_phase(detail=True)

    def select_block(self, index: int) -> None:
        self.selected_block = int(index)

    def set_hyperparam(self, name: str, value: float) -> None:
        """Takes effect from the next iteration boundary; the future beyond the cursor is rewritten."""
        value = float(value)
        old = self.trainer.hyperparams().get(name)
        # the trainer checks it now (StepwiseError for an unknown name or a bad value): a bad value
        # in the log would stop every later iteration and every replay through this point
        self.trainer.set_hyperparam(name, value)
        at = self.iteration + (1 if self.phase else 0)
        if self.phase:
            self.trainer.set_hyperparam(name, old)  # mid-iteration: from the next boundary on
        self.settings_log = [e for e in self.settings_log if e[0] < at or (e[0] == at and e[1] != name)]
        self.settings_log.append((at, name, value))
        self._truncate_future(at)

    def _truncate_future(self, at: int) -> None:
        self.history = {k: v for k, v in self.history.items() if k <= at}
        self.keyframes = {k: v for k, v in self.keyframes.items() if k <= at}
        self.pinned = {k for k in self.pinned if k <= at}
        self.furthest = min(self.furthest, at)
        self.history_log = sorted(self.history)
        self.history_version += 1

    # ------------------------------------------------------------------ saving
    def to_tree(self, config: dict, keyframe_budget_bytes: int = 256 << 20) -> dict:
        """The session as a plain tree of copies (settings, history, the state at the start of the
        current iteration and, within a size budget, the keyframes), safe to write from another
        thread with ``engines.state_io.save_tree``. The cursor does not move."""
        boundary = self.iteration * len(self.specs)
        here = self.position
        if self.phase:
            self._seek_position(boundary)  # the state at the start of the current iteration
        keyframes = dict(self.keyframes)
        while len(keyframes) > 1 and state_nbytes(keyframes) > keyframe_budget_bytes:
            del keyframes[min(keyframes)]
        keyframes[self.iteration] = self.trainer.get_state()
        tree = {"config": {k: v for k, v in config.items() if k not in ("notify", "load")},
                "iteration": self.iteration, "phase": self.phase if here == boundary else here - boundary,
                "furthest": self.furthest, "selected_block": self.selected_block,
                "history": {int(k): dict(v) for k, v in self.history.items()}, "settings_log": list(self.settings_log),
                "keyframes": keyframes}
        if here != boundary:
            self._seek_position(here)
        return tree

    def save(self, path: str, config: dict, keyframe_budget_bytes: int = 256 << 20) -> None:
        """The session as it is, so that going back still works after reopening."""
        from engines.state_io import save_tree
        save_tree(path, self.to_tree(config, keyframe_budget_bytes))

    @classmethod
    def open(cls, path: str, make_trainer) -> tuple["Session", dict]:
        """A Session from a file written by save(); ``make_trainer(config)`` builds the trainer."""
        from engines import StepwiseError
        from engines.state_io import load_tree
        tree = load_tree(path)
        try:
            config = dict(tree["config"])
            trainer = make_trainer(config)
            keyframes = {int(k): v for k, v in tree["keyframes"].items()}
            trainer.set_state(keyframes[min(keyframes)])
            session = cls(trainer)
            session.keyframes = keyframes
            session.pinned = set(keyframes)
            session.history = {int(k): v for k, v in tree["history"].items()}
            session.history_log = sorted(session.history)
            session.settings_log = [tuple(e) for e in tree["settings_log"]]
            session.furthest = int(tree["furthest"])
            session.selected_block = int(tree["selected_block"])
            session._seek_position(int(tree["iteration"]) * len(session.specs))
        except StepwiseError:
            raise
        except Exception:
            raise StepwiseError(f"The session in {path} does not fit this version of Stepwise; "
                                "start a new run instead.") from None
        return session, config

    # ------------------------------------------------------------------ reading
    def iterations_per_second(self) -> float:
        now = time.perf_counter()
        recent = [t for t in self._rate_window if now - t < 2.0]
        if len(recent) < 2:
            return 0.0
        return (len(recent) - 1) / max(recent[-1] - recent[0], 1e-9)

    def current_label(self) -> str:
        """The phase just run; at an iteration boundary, the update that ended the iteration."""
        if self.phase == 0:
            if self.iteration == 0:
                return "ready: next is " + self.specs[0].label
            update = self.trainer.phase_specs()[-1].label  # fresh: it names the rate, which may have changed
            return f"{update} — applied; next: {self.specs[0].label}"
        return self.specs[self.phase - 1].label

    def block_phase_data(self, block: int) -> dict[str, Any]:
        """What the phases of this iteration computed for ``block``, keyed by phase kind.

        Phases not reached yet in the current iteration are left out; at an iteration
        boundary everything comes from the iteration just completed."""
        out: dict[str, Any] = {}
        if self.iteration == 0 and self.phase == 0:
            return out
        for i, spec in enumerate(self.specs):
            if spec.block not in (block, -1):
                continue
            if self.phase and i >= self.phase:
                continue  # not reached yet in this iteration
            out.setdefault(spec.kind, {}).update(self.trainer.phase_data(i, block))
        return out
