"""The LSTM engines: NumPy manual BPTT (gradient check, torch parity), the torch hand-written LSTM
(parity with nn.LSTM, outputs and gradients), the staged per-time-step runner, samplers, optimizers."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from engines.numpy_engine.gradcheck import numerical_gradient
from engines.numpy_engine.lstm import NumpyLSTM, torch_gate_order
from engines.numpy_engine.optimizers import Adam
from engines.numpy_engine.rnn import FlatParams
from engines.torch_engine.lstm import CharLSTM, StagedLSTM

torch.set_num_threads(1)
V, H, L, T, B = 7, 5, 2, 6, 3


def scaled_error(analytic, numeric) -> float:
    """max |a − n| / max |n|: robust where single gradient entries are near zero."""
    analytic, numeric = np.ravel(analytic), np.ravel(numeric)
    return float(np.max(np.abs(analytic - numeric)) / max(np.max(np.abs(numeric)), 1e-12))


def batch(seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, V, (T, B)), rng.integers(0, V, (T, B))


def numpy_lstm(seed=0, reduction="mean", carry=True):
    rng = np.random.default_rng(seed)
    net = NumpyLSTM(V, H, L, rng, np.float64, reduction)
    if carry:  # a non-zero state carried in from a previous sequence
        net.carry = [{k: rng.standard_normal((H, B)) * 0.5 for k in ("h", "c")} for _ in range(L)]
    return net


@pytest.mark.parametrize("reduction", ["mean", "sum_time"])
def test_numpy_lstm_gradient_check(reduction):
    net = numpy_lstm(reduction=reduction)
    ids, tg = batch()
    carry = [{k: v.copy() for k, v in c.items()} for c in net.carry]

    def objective():
        net.carry = [{k: v.copy() for k, v in c.items()} for c in carry]
        net.begin(ids, tg)
        for l in range(L):
            net.forward_layer(l)
        net.forward_output()
        return net.loss() * T * B * net.loss_scale()   # the objective whose gradient backward computes

    objective()
    net.backward_output()
    for l in reversed(range(L)):       # in two chunks per layer, as the app steps through it
        net.backward_steps(l, T - 1, 3)
        net.backward_steps(l, 2, 0)
    analytic = net.flat.grad.copy()
    idx, num = numerical_gradient(objective, net.flat.data, h=1e-5)
    for name, sl in net.flat.slices.items():
        sel = (idx >= sl.start) & (idx < sl.stop)
        assert scaled_error(analytic[idx[sel]], num[sel]) < 1e-6, name


def test_hand_written_torch_lstm_matches_nn_lstm():
    torch.manual_seed(0)  # the test's own weights; engines never seed globally
    lstm = torch.nn.LSTM(V, H, L).double()
    head = torch.nn.Linear(H, V).double()
    ids, tg = (torch.from_numpy(a) for a in batch())
    mine = CharLSTM.from_nn_lstm(lstm, head)
    h0 = torch.randn(L, B, H, dtype=torch.float64)
    c0 = torch.randn(L, B, H, dtype=torch.float64)

    y, (hn, cn) = lstm(F.one_hot(ids, V).double(), (h0, c0))
    ref = head(y).reshape(-1, V)
    F.cross_entropy(ref, tg.reshape(-1)).backward()
    logits, state = mine(ids, [(h0[l].t(), c0[l].t()) for l in range(L)])
    F.cross_entropy(logits, tg.reshape(-1)).backward()

    torch.testing.assert_close(logits, ref, rtol=1e-12, atol=1e-12)
    for l in range(L):
        torch.testing.assert_close(state[l][0], hn[l].t(), rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(state[l][1], cn[l].t(), rtol=1e-12, atol=1e-12)
    perm = torch_gate_order(H)
    for l in range(L):
        g_ih = getattr(lstm, f"weight_ih_l{l}").grad[perm]
        torch.testing.assert_close(mine.embed.grad.t() if l == 0 else mine.p(f"W_ih{l}").grad, g_ih)
        torch.testing.assert_close(mine.p(f"W_hh{l}").grad, getattr(lstm, f"weight_hh_l{l}").grad[perm])
        torch.testing.assert_close(mine.p(f"b{l}").grad, getattr(lstm, f"bias_ih_l{l}").grad[perm])
    torch.testing.assert_close(mine.W_out.grad, head.weight.grad)
    torch.testing.assert_close(mine.b_out.grad, head.bias.grad)


def test_no_builtin_recurrent_modules_in_the_engines():
    """The hand-written LSTM and GRU use no nn.LSTM, nn.LSTMCell, nn.RNN, nn.GRU (nor torch's fused kernels)."""
    import ast
    from pathlib import Path
    root = Path(__file__).resolve().parent.parent / "engines"
    banned = {"LSTM", "LSTMCell", "RNN", "RNNCell", "GRU", "GRUCell", "lstm", "lstm_cell", "rnn_tanh", "gru"}
    for path in [root / "torch_engine" / "lstm.py", root / "numpy_engine" / "lstm.py", root / "numpy_engine" / "rnn.py",
                 root / "torch_engine" / "gru.py", root / "numpy_engine" / "gru.py",
                 root / "labs" / "lstm.py", root / "labs" / "char_rnn.py", root / "labs" / "text_common.py",
                 root / "labs" / "text_generation.py", root / "labs" / "lstm_torch.py"]:
        tree = ast.parse(path.read_text())
        used = {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)}
        names = {alias.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) for alias in node.names}
        assert not (used | names) & banned, (path.name, (used | names) & banned)


