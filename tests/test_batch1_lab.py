"""The batch-size-1 lab: two nets side by side, BN running statistics recorded, going back in
time exact, and the NumPy engine's GN+WS net matching the lab's torch GN+WS net."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from engines import StepwiseError
from engines.labs import make_trainer
from engines.numpy_engine.conv import FlattenDense, MaxPool2d
from engines.numpy_engine.losses import SoftmaxCrossEntropy
from engines.numpy_engine.model import Model
from engines.numpy_engine.norm import Conv2dWS, GroupNorm
from visualizer.session import Session

torch.set_num_threads(1)


def state_tensors(t):
    return [x.detach().clone() for net in ("bn", "gnws")
            for x in [*t.runners[net].parameters(), *t.runners[net].buffers()]]


def test_two_nets_same_start_same_data():
    t = make_trainer({"lab": "batch1", "seed": 0})
    labels = [b.label for b in t.blocks()]
    assert len(labels) == 10 and labels[0].startswith("BN · ") and labels[5].startswith("GN+WS · ")
    assert "+ BN +" in labels[0] and "+ GN +" in labels[5] and labels[5].startswith("GN+WS · WS Conv")
    bn, gn = t.runners["bn"], t.runners["gnws"]
    torch.testing.assert_close(bn.blocks[0].module.conv.weight, gn.blocks[0].module.conv.weight, rtol=0, atol=0)
    torch.testing.assert_close(bn.blocks[4].module.linear.weight, gn.blocks[4].module.linear.weight, rtol=0, atol=0)
    s = Session(t)
    s.step_phase()
    assert t._x.shape == (1, 1, 28, 28)
    s.run(3)
    m = t.last_metrics
    assert np.isfinite(m["loss_bn"]) and np.isfinite(m["loss_gnws"]) and m["loss"] == m["loss_gnws"]


def test_phase_data_and_bn_statistics():
    t = make_trainer({"lab": "batch1", "seed": 1})
    s = Session(t)
    s.run(4)
    bn_conv = s.block_phase_data(0)
    stats = bn_conv["forward"]["bn"]
    assert set(stats) == {"running_mean", "running_var", "batch_mean", "batch_var"}
    assert stats["running_mean"].shape == (8,)
    assert bn_conv["forward"]["activation"]["maps"].shape == (8, 28, 28)
    assert bn_conv["forward"]["net"] == "bn"
    gn_conv = s.block_phase_data(7)
    assert "bn" not in gn_conv["forward"] and gn_conv["forward"]["net"] == "gnws"
    assert gn_conv["backward"]["grad_kernels"].shape == (16, 8, 3, 3)
    hist = t.view_data(0)["bn_history"]
    assert list(hist["iterations"]) == [1, 2, 3, 4]
    assert [layer["mean"].shape for layer in hist["layers"]] == [(4, 8), (4, 16)]
    # the recorded row is the running statistics after that step
    np.testing.assert_array_equal(hist["layers"][0]["var"][-1], stats["running_var"])


def test_step_back_and_forward_bit_identical_with_bn_history():
    t = make_trainer({"lab": "batch1", "seed": 2})
    s = Session(t)
    s.run(30)
    after = state_tensors(t)
    history = t.view_data(0)["bn_history"]
    for _ in range(3):
        s.step_back_iteration()
    for _ in range(5):
        s.step_back_phase()
    assert t.view_data(0)["bn_history"]["iterations"][-1] <= 27
    while s.iteration < 30:
        s.step_phase()
    for a, b in zip(after, state_tensors(t)):
        assert torch.equal(a, b)
    again = t.view_data(0)["bn_history"]
    np.testing.assert_array_equal(history["iterations"], again["iterations"])
    np.testing.assert_array_equal(history["layers"][1]["mean"], again["layers"][1]["mean"])


def test_evaluate_and_summary_keys():
    t = make_trainer({"lab": "batch1", "seed": 0})
    Session(t).run(2)
    e = t.evaluate()
    for key in ("heldout_accuracy_gnws", "heldout_accuracy_bn", "heldout_accuracy_bn_own_stats", "heldout_accuracy"):
        assert 0.0 <= e[key] <= 1.0
    assert t.summary()["batch_size"] == 1
    reply = t.command("classify", {"image": np.zeros((28, 28))})
    assert reply["bn"]["probs"].shape == (10,) and len(reply["gnws"]["layers"]) == 5


def test_numpy_gn_ws_net_matches_the_labs_torch_net():
    """The NumPy engine's WS conv + GroupNorm (hand-written backward) against the lab's torch GN+WS
    net with the same weights, on one example: logits and every parameter gradient."""
    t = make_trainer({"lab": "batch1", "seed": 3})
    Session(t).run(5)  # weights no longer at their init; GN scales and shifts moved
    runner = t.runners["gnws"]
    r = np.random.default_rng(0)
    layers = [Conv2dWS("conv1", 1, 8, 3, r, padding=1, activation="linear", bias=False, dtype=np.float64),
              GroupNorm("gn1", 4, 8, activation="relu", dtype=np.float64), MaxPool2d("pool1"),
              Conv2dWS("conv2", 8, 16, 3, r, padding=1, activation="linear", bias=False, dtype=np.float64),
              GroupNorm("gn2", 4, 16, activation="relu", dtype=np.float64), MaxPool2d("pool2"),
              FlattenDense("output", 16 * 49, 10, "linear", r, np.float64)]
    model = Model(layers, SoftmaxCrossEntropy())
    torch_params = runner.parameters()
    assert len(torch_params) == len(model.params())
    for p, q in zip(model.params(), torch_params):
        v = q.detach().double().numpy()
        p[...] = v.T if v.ndim == 2 else v
    x = t.data.heldout_x[:1].reshape(1, 1, 28, 28).astype(np.float64)
    y = t.data.heldout_y[:1]
    logits = model.forward(x)
    loss = model.loss.forward(logits, y)
    model.backward(model.loss.backward())
    runner.net.double()
    try:
        runner.zero_grad()
        lt = runner.net(torch.from_numpy(x))
        lt_loss = F.cross_entropy(lt, torch.from_numpy(y))
        lt_loss.backward()
        np.testing.assert_allclose(logits, lt.detach().numpy(), rtol=1e-10, atol=1e-12)
        assert loss == pytest.approx(float(lt_loss.detach()), rel=1e-12)
        for name, g, q in zip(model.param_names(), model.param_grads(), torch_params):
            v = q.grad.numpy()
            np.testing.assert_allclose(g, v.T if v.ndim == 2 else v, rtol=1e-8, atol=1e-11, err_msg=name)
    finally:
        runner.net.float()


def test_save_load_and_bad_settings(tmp_path):
    t = make_trainer({"lab": "batch1", "seed": 0})
    Session(t).run(2)
    path = str(tmp_path / "b1.pt")
    t.save(path)
    u = make_trainer({"lab": "batch1", "seed": 7})
    u.load(path)
    for a, b in zip(state_tensors(t), state_tensors(u)):
        assert torch.equal(a, b)
    with pytest.raises(StepwiseError):
        make_trainer({"lab": "batch1", "groups": 3})
    with pytest.raises(StepwiseError):
        make_trainer({"lab": "batch1", "engine": "numpy"})
