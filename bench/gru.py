"""LSTM against GRU on the same text, hidden size, seed and batches (the LSTM lab, --cell lstm|gru).

    python -m bench gru [--iterations 300] [--engines numpy,torch] [--hidden 256] [--depth 2]
                        [--checkpoints 4] [--eval-chars 32000] [--generate 2000]

Each (engine, cell) trains in its own fresh process, one thread, the lab's defaults otherwise
(2 layers, 50 characters × 32 streams per iteration, Adam 2e-3, clip 5), fast play. Reported per
run: parameters (3(N·d + N² + N) + N per GRU layer against 4(N·d + N² + N) per LSTM layer),
held-out loss per character (nats, the first --eval-chars characters of the held-out tail) at
evenly spaced checkpoints together with the training seconds spent until then (so the two cells
can be compared after the same iterations or the same time), training characters per second
(wall and process CPU time, evaluation excluded) and generation characters per second (wall and
CPU time, batch 1, the app's generate path, the primer it reads first included). Within an
engine the cells take turns going first; the last line is one JSON object.
"""
from __future__ import annotations

import argparse
import json
import time

from bench.common import print_json, run_fresh

CELLS = ("lstm", "gru")


def worker(argv: list[str]) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--cell")
    p.add_argument("--engine")
    p.add_argument("--iterations", type=int)
    p.add_argument("--hidden", type=int)
    p.add_argument("--depth", type=int)
    p.add_argument("--checkpoints", type=int)
    p.add_argument("--eval-chars", type=int)
    p.add_argument("--generate", type=int)
    a = p.parse_args(argv)
    from engines.labs import make_trainer
    t = make_trainer({"lab": "lstm", "cell": a.cell, "engine": a.engine, "seed": 0, "hidden": a.hidden,
                      "depth": a.depth, "eval_chars": a.eval_chars, "threads": 1})
    every = max(1, a.iterations // a.checkpoints)
    wall = cpu = 0.0
    curve = []
    for it in range(1, a.iterations + 1):
        w0, c0 = time.perf_counter(), time.process_time()
        for _ in t.run_iteration(detail=False):
            pass
        wall += time.perf_counter() - w0
        cpu += time.process_time() - c0
        if it % every == 0 or it == a.iterations:
            curve.append({"iteration": it, "train_seconds": round(wall, 3),
                          "heldout_loss_per_char": t.evaluate()["heldout_loss_per_char"],
                          "train_loss": t.last_metrics["loss"]})
    chars = a.iterations * t.seq_len * t.batch_size
    read = len(t.primer()) + a.generate          # generation reads the primer first, then writes
    g0, c0 = time.perf_counter(), time.process_time()
    t.generate("", a.generate, 0.8, 0, seed=1)
    gen_s, gen_cpu = time.perf_counter() - g0, time.process_time() - c0
    counts = t.parameter_counts()
    print(json.dumps({"cell": a.cell, "engine": a.engine, "parameters": counts["total"],
                      "layer_parameters": counts["layers"], "curve": curve,
                      "heldout_loss_per_char": curve[-1]["heldout_loss_per_char"],
                      "train_chars_per_s": chars / wall, "train_chars_per_s_cpu": chars / cpu,
                      "ms_per_iteration": 1e3 * wall / a.iterations, "generate_chars_per_s": read / gen_s,
                      "generate_chars_per_s_cpu": read / gen_cpu}))
    return 0


def main(argv: list[str]) -> int:
    if argv and argv[0] == "--worker":
        return worker(argv[1:])
    p = argparse.ArgumentParser(prog="python -m bench gru")
    p.add_argument("--iterations", type=int, default=300)
    p.add_argument("--engines", default="numpy,torch")
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--depth", type=int, default=2)
    p.add_argument("--checkpoints", type=int, default=4)
    p.add_argument("--eval-chars", dest="eval_chars", type=int, default=32_000)
    p.add_argument("--generate", type=int, default=2000)
    a = p.parse_args(argv)
    runs = []
    for engine in a.engines.split(","):
        for cell in (CELLS if len(runs) % 4 == 0 else CELLS[::-1]):   # alternate which cell goes first
            out = run_fresh("bench.gru", ["--worker", "--cell", cell, "--engine", engine, "--iterations", a.iterations,
                                          "--hidden", a.hidden, "--depth", a.depth, "--checkpoints", a.checkpoints,
                                          "--eval-chars", a.eval_chars, "--generate", a.generate],
                            env={"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}, timeout=3600)
            runs.append(out)
            print(f"{engine:>5} {cell:>4}: {out['parameters']:>9,} parameters · held-out "
                  f"{out['heldout_loss_per_char']:.3f} nats/char after {a.iterations} iterations · "
                  f"{out['train_chars_per_s']:,.0f} chars/s training ({out['train_chars_per_s_cpu']:,.0f} in CPU time, "
                  f"{out['ms_per_iteration']:.1f} ms/iteration) · {out['generate_chars_per_s']:,.0f} chars/s generating "
                  f"({out['generate_chars_per_s_cpu']:,.0f} in CPU time)", flush=True)
    ratios = {}
    for engine in a.engines.split(","):
        by = {r["cell"]: r for r in runs if r["engine"] == engine}
        ratios[engine] = {"gru_over_lstm_parameters": by["gru"]["parameters"] / by["lstm"]["parameters"],
                          "gru_over_lstm_train_speed": by["gru"]["train_chars_per_s"] / by["lstm"]["train_chars_per_s"],
                          "gru_minus_lstm_heldout_loss": by["gru"]["heldout_loss_per_char"]
                          - by["lstm"]["heldout_loss_per_char"]}
    print_json({"bench": "gru", "iterations": a.iterations, "hidden": a.hidden, "depth": a.depth, "runs": runs,
                "ratios": ratios})
    return 0


if __name__ == "__main__":
    import sys
    sys.exit(main(sys.argv[1:]))
