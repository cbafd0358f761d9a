"""A character-level GRU in NumPy, written from torch's GRU equations, with manual BPTT.

One layer, per time step (σ is the logistic sigmoid, ⊙ the elementwise product):

    r = σ(W_ir x_t + W_hr h_{t−1} + b_r)                 reset gate
    z = σ(W_iz x_t + W_hz h_{t−1} + b_z)                 update gate
    n = tanh(W_in x_t + b_in + r ⊙ (W_hn h_{t−1} + b_hn))  the candidate h̃
    h_t = (1 − z) ⊙ n + z ⊙ h_{t−1}

These are nn.GRU's equations (the reset gate multiplies W_hn h + b_hn, after the matrix product),
so a model with nn.GRU's weights gives its numbers. Rows stacked [r; z; n] as nn.GRU stacks them:
the two sigmoids are one contiguous block. b (3H) is [b_ir + b_hr; b_iz + b_hz; b_in]; b_hn (H)
stays apart because r multiplies it. Parameters per layer: 3(N·d + N² + N) + N, where an LSTM has
4(N·d + N² + N). Layouts are batch innermost: gates (T, 3H, B), states (T+1, H, B). Everything
shared with the vanilla RNN and the LSTM (embedding, output layer, loss, flat parameters,
optimizers, the stepping API) lives in rnn.py.
"""
from __future__ import annotations

import numpy as np

from .lstm import sigmoid_
from .rnn import RecurrentNet, Sampler

GATES = ("r", "z", "n")          # row blocks of the fused gate matrix, in nn.GRU's order


