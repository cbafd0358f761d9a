"""Measurements of the residual lab (not timings).

    python -m bench resnet grad  [--seeds 3] [--depths 8,14,20,32,56] [--norms none,bn,gnws]
        ‖dL/dx‖ at the first residual block at init (the lab's first batch): plain / residual,
        and each net's first-block / last-block ratio, per normalization and depth (median over seeds).
    python -m bench resnet optim [--steps 500] [--seeds 1] [--depth 20] [--norm none]
        Adam and AdaMax trained from the same init on the same batches: held-out accuracy, macro F1.

The last line printed is one JSON object.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


def _runs(config: dict, iterations: int):
    from engines.labs import make_trainer
    from visualizer.session import Session
    trainer = make_trainer(config)
    session = Session(trainer)
    session.run(iterations)
    return trainer, session


def grad(args) -> dict:
    results = []
    for engine, norms, depths in (("torch", args.norms, args.depths), ("numpy", ["none"], args.numpy_depths)):
        for norm in norms:
            for depth in depths:
                ratio, res_fl, plain_fl, res_first, plain_first = [], [], [], [], []
                for seed in range(args.seeds):
                    trainer, _ = _runs({"lab": "resnet", "engine": engine, "depth": depth, "norm": norm,
                                        "seed": seed}, 1)
                    s = trainer.summary()
                    res = s["init_block_grad_norms_residual"]
                    plain = s["init_block_grad_norms_plain"]
                    ratio.append(s["init_first_block_grad_ratio_plain_over_residual"])
                    res_first.append(res[0]["total"])
                    plain_first.append(plain[0]["total"])
                    res_fl.append(res[0]["total"] / res[-1]["total"])
                    plain_fl.append(plain[0]["total"] / plain[-1]["total"])
                row = {"engine": engine, "norm": norm, "depth": depth, "seeds": args.seeds,
                       "plain_over_residual_first_block": statistics.median(ratio),
                       "min": min(ratio), "max": max(ratio),
                       "residual_first_block": statistics.median(res_first),
                       "plain_first_block": statistics.median(plain_first),
                       "residual_first_over_last": statistics.median(res_fl),
                       "plain_first_over_last": statistics.median(plain_fl)}
                results.append(row)
                print(f"{engine:5s} norm {norm:4s} depth {depth:3d}: plain/residual at the first block "
                      f"{row['plain_over_residual_first_block']:.3g} (seeds {row['min']:.3g}–{row['max']:.3g}); "
                      f"first/last block: residual {row['residual_first_over_last']:.3g}, "
                      f"plain {row['plain_first_over_last']:.3g}", flush=True)
    return {"bench": "resnet-grad", "results": results}


def optim(args) -> dict:
    results = []
    for seed in range(args.seeds):
        t0 = time.perf_counter()
        trainer, session = _runs({"lab": "resnet", "compare": "optimizer", "optimizer": "adam", "depth": args.depth,
                                  "norm": args.norm, "seed": seed}, args.steps)
        ev = trainer.evaluate()
        row = {"seed": seed, "steps": args.steps, "depth": args.depth, "norm": args.norm,
               "adam_heldout_accuracy": ev["heldout_accuracy"], "adam_heldout_macro_f1": ev["heldout_macro_f1"],
               "adamax_heldout_accuracy": ev["adamax_heldout_accuracy"],
               "adamax_heldout_macro_f1": ev["adamax_heldout_macro_f1"],
               "adam_lr": trainer.runs[0].get_lr(), "adamax_lr": trainer.runs[1].get_lr(),
               "curve": {it: {k: v for k, v in rec.items() if "heldout_accuracy" in k}
                         for it, rec in session.history.items() if "heldout_accuracy" in rec},
               "seconds": round(time.perf_counter() - t0, 1)}
        results.append(row)
        print(f"seed {seed}: after {args.steps} steps, held-out accuracy / macro F1: "
              f"Adam {row['adam_heldout_accuracy']:.3f} / {row['adam_heldout_macro_f1']:.3f}, "
              f"AdaMax {row['adamax_heldout_accuracy']:.3f} / {row['adamax_heldout_macro_f1']:.3f}", flush=True)
    return {"bench": "resnet-optim", "results": results}


def main(argv: list[str]) -> int:
    import torch
    torch.set_num_threads(1)
    p = argparse.ArgumentParser(prog="python -m bench resnet")
    sub = p.add_subparsers(dest="what", required=True)
    g = sub.add_parser("grad")
    g.add_argument("--seeds", type=int, default=3)
    g.add_argument("--depths", type=lambda s: [int(x) for x in s.split(",")], default=[8, 14, 20, 32, 56])
    g.add_argument("--numpy-depths", type=lambda s: [int(x) for x in s.split(",")], default=[6, 10, 20, 40])
    g.add_argument("--norms", type=lambda s: s.split(","), default=["none", "bn", "gnws"])
    o = sub.add_parser("optim")
    o.add_argument("--steps", type=int, default=500)
    o.add_argument("--seeds", type=int, default=1)
    o.add_argument("--depth", type=int, default=20)
    o.add_argument("--norm", default="none")
    args = p.parse_args(argv)
    out = grad(args) if args.what == "grad" else optim(args)
    print(json.dumps(out))
    return 0
