"""Data sets: the shipped MNIST test set (split into train / held-out) and the full MNIST download.

Every file is checked against a known checksum when it is loaded. Problems raise
StepwiseError with one sentence naming the file and what to do.
"""
from __future__ import annotations

import gzip
import hashlib
import http.client
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import StepwiseError

ROOT = Path(__file__).resolve().parent.parent
ASSETS = ROOT / "assets"

SHIPPED_SHA256 = {
    "mnist/t10k-images-idx3-ubyte.gz": "167310007f03058885c7e95e6c0b19c20de5c7fd3031f4cbdadc9014a523d80b",
    "mnist/t10k-labels-idx1-ubyte.gz": "fc607395669ec21321ea83e4b82c0544b7e8e63ff5b34337c06bc0a17cc0da3c",
    "text/tinyshakespeare.txt": "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed",
}

# The official MNIST files and their published md5 checksums (as listed by torchvision).
MNIST_MIRRORS = ("https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/")
MNIST_FULL_MD5 = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}


def asset_path(name: str) -> Path:
    return Path(os.environ.get("STEPWISE_ASSETS", ASSETS)) / name


def file_digest(path: Path, algorithm: str) -> str:
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def verified_asset(name: str) -> Path:
    """The path of a shipped asset, after checking that it exists and is intact."""
    path = asset_path(name)
    if not path.is_file():
        raise StepwiseError(f"The data file {path} is missing; restore it from the repository (git checkout -- assets).")
    if file_digest(path, "sha256") != SHIPPED_SHA256[name]:
        raise StepwiseError(f"The data file {path} is corrupt (its checksum does not match); "
                            "restore it from the repository (git checkout -- assets).")
    return path


