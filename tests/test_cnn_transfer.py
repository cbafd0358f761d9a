"""The CNN lab's activation choice, transfer learning (digits, --init, frozen blocks), input
normalization and augmentations, on both engines."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from engines import StepwiseError
from engines.augment import AUGMENTATIONS, augment_images, parse_augment, shift_images
from engines.data import load_mnist, parse_digits
from engines.labs import make_trainer
from engines.labs.cnn import gradient_parity, numpy_cnn_layers
from engines.numpy_engine.conv import Conv2d
from engines.numpy_engine.gradcheck import numerical_gradient, relative_error
from engines.numpy_engine.losses import SoftmaxCrossEntropy
from engines.numpy_engine.model import Model
from visualizer.session import Session

torch.set_num_threads(1)
CFG = {"lab": "cnn", "seed": 0, "batch_size": 16, "channels": "4,6"}
ROOT = Path(__file__).resolve().parent.parent


def trainer(engine, **kw):
    return make_trainer(dict(CFG, engine=engine, **kw))


def params_of(t):
    """The parameters in the NumPy engine's layout and order (copies)."""
    return t.numpy_params()


# ---------------------------------------------------------------------------- activation
def small_model(activation, seed=0):
    rng = np.random.default_rng(seed)
    model = Model(numpy_cnn_layers((2, 3), rng, np.float64, activation), SoftmaxCrossEntropy())
    for layer in model.layers:  # non-zero biases: no ReLU kink at exactly 0
        for op in layer.param_ops():
            if op.param_name == "bias":
                op.param[...] = rng.standard_normal(op.param.shape) * 0.1
    return model


@pytest.mark.parametrize("activation", ["relu", "sigmoid", "tanh"])
@pytest.mark.parametrize("c_in", [1, 3])
def test_conv_layer_with_activation_by_central_differences(activation, c_in):
    """conv + bias + activation, as the CNN lab builds it (batch-innermost layout): dL/dx, dL/dW, dL/db.
    (Checked per layer: through max-pooling a saturated sigmoid leaves windows of near-equal values,
    where a finite difference crosses from one winner to another.)"""
    rng = np.random.default_rng(c_in)
    layer = Conv2d("conv", c_in, 4, 3, rng, padding=1, activation=activation, dtype=np.float64)
    layer.operations[1].param[...] = rng.standard_normal(4) * 0.1
    x = rng.standard_normal((3, c_in, 9, 9))
    R = rng.standard_normal((3, 4, 9, 9))

    def loss() -> float:
        return float(np.sum(layer.forward(x) * R))        # L = Σ y ⊙ R, so dL/dy = R

    loss()
    dx = layer.backward(R).copy()
    grads = [g.copy() for g in layer.param_grads()]
    for name, array, analytic in [("x", x, dx), ("weight", layer.params()[0], grads[0]),
                                  ("bias", layer.params()[1], grads[1])]:
        idx, num = numerical_gradient(loss, array, max_checks=40, rng=rng)
        err = relative_error(analytic.reshape(-1)[idx], num)
        assert err < 1e-6, f"{activation} {name}: relative error {err:.2e}"


@pytest.mark.parametrize("activation", ["relu", "sigmoid", "tanh"])
def test_conv_net_matches_torch_autograd(activation):
    model = small_model(activation, seed=2)
    x = np.random.default_rng(3).random((4, 28, 28))
    p = gradient_parity([q.copy() for q in model.params()], x, np.array([0, 1, 2, 3]), (2, 3), "float64", activation)
    assert p["max_rel"] < 1e-10, p
    assert p["loss_numpy"] == pytest.approx(p["loss_torch"], rel=1e-12)


def test_activation_on_both_engines_twins():
    a, b = trainer("numpy", activation="sigmoid"), trainer("torch", activation="sigmoid")
    assert a.blocks()[0].label == b.blocks()[0].label == "Conv 1→4 3×3 pad 1 + sigmoid"
    sa, sb = Session(a), Session(b)
    sa.run(2)
    sb.run(2)
    assert sa.history[2]["loss"] == pytest.approx(sb.history[2]["loss"], rel=1e-5)
    assert a.summary()["activation"] == "sigmoid"
    with pytest.raises(StepwiseError, match="activation"):
        trainer("numpy", activation="swish")


def test_sigmoid_gradient_vanishes_toward_the_input():
    """At initialisation the gradient reaching conv1's output is much smaller with sigmoid than with ReLU
    (σ' ≤ 1/4 at every layer): what the gradient maps show."""
    ratios = {}
    for act in ("relu", "sigmoid"):
        t = trainer("numpy", activation=act)
        s = Session(t)
        s.run(1)
        head = np.linalg.norm(t.model.layers[4].output_grad)
        first = np.linalg.norm(t.model.layers[0].output_grad)
        ratios[act] = first / head
    assert ratios["sigmoid"] < 0.25 * ratios["relu"], ratios


