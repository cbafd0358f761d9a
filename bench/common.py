"""Helpers shared by the benchmarks: fresh processes, alternating rounds, medians, the JSON line.

Machines here are shared and drift ±20–30 % over minutes, and two engines in one process disturb
each other (idle OpenBLAS threads slowed torch 1.6×), so a comparison runs each side in its own
fresh process, alternates the sides round by round (swapping which goes first), and reports
medians and the median of the per-round ratios.

A benchmark module typically has a worker mode that measures one side and prints one JSON line:

    def main(argv):
        if argv and argv[0] == "--worker":
            return worker(argv[1:])          # measure, then print_json({"times": [...]})
        results = alternate_rounds({"a": [...args...], "b": [...]}, "bench.mine", rounds=5)
        ...
        print_json({...})                    # the last line: one JSON object
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Iterable

ROOT = Path(__file__).resolve().parent.parent


def print_json(obj: dict) -> None:
    print(json.dumps(obj), flush=True)


def time_calls(fn: Callable[[], Any], repeat: int, warmup: int = 3) -> list[float]:
    """Seconds per call of fn(), after ``warmup`` untimed calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times


def run_fresh(module: str, args: Iterable[str], env: dict[str, str] | None = None, timeout: float = 600) -> dict:
    """Run ``python -m <module> <args>`` in a fresh process (repository root as working directory,
    ``env`` added to the environment); return the JSON object on its last stdout line."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    proc = subprocess.run([sys.executable, "-m", module, *map(str, args)], cwd=ROOT, env=full_env,
                          capture_output=True, text=True, timeout=timeout)
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"{module} {' '.join(map(str, args))} failed (status {proc.returncode}):\n"
                           f"{proc.stderr[-2000:]}")
    return json.loads(lines[-1])


def alternate_rounds(sides: dict[str, tuple[list[str], dict[str, str]]], module: str, rounds: int,
                     log: Callable[[str], None] | None = print) -> dict[str, list[dict]]:
    """Each round runs every side once in a fresh process: ``sides[name] = (args, env)``.
    The order of the sides turns by one each round. Returns name -> the worker's JSON per round."""
    names = list(sides)
    results: dict[str, list[dict]] = {name: [] for name in names}
    for r in range(rounds):
        order = names[r % len(names):] + names[:r % len(names)]
        for name in order:
            args, env = sides[name]
            out = run_fresh(module, args, env)
            results[name].append(out)
            if log is not None and "times" in out:
                log(f"round {r + 1}/{rounds} {name:>8}: median {1e3 * statistics.median(out['times']):.2f} ms "
                    f"over {len(out['times'])}")
    return results


def median(values: Iterable[float]) -> float:
    return float(statistics.median(list(values)))


def pooled_median(per_round: list[dict], key: str = "times") -> float:
    """The median over every measurement of every round."""
    return median(t for r in per_round for t in r[key])


def round_ratios(a: list[dict], b: list[dict], key: str = "times") -> list[float]:
    """Per round: median(a) / median(b)."""
    return [median(x[key]) / median(y[key]) for x, y in zip(a, b)]
