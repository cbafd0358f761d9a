"""Every hand-written backward of the NumPy engine: central differences in float64, and parity
with torch autograd on the same inputs and weights (values and gradients).

Optimizers are tested in tests/test_optimizers.py.
"""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from engines.numpy_engine.base import Operation
from engines.numpy_engine.gradcheck import check_operation, numerical_gradient, relative_error
from engines.numpy_engine.layers import Dense, DropoutLayer
from engines.numpy_engine.losses import MeanSquaredError, SoftmaxCrossEntropy, softmax
from engines.numpy_engine.model import Model
from engines.numpy_engine.ops import (ACTIVATIONS, BiasAdd, Dropout, Identity, ReLU, Sigmoid, Tanh,
                                      WeightMultiply)

N, D_IN, D_OUT = 5, 7, 4
TOL = 1e-6


def rng(seed=0):
    return np.random.default_rng(seed)


def away_from_zero(x: np.ndarray) -> np.ndarray:
    """Inputs for ReLU: no element within 0.1 of the kink, so central differences never cross it."""
    return np.sign(x) * (np.abs(x) + 0.1)


def t(a: np.ndarray, grad: bool = False) -> torch.Tensor:
    return torch.tensor(a, dtype=torch.float64, requires_grad=grad)


def assert_close(ours, theirs, what=""):
    theirs = theirs.detach().numpy() if isinstance(theirs, torch.Tensor) else theirs
    np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-12, err_msg=what)


class FixedMaskDropout(Dropout):
    """Dropout whose mask is the same on every forward: the generator is reset before each draw."""

    def __init__(self, p, generator):
        super().__init__(p, generator)
        self._state = generator.bit_generator.state

    def _output(self):
        self.rng.bit_generator.state = self._state
        return super()._output()


# ---------------------------------------------------------------- central differences
@pytest.mark.parametrize("make_op, make_x", [
    (lambda: WeightMultiply(rng(1).standard_normal((D_IN, D_OUT))), lambda: rng(2).standard_normal((N, D_IN))),
    (lambda: BiasAdd(rng(1).standard_normal(D_OUT)), lambda: rng(2).standard_normal((N, D_OUT))),
    (Sigmoid, lambda: rng(2).standard_normal((N, D_OUT)) * 3),
    (Tanh, lambda: rng(2).standard_normal((N, D_OUT)) * 2),
    (ReLU, lambda: away_from_zero(rng(2).standard_normal((N, D_OUT)))),
    (Identity, lambda: rng(2).standard_normal((N, D_OUT))),
    (lambda: FixedMaskDropout(0.4, rng(3)), lambda: rng(2).standard_normal((N, D_OUT))),
], ids=["WeightMultiply", "BiasAdd", "Sigmoid", "Tanh", "ReLU", "Identity", "Dropout"])
def test_operation_gradcheck(make_op, make_x):
    op, x = make_op(), make_x()
    errors = check_operation(op, x, tol=TOL)
    assert errors["input"] < TOL
    if hasattr(op, "param"):
        assert errors["param"] < TOL


def test_dropout_mask_is_really_fixed_and_nontrivial():
    op = FixedMaskDropout(0.5, rng(3))
    x = np.ones((20, 10))
    a, b = op.forward(x).copy(), op.forward(x).copy()
    assert np.array_equal(a, b)
    assert 0 < (a == 0).sum() < a.size              # some dropped, some kept
    assert set(np.unique(a)) <= {0.0, 2.0}          # survivors scaled by 1/(1−p)
    assert np.array_equal(op.forward(x, training=False), x)  # identity in evaluation


def check_layer(layer, x: np.ndarray, seed: int = 0) -> None:
    """Input gradient via check_operation; each parameter of the layer by central differences."""
    check_operation(layer, x, seed=seed, tol=TOL)
    R = rng(seed + 1).standard_normal(layer.forward(x).shape)
    layer.forward(x)
    layer.backward(R)
    analytic = [g.copy() for g in layer.param_grads()]
    for p, g in zip(layer.params(), analytic):
        idx, num = numerical_gradient(lambda: float(np.sum(layer.forward(x) * R)), p)
        assert relative_error(g.reshape(-1)[idx], num) < TOL


@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid", "linear"])
def test_dense_layer_gradcheck(activation):
    layer = Dense("d", D_IN, D_OUT, activation, rng(4), dtype=np.float64)
    x = rng(5).standard_normal((N, D_IN))
    if activation == "relu":
        # central differences must not cross the kink: no pre-activation near 0
        z = x @ layer.weight + layer.bias
        assert np.abs(z).min() > 1e-3, "pick another seed: a pre-activation sits at the ReLU kink"
    check_layer(layer, x)


