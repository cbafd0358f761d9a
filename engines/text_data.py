"""Text data for the char-RNN and LSTM labs: Tiny Shakespeare (shipped) or any UTF-8 file.

The vocabulary is the sorted set of characters of the whole text, so a character's id is
the same on every run (``list(set(text))`` would reorder it per run). The text is split
into a training head and a held-out tail. Every problem with a file raises StepwiseError
with one sentence that names the file, says what is wrong and what to do.
"""
from __future__ import annotations

import codecs
import os
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import StepwiseError
from .data import verified_asset

SHAKESPEARE = "text/tinyshakespeare.txt"
# read at most this much of a large file (16 MiB ≈ 15 Shakespeares): with its int64 ids, ~200 MB at most
MAX_TEXT_BYTES = 16 * 1024 * 1024
MAX_VOCAB = 4096                    # characters; the softmax and the embedding grow with it
MIN_CHARS = 64                      # shorter texts cannot fill a training sequence and a held-out tail


@dataclass
class TextData:
    """A text encoded as character ids. ``chars[i]`` is the character with id i (sorted)."""
    chars: str                 # the vocabulary, sorted by code point
    train: np.ndarray          # int64 ids of the training head, shape (N_train,)
    heldout: np.ndarray        # int64 ids of the held-out tail, shape (N_heldout,)
    source: str                # shown to the user, e.g. "Tiny Shakespeare (1,115,394 characters)"
    truncated: bool = False    # True when only the start of a large file was read

    @property
    def vocab_size(self) -> int:
        return len(self.chars)

    def encode(self, text: str, what: str = "The prompt") -> np.ndarray:
        """Ids of ``text``; characters outside the vocabulary raise StepwiseError naming them."""
        index = {c: i for i, c in enumerate(self.chars)}
        missing = sorted({c for c in text if c not in index})
        if missing:
            shown = ", ".join(repr(c) for c in missing[:8]) + (" …" if len(missing) > 8 else "")
            raise StepwiseError(f"{what} contains {len(missing)} character{'s' if len(missing) > 1 else ''} "
                                f"({shown}) that the model never saw in its training text; remove or replace "
                                f"{'them' if len(missing) > 1 else 'it'}.")
        return np.array([index[c] for c in text], dtype=np.int64)

    def decode(self, ids) -> str:
        chars = self.chars
        return "".join(chars[int(i)] for i in ids)


def _stat(path: Path) -> os.stat_result:
    if path.is_dir():
        raise StepwiseError(f"{path} is a folder, not a text file; choose a .txt file.")
    if not path.exists():
        raise StepwiseError(f"The text file {path} does not exist; check the path.")
    return path.stat()


def _read_prefix(path: Path, max_bytes: int) -> bytes:
    """The first max_bytes of the file."""
    try:
        with open(path, "rb") as f:
            return f.read(max_bytes)
    except OSError as e:
        raise StepwiseError(f"The text file {path} cannot be read ({e.strerror}); check its permissions.") from None


def decode_utf8(raw: bytes, path: Path, truncated: bool) -> str:
    """Decode UTF-8 strictly; a prefix cut inside a multi-byte character loses only that character."""
    if b"\x00" in raw[: 1 << 20]:
        raise StepwiseError(f"{path} looks like a binary file (it contains zero bytes), not text; "
                            "choose a plain UTF-8 text file.")
    decoder = codecs.getincrementaldecoder("utf-8")(errors="strict")
    try:
        text = decoder.decode(raw, final=not truncated)
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise StepwiseError(f"{path} is not UTF-8 text (byte {e.start} on line {line} is not valid UTF-8); "
                            "save it as UTF-8 and open it again.") from None
    if text.startswith("\ufeff"):
        text = text[1:]  # a byte-order mark is not part of the text
    return text


VOCAB_CHUNK = 1 << 20   # characters encoded at a time: the temporaries stay at a few MB for any text


