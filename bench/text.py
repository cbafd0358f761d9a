"""Speed of the text labs, measured side by side (ratios from one run, not timed tests).

    python -m bench text [--rounds 5] [--threads 1] [--clock cpu|wall]
    python -m bench text --quality 5 [--lab char-rnn|lstm] [--engine torch|numpy]
        trains the lab headless for 5 minutes (one thread, the lab's defaults) and prints the
        held-out loss per character (nats) on the whole held-out tail, and a sample

Pairs, each side in its own fresh process, alternating which goes first, in rounds; a round's
ratio is the ratio of the two sides' median times; the result is the median over rounds:
- char-RNN iteration (hidden 100, seq 25, 1 layer, batch 1, forward + backward + clip + Adagrad):
  bench/minchar_reference.py (min-char-rnn as written) over the app's NumPy trainer iteration;
- fwd+bwd of a 2×256 LSTM, sequence 100, batch 32, 65 characters (one-hot input, a Linear to 65
  logits, mean cross-entropy): nn.LSTM against the torch hand-written LSTM as the app trains it
  in fast play (StagedLSTM, one autograd graph per layer; also reported: the same when stepping
  through time, one graph and one autograd call per time step) and against the NumPy LSTM
  (manual BPTT);
- generation, batch 1, 2×256 LSTM, through the app's path (trainer.command("generate_stream")
  with every character's gate activations recorded): characters per second, per engine.

Both sides use the same number of threads (--threads, default 1: the app's engine process runs
one). The machine is shared, so by default each side is timed in process CPU time (--clock cpu),
which other processes cannot inflate; --clock wall times the wall clock instead. Both are printed.
The last line is one JSON object.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
T, B, H, L, V = 100, 32, 256, 2, 65


# ---------------------------------------------------------------------------- workloads (in a worker)
def _lstm_batch():
    import numpy as np
    rng = np.random.default_rng(0)
    return rng.integers(0, V, (T, B)), rng.integers(0, V, (T, B))


def make_workload(name: str):
    """(function running one unit of work, units per call) for a worker process."""
    import numpy as np
    if name == "minchar":
        from bench.minchar_reference import MinCharRNN
        from engines.text_data import load_text
        data = load_text(None)
        m = MinCharRNN(data.decode(data.train[:200_000]), hidden_size=100, seq_length=25)

        def step():
            for _ in range(20):
                m.iteration()
        return step, 20
    if name == "charrnn":
        from engines.labs import make_trainer
        t = make_trainer({"lab": "char-rnn", "hidden": 100, "depth": 1, "seq_len": 25, "batch_size": 1})

        def step():
            for _ in range(20):
                for _ in t.run_iteration(detail=False):   # as the app plays: fast, phase events included
                    pass
        return step, 20
    if name in ("nn_lstm", "torch_lstm", "torch_lstm_stepwise"):
        import torch
        import torch.nn.functional as F
        ids, tg = _lstm_batch()
        ids_t, tg_t = torch.from_numpy(ids), torch.from_numpy(tg).reshape(-1)
        if name == "nn_lstm":
            lstm, head = torch.nn.LSTM(V, H, L), torch.nn.Linear(H, V)

            def step():
                lstm.zero_grad()
                head.zero_grad()
                y, _ = lstm(F.one_hot(ids_t, V).float())
                F.cross_entropy(head(y).reshape(-1, V), tg_t).backward()
            return step, 1
        from engines.torch_engine.lstm import StagedLSTM
        staged = StagedLSTM(V, H, L, torch.Generator().manual_seed(0))
        stepwise = name == "torch_lstm_stepwise"
        return (lambda: staged.forward_backward(ids, tg, stepwise=stepwise)), 1
    if name == "numpy_lstm":
        from engines.numpy_engine.lstm import NumpyLSTM
        ids, tg = _lstm_batch()
        net = NumpyLSTM(V, H, L, np.random.default_rng(0))
        return (lambda: net.forward_backward(ids, tg)), 1
    if name.startswith("generate_"):
        from engines.labs import make_trainer
        t = make_trainer({"lab": "lstm", "engine": name.split("_")[1], "hidden": H, "depth": L})
        n = 2000

        def step():
            task = t.command("generate_stream", {"prompt": "ROMEO:", "length": n, "temperature": 1.0, "chunk": 8})["task"]
            for _ in task:
                pass
        return step, n
    raise ValueError(name)


def worker(name: str, reps: int, threads: int) -> None:
    if "torch" in name or "lstm" in name or name.startswith("generate"):
        import torch
        torch.set_num_threads(threads)
    fn, units = make_workload(name)
    fn()  # warm-up: buffers, caches, lazy imports
    fn()
    cpu, wall = [], []
    for _ in range(reps):
        c0, w0 = time.process_time(), time.perf_counter()
        fn()
        cpu.append((time.process_time() - c0) / units)
        wall.append((time.perf_counter() - w0) / units)
    print(json.dumps({"name": name, "cpu": statistics.median(cpu), "wall": statistics.median(wall)}))


# ---------------------------------------------------------------------------- driver
def run_worker(name: str, reps: int, threads: int) -> dict:
    env = dict(os.environ, OPENBLAS_NUM_THREADS=str(threads), OMP_NUM_THREADS=str(threads),
               MKL_NUM_THREADS=str(threads))
    out = subprocess.run([sys.executable, "-m", "bench.text", "--worker", name, "--reps", str(reps),
                          "--threads", str(threads)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    if out.returncode != 0:
        raise RuntimeError(f"worker {name} failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


REPS = {"minchar": 25, "charrnn": 25, "nn_lstm": 7, "torch_lstm": 7, "torch_lstm_stepwise": 7, "numpy_lstm": 7,
        "generate_torch": 3, "generate_numpy": 3}


def quality(args) -> int:
    """Headless training for a fixed time, as `main.py --headless` trains (a Session, evaluations included)."""
    import torch
    torch.set_num_threads(args.threads)
    from engines.labs import make_trainer
    from visualizer.session import Session
    config = {"lab": args.lab, "seed": args.seed}
    if args.engine:
        config["engine"] = args.engine
    trainer = make_trainer(config)
    session = Session(trainer)
    limit = args.quality * 60.0
    t0 = time.perf_counter()
    next_report = 30.0
    while time.perf_counter() - t0 < limit:
        session.step_iteration()
        elapsed = time.perf_counter() - t0
        if elapsed >= next_report:
            rec = session.history[session.iteration]
            held = [session.history[i]["heldout_loss_per_char"] for i in sorted(session.history)
                    if "heldout_loss_per_char" in session.history[i]]
            print(f"{elapsed:6.0f} s  iteration {session.iteration:6d}  loss {rec['loss']:.3f}"
                  + (f"  held-out (first {trainer.eval_chars:,} chars) {held[-1]:.3f}" if held else ""), flush=True)
            next_report += 30.0
    seconds = time.perf_counter() - t0
    c0 = time.perf_counter()
    full = float(trainer.model.eval_loss(trainer.data.heldout, streams=trainer.eval_streams))
    eval_s = time.perf_counter() - c0
    if args.save:
        trainer.save(args.save)
    sample = trainer.generate("", 600, 0.8, 0, seed=args.seed)
    print("\nsample (temperature 0.8):\n" + sample + "\n")
    result = {"bench": "text-quality", "lab": trainer.lab, "engine": trainer.engine, "minutes": args.quality,
              "seconds": round(seconds, 1), "iterations": trainer.iteration,
              "characters_seen": trainer.iteration * trainer.seq_len * trainer.batch_size,
              "epochs": round(trainer.iteration * trainer.seq_len * trainer.batch_size / len(trainer.data.train), 2),
              "heldout_loss_per_char": round(full, 4), "heldout_chars": len(trainer.data.heldout) - 1,
              "eval_seconds": round(eval_s, 1), "train_loss_last": round(float(trainer.last_metrics["loss"]), 4),
              "config": {"hidden": trainer.hidden, "depth": trainer.depth, "seq_len": trainer.seq_len,
                         "batch_size": trainer.batch_size, "lr": trainer.lr, "threads": args.threads},
              "sample": sample}
    print(json.dumps(result))
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench text")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--clock", choices=("cpu", "wall"), default="cpu")
    p.add_argument("--quality", type=float, metavar="MINUTES", help="train for this long and report quality")
    p.add_argument("--lab", default="lstm")
    p.add_argument("--engine")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--save", help="quality: save the trained model here")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--reps", type=int, default=5, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        worker(args.worker, args.reps, args.threads)
        return 0
    if args.quality:
        return quality(args)

    pairs = [("minchar", "charrnn"), ("nn_lstm", "torch_lstm"), ("nn_lstm", "torch_lstm_stepwise"),
             ("nn_lstm", "numpy_lstm")]
    ratios: dict[tuple, dict[str, list[float]]] = {pair: {"cpu": [], "wall": []} for pair in pairs}
    times: dict[str, dict[str, list[float]]] = {}
    gen: dict[str, dict[str, list[float]]] = {"generate_torch": {"cpu": [], "wall": []},
                                              "generate_numpy": {"cpu": [], "wall": []}}
    print(f"text labs benchmark: {args.rounds} rounds, {args.threads} thread(s) per side, "
          f"ratios of {args.clock}-time medians", flush=True)
    for r in range(args.rounds):
        for a, b in pairs:
            order = (a, b) if r % 2 == 0 else (b, a)
            res = {n: run_worker(n, REPS[n], args.threads) for n in order}
            for clock in ("cpu", "wall"):
                ratios[(a, b)][clock].append(res[a][clock] / res[b][clock] if a == "minchar"
                                             else res[b][clock] / res[a][clock])
                for n in (a, b):
                    times.setdefault(n, {"cpu": [], "wall": []})[clock].append(res[n][clock])
        for n in (("generate_torch", "generate_numpy") if r % 2 == 0 else ("generate_numpy", "generate_torch")):
            res = run_worker(n, REPS[n], args.threads)
            for clock in ("cpu", "wall"):
                gen[n][clock].append(1.0 / res[clock])
        line = ", ".join(f"{b if a != 'minchar' else 'charrnn speedup'}: {ratios[(a, b)][args.clock][-1]:.2f}"
                         for a, b in pairs)
        print(f"round {r + 1}: {line}; generate torch {gen['generate_torch'][args.clock][-1]:,.0f}, "
              f"numpy {gen['generate_numpy'][args.clock][-1]:,.0f} chars/s", flush=True)

    med = statistics.median
    print("\nmedian time per unit (cpu / wall):")
    for n, d in times.items():
        unit = "iteration" if n in ("minchar", "charrnn") else "fwd+bwd"
        print(f"  {n:17s} {med(d['cpu']) * 1e3:9.3f} ms / {med(d['wall']) * 1e3:9.3f} ms per {unit}")
    for n, d in gen.items():
        print(f"  {n:17s} {med(d['cpu']):9,.0f} / {med(d['wall']):9,.0f} chars/s")
    summary = {}
    names = {("minchar", "charrnn"): "charrnn_speedup_vs_minchar", ("nn_lstm", "torch_lstm"): "lstm_torch_over_nn_lstm",
             ("nn_lstm", "torch_lstm_stepwise"): "lstm_torch_stepwise_over_nn_lstm",
             ("nn_lstm", "numpy_lstm"): "lstm_numpy_over_nn_lstm"}
    print("\nratios (median over rounds, [min–max]):")
    for pair, key in names.items():
        for clock in ("cpu", "wall"):
            vals = ratios[pair][clock]
            summary[key if clock == args.clock else f"{key}_{clock}"] = round(med(vals), 3)
            print(f"  {key} ({clock}): {med(vals):.2f} [{min(vals):.2f}–{max(vals):.2f}]")
    per_engine = {n.split("_")[1]: med(gen[n][args.clock]) for n in gen}
    summary["generate_chars_per_s"] = round(min(per_engine.values()))   # the slower engine: both must keep up
    summary["generate_chars_per_s_torch"] = round(per_engine["torch"])
    summary["generate_chars_per_s_numpy"] = round(per_engine["numpy"])
    summary["generate_chars_per_s_wall"] = round(min(med(gen[n]["wall"]) for n in gen))
    summary.update({"bench": "text", "rounds": args.rounds, "threads": args.threads, "clock": args.clock,
                    "targets": {"charrnn_speedup_vs_minchar": ">= 3", "lstm_numpy_over_nn_lstm": "<= 1.5",
                                "lstm_torch_over_nn_lstm": "<= 2.0", "generate_chars_per_s": ">= 5000"}})
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
