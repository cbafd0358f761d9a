"""Convolution, max pooling, flatten (engines/numpy_engine/conv.py): central differences in float64,
and parity with torch autograd on the same inputs and weights (values and gradients)."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from engines.numpy_engine.conv import (BufferedReLU, ChannelBias, Conv2d, Conv2dOp, Flatten, FlattenDense, MaxPool2d,
                                       MaxPool2dOp, batch_first, batch_last)
from engines.numpy_engine.gradcheck import check_operation
from engines.numpy_engine.losses import SoftmaxCrossEntropy
from engines.numpy_engine.model import Model


def rng(seed=0):
    return np.random.default_rng(seed)


def t(a, grad=False):
    return torch.tensor(np.ascontiguousarray(a), dtype=torch.float64, requires_grad=grad)


def close(ours, theirs, what="", rtol=1e-10, atol=1e-12):
    theirs = theirs.detach().numpy() if isinstance(theirs, torch.Tensor) else theirs
    np.testing.assert_allclose(np.asarray(ours), theirs, rtol=rtol, atol=atol, err_msg=what)


CONV_CASES = [  # (N, C_in, H, W, C_out, k, stride, padding)
    (2, 1, 6, 6, 3, 3, 1, 1),
    (3, 2, 7, 5, 4, 3, 2, 0),
    (2, 3, 6, 6, 2, 2, 1, 0),
    (1, 2, 5, 6, 3, 3, 2, 2),
]


# ---------------------------------------------------------------- central differences (float64)
@pytest.mark.parametrize("case", CONV_CASES)
def test_conv_gradcheck(case):
    n, c, h, w, co, k, s, p = case
    op = Conv2dOp(rng(1).standard_normal((co, c, k, k)), stride=s, padding=p)
    check_operation(op, rng(2).standard_normal((n, c, h, w)), max_checks=80)


def test_channel_bias_gradcheck():
    check_operation(ChannelBias(rng(1).standard_normal(3)), rng(2).standard_normal((2, 3, 4, 5)))


def test_relu_gradcheck():
    x = rng(2).standard_normal((2, 3, 4, 4))
    x = np.sign(x) * (np.abs(x) + 0.1)  # away from the kink
    check_operation(BufferedReLU(), x)


@pytest.mark.parametrize("k, s", [(2, 2), (3, 2), (2, 1)])
def test_maxpool_gradcheck(k, s):
    x = rng(3).permutation(2 * 3 * 7 * 6).reshape(2, 3, 7, 6).astype(np.float64) * 0.01  # distinct: no ties
    check_operation(MaxPool2dOp(k, s), x)


def test_flatten_gradcheck():
    check_operation(Flatten(), rng(2).standard_normal((3, 2, 4, 5)))


# ---------------------------------------------------------------- parity with torch autograd
@pytest.mark.parametrize("case", CONV_CASES)
def test_conv_matches_torch(case):
    n, c, h, w, co, k, s, p = case
    W = rng(1).standard_normal((co, c, k, k))
    b = rng(4).standard_normal(co)
    x = rng(2).standard_normal((n, c, h, w))
    conv, bias = Conv2dOp(W.copy(), s, p), ChannelBias(b.copy())
    y = bias.forward(conv.forward(x))
    xt, Wt, bt = t(x, True), t(W, True), t(b, True)
    yt = F.conv2d(xt, Wt, bt, stride=s, padding=p)
    close(y, yt, "conv output")
    g = rng(3).standard_normal(y.shape)
    dx = conv.backward(bias.backward(g))
    yt.backward(t(g))
    close(dx, xt.grad, "dL/dx")
    close(conv.param_grad, Wt.grad, "dL/dW")
    close(bias.param_grad, bt.grad, "dL/db")


def test_maxpool_ties_first_maximum_wins_like_torch():
    # many ties: small integers; and an all-equal window
    x = rng(5).integers(0, 3, size=(2, 3, 8, 6)).astype(np.float64)
    x[0, 0, :2, :2] = 1.0
    for k, s in [(2, 2), (3, 2), (2, 1)]:
        op = MaxPool2dOp(k, s)
        y = op.forward(x)
        xt = t(x, True)
        yt = F.max_pool2d(xt, k, s)
        close(y, yt, f"pool {k}/{s} output")
        g = rng(6).standard_normal(y.shape)
        dx = op.backward(g)
        yt.backward(t(g))
        close(dx, xt.grad, f"pool {k}/{s} dL/dx with ties")


def test_flatten_order_matches_torch():
    x = rng(2).standard_normal((3, 2, 4, 5))
    conv = Conv2dOp(rng(1).standard_normal((2, 2, 1, 1)))  # produces a batch-innermost view
    h = conv.forward(x)
    assert batch_last(h).flags.c_contiguous  # the (C, H, W, N) memory layout
    flat = Flatten().forward(h)
    close(flat, torch.flatten(t(np.asarray(h)), 1))


def test_small_cnn_matches_torch_float32_and_float64():
    """conv → relu → pool → conv → relu → pool → flatten → dense, softmax cross-entropy: every
    parameter gradient and every layer's input gradient against torch autograd."""
    for dtype, rtol, atol in [(np.float64, 1e-9, 1e-11), (np.float32, 2e-4, 2e-6)]:
        r = rng(7)
        layers = [Conv2d("conv1", 1, 4, 3, r, padding=1, dtype=dtype), MaxPool2d("pool1", 2),
                  Conv2d("conv2", 4, 6, 3, r, padding=1, dtype=dtype), MaxPool2d("pool2", 2),
                  FlattenDense("output", 6 * 3 * 3, 10, "linear", r, dtype)]
        for layer in layers:  # non-zero biases
            for op in layer.param_ops():
                if op.param_name == "bias":
                    op.param[...] = r.standard_normal(op.param.shape) * 0.1
        model = Model(layers, SoftmaxCrossEntropy())
        x = rng(8).random((5, 1, 12, 12)).astype(dtype)
        y = np.array([1, 3, 0, 9, 3])
        logits = model.forward(x)
        loss = model.loss.forward(logits, y)
        model.backward(model.loss.backward())

        tw = [t(p, True) for p in model.params()]
        xt = t(x)
        h1 = F.relu(F.conv2d(xt, tw[0], tw[1], padding=1))
        h1.retain_grad()
        p1 = F.max_pool2d(h1, 2)
        p1.retain_grad()
        h2 = F.relu(F.conv2d(p1, tw[2], tw[3], padding=1))
        p2 = F.max_pool2d(h2, 2)
        p2.retain_grad()
        lt = torch.flatten(p2, 1) @ tw[4] + tw[5]
        loss_t = F.cross_entropy(lt, torch.tensor(y))
        loss_t.backward()
        close(loss, loss_t, "loss", rtol, atol)
        close(logits, lt, "logits", rtol, atol)
        for name, ours, theirs in zip(model.param_names(), model.param_grads(), tw):
            close(ours, theirs.grad, name, rtol, atol)
        close(layers[1].input_grad, h1.grad, "dL/d conv1 output", rtol, atol)
        close(layers[2].input_grad, p1.grad, "dL/d pool1 output", rtol, atol)
        close(layers[4].input_grad, p2.grad, "dL/d pool2 output", rtol, atol)