def build_vocab(text: str) -> tuple[str, np.ndarray]:
    """(sorted vocabulary, ids of every character), a chunk of code points at a time.

    The vocabulary is the set of code points seen (np.unique of each chunk: sorted, small); the ids
    come from a lookup table code point -> id, written into one int64 array. Peak memory is the
    text, its ids and a few MB (a sort of the whole text's code points took ~1 GB for 32 MB)."""
    def chunks():
        for start in range(0, len(text), VOCAB_CHUNK):
            yield np.frombuffer(text[start:start + VOCAB_CHUNK].encode("utf-32-le"), dtype=np.uint32)  # (n,)

    seen = np.zeros(0, dtype=np.uint32)
    for codes in chunks():
        seen = np.union1d(seen, np.unique(codes))                       # sorted, at most MAX_VOCAB + 1 long
        if len(seen) > MAX_VOCAB:
            break  # text_from_string refuses it by its size; no need to read on
    lookup = np.zeros(int(seen[-1]) + 1 if len(seen) else 1, dtype=np.int64)   # code point -> id
    lookup[seen] = np.arange(len(seen))
    ids = np.empty(len(text), dtype=np.int64)                             # (N,)
    if len(seen) <= MAX_VOCAB:
        for i, codes in enumerate(chunks()):
            ids[i * VOCAB_CHUNK: i * VOCAB_CHUNK + len(codes)] = lookup[codes]
    return "".join(map(chr, seen.tolist())), ids


def text_from_string(text: str, source: str, heldout_fraction: float = 0.1, truncated: bool = False,
                     min_chars: int = MIN_CHARS) -> TextData:
    """Encode and split a text; the last ``heldout_fraction`` of it is held out."""
    if len(text) == 0:
        raise StepwiseError(f"{source} is empty; choose a file that contains text.")
    chars, ids = build_vocab(text)
    if len(chars) < 2:
        raise StepwiseError(f"{source} uses only one distinct character ({chars!r}); a model needs at least "
                            "two to learn anything, so choose a longer, varied text.")
    if len(chars) > MAX_VOCAB:
        raise StepwiseError(f"{source} uses {len(chars):,} distinct characters, more than the {MAX_VOCAB:,} "
                            "these labs handle; choose a text with a smaller alphabet.")
    if len(text) < min_chars:
        raise StepwiseError(f"{source} has only {len(text)} characters; give a text of at least {min_chars} "
                            "characters so there is something to train on and something to hold out.")
    if not 0.0 < heldout_fraction < 0.5:
        raise StepwiseError("The held-out fraction must be above 0 and below 0.5.")
    n_held = max(16, int(len(ids) * heldout_fraction))
    return TextData(chars, ids[:-n_held], ids[-n_held:], source, truncated)  # views of one array: no copy


# recently read texts, newest last; older ones are let go once they hold more than this (the newest stays)
_CACHE: OrderedDict[tuple, TextData] = OrderedDict()
CACHE_BYTES = 64 << 20


def _make_room(nbytes: int) -> None:
    while _CACHE and sum(d.train.nbytes + d.heldout.nbytes for d in _CACHE.values()) + nbytes > CACHE_BYTES:
        _CACHE.popitem(last=False)


def _remember(key: tuple, data: TextData) -> None:
    _CACHE[key] = data
    _CACHE.move_to_end(key)
    while len(_CACHE) > 1 and sum(d.train.nbytes + d.heldout.nbytes for d in _CACHE.values()) > CACHE_BYTES:
        _CACHE.popitem(last=False)


def load_text(path: str | os.PathLike | None = None, heldout_fraction: float = 0.1,
              max_bytes: int = MAX_TEXT_BYTES, notify=None) -> TextData:
    """Tiny Shakespeare (path None, checked against its checksum) or a UTF-8 text file.

    A file larger than ``max_bytes`` is read only up to there (``notify`` is told so)."""
    if path is None or str(path) == "" or str(path) == "shakespeare":
        p = verified_asset(SHAKESPEARE)
        name = "Tiny Shakespeare"
    else:
        p = Path(path).expanduser()
        name = p.name
    stat = _stat(p)
    size = stat.st_size
    key = (str(p.resolve()), size, stat.st_mtime_ns, heldout_fraction, max_bytes)
    if key in _CACHE:
        _CACHE.move_to_end(key)
        return _CACHE[key]
    _make_room(min(size, max_bytes) * 8)  # its int64 ids: let older texts go first, not after
    raw = _read_prefix(p, max_bytes)
    if size == 0:
        raise StepwiseError(f"The text file {p} is empty; choose a file that contains text.")
    truncated = size > max_bytes
    text = decode_utf8(raw, p, truncated)
    del raw  # the bytes are not needed once decoded
    source = f"{name} ({len(text):,} characters)"
    if truncated:
        source = f"{name} (the first {len(text):,} characters of a {size / 2**30:.1f} GB file)" if size >= 2**30 \
            else f"{name} (the first {len(text):,} characters of a {size / 2**20:.0f} MB file)"
        if notify is not None:
            notify(f"{p} is {size / 2**20:,.0f} MB; only its first {max_bytes / 2**20:.0f} MB are used.")
    data = text_from_string(text, f"The text file {p}" if path is not None else name,
                            heldout_fraction, truncated)
    data.source = source
    _remember(key, data)
    return data
