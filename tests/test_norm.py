"""GroupNorm and weight standardization (engines/numpy_engine/norm.py): central differences in
float64 and parity with torch autograd (nn.GroupNorm, the torch engine's Conv2dWS)."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from engines.numpy_engine.conv import ChannelBias
from engines.numpy_engine.gradcheck import check_operation
from engines.numpy_engine.norm import ChannelScale, Conv2dWS, GroupNorm, GroupNormalize, WSConv2dOp


def rng(seed=0):
    return np.random.default_rng(seed)


def t(a, grad=False):
    return torch.tensor(np.ascontiguousarray(a), dtype=torch.float64, requires_grad=grad)


def close(ours, theirs, what="", rtol=1e-9, atol=1e-11):
    theirs = theirs.detach().numpy() if isinstance(theirs, torch.Tensor) else theirs
    np.testing.assert_allclose(np.asarray(ours), theirs, rtol=rtol, atol=atol, err_msg=what)


@pytest.mark.parametrize("groups", [1, 2, 4])
def test_group_normalize_gradcheck(groups):
    check_operation(GroupNormalize(groups), rng(2).standard_normal((3, 4, 3, 5)) * 2 + 1)


def test_channel_scale_gradcheck():
    check_operation(ChannelScale(rng(1).standard_normal(4)), rng(2).standard_normal((2, 4, 3, 3)))


@pytest.mark.parametrize("s, p", [(1, 1), (2, 0)])
def test_ws_conv_gradcheck(s, p):
    op = WSConv2dOp(rng(1).standard_normal((3, 2, 3, 3)) + 0.5, stride=s, padding=p)
    check_operation(op, rng(2).standard_normal((2, 2, 6, 6)), max_checks=80)


@pytest.mark.parametrize("groups, n", [(2, 3), (4, 1), (1, 2)])
def test_group_norm_matches_torch(groups, n):
    c = 4
    x = rng(2).standard_normal((n, c, 5, 3)) * 3 + 2
    gamma, beta = rng(3).standard_normal(c), rng(4).standard_normal(c)
    layer = GroupNorm("gn", groups, c, dtype=np.float64)
    layer.operations[1].param[...] = gamma
    layer.operations[2].param[...] = beta
    y = layer.forward(x)
    xt, gt, bt = t(x, True), t(gamma, True), t(beta, True)
    yt = F.group_norm(xt, groups, gt, bt, eps=1e-5)
    close(y, yt, "GroupNorm output")
    g = rng(5).standard_normal(y.shape)
    dx = layer.backward(g)
    yt.backward(t(g))
    close(dx, xt.grad, "dL/dx")
    close(layer.param_grads()[0], gt.grad, "dL/dγ")
    close(layer.param_grads()[1], bt.grad, "dL/dβ")


def test_ws_conv_matches_torch_conv2dws():
    from engines.torch_engine.models import Conv2dWS as TorchConv2dWS
    W = rng(1).standard_normal((4, 3, 3, 3)) * 0.3 + 0.1
    x = rng(2).standard_normal((2, 3, 6, 6))
    op = WSConv2dOp(W.copy(), stride=1, padding=1)
    y = op.forward(x)
    m = TorchConv2dWS(3, 4, 3, padding=1, bias=False).double()
    with torch.no_grad():
        m.weight.copy_(t(W))
    xt = t(x, True)
    yt = m(xt)
    close(y, yt, "WS conv output")
    g = rng(3).standard_normal(y.shape)
    dx = op.backward(g)
    yt.backward(t(g))
    close(dx, xt.grad, "dL/dx")
    close(op.param_grad, m.weight.grad, "dL/dW through the standardization")


def test_gn_ws_block_matches_torch_float32():
    """WS conv → GroupNorm → ReLU as the batch-1 lab builds it, in float32, batch size 1."""
    from engines.torch_engine.models import Conv2dWS as TorchConv2dWS
    r = rng(9)
    conv = Conv2dWS("conv", 2, 8, 3, r, padding=1, activation="linear", bias=False, dtype=np.float32)
    gn = GroupNorm("gn", 4, 8, activation="relu", dtype=np.float32)
    gn.operations[1].param[...] = r.standard_normal(8).astype(np.float32)
    gn.operations[2].param[...] = r.standard_normal(8).astype(np.float32)
    x = r.standard_normal((1, 2, 7, 7)).astype(np.float32)
    y = gn.forward(conv.forward(x))
    g = r.standard_normal(y.shape).astype(np.float32)
    dx = conv.backward(gn.backward(g))

    tc = TorchConv2dWS(2, 8, 3, padding=1, bias=False)
    tg = torch.nn.GroupNorm(4, 8)
    with torch.no_grad():
        tc.weight.copy_(torch.from_numpy(conv.weight))
        tg.weight.copy_(torch.from_numpy(gn.operations[1].param))
        tg.bias.copy_(torch.from_numpy(gn.operations[2].param))
    xt = torch.from_numpy(x).requires_grad_(True)
    yt = torch.relu(tg(tc(xt)))
    yt.backward(torch.from_numpy(g))
    kw = dict(rtol=2e-4, atol=2e-5)
    close(y, yt, "output", **kw)
    close(dx, xt.grad, "dL/dx", **kw)
    close(conv.param_grads()[0], tc.weight.grad, "dL/dW", **kw)
    close(gn.param_grads()[0], tg.weight.grad, "dL/dγ", **kw)
    close(gn.param_grads()[1], tg.bias.grad, "dL/dβ", **kw)


def test_standardized_filters_have_zero_mean_unit_variance():
    op = WSConv2dOp(rng(1).standard_normal((5, 2, 3, 3)) * 4 + 3)
    w_hat = op.effective_weight().reshape(5, -1)
    close(w_hat.mean(axis=1), np.zeros(5), atol=1e-12)
    close(w_hat.var(axis=1), np.ones(5) / (1 + 1e-5 / op.param.reshape(5, -1).var(axis=1)), rtol=1e-9)
    assert isinstance(ChannelBias(np.zeros(2)), ChannelBias)
