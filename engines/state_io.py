"""Saving nested training state (dicts, lists, NumPy arrays, torch tensors, numbers) without pickle.

The structure goes to JSON and every array to its own entry of an .npz file, loaded with
allow_pickle=False, so opening a foreign or corrupt file can only fail with a clear message,
never run code.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from . import StepwiseError
from .atomic import atomic_write
from .loading import check_session_tree, read_tree_archive

FORMAT = "stepwise-session-1"


def _encode(obj: Any, arrays: dict[str, np.ndarray]) -> Any:
    if isinstance(obj, np.ndarray):
        key = f"a{len(arrays)}"
        arrays[key] = obj
        return {"__nd__": key}
    if type(obj).__module__.startswith("torch") and hasattr(obj, "detach"):  # a torch.Tensor
        key = f"a{len(arrays)}"
        arrays[key] = obj.detach().cpu().numpy().copy()
        return {"__pt__": key}
    if isinstance(obj, dict):
        return {"__dict__": [[_encode(k, arrays), _encode(v, arrays)] for k, v in obj.items()]}
    if isinstance(obj, tuple):
        return {"__tuple__": [_encode(v, arrays) for v in obj]}
    if isinstance(obj, list):
        return [_encode(v, arrays) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise StepwiseError(f"This state cannot be saved (it holds a {type(obj).__name__}).")


def _decode(obj: Any, arrays) -> Any:
    if isinstance(obj, list):
        return [_decode(v, arrays) for v in obj]
    if isinstance(obj, dict):
        if "__nd__" in obj:
            return np.array(arrays[obj["__nd__"]])  # KeyError for a damaged file: one sentence in load_tree
        if "__pt__" in obj:
            import torch
            return torch.from_numpy(np.array(arrays[obj["__pt__"]]))
        if "__tuple__" in obj:
            return tuple(_decode(v, arrays) for v in obj["__tuple__"])
        if "__dict__" in obj:
            return {_decode(k, arrays): _decode(v, arrays) for k, v in obj["__dict__"]}
        raise ValueError("unknown entry")
    return obj


def save_tree(path: str | Path, tree: Any, durable: bool = True) -> None:
    arrays: dict[str, np.ndarray] = {}
    skeleton = json.dumps({"format": FORMAT, "tree": _encode(tree, arrays)})
    atomic_write(path, lambda f: np.savez(f, __skeleton__=np.array(skeleton), **arrays), "the session", durable)


def load_tree(path: str | Path) -> Any:
    """The tree saved by save_tree, through the one loader's checks (engines/loading.py): a missing,
    unreadable, empty, foreign, oversized or damaged file is one sentence naming the cause."""
    meta, arrays = read_tree_archive(path)
    if meta.get("format") != FORMAT:
        raise StepwiseError(f"The session file {path} was written by another version of Stepwise (format "
                            f"{meta.get('format')!r}, this version reads {FORMAT}); start a new run instead.")
    try:
        return _decode(meta["tree"], arrays)
    except Exception:
        raise StepwiseError(f"The session file {path} is damaged (its structure does not match its arrays); "
                            "choose another session or start a new run.") from None


def load_session_tree(path: str | Path) -> Any:
    """A session file's tree, read by load_tree and checked by engines.loading.check_session_tree."""
    tree = load_tree(path)
    check_session_tree(tree, path)
    return tree
