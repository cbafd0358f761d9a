"""The Torch engine: staged autograd is real autograd (same gradients as one backward through the
whole net), the torch MLP twins the NumPy MLP (same init, same batches, same phase data keys),
determinism, keyframes that do not alias live state, save/load with weights_only."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from engines import StepwiseError
from engines.labs import make_trainer
from engines.torch_engine.models import cnn_blocks, mlp_blocks
from engines.torch_engine.staged import StagedRunner
from visualizer.session import Session

torch.set_num_threads(1)


def staged_vs_whole(blocks, x, y):
    runner = StagedRunner(blocks, input_grad=True)
    runner.net.double()
    x = x.double()
    runner.begin(x)
    for k in range(len(runner)):
        runner.forward_block(k)
    loss = runner.loss(F.cross_entropy, y)
    for k in reversed(range(len(runner))):
        runner.backward_block(k)
    staged = [p.grad.clone() for p in runner.parameters()]
    staged_dx = runner.grad_inputs[0].clone()
    # the same net in one piece
    runner.zero_grad()
    xw = x.clone().requires_grad_(True)
    runner.net.train()
    loss_w = F.cross_entropy(runner.net(xw), y)
    loss_w.backward()
    assert loss == pytest.approx(float(loss_w.detach()), rel=1e-12)
    for a, p in zip(staged, runner.parameters()):
        torch.testing.assert_close(a, p.grad, rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(staged_dx, xw.grad, rtol=1e-12, atol=1e-14)
    # what each backward phase received is the gradient at that block's output
    return runner


def test_staged_cnn_equals_one_backward():
    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.random((4, 1, 28, 28)))
    y = torch.tensor([3, 1, 4, 1])
    runner = staged_vs_whole(cnn_blocks((4, 6), rng), x, y)
    assert [b.name for b in runner.blocks] == ["conv1", "pool1", "conv2", "pool2", "output"]
    for k in range(1, len(runner)):
        assert runner.grad_outputs[k - 1] is runner.grad_inputs[k]


def test_staged_mlp_equals_one_backward():
    rng = np.random.default_rng(0)
    blocks = mlp_blocks((16, 8), "tanh", 0.0, rng, torch.Generator().manual_seed(0))
    staged_vs_whole(blocks, torch.from_numpy(rng.random((5, 784))), torch.tensor([0, 1, 2, 3, 4]))


def test_torch_mlp_twins_numpy_mlp():
    cfg = {"lab": "mlp", "hidden": "32,16", "dropout": 0.0, "seed": 3, "batch_size": 16}
    a = make_trainer(dict(cfg, engine="numpy"))
    b = make_trainer(dict(cfg, engine="torch"))
    assert [x.label for x in a.blocks()] == [x.label for x in b.blocks()]
    assert [x.out_shape for x in a.blocks()] == [x.out_shape for x in b.blocks()]
    for p, q in zip(a.model.params(), b.runner.parameters()):  # same initial weights
        np.testing.assert_array_equal(p, q.detach().numpy().T if p.ndim == 2 else q.detach().numpy())
    sa, sb = Session(a), Session(b)
    sa.run(3)
    sb.run(3)
    for it in (1, 2, 3):
        assert sa.history[it]["loss"] == pytest.approx(sb.history[it]["loss"], rel=1e-5)
    for block in range(len(a.blocks())):
        da, db = sa.block_phase_data(block), sb.block_phase_data(block)
        assert {k: sorted(v) for k, v in da.items()} == {k: sorted(v) for k, v in db.items()}
        for kind in ("forward", "backward"):
            for key, value in da[kind].items():
                if isinstance(value, np.ndarray):
                    assert value.shape == db[kind][key].shape, (block, kind, key)


def test_torch_mlp_with_dropout_steps_back_bit_identical():
    trainer = make_trainer({"lab": "mlp", "engine": "torch", "hidden": "32", "dropout": 0.5, "seed": 1,
                            "batch_size": 8})
    s = Session(trainer)
    s.run(12)
    after = [p.detach().clone() for p in trainer.runner.parameters()]
    for _ in range(5):
        s.step_back_iteration()
    for _ in range(7):
        s.step_back_phase()
    while s.iteration < 12:
        s.step_phase()
    for p, q in zip(after, trainer.runner.parameters()):
        assert torch.equal(p, q)


def test_same_seed_same_numbers_and_keyframes_do_not_alias():
    cfg = {"lab": "mlp", "engine": "torch", "hidden": "16", "seed": 5, "batch_size": 8}
    t1, t2 = make_trainer(cfg), make_trainer(cfg)
    state0 = t1.get_state()
    for t in (t1, t2):
        for _ in range(3):
            for _ in t.run_iteration():
                pass
    for p, q in zip(t1.runner.parameters(), t2.runner.parameters()):
        assert torch.equal(p, q)
    kept = t1.get_state()
    momentum = [v["momentum_buffer"].clone() for v in kept["optimizer"]["state"].values()]
    for _ in t1.run_iteration():
        pass
    for m, v in zip(momentum, kept["optimizer"]["state"].values()):
        assert torch.equal(m, v["momentum_buffer"])  # the keyframe did not move with training
    t1.set_state(state0)
    assert t1.iteration == 0
    for p, q in zip(t1.runner.parameters(), state0["params"]):
        assert torch.equal(p, q)


def test_save_load_weights_only(tmp_path):
    cfg = {"lab": "mlp", "engine": "torch", "hidden": "16", "seed": 0, "batch_size": 8}
    a = make_trainer(cfg)
    for _ in a.run_iteration():
        pass
    path = tmp_path / "mlp.pt"
    a.save(str(path))
    b = make_trainer(dict(cfg, seed=9))
    b.load(str(path))
    for p, q in zip(a.runner.parameters(), b.runner.parameters()):
        assert torch.equal(p, q)
    other = make_trainer(dict(cfg, hidden="8"))
    with pytest.raises(StepwiseError):
        other.load(str(path))
    (tmp_path / "junk.pt").write_bytes(b"not a model")
    with pytest.raises(StepwiseError):
        b.load(str(tmp_path / "junk.pt"))


def test_bad_optimizer_is_one_sentence():
    with pytest.raises(StepwiseError, match="Unknown optimizer"):
        make_trainer({"lab": "mlp", "engine": "torch", "optimizer": "lbfgs"})


def test_torch_mlp_loss_landscape_via_numpy_twin():
    t = make_trainer({"lab": "mlp", "engine": "torch", "hidden": "16", "seed": 0, "batch_size": 8, "record_every": 2})
    Session(t).run(6)
    assert sorted(t.trajectory) == [0, 2, 4, 6]
    progress = list(t.command("landscape", {"resolution": 5, "n_examples": 50})["task"])
    result = progress[-1]
    assert result["done"] and result["loss"].shape == (5, 5) and np.isfinite(result["loss"]).all()
    # the twin computes the same loss as torch at the current weights
    x = torch.from_numpy(t.data.heldout_x[:50].reshape(50, 784))
    with torch.no_grad():
        t.runner.net.eval()
        expected = float(F.cross_entropy(t.runner.net(x), torch.from_numpy(t.data.heldout_y[:50])))
    assert result["path_loss"]["mlp"]["loss"][-1] == pytest.approx(expected, rel=1e-4)
