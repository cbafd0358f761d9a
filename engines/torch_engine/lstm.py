"""A character-level LSTM in PyTorch written from the gate equations (no nn.LSTM, nn.LSTMCell or nn.RNN).

One layer, per time step (σ is the logistic sigmoid, ⊙ the elementwise product):

    [a_i; a_f; a_o; a_g] = W_ih x_t + W_hh h_{t−1} + b     one fused matrix product for the four gates
    i, f, o = σ(a_i), σ(a_f), σ(a_o)      g = tanh(a_g)  (the candidate c̃)
    c_t = f ⊙ c_{t−1} + i ⊙ g
    h_t = o ⊙ tanh(c_t)

Autograd differentiates it; nothing here writes a backward by hand. Same conventions as the
NumPy LSTM (engines/numpy_engine/lstm.py), so a model moves between the engines unchanged:
gate rows stacked [i; f; o; g] (nn.LSTM: [i; f; g; o]); layer 0's input weights stored
transposed as an embedding table ``embed`` (V, 4H) and looked up instead of multiplying a
one-hot vector; one bias per layer; batch innermost, so a time step's gates are (4H, B) and the
gates of a sequence (4H, T·B), column t·B + b for step t of stream b.

``CharRecurrent`` and ``StagedRecurrent`` hold what the LSTM and the GRU (gru.py) share: the
parameters, the hoisted input projection, the time loop, and the staged runner, whose state per
layer is a tuple ((h, c) here, (h,) for the GRU).

- ``CharLSTM.forward``: the whole sequence as one autograd graph (evaluation, parity tests).
  The input projection W_ih x_t + b of all T steps is one matrix product, hoisted out of the
  time loop, and the loop walks ``xw.split(B, 1)`` (indexing xw[:, t] per step makes backward slow).
- ``StagedLSTM``: what the app trains with, a layer at a time (each layer's input is a detached
  leaf). When the student steps through time (``begin(..., stepwise=True)``), each time step is
  its own small graph whose inputs (h_{t−1}, c_{t−1}, the step's input projection) are detached
  leaves, so backward runs one step at a time: ``backward_steps(l, t_hi, t_lo)`` calls autograd
  on steps t_hi…t_lo of layer l, and the gradient that reaches h_{t−1} is real, not replayed.
  In fast play (stepwise=False) a layer's steps form one graph and one autograd call; the two
  give bit-identical gradients (tested), so going back in time replays exactly.
- ``TorchSampler``: one character at a time into preallocated buffers (generation).
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

GATES = ("i", "f", "o", "g")


def torch_gate_order(H: int) -> torch.Tensor:
    """Row permutation from nn.LSTM's gate order [i; f; g; o] to ours [i; f; o; g]."""
    return torch.cat([torch.arange(0, 2 * H), torch.arange(3 * H, 4 * H), torch.arange(2 * H, 3 * H)])


def batch_norms(d: np.ndarray) -> np.ndarray:
    """‖d_t‖ per step over the batch, d (T, H, B) -> (T,): √(Σ_h,b d² / B)."""
    return np.sqrt(np.einsum("thb,thb->t", d, d, dtype=np.float64) / d.shape[2])


