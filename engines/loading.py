"""The one loader of model and session files: every check before anything is used.

Both kinds of file are zip archives: NumPy's .npz (np.savez) and torch's .pt (torch.save). In
order, and each failure as one sentence that names the real cause:

1. the path: missing, a folder, unreadable (permission), empty;
2. the archive: not a zip (corrupt, cut short, another program's), or one whose headers declare
   more uncompressed bytes than the lab can need (a 1 MB file of 1 GiB of deflated zeros is
   refused from its headers, before anything is inflated);
3. each .npy entry's header: no object arrays (no pickle, ever), a shape that fits the declared
   size; then np.load(allow_pickle=False) / torch.load(weights_only=True);
4. the metadata: a JSON object with fields of the right types, Stepwise's, this lab's, this
   version's format;
5. the arrays: exactly the names, shapes and kinds of dtype this network has, and finite values
   (a save of a diverged run holds NaN weights).

Sessions: ``read_tree_archive`` does 1-3 for engines/state_io.py, and ``check_session_tree``
checks the tree's shape and types (visualizer/session.py calls it before building anything).
"""
from __future__ import annotations

import json
import math
import os
import zipfile
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np

from . import StepwiseError

META_SLACK = 1 << 20          # bytes allowed beyond the arrays: metadata, zip and .npy headers
MAX_INFLATE_RATIO = 200       # np.savez and torch.save store entries; a deflated entry 200× smaller is a bomb
SESSION_MAX_BYTES = 3 << 30   # a session holds keyframes within 256 MB plus the current state (ResNet-50: ~1 GB)

# metadata fields and the JSON types they must have, in every lab's files
META_TYPES: dict[str, tuple[type, ...]] = {
    "format": (str,), "lab": (str,), "engine": (str,), "cell": (str,), "arch": (str,), "norm": (str,),
    "chars": (str,), "blocks": (list,), "channels": (list,), "depth": (int,), "hidden": (int,),
    "groups": (int,), "iteration": (int,), "skip": (bool,),
}
FORMAT_ENGINE = {"stepwise-model-1": "numpy", "stepwise-torch-model-1": "torch"}


def _mb(n: float) -> str:
    return f"{n / 2**20:,.1f} MB" if n < 2**30 else f"{n / 2**30:,.1f} GB"


def check_path(path: str | os.PathLike, what: str) -> Path:
    """The path of a file that exists, is a file, can be read and is not empty."""
    p = Path(path).expanduser()
    if p.is_dir():
        raise StepwiseError(f"{p} is a folder, not a {what}; choose a file inside it.")
    if not p.exists():
        raise StepwiseError(f"The {what} {p} does not exist; check the path.")
    try:
        with open(p, "rb") as f:
            f.read(1)
        size = p.stat().st_size
    except OSError as e:
        raise StepwiseError(f"The {what} {p} cannot be read ({(e.strerror or str(e)).lower()}); "
                            "check its permissions.") from None
    if size == 0:
        raise StepwiseError(f"The {what} {p} is empty (0 bytes), as an interrupted save leaves it; "
                            "choose another file.")
    return p


def _corrupt(p: Path, what: str, detail: str = "") -> StepwiseError:
    why = f" ({detail})" if detail else ""
    noun = what.replace(" file", "")
    return StepwiseError(f"The {what} {p} is not a Stepwise {noun}, or it is damaged{why}; choose a file saved by "
                         "Stepwise.")


def _members(p: Path, what: str, max_bytes: int) -> list[zipfile.ZipInfo]:
    """The archive's entries, once their declared sizes are within ``max_bytes``."""
    try:
        with zipfile.ZipFile(p) as z:
            infos = z.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError):
        raise _corrupt(p, what, "it is not a complete zip archive: cut short, damaged, or another program's") from None
    declared = sum(i.file_size for i in infos)
    if declared > max_bytes:
        raise StepwiseError(f"The {what} {p} declares {_mb(declared)} of content, more than the {_mb(max_bytes)} "
                            "a file for these settings can hold; it was not unpacked: choose a file saved with "
                            "the same settings.")
    for i in infos:
        ratio = i.file_size // max(i.compress_size, 1)   # Stepwise's own saves store entries: ratio 1
        if i.compress_type != zipfile.ZIP_STORED and i.file_size > MAX_INFLATE_RATIO * max(i.compress_size, 1) + 4096:
            raise StepwiseError(f"The {what} {p} holds an entry that inflates {ratio:,} times (a zip bomb, not a "
                                "Stepwise save); it was not unpacked.")
    return infos