def test_evaluation_does_not_touch_training_buffers():
    r = rng(1)
    layer = Conv2d("conv", 2, 3, 3, r, padding=1, dtype=np.float64)
    x = r.standard_normal((4, 2, 5, 5))
    y = np.array(layer.forward(x, training=True))
    kept = layer.output
    layer.forward(r.standard_normal((4, 2, 5, 5)), training=False)  # same shape, evaluation
    np.testing.assert_array_equal(kept, y)


def test_layout_helpers_round_trip():
    a = np.arange(24).reshape(2, 3, 4)
    assert batch_last(batch_first(a)).base is not None
    np.testing.assert_array_equal(batch_last(batch_first(a)), a)


@pytest.mark.parametrize("k", [16, 17, 20])
def test_maxpool_large_kernel_matches_torch(k):
    # k·k window offsets: 256 for k = 16 (the most one uint8 can hold), 289 and 400 beyond it
    x = rng(7).permutation(2 * 2 * (k + 3) * (k + 1)).reshape(2, 2, k + 3, k + 1).astype(np.float64)  # no ties
    op = MaxPool2dOp(k, 1)
    y = op.forward(x)
    xt = t(x, True)
    yt = F.max_pool2d(xt, k, 1)
    close(y, yt, f"pool {k} output")
    g = rng(8).standard_normal(y.shape)
    dx = op.backward(g)
    yt.backward(t(g))
    close(dx, xt.grad, f"pool {k} dL/dx")
