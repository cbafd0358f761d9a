"""The GRU on both engines: NumPy manual BPTT (central differences in float64, parity with nn.GRU),
the torch hand-written cell (parity with nn.GRU: outputs, states, every gradient), the staged
per-time-step runner, samplers; the LSTM lab's --cell gru (gates shown, exact going back,
determinism, save/load, parameter counts)."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from engines import StepwiseError
from engines.labs import make_trainer
from engines.numpy_engine.gradcheck import numerical_gradient
from engines.numpy_engine.gru import NumpyGRU
from engines.torch_engine.gru import CharGRU, StagedGRU
from engines.trainer import BACKWARD, FORWARD
from visualizer.session import Session

torch.set_num_threads(1)
V, H, L, T, B = 7, 5, 2, 6, 3
ROOT = Path(__file__).resolve().parent.parent
SMALL = {"lab": "lstm", "cell": "gru", "hidden": 12, "seq_len": 8, "batch_size": 4, "eval_chars": 400}


def scaled_error(analytic, numeric) -> float:
    analytic, numeric = np.ravel(analytic), np.ravel(numeric)
    return float(np.max(np.abs(analytic - numeric)) / max(np.max(np.abs(numeric)), 1e-12))


def batch(seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, V, (T, B)), rng.integers(0, V, (T, B))


def numpy_gru(seed=0, reduction="mean", carry=True):
    rng = np.random.default_rng(seed)
    net = NumpyGRU(V, H, L, rng, np.float64, reduction)
    if carry:  # a non-zero state carried in from a previous sequence
        net.carry = [{"h": rng.standard_normal((H, B)) * 0.5} for _ in range(L)]
    return net


@pytest.mark.parametrize("reduction", ["mean", "sum_time"])
def test_numpy_gru_gradient_check(reduction):
    net = numpy_gru(reduction=reduction)
    ids, tg = batch()
    carry = [{k: v.copy() for k, v in c.items()} for c in net.carry]

    def objective():
        net.carry = [{k: v.copy() for k, v in c.items()} for c in carry]
        net.begin(ids, tg)
        for l in range(L):
            net.forward_layer(l)
        net.forward_output()
        return net.loss() * T * B * net.loss_scale()

    objective()
    net.backward_output()
    for l in reversed(range(L)):       # in two chunks per layer, as the app steps through it
        net.backward_steps(l, T - 1, 3)
        net.backward_steps(l, 2, 0)
    analytic = net.flat.grad.copy()
    idx, num = numerical_gradient(objective, net.flat.data, h=1e-5)
    assert {"b_hn0", "b_hn1"} <= set(net.flat.slices)
    for name, sl in net.flat.slices.items():
        sel = (idx >= sl.start) & (idx < sl.stop)
        assert scaled_error(analytic[idx[sel]], num[sel]) < 1e-6, name


def nn_gru_reference(seed=0):
    """nn.GRU + a Linear head in float64 on one-hot input, its loss backpropagated; and a state h0."""
    torch.manual_seed(seed)  # the test's own weights; engines never seed globally
    gru = torch.nn.GRU(V, H, L).double()
    head = torch.nn.Linear(H, V).double()
    ids, tg = (torch.from_numpy(a) for a in batch())
    h0 = torch.randn(L, B, H, dtype=torch.float64)
    y, hn = gru(F.one_hot(ids, V).double(), h0)
    ref = head(y).reshape(-1, V)
    loss = F.cross_entropy(ref, tg.reshape(-1))
    loss.backward()
    return gru, head, h0, ref, hn, loss.detach()


def check_grads_against_nn_gru(grads: dict, gru, head):
    """Our gradients, named as the engines name them, against nn.GRU's: b = [b_ir + b_hr; b_iz + b_hz;
    b_in], so dL/db_r = dL/db_ir = dL/db_hr; b_hn = b_hh[2H:]."""
    for l in range(L):
        g_ih = getattr(gru, f"weight_ih_l{l}").grad.numpy()
        np.testing.assert_allclose(grads["embed"].T if l == 0 else grads[f"W_ih{l}"], g_ih, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(grads[f"W_hh{l}"], getattr(gru, f"weight_hh_l{l}").grad.numpy(), rtol=1e-9,
                                   atol=1e-12)
        b_ih, b_hh = getattr(gru, f"bias_ih_l{l}").grad.numpy(), getattr(gru, f"bias_hh_l{l}").grad.numpy()
        np.testing.assert_allclose(b_ih[:2 * H], b_hh[:2 * H], rtol=1e-12)
        np.testing.assert_allclose(grads[f"b{l}"], b_ih, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(grads[f"b_hn{l}"], b_hh[2 * H:], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(grads["W_out"], head.weight.grad.numpy(), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(grads["b_out"], head.bias.grad.numpy(), rtol=1e-9, atol=1e-12)


def test_hand_written_torch_gru_matches_nn_gru():
    gru, head, h0, ref, hn, _ = nn_gru_reference()
    ids, tg = (torch.from_numpy(a) for a in batch())
    mine = CharGRU.from_nn_gru(gru, head)
    logits, state = mine(ids, [(h0[l].t(),) for l in range(L)])
    F.cross_entropy(logits, tg.reshape(-1)).backward()
    torch.testing.assert_close(logits, ref, rtol=1e-12, atol=1e-12)
    for l in range(L):
        torch.testing.assert_close(state[l][0], hn[l].t(), rtol=1e-12, atol=1e-12)
    check_grads_against_nn_gru({k: p.grad.numpy() for k, p in mine.named_parameters()}, gru, head)


@pytest.mark.parametrize("stepwise", [True, False])
def test_numpy_gru_and_staged_torch_gru_match_nn_gru(stepwise):
    gru, head, h0, ref, hn, loss = nn_gru_reference(1)
    arrays = CharGRU.from_nn_gru(gru, head).param_arrays()
    ids, tg = batch()
    net = NumpyGRU(V, H, L, np.random.default_rng(0), np.float64)
    net.set_param_arrays(arrays)
    net.carry = [{"h": h0[l].t().numpy().copy()} for l in range(L)]
    staged = StagedGRU(V, H, L, torch.Generator().manual_seed(0), torch.float64)
    staged.set_param_arrays(arrays)
    staged.carry = [(h0[l].t().clone(),) for l in range(L)]
    loss_np = net.forward_backward(ids, tg)
    loss_t = staged.forward_backward(ids, tg, stepwise=stepwise)
    assert loss_np == pytest.approx(loss.item(), rel=1e-12) and loss_t == pytest.approx(loss.item(), rel=1e-12)
    # outputs and final states
    np.testing.assert_allclose(net.Z.transpose(0, 2, 1).reshape(-1, V), ref.detach().numpy(), rtol=1e-10, atol=1e-12)
    for l in range(L):
        np.testing.assert_allclose(net.Hs[l][T], hn[l].t().detach().numpy(), rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(staged.tapes[l]["steps"][-1].h.detach().numpy(), hn[l].t().detach().numpy(),
                                   rtol=1e-10, atol=1e-12)
    check_grads_against_nn_gru({k: net.g[k] for k in net.flat.names}, gru, head)
    check_grads_against_nn_gru(staged.grads(), gru, head)
    # what the views show: the gates and dL/dh_t through time, equal in both engines
    for l in range(L):
        a, b = net.step_gradients(l), staged.step_gradients(l)
        for k in ("dh", "dh_norm"):
            np.testing.assert_allclose(a[k], b[k], rtol=1e-9, atol=1e-13, err_msg=k)
        acts_np, acts_t = net.layer_activations(l), staged.layer_activations(l)
        assert set(acts_np) == set(acts_t) == {"r", "z", "n", "h"}
        for k in acts_np:
            np.testing.assert_allclose(acts_np[k], acts_t[k], rtol=1e-12, atol=1e-14, err_msg=k)


def test_stepping_through_time_and_fast_play_give_bit_identical_gradients():
    """Going back in time replays fast; the numbers must be those the student stepped through."""
    ids, tg = batch(2)
    runs = []
    for stepwise in (True, False):
        staged = StagedGRU(V, H, L, torch.Generator().manual_seed(3), torch.float32)
        staged.carry = [(torch.full((H, B), 0.1),) for _ in range(L)]
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
    net = numpy_gru(carry=False)
    staged = StagedGRU(V, H, L, torch.Generator().manual_seed(0), torch.float64)
    staged.set_param_arrays(net.param_arrays())
    ids = np.array([[1], [4], [0], [6], [2]])
    logits, _ = staged.model(torch.from_numpy(ids))
    s_np, s_t = net.sampler(1), staged.sampler(1)
    for t in range(len(ids)):
        a = s_np.step(ids[t]).copy()
        b = s_t.step(ids[t]).copy()
        np.testing.assert_allclose(a[:, 0], logits[t].detach().numpy(), rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(b[:, 0], logits[t].detach().numpy(), rtol=1e-10, atol=1e-12)
    assert net.eval_loss(np.arange(60) % V, streams=3, chunk=7) == pytest.approx(
        staged.eval_loss(np.arange(60) % V, streams=3, chunk=7), rel=1e-10)


def flat_params(t) -> np.ndarray:
    return np.concatenate([a.ravel() for a in t.model.param_arrays().values()])


@pytest.mark.parametrize("engine", ["numpy", "torch"])
def test_gru_lab_steps_back_bit_identical_and_is_deterministic(engine):
    s = Session(make_trainer(dict(SMALL, engine=engine)))
    assert s.trainer.cell == "gru"
    s.run(6)
    here = flat_params(s.trainer)
    loss = s.history[6]["loss"]
    for _ in range(4):
        s.step_back_iteration()
    for _ in range(5):                       # into the middle of an iteration, phase by phase
        s.step_phase()
    s.step_back_phase()
    s.run(4)
    assert s.iteration == 6 and np.array_equal(flat_params(s.trainer), here)
    assert s.history[6]["loss"] == loss
    again = Session(make_trainer(dict(SMALL, engine=engine)))
    again.run(6)
    assert np.array_equal(flat_params(again.trainer), here)


@pytest.mark.parametrize("engine", ["numpy", "torch"])
def test_gru_lab_shows_its_gates_while_stepping_through_time(engine):
    s = Session(make_trainer(dict(SMALL, engine=engine)))
    s.run(1)
    t = s.trainer
    for _ in range(t.depth + 3 + 2):     # forward layers, output, loss, backward output, two steps back in time
        s.step_phase()
    top = s.block_phase_data(t.depth - 1)
    acts = top[FORWARD]["acts"]
    assert set(acts) == {"r", "z", "n", "h"} and all(a.shape == (t.seq_len, t.hidden) for a in acts.values())
    assert ((acts["z"] > 0) & (acts["z"] < 1)).all() and (np.abs(acts["n"]) < 1).all()
    assert top[BACKWARD]["step"] == t.seq_len - 2
    assert np.isfinite(top[BACKWARD]["dh_norm"][-2:]).all() and np.isnan(top[BACKWARD]["dh_norm"][:-2]).all()
    chunks = list(t.command("generate_stream", {"prompt": "KING", "length": 8, "chunk": 4})["task"])
    assert set(chunks[0]["activations"]) == {"r", "z", "n", "h"}


def test_parameter_counts_gru_against_lstm():
    gru = make_trainer(dict(SMALL, engine="numpy"))
    lstm = make_trainer(dict(SMALL, engine="numpy", cell="lstm"))
    N, d = gru.hidden, gru.data.vocab_size
    counts = gru.parameter_counts()
    simple = [N * d + N * N + N, N * N + N * N + N]
    assert counts["layers"] == [3 * s + N for s in simple]          # b_hn: one more bias per unit
    assert lstm.parameter_counts()["layers"] == [4 * s for s in simple]
    assert counts["lstm_layers"] == lstm.parameter_counts()["layers"]
    assert counts["total"] == flat_params(gru).size
    assert gru.view_data(0)["parameter_counts"] == counts
    assert [b.n_params for b in gru.blocks()[:-1]] == counts["layers"]


def test_save_and_load_between_engines_and_the_wrong_cell(tmp_path):
    t = make_trainer(dict(SMALL, engine="torch"))
    Session(t).run(2)
    path = tmp_path / "gru.pt"
    t.save(str(path))
    n = make_trainer(dict(SMALL, engine="numpy"))
    n.load(str(path))
    assert np.array_equal(flat_params(n), flat_params(t))
    lstm = make_trainer(dict(SMALL, engine="numpy", cell="lstm"))
    with pytest.raises(StepwiseError, match="is a GRU network, not an LSTM; open it in the LSTM lab with --cell gru"):
        lstm.load(str(path))
    with pytest.raises(StepwiseError, match="choose one of: lstm, gru"):
        make_trainer(dict(SMALL, cell="rnn"))


def test_cli_summary_says_cell():
    r = subprocess.run([sys.executable, "main.py", "--lab", "lstm", "--cell", "gru", "--engine", "numpy",
                        "--headless", "--steps", "2", "--hidden", "8", "--seq-len", "6", "--batch-size", "2",
                        "--eval-chars", "200"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout.strip().splitlines()[-1])
    assert summary["cell"] == "gru" and summary["parameters"] > 0
    bad = subprocess.run([sys.executable, "main.py", "--lab", "lstm", "--cell", "tree", "--headless", "--steps", "1"],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "choose one of: lstm, gru" in bad.stderr


@pytest.mark.parametrize("engine", ["numpy", "torch"])
def test_a_session_saved_mid_iteration_reopens_and_goes_on_bit_identically(engine, tmp_path):
    """The carried state comes back from the file row-major; the cell must give the same bits from it."""
    config = dict(SMALL, engine=engine)
    s = Session(make_trainer(config))
    s.run(4)
    s.step_phase()
    s.step_phase()
    path = str(tmp_path / "gru.stepwise.npz")
    s.save(path, config)
    o, _ = Session.open(path, make_trainer)
    assert (o.iteration, o.phase) == (4, 2)
    s.run(2)
    o.run(2)
    assert np.array_equal(flat_params(o.trainer), flat_params(s.trainer))