def _check_npy_headers(p: Path, what: str, infos: list[zipfile.ZipInfo]) -> None:
    """Each .npy entry's header: no object dtype, and a shape that fits in the entry's declared size."""
    fmt = np.lib.format
    with zipfile.ZipFile(p) as z:
        for info in infos:
            if not info.filename.endswith(".npy"):
                raise _corrupt(p, what, f"an entry {info.filename!r} is not an array")
            try:
                with z.open(info) as m:
                    version = fmt.read_magic(m)
                    read = fmt.read_array_header_1_0 if version == (1, 0) else fmt.read_array_header_2_0
                    shape, _, dtype = read(m, max_header_size=10_000)
            except Exception:
                raise _corrupt(p, what, f"the array {info.filename[:-4]!r} has no valid header") from None
            if dtype.hasobject:
                raise StepwiseError(f"The {what} {p} holds Python objects ({info.filename[:-4]!r}), which Stepwise "
                                    "never unpickles; choose a file saved by Stepwise.")
            if math.prod(shape) * dtype.itemsize > info.file_size:
                raise _corrupt(p, what, f"the array {info.filename[:-4]!r} is cut short")


def read_npz(path: str | os.PathLike, what: str, max_bytes: int) -> dict[str, np.ndarray]:
    """Every array of a checked .npz (1-3 above)."""
    p = check_path(path, what)
    infos = _members(p, what, max_bytes)
    _check_npy_headers(p, what, infos)
    try:
        with np.load(p, allow_pickle=False) as f:
            return {k: f[k] for k in f.files}
    except Exception:
        raise _corrupt(p, what) from None


def _is_torch_archive(infos: Iterable[zipfile.ZipInfo]) -> bool:
    return any(i.filename.endswith("/data.pkl") or i.filename == "data.pkl" for i in infos)


def _flatten(tree: Any, prefix: str, out: dict, p: Path, what: str) -> None:
    import torch
    for k, v in tree.items():
        name = f"{prefix}{k}"
        if isinstance(v, dict):
            _flatten(v, name + "/", out, p, what)
        elif isinstance(v, torch.Tensor):
            out[name] = v.detach().cpu().numpy()
        else:
            raise _corrupt(p, what, f"{name!r} is not a tensor")


def read_model(path: str | os.PathLike, lab: str, expected: dict[str, Any], formats: tuple[str, ...],
               what: str = "model file", check: Callable[[dict], None] | None = None
               ) -> tuple[dict, dict[str, np.ndarray]]:
    """(metadata, arrays) of a model file saved by either engine, fully checked.

    ``expected``: this network's own arrays (name -> array or tensor); the file must hold exactly
    these names, shapes and kinds of dtype, all finite, within their size. A torch save's nested
    state dicts are flattened to "net/name". ``check(meta)``: the lab's own comparison of the
    saved architecture with its own (its sentence comes before any shape's)."""
    p = check_path(path, what)
    own = {k: np.asarray(v.detach().cpu().numpy() if hasattr(v, "detach") else v) for k, v in expected.items()}
    max_bytes = int(sum(a.nbytes for a in own.values()) * 1.25) + META_SLACK
    infos = _members(p, what, max_bytes)
    if _is_torch_archive(infos):
        import torch
        try:
            payload = torch.load(p, map_location="cpu", weights_only=True)
        except Exception as e:
            if "weights_only" in str(e) or "Unsupported global" in str(e):
                raise StepwiseError(f"The {what} {p} holds Python objects that Stepwise never unpickles; "
                                    "choose a file saved by Stepwise.") from None
            raise _corrupt(p, what) from None
        if not isinstance(payload, dict) or not isinstance(payload.get("state_dict"), dict):
            raise _corrupt(p, what, "no state_dict in it")
        meta = payload.get("meta", {k: v for k, v in payload.items() if k != "state_dict"})
        arrays: dict[str, np.ndarray] = {}
        _flatten(payload["state_dict"], "", arrays, p, what)
    else:
        _check_npy_headers(p, what, infos)
        try:
            with np.load(p, allow_pickle=False) as f:
                if "__meta__" not in f.files:
                    raise _corrupt(p, what, "no Stepwise metadata in it")
                meta = str(f["__meta__"])
                arrays = {k: f[k] for k in f.files if k != "__meta__"}
        except StepwiseError:
            raise
        except Exception:
            raise _corrupt(p, what) from None
    meta = check_meta(meta, p, lab, formats, what)
    if check is not None:
        check(meta)
    check_arrays(arrays, own, p, what)
    return meta, arrays


