"""A character-level LSTM in NumPy, written from the gate equations, with manual BPTT.

One layer, per time step (σ is the logistic sigmoid, ⊙ the elementwise product):

    [a_i; a_f; a_o; a_g] = W_ih x_t + W_hh h_{t−1} + b      one fused matrix product for all four gates
    i = σ(a_i)   input gate        f = σ(a_f)   forget gate
    o = σ(a_o)   output gate       g = tanh(a_g) candidate (c̃)
    c_t = f ⊙ c_{t−1} + i ⊙ g
    h_t = o ⊙ tanh(c_t)

The gate rows are stacked [i; f; o; g] so that the three sigmoids are one contiguous block
(torch's nn.LSTM stacks [i; f; g; o]; ``torch_gate_order`` converts). Layouts are batch
innermost: gates (T, 4H, B), states (T+1, H, B) — each step's gate block is a set of contiguous
rows. Everything shared with the vanilla RNN (embedding lookup, output layer, loss, flat
parameters, optimizers, the stepping API) lives in rnn.py.
"""
from __future__ import annotations

import numpy as np

from .rnn import RecurrentNet, Sampler

GATES = ("i", "f", "o", "g")          # row blocks of the fused gate matrix, in this order
TORCH_GATES = ("i", "f", "g", "o")    # nn.LSTM's order


def torch_gate_order(H: int) -> np.ndarray:
    """Row permutation taking a matrix in nn.LSTM's gate order [i; f; g; o] to ours [i; f; o; g]."""
    blocks = {name: np.arange(k * H, (k + 1) * H) for k, name in enumerate(TORCH_GATES)}
    return np.concatenate([blocks[name] for name in GATES])


def sigmoid_(x: np.ndarray) -> None:
    """σ(x) = ½ (1 + tanh(x/2)), in place: never overflows, and NumPy's tanh is vectorised."""
    np.multiply(x, 0.5, out=x)
    np.tanh(x, out=x)
    np.multiply(x, 0.5, out=x)
    np.add(x, 0.5, out=x)


