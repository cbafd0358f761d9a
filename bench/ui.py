"""The UI stays responsive while training runs in the engine process.

Opens the window offscreen on a lab, plays at full speed for a few seconds, and measures
how often the window rendered a snapshot, how late a 30 Hz UI timer fired at worst (a
stall), and how many iterations per second the engine ran meanwhile.

    python -m bench ui [--lab mlp] [--seconds 6]
"""
from __future__ import annotations

import argparse
import json
import os
import time


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench ui")
    ap.add_argument("--lab", default="mlp")
    ap.add_argument("--engine", default=None)
    ap.add_argument("--seconds", type=float, default=6.0)
    args = ap.parse_args(argv)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    for var in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):  # as main.py: one BLAS thread in the UI process
        os.environ.setdefault(var, "1")
    from PySide6 import QtCore, QtWidgets

    from visualizer.main_window import MainWindow
    from widgets.common import configure_pyqtgraph

    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication([])
    configure_pyqtgraph()
    config = {"lab": args.lab, "seed": 0}
    if args.engine:
        config["engine"] = args.engine
    window = MainWindow(config)
    window.show()
    frames: list[float] = []
    ticks: list[float] = []
    state = {"start": None, "it0": 0, "it1": 0}
    original = window.on_snapshot

    updates: list[float] = []

    def counted(snap):
        t0 = time.perf_counter()
        original(snap)
        t1 = time.perf_counter()
        app.processEvents()  # the repaint this snapshot caused
        if state["start"] is not None:
            updates.append(t1 - t0)
            frames.append(time.perf_counter() - t0)
            state["it1"] = snap["iteration"]

    window.client.snapshot.disconnect(window.on_snapshot)
    window.client.snapshot.connect(counted)
    timer = QtCore.QTimer()
    timer.setInterval(33)
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()) if state["start"] is not None else None)

    def start(_info=None):
        window.client.send("play")
        state["start"] = time.perf_counter()
        state["it0"] = window.last_snapshot["iteration"] if window.last_snapshot else 0
        timer.start()
        QtCore.QTimer.singleShot(int(args.seconds * 1000), finish)

    def finish():
        window.client.send("pause")
        timer.stop()
        app.quit()

    window.client.ready.connect(lambda info: QtCore.QTimer.singleShot(1500, start))
    app.exec()
    elapsed = time.perf_counter() - state["start"]
    gaps = [b - a for a, b in zip(ticks, ticks[1:])]
    result = {"lab": args.lab, "seconds": round(elapsed, 2),
              "ui_frames_per_s": round(len(frames) / elapsed, 1),
              "ui_render_ms_median": round(1000 * sorted(frames)[len(frames) // 2], 2) if frames else None,
              "ui_update_ms_median": round(1000 * sorted(updates)[len(updates) // 2], 2) if updates else None,
              "ui_timer_max_gap_ms": round(1000 * max(gaps), 1) if gaps else None,
              "engine_iterations_per_s": round((state["it1"] - state["it0"]) / elapsed, 1)}
    window.close()
    print(json.dumps(result))
    return 0