def test_dropout_layer_gradcheck():
    layer = DropoutLayer("drop", 0.3, rng(6))
    layer.operations[0] = FixedMaskDropout(0.3, rng(6))
    check_operation(layer, rng(7).standard_normal((N, D_IN)), tol=TOL)
    assert layer.params() == []


@pytest.mark.parametrize("loss_cls", [SoftmaxCrossEntropy, MeanSquaredError])
def test_loss_gradcheck(loss_cls):
    pred = rng(8).standard_normal((N, D_OUT)) * 2
    if loss_cls is SoftmaxCrossEntropy:
        target = rng(9).integers(0, D_OUT, N)
    else:
        target = rng(9).standard_normal((N, D_OUT))
    loss = loss_cls()
    loss.forward(pred, target)
    analytic = loss.backward().copy()
    idx, num = numerical_gradient(lambda: loss.forward(pred, target), pred)
    assert relative_error(analytic.reshape(-1)[idx], num) < TOL


def test_softmax_cross_entropy_is_stable_for_huge_logits():
    logits = np.array([[1000.0, 0.0, -1000.0], [0.0, 1e4, 0.0]])
    loss = SoftmaxCrossEntropy()
    value = loss.forward(logits, np.array([2, 1]))
    assert np.isfinite(value) and value == pytest.approx(1000.0)
    assert np.all(np.isfinite(loss.backward()))
    assert np.allclose(softmax(logits).sum(axis=1), 1.0)


def test_backward_checks_shapes():
    op = Tanh()
    op.forward(np.zeros((3, 4)))
    with pytest.raises(AssertionError):
        op.backward(np.zeros((4, 3)))


# ---------------------------------------------------------------- parity with torch autograd
TORCH_ACT = {"relu": torch.relu, "tanh": torch.tanh, "sigmoid": torch.sigmoid, "linear": lambda z: z}


@pytest.mark.parametrize("name", ["relu", "tanh", "sigmoid", "linear"])
def test_activation_parity_with_torch(name):
    x = rng(10).standard_normal((N, D_OUT)) * 3
    if name == "relu":
        x = away_from_zero(x)
    g = rng(11).standard_normal(x.shape)
    op = ACTIVATIONS[name]()
    y = op.forward(x)
    dx = op.backward(g)
    xt = t(x, grad=True)
    yt = TORCH_ACT[name](xt)
    yt.backward(t(g))
    assert_close(y, yt, "value")
    assert_close(dx, xt.grad, "gradient")


def test_weight_multiply_and_bias_add_parity_with_torch():
    x = rng(12).standard_normal((N, D_IN))
    W = rng(13).standard_normal((D_IN, D_OUT))
    b = rng(14).standard_normal(D_OUT)
    g = rng(15).standard_normal((N, D_OUT))
    mul, add = WeightMultiply(W.copy()), BiasAdd(b.copy())
    y = add.forward(mul.forward(x))
    dx = mul.backward(add.backward(g))
    xt, Wt, bt = t(x, True), t(W.T.copy(), True), t(b, True)  # torch keeps weights as (out, in)
    yt = F.linear(xt, Wt, bt)
    yt.backward(t(g))
    assert_close(y, yt, "value")
    assert_close(dx, xt.grad, "dL/dx")
    assert_close(mul.param_grad, Wt.grad.T, "dL/dW")
    assert_close(add.param_grad, bt.grad, "dL/db")


@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid"])
def test_dense_parity_with_torch(activation):
    layer = Dense("d", D_IN, D_OUT, activation, rng(16), dtype=np.float64)
    x = rng(17).standard_normal((N, D_IN))
    g = rng(18).standard_normal((N, D_OUT))
    y = layer.forward(x)
    dx = layer.backward(g)
    xt, Wt, bt = t(x, True), t(layer.weight.T.copy(), True), t(layer.bias, True)
    yt = TORCH_ACT[activation](F.linear(xt, Wt, bt))
    yt.backward(t(g))
    assert_close(y, yt, "value")
    assert_close(dx, xt.grad, "dL/dx")
    assert_close(layer.param_grads()[0], Wt.grad.T, "dL/dW")
    assert_close(layer.param_grads()[1], bt.grad, "dL/db")


