"""The engine side of the window, without Qt and without processes: commands in, messages out.

``SessionHost`` turns commands into Session calls and produces messages: the latest snapshot at
most ~30 times a second, replies, task progress, errors. It is tested in-process; in the app it
runs in the engine process (visualizer/worker.py), which hands it a way to run work in a thread.

Messages are (kind, payload) tuples of plain Python / NumPy data; snapshots are copies.
"""
from __future__ import annotations

import math
import os
import time
import traceback
from pathlib import Path
from typing import Any, Callable

import numpy as np

from engines import StepwiseError
from visualizer.keyframes import _pid_alive


# a snapshot clock a little faster than the 30 frames a second asked for: a window busy for one frame
# (an axis laid out again, a page shown) drops that one, and 30 a second on the clock left it at 26–29
SNAPSHOT_INTERVAL = 1.0 / 36.0
BLOCK_DATA_EVERY = 0.25   # s: while playing, the selected block's arrays (the costly part) at most 4 times a second
# play's first block arrays come this long after the press: the first frames of play draw the curves' first
# points (their items, every axis laid out anew); the block's panels still show the paused state, which
# was right until then (both in one frame: the longest stall of play, 120–190 ms in the MLP window)
FIRST_BLOCK_DATA_AFTER = 0.12
PHASE_PLAY_AFTER = 0.05  # an iteration slower than this plays phase by phase at max speed
KEEP_START_REPLAY_S = 0.02   # s: at most this much replay (and one iteration) for a ← after a pause in fast play
SPEEDS: dict[str, tuple[str, float | None]] = {
    "1 phase/s": ("phase", 1.0),
    "4 phases/s": ("phase", 4.0),
    "1 it/s": ("iteration", 1.0),
    "10 it/s": ("iteration", 10.0),
    "100 it/s": ("iteration", 100.0),
    "max": ("iteration", None),
}
DEFAULT_SPEED = "max"
AUTOSAVE_EVERY_S = 45.0                 # wall time between autosaves while there is new history
AUTOSAVE_KEYFRAME_BYTES = 64 << 20      # keyframes kept in an autosave (the current state always is)


def autosave_dir() -> Path:
    """$STEPWISE_AUTOSAVE, else $STEPWISE_CACHE/autosave, else ($XDG_CACHE_HOME or ~/.cache)/stepwise/autosave."""
    if os.environ.get("STEPWISE_AUTOSAVE"):
        return Path(os.environ["STEPWISE_AUTOSAVE"]).expanduser()
    if os.environ.get("STEPWISE_CACHE"):
        return Path(os.environ["STEPWISE_CACHE"]).expanduser() / "autosave"
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "stepwise" / "autosave"


def autosave_path(ui_pid: int | None = None) -> Path:
    """One autosave per window process (its pid in the name, so a live window's file is never
    mistaken for a crashed one's)."""
    return autosave_dir() / f"autosave-{os.getpid() if ui_pid is None else ui_pid}.stepwise.npz"


def leftover_autosaves() -> list[Path]:
    """Autosaves of windows that are no longer running (a crash, a kill): newest first."""
    folder = autosave_dir()
    if not folder.is_dir():
        return []
    out = []
    for p in folder.glob("autosave-*.stepwise.npz"):
        try:
            pid = int(p.name.split("-")[1].split(".")[0])
        except (IndexError, ValueError):
            continue
        if pid != os.getpid() and not _pid_alive(pid):  # the keyframe store's test, for its folders
            out.append(p)
    return sorted(out, key=lambda p: p.stat().st_mtime, reverse=True)


REPLAY_SLICE = 0.025     # seconds of replay between two looks at the command pipe
PROGRESS_AFTER = 0.3     # a replay longer than this shows its progress
# idle this long before filling the pool behind the cursor: a prefetch phase (an LSTM's backward through
# time, 50–90 ms) makes a press wait for it, and a student often plays again, or steps, right after a pause;
# after a step back the next one is likely, and prefetch starts at once
PREFETCH_AFTER = 0.6
GOING_BACK = ("back_phase", "back_iteration", "seek", "switch_line")
VIEW_SLICE_S = 0.006     # a snapshot's share of work that can wait (the text labs' live sample: 200 ms in all)


