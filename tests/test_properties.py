"""Property tests (hypothesis): whatever the bytes of a file or the value of an option, the answer
is a StepwiseError with one sentence, or a clean load / a valid value; never another exception."""
import io
import json
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engines import StepwiseError
from engines.labs import make_trainer
from engines.options import LAB_OPTIONS, check_config
from engines.state_io import load_tree
from tests.corpus import one_sentence
from visualizer.session import Session

SETTINGS = settings(max_examples=int(__import__("os").environ.get("STEPWISE_EXAMPLES", 60)), deadline=None, suppress_health_check=[HealthCheck.too_slow])
FOLDER = Path(tempfile.mkdtemp(prefix="stepwise-properties-"))
MLP = {"lab": "mlp", "hidden": "16"}


@pytest.fixture(scope="module")
def trainer():
    return make_trainer(dict(MLP))


@pytest.fixture(scope="module")
def valid_save(trainer):
    path = FOLDER / "valid.npz"
    trainer.save(str(path))
    return path.read_bytes()


def expect_sentence_or_load(load, data: bytes, name: str) -> None:
    path = FOLDER / name
    path.write_bytes(data)
    try:
        load(str(path))
    except StepwiseError as e:
        assert one_sentence(str(e)), str(e)


@SETTINGS
@given(st.binary(max_size=4096))
def test_random_bytes(trainer, data):
    expect_sentence_or_load(trainer.load, data, "random.npz")
    expect_sentence_or_load(load_tree, data, "random.stepwise.npz")


@SETTINGS
@given(st.data())
def test_a_valid_save_cut_or_with_bytes_changed(trainer, valid_save, data):
    raw = bytearray(valid_save)
    if data.draw(st.booleans()):
        raw = raw[: data.draw(st.integers(0, len(raw)))]
    else:
        for _ in range(data.draw(st.integers(1, 8))):
            at = data.draw(st.integers(0, len(raw) - 1))
            raw[at] = data.draw(st.integers(0, 255))
    expect_sentence_or_load(trainer.load, bytes(raw), "mutated.npz")


json_values = st.recursive(st.none() | st.booleans() | st.integers(-10**12, 10**12) | st.floats() | st.text(max_size=8),
                           lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner,
                                                                                        max_size=4), max_leaves=12)
meta_keys = st.sampled_from(["format", "lab", "blocks", "iteration", "depth", "hidden", "chars", "engine", "cell"])
arrays = st.dictionaries(
    st.sampled_from(["0.W", "0.b", "1.W", "1.b", "2.W", "w", "__x"]),
    st.tuples(st.sampled_from([np.float32, np.float64, np.int64, np.bool_, np.complex64, np.uint8]),
              st.lists(st.integers(0, 20), max_size=3)),
    max_size=5)


@SETTINGS
@given(st.dictionaries(meta_keys, json_values | st.just("stepwise-model-1") | st.just("mlp"), max_size=6), arrays,
       st.booleans())
def test_valid_looking_but_wrong_model_files(trainer, meta, entries, real_format):
    if real_format:
        meta = {**meta, "format": "stepwise-model-1", "lab": "mlp"}
    buf = io.BytesIO()
    content = {name: np.zeros(shape, dtype) for name, (dtype, shape) in entries.items()}
    np.savez(buf, __meta__=np.array(json.dumps(meta, allow_nan=True)), **content)
    expect_sentence_or_load(trainer.load, buf.getvalue(), "looks-valid.npz")


@SETTINGS
@given(st.dictionaries(st.sampled_from(["config", "iteration", "phase", "furthest", "selected_block", "history",
                                        "settings_log", "keyframes"]), json_values, max_size=8))
def test_valid_looking_but_wrong_session_files(tree):
    from engines.loading import check_session_tree
    from engines.state_io import save_tree
    path = FOLDER / "looks-valid.stepwise.npz"
    save_tree(path, tree)
    try:
        check_session_tree(load_tree(path), path)
        Session.open(str(path), make_trainer)
    except StepwiseError as e:
        assert one_sentence(str(e)), str(e)


option_values = (st.none() | st.booleans() | st.integers(-2**40, 2**40) | st.floats() | st.text(max_size=12)
                 | st.lists(st.integers(-5, 300), max_size=4) | st.sampled_from(["nan", "inf", "-1", "0", "1e9", ""]))
every_option = [(lab, o) for lab, opts in LAB_OPTIONS.items() for o in opts]


@SETTINGS
@given(st.sampled_from(every_option), option_values)
def test_any_value_of_any_option_is_accepted_or_one_sentence(lab_option, value):
    lab, option = lab_option
    config = {"lab": lab, "engine": option.engines[0] if option.engines else None, option.key: value}
    for strict in (False, True):
        try:
            checked = check_config({k: v for k, v in config.items() if v is not None}, strict=strict)
        except StepwiseError as e:
            assert one_sentence(str(e)) and option.flag in str(e) or option.label in str(e), str(e)
        else:
            if value is not None and option.kind in ("int", "float"):
                assert option.minimum <= checked[option.key] <= option.maximum


SMALL = {"optimizers": {}, "mlp": {"hidden": "8"}, "char-rnn": {"hidden": 8}}


@settings(max_examples=int(__import__("os").environ.get("STEPWISE_EXAMPLES", 40)), deadline=None)
@given(st.sampled_from([(lab, o) for lab in SMALL for o in LAB_OPTIONS[lab] if o.key != "data"]), option_values)
def test_any_value_reaching_a_real_trainer_is_a_run_or_one_sentence(lab_option, value):
    lab, option = lab_option
    try:
        t = make_trainer({"lab": lab, **SMALL[lab], option.key: value})
        Session(t).run(1)
    except StepwiseError as e:
        assert one_sentence(str(e)), str(e)
