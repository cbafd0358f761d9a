"""The char-RNN and LSTM labs: phases through time, exact going back, generation, files, bad input."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from engines import StepwiseError
from engines.labs import make_trainer
from engines.trainer import BACKWARD, FORWARD, LOSS, UPDATE
from visualizer.session import Session

ROOT = Path(__file__).resolve().parent.parent
SMALL = {"hidden": 16, "seq_len": 8, "eval_chars": 400}
CONFIGS = {
    "char-rnn": dict(SMALL, lab="char-rnn", batch_size=2),
    "lstm-numpy": dict(SMALL, lab="lstm", engine="numpy", batch_size=4),
    "lstm-torch": dict(SMALL, lab="lstm", engine="torch", batch_size=4),
}


def trainer(name, **over):
    return make_trainer(dict(CONFIGS[name], **over))


def flat_params(t) -> np.ndarray:
    return np.concatenate([a.ravel() for a in t.model.param_arrays().values()])


@pytest.mark.parametrize("name", list(CONFIGS))
def test_phases_walk_back_through_time(name):
    t = trainer(name)
    specs = t.phase_specs()
    L, T = t.depth, t.seq_len
    kinds = [s.kind for s in specs]
    assert kinds[:L + 1] == [FORWARD] * (L + 1) and kinds[L + 1] == LOSS and kinds[-1] == UPDATE
    through_time = [s for s in specs if s.kind == BACKWARD and s.step is not None]
    assert len(through_time) == L * T
    # the top layer first, each from the last character to the first
    assert [(s.block, s.step) for s in through_time] == [(l, step) for l in reversed(range(L))
                                                          for step in reversed(range(T))]
    events = list(t.run_iteration())
    assert [e.index for e in events] == list(range(len(specs)))
    assert t.iteration == 1 and np.isfinite(t.last_metrics["loss"])


def test_long_sequences_take_several_steps_per_phase():
    t = trainer("char-rnn", seq_len=120)
    per_layer = [s for s in t.phase_specs() if s.kind == BACKWARD and s.block == 0]
    assert len(per_layer) == 40 and per_layer[-1].step == 0


@pytest.mark.parametrize("name", list(CONFIGS))
def test_step_back_and_forward_is_bit_identical(name):
    s = Session(trainer(name))
    s.run(12)
    here = flat_params(s.trainer)
    loss = s.history[12]["loss"]
    for _ in range(7):
        s.step_back_iteration()
    assert s.iteration == 5
    for _ in range(3):                       # into the middle of an iteration, phase by phase
        s.step_phase()
    s.step_back_phase()
    s.run(7)
    assert s.iteration == 12 and s.phase == 0
    assert np.array_equal(flat_params(s.trainer), here)
    assert s.history[12]["loss"] == loss


@pytest.mark.parametrize("name", list(CONFIGS))
def test_phase_data_shows_gates_and_the_gradient_through_time(name):
    s = Session(trainer(name))
    s.run(2)
    t = s.trainer
    L, T, H = t.depth, t.seq_len, t.hidden
    n_forward = L + 1 + 1 + 1   # forward layers, output, loss, backward output
    for _ in range(n_forward + 3):   # three steps back through time in the top layer
        s.step_phase()
    top = s.block_phase_data(L - 1)
    acts = top[FORWARD]["acts"]
    expected = {"i", "f", "o", "g", "c", "h"} if t.cell == "lstm" else {"h"}
    assert set(acts) == expected and all(a.shape == (T, H) for a in acts.values())
    assert len(top[FORWARD]["chars"]) == T
    back = top[BACKWARD]
    assert back["step"] == T - 3
    assert np.isnan(back["dh_norm"][:T - 3]).all() and np.isfinite(back["dh_norm"][T - 3:]).all()
    assert back["dh"].shape == (T, H) and not back["dh"][:T - 3].any()
    loss = s.block_phase_data(L - 1)[LOSS]
    assert loss["nll"].shape == (T,) and loss["loss"] > 0
    while s.phase:
        s.step_phase()
    done = s.block_phase_data(0)
    assert np.isfinite(done[BACKWARD]["dh_norm"]).all()
    assert "clipped" in done[UPDATE] and done[UPDATE]["update_norm"] > 0
    view = t.view_data(0)
    assert view["vocab"] == t.data.chars and "sample" in view and len(view["sample"]["text"]) == 240


@pytest.mark.parametrize("name", ["char-rnn", "lstm-torch"])
def test_generate_and_stream(name):
    t = trainer(name)
    s = Session(t)
    s.run(3)
    before = flat_params(t)
    reply = t.command("generate", {"prompt": "ROMEO:", "length": 40, "temperature": 0.8, "top_k": 5})
    assert reply["text"].startswith("ROMEO:") and len(reply["text"]) == 46
    assert set(reply["text"]) <= set(t.data.chars)
    task = t.command("generate_stream", {"prompt": "KING", "length": 20, "temperature": 1.0, "chunk": 6})["task"]
    chunks = list(task)
    assert chunks[-1] == {"done": True, "length": 20}
    text = "".join(c["text"] for c in chunks[:-1])
    assert text.startswith("KING") and len(text) == 24
    first = chunks[0]
    assert first["prompt"] and first["activations"]["h"].shape == (4, t.depth, t.hidden)
    assert sum(c["activations"]["h"].shape[0] for c in chunks[:-1]) == 24
    if t.cell == "lstm":
        assert set(first["activations"]) == {"i", "f", "g", "o", "c", "h"}
        assert ((first["activations"]["f"] > 0) & (first["activations"]["f"] < 1)).all()
    # greedy generation is deterministic; generation leaves the training state alone
    a = t.command("generate", {"prompt": "A", "length": 30, "temperature": 0})["text"]
    b = t.command("generate", {"prompt": "A", "length": 30, "temperature": 0})["text"]
    assert a == b
    assert np.array_equal(flat_params(t), before)
    with pytest.raises(StepwiseError, match="never saw"):
        t.command("generate", {"prompt": "ROMEO: ¿qué?", "length": 10})
    with pytest.raises(StepwiseError, match="temperature"):
        t.command("generate_stream", {"prompt": "A", "temperature": -1})


def test_save_and_load_between_engines(tmp_path):
    torch_t = trainer("lstm-torch")
    Session(torch_t).run(2)
    path = tmp_path / "model.pt"
    torch_t.save(str(path))
    numpy_t = trainer("lstm-numpy")
    numpy_t.load(str(path))
    np.testing.assert_allclose(flat_params(numpy_t), flat_params(torch_t))
    path2 = tmp_path / "model.npz"
    numpy_t.save(str(path2))
    again = trainer("lstm-torch")
    again.load(str(path2))
    np.testing.assert_allclose(flat_params(again), flat_params(torch_t))
    greedy = {"prompt": "The", "length": 30, "temperature": 0}
    assert again.command("generate", greedy)["text"] == torch_t.command("generate", greedy)["text"]
    with pytest.raises(StepwiseError, match="layers of"):
        trainer("lstm-numpy", hidden=8).load(str(path2))
    with pytest.raises(StepwiseError, match="open it in the lstm lab"):
        trainer("char-rnn").load(str(path2))
    bogus = tmp_path / "bogus.npz"
    bogus.write_bytes(b"not a model")
    with pytest.raises(StepwiseError, match="not a Stepwise model"):
        numpy_t.load(str(bogus))


@pytest.mark.parametrize("content, words", [
    (b"", "empty"), (b"\x00\xff" * 100, "binary"), (b"\xff\xfe\xfa ok" * 40, "not UTF-8"),
    (b"z" * 500, "one distinct character"),
])
def test_bad_text_files(tmp_path, content, words):
    p = tmp_path / "t.txt"
    p.write_bytes(content)
    with pytest.raises(StepwiseError, match=words):
        trainer("char-rnn", text=str(p))


def test_other_bad_settings(tmp_path):
    with pytest.raises(StepwiseError, match="number of layers"):
        trainer("char-rnn", depth=4)
    with pytest.raises(StepwiseError, match="hidden size"):
        trainer("lstm-numpy", hidden="big")
    p = tmp_path / "short.txt"
    p.write_text("abcdefghij" * 10)
    with pytest.raises(StepwiseError, match="too short"):
        trainer("lstm-numpy", text=str(p), batch_size=64)
    t = trainer("char-rnn", text=str(p), batch_size=1)   # a tiny text still trains
    Session(t).run(3)
    assert set(t.data.chars) == set("abcdefghij")


def test_cli_generate_and_headless_summary():
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    r = subprocess.run([sys.executable, "main.py", "--lab", "char-rnn", "--headless", "--steps", "30", "--hidden", "16"],
                       cwd=ROOT, capture_output=True, text=True, timeout=120, env=env)
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout.splitlines()[-1])
    assert summary["heldout_loss_per_char"] > 0 and isinstance(summary["sample"], str) and summary["sample"]
    r = subprocess.run([sys.executable, "main.py", "--lab", "lstm", "--generate", "60", "--prompt", "ROMEO:",
                        "--temperature", "0.8", "--hidden", "16"], cwd=ROOT, capture_output=True, text=True,
                       timeout=120, env=env)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("ROMEO:") and len(r.stdout.rstrip("\n")) >= 60


@pytest.mark.parametrize("name", list(CONFIGS))
def test_the_live_sample_made_in_slices_is_the_one_made_at_once(name):
    """The engine process makes the live sample a few milliseconds per snapshot (200 ms in all for a
    2 × 256 LSTM): the text is the sample of the iteration it started at, whatever trains meanwhile."""
    at_once, sliced = trainer(name), trainer(name)
    for t in (at_once, sliced):
        t.sample_every_s = 0
        Session(t).run(2)
    expected = at_once.view_data(0)["sample"]
    sliced.view_slice_s = 0.0                       # one step of work per call
    assert "sample" not in sliced.view_data(0)      # started, not finished
    session = Session(sliced)
    session.run(2)                                  # training goes on: the sampler has its own copy
    calls = 0
    while not sliced.advance_view(0.0):
        calls += 1
        assert calls < 1000
    assert calls > 5
    assert sliced.view_data(0)["sample"] == expected and expected["iteration"] == 2
    assert len(expected["text"]) == 240


@pytest.mark.parametrize("engine", ["torch", "numpy"])
def test_what_play_shows_at_a_phase_is_what_stepping_there_shows_bit_for_bit(engine):
    """Each phase's arrays for every block, reached by fast play (whole layers through time at once) and by
    stepping, bit for bit. The torch LSTM's dL/dc_t came from autograd's leaf gradient when stepping and from
    dL/dc_{t+1} ⊙ f_{t+1} in fast play: the same quantity, ~1e-7 apart, so a ← after a pause changed digits."""
    from tests.test_time_travel import same_tree
    from visualizer.session import Session, _phase_data
    cfg = {"lab": "lstm", "engine": engine, "seed": 0, "hidden": 16, "depth": 2, "seq_len": 12, "batch_size": 4}
    played, stepped = Session(make_trainer(dict(cfg))), Session(make_trainer(dict(cfg)))
    played.run(2)
    stepped.run(2)
    n = len(played.specs)
    for phase in range(1, n):
        played.play_phase()
        stepped.step_phase()
        for block in range(len(played.trainer.blocks())):
            a = _phase_data(played.trainer, played.specs, block, reached=phase)
            b = _phase_data(stepped.trainer, stepped.specs, block, reached=phase)
            assert same_tree(a, b), (phase, block, played.specs[phase - 1].label)


SMALL_TEXT = {"seed": 0, "hidden": 16, "seq_len": 12, "batch_size": 4}


@pytest.mark.parametrize("config", [
    dict(SMALL_TEXT, lab="lstm", engine="torch", depth=2),
    dict(SMALL_TEXT, lab="lstm", engine="numpy", depth=2),
    dict(SMALL_TEXT, lab="lstm", engine="torch", depth=2, cell="gru"),
    dict(SMALL_TEXT, lab="lstm", engine="numpy", depth=2, cell="gru"),
    dict(SMALL_TEXT, lab="char-rnn"),
], ids=["lstm-torch", "lstm-numpy", "gru-torch", "gru-numpy", "char-rnn"])
def test_a_back_step_while_playing_through_time_shows_what_stepping_there_shows_without_a_replay(config):
    """← while a heavy lab plays phase by phase, inside backpropagation through time or in the forward
    phases: the phase before is rebuilt from the trainer's caches (Trainer.shows_from_caches), with no replay
    from the iteration's start (an LSTM's took up to 290 ms), and the snapshot is bit for bit what stepping to
    that phase shows, for every block; → then returns to where the engine is, and play goes on with the same
    numbers."""
    from tests.test_time_travel import back_steps_from_caches_are_exact
    from visualizer.host import SessionHost
    probe = SessionHost(lambda kind, payload: None)
    probe.configure(dict(config))
    specs = probe.session.specs
    depth = probe.session.trainer.depth
    first = min(i for i, spec in enumerate(specs) if spec.kind == BACKWARD and spec.block < depth)
    loss_phase = next(i for i, spec in enumerate(specs) if spec.kind == LOSS)
    # inside BPTT, and in the forward phases (before the loss)
    back_steps_from_caches_are_exact(config, {first + 1, first + 2, (first + len(specs)) // 2, len(specs) - 1, 2,
                                              loss_phase})


def arrays_of(tree):
    """A state with its tensors as numpy arrays (compared bit for bit)."""
    if isinstance(tree, dict):
        return {k: arrays_of(v) for k, v in tree.items()}
    if isinstance(tree, (list, tuple)):
        return [arrays_of(v) for v in tree]
    if hasattr(tree, "detach"):
        return tree.detach().numpy()
    return tree