class CharRecurrent(nn.Module):
    """What the hand-written LSTM and GRU share: parameters embed (V, G·H); per layer l: W_ih{l}
    (G·H, H) for l ≥ 1, W_hh{l} (G·H, H), b{l} (G·H) and the cell's extra_shapes; W_out (V, H),
    b_out (V). G gates per unit; ``cell`` is one time step; the state per layer is a tuple
    (``state_names``)."""

    n_gates = 4
    gate_names: tuple[str, ...] = GATES
    state_names: tuple[str, ...] = ("h", "c")

    def __init__(self, vocab_size: int, hidden: int, depth: int, generator: torch.Generator | None = None,
                 dtype=torch.float32):
        super().__init__()
        self.V, self.H, self.L = int(vocab_size), int(hidden), int(depth)
        V, H, G = self.V, self.H, self.n_gates * self.H
        shapes = {"embed": (V, G)}
        for l in range(self.L):
            if l > 0:
                shapes[f"W_ih{l}"] = (G, H)
            shapes[f"W_hh{l}"] = (G, H)
            shapes[f"b{l}"] = (G,)
            shapes.update(self.extra_shapes(l))
        shapes["W_out"] = (V, H)
        shapes["b_out"] = (V,)
        k = 1.0 / math.sqrt(H)
        for name, shape in shapes.items():
            w = torch.empty(shape, dtype=dtype).uniform_(-k, k, generator=generator)  # as nn.LSTM / nn.GRU / nn.Linear
            self.register_parameter(name, nn.Parameter(w))
        self.init_extra()

    def extra_shapes(self, l: int) -> dict[str, tuple[int, ...]]:
        return {}

    def init_extra(self) -> None:
        pass

    def p(self, name: str) -> torch.Tensor:
        return getattr(self, name)

    def input_projection(self, l: int, x: torch.Tensor) -> torch.Tensor:
        """W_ih x_t + b for all T·B columns at once: (G·H, T·B). Layer 0: x are ids (T·B,)."""
        b = self.p(f"b{l}")[:, None]
        if l == 0:
            return self.embed.index_select(0, x).t() + b          # one-hot times W_ih = a row of embed
        return torch.addmm(b, self.p(f"W_ih{l}"), x)               # (G·H,H)·(H,T·B)

    def cell(self, xw_t: torch.Tensor, l: int, state: tuple):
        """One step of layer l for B streams: xw_t (G·H, B), state tensors (H, B) -> (new state, gates)."""
        raise NotImplementedError

    def zero_state(self, B: int) -> list[tuple[torch.Tensor, ...]]:
        z = torch.zeros(self.H, B, dtype=self.embed.dtype)
        return [tuple(z for _ in self.state_names) for _ in range(self.L)]

    def forward(self, ids: torch.Tensor, state=None):
        """ids (T, B) -> logits (T·B, V) (row t·B + b), final state (a tuple per layer)."""
        T, B = ids.shape
        state = state if state is not None else self.zero_state(B)
        x = ids.reshape(-1)
        new_state = []
        for l in range(self.L):
            xw = self.input_projection(l, x)                       # (G·H, T·B)
            st = tuple(state[l])
            hs = []
            for xw_t in xw.split(B, 1):                            # the time loop
                st, _ = self.cell(xw_t, l, st)
                hs.append(st[0])
            x = torch.cat(hs, 1)                                   # (H, T·B)
            new_state.append(st)
        logits = torch.addmm(self.b_out, x.t(), self.W_out.t())    # z = W_out h + b_out   (T·B, V)
        return logits, new_state

    def param_arrays(self) -> dict[str, np.ndarray]:
        return {k: v.detach().cpu().numpy().copy() for k, v in self.named_parameters()}

    def set_param_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        params = dict(self.named_parameters())
        for k, v in params.items():
            if k not in arrays:
                raise KeyError(k)
            if tuple(arrays[k].shape) != tuple(v.shape):
                raise ValueError(f"{k}: shape {tuple(arrays[k].shape)} != {tuple(v.shape)}")
        with torch.no_grad():
            for k, v in params.items():
                v.copy_(torch.as_tensor(np.asarray(arrays[k]), dtype=v.dtype))