def write_model(path: str | os.PathLike, meta: dict, arrays: dict[str, Any], what: str = "the model") -> None:
    """The one writer of model files (read back by ``read_model``), all-or-nothing (atomic_write).

    ``arrays``: name -> NumPy array, written as .npz with ``meta`` as JSON in ``__meta__``
    (read with np.load(allow_pickle=False)); or name -> torch tensor, or net -> {name -> tensor},
    written by torch.save as {"meta": meta, "state_dict": arrays} (read with torch.load(weights_only=True)).
    Tensors are detached copies, so the file holds what the network held when save was called."""
    from .atomic import atomic_write

    def leaves(tree):
        for v in tree.values():
            yield from leaves(v) if isinstance(v, dict) else (v,)

    if any(hasattr(v, "detach") for v in leaves(arrays)):
        import torch

        def detached(tree):
            return {k: detached(v) if isinstance(v, dict) else v.detach().clone() for k, v in tree.items()}
        payload = {"meta": dict(meta), "state_dict": detached(arrays)}
        atomic_write(path, lambda f: torch.save(payload, f), what)
    else:
        text = np.array(json.dumps(meta))
        atomic_write(path, lambda f: np.savez(f, __meta__=text, **arrays), what)


def check_meta(meta: Any, p: Path, lab: str, formats: tuple[str, ...], what: str = "model file") -> dict:
    if isinstance(meta, str):
        try:
            meta = json.loads(meta)
        except ValueError:
            raise _corrupt(p, what, "its metadata is not JSON") from None
    if not isinstance(meta, dict):
        raise _corrupt(p, what, f"its metadata is not an object but of type {type(meta).__name__}")
    fmt = meta.get("format")
    if not isinstance(fmt, str) or not fmt.startswith("stepwise"):
        raise StepwiseError(f"The {what} {p} is not a Stepwise model (it has no Stepwise format mark); "
                            "choose a file saved by Stepwise.")
    for key, types in META_TYPES.items():
        value = meta.get(key)
        if value is not None and (not isinstance(value, types) or (types == (int,) and isinstance(value, bool))):
            raise _corrupt(p, what, f"its metadata field {key!r} has the wrong type ({type(value).__name__})")
    if meta.get("lab") not in (None, lab):
        raise StepwiseError(f"The {what} {p} holds a model of the {meta['lab']} lab, not the {lab} lab; "
                            f"open it in the {meta['lab']} lab.")
    if fmt not in formats:
        engine = FORMAT_ENGINE.get(fmt)
        if engine and any(FORMAT_ENGINE.get(f) not in (None, engine) for f in formats):
            raise StepwiseError(f"The {what} {p} was saved by the {engine} engine; load it with the {engine} "
                                f"engine (--engine {engine}).")
        raise StepwiseError(f"The {what} {p} was written by another version of Stepwise (format {fmt!r}, this "
                            f"version reads {', '.join(formats)}); train it again here.")
    return meta


def describe_layers(blocks) -> str:
    """A model file's layer list for a sentence: "Dense 784→32 + relu → Dense 32→10"."""
    return " → ".join(str(b) for b in blocks) if isinstance(blocks, (list, tuple)) and blocks else "(unknown)"


def check_blocks(meta: dict, mine: dict, path) -> None:
    """A classifier's saved layers against its own, named in words (not as a Python list)."""
    if meta.get("blocks") != mine["blocks"]:
        raise StepwiseError(f"The model in {path} is a {meta.get('lab')} network with the layers "
                            f"{describe_layers(meta.get('blocks'))}, and this one has "
                            f"{describe_layers(mine['blocks'])}; set the same layers to load it.")