def _staged_from_numpy(net: NumpyLSTM) -> StagedLSTM:
    staged = StagedLSTM(V, H, L, torch.Generator().manual_seed(0), torch.float64)
    staged.set_param_arrays(net.param_arrays())
    if net.carry is not None:
        staged.carry = [(torch.from_numpy(c["h"].copy()), torch.from_numpy(c["c"].copy())) for c in net.carry]
    return staged


@pytest.mark.parametrize("stepwise", [True, False])
def test_numpy_lstm_matches_torch_autograd_and_staged_matches_one_graph(stepwise):
    net = numpy_lstm()
    ids, tg = batch(1)
    staged = _staged_from_numpy(net)
    carry = [(h.clone(), c.clone()) for h, c in staged.carry]
    loss_np = net.forward_backward(ids, tg)
    loss_staged = staged.forward_backward(ids, tg, stepwise=stepwise)
    assert loss_np == pytest.approx(loss_staged, rel=1e-12)
    grads = staged.grads()
    for name in net.flat.names:
        np.testing.assert_allclose(net.g[name], grads[name], rtol=1e-9, atol=1e-12, err_msg=name)

    # the staged runner equals one autograd graph over the whole sequence
    model = staged.model
    model.zero_grad()
    logits, _ = model(torch.from_numpy(ids), carry)
    F.cross_entropy(logits, torch.from_numpy(tg).reshape(-1)).backward()
    for name, p in model.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), grads[name], rtol=1e-10, atol=1e-13, err_msg=name)

    # what the views show: the gates, and dL/dh_t, dL/dc_t through time, equal in both engines
    for l in range(L):
        a, b = net.step_gradients(l), staged.step_gradients(l)
        for k in ("dh", "dc", "dh_norm", "dc_norm"):
            np.testing.assert_allclose(a[k], b[k], rtol=1e-9, atol=1e-13, err_msg=k)
        acts_np, acts_t = net.layer_activations(l), staged.layer_activations(l)
        for k in acts_np:
            np.testing.assert_allclose(acts_np[k], acts_t[k], rtol=1e-12, atol=1e-14)


def test_stepping_through_time_and_fast_play_give_bit_identical_gradients():
    """Going back in time replays fast; the numbers must be those the student stepped through."""
    ids, tg = batch(2)
    runs = []
    for stepwise in (True, False):
        staged = StagedLSTM(V, H, L, torch.Generator().manual_seed(3), torch.float32)
        staged.carry = [(torch.full((H, B), 0.1), torch.full((H, B), -0.2)) for _ in range(L)]
        staged.begin(ids, tg, stepwise)
        for l in range(L):
            staged.forward_layer(l)
        staged.forward_output()
        staged.loss()
        staged.backward_output()
        for l in reversed(range(L)):
            if stepwise:
                for t in reversed(range(T)):
                    staged.backward_steps(l, t, t)
            else:
                staged.backward_steps(l, T - 1, 0)
        runs.append(staged.grads())
    for name in runs[0]:
        assert np.array_equal(runs[0][name], runs[1][name]), name


def test_samplers_match_the_sequence_forward():
    net = numpy_lstm(carry=False)
    staged = _staged_from_numpy(net)
    staged.carry = None
    ids = np.array([[1], [4], [0], [6], [2]])
    logits, _ = staged.model(torch.from_numpy(ids))
    s_np, s_t = net.sampler(1), staged.sampler(1)
    for t in range(len(ids)):
        a = s_np.step(ids[t]).copy()
        b = s_t.step(ids[t]).copy()
        np.testing.assert_allclose(a[:, 0], logits[t].detach().numpy(), rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(b[:, 0], logits[t].detach().numpy(), rtol=1e-10, atol=1e-12)


def test_eval_loss_agrees_between_engines():
    net = numpy_lstm(carry=False)
    staged = _staged_from_numpy(net)
    ids = np.random.default_rng(3).integers(0, V, 200)
    assert net.eval_loss(ids, streams=4, chunk=7) == pytest.approx(staged.eval_loss(ids, streams=4, chunk=7), rel=1e-10)


def test_the_engines_adam_on_a_flat_buffer_matches_torch_optim():
    # the text labs give the NumPy engine's one Adam their flat parameter buffer
    rng = np.random.default_rng(0)
    shapes = {"a": (3, 4), "b": (5,)}
    flat = FlatParams(shapes, np.float64)
    flat.data[...] = rng.standard_normal(flat.size)
    ref = [torch.tensor(flat.p[k].copy(), requires_grad=True) for k in shapes]
    opt_ref = torch.optim.Adam(ref, lr=0.01)
    opt_np = Adam([flat.data], lr=0.01)
    for _ in range(5):
        g = rng.standard_normal(flat.size)
        flat.grad[...] = g
        for k, p in zip(shapes, ref):
            p.grad = torch.tensor(flat.g[k].copy())
        before = flat.data.copy()
        opt_ref.step()
        opt_np.step([flat.grad])
        np.testing.assert_allclose(opt_np.updates[0], flat.data - before, rtol=1e-9, atol=1e-15)   # Δθ, for the views
    for k, p in zip(shapes, ref):
        np.testing.assert_allclose(flat.p[k], p.detach().numpy(), rtol=1e-12, atol=1e-14)
