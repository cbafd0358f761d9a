"""A generated corpus of bad model and session files, bad values and faults (nothing large is committed).

Used by tests/test_files.py and tests/test_values.py; ``python -m tests.corpus`` runs all of it
and prints how many inputs kept the promise (one clear sentence, a StepwiseError, nothing else),
the last line one JSON object.
"""
from __future__ import annotations

import io
import json
import os
import pickle
import struct
import sys
import zipfile
from pathlib import Path

import numpy as np

# small networks of every lab and engine: (name, config)
LABS = [
    ("mlp-numpy", {"lab": "mlp", "hidden": "16"}),
    ("mlp-torch", {"lab": "mlp", "engine": "torch", "hidden": "16"}),
    ("cnn-numpy", {"lab": "cnn", "channels": "4,8"}),
    ("cnn-torch", {"lab": "cnn", "engine": "torch", "channels": "4,8"}),
    ("batch1", {"lab": "batch1"}),
    ("resnet-torch", {"lab": "resnet", "depth": 8}),
    ("resnet-numpy", {"lab": "resnet", "engine": "numpy", "depth": 4}),
    ("char-rnn", {"lab": "char-rnn", "hidden": 16}),
    ("lstm-torch", {"lab": "lstm", "hidden": 16}),
    ("lstm-numpy", {"lab": "lstm", "engine": "numpy", "hidden": 16}),
    ("gru-torch", {"lab": "lstm", "cell": "gru", "hidden": 16}),
    ("gru-numpy", {"lab": "lstm", "cell": "gru", "engine": "numpy", "hidden": 16}),
    ("batch1-router", {"lab": "batch1", "router": True}),
]

# each bad file: (kind, words one of which the sentence must hold)
EXPECT = {
    "empty": ("empty",),
    "truncated": ("not a Stepwise", "damaged"),
    "random": ("not a Stepwise", "damaged"),
    "folder": ("is a folder",),
    "missing": ("does not exist",),
    "other-lab": ("lab", "engine", "set the", "does not fit"),
    "other-version": ("another version", "engine"),
    "wrong-shape": ("does not fit", "set the"),
    "extra-array": ("does not fit",),
    "meta-list": ("not a Stepwise", "damaged"),
    "meta-string": ("not a Stepwise", "damaged"),
    "meta-types": ("damaged",),
    "meta-missing": ("not a Stepwise", "damaged"),
    "nan": ("NaN",),
    "bomb": ("declares", "zip bomb"),
    "forged-1gib": ("declares",),
    "pickle": ("not a Stepwise", "damaged", "objects"),
    "object-array": ("objects", "Python"),
    "torch-code": ("objects", "not a Stepwise", "damaged"),
}


def forge_declared_size(path: Path, size: int) -> None:
    """Patch a one-entry zip's declared uncompressed size (local header and central directory)."""
    data = bytearray(path.read_bytes())
    local = data.index(b"PK\x03\x04")
    struct.pack_into("<I", data, local + 22, size)
    central = data.index(b"PK\x01\x02")
    struct.pack_into("<I", data, central + 24, size)
    path.write_bytes(bytes(data))


class _RunsCode:
    def __reduce__(self):
        return (os.system, ("echo this-should-never-run",))


def _is_torch(path: Path) -> bool:
    with zipfile.ZipFile(path) as z:
        return any(n.endswith("data.pkl") for n in z.namelist())


def _rewrite(path: Path, out: Path, change_meta=None, change_arrays=None) -> None:
    """A copy of a saved model with its metadata and/or arrays changed, in the same container."""
    if _is_torch(path):
        import torch
        payload = torch.load(path, weights_only=True)
        meta_key = "meta" if "meta" in payload else None
        if change_meta is not None:
            if meta_key:
                meta = payload["meta"]
                meta = json.loads(meta) if isinstance(meta, str) else meta
                new = change_meta(meta)
                payload["meta"] = json.dumps(new) if isinstance(payload["meta"], str) else new
            else:
                new = change_meta({k: v for k, v in payload.items() if k != "state_dict"})
                payload = {"state_dict": payload["state_dict"], **new} if isinstance(new, dict) else \
                    {"state_dict": payload["state_dict"], "meta": new}
        if change_arrays is not None:
            sd = payload["state_dict"]
            inner = next(iter(sd.values())) if isinstance(next(iter(sd.values())), dict) else sd
            change_arrays(inner, torch)
        torch.save(payload, out)
    else:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
        if change_meta is not None:
            new = change_meta(json.loads(str(arrays["__meta__"])))
            arrays["__meta__"] = np.array(json.dumps(new))
        if change_arrays is not None:
            rest = {k: v for k, v in arrays.items() if k != "__meta__"}
            change_arrays(rest, None)
            arrays = {"__meta__": arrays["__meta__"], **rest}
        with open(out, "wb") as f:
            np.savez(f, **arrays)


