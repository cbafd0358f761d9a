"""Texts cost memory in proportion to what is used: the cache lets old texts go, the vocabulary and
ids are built a chunk at a time (the same result as a sort of the whole text), large files are cut."""
import numpy as np
import pytest

from engines import text_data
from engines.text_data import build_vocab, load_text


def test_chunked_vocabulary_equals_the_whole_text_sort(monkeypatch):
    monkeypatch.setattr(text_data, "VOCAB_CHUNK", 7)   # many chunk boundaries, some inside a word
    text = "Wherefore art thou, Romeo? — «ça va» 😀\n" * 5
    chars, ids = build_vocab(text)
    codes = np.array([ord(c) for c in text])
    unique, inverse = np.unique(codes, return_inverse=True)
    assert chars == "".join(map(chr, unique)) and ids.dtype == np.int64
    np.testing.assert_array_equal(ids, inverse)
    assert "".join(chars[i] for i in ids) == text


def test_the_cache_lets_older_texts_go(tmp_path, monkeypatch):
    monkeypatch.setattr(text_data, "_CACHE", type(text_data._CACHE)())
    monkeypatch.setattr(text_data, "CACHE_BYTES", 3 * 8 * 1000)   # about three 1,000-character texts
    paths = []
    for i in range(5):
        p = tmp_path / f"t{i}.txt"
        p.write_text((f"text number {i}: " + "abcdefghij" * 100)[:1000])
        paths.append(p)
    first = load_text(paths[0])
    assert load_text(paths[0]) is first                      # a cache hit
    for p in paths[1:]:
        load_text(p)
    kept = [key[0] for key in text_data._CACHE]
    assert len(kept) <= 3 and kept[-1] == str(paths[-1].resolve())
    assert str(paths[0].resolve()) not in kept                # the oldest went


def test_a_large_file_is_cut_and_said_so(tmp_path):
    p = tmp_path / "big.txt"
    p.write_text("to be or not to be, that is the question\n" * 2000)   # ~82 KB
    notes = []
    data = load_text(p, max_bytes=10_000, notify=notes.append)
    assert data.truncated and len(data.train) + len(data.heldout) == 10_000
    assert notes and "only its first" in notes[0]


@pytest.mark.parametrize("content, words", [(None, "is a folder"), (b"", "empty")])
def test_bad_text_paths_name_the_cause(tmp_path, content, words):
    from engines import StepwiseError
    p = tmp_path / "t.txt"
    if content is None:
        p.mkdir()
    else:
        p.write_bytes(content)
    with pytest.raises(StepwiseError, match=words):
        load_text(p)