# ---------------------------------------------------------------------------- digits, init, freeze
def test_digits_select_the_classes():
    assert parse_digits("0-4") == (0, 1, 2, 3, 4)
    assert parse_digits("5,7, 9") == (5, 7, 9)
    assert parse_digits(None) == tuple(range(10))
    for bad in ("0-12", "x", "3"):
        with pytest.raises(StepwiseError):
            parse_digits(bad)
    for engine in ("numpy", "torch"):
        t = trainer(engine, digits="5-9")
        assert set(np.unique(t.data.train_y)) == {5, 6, 7, 8, 9}
        assert set(np.unique(t.data.heldout_y)) == {5, 6, 7, 8, 9}
        full = load_mnist()
        assert len(t.data.heldout_y) == int(np.isin(full.heldout_y, [5, 6, 7, 8, 9]).sum())
        Session(t).run(2)
        ev = t.evaluate()
        assert 0.0 <= ev["heldout_accuracy"] <= 1.0
        assert t.report["support"][:5].sum() == 0


@pytest.mark.parametrize("pre_engine, suffix, engine", [("numpy", "npz", "torch"), ("torch", "pt", "numpy")])
def test_init_copies_the_features_and_gives_a_new_head(tmp_path, pre_engine, suffix, engine):
    pre = trainer(pre_engine, digits="0-4")
    Session(pre).run(3)
    path = str(tmp_path / f"pre.{suffix}")
    pre.save(path)
    saved = params_of(pre)
    scratch = params_of(trainer(engine, digits="5-9"))
    t = trainer(engine, digits="5-9", init=path)
    now = params_of(t)
    for i in range(4):                            # conv1, conv2: weight and bias from the saved model
        np.testing.assert_array_equal(now[i], saved[i])
    for i in (4, 5):                              # the head: new, as a run from scratch starts it
        np.testing.assert_array_equal(now[i], scratch[i])
        assert not np.array_equal(now[i], saved[i])
    assert t.summary()["init_loaded"] == ["conv1", "conv2"] and t.summary()["init_new"] == ["output"]
    same = trainer(engine, digits="0-4", init=path)   # the same digits: the head too
    for p, q in zip(params_of(same), saved):
        np.testing.assert_array_equal(p, q)
    with pytest.raises(StepwiseError, match=r"does not fit this network: (blocks\.)?conv1\.(conv\.)?weight has shape"):
        trainer(engine, channels="8,16", init=path)
    mlp = make_trainer({"lab": "mlp", "hidden": "8", "engine": pre_engine})
    mlp.save(str(tmp_path / f"mlp.{suffix}"))
    with pytest.raises(StepwiseError, match="mlp lab"):
        trainer(engine, init=str(tmp_path / f"mlp.{suffix}"))
    with pytest.raises(StepwiseError, match="does not exist"):
        trainer(engine, init=str(tmp_path / "missing.npz"))


@pytest.mark.parametrize("engine", ["numpy", "torch"])
def test_frozen_blocks_take_no_update_and_the_gradient_stops(engine):
    t = trainer(engine, freeze="conv1")
    before = params_of(t)
    s = Session(t)
    s.run(3)
    after = params_of(t)
    np.testing.assert_array_equal(before[0], after[0])            # conv1 weight
    np.testing.assert_array_equal(before[1], after[1])            # conv1 bias
    assert not np.array_equal(before[2], after[2])                # conv2 trains
    assert t.gradient_stops_at() == 1                             # nothing below pool1 trains
    conv2, pool1, conv1 = s.block_phase_data(2), s.block_phase_data(1), s.block_phase_data(0)
    assert "grad_kernels" in conv2["backward"] and "grad_input" in conv2["backward"]
    assert "grad_output" in pool1["backward"] and "grad_input" not in pool1["backward"]   # arrives, stops
    assert not conv1.get("backward")                               # nothing computed
    if engine == "numpy":
        assert t.model.layers[0].param_grads() == [None, None]     # no dL/dW computed
    else:
        assert all(p.grad is None for p in t.runner.block_params(0))

    t2 = trainer(engine, freeze="conv2")                          # frozen in the middle: passes through
    s2 = Session(t2)
    b2 = params_of(t2)
    s2.run(2)
    a2 = params_of(t2)
    np.testing.assert_array_equal(b2[2], a2[2])
    assert not np.array_equal(b2[0], a2[0])                       # conv1 still learns through it
    conv2 = s2.block_phase_data(2)["backward"]
    assert "grad_input" in conv2 and "grad_kernels" not in conv2 and "param_grad_norms" not in conv2
    assert t2.gradient_stops_at() is None


