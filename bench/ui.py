"""The window at full training speed: frame rate, stalls, input latency, lab switch.

Opens the window offscreen on a lab and, in three parts:
1. plays at full speed for ``--seconds``: how often the window rendered a snapshot, the median
   render, how late a 30 Hz UI timer fired at worst (the longest stall), the engine's it/s, and
   the same lab's it/s headless (in a fresh process, no window, right after it: the very iterations
   the window trained, held-out evaluations included) for comparison;
2. while training at full speed, sends real Qt input events through QTest at planned moments
   (Space, →, ←, a click on a block of the diagram, a click on a tab of the lab view) and times
   each from the planned moment (a stalled UI handles a real key press late too) to the end of the
   first rendered frame that reflects it; p50 / p95 per input over ``--rounds`` rounds, and its three
   parts: the engine (the press to the answer built), the transfer (the pipe and the window's queue) and
   the drawing;
3. switches to the next lab and back: the time from the request to the first rendered frame of
   the new lab.

    python -m bench ui [--lab mlp] [--seconds 6] [--rounds 5]
    python -m bench ui --all          # every lab, each in its own process; a table, then one JSON line

The last line is one JSON object.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from functools import partial

PROBE_TIMEOUT = 4.0      # an input not reflected within this many seconds counts as this long
PROBE_GAP = (0.35, 0.7)  # seconds of full-speed training between two inputs (drawn from a seeded Generator)


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    s = sorted(values)
    return s[min(len(s) - 1, int(round(q * (len(s) - 1))))]


def headless_rate(lab: str, engine: str | None, seconds: float, span: tuple[int, int] | None = None) -> float:
    """Iterations per second of the lab with no window, in a fresh process with one BLAS thread (as the
    engine process runs): over ``seconds``, or (``span``) over the very iterations the window trained, so
    that both include the same held-out evaluations (ResNet's takes 1.6 s every 50 iterations; the window
    runs them in a thread beside training, headless runs them in line)."""
    timed = (f"first, last = {span[0]}, {span[1]}\n"
             "while s.iteration < first:\n"
             "    s.step_iteration()\n"
             "t0 = time.perf_counter()\n"
             "while s.iteration < last:\n"
             "    s.step_iteration()\n"
             "print((last - first) / (time.perf_counter() - t0))\n") if span else (
             "s.step_iteration()\n"
             "t0 = time.perf_counter(); n = 0\n"
             f"while time.perf_counter() - t0 < {seconds}:\n"
             "    s.step_iteration(); n += 1\n"
             "print(n / (time.perf_counter() - t0))\n")
    code = ("import sys, time\n"
            "from engines.labs import make_trainer\n"
            "from visualizer.session import Session\n"
            f"cfg = {{'lab': {lab!r}, 'seed': 0}}\n"
            + (f"cfg['engine'] = {engine!r}\n" if engine else "")
            + "s = Session(make_trainer(cfg))\n" + timed)
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    try:
        return float(out.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        raise SystemExit(f"headless run of {lab} failed: {out.stderr.strip()[-500:]}")


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench ui")
    ap.add_argument("--lab", default="mlp")
    ap.add_argument("--engine", default=None)
    ap.add_argument("--seconds", type=float, default=6.0, help="seconds of play for the frame rate")
    ap.add_argument("--rounds", type=int, default=5, help="rounds of inputs (Space, →, ←, block, tab)")
    ap.add_argument("--no-headless", action="store_true", help="skip the headless it/s")
    ap.add_argument("--all", action="store_true", help="every lab, each in its own process")
    args = ap.parse_args(argv)
    if args.all:
        return run_all(args)
    return run_one(args)


def run_all(args) -> int:
    from engines.labs import LABS
    rows = []
    for lab in LABS:
        cmd = [sys.executable, "-m", "bench", "ui", "--lab", lab, "--seconds", str(args.seconds),
               "--rounds", str(args.rounds)] + (["--no-headless"] if args.no_headless else [])
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
        try:
            rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
        except (IndexError, ValueError):
            rows.append({"lab": lab, "error": out.stderr.strip()[-300:]})
        print(table_row(rows[-1]), file=sys.stderr, flush=True)
    print(json.dumps({"labs": rows}))
    return 0


def table_row(r: dict) -> str:
    if "error" in r:
        return f"{r['lab']}: failed: {r['error']}"
    lat = r.get("latency_ms", {})
    inputs = " ".join(f"{k} {v['p50']}/{v['p95']}" for k, v in lat.items())
    return (f"{r['lab']:<11} fps {r['ui_frames_per_s']:>5} · it/s {r['engine_iterations_per_s']:>7} "
            f"(headless {r.get('headless_iterations_per_s')}) · render {r['ui_render_ms_median']} ms "
            f"(CPU {r.get('ui_render_cpu_ms_median')}) · "
            f"stall {r['ui_timer_max_gap_ms']} ms · p50/p95 ms: {inputs} · switch {r.get('lab_switch_s')} s, "
            f"back {r.get('lab_switch_back_s')} s")


def run_one(args) -> int:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    for var in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):  # as main.py: one BLAS thread in the UI process
        os.environ.setdefault(var, "1")
    headless = None if args.no_headless else headless_rate(args.lab, args.engine, min(args.seconds, 4.0))

    import numpy as np
    from PySide6 import QtCore, QtWidgets
    from PySide6.QtTest import QTest

    from engines.labs import LABS
    from visualizer.client import SessionClient
    from visualizer.main_window import MainWindow
    from widgets.style import configure_pyqtgraph

    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication([])
    configure_pyqtgraph()
    config = {"lab": args.lab, "seed": 0}
    if args.engine:
        config["engine"] = args.engine
    window = MainWindow(config, client_factory=partial(SessionClient, standby=True), offer_recovery=False)  # as main.py
    window.ask = lambda title, text: True   # a lab switch discards the run without a dialog
    window.resize(1500, 920)
    window.show()
    rng = np.random.default_rng(0)
    Key, Button = QtCore.Qt.Key, QtCore.Qt.MouseButton
    frames: list[float] = []
    updates: list[float] = []
    cpu: list[float] = []
    ticks: list[float] = []
    state = {"part": "warmup", "start": None, "it0": 0, "it1": 0, "probe": None}
    latency: dict[str, list[float]] = {}
    drawing: dict[str, list[float]] = {}   # per input: the window's part (drawing the snapshot that answers it)
    engine: dict[str, list[float]] = {}    # ... the engine's (from the press to the answer built)
    transfer: dict[str, list[float]] = {}  # ... the pipe's and the window's queue (built to taken up)
    switch: dict[str, float] = {}
    original = window.on_snapshot

    def rendered(snap):
        t0, c0 = time.perf_counter(), time.thread_time()
        original(snap)
        t1 = time.perf_counter()
        app.processEvents()  # the repaint this snapshot caused
        t2 = time.perf_counter()
        if state["part"] == "play":
            updates.append(t1 - t0)
            frames.append(t2 - t0)
            cpu.append(time.thread_time() - c0)   # the UI thread's own work: what load on the machine does not inflate
            state["it1"] = snap["iteration"]
        probe = state["probe"]
        if probe is not None and probe["armed"] and probe["reflected"](snap):
            drawing.setdefault(probe["name"], []).append(t2 - t0)   # of it, the window drawing the answer
            if "built_at" in snap:   # the engine building it (from the press), then the pipe and the window's queue
                engine.setdefault(probe["name"], []).append(snap["built_at"] - probe["planned"])
                transfer.setdefault(probe["name"], []).append(t0 - snap["built_at"])
            finish_probe(t2)

    window.client.snapshot.disconnect(window.on_snapshot)
    window.client.snapshot.connect(rendered)
    stall_timer = QtCore.QTimer()
    stall_timer.setTimerType(QtCore.Qt.TimerType.PreciseTimer)
    stall_timer.setInterval(33)
    stall_timer.timeout.connect(lambda: ticks.append(time.perf_counter()))

    # ---------------------------------------------------------------- the inputs
    def view_tabs() -> QtWidgets.QTabWidget | None:
        view = window.view
        if view is None:
            return None
        tabs = getattr(view, "tabs", None)
        if isinstance(tabs, QtWidgets.QTabWidget) and sum(tabs.isTabVisible(i) for i in range(tabs.count())) > 1:
            return tabs
        found = view.findChildren(QtWidgets.QTabWidget)
        return next((t for t in found if t.count() > 1 and t.isVisible()), None)

    def press(key, modifier=QtCore.Qt.KeyboardModifier.NoModifier):
        def do():
            QTest.keyClick(window, key, modifier)
        return do

    def click_block():
        blocks = window.diagram.blocks
        target = (window.last_snapshot["selected_block"] + 1) % len(blocks) if blocks else 0
        state["probe"]["target"] = target
        rect = window.diagram.box_rect(target + 1)   # row 0 is the input box
        window.diagram_box.isVisible() and QTest.mouseClick(window.diagram, Button.LeftButton,
                                                            pos=rect.center().toPoint())

    def click_tab():
        tabs = view_tabs()
        bar = tabs.tabBar()
        target = next(i % tabs.count() for i in range(tabs.currentIndex() + 1, tabs.currentIndex() + tabs.count() + 1)
                      if tabs.isTabVisible(i % tabs.count()))   # the next tab shown (batch1 hides one of its tabs)
        state["probe"]["target"] = target
        QTest.mouseClick(bar, Button.LeftButton, pos=bar.tabRect(target).center())
        app.processEvents()   # the newly shown tab paints (with the latest snapshot it was holding)
        if tabs.currentIndex() == target:
            finish_probe(time.perf_counter())

    def playing(snap):
        return snap["playing"]

    def paused(snap):
        return not snap["playing"]

    def stepped(snap):
        # one phase on from where play paused: phase 1 or later, or phase 0 of the next iteration when the
        # step completed the iteration under way (played phase by phase, a press can land at its last phase)
        return not snap["playing"] and (snap["phase"] >= 1 or snap["iteration"] > state["probe"]["iteration"])

    def stepped_back(snap):
        # the engine pauses and goes back one phase in one command (no snapshot between): the first paused
        # snapshot is the one ← asked for (the last phase of the iteration before, or where phase-by-phase
        # play had got to, less one)
        return not snap["playing"]

    def selected(snap):
        return snap["selected_block"] == state["probe"]["target"]

    has_blocks = window.view is not None and window.view.shows_network
    plan = []
    for _ in range(args.rounds):
        plan += [("space (pause)", press(Key.Key_Space), paused), ("space (play)", press(Key.Key_Space), playing),
                 ("→ (step)", press(Key.Key_Right), stepped), ("space (play)", press(Key.Key_Space), playing),
                 ("← (back)", press(Key.Key_Left), stepped_back), ("space (play)", press(Key.Key_Space), playing),
                 ("block click", click_block, selected), ("tab switch", click_tab, None)]

    def next_probe():
        while plan:
            name, action, reflected = plan.pop(0)
            if name == "block click" and not (window.diagram_box.isVisible() and len(window.diagram.blocks) > 1):
                continue
            if name == "tab switch" and view_tabs() is None:
                continue
            gap = float(rng.uniform(*PROBE_GAP))
            planned = time.perf_counter() + gap
            probe = state["probe"] = {"name": name, "planned": planned, "reflected": reflected, "armed": False}

            def fire(probe=probe, action=action):
                if reflected is not None:
                    probe["armed"] = True
                probe["iteration"] = window.last_snapshot["iteration"]   # what the window showed at the press
                action()
            probe["timer"] = QtCore.QTimer()
            probe["timer"].setTimerType(QtCore.Qt.TimerType.PreciseTimer)
            probe["timer"].setSingleShot(True)
            probe["timer"].timeout.connect(fire)
            probe["timer"].start(int(gap * 1000))
            probe["deadline"] = QtCore.QTimer()
            probe["deadline"].setSingleShot(True)
            probe["deadline"].timeout.connect(lambda probe=probe: probe is state["probe"] and finish_probe(None))
            probe["deadline"].start(int((gap + PROBE_TIMEOUT) * 1000))
            return
        state["probe"] = None
        window.client.send("play")
        QtCore.QTimer.singleShot(500, start_switch)

    def finish_probe(at):
        probe = state["probe"]
        if probe is None:
            return
        probe["deadline"].stop()
        latency.setdefault(probe["name"], []).append(PROBE_TIMEOUT if at is None else at - probe["planned"])
        state["probe"] = None
        if not window.last_snapshot["playing"] and probe["name"] in ("block click", "tab switch"):
            window.client.send("play")
        QtCore.QTimer.singleShot(0, next_probe)

    # ---------------------------------------------------------------- the lab switch
    labs = list(LABS)
    other = labs[(labs.index(args.lab) + 1) % len(labs)]

    def start_switch():
        switch_to(other, "lab_switch_s", lambda: switch_to(args.lab, "lab_switch_back_s", app.quit))

    def switch_to(lab, key, then):
        t0 = time.perf_counter()

        def arrived(snap):
            if snap["lab"] == lab:
                window.client.snapshot.disconnect(arrived)
                QtCore.QTimer.singleShot(0, lambda: (app.processEvents(), switch.__setitem__(
                    key, time.perf_counter() - t0), then()))
        window.client.snapshot.connect(arrived)
        window.switch_lab(lab)

    # ---------------------------------------------------------------- the order of things
    def start_play():
        window.client.send("play")
        state.update(part="play", start=time.perf_counter(),
                     it0=window.last_snapshot["iteration"] if window.last_snapshot else 0)
        stall_timer.start()
        QtCore.QTimer.singleShot(int(args.seconds * 1000), end_play)

    def end_play():
        state["elapsed"] = time.perf_counter() - state["start"]
        state["part"] = "inputs"
        stall_timer.stop()
        next_probe()

    ready_once = {"done": False}

    def on_ready(_info):
        if not ready_once["done"]:
            ready_once["done"] = True
            QtCore.QTimer.singleShot(1500, start_play)

    window.client.ready.connect(on_ready)
    watchdog = QtCore.QTimer()
    watchdog.setSingleShot(True)
    watchdog.timeout.connect(app.quit)
    watchdog.start(int(1000 * (args.seconds + 30 + args.rounds * 8 * (PROBE_GAP[1] + PROBE_TIMEOUT))))
    app.exec()
    elapsed = state.get("elapsed") or (time.perf_counter() - (state["start"] or time.perf_counter())) or 1.0
    gaps = [b - a for a, b in zip(ticks, ticks[1:])]
    longest = sorted(range(len(gaps)), key=lambda i: -gaps[i])[:4]   # and when they came: at the start of play?
    engine_ips = (state["it1"] - state["it0"]) / elapsed
    result = {"lab": args.lab, "seconds": round(elapsed, 2),
              "ui_frames_per_s": round(len(frames) / elapsed, 1),
              "ui_render_ms_median": round(1000 * percentile(frames, 0.5), 2) if frames else None,
              "ui_render_cpu_ms_median": round(1000 * percentile(cpu, 0.5), 2) if cpu else None,
              "ui_update_ms_median": round(1000 * percentile(updates, 0.5), 2) if updates else None,
              "ui_timer_max_gap_ms": round(1000 * max(gaps), 1) if gaps else None,
              "ui_longest_gaps_ms_at_s": [(round(1000 * gaps[i]), round(ticks[i] - state["start"], 2))
                                          for i in longest],
              "engine_iterations_per_s": round(engine_ips, 1),
              "headless_iterations_per_s": None if headless is None else round(headless, 1),
              "fps_target": round(min(30.0, 0.9 * engine_ips), 1),
              "latency_ms": {name: {"p50": round(1000 * percentile(v, 0.5)), "p95": round(1000 * percentile(v, 0.95)),
                                    "n": len(v)} for name, v in latency.items()},
              **{f"latency_{part}_ms": {name: {"p50": round(1000 * percentile(v, 0.5)), "max": round(1000 * max(v))}
                                        for name, v in values.items()}
                 for part, values in (("engine", engine), ("transfer", transfer), ("drawing", drawing))},
              "lab_switch_s": round(switch["lab_switch_s"], 2) if "lab_switch_s" in switch else None,
              "lab_switch_back_s": round(switch["lab_switch_back_s"], 2) if "lab_switch_back_s" in switch else None,
              "lab_switch_to": other}
    window.close()
    app.processEvents()
    # the very iterations the window trained, headless, right after it (the machine's speed drifts); not for
    # the optimizer lab, whose window plays at an animation's pace (100 iterations a second), not flat out
    if headless is not None and state["it1"] > state["it0"] and args.lab != "optimizers":
        same = headless_rate(args.lab, args.engine, 0.0, span=(state["it0"], state["it1"]))
        result["headless_4s_before"] = result["headless_iterations_per_s"]
        result["headless_iterations_per_s"] = round(same, 1)
        result["window_over_headless"] = round(engine_ips / same, 2)
    print(table_row(result), file=sys.stderr)
    print(json.dumps(result))
    return 0
