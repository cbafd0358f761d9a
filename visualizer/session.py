"""The Session: a cursor over training, with history, keyframes, branches and deterministic replay.

Plain Python, no Qt: it is tested in-process, and the engine process (visualizer/worker.py) is a
thin transport around it.

The cursor is (iteration, phase): ``iteration`` iterations are complete and ``phase`` phases of
the next one have run. Going back restores the nearest saved state at or before the target and
replays forward; because every trainer is deterministic given its state, the replayed state is
bit-identical to the one left behind. Saved states come from three places, cheapest first:
- the state at the start of the current iteration (← inside an iteration replays only its phases);
- ``NearPool``: temporary keyframes near the cursor, left behind by play and by replay;
- ``KeyframeStore``: keyframes evenly spaced over the whole run, in memory and on disk. Their
  spacing is sized from the measured cost of an iteration (a gap replays in about half a second)
  and widens evenly when the budgets are full.

Hyperparameter changes are logged with the iteration they take effect at, so replay applies
them at the same point. A change made after going back does not throw the old future away: it
starts a new *line* (a branch) from that iteration, and the old line stays, to switch back to.

Replay is a generator (``seek_steps``) that yields after each iteration, so the engine process can
run it in slices, keep reading commands and show progress; the plain methods (``seek``,
``step_back_phase``...) run it to the end.
"""
from __future__ import annotations

import collections
import functools
import time
from dataclasses import dataclass, field
from typing import Any, Iterator, NamedTuple

from engines import StepwiseError
from engines.trainer import PhaseEvent, Trainer
from visualizer.keyframes import DISK_BUDGET, MEMORY_BUDGET, POOL_BUDGET, KeyframeStore, NearPool, state_nbytes

__all__ = ["Session", "Line", "state_nbytes"]

GAP_SECONDS = 0.5      # a gap between two keyframes replays in about this long
NEAR_SECONDS = 0.05    # ...and between two temporary keyframes near the cursor
KEYFRAME_SHARE = 0.02  # keyframes may cost this share of training time
RUN_HINT = 10_000      # closer keyframes where a run this long would still fit in memory
VIEWS_SECONDS = 0.05   # where an iteration costs more, the views of the boundaries behind the cursor are prepared
EVALUATE_ON_COPY_BYTES = 64 << 20  # a held-out evaluation off the loop runs on a copy where a state is smaller
EVALUATE_INLINE_SECONDS = 0.04     # ...and at once, as headless, where one was measured to take less (MLP: 18 ms)
VIEWS_AFTER_JUMP = 8   # ...and a jump leaves this many behind its target, for the Shift+← presses that follow
DEEP_JUMP_SECONDS = 2.5  # ...if replaying from a keyframe further back keeps the jump this short


def _pow2_floor(x: float) -> int:
    n = 1
    while n * 2 <= x:
        n *= 2
    return n


@dataclass
class Line:
    """One branch of the run: its own settings from ``fork`` on, its own history and future."""
    id: int
    parent: int | None
    fork: int                     # iterations shared with the parent (the state at ``fork`` is common)
    label: str
    settings_log: list = field(default_factory=list)   # (iteration, name, value)
    history: dict = field(default_factory=dict)        # iteration (1-based, completed) -> metrics
    history_log: list = field(default_factory=list)    # iterations in the order their records were written
    furthest: int = 0


def _after_evaluation(method):
    """The method needs every figure filed (saving, closing, another line): a held-out evaluation under
    way in its thread is waited for first."""
    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        self.finish_evaluation()
        return method(self, *args, **kwargs)
    return wrapper


def _trainer_free(method):
    """The method touches the trainer: an evaluation that runs on the trainer itself (not on a copy)
    is waited for first."""
    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        self._free_trainer()
        return method(self, *args, **kwargs)
    return wrapper


class _Evaluation(NamedTuple):
    """A held-out evaluation under way in its thread; its figures go to ``line`` at ``iteration``."""
    line: Line
    iteration: int
    thread: Any
    box: dict          # "result" or "error", written by the thread
    on_copy: bool      # on the second trainer (the trainer itself is free)


