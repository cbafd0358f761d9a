"""The NumPy residual block: central differences in float64, parity with torch autograd, the skip/branch split."""
import numpy as np
import pytest
import torch

from engines.numpy_engine.gradcheck import numerical_gradient, relative_error
from engines.numpy_engine.residual import ResidualDense

torch.set_num_threads(1)


def make_block(skip: bool, width: int = 6, hidden: int = 5, seed: int = 0) -> ResidualDense:
    block = ResidualDense("res", width, np.random.default_rng(seed), np.float64, skip=skip, hidden=hidden)
    rng = np.random.default_rng(seed + 1)
    for p in block.params():  # nonzero biases so every term of the backward is exercised
        p[...] = rng.standard_normal(p.shape) * 0.5
    return block


@pytest.mark.parametrize("skip", [True, False])
def test_gradcheck_float64(skip):
    block = make_block(skip)
    rng = np.random.default_rng(2)
    x = rng.standard_normal((4, 6))
    R = rng.standard_normal((4, 6))

    def loss() -> float:
        return float(np.sum(block.forward(x) * R))

    block.forward(x)
    gx = block.backward(R).copy()
    grads = [g.copy() for g in block.param_grads()]
    idx, num = numerical_gradient(loss, x)
    assert relative_error(gx.ravel()[idx], num) < 1e-6
    for p, g in zip(block.params(), grads):
        idx, num = numerical_gradient(loss, p)
        assert relative_error(g.ravel()[idx], num) < 1e-6


@pytest.mark.parametrize("skip", [True, False])
def test_split_sums_to_total_and_plain_skip_is_zero(skip):
    block = make_block(skip)
    rng = np.random.default_rng(3)
    x = rng.standard_normal((5, 6))
    block.forward(x)
    gx = block.backward(rng.standard_normal((5, 6)))
    np.testing.assert_array_equal(block.skip_grad + block.branch_grad, gx)
    norms = block.grad_norms()
    assert norms["total"] == pytest.approx(float(np.linalg.norm(gx)))
    if skip:
        assert norms["skip"] > 0
    else:
        assert norms["skip"] == 0.0
        assert not block.skip_grad.any()


@pytest.mark.parametrize("skip", [True, False])
def test_torch_parity(skip):
    block = make_block(skip, width=7, hidden=4, seed=5)
    rng = np.random.default_rng(6)
    x = rng.standard_normal((3, 7))
    g = rng.standard_normal((3, 7))
    y = block.forward(x)
    block.backward(g)

    W1, b1, W2, b2 = (torch.tensor(p, requires_grad=True) for p in block.params())
    xt = torch.tensor(x, requires_grad=True)
    x_skip, x_branch = xt.view_as(xt), xt.view_as(xt)  # one alias per path: each .grad is that path's share
    x_skip.retain_grad()
    x_branch.retain_grad()
    f = torch.relu(x_branch @ W1 + b1) @ W2 + b2
    yt = torch.relu(x_skip + f if skip else f)
    yt.backward(torch.tensor(g))
    np.testing.assert_allclose(y, yt.detach().numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(block.input_grad, xt.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(block.branch_grad, x_branch.grad.numpy(), rtol=1e-10, atol=1e-12)
    skip_t = x_skip.grad.numpy() if skip else np.zeros_like(x)
    np.testing.assert_allclose(block.skip_grad, skip_t, rtol=1e-10, atol=1e-12)
    for mine, t in zip(block.param_grads(), (W1, b1, W2, b2)):
        np.testing.assert_allclose(mine, t.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_param_names_are_unique():
    block = make_block(True)
    names = [op.param_name for op in block.param_ops()]
    assert len(set(names)) == len(names) == 4
