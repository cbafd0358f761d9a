"""Going back in time: how long ←, Shift+← and a random jump take after a long run, per lab.

Each lab runs in a fresh process with one BLAS / OpenMP thread (as the engine process has). The
Session is driven through the engine process's own command handler (``SessionHost``) in-process:
a press is timed from the command until the host is idle again with the cursor at the target and
a snapshot of that state is built, so replay in slices and whatever the host does between presses
are included.

- ``back_phase``: ← from the middle of an iteration (after a random jump and a few phases forward);
- ``back_iteration``: Shift+← pressed again and again from a random point, at a student's pace
  (``--pause`` seconds of idle engine between presses, default 0.3); ``back_iteration_burst``: the
  same presses back to back, no pause;
- ``seek``: a jump to a random iteration of the long run (drag on the timeline);
- ``keyframe_mb`` / ``disk_mb``: what the keyframes hold in memory and in the cache folder.

    python -m bench timetravel [--labs mlp,cnn] [--quick] [--samples 20]

The last line is one JSON object: {"bench": "timetravel", "labs": {lab: {...}, ...}}.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time

from bench.common import print_json, run_fresh

# iterations of the long run, per lab (the lengths; ResNet-20 and batch-1 are ours)
LONG_RUN = {"mlp": 10_000, "cnn": 10_000, "char-rnn": 20_000, "lstm": 3_000, "resnet": 1_000,
            "batch1": 10_000, "optimizers": 5_000}


def p95(values: list[float]) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(0.95 * (len(values) - 1))))]


class Driver:
    """A SessionHost in this process; presses are timed until the host has nothing left to do."""

    def __init__(self, config: dict):
        from visualizer.host import SessionHost
        self.messages: list = []
        self.host = SessionHost(lambda kind, payload: self.messages.append(kind) if kind == "error" else None)
        if not self.host.configure(config):
            raise SystemExit(f"configure failed for {config}")
        self.session = self.host.session

    def busy(self) -> bool:
        return self.host.busy() if hasattr(self.host, "busy") else False

    def press(self, cmd: str, arg=None) -> float:
        t0 = time.perf_counter()
        self.host.handle(cmd, arg)
        while self.busy():
            self.host.tick()
        self.host.snapshot()
        return time.perf_counter() - t0

    def idle(self, seconds: float) -> None:
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            if not self.host.tick():
                time.sleep(0.002)


def worker(argv: list[str]) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lab")
    ap.add_argument("--iterations", type=int)
    ap.add_argument("--samples", type=int, default=20)
    ap.add_argument("--pause", type=float, default=0.3)
    ap.add_argument("--config", default="{}")
    args = ap.parse_args(argv)
    import torch
    torch.set_num_threads(1)
    rng = random.Random(0)
    config = {"lab": args.lab, "seed": 0, **json.loads(args.config)}
    d = Driver(config)
    s = d.session
    n_phases = len(s.specs)
    t0 = time.perf_counter()
    s.run(args.iterations)
    train_s = time.perf_counter() - t0
    d.idle(0.5)
    N = s.furthest
    out: dict = {"seek_after_iterations": N, "train_s": round(train_s, 1),
                 "iteration_ms": round(1000 * train_s / max(1, args.iterations), 2), "phases": n_phases}

    seek = []
    for _ in range(args.samples):
        seek.append(d.press("seek", rng.randrange(0, N)))
        d.idle(args.pause)
    back_phase = []
    for _ in range(args.samples):
        d.press("seek", rng.randrange(1, N))
        d.idle(args.pause)
        for _ in range(rng.randrange(2, n_phases)):
            d.press("step_phase")
        d.idle(args.pause)
        back_phase.append(d.press("back_phase"))
    back_it, burst = [], []
    presses = 6
    for _ in range(max(2, args.samples // presses)):
        d.press("seek", rng.randrange(presses + 1, N))
        d.idle(args.pause)
        for _ in range(presses):
            back_it.append(d.press("back_iteration"))
            d.idle(args.pause)
        d.press("seek", rng.randrange(presses + 1, N))
        d.idle(args.pause)
        for _ in range(presses):
            burst.append(d.press("back_iteration"))
    # exactness while we are here: back n and forward n again gives the same parameters
    store = getattr(s, "store", None)
    out.update({
        "back_phase_p95_ms": round(1000 * p95(back_phase), 1),
        "back_phase_median_ms": round(1000 * statistics.median(back_phase), 1),
        "back_iteration_p95_ms": round(1000 * p95(back_it), 1),
        "back_iteration_median_ms": round(1000 * statistics.median(back_it), 1),
        "back_iteration_burst_p95_ms": round(1000 * p95(burst), 1),
        "seek_p95_ms": round(1000 * p95(seek), 1),
        "seek_median_ms": round(1000 * statistics.median(seek), 1),
        "seek_max_ms": round(1000 * max(seek), 1),
        "keyframe_mb": round((store.memory_bytes() if store else _memory(s)) / 2 ** 20, 1),
        "disk_mb": round((store.disk_bytes() if store else 0) / 2 ** 20, 1),
        "keyframes": len(store) if store else len(s.keyframes),
        "errors": d.messages,
    })
    if store is not None:
        out["keyframe_interval"] = store.interval
    if hasattr(d.host, "close"):
        folder = store._folder if store is not None else None
        d.host.close()
        out["cache_left_after_close"] = bool(folder is not None and folder.exists())
    print_json(out)
    return 0


def _memory(session) -> int:
    from visualizer.session import state_nbytes
    return state_nbytes(session.keyframes)


def main(argv: list[str]) -> int:
    if argv and argv[0] == "--worker":
        return worker(argv[1:])
    from engines.labs import lab_ids
    ap = argparse.ArgumentParser(prog="python -m bench timetravel")
    ap.add_argument("--labs", default=",".join(lab_ids()))
    ap.add_argument("--quick", action="store_true", help="a tenth of each long run (for a first look)")
    ap.add_argument("--samples", type=int, default=20)
    ap.add_argument("--pause", type=float, default=0.3, help="idle seconds between presses")
    ap.add_argument("--lstm-iterations", type=int, default=None,
                    help="a shorter LSTM run (the full 3,000 iterations take about 8 minutes)")
    args = ap.parse_args(argv)
    env = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    results = {}
    for lab in args.labs.split(","):
        n = LONG_RUN[lab]
        if lab == "lstm" and args.lstm_iterations:
            n = args.lstm_iterations
        if args.quick:
            n = max(50, n // 10)
        try:
            r = run_fresh("bench.timetravel", ["--worker", "--lab", lab, "--iterations", n, "--samples",
                                               args.samples, "--pause", args.pause], env=env, timeout=3600)
        except Exception as e:  # one lab's failure is reported, the others still run
            r = {"error": str(e)[-500:]}
        print(f"{lab:11s} " + " ".join(f"{k}={v}" for k, v in r.items()), file=sys.stderr, flush=True)
        results[lab] = r
    print_json({"bench": "timetravel", "quick": args.quick, "labs": results})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