class Session:
    def __init__(self, trainer: Trainer, max_keyframes: int | None = None,
                 keyframe_budget_bytes: int = MEMORY_BUDGET, disk_budget_bytes: int = DISK_BUDGET,
                 pool_budget_bytes: int = POOL_BUDGET, interval: int | None = None):
        self.trainer = trainer
        self.specs = trainer.phase_specs()
        t0 = time.perf_counter()
        first = trainer.get_state()
        self._kf_seconds = time.perf_counter() - t0
        self._kf_measured = False
        self._kf_bytes = max(1, state_nbytes(first))
        self._it_seconds: float | None = None     # measured cost of one iteration (fast play)
        self._play_seconds: float | None = None   # play_phase: time spent so far in this iteration's phases
        # keyframe spacing sized from measured costs, unless fixed (tests, --keyframe-interval)
        self.adaptive = max_keyframes is None and interval is None
        start = trainer.iteration
        self.store = KeyframeStore(keyframe_budget_bytes, disk_budget_bytes,
                                   interval=_pow2_floor(max(1, interval or trainer.keyframe_every)),
                                   max_count=max_keyframes)
        self.pool = NearPool(pool_budget_bytes)
        self.near_every = 1
        self.lines: dict[int, Line] = {0: Line(0, None, start, "", furthest=start)}
        self.line_id = 0
        self.notes: list = []                      # the student's notes: [line, iteration, text]
        self.lines_version = 0                     # bumped when a line is made, switched to or its settings change
        self.store.put((0, start), first, pin=True)
        self.history_version = 0  # bumped when the current line's history is rewritten (not merely appended)
        self.phase = 0
        self._gen: Iterator[PhaseEvent] | None = None
        self._start: tuple[tuple[int, int], dict] | None = None  # (key, state) at the start of this iteration
        self.events: dict[int, PhaseEvent] = {}  # phases of the current iteration
        # inspect the first block with parameters (the first Dense / Conv layer)
        self.selected_block = next((i for i, b in enumerate(trainer.blocks()) if b.n_params), 0)
        self.error: str | None = None
        self._rate_window: collections.deque[float] = collections.deque()   # iteration ends of the last 2 s
        self._foreign_state = False
        self._recent_iterations: list[float] = []
        # heavy labs: what the views showed at boundaries behind the cursor, {((line, it), block): view}, so
        # Shift+← restores state(it) and shows them at once; then ``owed`` holds state(it - 1) until the
        # trainer's caches are needed (settle() replays that one iteration)
        self._boundary_views: dict[tuple, tuple] = {}
        self.owed: dict | None = None
        self.prepare_views: bool | None = None     # None: where an iteration costs more than VIEWS_SECONDS
        self.evaluate_in = None   # start_thread(fn, name): held-out evaluations off the host's loop; None: at once
        # () -> a new trainer of this config: an evaluation off the loop runs on a copy of the weights, so
        # training and every press go on meanwhile (None, or a state too big to copy: on the trainer itself)
        self.make_trainer = None
        self._evaluator: Trainer | None = None
        self._evaluation: _Evaluation | None = None
        self._eval_seconds: float | None = None    # CPU time of the last held-out evaluation
        self._fast_iteration = False  # the last iteration ran whole without detail, as a replay runs it
        self._replaying = False       # seek_steps keeps the views near its target itself

    # ------------------------------------------------------------------ the current line
    @property
    def line(self) -> Line:
        return self.lines[self.line_id]

    @property
    def history(self) -> dict:
        return self.line.history

    @history.setter
    def history(self, value: dict) -> None:
        self.line.history = value

    @property
    def history_log(self) -> list:
        return self.line.history_log

    @history_log.setter
    def history_log(self, value: list) -> None:
        self.line.history_log = value

    @property
    def settings_log(self) -> list:
        return self.line.settings_log

    @settings_log.setter
    def settings_log(self, value: list) -> None:
        self.line.settings_log = value

    @property
    def furthest(self) -> int:
        return self.line.furthest

    @furthest.setter
    def furthest(self, value: int) -> None:
        self.line.furthest = value

    @property
    def keyframes(self) -> list[int]:
        """Iterations of the current line that have a keyframe (its own, and its parents' up to the fork)."""
        return sorted({it for line, it in self.store.keys() if self._visible(line, it)})

    @property
    def first_iteration(self) -> int:
        return min(it for (line, it) in self.store.pinned) if self.store.pinned else 0

    def _owner(self, iteration: int) -> tuple[int, int]:
        """The key of the current line's state at ``iteration``: a parent's where it is shared."""
        line = self.line
        while line.parent is not None and iteration <= line.fork:
            line = self.lines[line.parent]
        return line.id, iteration

    def _visible(self, line_id: int, iteration: int) -> bool:
        """Is the state (line_id, iteration) also the current line's state at that iteration?"""
        line, limit = self.line, None
        while True:
            lo = line.fork if line.parent is not None else -1
            if line.id == line_id:
                return iteration > lo and (limit is None or iteration <= limit)
            if line.parent is None:
                return False
            limit = line.fork if limit is None else min(limit, line.fork)
            line = self.lines[line.parent]

    # ------------------------------------------------------------------ cursor
    @property
    def iteration(self) -> int:
        return self.trainer.iteration

    @property
    def position(self) -> int:
        return self.iteration * len(self.specs) + self.phase

    def _apply_settings_at(self, iteration: int, trainer: Trainer | None = None) -> None:
        for it, name, value in self.settings_log:
            if it == iteration:
                (trainer or self.trainer).set_hyperparam(name, value)

    @_trainer_free
    def _begin_iteration(self, detail: bool) -> None:
        self.owed = None  # the trainer's state is exact: running on from it refreshes its caches
        self._apply_settings_at(self.iteration)
        if detail:
            self.keep_start()
        self._gen = self.trainer.run_iteration(detail=detail)
        self._fast_iteration = not detail  # ...until a phase of it is run in detail
        self.events = {}

    def keep_start(self) -> None:
        """Keep the state here, at a boundary, as the start of the iteration that follows: ← inside it, or
        just after it, restores this and replays only its phases before (not kept where one state alone
        would break the memory budget: ResNet-50). A detailed iteration keeps it; play keeps it for the
        last iteration before each snapshot, so a ← after a pause replays one iteration, not a gap."""
        if self._kf_bytes <= self.pool.budget // 2:
            key = self._owner(self.iteration)
            if self._start is None or self._start[0] != key:
                # the near pool's state at this boundary where it kept one (heavy labs, every iteration): the
                # same state, not a second copy of it (ResNet-20: 3.5 % of the engine's time while playing)
                self._start = (key, self.pool.get(key) if key in self.pool else self.trainer.get_state())

    def replay_from_kept_start(self) -> int:
        """How many iterations a ← would replay from the start kept by keep_start (a large number: none kept
        on this line)."""
        if self._start is None or self._start[0] != self._owner(self._start[0][1]) or self._start[0][1] > self.iteration:
            return 1 << 30
        return self.iteration - self._start[0][1]

    def _finish_iteration(self) -> None:
        self._gen = None
        self.phase = 0
        it = self.iteration
        record = dict(self.trainer.last_metrics)
        later = False
        if it > self.furthest or it not in self.history:
            if it % self.trainer.eval_every == 0:
                later = (self.evaluate_in is not None and not self._replaying
                         and (self._eval_seconds is None or self._eval_seconds >= EVALUATE_INLINE_SECONDS))
                if not later:
                    record.update(self._timed_evaluation(self.trainer))
            self.history[it] = record
            self.history_log.append(it)
        elif (it % self.trainer.eval_every == 0 and not any(k.startswith("heldout") for k in self.history[it])
              and not self._evaluation_pending(it)):
            self.history[it].update(self._timed_evaluation(self.trainer))
            self.history_log.append(it)
        self.furthest = max(self.furthest, it)
        key = self._owner(it)
        if self.store.on_grid(it) and key not in self.store:
            self._add_keyframe(it)
        elif it % self.near_every == 0 and key not in self.pool and self._pool_is_cheap():
            self.pool.put(key, self._timed_state(), key)
        if self._fast_iteration and not self._replaying and it > self.first_iteration and self.prepares_views:
            self._keep_view(self.trainer, key, it)  # play at full speed: the first Shift+← presses replay nothing
        self._rate_window.append(time.perf_counter())
        self._recent_rate_window()
        if later:   # last: the keyframe and the kept view above read the trainer too
            self._start_evaluation(it)

    # ------------------------------------------------------------------ held-out evaluation off the loop
    def _start_evaluation(self, it: int) -> None:
        """The held-out evaluation of iteration ``it`` in a thread of the host's (``evaluate_in``), so the
        engine's loop goes on answering presses and sending frames (the LSTM's takes over a second). It runs
        on a copy (``make_trainer``, made once, given this state), so training and every command go on; the
        figures are the same as evaluating here, and what evaluate() leaves for the views (a report) is
        taken over when it ends. Without a copy nothing may touch the trainer until ``finish_evaluation``
        (``trainer_busy``): the host holds play and waits for it before any command that would."""
        self.finish_evaluation()   # one at a time
        box: dict = {}
        on_copy = self.make_trainer is not None and self._kf_bytes <= EVALUATE_ON_COPY_BYTES
        state, make = (self.trainer.get_state(), self.make_trainer) if on_copy else (None, None)

        def run() -> None:
            try:
                if on_copy:
                    if self._evaluator is None:
                        self._evaluator = make()
                    self._evaluator.set_state(state)
                box["result"] = self._timed_evaluation(self._evaluator if on_copy else self.trainer)
            except BaseException as e:   # re-raised by finish_evaluation, in the loop
                box["error"] = e
        self._evaluation = _Evaluation(self.line, it, self.evaluate_in(run, "stepwise-evaluation"), box, on_copy)

    def _timed_evaluation(self, trainer: Trainer) -> dict:
        t0 = time.thread_time()   # this thread's CPU time: an evaluation waiting for a core is not slower
        out = trainer.evaluate()
        self._eval_seconds = time.thread_time() - t0
        return out

    @property
    def evaluating(self) -> bool:
        """A held-out evaluation runs in its thread (its figures are not filed yet)."""
        return self._evaluation is not None

    @property
    def trainer_busy(self) -> bool:
        """The evaluation under way runs on the trainer itself: nothing else may touch it."""
        return self._evaluation is not None and not self._evaluation.on_copy

    def _free_trainer(self) -> None:
        if self.trainer_busy:
            self.finish_evaluation()

    def _evaluation_pending(self, it: int) -> bool:
        """The figures of iteration ``it`` of this line are being computed in a thread."""
        e = self._evaluation
        return e is not None and e.line is self.line and e.iteration == it

    def evaluation_finished(self) -> bool:
        return self._evaluation is not None and not self._evaluation.thread.is_alive()

    def finish_evaluation(self) -> None:
        """Wait for the evaluation under way, if any, and file its figures with its iteration (in the line
        it was started on: the cursor may be on another by now)."""
        if self._evaluation is None:
            return
        line, it, thread, box, on_copy = self._evaluation
        thread.join()
        self._evaluation = None
        if "error" in box:
            raise box["error"]
        if on_copy:
            self.trainer.adopt_evaluation(self._evaluator)
        if it in line.history:
            line.history[it].update(box["result"])
            line.history_log.append(it)   # sent again, now with its held-out figures

    def _add_keyframe(self, it: int) -> None:
        self.store.put(self._owner(it), self._timed_state())

    def _timed_state(self) -> dict:
        """The trainer's state, its cost measured (the first copy, at start-up, is often slower)."""
        t0 = time.perf_counter()
        state = self.trainer.get_state()
        seconds = time.perf_counter() - t0
        self._kf_seconds = seconds if not self._kf_measured else 0.8 * self._kf_seconds + 0.2 * seconds
        self._kf_measured = True
        return state

    def _pool_is_cheap(self) -> bool:
        """Temporary keyframes during play only where they cost little (heavy labs: every iteration)."""
        if self._it_seconds is None or self.pool.capacity(self._kf_bytes) < 2:
            return False
        # heavy labs: a state per iteration is what lets Shift+← show the kept views
        share = 2.5 * KEYFRAME_SHARE if self.prepares_views else KEYFRAME_SHARE
        return self._kf_seconds <= share * self.near_every * self._it_seconds

    def _measure_iteration(self, seconds: float) -> None:
        """Size the keyframe spacing from what an iteration and a keyframe cost on this machine."""
        first = self._it_seconds is None
        self._recent_iterations = (self._recent_iterations + [seconds])[-15:]
        self._it_seconds = sorted(self._recent_iterations)[len(self._recent_iterations) // 2]  # the median
        if self.adaptive and (first or self.iteration % 16 == 0):
            t_it = max(self._it_seconds, 1e-6)
            self.near_every = _pow2_floor(max(1.0, NEAR_SECONDS / t_it))
            by_time = _pow2_floor(max(1.0, GAP_SECONDS / t_it))
            by_memory = 2 * _pow2_floor(max(1.0, RUN_HINT * self._kf_bytes / max(1, self.store.memory_budget)))
            by_cost = _pow2_floor(max(1.0, self._kf_seconds / (KEYFRAME_SHARE * t_it)))
            # as close as memory allows, no further apart than a half-second replay, never costly
            target = max(by_cost, min(by_time, by_memory))
            if first:
                self.store.narrow(target)  # the lab's default spacing may be wider than this machine needs
            while self.store.interval < target:
                self.store.widen()

    def _run_phase(self, detail: bool = True) -> PhaseEvent | None:
        if self._gen is None:
            self._begin_iteration(detail)
        try:
            event = next(self._gen)
        except StepwiseError:
            self._recover()
            raise
        self.events[event.index] = event
        if detail:
            self._fast_iteration = False
        self.phase = event.index + 1
        if self.phase == len(self.specs):
            # the generator has finished its work; exhaust it so iteration bookkeeping runs
            for _ in self._gen:
                pass
            self._finish_iteration()
        return event

    def _recover(self) -> None:
        """After a failed iteration (NaN loss): restore the state at its start.

        Always from a saved state: the failed iteration already drew its batch and its dropout
        masks, so the trainer's data cursor and generator are past the start of the iteration."""
        target = self.iteration
        self._gen = None
        for _ in self.seek_steps(target * len(self.specs), restore=True):
            pass

    # ------------------------------------------------------------------ commands
    def step_phase(self) -> PhaseEvent:
        return self._run_phase(detail=True)

    def step_iteration(self, detail: bool = False) -> None:
        """Finish the current iteration (or run a whole one when at a boundary)."""
        whole = self._gen is None
        t0 = time.perf_counter()
        if whole:
            self.trainer.keeps_earlier_views = False
            self._begin_iteration(detail)
        while True:
            try:
                next(self._gen)
            except StopIteration:
                break
            except StepwiseError:
                self._recover()
                raise
        if whole and not detail:
            self._measure_iteration(time.perf_counter() - t0)
        self._finish_iteration()

    def play_phase(self) -> PhaseEvent | None:
        """One phase of play at full speed: the fast generator of step_iteration (detail=False), advanced
        one phase at a time, so a slow iteration shows its phases (same numbers as step_iteration)."""
        if self._gen is None:
            self._play_seconds = 0.0   # timed only when played from its start, as step_iteration times it
            self.trainer.keeps_earlier_views = True   # ← may show an earlier phase of it (shows_from_caches)
            # a ← while this iteration plays restores its start and replays its phases before, not the
            # whole iteration before it too (ResNet-20: 130–300 ms more); a copy costs 2–4 % of an iteration
            self.keep_start()
        t0 = time.perf_counter()
        event = self._run_phase(detail=False)
        if self._play_seconds is not None:
            self._play_seconds += time.perf_counter() - t0
            if self.phase == 0:  # the iteration finished: its time sizes the keyframes
                self._measure_iteration(self._play_seconds)
                self._play_seconds = None
        return event

    def iteration_seconds(self) -> float | None:
        """The median time of a recent training iteration (None until one was timed)."""
        return self._it_seconds

    def run(self, iterations: int) -> None:
        for _ in range(iterations):
            self.step_iteration()

    def back_phase_target(self, position: int | None = None) -> int | None:
        """Where ← goes from ``position`` (the cursor by default); None at the first state."""
        position = self.position if position is None else position
        return position - 1 if position > self.first_iteration * len(self.specs) else None

    def back_iteration_target(self, position: int | None = None) -> int | None:
        """Where Shift+← goes: the start of this iteration, or of the one before at a boundary."""
        n = len(self.specs)
        it, phase = divmod(self.position if position is None else position, n)
        if phase:
            return it * n
        return (it - 1) * n if it > self.first_iteration else None

    def seek_target(self, iteration: int) -> int:
        return max(self.first_iteration, min(int(iteration), self.furthest)) * len(self.specs)

    def step_back_phase(self) -> None:
        target = self.back_phase_target()
        if target is not None:
            self._seek_position(target)

    def step_back_iteration(self) -> None:
        target = self.back_iteration_target()
        if target is not None and not self.back_to_prepared(target):
            self._seek_position(target)

    def seek(self, iteration: int) -> None:
        """Jump to the start of ``iteration`` (first..furthest)."""
        self._seek_position(self.seek_target(iteration), leave_views=True)

    def _seek_position(self, position: int, restore: bool = False, leave_views: bool = False) -> None:
        for _ in self.seek_steps(position, restore, leave_views):
            pass

    # ------------------------------------------------------------------ replay
    def _saved_states(self):
        """(key, getter) of every saved state the current line can start from."""
        if self._start is not None:
            yield self._start[0], (lambda s=self._start[1]: s)
        for key in self.pool.keys():
            yield key, (lambda k=key: self.pool.get(k))
        for key in self.store.keys():
            yield key, (lambda k=key: self.store.get(k))

    def _base_for(self, target_it: int, at_boundary: bool):
        """The latest saved state of the current line at or before ``target_it``. A boundary target
        (phase 0) is reached by replaying at least its last iteration, so the views show what that
        iteration computed, not what the trainer ran last."""
        limit = target_it - 1 if at_boundary and target_it > self.first_iteration else target_it
        best = None
        for key, getter in self._saved_states():
            if key[1] <= limit and self._visible(*key) and (best is None or key[1] > best[0][1]):
                best = (key, getter)
        if best is None:
            raise StepwiseError("No saved state lies before that iteration; it cannot be reached.")
        return best

    def _seek_base(self, target_it: int, target_phase: int, leave_views: bool = False):
        """Where a replay to (target_it, target_phase) starts: the latest saved state before it, or in
        heavy labs one further back when that leaves the views of the next Shift+← presses and the
        jump stays short (the idle second trainer could not prepare the gap below a keyframe in time)."""
        key, getter = self._base_for(target_it, at_boundary=target_phase == 0)
        low = target_it - VIEWS_AFTER_JUMP
        if not leave_views or target_phase or not self.prepares_views or low <= self.first_iteration or not self._it_seconds:
            return key, getter
        if all(self._has_view(j) for j in range(low + 1, key[1] + 1)):
            return key, getter  # the replay from ``key`` leaves the rest
        best = (key, getter)
        below = sorted(((k, g) for k, g in self._saved_states() if k[1] < key[1] and self._visible(*k)),
                       key=lambda kg: -kg[0][1])
        for k, g in below:  # one saved state further back at a time, while the jump stays short
            if (target_it - k[1]) * self._it_seconds > DEEP_JUMP_SECONDS:
                break
            best = (k, g)
            if k[1] < low:
                break  # leaves every view wanted
        return best

    def replay_seconds(self, position: int, leave_views: bool = False) -> float:
        """About how long reaching ``position`` will take (iterations to replay × their measured cost)."""
        target_it, target_phase = divmod(position, len(self.specs))
        key, _ = self._seek_base(target_it, target_phase, leave_views)
        start = key[1]
        if not self._foreign_state and (self.iteration, self.phase) <= (target_it, target_phase):
            start = max(start, self.iteration)
        return max(0, target_it - start) * (self._it_seconds or 0.0)

    def seek_steps(self, position: int, restore: bool = False, leave_views: bool = False) -> Iterator[tuple[int, int]]:
        """Move the cursor to ``position`` (iteration · phases + phase), yielding (done, total)
        iterations of replay after each replayed iteration; the cursor is exact when it ends.
        ``leave_views``: a jump, after which Shift+← is likely (see _seek_base)."""
        self._free_trainer()   # (a generator: at its first step, not when made)
        n = len(self.specs)
        target_it, target_phase = divmod(position, n)
        if self.owed is not None and position == self.position and not restore:
            self.settle()  # here already, but with the caches of another iteration
            return
        restore = restore or self._foreign_state
        self._foreign_state = False
        forward_ok = not restore and (self.iteration, self.phase) <= (target_it, target_phase)
        key, getter = self._seek_base(target_it, target_phase, leave_views)
        if forward_ok and (self.iteration > key[1] or (self.iteration == key[1] and self.phase)):
            pass  # going on from here replays less than from any saved state
        else:
            self.trainer.set_state(getter())
            self.owed = None
            self._gen = None
            self.phase = 0
            self.events = {}
        total = target_it - self.iteration
        done = 0
        # temporary keyframes near the target: the next ← or Shift+← starts from one of them
        near_from = target_it - self.near_every * max(0, self.pool.capacity(self._kf_bytes) - 1)
        while self.iteration < target_it:
            self._replaying = True
            try:
                self.step_iteration(detail=False)
            finally:
                self._replaying = False
            done += 1
            it = self.iteration
            k = self._owner(it)
            if (it >= near_from and it % self.near_every == 0 and k not in self.store and k not in self.pool):
                self.pool.put(k, self.trainer.get_state(), (self.line_id, target_it))
            if it >= near_from and self.prepares_views:
                self._keep_view(self.trainer, k, target_it)
            if self.iteration < target_it:
                yield done, total
        for _ in range(target_phase - self.phase):
            self._run_phase(detail=True)

    def _has_state(self, iteration: int) -> bool:
        key = self._owner(iteration)
        return key in self.pool or key in self.store or (self._start is not None and self._start[0] == key)

    def prefetch_steps(self, make_trainer) -> Iterator[None] | None:
        """Where one iteration costs much (LSTM, ResNet), fill the pool just behind the cursor while
        the student looks, so the next Shift+← presses each replay one iteration, not a whole gap.
        The work is done by a second trainer (``make_trainer()``, made once), so the cursor's own
        trainer and its caches are never touched. None when there is nothing worth doing."""
        t_it = self._it_seconds
        views = self.prepares_views
        if t_it is None or self._kf_bytes > 64 << 20 or (not views and self.store.interval * t_it < 0.25):
            return None
        cap = self.pool.capacity(self._kf_bytes)
        step = self.near_every
        if cap < 4:
            return None
        lo = max(self.first_iteration, self.iteration - step * (cap - 2))
        # a state at each boundary, and (heavy labs) the view there, wherever the state before it is kept too
        missing = [j for j in range(self.iteration - 1, lo - 1, -1) if j % step == 0
                   and (not self._has_state(j) or (views and j > lo and not self._has_view(j)))]
        if not missing:
            return None
        return self._prefetch(make_trainer, missing[0], set(missing), views)

    def _prefetch(self, make_trainer, top: int, wanted: set[int], views: bool) -> Iterator[None]:
        if getattr(self, "_clone", None) is None:
            self._clone = make_trainer()
        clone = self._clone
        key, getter = self._base_for(top, at_boundary=views)  # a view needs the iteration that ends there
        clone.set_state(getter())
        cursor = (self.line_id, self.iteration)
        yield
        while clone.iteration < top:
            self._apply_settings_at(clone.iteration, clone)
            for _ in clone.run_iteration(detail=False):
                yield  # a phase at a time: a press waits for one phase, not a whole LSTM iteration
            it = clone.iteration
            if it in wanted:
                if not self._has_state(it):
                    self.pool.put(self._owner(it), clone.get_state(), cursor)
                if views and not self._has_view(it):
                    self._keep_view(clone, self._owner(it), self.iteration)
            yield

    # ------------------------------------------------------------------ prepared views (heavy labs)
    @property
    def prepares_views(self) -> bool:
        if self.prepare_views is not None:
            return self.prepare_views
        return self._it_seconds is not None and self._it_seconds >= VIEWS_SECONDS and self.near_every == 1

    def _has_view(self, iteration: int) -> bool:
        return (self._owner(iteration), self.selected_block) in self._boundary_views

    def _boundary_view(self, trainer: Trainer, block: int) -> tuple:
        """What a snapshot shows at an iteration boundary: (block data, view data, last metrics)."""
        return (_phase_data(trainer, self.specs, block, reached=None), trainer.view_data(block),
                dict(trainer.last_metrics))

    def _keep_view(self, trainer: Trainer, key: tuple, cursor: int) -> None:
        """Keep the view ``trainer`` shows now (at boundary ``key``) for Shift+← to show later."""
        self._boundary_views[(key, self.selected_block)] = self._boundary_view(trainer, self.selected_block)
        self._prune_views(cursor)

    def _prune_views(self, cursor: int) -> None:
        limit = self.pool.capacity(self._kf_bytes) + 2
        while len(self._boundary_views) > limit:
            far = max(self._boundary_views, key=lambda k: abs(k[0][1] - cursor))
            del self._boundary_views[far]

    def prepared_view(self) -> tuple | None:
        """The view kept for the cursor's boundary (None inside an iteration or when none is kept): what
        a snapshot shows there, also while the trainer's caches are another iteration's (``owed``)."""
        if self.phase or self._gen is not None:
            return None
        return self._boundary_views.get((self._owner(self.iteration), self.selected_block))

    @_trainer_free
    def view_before(self, phase: int, histograms: bool = True) -> tuple | None:
        """What a snapshot showed at ``phase`` of this iteration, rebuilt from the trainer's caches while it is
        further on in it (← while playing: no replay from the iteration's start), where the trainer can do
        so exactly (Trainer.shows_from_caches); None otherwise."""
        t = self.trainer
        if self._gen is None or self.owed is not None or not 0 < phase < self.phase or not t.shows_from_caches(phase):
            return None
        t.histograms = histograms
        try:
            with t.reached_at(phase):
                return (_phase_data(t, self.specs, self.selected_block, reached=phase),
                        t.view_data(self.selected_block), dict(t.last_metrics))
        finally:
            t.histograms = True

    def forget_views(self) -> None:
        """A request changed what the views show: replay rather than show a kept view."""
        self.settle()
        self._boundary_views.clear()

    def _state_for(self, key: tuple):
        if self._start is not None and self._start[0] == key:
            return self._start[1]
        if key in self.pool:
            return self.pool.get(key)
        if key in self.store:
            return self.store.get(key)
        return None

    def prepared_view_at(self, position: int) -> bool:
        """Whether back_to_prepared(position) would succeed."""
        it, phase = divmod(position, len(self.specs))
        return (not phase and it > self.first_iteration
                and (self._owner(it), self.selected_block) in self._boundary_views
                and self._has_state(it) and self._has_state(it - 1))

    @_trainer_free
    def back_to_prepared(self, position: int) -> bool:
        """Shift+← to a boundary whose view is kept: restore its state and owe the iteration before
        it (its caches). False (nothing changed) when the view or either state is not kept."""
        if not self.prepared_view_at(position):
            return False
        it = position // len(self.specs)
        state, before = self._state_for(self._owner(it)), self._state_for(self._owner(it - 1))
        self.trainer.set_state(state)
        self._gen, self.phase, self.events = None, 0, {}
        self._foreign_state = False
        self.owed = before
        return True

    def settle(self) -> None:
        """Pay what back_to_prepared owes: replay the iteration that ends at the cursor, so the
        trainer's caches (what a new view or a request reads) are this boundary's."""
        if self.owed is None:
            return
        before, self.owed = self.owed, None
        self.trainer.set_state(before)
        self._gen, self.phase, self.events = None, 0, {}
        self.step_iteration(detail=False)

    # ------------------------------------------------------------------ settings and branches
    def select_block(self, index: int) -> None:
        self.selected_block = int(index)

    @_trainer_free
    def set_hyperparam(self, name: str, value: float) -> None:
        """Takes effect from the next iteration boundary. If the cursor is back in time, the old
        future is kept as a line of its own and the change starts a new line from here."""
        value = float(value)
        self.forget_views()
        old = self.trainer.hyperparams().get(name)
        # the trainer checks it now (StepwiseError for an unknown name or a bad value): a bad value
        # in the log would stop every later iteration and every replay through this point
        self.trainer.set_hyperparam(name, value)
        at = self.iteration + (1 if self.phase else 0)
        if self.phase:
            self.trainer.set_hyperparam(name, old)  # mid-iteration: from the next boundary on
        if self.furthest > at:
            self.finish_evaluation()   # the new line copies this one's figures up to ``at``
            self._branch(at, name, old, value)
        self.settings_log = [e for e in self.settings_log if e[0] < at or (e[0] == at and e[1] != name)]
        self.settings_log.append((at, name, value))
        self.lines_version += 1  # the timeline marks live setting changes (lines_info "settings")

    def _branch(self, at: int, name: str, old: float | None, value: float) -> None:
        parent = self.line
        if not parent.label:
            parent.label = f"{name} {old:g}" if isinstance(old, (int, float)) else "first run"
        new_id = max(self.lines) + 1
        history = {k: dict(v) for k, v in parent.history.items() if k <= at}
        self.lines[new_id] = Line(new_id, parent.id, at, f"{name} {value:g} from iteration {at}",
                                  settings_log=[e for e in parent.settings_log if e[0] < at],
                                  history=history, history_log=sorted(history), furthest=at)
        self.line_id = new_id
        self.history_version += 1
        self.lines_version += 1

    @_trainer_free
    def switch_line(self, line_id: int) -> int:
        """Make another line current; returns the position to seek to (the same iteration where
        that line has it, else its furthest)."""
        if line_id not in self.lines:
            raise StepwiseError(f"There is no branch {line_id}; pick one from the timeline.")
        it = self.iteration
        self._gen = None
        self.phase = 0
        self._start = None
        self._foreign_state = True  # the trainer holds the other line's state: restore, never go on from it
        self.line_id = line_id
        self.history_version += 1
        self.lines_version += 1
        return max(self.first_iteration, min(it, self.furthest)) * len(self.specs)

    def lines_info(self) -> list[dict]:
        return [{"id": l.id, "parent": l.parent, "fork": l.fork, "label": l.label or "this run",
                 "furthest": l.furthest, "current": l.id == self.line_id,
                 "settings": [list(e) for e in l.settings_log]} for l in self.lines.values()]

    # ------------------------------------------------------------------ saving
    @_after_evaluation
    def to_tree(self, config: dict, keyframe_budget_bytes: int = 256 << 20) -> dict:
        """The session as a plain tree of copies (settings, every line's history and settings, the
        state at the start of the current iteration and, within a size budget, keyframes), safe to
        write from another thread with ``engines.state_io.save_tree``. The cursor does not move."""
        here_phase = self.phase
        key = self._owner(self.iteration)
        if self.phase and self._start is not None and self._start[0] == key:
            state = self._start[1]
        elif self.phase:
            state = self._state_at(self.iteration)
        else:
            state = self.trainer.get_state()
        # keyframes: the newest first, within the budget; the cursor's own state always
        frames = {key: state}
        used = state_nbytes(state)
        for k in sorted(self.store.keys(), key=lambda k: -k[1]):
            if k in frames:
                continue
            size = self.store.sizes.get(k, 0)
            if used + size > keyframe_budget_bytes and k not in self.store.pinned:
                continue
            frames[k] = self.store.get(k)
            used += size
        lines = {l.id: {"parent": -1 if l.parent is None else l.parent, "fork": l.fork, "label": l.label,
                        "settings_log": [list(e) for e in l.settings_log],
                        "history": {int(k): dict(v) for k, v in l.history.items()}, "furthest": l.furthest}
                 for l in self.lines.values()}
        return {"config": {k: v for k, v in config.items() if k not in ("notify", "load")},
                "format": "stepwise-session-2", "line": self.line_id, "iteration": self.iteration,
                "phase": here_phase, "selected_block": self.selected_block,
                "lines": lines, "keyframes": [[k[0], k[1], v] for k, v in frames.items()],
                "first": self.first_iteration, "notes": [list(n) for n in self.notes]}

    def _state_at(self, iteration: int) -> dict:
        """The state at the start of ``iteration`` of the current line, without moving the cursor."""
        here = self.position
        self._seek_position(iteration * len(self.specs), restore=True)
        state = self.trainer.get_state()
        self._seek_position(here, restore=True)
        return state

    def save(self, path: str, config: dict, keyframe_budget_bytes: int = 256 << 20) -> None:
        """The session as it is, so that going back still works after reopening."""
        from engines.state_io import save_tree
        save_tree(path, self.to_tree(config, keyframe_budget_bytes))

    @classmethod
    def open(cls, path: str, make_trainer, replay: bool = True) -> tuple["Session", dict]:
        """A Session from a file written by save(); ``make_trainer(config)`` builds the trainer.

        With ``replay=False`` the cursor stays at the saved state it starts from and
        ``session.pending_position`` says where the saved cursor was (the engine process replays
        to it in slices, with progress)."""
        from engines.state_io import load_session_tree
        tree = load_session_tree(path)  # read, and its shape checked: one sentence for a bad file
        try:
            config = dict(tree["config"])
            trainer = make_trainer(config)
            if tree.get("format") == "stepwise-session-2":
                frames = {(int(l), int(it)): v for l, it, v in tree["keyframes"]}
                lines = {int(i): Line(int(i), None if int(d["parent"]) < 0 else int(d["parent"]), int(d["fork"]),
                                      str(d["label"]), [(int(a), str(b), float(c)) for a, b, c in d["settings_log"]],
                                      {int(k): dict(v) for k, v in d["history"].items()}, [], int(d["furthest"]))
                         for i, d in tree["lines"].items()}
                line_id, phase, first = int(tree["line"]), int(tree["phase"]), int(tree["first"])
            else:  # stepwise-session-1: one line
                frames = {(0, int(k)): v for k, v in tree["keyframes"].items()}
                lines = {0: Line(0, None, min(k[1] for k in frames), "",
                                 [tuple(e) for e in tree["settings_log"]],
                                 {int(k): v for k, v in tree["history"].items()}, [], int(tree["furthest"]))}
                line_id, phase, first = 0, 0, min(k[1] for k in frames)
            iteration = int(tree["iteration"])
            start_key = min(frames, key=lambda k: k[1])
            trainer.set_state(frames[start_key])
            session = cls(trainer)
            session.store.close()
            for k, v in frames.items():
                session.store.put(k, v, pin=k[1] == first)
            for line in lines.values():
                line.history_log = sorted(line.history)
            if line_id not in lines:
                raise ValueError("line")
            session.lines, session.line_id = lines, line_id
            furthest = session.furthest
            if not (first <= iteration <= furthest) or not 0 <= phase < len(session.specs):
                raise ValueError("cursor")
            session.selected_block = int(tree["selected_block"])
            session.notes = [[int(a), int(b), str(c)] for a, b, c in tree.get("notes", [])]
            session.pending_position = iteration * len(session.specs) + phase
            if replay:
                session._seek_position(session.pending_position)
        except StepwiseError:
            raise
        except Exception:
            raise StepwiseError(f"The session in {path} is damaged or was written by another version of "
                                "Stepwise; start a new run instead.") from None
        return session, config

    @_after_evaluation
    def close(self) -> None:
        """Free the keyframes and remove the cache folder on disk."""
        self._clone = self._evaluator = None
        self._boundary_views.clear()
        self.owed = None
        self.store.close()
        self.pool.clear()
        self._start = None

    # ------------------------------------------------------------------ reading
    def _recent_rate_window(self) -> collections.deque[float]:
        """The iteration ends of the last 2 s, the older ones dropped off the front (rebuilding a list at
        every iteration was 8 % of a char-RNN's time)."""
        window, now = self._rate_window, time.perf_counter()
        while window and now - window[0] >= 2.0:
            window.popleft()
        return window

    def iterations_per_second(self) -> float:
        window = self._recent_rate_window()
        if len(window) < 2:
            return 0.0
        return (len(window) - 1) / max(window[-1] - window[0], 1e-9)

    def label_at(self, phase: int) -> str:
        """The phase just run; at an iteration boundary, the update that ended the iteration."""
        if phase == 0:
            if self.iteration == 0:
                return "ready: next is " + self.specs[0].label
            update = self.trainer.phase_specs()[-1].label  # fresh: it names the rate, which may have changed
            return f"{update} — applied; next: {self.specs[0].label}"
        return self.specs[phase - 1].label

    def current_label(self) -> str:
        return self.label_at(self.phase)

    @_trainer_free
    def block_phase_data(self, block: int, histograms: bool = True) -> dict[str, Any]:
        """What the phases of this iteration computed for ``block``, keyed by phase kind.

        Phases not reached yet in the current iteration are left out; at an iteration
        boundary everything comes from the iteration just completed. ``histograms``: the batch
        histograms too (what the Session keeps for going back always has them)."""
        self.settle()
        if self.iteration == 0 and self.phase == 0:
            return {}
        self.trainer.histograms = histograms
        try:
            return _phase_data(self.trainer, self.specs, block, reached=self.phase or None)
        finally:
            self.trainer.histograms = True


def _phase_data(trainer: Trainer, specs, block: int, reached: int | None) -> dict[str, Any]:
    """``trainer``'s phase data for ``block``, keyed by phase kind, of the phases before ``reached``
    (None: all of them, at an iteration boundary)."""
    out: dict[str, Any] = {}
    for i, spec in enumerate(specs):
        if spec.block not in (block, -1):
            continue
        if reached is not None and i >= reached:
            continue  # not reached yet in this iteration
        out.setdefault(spec.kind, {}).update(trainer.phase_data(i, block))
    return out