def test_frozen_runs_are_twins_on_both_engines():
    a, b = trainer("numpy", freeze="conv1,conv2"), trainer("torch", freeze="conv1,conv2")
    sa, sb = Session(a), Session(b)
    sa.run(3)
    sb.run(3)
    for it in (1, 2, 3):
        assert sa.history[it]["loss"] == pytest.approx(sb.history[it]["loss"], rel=1e-5)
    with pytest.raises(StepwiseError, match="no block"):
        trainer("numpy", freeze="conv3")


@pytest.mark.parametrize("engine", ["numpy", "torch"])
def test_live_freeze_toggle_replays_exactly(engine):
    t = trainer(engine)
    s = Session(t)
    s.run(3)
    assert t.hyperparams()["freeze:conv1"] == 0.0
    s.set_hyperparam("freeze:conv1", 1.0)
    at3 = params_of(t)
    s.run(4)
    end = params_of(t)
    np.testing.assert_array_equal(at3[0], end[0])                 # frozen from iteration 3 on
    assert not np.array_equal(at3[2], end[2])
    assert t.view_data(0)["transfer"]["frozen"] == ["conv1"]
    for _ in range(5):
        s.step_back_iteration()
    assert t.frozen == frozenset()                                # before the toggle
    while s.iteration < 7:
        s.step_phase()
    for p, q in zip(end, params_of(t)):
        np.testing.assert_array_equal(p, q)
    assert "freeze:conv1" not in t.get_state()["hyper"]


# ---------------------------------------------------------------------------- normalization, augmentation
def test_normalize_uses_the_training_split_statistics():
    a, b = trainer("numpy", normalize=True, digits="0-4"), trainer("torch", normalize=True, digits="0-4")
    x = a.data.train_x.astype(np.float64)
    assert a.summary()["input_mean"] == pytest.approx(x.mean(), rel=1e-12)
    assert a.summary()["input_std"] == pytest.approx(x.std(), rel=1e-12)
    z = a.prepare(a.data.train_x[:200])
    assert abs(float(z.mean())) < 0.2 and float(z.std()) == pytest.approx(1.0, abs=0.2)
    sa, sb = Session(a), Session(b)
    sa.run(2)
    sb.run(2)
    assert sa.history[2]["loss"] == pytest.approx(sb.history[2]["loss"], rel=1e-5)
    image = sa.block_phase_data(0)["forward"]["input_image"]     # shown as it was, in [0, 1]
    np.testing.assert_allclose(image, a._batch_images[0], atol=1e-6)
    stats = a.view_data(0)["inputs"]
    assert stats["normalize"] and stats["normalized_std"] == pytest.approx(1.0, rel=1e-9)
    assert stats["raw_counts"].sum() == stats["normalized_counts"].sum() == x.size
    assert "input_mean" not in trainer("numpy").summary()


def test_shift_alone_is_the_old_shift():
    x = load_mnist().train_x[:10]
    a = augment_images(x, np.random.default_rng(5), ("shift",), 2)
    b = shift_images(x, np.random.default_rng(5), 2)
    np.testing.assert_array_equal(a, b)
    assert parse_augment(None) == ("shift",)
    assert parse_augment("rotate, shift") == ("shift", "rotate")
    assert parse_augment("none") == ()
    with pytest.raises(StepwiseError, match="Unknown augmentation"):
        parse_augment("flip")


def test_every_augmentation_changes_the_image_and_stays_in_range():
    x = load_mnist().train_x[:6]
    for name in AUGMENTATIONS:
        y = augment_images(x, np.random.default_rng(0), (name,), 2)
        assert y.shape == x.shape and y.dtype == np.float32
        assert 0.0 <= y.min() and y.max() <= 1.0 + 1e-6
        assert not np.allclose(y, x), name
    same = augment_images(x, np.random.default_rng(0), AUGMENTATIONS, 2)
    np.testing.assert_array_equal(same, augment_images(x, np.random.default_rng(0), AUGMENTATIONS, 2))