def read_idx(path: Path) -> np.ndarray:
    """Parse a gzipped IDX file (the MNIST format): magic, dimensions, then uint8 data."""
    try:
        with gzip.open(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as e:
        raise StepwiseError(f"The data file {path} cannot be read as gzip ({e}); delete it and try again.") from None
    if len(raw) < 8 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise StepwiseError(f"The data file {path} is not an MNIST (IDX, uint8) file; delete it and try again.")
    ndim = raw[3]
    dims = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    offset = 4 + 4 * ndim
    count = int(np.prod(dims))
    if len(raw) - offset != count:
        raise StepwiseError(f"The data file {path} is truncated; delete it and try again.")
    return np.frombuffer(raw, dtype=np.uint8, offset=offset).reshape(dims)


@dataclass
class ImageData:
    """Images as float32 in [0, 1], shape (N, 28, 28); labels int64 (N,)."""
    train_x: np.ndarray
    train_y: np.ndarray
    heldout_x: np.ndarray
    heldout_y: np.ndarray
    source: str

    @property
    def n_classes(self) -> int:
        return 10


def stratified_split(labels: np.ndarray, heldout_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, heldout): the same fraction of every class held out, fixed by seed."""
    rng = np.random.default_rng(seed)
    train, held = [], []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        rng.shuffle(idx)
        n_held = int(round(len(idx) * heldout_fraction))
        held.append(idx[:n_held])
        train.append(idx[n_held:])
    train_idx = np.sort(np.concatenate(train))
    held_idx = np.sort(np.concatenate(held))
    return train_idx, held_idx


_CACHE: dict[tuple, ImageData] = {}


def load_mnist(data: str = "shipped", split_seed: int = 0, heldout_fraction: float = 0.2,
               notify=None) -> ImageData:
    """MNIST as ImageData.

    data="shipped": the 10,000 shipped images, split 8,000 / 2,000 by class (seed ``split_seed``).
    data="full": the official 60,000 / 10,000 from the user cache, downloading them if needed;
    when that fails (offline), ``notify`` is told why and the shipped subset is used.
    """
    key = (data, split_seed, heldout_fraction)
    if key in _CACHE:
        return _CACHE[key]
    if data == "full":
        try:
            files = ensure_full_mnist(cache_dir())
            x_tr = read_idx(files["train-images-idx3-ubyte.gz"])
            y_tr = read_idx(files["train-labels-idx1-ubyte.gz"])
            x_te = read_idx(files["t10k-images-idx3-ubyte.gz"])
            y_te = read_idx(files["t10k-labels-idx1-ubyte.gz"])
            result = ImageData(x_tr.astype(np.float32) / 255.0, y_tr.astype(np.int64),
                               x_te.astype(np.float32) / 255.0, y_te.astype(np.int64), "full MNIST (70,000)")
            _CACHE[key] = result
            return result
        except StepwiseError as e:
            if notify is not None:
                notify(f"{e} Using the shipped 10,000-image subset instead.")
        # not cached under the "full" key: the next request tries the download again
        key = ("shipped", split_seed, heldout_fraction)
        if key in _CACHE:
            return _CACHE[key]
    elif data != "shipped":
        raise StepwiseError(f"Unknown data set {data!r}; use 'shipped' or 'full'.")
    images = read_idx(verified_asset("mnist/t10k-images-idx3-ubyte.gz"))
    labels = read_idx(verified_asset("mnist/t10k-labels-idx1-ubyte.gz"))
    if images.shape != (10000, 28, 28) or labels.shape != (10000,):
        raise StepwiseError("The shipped MNIST files have unexpected shapes; restore them (git checkout -- assets).")
    train_idx, held_idx = stratified_split(labels, heldout_fraction, split_seed)
    x = images.astype(np.float32) / 255.0
    y = labels.astype(np.int64)
    result = ImageData(x[train_idx], y[train_idx], x[held_idx], y[held_idx],
                       f"shipped MNIST subset ({len(train_idx):,} train / {len(held_idx):,} held out)")
    _CACHE[key] = result
    return result


# ---------------------------------------------------------------------- full MNIST download
def cache_dir() -> Path:
    """Where the full MNIST is kept: $STEPWISE_CACHE if set, else ($XDG_CACHE_HOME or ~/.cache)/stepwise/mnist."""
    if os.environ.get("STEPWISE_CACHE"):
        return Path(os.environ["STEPWISE_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "stepwise" / "mnist"


def download_file(url: str, dest: Path, md5: str, timeout: float = 20.0) -> Path:
    """Download ``url`` to ``dest`` atomically and check its md5; a bad file is deleted."""
    tmp = dest.with_suffix(dest.suffix + ".part")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, open(tmp, "wb") as out:
            expected = response.headers.get("Content-Length")
            n = 0
            for chunk in iter(lambda: response.read(1 << 16), b""):
                out.write(chunk)
                n += len(chunk)
        if expected is not None and n != int(expected):
            raise StepwiseError(f"The download of {url} was cut short ({n} of {expected} bytes); try again.")
        if file_digest(tmp, "md5") != md5:
            raise StepwiseError(f"The download of {url} does not match its published checksum; try again later.")
        os.replace(tmp, dest)
        return dest
    except (urllib.error.URLError, OSError, ValueError, http.client.HTTPException) as e:
        reason = getattr(e, "reason", e)
        raise StepwiseError(f"Could not download {url} ({reason}); check the network connection.") from None
    finally:
        if tmp.exists():
            tmp.unlink()


def ensure_full_mnist(directory: Path, mirrors=None, checksums=None, timeout: float = 20.0) -> dict[str, Path]:
    """The four official MNIST files in ``directory``, downloading and checking any that are missing.

    ``mirrors`` and ``checksums`` default to MNIST_MIRRORS and MNIST_FULL_MD5 as they are at call time."""
    mirrors = MNIST_MIRRORS if mirrors is None else mirrors
    checksums = MNIST_FULL_MD5 if checksums is None else checksums
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise StepwiseError(f"Cannot create the cache folder {directory} ({e.strerror}); "
                            "set STEPWISE_CACHE to a writable folder.") from None
    paths = {}
    for name, md5 in checksums.items():
        dest = directory / name
        if dest.is_file() and file_digest(dest, "md5") == md5:
            paths[name] = dest
            continue
        errors = []
        for mirror in mirrors:
            try:
                paths[name] = download_file(mirror + name, dest, md5, timeout)
                break
            except StepwiseError as e:
                errors.append(str(e))
        else:
            raise StepwiseError(errors[-1] if errors else f"No mirror for {name}.")
    return paths


def next_batch_indices(rng: np.random.Generator, perm: np.ndarray, cursor: int,
                       batch_size: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Epoch-by-epoch random order: the next ``batch_size`` indices of ``perm`` from ``cursor``;
    when the epoch cannot fill a batch, a new permutation from ``rng`` starts the next one.
    Returns (indices, perm, cursor) — the trainer keeps perm and cursor in its keyframe state."""
    n = len(perm)
    if cursor + batch_size > n:
        perm = rng.permutation(n)
        cursor = 0
    return perm[cursor:cursor + batch_size], perm, cursor + batch_size


ALL_DIGITS = tuple(range(10))


def parse_digits(value) -> tuple[int, ...]:
    """'0-4', '5,6,7', '0-2,7' or a list -> the sorted digits; None or '' or 'all' -> 0..9."""
    if value is None or (isinstance(value, str) and value.strip().lower() in ("", "all")):
        return ALL_DIGITS
    parts = value.replace(" ", ",").split(",") if isinstance(value, str) else [str(v) for v in value]
    digits: set[int] = set()
    try:
        for part in (p.strip() for p in parts if p.strip()):
            lo, _, hi = part.partition("-")
            lo_i, hi_i = int(lo), int(hi) if hi else int(lo)
            if not (0 <= lo_i <= hi_i <= 9):
                raise ValueError
            digits.update(range(lo_i, hi_i + 1))
    except ValueError:
        raise StepwiseError(f"Digits {value!r} are not digits 0 to 9; give a range or a list such as 0-4 or 5,6,7.") from None
    if len(digits) < 2:
        raise StepwiseError("Give at least two digits to tell apart (such as 0-4).")
    return tuple(sorted(digits))


def select_digits(data: ImageData, digits: tuple[int, ...]) -> ImageData:
    """Only the images of these digits, in both the training and the held-out split (labels kept)."""
    if tuple(digits) == ALL_DIGITS:
        return data
    keep_train = np.isin(data.train_y, digits)
    keep_held = np.isin(data.heldout_y, digits)
    name = ",".join(str(d) for d in digits)
    return ImageData(data.train_x[keep_train], data.train_y[keep_train], data.heldout_x[keep_held],
                     data.heldout_y[keep_held], f"{data.source}, digits {name}")