class CharLSTM(CharRecurrent):
    """Parameters: embed (V, 4H); per layer l: W_ih{l} (4H, H) for l ≥ 1, W_hh{l} (4H, H), b{l} (4H);
    W_out (V, H), b_out (V)."""

    def init_extra(self) -> None:
        H = self.H
        with torch.no_grad():
            for l in range(self.L):
                getattr(self, f"b{l}")[H:2 * H] = 1.0   # forget-gate bias 1: remember by default at the start

    def cell(self, xw_t: torch.Tensor, l: int, state: tuple):
        """One step for B streams: (4H,B), state (h, c) each (H,B) -> (h_t, c_t), (i, f, o, g)."""
        H = self.H
        h, c = state
        gates = torch.addmm(xw_t, self.p(f"W_hh{l}"), h)           # a = W_ih x_t + b + W_hh h_{t−1}
        ifo, g = gates.split([3 * H, H])
        ifo = ifo.sigmoid()
        g = g.tanh()
        i, f, o = ifo.chunk(3)
        c = torch.addcmul(f * c, i, g)                             # c_t = f ⊙ c_{t−1} + i ⊙ g
        h = o * c.tanh()                                           # h_t = o ⊙ tanh(c_t)
        return (h, c), (i, f, o, g)

    @classmethod
    def from_nn_lstm(cls, lstm, linear) -> "CharLSTM":
        """A CharLSTM with the weights of torch's built-in LSTM module (one-hot input of size V) and a
        Linear head: the parity tests build one and compare outputs and gradients."""
        V, H, L = lstm.input_size, lstm.hidden_size, lstm.num_layers
        m = cls(V, H, L, dtype=lstm.weight_hh_l0.dtype)
        perm = torch_gate_order(H)
        with torch.no_grad():
            for l in range(L):
                w_ih = getattr(lstm, f"weight_ih_l{l}")[perm]
                if l == 0:
                    m.embed.copy_(w_ih.t())
                else:
                    m.p(f"W_ih{l}").copy_(w_ih)
                m.p(f"W_hh{l}").copy_(getattr(lstm, f"weight_hh_l{l}")[perm])
                m.p(f"b{l}").copy_((getattr(lstm, f"bias_ih_l{l}") + getattr(lstm, f"bias_hh_l{l}"))[perm])
            m.W_out.copy_(linear.weight)
            m.b_out.copy_(linear.bias)
        return m


class _Step:
    """What one time step of one layer kept for its backward: the step's input projection and
    incoming state as leaves (stepwise), its new state and its gates."""
    __slots__ = ("xw", "prev", "state", "gates")

    def __init__(self, xw, prev, state, gates):
        self.xw, self.prev, self.state, self.gates = xw, prev, state, gates

    @property
    def h(self) -> torch.Tensor:
        return self.state[0]


