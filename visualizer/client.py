"""The UI side of the engine process (Qt): ``SessionClient`` lives in the window's process, starts
the engine process (visualizer/worker.py), sends it commands, and reads what it sends (taken off the
pipe by a PipeReader thread as it arrives), keeping only the latest snapshot."""
from __future__ import annotations

import os
import time
from typing import Any

from PySide6 import QtCore

from visualizer.host import autosave_path
from visualizer.worker import PipeReader, retire, start_engine_process

STANDBY_AFTER_MS = 3000   # a standby engine starts this long after a run is ready (not while the window opens)


def complete_snapshot(snap: dict, kept: dict) -> None:
    """Put back what the engine did not send again: the block's arrays (``block_data`` None: not
    recomputed while playing, or not shown) and unchanged view parts (``view_same``). They stay the very
    same objects, so a widget can tell that nothing changed (``block_data_fresh`` False). ``kept`` holds
    them between snapshots; every snapshot received goes through here, in order (dropped ones too)."""
    snap["block_data_fresh"] = snap.get("block_data") is not None
    if snap["block_data_fresh"]:
        kept["block_data"] = snap["block_data"]
    else:
        snap["block_data"] = kept.get("block_data", {})
    view = snap.setdefault("view", {})
    parts = kept.get("view_parts", {})
    for key in snap.pop("view_same", ()):
        if key in parts:
            view[key] = parts[key]
    kept["view_parts"] = {k: v for k, v in view.items() if isinstance(v, dict) or hasattr(v, "shape")}


