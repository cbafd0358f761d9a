"""The one module that owns processes and threads.

- ``worker_main`` runs a SessionHost (visualizer/host.py, no Qt) in the engine process around a
  multiprocessing Pipe; a sender thread delivers its messages so training never waits for the UI.
- ``start_engine_process`` spawns that process for the UI (visualizer/client.py, the Qt side); with no
  config it is a standby: it imports what any lab needs in a low-priority thread and waits for its first
  run, so that a lab switch finds every import done and training never shares the interpreter with them.
- ``retire`` ends an engine process the window no longer reads, without making the window wait.
- ``start_thread``: a daemon thread, for work the host does off its loop (the autosave write).
- ``PipeReader``: the window's reader of an engine's pipe, in a thread, so the engine never waits for a
  window busy drawing.
"""
from __future__ import annotations

import collections
import multiprocessing as mp
import os
import threading
import time
from typing import Any, Callable


def start_thread(target: Callable[[], None], name: str) -> threading.Thread:
    thread = threading.Thread(target=target, daemon=True, name=name)
    thread.start()
    return thread


class PipeReader:
    """Takes each message off an engine's pipe as soon as the engine writes it, in a thread of its own,
    and calls ``wake`` (from that thread) when there is something new to read. Read in the window's
    loop instead, a 450 kB snapshot filled the pipe while the window drew the one before, and the
    answer to a key press queued behind it: a whole frame late. ``backlog``: messages a reader of the
    same pipe took off it and nobody read (see ``stop``)."""

    POLL_S = 0.02   # how soon a stop is noticed
    # snapshots read ahead of the window at most: beyond, the pipe fills and the engine's sender waits, so
    # the engine skips building snapshots the window would never draw (read without a limit, the CNN's
    # engine built and sent every one: 14 instead of 42 iterations a second in the window)
    AHEAD = 2

    def __init__(self, conn, wake: Callable[[], None], backlog: collections.deque | None = None):
        self.conn = conn
        self.messages: collections.deque = backlog if backlog is not None else collections.deque()
        self.closed = threading.Event()   # the engine's end is gone (EOF): it died or quit
        self._stopping = threading.Event()
        self._wake = wake
        self._thread = start_thread(self._run, "stepwise-pipe-reader")

    def _run(self) -> None:
        while not self._stopping.is_set():
            if sum(1 for m in list(self.messages) if m[0] == "snapshot") >= self.AHEAD:
                time.sleep(0.002)   # the window has not taken them yet
                continue
            try:
                if not self.conn.poll(self.POLL_S):
                    continue
                message = self.conn.recv()
            except (EOFError, OSError):
                self.closed.set()
                self._wake()
                return
            self.messages.append(message)
            self._wake()

    def stop(self) -> collections.deque:
        """Stop reading (the pipe stays open); returns the messages taken off it and not yet read."""
        self._stopping.set()
        self._thread.join(5.0)
        return self.messages


