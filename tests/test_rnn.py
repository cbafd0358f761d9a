"""The NumPy char-RNN: gradient check in float64, parity with a torch autograd version of the same math
(single steps' gradients: training a char-RNN is chaotic), Adagrad with lr decay against torch.optim,
clipping, sampling."""
import numpy as np
import pytest
import torch

from engines.numpy_engine.gradcheck import numerical_gradient
from engines.numpy_engine.optimizers import Adagrad
from engines.numpy_engine.rnn import (FlatParams, RecurrentNet, clip_elementwise, clip_global_norm,
                                      sample_from_logits)

torch.set_num_threads(1)
V, H, L, T, B = 6, 5, 2, 7, 2


def scaled_error(analytic, numeric) -> float:
    analytic, numeric = np.ravel(analytic), np.ravel(numeric)
    return float(np.max(np.abs(analytic - numeric)) / max(np.max(np.abs(numeric)), 1e-12))


def make_net(reduction="sum_time", depth=L, seed=0):
    rng = np.random.default_rng(seed)
    net = RecurrentNet(V, H, depth, rng, np.float64, reduction)
    net.carry = [{"h": np.tanh(rng.standard_normal((H, B)))} for _ in range(depth)]
    ids, tg = rng.integers(0, V, (T, B)), rng.integers(0, V, (T, B))
    return net, ids, tg


@pytest.mark.parametrize("reduction, depth", [("sum_time", 2), ("mean", 1), ("sum_time", 3)])
def test_char_rnn_gradient_check(reduction, depth):
    net, ids, tg = make_net(reduction, depth)
    carry = [dict(c) for c in net.carry]

    def objective():
        net.carry = [{k: v.copy() for k, v in c.items()} for c in carry]
        net.begin(ids, tg)
        for l in range(depth):
            net.forward_layer(l)
        net.forward_output()
        return net.loss() * T * B * net.loss_scale()

    objective()
    net.backward_output()
    for l in reversed(range(depth)):   # one step per call, as the app steps through time
        for t in reversed(range(T)):
            net.backward_steps(l, t, t)
    analytic = net.flat.grad.copy()
    idx, num = numerical_gradient(objective, net.flat.data, h=1e-5)
    for name, sl in net.flat.slices.items():
        sel = (idx >= sl.start) & (idx < sl.stop)
        assert scaled_error(analytic[idx[sel]], num[sel]) < 1e-6, name


def torch_char_rnn(p: dict, ids, tg, carry):
    """The same math in torch autograd: h_t = tanh(W_ih x_t + W_hh h_{t−1} + b), loss summed over time."""
    W = {k: torch.tensor(v, requires_grad=True) for k, v in p.items()}
    x = None
    for l in range(L):
        h = torch.tensor(carry[l]["h"])                      # (H, B)
        hs = []
        for t in range(T):
            inp = W["embed"][torch.from_numpy(ids[t])].t() if l == 0 else W[f"W_ih{l}"] @ x[t]
            h = torch.tanh(inp + W[f"W_hh{l}"] @ h + W[f"b{l}"][:, None])
            hs.append(h)
        x = hs
    logits = torch.stack([W["W_out"] @ h + W["b_out"][:, None] for h in x])           # (T, V, B)
    logp = torch.log_softmax(logits, dim=1)
    nll = -logp.gather(1, torch.from_numpy(tg)[:, None, :]).squeeze(1)                # (T, B)
    (nll.sum(0).mean()).backward()
    return float(nll.detach().mean()), {k: v.grad.numpy() for k, v in W.items()}


def test_char_rnn_matches_torch_autograd():
    net, ids, tg = make_net()
    carry = [{k: v.copy() for k, v in c.items()} for c in net.carry]
    params = net.param_arrays()
    loss = net.forward_backward(ids, tg)
    ref_loss, ref = torch_char_rnn(params, ids, tg, carry)
    assert loss == pytest.approx(ref_loss, rel=1e-12)
    for name in net.flat.names:
        np.testing.assert_allclose(net.g[name], ref[name], rtol=1e-10, atol=1e-13, err_msg=name)


def test_adagrad_with_decay_matches_torch_optim():
    rng = np.random.default_rng(0)
    flat = FlatParams({"w": (4, 3), "b": (3,)}, np.float64)
    flat.data[...] = rng.standard_normal(flat.size)
    ref = [torch.tensor(flat.p[k].copy(), requires_grad=True) for k in ("w", "b")]
    opt_ref = torch.optim.Adagrad(ref, lr=0.1, lr_decay=0.01, eps=1e-8)
    opt = Adagrad([flat.data], lr=0.1, lr_decay=0.01, eps=1e-8)   # the engine's one Adagrad, on the flat buffer
    for _ in range(6):
        flat.grad[...] = rng.standard_normal(flat.size)
        for k, p in zip(("w", "b"), ref):
            p.grad = torch.tensor(flat.g[k].copy())
        opt_ref.step()
        opt.step([flat.grad])
    for k, p in zip(("w", "b"), ref):
        np.testing.assert_allclose(flat.p[k], p.detach().numpy(), rtol=1e-12, atol=1e-14)
    assert opt.current_lr() == pytest.approx(0.1 / (1 + 6 * 0.01))


def test_clipping():
    g = np.array([1.0, -7.0, 3.0, 9.0])
    info = clip_elementwise(g, 5.0)
    assert info["clipped"] and info["clipped_fraction"] == 0.5
    np.testing.assert_array_equal(g, [1.0, -5.0, 3.0, 5.0])
    g = np.array([3.0, 4.0])
    info = clip_global_norm(g, 1.0)
    assert info["clipped"] and info["grad_norm"] == pytest.approx(5.0)
    ref = torch.tensor([3.0, 4.0], dtype=torch.float64, requires_grad=True)
    ref.grad = torch.tensor([3.0, 4.0], dtype=torch.float64)
    torch.nn.utils.clip_grad_norm_([ref], 1.0)
    np.testing.assert_allclose(g, ref.grad.numpy(), rtol=1e-15)
    assert not clip_global_norm(np.array([0.1, 0.1]), 1.0)["clipped"]


def test_sampler_matches_the_sequence_forward():
    net, ids, tg = make_net()
    net.carry = None
    net.begin(ids, tg)
    for l in range(L):
        net.forward_layer(l)
    net.forward_output()
    s = net.sampler(B)
    for t in range(T):
        np.testing.assert_allclose(s.step(ids[t]), net.Z[t], rtol=1e-12, atol=1e-14)


def test_sampling_temperature_and_top_k():
    logits = np.array([0.0, 3.0, 1.0, 2.0])
    assert sample_from_logits(logits, 0.0, 0, 0.5) == 1                # temperature 0: the most likely
    draws = {sample_from_logits(logits, 1.0, 2, u) for u in np.linspace(0, 0.999, 50)}
    assert draws == {1, 3}                                           # top-2 only
    rng = np.random.default_rng(0)
    counts = np.bincount([sample_from_logits(logits, 1.0, 0, rng.random()) for _ in range(4000)], minlength=4)
    p = np.exp(logits) / np.exp(logits).sum()
    np.testing.assert_allclose(counts / 4000, p, atol=0.03)