def check_arrays(arrays: dict[str, np.ndarray], expected: dict[str, np.ndarray], p: Path,
                 what: str = "model file") -> None:
    """Exactly the expected names, shapes and dtype kinds; floats finite."""
    missing = [k for k in expected if k not in arrays]
    extra = [k for k in arrays if k not in expected]
    if missing or extra:
        parts = ([f"lacks {', '.join(missing[:4])}"] if missing else []) + \
                ([f"has {', '.join(extra[:4])} too"] if extra else [])
        raise StepwiseError(f"The {what} {p} does not fit this network (it {' and '.join(parts)}); set the layers "
                            "it was saved with, or choose a file saved with these settings.")
    for name, own in expected.items():
        a = arrays[name]
        if tuple(a.shape) != tuple(own.shape):
            raise StepwiseError(f"The {what} {p} does not fit this network: {name} has shape {tuple(a.shape)} "
                                f"there and {tuple(own.shape)} here; set the sizes it was saved with.")
        kind_ok = (a.dtype.kind == own.dtype.kind) or (a.dtype.kind in "iu" and own.dtype.kind in "iu")
        if not kind_ok:
            raise _corrupt(p, what, f"{name} holds {a.dtype} values instead of {own.dtype}")
        if a.dtype.kind in "fc" and not np.isfinite(a).all():
            raise StepwiseError(f"The {what} {p} holds NaN or infinite weights ({name}): it was saved after "
                                "training diverged and cannot be used; choose an earlier save or train again "
                                "with a lower learning rate.")


# ---------------------------------------------------------------------------- sessions
def read_tree_archive(path: str | os.PathLike, what: str = "session file",
                      max_bytes: int = SESSION_MAX_BYTES) -> tuple[Any, dict[str, np.ndarray]]:
    """(skeleton JSON, arrays) of a file written by engines.state_io.save_tree, checked (1-3)."""
    arrays = read_npz(path, what, max_bytes)
    p = Path(path).expanduser()
    if "__skeleton__" not in arrays:
        raise StepwiseError(f"The file {p} is not a saved Stepwise session; choose a file saved with "
                            "File → Save session.")
    try:
        meta = json.loads(str(arrays.pop("__skeleton__")))
    except ValueError:
        raise _corrupt(p, what, "its structure is not JSON") from None
    if not isinstance(meta, dict) or "tree" not in meta:
        raise _corrupt(p, what, "its structure is not a Stepwise session's")
    return meta, arrays


def _fail(path, detail: str) -> StepwiseError:
    return StepwiseError(f"The session file {path} is damaged or was written by another version of Stepwise "
                         f"({detail}); start a new run or choose another session.")


