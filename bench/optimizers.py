"""Frames per second of the optimizer race view, rendered offscreen.

    python -m bench optimizers [--frames 300] [--surface rosenbrock] [--its-per-frame 4]

All nine optimizers race; each frame the engine advances ``its-per-frame`` iterations, builds
its view data (the worker's side), and the view renders the snapshot and paints (the UI's
side: set_snapshot, then the event loop paints what changed). Frames while playing (paths, points, legend, loss
curves) and paused (plus the update arrows and the numbers) are timed separately. The last
line is one JSON object.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m bench optimizers")
    p.add_argument("--frames", type=int, default=300)
    p.add_argument("--surface", default="rosenbrock")
    p.add_argument("--its-per-frame", type=int, default=4)
    args = p.parse_args(argv)

    from PySide6 import QtWidgets

    from widgets.style import configure_pyqtgraph
    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication([])
    configure_pyqtgraph()
    from engines.labs import make_trainer
    from visualizer.session import Session
    from widgets.optimizer_view import OptimizerView

    trainer = make_trainer({"lab": "optimizers", "surface": args.surface})
    session = Session(trainer)
    view = OptimizerView()
    view.resize(860, 800)
    view.show()
    app.processEvents()

    def frame(playing: bool) -> tuple[float, float, float]:
        t0 = time.perf_counter()
        session.run(args.its_per_frame)
        snap = {"view": trainer.view_data(0), "iteration": session.iteration, "playing": playing,
                "selected_block": 6, "phase": 0}
        t1, c1 = time.perf_counter(), time.thread_time()
        view.set_snapshot(snap)
        app.processEvents()  # delivers the update requests: Qt paints what changed, as in the app
        # wall time, and this thread's CPU time (robust when other processes share the cores)
        return t1 - t0, time.perf_counter() - t1, time.thread_time() - c1

    for _ in range(10):  # warm up
        frame(True)
    engine, ui, cpu = {True: [], False: []}, {True: [], False: []}, {True: [], False: []}
    for i in range(args.frames):
        playing = i % 4 != 3  # one paused frame in four
        e, u, c = frame(playing)
        engine[playing].append(e)
        ui[playing].append(u)
        cpu[playing].append(c)
    result = {"bench": "optimizers", "surface": args.surface, "optimizers": len(trainer.names),
              "iterations": session.iteration, "frames": args.frames,
              "view_ms_median_playing": round(1e3 * statistics.median(ui[True]), 2),
              "view_ms_p95_playing": round(1e3 * sorted(ui[True])[int(0.95 * len(ui[True]))], 2),
              "view_ms_median_paused": round(1e3 * statistics.median(ui[False]), 2),
              "engine_ms_median_per_frame": round(1e3 * statistics.median(engine[True] + engine[False]), 2),
              "view_cpu_ms_median_playing": round(1e3 * statistics.median(cpu[True]), 2),
              "view_cpu_ms_median_paused": round(1e3 * statistics.median(cpu[False]), 2),
              "fps_playing": round(1.0 / statistics.median(ui[True]), 1),
              "fps_paused": round(1.0 / statistics.median(ui[False]), 1),
              "fps_playing_cpu": round(1.0 / statistics.median(cpu[True]), 1),
              "load_average_1min": round(os.getloadavg()[0], 2)}
    print(f"view render+paint: {result['view_ms_median_playing']} ms wall / {result['view_cpu_ms_median_playing']} ms "
          f"CPU playing ({result['fps_playing']} fps wall, {result['fps_playing_cpu']} by CPU), "
          f"{result['view_ms_median_paused']} ms paused; engine {result['engine_ms_median_per_frame']} ms per frame "
          f"of {args.its_per_frame} iterations; load average {result['load_average_1min']}")
    print(json.dumps(result))
    view.close()
    return 0
