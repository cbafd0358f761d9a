"""One training iteration of the CNN lab's network, NumPy engine vs Torch engine (CPU).

    python -m bench cnn [--rounds 5] [--iterations 40] [--batch-size 64] [--threads app|N]

Each side is the lab's own trainer (``make_trainer({"lab": "cnn", ...})``): the same network,
the same initial weights and the same batches, one full iteration (every forward and backward
phase, the loss, the update) timed as the app runs it at full speed (run_iteration(detail=False)),
float32. Each engine runs in its own fresh process; rounds alternate which goes first.

--threads app (default): as the CLI runs them: NumPy with one OpenBLAS thread (main.py sets it),
torch with its default intra-op threads (all cores; inside the app's engine process torch gets
one thread, which only helps NumPy's side). --threads N: both engines with N threads.

The last line is one JSON object with "numpy_over_torch": median NumPy iteration time / median
Torch iteration time (pooled over the rounds), and each engine's iterations per second.
"""
from __future__ import annotations

import argparse
import os
import platform
import sys

from .common import alternate_rounds, median, pooled_median, print_json, round_ratios, time_calls


def worker(argv: list[str]) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("engine", choices=["numpy", "torch"])
    p.add_argument("--iterations", type=int, default=40)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--threads", default="app")
    a = p.parse_args(argv)
    config = {"lab": "cnn", "engine": a.engine, "seed": 0, "batch_size": a.batch_size}
    if a.engine == "torch" and a.threads != "app":
        config["threads"] = int(a.threads)
    from engines.labs import make_trainer
    trainer = make_trainer(config)

    def one_iteration():
        for _ in trainer.run_iteration(detail=False):
            pass

    times = time_calls(one_iteration, a.iterations, warmup=5)
    extra = {}
    if a.engine == "torch":
        import torch
        extra["torch_threads"] = torch.get_num_threads()
    print_json({"engine": a.engine, "times": times, **extra})
    return 0


def main(argv: list[str]) -> int:
    if argv and argv[0] == "--worker":
        return worker(argv[1:])
    p = argparse.ArgumentParser(prog="python -m bench cnn", description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--iterations", type=int, default=40, help="timed iterations per engine per round")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--threads", default="app", help="app (default) or a number of threads for both engines")
    a = p.parse_args(argv)
    if a.threads == "app":  # NumPy: one OpenBLAS thread, as main.py sets; torch: its own default
        env = {"OPENBLAS_NUM_THREADS": "1"}
    else:
        n = str(int(a.threads))
        env = {"OPENBLAS_NUM_THREADS": n, "MKL_NUM_THREADS": n, "OMP_NUM_THREADS": n}
    common = ["--iterations", str(a.iterations), "--batch-size", str(a.batch_size), "--threads", a.threads]
    print(f"CNN lab, one training iteration at batch {a.batch_size}, float32; {a.rounds} rounds, "
          f"threads: {a.threads} ({platform.machine()}, {os.cpu_count()} cores)", flush=True)
    res = alternate_rounds({"numpy": (["--worker", "numpy", *common], env),
                            "torch": (["--worker", "torch", *common], env)}, "bench.cnn", a.rounds)
    t_np, t_torch = pooled_median(res["numpy"]), pooled_median(res["torch"])
    ratios = round_ratios(res["numpy"], res["torch"])
    ratio = t_np / t_torch
    print(f"NumPy {1e3 * t_np:.2f} ms ({1 / t_np:.0f} it/s), Torch {1e3 * t_torch:.2f} ms ({1 / t_torch:.0f} it/s); "
          f"NumPy / Torch = {ratio:.2f} (per round {min(ratios):.2f}–{max(ratios):.2f}); target ≤ 1.5", flush=True)
    print_json({"bench": "cnn", "numpy_over_torch": round(ratio, 4),
                "numpy_over_torch_per_round": [round(r, 4) for r in ratios],
                "numpy_over_torch_round_median": round(median(ratios), 4),
                "numpy_ms": round(1e3 * t_np, 3), "torch_ms": round(1e3 * t_torch, 3),
                "numpy_it_per_s": round(1 / t_np, 1), "torch_it_per_s": round(1 / t_torch, 1),
                "batch_size": a.batch_size, "dtype": "float32", "threads": a.threads,
                "torch_threads": res["torch"][0].get("torch_threads"), "rounds": a.rounds,
                "iterations_per_round": a.iterations, "target": 1.5, "meets_target": ratio <= 1.5,
                "python": sys.version.split()[0]})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