class StagedRecurrent:
    """Trains a CharRecurrent one phase at a time: forward per layer, backward per (layer, time step).

    Implements the stepping API of engines/numpy_engine/rnn.py RecurrentNet (begin, forward_layer,
    forward_output, loss, backward_output, backward_steps, store_carry, the view accessors)."""

    model_class: type = CharRecurrent
    cell = "rnn"

    def __init__(self, vocab_size: int, hidden: int, depth: int, generator: torch.Generator, dtype=torch.float32):
        self.model = self.model_class(vocab_size, hidden, depth, generator, dtype)
        self.state_names = self.model.state_names
        self.V, self.H, self.L = vocab_size, hidden, depth
        self.dtype = dtype
        self.carry: list[tuple[torch.Tensor, ...]] | None = None
        self.T = self.B = 0
        self.tapes: list[dict] = []

    def parameters(self) -> list[torch.Tensor]:
        return list(self.model.parameters())

    # ------------------------------------------------------------------ running
    def reset_carry(self) -> None:
        self.carry = None

    def begin(self, ids: np.ndarray, targets: np.ndarray, stepwise: bool = True) -> None:
        T, B = ids.shape
        self.T, self.B = T, B
        self.stepwise = stepwise
        self.ids = torch.from_numpy(np.ascontiguousarray(ids, dtype=np.int64))
        self.targets = torch.from_numpy(np.ascontiguousarray(targets, dtype=np.int64)).reshape(-1)   # (T·B,)
        if self.carry is None or self.carry[0][0].shape[1] != B:
            self.carry = self.model.zero_state(B)
        for p in self.model.parameters():
            p.grad = None
        self.tapes = [{} for _ in range(self.L)]
        self.layer_input = None

    def forward_layer(self, l: int) -> None:
        m, tape, B = self.model, self.tapes[l], self.B
        if l == 0:
            x_leaf = None
            xw = m.input_projection(0, self.ids.reshape(-1))               # (G·H, T·B)
        else:
            x_leaf = self.tapes[l - 1]["out"].requires_grad_()             # the layer below's h_t, a leaf
            xw = m.input_projection(l, x_leaf)
        state = tuple(self.carry[l])
        steps = []
        if self.stepwise:
            for xw_t in xw.detach().split(B, 1):
                xw_t.requires_grad_()                                      # leaves: each step is its own graph
                prev = tuple(s.detach().requires_grad_() for s in state)   # h_{t−1} (and c_{t−1})
                state, gates = m.cell(xw_t, l, prev)
                steps.append(_Step(xw_t, prev, state, gates))
            out = torch.cat([s.h.detach() for s in steps], 1)              # (H, T·B)
        else:
            for xw_t in xw.split(B, 1):                                    # one graph through all steps
                state, gates = m.cell(xw_t, l, state)
                state[0].retain_grad()                                     # dL/dh_t (all paths), for the views
                steps.append(_Step(None, None, state, gates))
            tape["graph_out"] = torch.cat([s.h for s in steps], 1)         # (H, T·B)
            out = tape["graph_out"].detach()
        tape.update(x_leaf=x_leaf, xw=xw, steps=steps, out=out)

    def forward_output(self) -> None:
        top = self.tapes[-1]["out"].requires_grad_()
        self.top = top
        self.logits = torch.addmm(self.model.b_out, top.t(), self.model.W_out.t())   # (T·B, V)

    def loss(self) -> float:
        self._loss = F.cross_entropy(self.logits, self.targets)            # mean −log p_t[y_t]
        return float(self._loss.detach())

    def backward_output(self) -> None:
        self._loss.backward()                                              # W_out, b_out and dL/dh_t of the top layer
        self.tapes[-1]["d_in_all"] = self.top.grad                         # (H, T·B)

    def backward_steps(self, l: int, t_hi: int, t_lo: int) -> None:
        tape = self.tapes[l]
        if not self.stepwise:
            assert (t_hi, t_lo) == (self.T - 1, 0), "fast play runs a layer's steps in one call"
            torch.autograd.backward(tape["graph_out"], tape["d_in_all"])   # all steps, W_hh, W_ih, b, the layer below
            tape["dh"] = [s.h.grad for s in tape["steps"]]
            if l > 0:
                self.tapes[l - 1]["d_in_all"] = tape["x_leaf"].grad
            return
        steps, d_in = tape["steps"], tape["d_in_all"].split(self.B, 1)
        if t_hi == self.T - 1:
            tape["dh"] = [None] * self.T
        for t in range(t_hi, t_lo - 1, -1):
            s = steps[t]
            if t == self.T - 1:
                dh = d_in[t]
                torch.autograd.backward([s.h], [dh])
            else:
                nxt = steps[t + 1]
                dh = d_in[t] + nxt.prev[0].grad                            # from above + from step t+1
                # the rest of the state (the LSTM's c) gets what step t+1 sent back to it
                torch.autograd.backward(list(s.state), [dh] + [p.grad for p in nxt.prev[1:]])
            tape["dh"][t] = dh
        if t_lo == 0:
            # the input projection of all steps at once: gradients of W_ih (or embed), b and the layer below
            d_xw = torch.cat([s.xw.grad for s in steps], 1)                # (G·H, T·B)
            tape["xw"].backward(d_xw)
            if l > 0:
                self.tapes[l - 1]["d_in_all"] = tape["x_leaf"].grad

    def store_carry(self) -> None:
        self.carry = [tuple(x.detach() for x in t["steps"][-1].state) for t in self.tapes]

    def forward_backward(self, ids: np.ndarray, targets: np.ndarray, stepwise: bool = False) -> float:
        self.begin(ids, targets, stepwise)
        for l in range(self.L):
            self.forward_layer(l)
        self.forward_output()
        loss = self.loss()
        self.backward_output()
        for l in reversed(range(self.L)):
            self.backward_steps(l, self.T - 1, 0)
        return loss

    # ------------------------------------------------------------------ views
    def layer_activations(self, l: int, example: int = 0) -> dict[str, np.ndarray]:
        steps = self.tapes[l]["steps"]
        out = {}
        for k, name in enumerate(self.model.gate_names):
            out[name] = torch.stack([s.gates[k][:, example] for s in steps]).detach().numpy().copy()
        for k, name in reversed(list(enumerate(self.state_names))):        # c before h, as the NumPy LSTM
            out[name] = torch.stack([s.state[k][:, example] for s in steps]).detach().numpy().copy()
        return out

    def probabilities(self, example: int = 0) -> np.ndarray:
        probs = torch.softmax(self.logits.detach(), dim=1)                 # (T·B, V)
        return probs.reshape(self.T, self.B, self.V)[:, example].numpy().copy()

    def dh_through_time(self, l: int) -> np.ndarray:
        """dL/dh_t (all paths) of layer l per step, (T, H, B); zero at the steps not reached yet.

        Autograd kept it (stepwise: the gradients passed between the steps' graphs; fast play:
        retained on h_t)."""
        dtype = self.model.W_out.detach().numpy().dtype
        dh = np.zeros((self.T, self.H, self.B), dtype=dtype)
        for t, g in enumerate(self.tapes[l].get("dh") or []):
            if g is not None:
                dh[t] = g.detach().numpy()
        return dh

    def step_gradients(self, l: int, example: int = 0) -> dict[str, np.ndarray]:
        """dL/dh_t per step: (T, H) for one example, and its norm per step over the batch (T,)."""
        dh = self.dh_through_time(l)
        return {"dh": dh[:, :, example].copy(), "dh_norm": batch_norms(dh)}

    def grads(self) -> dict[str, np.ndarray]:
        return {k: (v.grad.numpy().copy() if v.grad is not None else np.zeros_like(v.detach().numpy()))
                for k, v in self.model.named_parameters()}

    def param_arrays(self) -> dict[str, np.ndarray]:
        return self.model.param_arrays()

    def set_param_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        self.model.set_param_arrays(arrays)

    # ------------------------------------------------------------------ evaluation and sampling
    @torch.no_grad()
    def eval_loss(self, ids: np.ndarray, streams: int = 32, chunk: int = 100) -> float:
        """Mean loss per character (nats) over ``streams`` parallel streams of ids, state carried between chunks."""
        n = (len(ids) - 1) // streams
        if n < 1:
            streams, n = 1, len(ids) - 1
        x = torch.from_numpy(np.ascontiguousarray(ids[: streams * n].reshape(streams, n).T))        # (n, S)
        y = torch.from_numpy(np.ascontiguousarray(ids[1: streams * n + 1].reshape(streams, n).T))
        state = None
        total = 0.0
        for start in range(0, n, chunk):
            logits, state = self.model(x[start:start + chunk], state)
            total += float(F.cross_entropy(logits.double(), y[start:start + chunk].reshape(-1), reduction="sum"))
        return total / (streams * n)

    def sampler(self, batch: int = 1):
        raise NotImplementedError