def _whole(value: Any, name: str, path, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise _fail(path, f"{name} is {value!r}, not a whole number of at least {minimum}")
    return int(value)


def _param_arrays(tree: Any, inside_params: bool = False) -> Iterable[np.ndarray]:
    """Arrays and tensors reached through a key naming parameters ("params", "state_dict")."""
    if isinstance(tree, dict):
        for k, v in tree.items():
            yield from _param_arrays(v, inside_params or (isinstance(k, str) and ("param" in k or k == "state_dict")))
    elif isinstance(tree, (list, tuple)):
        for v in tree:
            yield from _param_arrays(v, inside_params)
    elif inside_params and hasattr(tree, "dtype") and hasattr(tree, "shape"):
        yield tree


def _check_history(history: Any, path, where: str) -> None:
    if not isinstance(history, dict):
        raise _fail(path, f"the history{where} is not a table")
    for it, record in history.items():
        _whole(it, "a history iteration", path, 1)
        if not isinstance(record, dict) or not all(isinstance(k, str) and (v is None or isinstance(v, (int, float)))
                                                   for k, v in record.items()):
            raise _fail(path, f"the history of iteration {it}{where} is not a set of numbers")


def _check_log(log: Any, path, where: str) -> None:
    if not isinstance(log, (list, tuple)) or not all(
            isinstance(e, (list, tuple)) and len(e) == 3 and isinstance(e[1], str)
            and isinstance(e[2], (int, float)) and not isinstance(e[2], bool) and math.isfinite(e[2])
            and _whole(e[0], "a setting's iteration", path) >= 0 for e in log):
        raise _fail(path, f"the settings log{where} is not a list of (iteration, name, value)")


def _check_state(state: Any, it: int, path) -> None:
    if not isinstance(state, dict):
        raise _fail(path, f"the keyframe of iteration {it} is not a training state")
    if any(not np.isfinite(np.asarray(a.detach().cpu().numpy() if hasattr(a, "detach") else a)).all()
           for a in _param_arrays(state) if getattr(a, "dtype", None) is not None
           and str(a.dtype).replace("torch.", "").startswith(("float", "complex"))):
        raise StepwiseError(f"The session file {path} holds NaN or infinite weights (keyframe {it}); it was "
                            "saved after training diverged and cannot be opened; start a new run.")


def check_session_tree(tree: Any, path: str | os.PathLike) -> None:
    """The shape and types of a loaded session tree (Session.to_tree's layout, "stepwise-session-2"
    with lines, or the first one-line layout); StepwiseError with one sentence otherwise. It bounds
    the work of opening it: the cursor may only be where the history reached, so the replay is at
    most the distance to the nearest keyframe (a cursor at iteration 10⁹ is refused at once)."""
    if not isinstance(tree, dict):
        raise _fail(path, f"it holds a {type(tree).__name__} instead of a session")
    two = tree.get("format") == "stepwise-session-2"
    need = ("config", "line", "iteration", "phase", "selected_block", "lines", "keyframes", "first") if two else \
        ("config", "iteration", "furthest", "selected_block", "history", "settings_log", "keyframes")
    missing = [k for k in need if k not in tree]
    if missing:
        raise _fail(path, f"it lacks {', '.join(missing)}")
    if tree.get("format") not in (None, "stepwise-session-2"):
        raise _fail(path, f"its layout is {tree.get('format')!r}")
    config = tree["config"]
    if not isinstance(config, dict) or not isinstance(config.get("lab"), str):
        raise _fail(path, "its settings name no lab")
    from .lab_registry import lab_info
    from .options import check_config
    lab_info(config["lab"])
    check_config(config)
    iteration = _whole(tree["iteration"], "the iteration", path)
    phase = _whole(tree.get("phase", 0), "the phase", path)  # the first layout saved at a boundary
    _whole(tree["selected_block"], "the inspected block", path)
    if phase > 10_000:
        raise _fail(path, f"the phase {phase} is beyond any lab's iteration")
    keyframes = tree["keyframes"]
    if two:
        lines = tree["lines"]
        if not isinstance(lines, dict) or not lines:
            raise _fail(path, "it holds no line of training")
        for line_id, line in lines.items():
            _whole(line_id, "a line's number", path)
            if not isinstance(line, dict) or any(k not in line for k in ("parent", "fork", "label", "settings_log",
                                                                          "history", "furthest")):
                raise _fail(path, f"line {line_id} is not a line of training")
            _whole(line["parent"], "a line's parent", path, -1)
            _whole(line["fork"], "a line's fork", path)
            _whole(line["furthest"], "a line's furthest iteration", path)
            if not isinstance(line["label"], str):
                raise _fail(path, f"line {line_id} has no label")
            _check_history(line["history"], path, f" of line {line_id}")
            _check_log(line["settings_log"], path, f" of line {line_id}")
        current = _whole(tree["line"], "the current line", path)
        if current not in lines:
            raise _fail(path, f"the current line {current} is not among its lines")
        first = _whole(tree["first"], "the first iteration", path)
        if not isinstance(keyframes, (list, tuple)) or not keyframes:
            raise _fail(path, "it holds no keyframe")
        its = []
        for entry in keyframes:
            if not isinstance(entry, (list, tuple)) or len(entry) != 3:
                raise _fail(path, "a keyframe is not (line, iteration, state)")
            _whole(entry[0], "a keyframe's line", path)
            its.append(_whole(entry[1], "a keyframe's iteration", path))
            _check_state(entry[2], entry[1], path)
        history, furthest = lines[current]["history"], int(lines[current]["furthest"])
        low = min(first, *its)
    else:
        furthest = _whole(tree["furthest"], "the furthest iteration", path)
        history = tree["history"]
        _check_history(history, path, "")
        _check_log(tree["settings_log"], path, "")
        if not isinstance(keyframes, dict) or not keyframes:
            raise _fail(path, "it holds no keyframe")
        its = [_whole(it, "a keyframe's iteration", path) for it in keyframes]
        for it, state in keyframes.items():
            _check_state(state, it, path)
        low = min(its)
    recorded = max([0, *history, *its])
    if not low <= iteration <= furthest <= recorded:
        raise _fail(path, f"its cursor (iteration {iteration}, furthest {furthest}) lies beyond what it recorded "
                          f"(keyframes from {low}, history to {max([0, *history])})")