class NumpyGRU(RecurrentNet):
    cell = "gru"
    n_gates = 3
    state_names = ("h",)
    activation_names = ("r", "z", "n", "h")

    def extra_shapes(self, l: int) -> dict[str, tuple[int, ...]]:
        return {f"b_hn{l}": (self.H,)}

    def _extra_buffers(self, T: int, B: int) -> None:
        H, dt = self.H, self.dtype
        z = lambda *shape: np.zeros(shape, dtype=dt)  # noqa: E731
        self.HN = [z(T, H, B) for _ in range(self.L)]        # W_hn h_{t−1} + b_hn, what r multiplies
        self.dGh = [z(T, 3 * H, B) for _ in range(self.L)]   # dL/d(W_hh h_{t−1} + [0; 0; b_hn]) per step
        self.matGh = z(3 * H, T * B) if B > 1 else None
        self.HN_t, self.dGh_t = [list(a) for a in self.HN], [list(a) for a in self.dGh]
        # per step: the fused block and its rows [r; z; n], for the gates, their gradients, the hidden-side gradients
        rows = lambda a: (a, a[:2 * H], a[:H], a[H:2 * H], a[2 * H:])  # noqa: E731
        self.gate_t = [[rows(a) for a in self.A[l]] for l in range(self.L)]
        self.dgate_t = [[rows(a) for a in self.dA[l]] for l in range(self.L)]
        self.dhid_t = [[rows(a) for a in self.dGh[l]] for l in range(self.L)]
        self.D_rows = [[rows(a) for a in self.D[l]] for l in range(self.L)]

    # ------------------------------------------------------------------ forward
    def _recur(self, l: int) -> None:
        H = self.H
        gates, Hs, HN = self.gate_t[l], self.Hs_t[l], self.HN_t[l]
        W, tmpG, tmpH = self.p[f"W_hh{l}"], self.tmpG, self.tmpH
        b_hn = self.p[f"b_hn{l}"][:, None]
        dot, add, sub, mul, tanh = np.dot, np.add, np.subtract, np.multiply, np.tanh
        for t in range(self.T):
            _, rz, r, z, n = gates[t]                 # views of A[t], which held W_ih x_t + b
            dot(W, Hs[t], out=tmpG)                   # W_hh h_{t−1}                  (3H, B)
            add(rz, tmpG[:2 * H], out=rz)
            sigmoid_(rz)                              # r, z = σ(W_i· x_t + W_h· h_{t−1} + b)
            add(tmpG[2 * H:], b_hn, out=HN[t])        # W_hn h_{t−1} + b_hn
            mul(r, HN[t], out=tmpH)
            add(n, tmpH, out=n)
            tanh(n, out=n)                            # n = tanh(W_in x_t + b_in + r ⊙ (W_hn h_{t−1} + b_hn))
            sub(Hs[t], n, out=tmpH)
            mul(z, tmpH, out=tmpH)
            add(n, tmpH, out=Hs[t + 1])               # h_t = n + z ⊙ (h_{t−1} − n) = (1 − z) ⊙ n + z ⊙ h_{t−1}

    # ------------------------------------------------------------------ backward
    def _begin_layer_backward(self, l: int) -> None:
        H = self.H
        A, D = self.A[l], self.D[l]
        s = A[:, :2 * H]
        np.subtract(1.0, s, out=D[:, :2 * H])
        D[:, :2 * H] *= s                             # σ'(a) = σ(a)(1 − σ(a)) for r, z
        n = A[:, 2 * H:]
        np.multiply(n, n, out=D[:, 2 * H:])
        np.subtract(1.0, D[:, 2 * H:], out=D[:, 2 * H:])   # tanh'(a_n) = 1 − n²
        self.dh_next.fill(0)
        self.W_hh_T = np.ascontiguousarray(self.p[f"W_hh{l}"].T)

    def _backsteps(self, l: int, t_hi: int, t_lo: int) -> None:
        H = self.H
        gates, dgates, dhid, Drows = self.gate_t[l], self.dgate_t[l], self.dhid_t[l], self.D_rows[l]
        dIn, dH, Hs, HN = self.dIn_t[l], self.dHtot_t[l], self.Hs_t[l], self.HN_t[l]
        W_T, dh_next, tmp = self.W_hh_T, self.dh_next, self.tmpH
        add, sub, mul, dot, copyto = np.add, np.subtract, np.multiply, np.dot, np.copyto
        for t in range(t_hi, t_lo - 1, -1):
            _, _, r, z, n = gates[t]
            _, da_rz, da_r, da_z, da_n = dgates[t]
            dg, dg_rz, _, _, dg_n = dhid[t]
            _, D_rz, _, _, D_n = Drows[t]
            dh = dH[t]
            add(dIn[t], dh_next, out=dh)          # dL/dh_t = from above + from step t+1
            sub(Hs[t], n, out=tmp)
            mul(dh, tmp, out=da_z)                # dL/dz = dL/dh_t ⊙ (h_{t−1} − n)
            mul(dh, z, out=tmp)
            sub(dh, tmp, out=da_n)                # dL/dn = dL/dh_t ⊙ (1 − z)
            mul(da_n, D_n, out=da_n)              # dL/da_n = dL/dn ⊙ (1 − n²)
            mul(da_n, HN[t], out=da_r)            # dL/dr = dL/da_n ⊙ (W_hn h_{t−1} + b_hn)
            mul(da_rz, D_rz, out=da_rz)           # through σ': dL/da_r, dL/da_z
            copyto(dg_rz, da_rz)                  # the hidden side of r, z gets the same gradient
            mul(da_n, r, out=dg_n)                # dL/d(W_hn h_{t−1} + b_hn) = dL/da_n ⊙ r
            dot(W_T, dg, out=dh_next)
            add(dh_next, tmp, out=dh_next)        # dL/dh_{t−1} = W_hhᵀ · dL/dg_t + dL/dh_t ⊙ z

    def _recurrent_weight_grads(self, l: int, dA: np.ndarray) -> None:
        dG = self.steps_matrix(self.dGh[l], self.matGh)                        # (3H, T·B)
        np.dot(dG, self.steps_matrix(self.Hs[l][:-1], self.mat2).T, out=self.g[f"W_hh{l}"])  # Σ_t dL/dg_t · h_{t−1}ᵀ
        np.sum(dG[2 * self.H:], axis=1, out=self.g[f"b_hn{l}"])                # dL/db_hn = Σ_t,b dL/dg_n

    # ------------------------------------------------------------------ views
    def layer_activations(self, l: int, example: int = 0) -> dict[str, np.ndarray]:
        H = self.H
        a = self.A[l][:, :, example]                        # (T, 3H)
        out = {name: a[:, k * H:(k + 1) * H].copy() for k, name in enumerate(GATES)}
        out["h"] = self.Hs[l][1:, :, example].copy()
        return out

    def sampler(self, batch: int = 1) -> "GRUSampler":
        return GRUSampler(self, batch)


class GRUSampler(Sampler):
    def cell(self, l: int, a: np.ndarray, tmp: np.ndarray, record: dict | None) -> np.ndarray:
        H = self.net.H
        h = self.state[l]["h"]
        np.dot(self.p[f"W_hh{l}"], h, out=tmp)                 # W_hh h_{t−1}   (3H, B)
        a[:2 * H] += tmp[:2 * H]
        sigmoid_(a[:2 * H])                                    # r, z
        r, z, n = a[:H], a[H:2 * H], a[2 * H:]
        hn = tmp[2 * H:]
        hn += self.p[f"b_hn{l}"][:, None]
        hn *= r
        n += hn
        np.tanh(n, out=n)                                      # n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))
        h -= n
        h *= z
        h += n                                                 # h_t = n + z ⊙ (h_{t−1} − n)
        if record is not None:
            for k, name in enumerate(GATES):
                record[name][l] = a[k * H:(k + 1) * H, 0]
            record["h"][l] = h[:, 0]
        return h
