"""Text data: Tiny Shakespeare, a sorted vocabulary, the held-out tail, and one clear message per bad file."""
import numpy as np
import pytest

from engines import StepwiseError
from engines.data import verified_asset
from engines.text_data import SHAKESPEARE, build_vocab, load_text, text_from_string


def test_shakespeare_is_verified_and_split():
    assert verified_asset(SHAKESPEARE).is_file()
    data = load_text(None)
    assert data.vocab_size == 65
    assert data.chars == "".join(sorted(set(data.chars)))           # sorted: ids are stable between runs
    n = len(data.train) + len(data.heldout)
    assert n == 1_115_394
    assert len(data.heldout) == n // 10                               # the last tenth is held out
    assert data.decode(data.train[:14]) == "First Citizen:"
    assert load_text(None) is data                                    # cached


def test_vocabulary_is_sorted_and_round_trips():
    chars, ids = build_vocab("hello, wörld")
    assert chars == "".join(sorted(set("hello, wörld")))
    assert "".join(chars[i] for i in ids) == "hello, wörld"
    data = text_from_string("abcabcabc" * 20 + "ü", "test")
    assert data.decode(data.encode("cab")) == "cab"


def test_prompt_outside_the_vocabulary_names_the_characters():
    data = text_from_string("abcabcabc" * 20, "test")
    with pytest.raises(StepwiseError, match=r"'x'.*never saw") as e:
        data.encode("abx")
    assert str(e.value).count(".") == 1


def write(tmp_path, name, content: bytes):
    p = tmp_path / name
    p.write_bytes(content)
    return p


@pytest.mark.parametrize("content, words", [
    (b"", "is empty"),
    (b"\x00\x01\x02binary\x00" * 50, "binary"),
    ("caf\u00e9 ".encode("latin-1") * 40, "not UTF-8"),
    (b"aaaaaaaaaa" * 20, "only one distinct character"),
    (b"ab", "at least"),
])
def test_bad_files_give_one_clear_sentence(tmp_path, content, words):
    p = write(tmp_path, "bad.txt", content)
    with pytest.raises(StepwiseError) as e:
        load_text(p)
    message = str(e.value)
    assert words in message
    assert message.endswith(".") and "\n" not in message


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(StepwiseError, match="does not exist"):
        load_text(tmp_path / "nope.txt")
    with pytest.raises(StepwiseError, match="folder"):
        load_text(tmp_path)


def test_a_large_file_is_read_only_as_far_as_needed(tmp_path):
    # a cut in the middle of a multi-byte character loses only that character
    text = ("Zwölf Boxkämpfer jagen Viktor quer über den großen Sylter Deich.\n" * 40)
    p = write(tmp_path, "big.txt", text.encode("utf-8"))
    notes = []
    data = load_text(p, max_bytes=1001, notify=notes.append)
    assert data.truncated and notes and "only its first" in notes[0]
    n = len(data.train) + len(data.heldout)
    assert 900 <= n <= 1001
    assert data.decode(np.concatenate([data.train, data.heldout])) == text[:n]


def test_utf8_with_bom(tmp_path):
    p = write(tmp_path, "bom.txt", "\ufeff".encode("utf-8") + ("to be or not to be " * 10).encode("utf-8"))
    data = load_text(p)
    assert "\ufeff" not in data.chars
