"""The CNN lab on both engines: twins (same init, same batches), phase data, going back in time,
the inspected example, the parity report, the speed task, save/load."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from engines import StepwiseError
from engines.labs import make_trainer
from engines.labs.cnn import shift_images
from visualizer.session import Session

torch.set_num_threads(1)
CFG = {"lab": "cnn", "seed": 0, "batch_size": 16, "channels": "8,16"}


def trainer(engine, **kw):
    return make_trainer(dict(CFG, engine=engine, **kw))


def params_of(t):
    if t.engine == "numpy":
        return [p.copy() for p in t.model.params()]
    return [p.detach().numpy().copy() for p in t.runner.parameters()]


def test_engines_are_twins():
    a, b = trainer("numpy"), trainer("torch")
    assert [x.label for x in a.blocks()] == [x.label for x in b.blocks()]
    assert [x.out_shape for x in a.blocks()] == [(8, 28, 28), (8, 14, 14), (16, 14, 14), (16, 7, 7), (10,)]
    assert [x.out_shape for x in b.blocks()] == [x.out_shape for x in a.blocks()]
    for p, q in zip(params_of(a), params_of(b)):
        np.testing.assert_array_equal(p, q.T if q.ndim == 2 else q)
    sa, sb = Session(a), Session(b)
    sa.run(2)
    sb.run(2)
    for it in (1, 2):
        assert sa.history[it]["loss"] == pytest.approx(sb.history[it]["loss"], rel=1e-5)
    np.testing.assert_array_equal(a._batch_images, b._batch_images)  # same shifted batch


def test_phase_data_has_kernels_and_maps():
    for engine in ("numpy", "torch"):
        t = trainer(engine)
        s = Session(t)
        s.run(1)
        conv1 = s.block_phase_data(0)
        assert conv1["forward"]["kernels"].shape == (8, 1, 3, 3)
        assert conv1["forward"]["activation"]["maps"].shape == (8, 28, 28)
        assert conv1["forward"]["input_image"].shape == (28, 28)
        assert conv1["backward"]["grad_output"]["maps"].shape == (8, 28, 28)
        assert conv1["backward"]["grad_input"]["maps"].shape == (1, 28, 28)
        assert conv1["backward"]["grad_kernels"].shape == (8, 1, 3, 3)
        assert len(conv1["update"]["update_norms"]) == 2
        assert s.block_phase_data(2)["forward"]["kernels"].shape == (16, 8, 3, 3)
        head = s.block_phase_data(4)
        assert head["forward"]["weight_matrix"].shape == (784, 10)
        assert head["forward"]["activation"]["vector"].shape == (10,)
        assert head["loss"]["probs"].shape == (10,)
        view = t.view_data(2)
        assert view["kernels"].shape == (16, 8, 3, 3) and view["engine"] == engine


@pytest.mark.parametrize("engine", ["numpy", "torch"])
def test_step_back_and_forward_bit_identical(engine):
    t = trainer(engine)
    s = Session(t)
    s.run(12)
    after = params_of(t)
    for _ in range(4):
        s.step_back_iteration()
    for _ in range(3):
        s.step_back_phase()
    while s.iteration < 12:
        s.step_phase()
    for p, q in zip(after, params_of(t)):
        np.testing.assert_array_equal(p, q)


def test_evaluating_and_inspecting_mid_iteration_change_nothing():
    ref = trainer("numpy")
    Session(ref).run(2)
    t = trainer("numpy")
    s = Session(t)
    s.run(1)
    for _ in range(4):  # stop inside the forward phases
        s.step_phase()
    t.evaluate()
    t.command("inspect_heldout", {"index": 5})
    t.command("classify", {"image": np.zeros((28, 28))})
    t.blocks()
    while s.iteration < 2:
        s.step_phase()
    for p, q in zip(params_of(ref), params_of(t)):
        np.testing.assert_array_equal(p, q)


@pytest.mark.parametrize("engine", ["numpy", "torch"])
def test_inspected_example(engine):
    t = trainer(engine)
    Session(t).run(2)
    before = params_of(t)
    r = t.command("inspect_heldout", {"index": 7})
    assert r["label"] == int(t.data.heldout_y[7]) and r["target"] == r["label"]
    assert [a.get("maps", a.get("vector")).shape for a in r["activations"]] == \
        [(8, 28, 28), (8, 14, 14), (16, 14, 14), (16, 7, 7), (10,)]
    assert [g.get("maps", g.get("vector")).shape for g in r["grads"]] == \
        [(8, 28, 28), (8, 14, 14), (16, 14, 14), (16, 7, 7), (10,)]
    assert r["input_grad"].shape == (28, 28) and r["probs"].sum() == pytest.approx(1.0)
    # the gradient at the logits is softmax − onehot (one example)
    g = r["grads"][-1]["vector"]
    expected = r["probs"].copy()
    expected[r["target"]] -= 1
    np.testing.assert_allclose(g, expected, atol=1e-5)
    drawn = np.zeros((28, 28))
    drawn[6:22, 13:15] = 1.0
    d = t.command("inspect", {"image": drawn, "source": "drawn"})
    assert d["label"] is None and d["target"] == d["prediction"]
    assert "inspected" in t.view_data(0)
    for p, q in zip(before, params_of(t)):
        np.testing.assert_array_equal(p, q)
    t.command("inspect", {"image": None})
    assert "inspected" not in t.view_data(0)


def test_parity_report_float64():
    t = trainer("numpy")
    Session(t).run(2)
    p = t.command("parity", {"dtype": "float64"})
    assert [r["block"] for r in p["blocks"]] == ["conv1", "pool1", "conv2", "pool2", "output"]
    assert p["max_rel"] < 1e-10
    assert p["loss_numpy"] == pytest.approx(p["loss_torch"], rel=1e-12)
    whats = [e["what"] for e in p["blocks"][0]["entries"]]
    assert whats == ["output", "dL/d input", "dL/d weight", "dL/d bias"]
    p32 = trainer("torch").command("parity", {})
    assert p32["dtype"] == "float32" and p32["max_rel"] < 1e-3


def test_speed_task_measures_both_engines():
    t = trainer("numpy")
    reply = t.command("speed", {"iterations": 1})
    progress = list(reply["task"])
    assert progress[-1]["done"]
    assert progress[-1]["numpy_it_per_s"] > 0 and progress[-1]["torch_it_per_s"] > 0
    assert t.view_data(0)["speed"]["numpy_over_torch"] > 0


def test_shift_images():
    rng = np.random.default_rng(0)
    img = np.zeros((3, 28, 28), np.float32)
    img[:, 10, 10] = 1.0
    assert shift_images(img, rng, 0) is img
    out = shift_images(img, rng, 2)
    assert out.shape == img.shape and out.sum() == 3.0
    for o in out:
        r, c = np.argwhere(o)[0]
        assert abs(r - 10) <= 2 and abs(c - 10) <= 2


@pytest.mark.parametrize("engine, suffix", [("numpy", "npz"), ("torch", "pt")])
def test_save_load(tmp_path, engine, suffix):
    a = trainer(engine)
    Session(a).run(1)
    path = str(tmp_path / f"cnn.{suffix}")
    a.save(path)
    b = trainer(engine, seed=4)
    b.load(path)
    for p, q in zip(params_of(a), params_of(b)):
        np.testing.assert_array_equal(p, q)


def test_bad_settings():
    with pytest.raises(StepwiseError):
        trainer("numpy", channels="8")
    with pytest.raises(StepwiseError):
        trainer("torch", shift=9)


@pytest.mark.parametrize("engine", ["numpy", "torch"])
def test_learning_rate_schedule(engine):
    t = trainer(engine, decay=10)
    s = Session(t)
    s.run(10)
    used = t.optimizer.lr if engine == "numpy" else t.optimizer.param_groups[0]["lr"]
    assert used == pytest.approx(0.02 / (1 + 9 / 10))   # the rate of the 10th iteration (t = 9)
    assert t.hyperparams()["lr"] == 0.02                  # the setting is the rate at t = 0
    s.set_hyperparam("lr", 0.04)
    s.run(1)
    assert t.hyperparams()["lr"] == 0.04
    s.seek(5)                                             # before the change: the old setting again
    assert t.hyperparams()["lr"] == 0.02
    assert "1 + t/10" in t.phase_specs()[-1].label


def test_default_network():
    t = make_trainer({"lab": "cnn"})
    assert [b.out_shape for b in t.blocks()] == [(12, 28, 28), (12, 14, 14), (24, 14, 14), (24, 7, 7), (10,)]
    assert t.blocks()[-1].label == "Flatten + Dense 1176→10"


def optimizer_lr(t) -> float:
    return float(t.optimizer.lr) if t.engine == "numpy" else float(t.optimizer.param_groups[0]["lr"])


@pytest.mark.parametrize("engine", ["numpy", "torch"])
def test_set_state_keeps_the_scheduled_learning_rate(engine):
    # lr_t = lr / (1 + t / decay): after 3 iterations the optimizer runs at 0.02 / (1 + 2/1000), not 0.02
    t = trainer(engine, decay=1000)
    Session(t, keyframe_budget_bytes=0, disk_budget_bytes=0, pool_budget_bytes=0).run(3)
    scheduled = optimizer_lr(t)
    assert scheduled == pytest.approx(0.02 / (1 + 2 / 1000))
    t.set_state(t.get_state())        # restoring the state it is in changes nothing
    assert optimizer_lr(t) == scheduled
    assert t.hyperparams()["lr"] == 0.02
    t.set_hyperparam("lr", 0.01)      # a live change reaches the optimizer at once, and survives a restore
    t.set_state(t.get_state())
    assert optimizer_lr(t) == 0.01 and t.hyperparams()["lr"] == 0.01


@given(st.lists(st.one_of(st.floats(allow_nan=True, allow_infinity=True, width=32),
                          st.sampled_from([0.0, 1.0, -1.0, np.nan, np.inf])), min_size=0, max_size=300),
       st.booleans())
@settings(max_examples=200, deadline=None)
def test_block_histograms_count_the_finite_values_as_numpy_does(values, as_float32):
    """The inspector's histograms (engines/labs/classifier.histogram, which skips the filtering copy when
    every value is finite): the same counts and edges as np.histogram of the finite values in float64."""
    from engines.labs.classifier import histogram
    v = np.array(values, dtype=np.float32 if as_float32 else np.float64)
    out = histogram(v.reshape(-1, 1) if v.size else v)
    finite = v.astype(np.float64)[np.isfinite(v)]
    if finite.size == 0:
        assert not out["counts"].any()
        return
    edges = out["edges"]
    assert out["counts"].sum() == finite.size and np.all(np.diff(edges) > 0)
    assert edges[0] <= finite.min() and finite.max() <= edges[-1]
    lo, hi = finite.min(), finite.max()
    if hi - lo > 1e-6 * max(abs(lo), abs(hi), 1e-3):   # a real spread: exactly numpy's bins and counts
        counts, np_edges = np.histogram(finite, bins=len(out["counts"]), range=(lo, hi))
        assert np.array_equal(out["counts"], counts) and np.array_equal(edges, np_edges)