def session_budgets(config: dict) -> dict:
    """Keyframe budgets from the config: ``keyframe_disk_gb`` (the disk tier), ``keyframe_interval``
    (checked against their one declaration, engines/options.py APP_OPTIONS)."""
    from engines.options import app_option
    out = {}
    if config.get("keyframe_disk_gb") is not None:
        out["disk_budget_bytes"] = int(app_option("keyframe_disk_gb").check(config["keyframe_disk_gb"]) * (1 << 30))
    if config.get("keyframe_interval") is not None:
        out["interval"] = int(app_option("keyframe_interval").check(config["keyframe_interval"]))
    return out


def downsample_history(history: dict, points: int = 400) -> list:
    """(iteration, metrics) of a line's history, at most ``points`` of them, for a faded curve."""
    its = sorted(history)
    step = max(1, len(its) // points)
    keep = its[::step]
    if its and keep[-1] != its[-1]:
        keep.append(its[-1])
    return [(it, history[it]) for it in keep]


class SessionHost:
    """Commands in, messages out. ``send(kind, payload)`` delivers a message."""

    def __init__(self, send: Callable[[str, Any], None], ready_for_snapshot: Callable[[], bool] = lambda: True,
                 autosave: str | os.PathLike | None = None, autosave_every: float = AUTOSAVE_EVERY_S,
                 start_thread: Callable[[Callable[[], None], str], Any] | None = None):
        self.send = send
        # runs the autosave write off the engine's loop (worker.start_thread); None: right here, at once
        self.start_thread = start_thread
        self.autosave = Path(autosave) if autosave else None   # None: no autosave (tests, the CLI)
        self.autosave_every = autosave_every
        self._autosave_thread = None   # what start_thread returned (a Thread), while one runs
        self._autosaved: tuple | None = None       # (session, line, history version, length) last written
        self._last_autosave = time.perf_counter()
        self._autosave_failed = False
        self.ready_for_snapshot = ready_for_snapshot  # False while the UI has not taken the last snapshot
        self.session = None
        self.config: dict = {}
        self.playing = False
        self.speed = DEFAULT_SPEED
        self.run_to: int | None = None
        self.tasks: dict[str, Any] = {}
        self._next_step = 0.0
        self._next_snapshot = 0.0   # when the next snapshot is due (perf_counter)
        self._answer = False        # a command came: the next snapshot goes out at once
        self._last_snap: dict | None = None   # sent last (whole view): sent again while an evaluation runs
        self._drawn_block: int | None = None  # the block whose arrays the last full snapshot held
        self._dirty = False
        self._sent_version = -1
        self._sent_log = 0
        self._sent_lines = -1
        self.replay: dict | None = None   # a seek running in slices: {"steps", "target", "started", ...}
        self.virtual: int | None = None   # the phase shown while the engine is further on in the iteration
        self._views: dict[tuple, tuple] = {}  # (line, iteration, phase, block) -> what a snapshot showed there
        self.prefetch = None                  # filling the pool behind the cursor while idle
        self._prefetched_at = None
        self._busy_at = -math.inf             # the last command or work done
        self._prefetch_after = 0.0            # idle seconds before prefetch (PREFETCH_AFTER but after going back)
        self.shown: dict = {"block_data": True, "histograms": True}   # what the visible view draws ("view")
        self._block_data_at = -math.inf       # when the block's arrays were last sent
        self._sent_parts: dict = {}           # view_data part -> the object last sent (sent again only when new)
        self._sent_block_data = None          # the block's arrays last sent

    # ------------------------------------------------------------------ set-up
    def configure(self, config: dict) -> bool:
        """Build a new trainer and Session; on a bad config keep the current ones."""
        from engines.labs import make_trainer
        from visualizer.session import Session
        config = dict(config)
        notes: list[str] = []
        config["notify"] = notes.append
        try:
            if config.get("session"):
                # Session.open checks the tree's shape first: a cursor past what the file recorded is
                # refused, not replayed
                session, saved_config = Session.open(config["session"], lambda c: make_trainer(dict(c, notify=notes.append)),
                                                     replay=False)
                config = saved_config
                trainer = session.trainer
            else:
                trainer = make_trainer(config)
                if config.get("load"):
                    trainer.load(config["load"])
                session = Session(trainer, **session_budgets(config))
        except StepwiseError as e:
            self.send("error", str(e))
            return False
        except Exception as e:  # a bug must not kill the engine process at start-up: say so, keep the old run
            traceback.print_exc()
            self.send("error", f"Internal error ({type(e).__name__}: {e}) while starting the run; the previous "
                               "run was kept. Please report this with the settings that led to it.")
            return False
        config.pop("notify", None)
        trainer.config.pop("notify", None)
        self.config = dict(config, engine=trainer.engine)
        made = dict(self.config)
        session.make_trainer = lambda: make_trainer(dict(made))   # a second trainer: prefetch, evaluations
        if self.session is not None:
            self.session.close()
        self.session = session
        trainer.view_slice_s = VIEW_SLICE_S
        self.replay = None
        self.virtual = None
        self._views.clear()
        self._sent_lines = -1
        self.speed = getattr(trainer, "default_speed", DEFAULT_SPEED)
        self.playing = False
        self.run_to = None
        self.tasks.clear()
        self._sent_version = -1
        self._sent_log = 0
        self._sent_parts.clear()
        self._sent_block_data = None
        self._block_data_at = -math.inf
        for note in notes:
            self.send("info", note)
        self.send("ready", self.ready_info())
        pending = getattr(session, "pending_position", None)
        if pending is not None and pending != session.position:
            self._start_replay(pending, "reopening the session at")
        self._dirty = True
        self.flush(force=True)
        return True

    def close(self) -> None:
        """Free the session's keyframes and remove its cache folder."""
        if self.session is not None:
            self.session.close()

    def ready_info(self) -> dict:
        s = self.session
        t = s.trainer
        config = {k: v for k, v in self.config.items() if k not in ("load", "session")}
        return {"lab": t.lab, "engine": t.engine, "config": {**config, **t.settings()},
                "metric_labels": t.metric_labels(),
                "blocks": [dict(vars(b)) for b in t.blocks()],
                "phases": [(p.kind, p.block, p.label) for p in s.specs], "hyperparams": t.hyperparams(),
                "speed": self.speed}

    # ------------------------------------------------------------------ commands
    # what a held-out evaluation on the trainer itself (in its thread: a state too big to copy) lets through;
    # any other command waits for it ("select": the diagram shows the new block at once, its arrays follow
    # when the evaluation has ended). An evaluation on a copy lets everything through.
    DURING_EVALUATION = ("pause", "play", "toggle", "view", "speed", "select")

    def handle(self, cmd: str, arg: Any = None) -> None:
        self._stop_prefetch()
        was_playing = self.playing
        try:
            if self.session is not None and self.session.trainer_busy and cmd not in self.DURING_EVALUATION:
                self.session.finish_evaluation()
            self._handle(cmd, arg)
            if self.playing and not was_playing:
                self._block_data_at = time.perf_counter() - BLOCK_DATA_EVERY + FIRST_BLOCK_DATA_AFTER
        except StepwiseError as e:
            self.playing = False
            self.send("error", str(e))
        except Exception as e:  # an internal error must not kill the worker: report it, keep state
            traceback.print_exc()
            self.playing = False
            self.send("error", f"Internal error ({type(e).__name__}: {e}); the session was paused. "
                               "Please report this with the steps that led to it.")
        self._dirty = True
        self._answer = True   # the next snapshot answers a press: sent at once, not on the 30 Hz clock
        self._busy_at = time.perf_counter()
        self._prefetch_after = 0.0 if cmd in GOING_BACK else PREFETCH_AFTER

    # while a replay runs in slices: these leave it running (a seek replaces it), these cancel it
    # (the cursor stays where the replay had got to), and every other one lets it finish first
    KEEP_REPLAY = ("seek", "back_phase", "back_iteration", "select", "speed", "switch_line", "cancel_task", "notes",
                   "view")
    CANCEL_REPLAY = ("pause", "play", "toggle", "run_to", "step_phase", "step_iteration")
    # commands that need the engine exactly at the phase shown (not further on in the iteration)
    NEED_EXACT = ("hyper", "command", "save", "save_session", "select")

    def _handle(self, cmd: str, arg: Any) -> None:
        if cmd == "configure":
            self.configure(arg)
            return
        s = self.session
        if s is None:
            raise StepwiseError("No lab is loaded yet; choose a lab first.")
        if self.replay is not None and cmd in self.CANCEL_REPLAY:
            self._cancel_replay()
        elif self.replay is not None and cmd not in self.KEEP_REPLAY:
            self.finish_replay()
        if cmd in self.NEED_EXACT and not s.trainer_busy:
            # a request that reads only the parameters needs no replay of the iteration a kept view owes
            self._resync(settle=not (cmd == "command" and not s.trainer.reads_caches(arg[0])))
        if cmd == "play":
            self._drop_virtual()
            self.playing, self.run_to = True, None
        elif cmd == "pause":
            self.playing = False
        elif cmd == "toggle":
            self._drop_virtual()
            self.playing, self.run_to = not self.playing, None
        elif cmd == "run_to":
            self._drop_virtual()
            self.run_to = int(arg)
            self.playing = s.iteration < self.run_to
        elif cmd == "step_phase":
            self.playing = False
            self._step_phase()
        elif cmd == "step_iteration":
            self.playing = False
            self._drop_virtual()
            s.step_iteration()
        elif cmd == "back_phase":
            self.playing = False
            self._back(phase=True)
        elif cmd == "back_iteration":
            self.playing = False
            self._back(phase=False)
        elif cmd == "seek":
            self.playing = False
            self._drop_virtual()
            self._start_replay(s.seek_target(int(arg)), "going back to" if int(arg) < s.iteration else "going to",
                               leave_views=True)
        elif cmd == "switch_line":
            self.playing = False
            self._cancel_replay()
            self._resync()
            self._views.clear()
            self._start_replay(s.switch_line(int(arg)), "switching branch: going to")
        elif cmd == "speed":
            if arg not in SPEEDS:
                raise StepwiseError(f"Unknown speed {arg!r}.")
            self.speed = arg
        elif cmd == "select":
            s.select_block(int(arg))
            self._block_data_at = -math.inf   # the new block's arrays go with the next snapshot
        elif cmd == "view":  # what the visible view draws: {"block_data", "histograms": bool}; computed only that
            arg = dict(arg)
            shown = {"block_data": bool(arg.get("block_data", True)), "histograms": bool(arg.get("histograms", True))}
            if shown["histograms"] and not self.shown["histograms"]:
                self._views.clear()   # kept without them
            self.shown = shown
            self._block_data_at = -math.inf
        elif cmd == "hyper":
            name, value = arg
            s.set_hyperparam(name, float(value))
            self._views.clear()
        elif cmd == "command":
            name, args = arg
            if s.trainer.reads_caches(name):
                s.forget_views()
            reply = s.trainer.command(name, dict(args))
            self._views.clear()
            if isinstance(reply, dict) and "task" in reply:
                self.tasks[name] = reply["task"]
            else:
                self.send("reply", (name, reply))
        elif cmd == "cancel_task":
            if self.tasks.pop(arg, None) is not None:
                self.send("task", (arg, {"cancelled": True}))
        elif cmd == "save":
            s.trainer.save(arg)
            self.send("info", f"Saved the model to {arg}.")
        elif cmd == "load":
            if self.configure(dict(self.config, load=arg)):
                self.send("info", f"Loaded the model from {arg}: training goes on from its weights, "
                                  "with a new history from iteration 0.")
        elif cmd == "save_session":
            s.save(arg, self.config)
            self.send("info", f"Saved the session to {arg}; open it again with File → Open session.")
        elif cmd == "notes":  # the student's notes: [line, iteration, text], saved with the session
            s.notes = [[int(a), int(b), str(c)] for a, b, c in arg]
            s.lines_version += 1
        elif cmd == "open_session":
            self.configure({"session": arg})
        else:
            raise StepwiseError(f"Unknown command {cmd!r}.")

    # ------------------------------------------------------------------ going back
    def shown_phase(self) -> int:
        return self.session.phase if self.virtual is None else self.virtual

    def _view_key(self, phase: int) -> tuple:
        s = self.session
        return (s.line_id, s.iteration, phase, s.selected_block)

    def _drop_virtual(self) -> None:
        """Go on from where the engine really is (play, Shift+→: the rest of the iteration is the same)."""
        self.virtual = None

    def _resync(self, settle: bool = True) -> None:
        """Bring the engine exactly to what is shown: replay this iteration's first phases (← inside
        an iteration), or the iteration that ends here (a kept view after Shift+←)."""
        s = self.session
        if self.virtual is not None:
            target = s.iteration * len(s.specs) + self.virtual
            self.virtual = None
            s._seek_position(target)  # noqa: SLF001 — at most one iteration's phases
        if settle:
            s.settle()

    def _step_phase(self) -> None:
        s = self.session
        if self.virtual is not None:
            nxt = self.virtual + 1
            if nxt == s.phase:
                self.virtual = None
                return
            if self._show_earlier(nxt):
                return
            self._resync()
        s.step_phase()

    def _show_earlier(self, phase: int) -> bool:
        """Show ``phase`` of this iteration while the engine is further on in it (``virtual``): its view as
        shown before, or rebuilt from the trainer's caches where that is exact (a heavy lab's ← while
        playing: an LSTM replayed up to 290 ms of its iteration). False: it has to be replayed."""
        s = self.session
        key = self._view_key(phase)
        if key not in self._views:
            kept = s.view_before(phase, histograms=self.shown["histograms"])
            if kept is None:
                return False
            self._views = {k: v for k, v in self._views.items() if k[:2] == key[:2]}
            self._views[key] = kept
        self.virtual = phase
        return True

    def _back(self, phase: bool) -> None:
        """← / Shift+←: show what this iteration already showed when that is known, else replay."""
        s = self.session
        n = len(s.specs)
        shown = self.shown_phase()
        if self.replay is not None:
            at = self.replay["target"]  # pressed again while going back: from where it is going
        else:
            at = s.iteration * n + shown
        if self.replay is None and shown > 0:
            wanted = shown - 1 if phase else 0
            if wanted == s.phase:
                self.virtual = None
                return
            if wanted < s.phase and self._show_earlier(wanted):
                return
        target = s.back_phase_target(at) if phase else s.back_iteration_target(at)
        if target is None:
            return
        self.virtual = None
        if s.prepared_view_at(target):  # heavy labs, a boundary (Shift+←, or ← from phase 1): its view is kept
            self._cancel_replay()
            s.back_to_prepared(target)
            self._views.clear()
            return
        self._start_replay(target, "going back to")

    def _start_replay(self, target: int, what: str, leave_views: bool = False) -> None:
        """Run the seek in slices from tick(), which comes right after the commands waiting are read."""
        s = self.session
        self._views = {k: v for k, v in self._views.items() if k[1] == s.iteration and k[0] == s.line_id}
        self.replay = {"steps": s.seek_steps(target, leave_views=leave_views), "target": target, "what": what,
                       "started": time.perf_counter(), "shown": False, "last_progress": 0.0}
        if s.replay_seconds(target, leave_views) > PROGRESS_AFTER:  # say so at once (an LSTM iteration alone takes long)
            self.replay["shown"], self.replay["last_progress"] = True, time.perf_counter()
            self.send("progress", {"what": what, "target": target // len(s.specs), "fraction": 0.0,
                                   "iteration": s.iteration})

    def finish_replay(self) -> None:
        """Run the pending replay to its end now (before a command that needs the cursor there)."""
        while self.replay is not None:
            self._pump_replay(time.perf_counter() + 3600)

    def _cancel_replay(self) -> None:
        """Stop going back: the cursor stays at the iteration the replay had reached (exact)."""
        if self.replay is not None:
            r, self.replay = self.replay, None
            r["steps"].close()
            if r["shown"]:
                self.send("progress", {"done": True, "cancelled": True})
            self._dirty = True

    def _pump_replay(self, deadline: float) -> None:
        r = self.replay
        done = total = 0
        try:
            while True:
                done, total = next(r["steps"])
                if time.perf_counter() >= deadline:
                    break
        except StopIteration:
            self.replay = None
            if r["shown"]:
                self.send("progress", {"done": True})
            self._dirty = True
            return
        except StepwiseError:
            self.replay = None
            raise
        now = time.perf_counter()
        if now - r["started"] > PROGRESS_AFTER and now - r["last_progress"] > 0.1:
            r["shown"], r["last_progress"] = True, now
            n = len(self.session.specs)
            self.send("progress", {"what": r["what"], "target": r["target"] // n,
                                   "fraction": done / max(1, total), "iteration": self.session.iteration})

    def _stop_prefetch(self) -> None:
        if self.prefetch is not None:
            self.prefetch.close()
            self.prefetch = None

    def _pump_prefetch(self) -> bool:
        """Idle: prepare what the next Shift+← needs (Session.prefetch_steps); False when nothing to do."""
        s = self.session
        if self.prefetch is None:
            here = (s.line_id, s.position)
            if self._prefetched_at == here:
                return False
            self._prefetched_at = here
            self.prefetch = s.prefetch_steps(s.make_trainer)
            if self.prefetch is None:
                return False
        deadline = time.perf_counter() + REPLAY_SLICE
        try:
            while time.perf_counter() < deadline:
                next(self.prefetch)
        except StopIteration:
            self.prefetch = None
            self._prefetched_at = None  # look again: more may be missing further back
        except StepwiseError:
            self.prefetch = None
        return True

    def busy(self) -> bool:
        """Work left to do without a new command: play, a replay in slices, a task, an evaluation to file."""
        return (self.playing or self.replay is not None or bool(self.tasks)
                or (self.session is not None and self.session.evaluating))

    # ------------------------------------------------------------------ running
    def tick(self) -> bool:
        """Advance play by one slice and pump tasks; returns True if there was work."""
        worked = False
        s = self.session
        if s is not None and self.replay is not None:
            worked = True
            try:
                self._pump_replay(time.perf_counter() + REPLAY_SLICE)
            except StepwiseError as e:
                self.send("error", str(e))
            self.flush()
            return worked
        if s is not None and s.evaluating:
            worked = True
            if s.evaluation_finished():
                try:
                    s.finish_evaluation()
                except StepwiseError as e:
                    self.send("error", str(e))
                self._dirty = True
                if self._drawn_block is not None and s.selected_block != self._drawn_block:
                    self._resync()                     # a block selected meanwhile: its arrays at once
                    self._block_data_at, self._answer = -math.inf, True
            elif s.trainer_busy:   # play waits; the window still hears about a pause
                self.flush()
                time.sleep(0.002)
                return worked
        if s is not None and self.playing:
            worked = True
            if self._answer:   # a press (play) is answered before the slice: an LSTM phase takes up to 90 ms
                self.flush()
            s.evaluate_in = self.start_thread if SPEEDS[self.speed][1] is None else None
            try:
                self._play_slice()
            except StepwiseError as e:
                self.playing = False
                self.send("error", str(e))
            finally:
                s.evaluate_in = None   # a step or a replay evaluates at once, as headless
            self._dirty = True
        if self.tasks:
            worked = True
            self._pump_tasks()
        self.maybe_autosave()
        self.flush()
        now = time.perf_counter()
        if s is not None and not worked and not s.trainer_busy and s.trainer.advance_view(REPLAY_SLICE):
            self._dirty = True   # what a view left unfinished, finished while idle: shown at once
            self.flush()
        elif worked or self._dirty:
            self._busy_at = now
        elif s is not None and now - self._busy_at >= self._prefetch_after:
            worked = self._pump_prefetch()
        return worked

    # ------------------------------------------------------------------ autosave
    def maybe_autosave(self, force: bool = False) -> bool:
        """Every ``autosave_every`` s of wall time, when there is new history and the cursor is at an
        iteration boundary: the session as a tree of copies (Session.to_tree), written by a thread of
        its own (atomically: a crash mid-write leaves the previous autosave). Returns True if started."""
        s = self.session
        if (self.autosave is None or s is None or s.phase or s._gen is not None or self.replay is not None
                or s.evaluating):
            return False
        if self._autosave_thread is not None and self._autosave_thread.is_alive():
            return False
        now = time.perf_counter()
        mark = (id(s), getattr(s, "line_id", 0), s.history_version, len(s.history_log))
        if mark == self._autosaved or (not force and now - self._last_autosave < self.autosave_every):
            return False
        tree = s.to_tree(self.config, keyframe_budget_bytes=AUTOSAVE_KEYFRAME_BYTES)
        self._autosaved, self._last_autosave = mark, now

        def write() -> None:
            from engines.state_io import save_tree
            try:
                self.autosave.parent.mkdir(parents=True, exist_ok=True)
                save_tree(self.autosave, tree)
            except (StepwiseError, OSError) as e:
                if not self._autosave_failed:  # said once; play goes on
                    self._autosave_failed = True
                    self.send("info", f"Autosave failed: {e}")

        if self.start_thread is None:
            write()
        else:
            self._autosave_thread = self.start_thread(write, "stepwise-autosave")
        return True

    def wait_autosave(self, timeout: float | None = None) -> None:
        if self._autosave_thread is not None:
            self._autosave_thread.join(timeout)

    def discard_autosave(self) -> None:
        """A clean close ("quit" from the window): nothing to recover, so the autosave goes."""
        self.wait_autosave(10.0)
        if self.autosave is not None:
            try:
                self.autosave.unlink()
            except OSError:
                pass

    def _play_slice(self) -> None:
        s = self.session
        unit, rate = SPEEDS[self.speed]
        now = time.perf_counter()
        if rate is None and self._phase_by_phase():
            # an iteration is longer than a frame (LSTM, ResNet): one phase per tick, so the window shows
            # the phase running and a command waits one phase, not one iteration (same numbers: the same
            # fast generator, advanced one phase at a time)
            s.play_phase()
        elif rate is None:
            # iterations up to the next snapshot, so the window gets one every SNAPSHOT_INTERVAL: a slice stops
            # before an iteration that would end after it is due (a fixed 25 ms slice ending just short of it
            # delivered every other slice: 20 a second, and a 20 ms CNN iteration overshot it by up to 20 ms)
            deadline = min(now + 0.015, self._next_snapshot)   # a command waits at most this (and one iteration)
            took = s.iteration_seconds() or 0.0
            while not self._reached():
                # the slice's last: a pause may land after it, and ← then replays from the start kept here;
                # kept once per KEEP_START_REPLAY_S of iterations, not before every slice's last (a batch-1
                # state copy is 1.1 ms of an 8.5 ms iteration: kept at every one it was 9 % of the engine)
                if (time.perf_counter() + 2 * took >= deadline
                        and s.replay_from_kept_start() * max(took, 1e-3) >= KEEP_START_REPLAY_S):
                    s.keep_start()
                s.step_iteration()
                if time.perf_counter() + took >= deadline or s.trainer_busy:
                    break
        elif now >= self._next_step:
            if unit == "phase":
                s.step_phase()
            else:
                s.step_iteration()
            self._next_step = max(self._next_step + 1.0 / rate, now)
        if self._reached():
            self.playing = False
            self.send("reached", s.iteration)

    def _phase_by_phase(self) -> bool:
        """Play one phase per tick: where an iteration is longer than a frame, and for the first one, not
        timed yet (a first LSTM iteration played whole held the engine 260 ms)."""
        seconds = self.session.iteration_seconds()
        return seconds is None or seconds > PHASE_PLAY_AFTER

    def _reached(self) -> bool:
        return self.run_to is not None and self.session.iteration >= self.run_to and self.session.phase == 0

    def _pump_tasks(self) -> None:
        deadline = time.perf_counter() + 0.02
        for name in list(self.tasks):
            gen = self.tasks[name]
            try:
                while time.perf_counter() < deadline:
                    progress = next(gen)
                    if progress.get("done"):
                        self.tasks.pop(name, None)
                        self.send("task", (name, progress))
                        break
                    self.send("task", (name, progress))
            except StopIteration:
                self.tasks.pop(name, None)
                self.send("task", (name, {"done": True}))
            except StepwiseError as e:
                self.tasks.pop(name, None)
                self.send("task", (name, {"cancelled": True, "error": str(e)}))
                self.send("error", str(e))

    def flush(self, force: bool = False) -> None:
        now = time.perf_counter()
        if self.session is None or not (self._dirty or force) or self.replay is not None:
            return
        # while playing at full speed, the last iteration ending before the snapshot due sends it: up to one
        # iteration early, so that exactly one iteration end falls in each window and the clock keeps 30 a
        # second (half an iteration early gave a 25 ms CNN iteration 23 a second: one window in four had none)
        early = min(self.session.iteration_seconds() or 0.0, 0.9 * SNAPSHOT_INTERVAL) if self.playing else 0.0
        if not (force or self._answer) and now < self._next_snapshot - early:
            return
        if not self.ready_for_snapshot():
            return  # stays dirty: the next flush sends the then-latest state, curve points included
        snap = self.snapshot()
        snap["built_at"] = time.perf_counter()   # CLOCK_MONOTONIC on Linux: comparable in the window (bench ui)
        self.send("snapshot", snap)
        self._answer = False
        # on a steady clock (one due every SNAPSHOT_INTERVAL), started again after a pause or a late window
        self._next_snapshot = (self._next_snapshot + SNAPSHOT_INTERVAL if abs(now - self._next_snapshot) < SNAPSHOT_INTERVAL
                               else now + SNAPSHOT_INTERVAL)
        self._dirty = False

    def _block_data(self, block: int) -> dict:
        """The block's arrays for the window, with histograms only where the view on screen draws them."""
        return self.session.block_phase_data(block, histograms=self.shown["histograms"])

    def snapshot(self) -> dict:
        s = self.session
        if s.trainer_busy and self._last_snap is not None:
            # the trainer is the evaluation's: the last snapshot again (nothing moved), with what commands changed
            last = self._last_snap
            kept = [k for k, v in last["view"].items() if isinstance(v, (dict, np.ndarray))]
            return dict(last, playing=self.playing, speed=self.speed, block_data=None, history=[], history_reset=False,
                        view={k: v for k, v in last["view"].items() if k not in kept}, view_same=kept,
                        selected_block=s.selected_block)
        t = s.trainer
        n = len(s.specs)
        phase = self.shown_phase()
        if phase:
            active = s.specs[phase - 1]
        elif s.iteration:
            active = s.specs[n - 1]
        else:
            active = None
        if self._sent_version != s.history_version:
            points = [(it, s.history[it]) for it in sorted(s.history)]
            reset = True
            self._sent_version = s.history_version
        else:
            points = [(it, s.history[it]) for it in s.history_log[self._sent_log:] if it in s.history]
            reset = False
        self._sent_log = len(s.history_log)
        sel = s.selected_block
        key = self._view_key(phase)
        now = time.perf_counter()
        prepared = s.prepared_view()
        if self.virtual is not None:
            block_data, view, last_metrics = self._views[key]
        elif self.playing and prepared is None:
            # while playing, the block's arrays only when the view draws them, at most every BLOCK_DATA_EVERY
            # (a pause, a step or a new selection sends them at once)
            due = self.shown["block_data"] and now - self._block_data_at >= BLOCK_DATA_EVERY
            block_data = self._block_data(sel) if due else None
            view, last_metrics = t.view_data(sel), dict(t.last_metrics)
            self._views.clear()
        else:
            if prepared is not None:  # kept at this boundary (heavy labs)
                block_data, view, last_metrics = prepared
            else:
                block_data, view, last_metrics = self._block_data(sel), t.view_data(sel), dict(t.last_metrics)
            if self.playing:
                self._views.clear()
            else:  # ← within this iteration shows it again without replaying
                self._views = {k: v for k, v in self._views.items() if k[:2] == key[:2]}
                self._views[key] = (block_data, view, last_metrics)
        if block_data is not None and block_data is self._sent_block_data:
            block_data = None  # the very arrays sent last (a kept view): the window has them
        elif block_data is not None:
            self._block_data_at = now
            self._sent_block_data = block_data
        # a part of view_data handed over as the very object sent before is unchanged: the window keeps it
        same = [k for k, v in view.items() if isinstance(v, (dict, np.ndarray)) and self._sent_parts.get(k) is v]
        self._sent_parts = {k: v for k, v in view.items() if isinstance(v, (dict, np.ndarray))}
        full_view = view
        if same:
            view = {k: v for k, v in view.items() if k not in same}
        snap = {
            "lab": t.lab, "engine": t.engine, "iteration": s.iteration, "phase": phase, "phase_count": n,
            "label": s.label_at(phase), "next_label": s.specs[phase].label if phase < n else "",
            "active_block": active.block if active else -1, "active_kind": active.kind if active else "",
            "active_step": active.step if active else None,
            "playing": self.playing, "speed": self.speed, "furthest": s.furthest,
            "ips": s.iterations_per_second(), "selected_block": sel,
            "blocks": self._blocks(),
            "block_data": block_data, "view": view, "view_same": same,   # block_data None: as before
            "history": points, "history_reset": reset, "keyframes": len(s.store),
            "last_metrics": last_metrics, "line": s.line_id,
        }
        if self._sent_lines != s.lines_version:
            self._sent_lines = s.lines_version
            snap["lines"] = s.lines_info()
            snap["notes"] = [list(n) for n in s.notes]
            snap["line_curves"] = {l.id: downsample_history(l.history) for l in s.lines.values() if l.id != s.line_id}
        self._last_snap = {k: v for k, v in snap.items() if k not in ("lines", "notes", "line_curves")}
        self._last_snap["view"] = full_view
        self._drawn_block = sel
        return snap

    def _blocks(self) -> list[dict]:
        if getattr(self, "_blocks_for", None) is not self.session:
            self._blocks_cache = [vars(b) for b in self.session.trainer.blocks()]
            self._blocks_for = self.session
        return self._blocks_cache