class StagedLSTM(StagedRecurrent):
    """The LSTM trained a phase at a time; the state per layer is (h, c)."""

    model_class = CharLSTM
    cell = "lstm"
    activation_names = ("i", "f", "g", "o", "c", "h")

    def step_gradients(self, l: int, example: int = 0) -> dict[str, np.ndarray]:
        """dL/dh_t and dL/dc_t (all paths) per step: (T, H) for one example, and norms per step over the batch.

        dL/dc_t follows from dL/dh_t for the view: dL/dc_t = dL/dc_{t+1} ⊙ f_{t+1}
        + dL/dh_t ⊙ o_t ⊙ (1 − tanh²c_t), computed here in both modes (stepwise, autograd's gradient of
        step t+1's c_{t−1} leaf is the same quantity, but rounded in another order: the view read ~1e-7
        apart while playing and after stepping to the same phase)."""
        T = self.T
        steps, got = self.tapes[l]["steps"], self.tapes[l].get("dh") or [None] * T
        dh = self.dh_through_time(l)
        dc = np.zeros_like(dh)
        for t in reversed(range(T)):
            if got[t] is None:
                continue                                   # not reached yet
            s = steps[t]
            o, tc = s.gates[2].detach().numpy(), np.tanh(s.state[1].detach().numpy())
            dc[t] = dh[t] * o * (1.0 - tc * tc)
            if t + 1 < T:
                dc[t] += dc[t + 1] * steps[t + 1].gates[1].detach().numpy()
        return {"dh": dh[:, :, example].copy(), "dh_norm": batch_norms(dh),
                "dc": dc[:, :, example].copy(), "dc_norm": batch_norms(dc)}

    def sampler(self, batch: int = 1) -> "TorchSampler":
        return TorchSampler(self.model)


