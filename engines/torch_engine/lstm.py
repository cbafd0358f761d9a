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


class CharLSTM(nn.Module):
    """Parameters: embed (V, 4H); per layer l: W_ih{l} (4H, H) for l ≥ 1, W_hh{l} (4H, H), b{l} (4H);
    W_out (V, H), b_out (V)."""

    def __init__(self, vocab_size: int, hidden: int, depth: int, generator: torch.Generator | None = None,
                 dtype=torch.float32):
        super().__init__()
        self.V, self.H, self.L = int(vocab_size), int(hidden), int(depth)
        V, H = self.V, self.H
        shapes = {"embed": (V, 4 * H)}
        for l in range(self.L):
            if l > 0:
                shapes[f"W_ih{l}"] = (4 * H, H)
            shapes[f"W_hh{l}"] = (4 * H, H)
            shapes[f"b{l}"] = (4 * H,)
        shapes["W_out"] = (V, H)
        shapes["b_out"] = (V,)
        k = 1.0 / math.sqrt(H)
        for name, shape in shapes.items():
            w = torch.empty(shape, dtype=dtype).uniform_(-k, k, generator=generator)  # as nn.LSTM / nn.Linear
            self.register_parameter(name, nn.Parameter(w))
        with torch.no_grad():
            for l in range(self.L):
                getattr(self, f"b{l}")[H:2 * H] = 1.0   # forget-gate bias 1: remember by default at the start

    def p(self, name: str) -> torch.Tensor:
        return getattr(self, name)

    def input_projection(self, l: int, x: torch.Tensor) -> torch.Tensor:
        """W_ih x_t + b for all T·B columns at once: (4H, T·B). Layer 0: x are ids (T·B,)."""
        b = self.p(f"b{l}")[:, None]
        if l == 0:
            return self.embed.index_select(0, x).t() + b          # one-hot times W_ih = a row of embed
        return torch.addmm(b, self.p(f"W_ih{l}"), x)               # (4H,H)·(H,T·B)

    def cell(self, xw_t: torch.Tensor, W_hh: torch.Tensor, h: torch.Tensor, c: torch.Tensor):
        """One step for B streams: (4H,B), (4H,H), (H,B), (H,B) -> h_t, c_t, (i, f, o, g)."""
        H = self.H
        gates = torch.addmm(xw_t, W_hh, h)                         # a = W_ih x_t + b + W_hh h_{t−1}
        ifo, g = gates.split([3 * H, H])
        ifo = ifo.sigmoid()
        g = g.tanh()
        i, f, o = ifo.chunk(3)
        c = torch.addcmul(f * c, i, g)                             # c_t = f ⊙ c_{t−1} + i ⊙ g
        h = o * c.tanh()                                           # h_t = o ⊙ tanh(c_t)
        return h, c, (i, f, o, g)

    def zero_state(self, B: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
        z = torch.zeros(self.H, B, dtype=self.embed.dtype)
        return [(z, z) for _ in range(self.L)]

    def forward(self, ids: torch.Tensor, state=None):
        """ids (T, B) -> logits (T·B, V) (row t·B + b), final state [(h, c)] per layer."""
        T, B = ids.shape
        state = state if state is not None else self.zero_state(B)
        x = ids.reshape(-1)
        new_state = []
        for l in range(self.L):
            xw = self.input_projection(l, x)                       # (4H, T·B)
            h, c = state[l]
            W_hh = self.p(f"W_hh{l}")
            hs = []
            for xw_t in xw.split(B, 1):                            # the time loop
                h, c, _ = self.cell(xw_t, W_hh, h, c)
                hs.append(h)
            x = torch.cat(hs, 1)                                   # (H, T·B)
            new_state.append((h, c))
        logits = torch.addmm(self.b_out, x.t(), self.W_out.t())    # z = W_out h + b_out   (T·B, V)
        return logits, new_state

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


class TorchAdam:
    """torch.optim.Adam's update, with its state in plain tensors that get_state can copy:
    m ← β1 m + (1 − β1) g,  v ← β2 v + (1 − β2) g²,  θ ← θ − (lr / (1 − β1^t)) · m / (√v / √(1 − β2^t) + ε)."""

    name = "Adam"

    def __init__(self, params: list[torch.Tensor], lr: float = 2e-3, betas=(0.9, 0.999), eps: float = 1e-8):
        self.params = list(params)
        self.lr, self.betas, self.eps = lr, tuple(betas), eps
        self.t = 0
        self.m = [torch.zeros_like(p) for p in self.params]
        self.v = [torch.zeros_like(p) for p in self.params]
        self.updates = [torch.zeros_like(p) for p in self.params]

    def current_lr(self) -> float:
        return self.lr

    @torch.no_grad()
    def step(self) -> None:
        self.t += 1
        b1, b2 = self.betas
        bc1, bc2 = 1.0 - b1 ** self.t, 1.0 - b2 ** self.t
        for p, m, v, u in zip(self.params, self.m, self.v, self.updates):
            g = p.grad
            m.lerp_(g, 1.0 - b1)                                   # m ← β1 m + (1 − β1) g
            v.mul_(b2).addcmul_(g, g, value=1.0 - b2)              # v ← β2 v + (1 − β2) g²
            denom = (v.sqrt() / math.sqrt(bc2)).add_(self.eps)
            torch.div(m, denom, out=u).mul_(-self.lr / bc1)        # Δθ = −lr · m̂ / (√v̂ + ε)
            p.add_(u)

    def state_dict(self) -> dict:
        return {"t": self.t, "lr": self.lr, "m": [x.clone() for x in self.m], "v": [x.clone() for x in self.v]}

    def load_state_dict(self, d: dict) -> None:
        self.t, self.lr = int(d["t"]), float(d["lr"])
        for dst, src in zip(self.m + self.v, list(d["m"]) + list(d["v"])):
            dst.copy_(torch.as_tensor(src))


class _Step:
    """What one time step of one layer kept for its backward."""
    __slots__ = ("xw", "h_prev", "c_prev", "h", "c", "gates")

    def __init__(self, xw, h_prev, c_prev, h, c, gates):
        self.xw, self.h_prev, self.c_prev, self.h, self.c, self.gates = xw, h_prev, c_prev, h, c, gates


class StagedLSTM:
    """Trains a CharLSTM one phase at a time: forward per layer, backward per (layer, time step).

    Implements the stepping API of engines/numpy_engine/rnn.py RecurrentNet (begin, forward_layer,
    forward_output, loss, backward_output, backward_steps, store_carry, the view accessors)."""

    cell = "lstm"
    state_names = ("h", "c")

    def __init__(self, vocab_size: int, hidden: int, depth: int, generator: torch.Generator, dtype=torch.float32):
        self.model = CharLSTM(vocab_size, hidden, depth, generator, dtype)
        self.V, self.H, self.L = vocab_size, hidden, depth
        self.dtype = dtype
        self.carry: list[tuple[torch.Tensor, torch.Tensor]] | None = None
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
            xw = m.input_projection(0, self.ids.reshape(-1))               # (4H, T·B)
        else:
            x_leaf = self.tapes[l - 1]["out"].requires_grad_()             # the layer below's h_t, a leaf
            xw = m.input_projection(l, x_leaf)
        W_hh = m.p(f"W_hh{l}")
        h, c = self.carry[l]
        steps = []
        if self.stepwise:
            for xw_t in xw.detach().split(B, 1):
                xw_t.requires_grad_()                                      # leaves: each step is its own graph
                h_prev = h.detach().requires_grad_()
                c_prev = c.detach().requires_grad_()
                h, c, gates = m.cell(xw_t, W_hh, h_prev, c_prev)
                steps.append(_Step(xw_t, h_prev, c_prev, h, c, gates))
            out = torch.cat([s.h.detach() for s in steps], 1)              # (H, T·B)
        else:
            for xw_t in xw.split(B, 1):                                    # one graph through all steps
                h, c, gates = m.cell(xw_t, W_hh, h, c)
                h.retain_grad()                                            # dL/dh_t (all paths), for the views
                steps.append(_Step(None, None, None, h, c, gates))
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
                dh = d_in[t] + nxt.h_prev.grad                             # from above + from step t+1
                torch.autograd.backward([s.h, s.c], [dh, nxt.c_prev.grad])
            tape["dh"][t] = dh
        if t_lo == 0:
            # the input projection of all steps at once: gradients of W_ih (or embed), b and the layer below
            d_xw = torch.cat([s.xw.grad for s in steps], 1)                # (4H, T·B)
            tape["xw"].backward(d_xw)
            if l > 0:
                self.tapes[l - 1]["d_in_all"] = tape["x_leaf"].grad

    def store_carry(self) -> None:
        self.carry = [(t["steps"][-1].h.detach(), t["steps"][-1].c.detach()) for t in self.tapes]

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
        for k, name in enumerate(GATES):
            out[name] = torch.stack([s.gates[k][:, example] for s in steps]).detach().numpy().copy()
        out["c"] = torch.stack([s.c[:, example] for s in steps]).detach().numpy().copy()
        out["h"] = torch.stack([s.h[:, example] for s in steps]).detach().numpy().copy()
        return out

    def probabilities(self, example: int = 0) -> np.ndarray:
        probs = torch.softmax(self.logits.detach(), dim=1)                 # (T·B, V)
        return probs.reshape(self.T, self.B, self.V)[:, example].numpy().copy()

    def step_gradients(self, l: int, example: int = 0) -> dict[str, np.ndarray]:
        """dL/dh_t and dL/dc_t (all paths) per step: (T, H) for one example, and norms per step over the batch.

        Autograd kept dL/dh_t (stepwise: the gradients passed between the steps' graphs; fast play:
        retained on h_t). dL/dc_t follows for the view: dL/dc_t = (what came back from step t+1)
        + dL/dh_t ⊙ o_t ⊙ (1 − tanh²c_t), where what came back is the c_{t−1} leaf's gradient of
        step t+1 (stepwise), or dL/dc_{t+1} ⊙ f_{t+1} (fast play)."""
        T, H, B = self.T, self.H, self.B
        tape = self.tapes[l]
        dtype = self.model.W_out.detach().numpy().dtype
        dh = np.zeros((T, H, B), dtype=dtype)
        dc = np.zeros((T, H, B), dtype=dtype)
        steps, got = tape["steps"], tape.get("dh") or [None] * T
        for t in reversed(range(T)):
            if got[t] is None:
                continue                                   # not reached yet
            s = steps[t]
            dh[t] = got[t].detach().numpy()
            o, tc = s.gates[2].detach().numpy(), np.tanh(s.c.detach().numpy())
            dc[t] = dh[t] * o * (1.0 - tc * tc)
            if t + 1 < T:
                if self.stepwise:
                    if steps[t + 1].c_prev.grad is not None:
                        dc[t] += steps[t + 1].c_prev.grad.numpy()
                else:
                    dc[t] += dc[t + 1] * steps[t + 1].gates[1].detach().numpy()
        return {"dh": dh[:, :, example].copy(), "dh_norm": np.sqrt(np.einsum("thb,thb->t", dh, dh, dtype=np.float64) / B),
                "dc": dc[:, :, example].copy(), "dc_norm": np.sqrt(np.einsum("thb,thb->t", dc, dc, dtype=np.float64) / B)}

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