def _reshape_first(arrays: dict, torch) -> None:
    name = next(k for k, v in arrays.items() if getattr(v, "ndim", 0) >= 1 and v.shape[0] > 1)
    arrays[name] = arrays[name][:-1]


def _nan_first(arrays: dict, torch) -> None:
    name = next(k for k, v in arrays.items() if str(v.dtype).replace("torch.", "").startswith("float"))
    a = arrays[name].clone() if torch else arrays[name].copy()
    a.reshape(-1)[0] = float("nan")
    arrays[name] = a


def _extra(arrays: dict, torch) -> None:
    arrays["stowaway"] = torch.zeros(3) if torch else np.zeros(3, np.float32)


def bad_model_files(valid: Path, other_lab: Path, folder: Path) -> dict[str, Path]:
    """Every kind of bad file, made from a valid save of the lab and a valid save of another lab."""
    folder.mkdir(parents=True, exist_ok=True)
    out: dict[str, Path] = {}

    def put(kind: str) -> Path:
        out[kind] = folder / f"{kind}{valid.suffix}"
        return out[kind]

    put("empty").write_bytes(b"")
    put("truncated").write_bytes(valid.read_bytes()[: valid.stat().st_size // 2])
    put("random").write_bytes(np.random.default_rng(0).bytes(4096))
    (folder / "a-folder.npz").mkdir(exist_ok=True)
    out["folder"] = folder / "a-folder.npz"
    out["missing"] = folder / "no-such-file.npz"
    out["other-lab"] = other_lab
    _rewrite(valid, put("other-version"), change_meta=lambda m: {**m, "format": str(m["format"])[:-1] + "99"})
    _rewrite(valid, put("wrong-shape"), change_arrays=_reshape_first)
    _rewrite(valid, put("extra-array"), change_arrays=_extra)
    _rewrite(valid, put("meta-list"), change_meta=lambda m: [1, 2, 3])
    _rewrite(valid, put("meta-string"), change_meta=lambda m: "just a string")
    _rewrite(valid, put("meta-types"), change_meta=lambda m: {**m, "blocks": 5, "depth": "deep", "hidden": [1],
                                                               "channels": "x", "chars": 7, "lab": m.get("lab")})
    _rewrite(valid, put("meta-missing"), change_meta=lambda m: {})
    _rewrite(valid, put("nan"), change_arrays=_nan_first)
    bomb = put("bomb")
    with open(bomb, "wb") as f:
        np.savez_compressed(f, w=np.zeros(1 << 22, np.float32))    # 16 MiB of zeros in ~16 KB
    forged = put("forged-1gib")
    with open(forged, "wb") as f:
        np.savez_compressed(f, w=np.zeros(1 << 16, np.float32))
    forge_declared_size(forged, 1 << 30)                            # its headers say 1 GiB
    put("pickle").write_bytes(pickle.dumps({"format": "stepwise-model-1", "weights": [1.0, 2.0]}))
    with open(put("object-array"), "wb") as f:
        np.savez(f, __meta__=np.array('{"format": "stepwise-model-1"}'), w=np.array([{"a": 1}, None], dtype=object))
    import torch
    torch.save({"meta": "{}", "state_dict": {}, "payload": _RunsCode()}, put("torch-code"))
    return out


# ---------------------------------------------------------------------------- sessions
def current_line(tree: dict) -> dict:
    return tree["lines"][tree["line"]]


SESSION_CHANGES = [  # (a change to a valid session tree, words of the sentence it must get)
    (lambda t: t.update(iteration=10**9), "beyond what it recorded"),
    (lambda t: current_line(t).update(furthest=10**9), "beyond what it recorded"),
    (lambda t: t.update(iteration=-3), "whole number"),
    (lambda t: t.update(iteration="six"), "whole number"),
    (lambda t: t.update(phase=10**9), "beyond any lab"),
    (lambda t: t.update(config=[1, 2]), "no lab"),
    (lambda t: t.update(config={"lab": "nope"}), "Unknown lab"),
    (lambda t: t.update(config={"lab": "mlp", "batch_size": 0}), "batch size"),
    (lambda t: current_line(t).update(history=[1, 2]), "history"),
    (lambda t: current_line(t).update(history={1: "loss"}), "history"),
    (lambda t: current_line(t).update(settings_log=[("x", 1, 2)]), "settings log"),
    (lambda t: t.update(lines={}), "no line"),
    (lambda t: t.update(line=7), "current line 7"),
    (lambda t: t.update(keyframes=[]), "no keyframe"),
    (lambda t: t.update(keyframes=[[0, 0, [1, 2]]]), "not a training state"),
    (lambda t: t.update(keyframes=[[0, 0]]), "keyframe"),
    (lambda t: t.pop("keyframes"), "lacks keyframes"),
    (lambda t: t["keyframes"][0][2]["params"][0].__setitem__((0, 0), np.nan), "NaN"),
]


# ---------------------------------------------------------------------------- values
BAD_VALUES = [  # (config changes, words) — each on its lab; the CLI gives the same sentences
    ({"lab": "mlp", "seed": -1}, "seed"),
    ({"lab": "cnn", "engine": "torch", "threads": 10**9}, "threads"),
    ({"lab": "optimizers", "lr": float("nan")}, "learning rate"),
    ({"lab": "optimizers", "lr": float("inf")}, "learning rate"),
    ({"lab": "optimizers", "lr": -1.0}, "learning rate"),
    ({"lab": "optimizers", "momentum": 1.5}, "momentum"),
    ({"lab": "optimizers", "momentum": float("nan")}, "momentum"),
    ({"lab": "mlp", "lr": float("nan")}, "learning rate"),
    ({"lab": "mlp", "momentum": -0.5}, "momentum"),
    ({"lab": "resnet", "batch_size": 0}, "batch size"),
    ({"lab": "resnet", "norm": "bogus"}, "normalization"),
    ({"lab": "batch1", "lr": 0.0}, "learning rate"),
    ({"lab": "char-rnn", "seq_len": 1}, "sequence length"),
    ({"lab": "lstm", "hidden": 10**6}, "hidden"),
    ({"lab": "mlp", "dropout": float("inf")}, "dropout"),
    ({"lab": "cnn", "shift": 99}, "shift"),
    ({"lab": "optimizers", "condition": 0.5}, "condition"),
]

CLI_REFUSED = [  # (argv, words): options a lab does not use, and the CLI's own numbers
    (["--lab", "mlp", "--depth", "3", "--headless"], "does not use --depth"),
    (["--lab", "batch1", "--norm", "bogus", "--headless"], "does not use --norm"),
    (["--lab", "char-rnn", "--data", "full", "--headless"], "does not use --data"),
    (["--lab", "optimizers", "--channels", "4,8", "--headless"], "does not use --channels"),
    (["--lab", "cnn", "--threads", "4", "--headless"], "numpy engine does not use --threads"),
    (["--seed", "-1", "--headless"], "seed"),
    (["--lab", "cnn", "--engine", "torch", "--threads", "1000000000", "--headless"], "threads"),
    (["--lab", "optimizers", "--lr", "nan", "--headless", "--steps", "5"], "learning rate"),
    (["--lab", "optimizers", "--lr", "inf", "--headless", "--steps", "5"], "learning rate"),
    (["--lab", "optimizers", "--lr", "-1", "--headless", "--steps", "5"], "learning rate"),
    (["--lab", "optimizers", "--momentum", "2", "--headless", "--steps", "5"], "momentum"),
    (["--lab", "resnet", "--batch-size", "0", "--headless"], "batch size"),
    (["--select", "99", "--screenshot", "never.png"], "--select 99"),
    (["--phases", "-1", "--screenshot", "never.png"], "--phases"),
    (["--phases", "1000000000", "--screenshot", "never.png"], "--phases must be at most"),
    (["--log-every", "0", "--headless"], "--log-every"),
    (["--lab", "lstm", "--generate", "-5"], "--generate"),
    (["--lab", "lstm", "--generate", "5", "--temperature", "nan"], "--temperature"),
    (["--load", "a.npz", "--session", "b.npz"], "cannot be used together"),
    (["--session", "b.npz", "--hidden", "8"], "leave out --hidden"),
    (["--lab", "char-rnn", "--keyframe-interval", "0", "--headless"], "--keyframe-interval"),
]


def suffix(config: dict) -> str:
    return ".pt" if config.get("engine") == "torch" or config["lab"] == "batch1" else ".npz"


def valid_saves(root: Path) -> dict[str, tuple[dict, Path]]:
    """name -> (config, a file saved by that lab after one iteration)."""
    from engines.labs import make_trainer
    from visualizer.session import Session
    out = {}
    for name, config in LABS:
        t = make_trainer(dict(config))
        Session(t).run(1)
        path = root / f"{name}{suffix(config)}"
        t.save(str(path))
        out[name] = (config, path)
    return out


def one_sentence(message: str) -> bool:
    """The promise: one line, ending with a full stop, no traceback, no 'Internal error'."""
    return ("\n" not in message.strip() and message.strip().endswith(".") and "Traceback" not in message
            and "Internal error" not in message)


def _kept(tally: dict, failures: list, what: str, label, run, words) -> None:
    """Run one input; count it as kept when it ends in a StepwiseError sentence holding one of ``words``."""
    from engines import StepwiseError
    tally[what][0] += 1
    try:
        run()
        failures.append((what, label, "accepted"))
    except StepwiseError as e:
        if one_sentence(str(e)) and any(w in str(e) for w in words):
            tally[what][1] += 1
        else:
            failures.append((what, label, str(e)))
    except Exception as e:
        failures.append((what, label, f"{type(e).__name__}: {e}"))


def main() -> int:  # pragma: no cover - a report, run by hand: python -m tests.corpus
    import contextlib
    import tempfile
    import warnings
    warnings.filterwarnings("ignore")
    import main as cli
    from engines.labs import make_trainer
    from engines.state_io import load_session_tree
    from engines.state_io import load_tree, save_tree
    from visualizer.session import Session
    tally = {"file": [0, 0], "value": [0, 0]}
    failures: list = []
    root = Path(tempfile.mkdtemp(prefix="stepwise-corpus-"))
    saves = valid_saves(root)
    for name, (config, p) in saves.items():  # model files, every lab and engine
        other = saves["char-rnn" if not name.startswith("char") else "mlp-numpy"][1]
        for kind, path in bad_model_files(p, other, root / name).items():
            _kept(tally, failures, "file", (name, kind), lambda: make_trainer(dict(config)).load(str(path)),
                  EXPECT[kind])
    session = Session(make_trainer({"lab": "mlp", "hidden": "16"}))   # session files
    session.run(6)
    good = root / "good.stepwise.npz"
    session.save(str(good), {"lab": "mlp", "hidden": "16"})
    (root / "empty.stepwise.npz").write_bytes(b"")
    (root / "cut.stepwise.npz").write_bytes(good.read_bytes()[:1000])
    for path, words in {root / "empty.stepwise.npz": "empty", root / "cut.stepwise.npz": "not a Stepwise",
                        root / "mlp-numpy": "is a folder", root / "gone.npz": "does not exist",
                        saves["mlp-numpy"][1]: "not a saved Stepwise session"}.items():
        _kept(tally, failures, "file", ("session", path.name), lambda: load_session_tree(path), (words,))
    for i, (change, words) in enumerate(SESSION_CHANGES):
        tree = load_tree(good)
        change(tree)
        path = root / f"changed-{i}.stepwise.npz"
        save_tree(path, tree)
        _kept(tally, failures, "file", ("session tree", i), lambda: load_session_tree(path), (words,))
    for changes, words in BAD_VALUES:   # values, through make_trainer (the form's path)
        _kept(tally, failures, "value", changes, lambda: make_trainer(dict(changes)), (words,))
    for argv, words in CLI_REFUSED:    # values and options, through the CLI (status 2 and the sentence)
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            code = cli.main(list(argv))
        tally["value"][0] += 1
        message = err.getvalue().strip().removeprefix("stepwise: ")
        if code == 2 and words in message and one_sentence(message):
            tally["value"][1] += 1
        else:
            failures.append(("cli", argv, code, message))
    for f in failures:
        print("FAILED", f)
    print(json.dumps({k: {"tried": v[0], "kept": v[1]} for k, v in tally.items()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