class TorchSampler:
    """Generation, one character at a time for one stream, in preallocated buffers (no autograd).

    A frozen copy of the weights, so training may go on meanwhile. ``step(ids)`` takes an array of
    one id and returns the logits as a NumPy view (V, 1) of the output buffer."""

    def __init__(self, model: CharLSTM):
        self.L, self.H, self.V = model.L, model.H, model.V
        H = self.H
        with torch.no_grad():
            p = {k: v.detach().clone() for k, v in model.named_parameters()}
            self.embed_b = p["embed"] + p["b0"]            # row v = W_ih x + b for x = onehot(v)   (V, 4H)
        self.p = p
        dt = p["W_out"].dtype
        self.h = [torch.zeros(H, dtype=dt) for _ in range(self.L)]
        self.c = [torch.zeros(H, dtype=dt) for _ in range(self.L)]
        self.gates = [torch.zeros(4 * H, dtype=dt) for _ in range(self.L)]
        self.views = [(g[:3 * H], g[3 * H:], g[:H], g[H:2 * H], g[2 * H:3 * H], g[3 * H:]) for g in self.gates]
        self.tc = torch.zeros(H, dtype=dt)
        self.logits = torch.zeros(self.V, dtype=dt)
        self.logits_np = self.logits.numpy().reshape(self.V, 1)
        self.np = {"gates": [g.numpy() for g in self.gates], "c": [c.numpy() for c in self.c],
                   "h": [h.numpy() for h in self.h]}

    @torch.no_grad()
    def step(self, ids: np.ndarray, record: dict | None = None) -> np.ndarray:
        p = self.p
        x = None
        for l in range(self.L):
            gates, h, c = self.gates[l], self.h[l], self.c[l]
            ifo, g_pre, i, f, o, g = self.views[l]
            if l == 0:
                torch.addmv(self.embed_b[int(ids[0])], p["W_hh0"], h, out=gates)    # W_ih x + b + W_hh h_{t−1}
            else:
                torch.addmv(p[f"b{l}"], p[f"W_ih{l}"], x, out=gates)
                gates.addmv_(p[f"W_hh{l}"], h)
            ifo.sigmoid_()                                  # i, f, o
            g_pre.tanh_()                                   # g
            c.mul_(f).addcmul_(i, g)                        # c_t = f ⊙ c_{t−1} + i ⊙ g
            torch.tanh(c, out=self.tc)
            torch.mul(o, self.tc, out=h)                    # h_t = o ⊙ tanh(c_t)
            x = h
        torch.addmv(p["b_out"], p["W_out"], x, out=self.logits)
        if record is not None:
            H = self.H
            for l in range(self.L):
                gn = self.np["gates"][l]
                for k, name in enumerate(GATES):
                    record[name][l] = gn[k * H:(k + 1) * H]
                record["c"][l] = self.np["c"][l]
                record["h"][l] = self.np["h"][l]
        return self.logits_np