def test_augmented_batches_are_twins_and_replay_exactly():
    cfg = dict(augment=",".join(AUGMENTATIONS))
    a, b = trainer("numpy", **cfg), trainer("torch", **cfg)
    sa, sb = Session(a), Session(b)
    sa.run(2)
    sb.run(2)
    np.testing.assert_array_equal(a._batch_images, b._batch_images)   # the NumPy engine sees torch's images
    sa.run(3)
    end, batch = params_of(a), a._batch_images.copy()
    for _ in range(3):
        sa.step_back_iteration()
    sa.run(3)
    np.testing.assert_array_equal(batch, a._batch_images)
    for p, q in zip(end, params_of(a)):
        np.testing.assert_array_equal(p, q)


def test_augment_strip_is_deterministic_and_leaves_training_alone():
    t = trainer("numpy", augment="shift,rotate,noise")
    s = Session(t)
    s.run(1)
    rng_before = t.get_state()["rng"]
    one = t.command("augment_strip", {"count": 4})
    two = t.command("augment_strip", {"count": 4})
    assert one["captions"] == ["original", "shift", "rotate", "noise", "all", "all", "all", "all"]
    np.testing.assert_array_equal(one["images"], two["images"])
    other = t.command("augment_strip", {"count": 4, "draw": 1})          # "Draw again": other draws
    assert not np.array_equal(one["images"][1:], other["images"][1:])
    np.testing.assert_array_equal(one["images"][0], other["images"][0])
    np.testing.assert_array_equal(one["images"][0], t._batch_source)
    assert t.get_state()["rng"] == rng_before
    t.command("inspect_heldout", {"index": 3})
    three = t.command("augment_strip", {"count": 4})
    np.testing.assert_array_equal(three["images"][0], t.data.heldout_x[3])


def test_cli_transfer_flags(tmp_path):
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")

    def run(*args):
        return subprocess.run([sys.executable, "main.py", "--lab", "cnn", "--channels", "4,6", "--headless", *args],
                              cwd=ROOT, capture_output=True, text=True, timeout=180, env=env)

    model = str(tmp_path / "pre.npz")
    r = run("--steps", "5", "--digits", "0-4", "--save", model)
    assert r.returncode == 0, r.stderr
    r = run("--steps", "5", "--digits", "5-9", "--init", model, "--freeze", "conv1,conv2", "--normalize",
            "--augment", "shift,rotate", "--activation", "tanh", "--engine", "torch")
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout.splitlines()[-1])
    assert summary["digits"] == [5, 6, 7, 8, 9] and summary["frozen"] == ["conv1", "conv2"]
    assert summary["init_new"] == ["output"] and summary["augment"] == ["shift", "rotate"]
    assert 0.1 < summary["input_mean"] < 0.2 and 0.25 < summary["input_std"] < 0.4
    for args, words in [(["--freeze", "conv9"], "no block"), (["--augment", "flip"], "Unknown augmentation"),
                        (["--digits", "7"], "at least two"), (["--init", str(tmp_path / "none.npz")], "does not exist")]:
        r = run("--steps", "1", *args)
        assert r.returncode == 2 and words in r.stderr and len(r.stderr.strip().splitlines()) == 1, (args, r.stderr)


def test_session_with_a_freeze_toggle_saves_and_reopens(tmp_path):
    config = dict(CFG, engine="numpy", augment="shift,rotate", normalize=True)
    t = make_trainer(dict(config))
    s = Session(t)
    s.run(2)
    s.set_hyperparam("freeze:conv2", 1.0)
    s.run(3)
    end = params_of(t)
    path = str(tmp_path / "run.stepwise.npz")
    s.save(path, config)
    reopened, saved_config = Session.open(path, make_trainer)
    assert saved_config["augment"] == "shift,rotate"
    assert reopened.trainer.frozen == frozenset({"conv2"})
    for p, q in zip(end, params_of(reopened.trainer)):
        np.testing.assert_array_equal(p, q)
    reopened.seek(1)                                   # before the toggle, replayed from a keyframe
    assert reopened.trainer.frozen == frozenset()
    reopened.seek(5)
    for p, q in zip(end, params_of(reopened.trainer)):
        np.testing.assert_array_equal(p, q)


def test_the_settings_form_defaults_give_the_default_run():
    from visualizer.lab_views import lab_ui
    form = {o.key: o.default for o in lab_ui("cnn").options}
    assert {"activation", "digits", "init", "freeze", "normalize", "augment"} <= set(form)
    a = make_trainer(dict(form, lab="cnn", engine="numpy", channels="4,6", batch_size=16))
    b = trainer("numpy")
    sa, sb = Session(a), Session(b)
    sa.run(2)
    sb.run(2)
    assert sa.history[2]["loss"] == sb.history[2]["loss"]
    for p, q in zip(params_of(a), params_of(b)):
        np.testing.assert_array_equal(p, q)
