"""Transfer learning in the CNN lab: pretrain on digits 0–4, then learn digits 5–9 three ways.

    python -m bench transfer [--engines numpy,torch] [--pretrain 600] [--steps 300] [--eval-every 25]
                             [--seeds 1] [--channels 12,24] [--timing-rounds 3] [--timing-steps 60]

    head     start from the 0–4 model, a new head, conv1 and conv2 frozen (--freeze conv1,conv2)
    all      start from the 0–4 model, a new head, every block trains
    scratch  a fresh network

Each run is a fresh process (one BLAS / torch thread) on the same batches for a seed. Reported:
held-out accuracy on digits 5–9 every ``eval-every`` iterations; and the time of a training
iteration (evaluation not included), measured apart in ``timing-rounds`` rounds of short runs, the
three regimes alternating (the order turns each round), as a median and as the median per-round
ratio to fine-tuning all (the machine drifts; ratios measured side by side hold better). The last
line printed is one JSON object.
"""
from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from bench.common import alternate_rounds, median, print_json, round_ratios, run_fresh

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

REGIMES = {"head": {"freeze": "conv1,conv2"}, "all": {}, "scratch": {}}


def worker(argv: list[str]) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--engine", default="numpy")
    p.add_argument("--regime", choices=[*REGIMES, "pretrain"], required=True)
    p.add_argument("--model", required=True)
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--eval-every", type=int, default=25)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--channels", default="12,24")
    a = p.parse_args(argv)
    import torch
    torch.set_num_threads(1)
    from engines.labs import make_trainer
    config = {"lab": "cnn", "engine": a.engine, "seed": a.seed, "channels": a.channels, "threads": 1}
    if a.regime == "pretrain":
        config["digits"] = "0-4"
    else:
        config["digits"] = "5-9"
        config.update(REGIMES[a.regime])
        if a.regime != "scratch":
            config["init"] = a.model
    trainer = make_trainer(config)
    curve = [[0, trainer.evaluate()["heldout_accuracy"]]]
    times = []
    for it in range(1, a.steps + 1):
        t0 = time.perf_counter()
        for _ in trainer.run_iteration(detail=False):
            pass
        times.append(time.perf_counter() - t0)
        if it % a.eval_every == 0 or it == a.steps:
            curve.append([it, trainer.evaluate()["heldout_accuracy"]])
    if a.regime == "pretrain":
        trainer.save(a.model)
    print_json({"regime": a.regime, "engine": a.engine, "curve": curve, "times": times[3:],
                "frozen": sorted(trainer.frozen), "summary": {k: v for k, v in trainer.summary().items()
                                                                if k in ("init_loaded", "init_new", "digits")}})
    return 0


def main(argv: list[str]) -> int:
    if argv and argv[0] == "--worker":
        return worker(argv[1:])
    p = argparse.ArgumentParser(prog="python -m bench transfer")
    p.add_argument("--engines", default="numpy,torch")
    p.add_argument("--pretrain", type=int, default=600)
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--eval-every", type=int, default=25)
    p.add_argument("--seeds", type=int, default=1)
    p.add_argument("--channels", default="12,24")
    p.add_argument("--timing-rounds", type=int, default=3)
    p.add_argument("--timing-steps", type=int, default=60)
    a = p.parse_args(argv)
    engines = [e.strip() for e in a.engines.split(",") if e.strip()]
    common = ["--steps", a.steps, "--eval-every", a.eval_every, "--channels", a.channels]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for engine in engines:
            for seed in range(a.seeds):
                model = str(Path(tmp) / f"pre-{engine}-{seed}.{'npz' if engine == 'numpy' else 'pt'}")
                pre = run_fresh("bench.transfer", ["--worker", "--engine", engine, "--regime", "pretrain", "--model",
                                                   model, "--seed", seed, "--steps", a.pretrain,
                                                   "--eval-every", a.pretrain, "--channels", a.channels])
                print(f"{engine} seed {seed}: pretrained on 0-4 for {a.pretrain} it, held-out 0-4 accuracy "
                      f"{pre['curve'][-1][1]:.4f}", flush=True)
                for regime in REGIMES:
                    out = run_fresh("bench.transfer", ["--worker", "--engine", engine, "--regime", regime, "--model",
                                                       model, "--seed", seed, *common])
                    ms = 1e3 * statistics.median(out["times"])
                    row = {"engine": engine, "seed": seed, "regime": regime, "ms_per_iteration": round(ms, 3),
                           "curve": out["curve"], "pretrain_accuracy_0_4": pre["curve"][-1][1],
                           "frozen": out["frozen"], **out["summary"]}
                    rows.append(row)
                    marks = "  ".join(f"{it}: {acc:.3f}" for it, acc in out["curve"] if it in (0, 25, 50, 100, 200, 300)
                                      or it == a.steps)
                    print(f"{engine:>5} {regime:>7}: {ms:6.2f} ms/it (this run) · held-out 5-9 accuracy {marks}",
                          flush=True)
        timing = {}
        for engine in engines:
            model = str(Path(tmp) / f"pre-{engine}-0.{'npz' if engine == 'numpy' else 'pt'}")
            sides = {regime: (["--worker", "--engine", engine, "--regime", regime, "--model", model,
                               "--steps", a.timing_steps, "--eval-every", 10 ** 9, "--channels", a.channels], {})
                     for regime in REGIMES}
            res = alternate_rounds(sides, "bench.transfer", a.timing_rounds, log=None)
            timing[engine] = {regime: {"median_ms": round(1e3 * median(median(r["times"]) for r in res[regime]), 3),
                                       "over_all": round(median(round_ratios(res[regime], res["all"])), 3)}
                              for regime in REGIMES}
            for regime, t in timing[engine].items():
                print(f"{engine:>5} {regime:>7}: {t['median_ms']:6.2f} ms/it, {t['over_all']:.2f}× fine-tuning all "
                      f"({a.timing_rounds} alternating rounds of {a.timing_steps} it)", flush=True)
    print_json({"bench": "transfer", "pretrain_iterations": a.pretrain, "steps": a.steps, "channels": a.channels,
                "rows": rows, "timing": timing})
    return 0


if __name__ == "__main__":
    import sys
    sys.exit(main(sys.argv[1:]))
