"""Stepwise: watch a neural network train, one phase at a time, and go back in time.

    python main.py                                  # the window, on the MLP lab
    python main.py --list-labs
    python main.py --lab cnn --engine torch --seed 3
    python main.py --lab mlp --headless --steps 2000   # JSON lines, no window
    python main.py --lab mlp --steps 300 --screenshot docs/mlp.png

Bad input prints one clear sentence and exits with status 2.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

# One BLAS thread per process: robust when the other core is busy (see docs); set before NumPy loads.
for _var in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")


def build_parser(lab_ids: list[str]) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="stepwise", description="Watch a neural network train and step through it.")
    p.add_argument("--list-labs", action="store_true", help="print one lab id per line and exit")
    p.add_argument("--lab", default="mlp", help=f"the lab to open: {', '.join(lab_ids)}")
    p.add_argument("--engine", choices=["numpy", "torch"], help="the engine (default: the lab's first)")
    p.add_argument("--headless", action="store_true", help="train without a window, print JSON lines")
    p.add_argument("--steps", type=int, help="iterations to train (headless, or before a screenshot)")
    p.add_argument("--screenshot", metavar="FILE.png", help="open the window, run --steps, save a PNG, exit")
    p.add_argument("--phases", type=int, default=0, help="window: after --steps, step this many phases more")
    p.add_argument("--select", type=int, help="window: inspect this block (0 = first)")
    p.add_argument("--load", metavar="FILE", help="load a saved model before starting")
    p.add_argument("--save", metavar="FILE", help="save the model after headless training")
    p.add_argument("--session", metavar="FILE", help="window: open a session saved with File → Save session")
    p.add_argument("--lesson", metavar="FILE", help="window: open a lesson (Markdown, see docs/LESSONS.md)")
    p.add_argument("--lesson-step", dest="lesson_step", type=int, metavar="N",
                   help="with --lesson and --screenshot: render step N (1 = the first) and exit")
    p.add_argument("--list-lessons", action="store_true", help="print the shipped lesson files, one path per line")
    p.add_argument("--text-size", dest="text_size", type=int, metavar="PERCENT",
                   help="window: text size 100-200 %% for this run (View → Text size keeps one between runs)")
    p.add_argument("--window-size", dest="window_size", metavar="WxH",
                   help="window: its size in pixels, e.g. 1280x720 (a projector: 1920x1080)")
    p.add_argument("--reveal", action="store_true", help="with --lesson-step: show the step's answer in the screenshot")
    p.add_argument("--log-every", type=int, help="headless: print a line every N iterations")
    g = p.add_argument_group("lab settings (declared once in engines/options.py; checked by the chosen lab)")
    add_lab_flags(g)
    g = p.add_argument_group("text labs: generation")
    g.add_argument("--generate", type=int, metavar="N", help="text labs: print N generated characters and exit")
    g.add_argument("--prompt", default=None, help="text labs: the text to start generating from")
    g.add_argument("--temperature", type=float, default=None, help="sampling temperature τ: p ∝ exp(logit / τ)")
    g.add_argument("--top-k", dest="top_k", type=int, default=None, help="sample only from the k likeliest characters")
    return p


def add_lab_flags(group) -> None:
    """One flag per declared setting (engines/options.py), its --help from the declarations: for each
    lab that uses it, the help sentence, the range, the unit and the default. Values arrive as text
    and are checked (and converted) by the lab's own declaration, so one flag serves labs that read it
    as different types (--hidden: sizes for the MLP, one size for the text labs)."""
    from engines.options import cli_options
    for key, uses in cli_options().items():
        texts: dict[str, list[str]] = {}
        for lab, spec in uses:
            labs = texts.setdefault(spec.describe(), [])
            if lab not in labs:
                labs.append(lab)
        text = " | ".join(f"{', '.join(labs)}: {what}" for what, labs in texts.items()).replace("%", "%%")
        spec = uses[0][1]
        if spec.kind == "bool":
            group.add_argument(spec.flag, dest=key, action="store_true", default=None, help=text)
        else:
            group.add_argument(spec.flag, dest=key, metavar=key.upper(), default=0 if key == "seed" else None,
                               help=text)


def _config_keys() -> tuple[str, ...]:
    from engines.options import cli_options
    return ("lab", "engine", *cli_options())


CONFIG_KEYS = _config_keys()


def config_from_args(args) -> dict:
    return {k: getattr(args, k) for k in CONFIG_KEYS if getattr(args, k, None) is not None}


def jsonable(x):
    """Numbers, lists and dicts only: numpy scalars and arrays become Python values."""
    import numpy as np
    if isinstance(x, dict):
        return {str(k): jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return jsonable(x.tolist())
    if isinstance(x, (np.floating, float)):
        v = float(x)
        return v if math.isfinite(v) else None
    if isinstance(x, np.integer):
        return int(x)
    return x


def emit(obj: dict) -> None:
    print(json.dumps(jsonable(obj)), flush=True)


def run_headless(config: dict, args) -> int:
    from engines.labs import make_trainer
    from visualizer.session import Session

    notes: list[str] = []
    config["notify"] = notes.append
    if args.session:  # go on from where the saved session was
        session, _ = Session.open(args.session, lambda c: make_trainer(dict(c, notify=notes.append)))
        trainer = session.trainer
    else:
        trainer = make_trainer(config)
        session = None
    for note in notes:
        print(f"stepwise: {note}", file=sys.stderr)
    if args.load:
        trainer.load(args.load)
    if args.generate is not None:
        reply = trainer.command("generate", {"prompt": args.prompt or "", "length": args.generate,
                                             "temperature": 1.0 if args.temperature is None else args.temperature,
                                             "top_k": args.top_k})
        print(reply["text"])
        return 0
    steps = 0 if args.steps is None else args.steps
    log_every = args.log_every or max(1, min(trainer.eval_every, steps // 20 or 1))
    session = session or Session(trainer, keyframe_budget_bytes=0, disk_budget_bytes=0, pool_budget_bytes=0)  # no going back here
    t0 = time.perf_counter()
    for _ in range(steps):
        session.step_iteration()
        it = session.iteration
        record = session.history[it]
        if it % log_every == 0 or any(k.startswith("heldout") for k in record) or it == steps:
            emit({"step": it, **record})
    seconds = time.perf_counter() - t0
    final = dict(session.history.get(session.iteration, {}))
    if not any(k.startswith("heldout") for k in final):
        final.update(trainer.evaluate())
    for line in trainer.final_lines() or []:
        emit(line)
    if args.save:
        trainer.save(args.save)
    emit({"summary": True, "lab": trainer.lab, "engine": trainer.engine, "seed": trainer.seed, "steps": steps,
          **final, **trainer.summary(), "seconds": round(seconds, 3),
          "iterations_per_s": round(steps / seconds, 2) if seconds > 0 else None})
    return 0


class UsageError(Exception):
    pass


WINDOW_ONLY = ("select", "phases", "screenshot")


def check_args(args, config: dict, argv: list[str]) -> dict:
    """Every value before any work: the lab's options against their declarations (engines/options.py,
    the same sentences as the settings form), the CLI's own numbers, and the places files go to.
    Returns the config with each value as its lab reads it (the flags arrive as text)."""
    from engines.atomic import check_writable
    from engines.labs import lab_info
    from engines.options import check_config

    for flag, value, low in (("--steps", args.steps, 0), ("--phases", args.phases, 0), ("--select", args.select, 0),
                             ("--log-every", args.log_every, 1), ("--generate", args.generate, 0),
                             ("--top-k", args.top_k, 1)):
        if value is not None and value < low:
            raise UsageError(f"{flag} must be {low} or more, not {value}.")
    if args.phases is not None and args.phases > 10_000:
        raise UsageError(f"--phases must be at most 10000, not {args.phases}: give whole iterations with --steps "
                         "and the phases into the last one with --phases.")
    if args.temperature is not None and not (math.isfinite(args.temperature) and args.temperature >= 0):
        raise UsageError(f"--temperature must be a number of 0 or more, not {args.temperature}.")
    if args.session:
        if args.load:
            raise UsageError("--load and --session cannot be used together: a session brings its own model; "
                             "give one of them.")
        # lab and seed have defaults, so only the command line itself says whether they were given
        typed = {a.split("=")[0] for a in argv}
        given = [k for k in config if k not in ("lab", "seed") or "--" + k in typed]
        if given:
            flags = ", ".join("--" + k.replace("_", "-") for k in given)
            raise UsageError(f"--session brings its own lab and settings; leave out {flags}.")
        if args.generate is not None:
            raise UsageError("--generate works on a model (--load FILE), not on a session.")
        from engines.state_io import load_session_tree
        load_session_tree(args.session)  # a bad file fails here, before any window
    info = lab_info(config["lab"])
    checked = check_config(dict(config, engine=config.get("engine") or info.engines[0]), strict=not args.session)
    checked["engine"] = config.get("engine")   # None: the lab's first, chosen later as before
    if args.save:
        check_writable(args.save, "the model")
    if args.screenshot:  # its folder is made, as it always was (make screenshots relies on it)
        try:
            Path(args.screenshot).expanduser().parent.mkdir(parents=True, exist_ok=True)
        except OSError:
            pass  # check_writable names the cause
        check_writable(args.screenshot, "the screenshot")
    return {k: v for k, v in checked.items() if v is not None}


def run_gui(config: dict, args) -> int:
    if (sys.platform.startswith("linux") and not os.environ.get("QT_QPA_PLATFORM")
            and not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY")):
        if not args.screenshot:
            raise UsageError("There is no display to open the window on (DISPLAY is not set): run it in a desktop "
                             "session or under Xvfb (see README), or use --headless or --screenshot.")
        os.environ["QT_QPA_PLATFORM"] = "offscreen"  # a screenshot needs no screen
    from PySide6 import QtCore, QtWidgets

    from visualizer.main_window import MainWindow
    from widgets.style import configure_pyqtgraph

    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication(sys.argv[:1])
    app.setApplicationName("Stepwise")
    configure_pyqtgraph()
    if args.load:
        config["load"] = args.load
    if args.session:
        config = {"session": args.session}
    scripted = bool(args.screenshot or args.steps or args.phases or args.lesson)  # a lesson sets its own run
    from functools import partial

    from visualizer.client import SessionClient
    # a scripted run asks nothing, and needs no standby engine for the next lab switch
    window = MainWindow(config, client_factory=partial(SessionClient, standby=not scripted),
                        offer_recovery=not scripted)
    if args.text_size is not None:
        window.presenter.set_percent(args.text_size, keep=False)
    if args.window_size:
        window.resize(*window_size(args.window_size))
    window.show()
    status = {"code": 0}
    if args.lesson:
        run_lesson(app, window, args, status)
    elif args.screenshot or args.steps or args.phases:
        steps = args.steps or 0
        state = {"reached": False, "shot": False}

        def on_ready(_info):
            if args.select is not None:
                window.client.send("select", args.select)
            if steps:
                window.client.send("run_to", steps)
            else:
                on_reached(0)

        def on_reached(_it):
            state["reached"] = True
            for _ in range(args.phases):
                window.client.send("step_phase")

        def on_snapshot(snap):
            if (state["reached"] and not state["shot"] and snap["iteration"] >= steps and not snap["playing"]
                    and snap["phase"] == args.phases % max(1, snap["phase_count"])):
                state["shot"] = True
                if args.screenshot:
                    QtCore.QTimer.singleShot(600, take)

        def take():
            ok = window.save_screenshot(args.screenshot)
            if not ok:
                print(f"stepwise: {window.last_error}", file=sys.stderr)
                status["code"] = 2
            window.close()
            app.quit()

        def on_error(message):
            if args.screenshot:
                print(f"stepwise: {message}", file=sys.stderr)
                status["code"] = 2
                window.close()
                app.quit()

        window.client.ready.connect(on_ready)
        window.client.reached.connect(on_reached)
        window.client.snapshot.connect(on_snapshot)
        window.client.error.connect(on_error)
        if args.screenshot:
            limit = float(os.environ.get("STEPWISE_SCREENSHOT_TIMEOUT", "900"))

            def too_slow():
                print(f"stepwise: the screenshot was not taken within {limit:.0f} s.", file=sys.stderr)
                status["code"] = 1
                window.close()
                app.quit()

            QtCore.QTimer.singleShot(int(limit * 1000), too_slow)
    app.exec()
    return status["code"]


def window_size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise UsageError(f"--window-size {text!r} is not WIDTHxHEIGHT; write it like 1280x720.") from None
    if not (320 <= w <= 10000 and 240 <= h <= 10000):
        raise UsageError(f"--window-size {text} is out of range; use at least 320x240.")
    return w, h


def run_lesson(app, window, args, status: dict) -> None:
    """--lesson FILE: open it; with --screenshot, render step --lesson-step and quit."""
    from PySide6 import QtCore
    controller = window.open_lesson(args.lesson)
    if not args.screenshot:
        return
    wanted = (args.lesson_step or 1) - 1

    def done(code: int, message: str | None = None):
        if message:
            print(f"stepwise: {message}", file=sys.stderr)
        status["code"] = code
        window.close()
        app.quit()

    def take():
        ok = window.save_screenshot(args.screenshot)
        done(0 if ok else 2, None if ok else f"could not write the screenshot to {args.screenshot}; check the folder.")

    def arrived(index: int):
        if index == wanted:
            if window.lesson.panel.has_answer and args.reveal:
                window.lesson.panel.reveal()
            QtCore.QTimer.singleShot(800, take)

    controller.arrived.connect(arrived)
    controller.failed.connect(lambda message: done(2, message))
    # the lesson opens at its first step; go straight to the one wanted
    controller.arrived.connect(lambda index: index == 0 and wanted > 0 and controller.goto(wanted))
    limit = float(os.environ.get("STEPWISE_SCREENSHOT_TIMEOUT", "900"))
    QtCore.QTimer.singleShot(int(limit * 1000), lambda: done(1, f"the screenshot was not taken within {limit:.0f} s."))


def main(argv: list[str] | None = None) -> int:
    import warnings

    from engines import StepwiseError
    # overflow warnings from a too-large learning rate: the engine reports NaN in one clear sentence instead
    warnings.filterwarnings("ignore", category=RuntimeWarning)
    from engines.labs import lab_ids

    parser = build_parser(lab_ids())
    argv = list(sys.argv[1:] if argv is None else argv)
    for i in range(len(argv) - 1):  # "--start -1,1.5": a negative start point is a value, not an option
        if argv[i] == "--start" and argv[i + 1].startswith("-"):
            argv[i:i + 2] = [f"--start={argv[i + 1]}"]
            break
    args = parser.parse_args(argv)  # unknown options: argparse prints the problem and exits with 2
    if args.list_labs:
        print("\n".join(lab_ids()))
        return 0
    if args.list_lessons:
        from visualizer.lessons import shipped_lessons
        print("\n".join(str(p) for p in shipped_lessons()))
        return 0
    config = config_from_args(args)
    try:
        config = check_args(args, config, argv)
        if args.headless or args.generate is not None:
            return run_headless(config, args)
        # check the settings before opening a window, so bad input fails fast with status 2
        if args.window_size:
            window_size(args.window_size)
        if args.text_size is not None and not 100 <= args.text_size <= 200:
            raise UsageError(f"--text-size {args.text_size} is out of range; use 100 to 200 (per cent).")
        if args.lesson_step is not None and not (args.lesson and args.screenshot):
            raise UsageError("--lesson-step needs --lesson FILE and --screenshot FILE.png.")
        if args.lesson:
            from visualizer.lessons import load_lesson
            lesson = load_lesson(args.lesson)  # a bad lesson fails here, with status 2
            if args.lesson_step is not None and not 1 <= args.lesson_step <= len(lesson.steps):
                raise UsageError(f"--lesson-step {args.lesson_step} is not a step of {args.lesson}; "
                                 f"it has steps 1 to {len(lesson.steps)}.")
            if "--lab" not in " ".join(argv):
                config = {**config, **lesson.steps[0].lab}  # the first run is already the lesson's
        elif "--lab" not in " ".join(argv) and not args.session and not args.screenshot:
            from visualizer.presenter import last_lab
            lab = last_lab()
            if lab in lab_ids():
                config["lab"] = lab  # the window opens on the last lab used
        if not args.session and (args.screenshot or args.select is not None or args.load):
            from engines.labs import make_trainer
            trainer = make_trainer(dict(config))
            if args.load:
                trainer.load(args.load)  # a bad file fails here, not in the engine process
            if args.select is not None and args.select >= len(trainer.blocks()):
                raise UsageError(f"--select {args.select} is beyond this network's {len(trainer.blocks())} blocks; "
                                 f"give 0 to {len(trainer.blocks()) - 1}.")
        return run_gui(config, args)
    except (StepwiseError, UsageError) as e:
        print(f"stepwise: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