class TorchMask:
    """Stands in for the Dropout generator: reproduces a keep-pattern taken from torch's dropout
    (Dropout keeps a unit where random() >= p, so 1.0 keeps and 0.0 drops)."""

    def __init__(self, keep: np.ndarray):
        self.keep = keep

    def random(self, shape):
        assert shape == self.keep.shape
        return np.where(self.keep, 1.0, 0.0)


def test_dropout_parity_with_torch():
    p = 0.3
    x = rng(19).standard_normal((N, D_OUT))
    g = rng(20).standard_normal((N, D_OUT))
    xt = t(x, True)
    torch.manual_seed(0)  # torch's own dropout draws from its global generator
    yt = F.dropout(xt, p=p, training=True)
    yt.backward(t(g))
    keep = yt.detach().numpy() != 0  # x has no zeros, so zeros in the output are dropped units
    op = Dropout(p, TorchMask(keep))
    y = op.forward(x)
    dx = op.backward(g)
    assert 0 < keep.sum() < keep.size
    assert_close(y, yt, "value")
    assert_close(dx, xt.grad, "gradient")


def test_softmax_cross_entropy_parity_with_torch():
    z = rng(21).standard_normal((N, D_OUT)) * 3
    y = rng(22).integers(0, D_OUT, N)
    loss = SoftmaxCrossEntropy()
    value = loss.forward(z, y)
    grad = loss.backward()
    zt = t(z, True)
    lt = F.cross_entropy(zt, torch.tensor(y))
    lt.backward()
    assert value == pytest.approx(lt.item(), rel=1e-12)
    assert_close(grad, zt.grad, "dL/dz")


def test_mean_squared_error_parity_with_torch():
    pred = rng(23).standard_normal((N, D_OUT))
    target = rng(24).standard_normal((N, D_OUT))
    loss = MeanSquaredError()
    value = loss.forward(pred, target)
    grad = loss.backward()
    pt = t(pred, True)
    lt = F.mse_loss(pt, t(target))
    lt.backward()
    assert value == pytest.approx(lt.item(), rel=1e-12)
    assert_close(grad, pt.grad, "dL/dpred")


def test_model_parity_with_torch():
    """A whole MLP (two Dense layers and the loss): every parameter gradient matches torch."""
    r = rng(25)
    layers = [Dense("h", D_IN, 6, "tanh", r, np.float64), Dense("out", 6, D_OUT, "linear", r, np.float64)]
    model = Model(layers, SoftmaxCrossEntropy())
    x = rng(26).standard_normal((N, D_IN))
    y = rng(27).integers(0, D_OUT, N)
    loss = model.loss.forward(model.forward(x), y)
    model.backward(model.loss.backward())
    ts = [t(p.T.copy() if p.ndim == 2 else p, True) for p in model.params()]
    h = torch.tanh(F.linear(t(x), ts[0], ts[1]))
    lt = F.cross_entropy(F.linear(h, ts[2], ts[3]), torch.tensor(y))
    lt.backward()
    assert loss == pytest.approx(lt.item(), rel=1e-12)
    assert model.param_names() == ["h.weight", "h.bias", "out.weight", "out.bias"]
    for ours, theirs in zip(model.param_grads(), ts):
        assert_close(ours, theirs.grad.T if ours.ndim == 2 else theirs.grad)


def test_operation_base_is_abstract():
    with pytest.raises(NotImplementedError):
        Operation().forward(np.zeros(3))


def test_predict_keeps_the_caches_of_an_iteration_in_progress():
    """Evaluating between forward and backward must not change the gradients."""
    r = rng(28)
    model = Model([DropoutLayer("drop", 0.2, rng(29)), Dense("h", D_IN, 6, "relu", r, np.float64),
                   Dense("out", 6, D_OUT, "linear", r, np.float64)], SoftmaxCrossEntropy())
    x = rng(30).standard_normal((N, D_IN))
    y = rng(31).integers(0, D_OUT, N)
    model.loss.forward(model.forward(x), y)
    state = model.layers[0].operations[0].rng.bit_generator.state
    model.predict(rng(32).standard_normal((3, D_IN)))  # another batch size, evaluation mode
    assert model.layers[0].operations[0].rng.bit_generator.state == state
    model.backward(model.loss.backward())
    grads = [g.copy() for g in model.param_grads()]
    model.layers[0].operations[0].rng.bit_generator.state = rng(29).bit_generator.state
    model.loss.forward(model.forward(x), y)
    model.backward(model.loss.backward())
    for a, b in zip(grads, model.param_grads()):
        assert np.array_equal(a, b)