class SessionClient(QtCore.QObject):
    """UI-side handle of the worker process. Emits the latest snapshot at most once per poll."""

    # object, not dict: a dict signal argument is converted to a QVariantMap and back, a deep copy of every
    # nested dict at each frame (it cost milliseconds, and gave the widgets new objects where the engine
    # had sent nothing new, so they redrew what had not changed)
    snapshot = QtCore.Signal(object)
    ready = QtCore.Signal(object)
    error = QtCore.Signal(str)
    info = QtCore.Signal(str)
    reply = QtCore.Signal(str, object)
    task = QtCore.Signal(str, object)
    reached = QtCore.Signal(int)
    progress = QtCore.Signal(object)   # replay under way: {"what", "target", "fraction"} / {"done": True}
    died = QtCore.Signal(str)
    _arrived = QtCore.Signal()   # from the reader's thread: something to read (delivered in the window's loop)

    # commands that start a new run: after a death they start a new engine process instead
    RESTARTING = ("configure", "open_session", "load")

    def __init__(self, config: dict, parent=None, poll_ms: int = 100, autosave: str | os.PathLike | None = None,
                 standby: bool = False):
        """Start the engine process for ``config``. ``autosave``: where the engine autosaves
        (default: autosave_path(); "" for none). ``standby``: keep a second engine process ready, its imports
        done, for the next lab switch (a switch to a torch lab waited seconds for torch's imports), and leave
        every import out of the engine that trains."""
        super().__init__(parent)
        self.use_standby = standby
        self.standby = None    # (process, conn): started, not configured
        self.previous = None   # (process, conn, config, kept): the engine before a switch, until the new one is ready
        self.standby_timer = QtCore.QTimer(self)
        self.standby_timer.setSingleShot(True)
        self.standby_timer.timeout.connect(self._start_standby)
        self.autosave = str(autosave_path() if autosave is None else autosave) if autosave != "" else None
        self.config = dict(config)   # the settings of the latest run (from "ready"): what a restart runs
        self.timer = QtCore.QTimer(self)
        self.timer.timeout.connect(self.poll)
        self.poll_ms = poll_ms
        self.process = None
        self._polling = False
        self.reader: PipeReader | None = None
        self._wake_pending = self._poll_again = False
        self.backlogs: dict = {}   # pipe → messages its reader took off it, unread (an engine put aside in a switch)
        self._arrived.connect(self.poll, QtCore.Qt.ConnectionType.QueuedConnection)
        self.kept: dict = {}   # what the engine sent last and does not send again while unchanged (complete_snapshot)
        self._start(config)

    def _start(self, config: dict) -> None:
        self.process, self.conn = start_engine_process(config, self.autosave, warm_up=not self.use_standby)
        self._read_from_current()

    def _read_from_current(self) -> None:
        self._dead = False
        # read as soon as the engine writes (a timer alone added up to poll_ms to every answer); the timer
        # stays, slower, for a process that died without a word
        self._wake_pending = False
        self.reader = PipeReader(self.conn, self._wake, self.backlogs.pop(self.conn, None))
        self.timer.start(self.poll_ms)

    def _wake(self) -> None:
        """From the reader's thread: one poll queued at a time, however many messages arrive meanwhile."""
        if not self._wake_pending:
            self._wake_pending = True
            self._arrived.emit()

    @property
    def dead(self) -> bool:
        return self._dead

    def restart(self, config: dict | None = None) -> None:
        """A new engine process for ``config`` (default: the latest run's settings, a fresh run);
        the old one, dead or alive, is ended first (the standby, where there is one, takes the run)."""
        config = dict(self.config if config is None else config)
        self._end_current()
        try:
            self.conn.close()
        except OSError:
            pass
        if self.previous is not None:
            retire(*self.previous[:2])
            self.previous = None
        taken = self._take_standby(config)
        if taken is not None:
            self._read_from(*taken)
        else:
            self._start(config)

    # ------------------------------------------------------------------ the standby engine
    def _start_standby(self) -> None:
        if self.use_standby and self.standby is None and not self._dead:
            self.standby = start_engine_process(None, self.autosave, warm_up=False)

    def _take_standby(self, config: dict) -> tuple | None:
        """The standby engine, sent ``config`` as its first run: (process, conn); None without a live one."""
        if self.standby is None:
            return None
        process, conn = self.standby
        self.standby = None
        if process.is_alive():
            try:
                conn.send(("configure", config))
                return process, conn
            except (BrokenPipeError, OSError):
                pass
        retire(process, conn)
        return None

    def _read_from(self, process, conn, kept: dict | None = None) -> None:
        """Read another engine from now on (``kept``: what it sent and does not send again)."""
        self._stop_reading()
        self.process, self.conn, self.kept = process, conn, {} if kept is None else kept
        self._read_from_current()

    def _switch_to_standby(self, config: dict) -> bool:
        """A new lab's run on the standby engine: the current one pauses and stays until the new one is
        ready (a config the standby refuses goes back to it, run intact)."""
        taken = self._take_standby(config)
        if taken is None:
            return False
        if self.previous is not None:   # a switch while another one was still under way
            retire(*self.previous[:2])
        try:
            self.conn.send(("pause", None))
        except (BrokenPipeError, OSError):
            pass
        self.previous = (self.process, self.conn, dict(self.config), self.kept)
        self._read_from(*taken)
        return True

    def _settle_switch(self, ready: bool) -> None:
        """The new engine answered: ready (the old one goes, a new standby follows), or refused the config
        (the old engine and its run come back)."""
        if self.previous is None:
            return
        process, conn, config, kept = self.previous
        self.previous = None
        if ready:
            self.backlogs.pop(conn, None)
            retire(process, conn)
            return
        retire(self.process, self.conn)
        self.config = config
        self._read_from(process, conn, kept)   # what it sent and does not send again comes back with it
        self.standby_timer.start(STANDBY_AFTER_MS)

    def has_autosave(self) -> bool:
        return self.autosave is not None and os.path.isfile(self.autosave)

    def send(self, cmd: str, arg: Any = None) -> None:
        if cmd == "configure" and not self._dead and self.previous is None and self._switch_to_standby(arg):
            return
        if self._dead:
            if cmd == "configure":
                self.restart(arg)
            elif cmd == "open_session":
                self.restart({"session": arg})
            elif cmd == "load":
                self.restart(dict(self.config, load=arg))
            return
        try:
            self.conn.send((cmd, arg))
        except (BrokenPipeError, OSError):
            self._report_death()

    def poll(self) -> None:
        """Read what the engine sent and emit the latest snapshot. Not re-entered: an event loop run inside
        a slot (a dialog, processEvents) would otherwise emit a newer snapshot before the one being drawn,
        which then draws over it and stays on screen."""
        if self._polling:
            self._wake_pending, self._poll_again = False, True   # this wake is spent: the outer poll asks again
            return
        self._polling = True
        try:
            self._poll()
        finally:
            self._polling = False
        if self._poll_again:
            self._poll_again = False
            self._wake()

    def _poll(self) -> None:
        latest = None
        reader = self.reader
        if reader is None:
            return
        self._wake_pending = False   # before reading: a message arriving meanwhile queues another poll
        deadline = time.perf_counter() + 0.010
        while reader.messages and time.perf_counter() < deadline:
            kind, payload = reader.messages.popleft()
            if kind == "snapshot":
                complete_snapshot(payload, self.kept)
                if latest is not None and not payload["history_reset"]:
                    # keep only the latest snapshot, but never drop curve points
                    payload["history"] = latest["history"] + payload["history"]
                    payload["history_reset"] = latest["history_reset"]
                if latest is not None and "lines" in latest and "lines" not in payload:
                    for key in ("lines", "notes", "line_curves"):   # sent only when they change: never dropped
                        payload[key] = latest[key]
                latest = payload
            elif kind == "ready":
                self.config = dict(payload["config"])
                self.kept.clear()
                self._settle_switch(ready=True)
                if self.use_standby and self.standby is None:
                    self.standby_timer.start(STANDBY_AFTER_MS)
                self.ready.emit(payload)
            elif kind == "error" and self.previous is not None:   # the standby refused the new lab's config
                self._settle_switch(ready=False)
                self.error.emit(payload)
                return
            elif kind == "error":
                self.error.emit(payload)
            elif kind == "info":
                self.info.emit(payload)
            elif kind == "reply":
                self.reply.emit(payload[0], payload[1])
            elif kind == "task":
                self.task.emit(payload[0], payload[1])
            elif kind == "reached":
                self.reached.emit(int(payload))
            elif kind == "progress":
                self.progress.emit(payload)
        if reader.messages:                      # more than the deadline allowed: the rest on the next turn
            self._wake()
        if latest is not None:
            self.snapshot.emit(latest)
        if not self._dead and reader is self.reader and not reader.messages and (
                reader.closed.is_set() or not self.process.is_alive()):
            # a process that ended: what it wrote last (an error saying why) is read first, up to its EOF
            if reader.closed.wait(0.5) and reader.messages:
                self._wake()
            else:
                self._report_death()

    def _stop_reading(self) -> None:
        self.timer.stop()
        if self.reader is not None:
            backlog = self.reader.stop()
            if backlog and not self.reader.closed.is_set():
                self.backlogs[self.reader.conn] = backlog   # read when this engine comes back (a refused switch)
            self.reader = None

    def _report_death(self) -> None:
        if not self._dead:
            self._dead = True
            self._stop_reading()
            self.process.join(0.5)
            self.died.emit(f"The training process stopped unexpectedly (exit code {self.process.exitcode}); "
                           "restart it, or choose a lab from the Lab menu.")

    def close(self) -> None:
        self.standby_timer.stop()
        for other in (self.standby, self.previous):
            if other is not None:
                retire(*other[:2])
        self.standby = self.previous = None
        self._end_current()

    def _end_current(self) -> None:
        self._stop_reading()
        if self.process.is_alive():
            try:
                self.conn.send(("quit", None))
            except (BrokenPipeError, OSError):
                pass
            self.process.join(2.0)
            if self.process.is_alive():
                self.process.terminate()
                self.process.join(1.0)
        self._dead = True