class NumpyLSTM(RecurrentNet):
    cell = "lstm"
    n_gates = 4
    state_names = ("h", "c")
    activation_names = ("i", "f", "g", "o", "c", "h")

    def init_params(self, rng: np.random.Generator) -> None:
        super().init_params(rng)
        H = self.H
        for l in range(self.L):
            self.p[f"b{l}"][H:2 * H] = 1.0   # forget-gate bias 1: remember by default at the start

    def _extra_buffers(self, T: int, B: int) -> None:
        H, dt = self.H, self.dtype
        self.C = [np.zeros((T + 1, H, B), dtype=dt) for _ in range(self.L)]    # c_0..c_T
        self.TC = [np.zeros((T, H, B), dtype=dt) for _ in range(self.L)]       # tanh(c_t)
        self.dCtot = [np.zeros((T, H, B), dtype=dt) for _ in range(self.L)]    # dL/dc_t (views)
        self.DC = [np.zeros((T, H, B), dtype=dt) for _ in range(self.L)]       # 1 − tanh²(c_t)
        self.dc_next = np.zeros((H, B), dtype=dt)
        self.tmpH2 = np.zeros((H, B), dtype=dt)
        self.C_t, self.TC_t, self.dCtot_t, self.DC_t = (
            [list(a) for a in arrays] for arrays in (self.C, self.TC, self.dCtot, self.DC))
        # per step: the fused block and its gate rows [i; f; o; g], for the gates and for their gradients
        rows = lambda a: (a, a[:3 * H], a[:H], a[H:2 * H], a[2 * H:3 * H], a[3 * H:])  # noqa: E731
        self.gate_t = [[rows(a) for a in self.A[l]] for l in range(self.L)]
        self.dgate_t = [[rows(a) for a in self.dA[l]] for l in range(self.L)]

    def _load_carry(self, l: int) -> None:
        self.Hs[l][0] = self.carry[l]["h"]
        self.C[l][0] = self.carry[l]["c"]

    def store_carry(self) -> None:
        self.carry = [{"h": self.Hs[l][self.T].copy(), "c": self.C[l][self.T].copy()} for l in range(self.L)]

    # ------------------------------------------------------------------ forward
    def _recur(self, l: int) -> None:
        gates, Hs, C, TC = self.gate_t[l], self.Hs_t[l], self.C_t[l], self.TC_t[l]
        W, tmpG, tmpH = self.p[f"W_hh{l}"], self.tmpG, self.tmpH
        dot, add, mul, tanh = np.dot, np.add, np.multiply, np.tanh
        for t in range(self.T):
            a, ifo, i, f, o, g = gates[t]             # views of A[t]: [a_i; a_f; a_o; a_g], which held W_ih x_t + b
            dot(W, Hs[t], out=tmpG)                   # W_hh h_{t−1}                  (4H, B)
            add(a, tmpG, out=a)                       # a = W_ih x_t + W_hh h_{t−1} + b
            sigmoid_(ifo)                             # i, f, o = σ(a_i), σ(a_f), σ(a_o)
            tanh(g, out=g)                            # g = tanh(a_g)
            mul(f, C[t], out=C[t + 1])
            mul(i, g, out=tmpH)
            add(C[t + 1], tmpH, out=C[t + 1])         # c_t = f ⊙ c_{t−1} + i ⊙ g
            tanh(C[t + 1], out=TC[t])
            mul(o, TC[t], out=Hs[t + 1])              # h_t = o ⊙ tanh(c_t)

    # ------------------------------------------------------------------ backward
    def _begin_layer_backward(self, l: int) -> None:
        H = self.H
        A, D, DC = self.A[l], self.D[l], self.DC[l]
        s = A[:, :3 * H]
        np.subtract(1.0, s, out=D[:, :3 * H])
        D[:, :3 * H] *= s                             # σ'(a) = σ(a)(1 − σ(a)) for i, f, o
        g = A[:, 3 * H:]
        np.multiply(g, g, out=D[:, 3 * H:])
        np.subtract(1.0, D[:, 3 * H:], out=D[:, 3 * H:])   # tanh'(a_g) = 1 − g²
        np.multiply(self.TC[l], self.TC[l], out=DC)
        np.subtract(1.0, DC, out=DC)                  # d tanh(c)/dc = 1 − tanh²(c)
        self.dh_next.fill(0)
        self.dc_next.fill(0)
        self.W_hh_T = np.ascontiguousarray(self.p[f"W_hh{l}"].T)   # W_hhᵀ, contiguous: the fastest product below

    def _backsteps(self, l: int, t_hi: int, t_lo: int) -> None:
        gates, dgates = self.gate_t[l], self.dgate_t[l]
        dIn, dH, dC, D = self.dIn_t[l], self.dHtot_t[l], self.dCtot_t[l], self.D_t[l]
        C, TC, DC = self.C_t[l], self.TC_t[l], self.DC_t[l]
        W_T, dh_next, dc_next, tmp = self.W_hh_T, self.dh_next, self.dc_next, self.tmpH
        add, mul, dot = np.add, np.multiply, np.dot
        for t in range(t_hi, t_lo - 1, -1):
            _, _, i, f, o, g = gates[t]
            da, _, da_i, da_f, da_o, da_g = dgates[t]
            dh, dc = dH[t], dC[t]
            add(dIn[t], dh_next, out=dh)          # dL/dh_t = from above + from step t+1
            mul(dh, TC[t], out=da_o)              # dL/do = dL/dh_t ⊙ tanh(c_t)
            mul(dh, o, out=tmp)
            mul(tmp, DC[t], out=tmp)
            add(dc_next, tmp, out=dc)             # dL/dc_t = from step t+1 + dL/dh_t ⊙ o ⊙ (1 − tanh²c_t)
            mul(dc, g, out=da_i)                  # dL/di = dL/dc_t ⊙ g
            mul(dc, C[t], out=da_f)               # dL/df = dL/dc_t ⊙ c_{t−1}
            mul(dc, i, out=da_g)                  # dL/dg = dL/dc_t ⊙ i
            mul(da, D[t], out=da)                 # through σ' and tanh': dL/da for all four gates
            mul(dc, f, out=dc_next)               # dL/dc_{t−1} = dL/dc_t ⊙ f
            dot(W_T, da, out=dh_next)             # dL/dh_{t−1} = W_hhᵀ · dL/da_t

    # ------------------------------------------------------------------ views
    def layer_activations(self, l: int, example: int = 0) -> dict[str, np.ndarray]:
        H = self.H
        a = self.A[l][:, :, example]                        # (T, 4H)
        out = {name: a[:, k * H:(k + 1) * H].copy() for k, name in enumerate(GATES)}
        out["c"] = self.C[l][1:, :, example].copy()
        out["h"] = self.Hs[l][1:, :, example].copy()
        return out

    def step_gradients(self, l: int, example: int = 0) -> dict[str, np.ndarray]:
        out = super().step_gradients(l, example)
        d = self.dCtot[l]
        out["dc"] = d[:, :, example].copy()
        out["dc_norm"] = np.sqrt(np.einsum("thb,thb->t", d, d, dtype=np.float64) / self.B)
        return out

    def sampler(self, batch: int = 1) -> "LSTMSampler":
        return LSTMSampler(self, batch)


class LSTMSampler(Sampler):
    def __init__(self, net: NumpyLSTM, batch: int):
        super().__init__(net, batch)
        self.tmpH = np.zeros((net.H, batch), dtype=net.dtype)

    def cell(self, l: int, a: np.ndarray, tmp: np.ndarray, record: dict | None) -> np.ndarray:
        H = self.net.H
        st = self.state[l]
        h, c = st["h"], st["c"]
        np.dot(self.p[f"W_hh{l}"], h, out=tmp)
        a += tmp                                   # [a_i; a_f; a_o; a_g]
        sigmoid_(a[:3 * H])
        np.tanh(a[3 * H:], out=a[3 * H:])
        i, f, o, g = a[:H], a[H:2 * H], a[2 * H:3 * H], a[3 * H:]
        c *= f
        np.multiply(i, g, out=self.tmpH)
        c += self.tmpH                             # c_t = f ⊙ c_{t−1} + i ⊙ g
        np.tanh(c, out=self.tmpH)
        np.multiply(o, self.tmpH, out=h)           # h_t = o ⊙ tanh(c_t)
        if record is not None:
            for k, name in enumerate(GATES):
                record[name][l] = a[k * H:(k + 1) * H, 0]
            record["c"][l] = c[:, 0]
            record["h"][l] = h[:, 0]
        return h