def start_engine_process(config: dict | None, autosave: str | None, warm_up: bool = True):
    """Spawn the engine process for ``config`` (None: a standby, configured by its first command): returns
    (process, the UI's end of the pipe). ``warm_up``: the process imports what other labs need while idle
    (off where a standby does that)."""
    ctx = mp.get_context("spawn")
    conn, child = ctx.Pipe(duplex=True)
    # one BLAS / OpenMP thread in the engine process: the other core stays with the UI
    saved = {k: os.environ.get(k) for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    for k in saved:
        os.environ[k] = os.environ.get("STEPWISE_ENGINE_THREADS", "1")
    process = ctx.Process(target=worker_main, args=(child, config, autosave, warm_up), daemon=True,
                          name="stepwise-engine" if config is not None else "stepwise-standby")
    process.start()
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    child.close()
    return process, conn


def retire(process, conn) -> None:
    """Ask an engine process to quit and wait for it in a thread (its keyframe cache is removed as it
    ends, which may take a moment); killed if it has not ended within 3 s. The autosave file stays: it is
    the one the engine taking over writes (a standby never ran; a replaced engine's run was discarded)."""
    try:
        conn.send(("quit", {"keep_autosave": True}))
    except (BrokenPipeError, EOFError, OSError):
        pass

    def wait() -> None:
        process.join(3.0)
        if process.is_alive():
            process.terminate()
            process.join(1.0)
        try:
            conn.close()
        except OSError:
            pass
    start_thread(wait, "stepwise-retire")


class _Sender:
    """Sends messages from a thread of its own, so training never waits for the UI to read.

    At most one snapshot is on its way at a time; while it is, the host keeps the state dirty
    and sends the latest one afterwards (the UI keeps only the latest anyway)."""

    def __init__(self, conn):
        import queue
        self.conn = conn
        self.queue: queue.Queue = queue.Queue()
        self.snapshot_in_flight = threading.Event()
        self.broken = threading.Event()
        start_thread(self._run, "stepwise-sender")

    def send(self, kind: str, payload: Any) -> None:
        if self.broken.is_set():
            raise SystemExit(0)
        if kind == "snapshot":
            self.snapshot_in_flight.set()
        self.queue.put((kind, payload))

    def ready_for_snapshot(self) -> bool:
        return not self.snapshot_in_flight.is_set()

    def _run(self) -> None:
        while True:
            kind, payload = self.queue.get()
            try:
                self.conn.send((kind, payload))
            except (BrokenPipeError, EOFError, OSError):
                self.broken.set()
                return
            if kind == "snapshot":
                self.snapshot_in_flight.clear()


def worker_main(conn, config: dict | None, autosave: str | None = None, warm_up: bool = True) -> None:
    """Entry point of the child process (``config`` None: a standby, see start_engine_process)."""
    import signal
    import sys
    import warnings
    warnings.filterwarnings("ignore", category=RuntimeWarning)  # NaN is reported by the engine, in words
    # terminate() (a window closing while the engine is busy) still runs the clean-up below
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    if config is None:   # a standby: even the engine's own imports (numpy, the session) run on spare CPU only
        imported = threading.Event()

        def standby_imports() -> None:
            _lowest_priority()
            try:
                import visualizer.host  # noqa: F401
            finally:
                imported.set()
            _warm_up(quiet=0.0)         # then what every lab needs
        start_thread(standby_imports, "stepwise-warm-up")
        imported.wait()
    from visualizer.host import AUTOSAVE_EVERY_S, SessionHost
    sender = _Sender(conn)
    every = float(os.environ.get("STEPWISE_AUTOSAVE_EVERY", AUTOSAVE_EVERY_S))
    host = SessionHost(sender.send, sender.ready_for_snapshot, autosave=autosave, autosave_every=every,
                       start_thread=start_thread)
    try:
        _serve(conn, sender, host, config, warm_up)
    finally:
        host.close()  # the keyframes' cache folder goes with the process


def _warm_up(idle=lambda: True, quiet: float = 2.0) -> None:
    """Import ahead of time what the first switch to another lab would wait for: torch (1-2 s), what the first
    torch.optim optimizer imports (torch._dynamo, 2.5 s on this machine), and every lab's modules."""
    import importlib
    import importlib.util
    import time

    def when_idle() -> None:
        """An import holds the interpreter for up to seconds: start the next one only after ``quiet`` seconds
        with nothing to do (a student looking, not training: play right after start-up keeps its speed)."""
        since = time.perf_counter()
        while True:
            time.sleep(0.1)
            if not idle():
                since = time.perf_counter()
            elif time.perf_counter() - since >= quiet:
                return
    if importlib.util.find_spec("torch") is not None:
        import torch   # at the first idle moment, as the engine starts
        when_idle()
        torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    from engines.lab_registry import LABS
    for module in sorted({m for info in LABS.values() for m in info.modules}):   # and scipy.ndimage with them (0.6 s)
        when_idle()
        importlib.import_module(module)


def _lowest_priority() -> None:
    """This thread runs only on a core nothing else wants (Linux: a thread's own nice value; elsewhere a no-op)."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
    except (AttributeError, OSError):
        pass


def _serve(conn, sender, host, config: dict | None, warm_up: bool = True) -> None:
    warmed = not warm_up or config is None   # a standby warms up as it starts (worker_main)
    if config is not None:                   # (a standby's first command configures it)
        host.configure(config)
    while True:
        if sender.broken.is_set():
            return
        busy = host.busy() or host.prefetch is not None
        if not busy and not warmed:  # the first idle moment (never while training), in a thread of its own
            warmed = True
            start_thread(lambda: _warm_up(lambda: not (host.busy() or host.prefetch is not None)), "stepwise-warm-up")
        try:
            has_cmd = conn.poll(0 if busy else 0.05)
        except (EOFError, OSError):
            return
        while has_cmd:
            try:
                cmd, arg = conn.recv()
            except (EOFError, OSError):
                return
            if cmd == "quit":
                if not (isinstance(arg, dict) and arg.get("keep_autosave")):
                    host.discard_autosave()
                return
            host.handle(cmd, arg)
            has_cmd = conn.poll(0)
        host.tick()

