"""A character-level GRU in PyTorch written from torch's GRU equations (no nn.GRU, nn.GRUCell).

One layer, per time step (σ is the logistic sigmoid, ⊙ the elementwise product):

    [a_r; a_z; a_n] = W_ih x_t + b              hoisted out of the time loop: one product for all T steps
    [g_r; g_z; g_n] = W_hh h_{t−1}              one fused product per step for the three gates
    r = σ(a_r + g_r)   reset gate      z = σ(a_z + g_z)   update gate
    n = tanh(a_n + r ⊙ (g_n + b_hn))  the candidate h̃
    h_t = (1 − z) ⊙ n + z ⊙ h_{t−1}  = lerp(n, h_{t−1}, z)

Autograd differentiates it. Same conventions as the NumPy GRU (engines/numpy_engine/gru.py) and
the hand-written LSTM (lstm.py, whose staged runner this reuses): rows [r; z; n] as nn.GRU stacks
them, layer 0's input weights as an embedding table, b = [b_ir + b_hr; b_iz + b_hz; b_in] and
b_hn apart (r multiplies it), batch innermost.
"""
from __future__ import annotations

import numpy as np
import torch

from .lstm import CharRecurrent, StagedRecurrent

GATES = ("r", "z", "n")


class CharGRU(CharRecurrent):
    """Parameters: embed (V, 3H); per layer l: W_ih{l} (3H, H) for l ≥ 1, W_hh{l} (3H, H), b{l} (3H),
    b_hn{l} (H); W_out (V, H), b_out (V)."""

    n_gates = 3
    gate_names = GATES
    state_names = ("h",)

    def extra_shapes(self, l: int) -> dict[str, tuple[int, ...]]:
        return {f"b_hn{l}": (self.H,)}

    def cell(self, xw_t: torch.Tensor, l: int, state: tuple):
        """One step for B streams: xw_t (3H, B), state (h,) (H, B) -> (h_t,), (r, z, n)."""
        H = self.H
        (h,) = state
        # h_{t−1} is read twice (W_hh h and the blend below): through one expand, so its two gradients
        # are summed inside the step, and stepping (a graph per step) and fast play (one graph)
        # add the same numbers in the same order: bit-identical, so going back replays exactly
        h_mm, h_blend = h.expand(2, *h.shape).unbind(0)            # two views of h   (H, B) each
        gh = torch.mm(self.p(f"W_hh{l}"), h_mm)                    # W_hh h_{t−1}   (3H, B)
        r, z = (xw_t[:2 * H] + gh[:2 * H]).sigmoid().chunk(2)      # r, z = σ(W_i· x + b + W_h· h)
        hn = gh[2 * H:] + self.p(f"b_hn{l}")[:, None]              # W_hn h_{t−1} + b_hn
        n = torch.addcmul(xw_t[2 * H:], r, hn).tanh()              # n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))
        # h_t = n + z ⊙ (h_{t−1} − n); contiguous: n inherits the transposed layout of layer 0's embedding
        # rows, and a state loaded from a file is row-major — the same layout gives the same bits in W_hh h
        h = torch.lerp(n, h_blend, z).contiguous()
        return (h,), (r, z, n)

    @classmethod
    def from_nn_gru(cls, gru, linear) -> "CharGRU":
        """A CharGRU with the weights of torch's built-in GRU module (one-hot input of size V) and a
        Linear head: the parity tests build one and compare outputs and gradients."""
        V, H, L = gru.input_size, gru.hidden_size, gru.num_layers
        m = cls(V, H, L, dtype=gru.weight_hh_l0.dtype)
        with torch.no_grad():
            for l in range(L):
                w_ih = getattr(gru, f"weight_ih_l{l}")
                if l == 0:
                    m.embed.copy_(w_ih.t())
                else:
                    m.p(f"W_ih{l}").copy_(w_ih)
                m.p(f"W_hh{l}").copy_(getattr(gru, f"weight_hh_l{l}"))
                b_ih, b_hh = getattr(gru, f"bias_ih_l{l}"), getattr(gru, f"bias_hh_l{l}")
                m.p(f"b{l}").copy_(torch.cat([b_ih[:2 * H] + b_hh[:2 * H], b_ih[2 * H:]]))
                m.p(f"b_hn{l}").copy_(b_hh[2 * H:])
            m.W_out.copy_(linear.weight)
            m.b_out.copy_(linear.bias)
        return m


class StagedGRU(StagedRecurrent):
    """The GRU trained a phase at a time: forward per layer, backward per (layer, time step)."""

    model_class = CharGRU
    cell = "gru"
    activation_names = ("r", "z", "n", "h")

    def sampler(self, batch: int = 1) -> "TorchGRUSampler":
        return TorchGRUSampler(self.model)


class TorchGRUSampler:
    """Generation, one character at a time for one stream, in preallocated buffers (no autograd);
    a frozen copy of the weights. ``step(ids)`` returns the logits as a NumPy view (V, 1)."""

    def __init__(self, model: CharGRU):
        self.L, self.H, self.V = model.L, model.H, model.V
        H = self.H
        with torch.no_grad():
            self.p = {k: v.detach().clone() for k, v in model.named_parameters()}
            self.embed_b = self.p["embed"] + self.p["b0"]             # row v = W_ih x + b for x = onehot(v)  (V, 3H)
        dt = self.p["W_out"].dtype
        self.h = [torch.zeros(H, dtype=dt) for _ in range(self.L)]
        self.a = [torch.zeros(3 * H, dtype=dt) for _ in range(self.L)]   # [r; z; n] after the step
        self.gh = torch.zeros(3 * H, dtype=dt)
        self.logits = torch.zeros(self.V, dtype=dt)
        self.logits_np = self.logits.numpy().reshape(self.V, 1)
        self.np = {"a": [a.numpy() for a in self.a], "h": [h.numpy() for h in self.h]}

    @torch.no_grad()
    def step(self, ids: np.ndarray, record: dict | None = None) -> np.ndarray:
        p, H, gh = self.p, self.H, self.gh
        x = None
        for l in range(self.L):
            a, h = self.a[l], self.h[l]
            if l == 0:
                a.copy_(self.embed_b[int(ids[0])])                        # W_ih x + b
            else:
                torch.addmv(p[f"b{l}"], p[f"W_ih{l}"], x, out=a)
            torch.mv(p[f"W_hh{l}"], h, out=gh)                            # W_hh h_{t−1}
            rz, n = a[:2 * H], a[2 * H:]
            rz.add_(gh[:2 * H]).sigmoid_()                                # r, z
            hn = gh[2 * H:].add_(p[f"b_hn{l}"])
            n.addcmul_(rz[:H], hn).tanh_()                                # n = tanh(a_n + r ⊙ (W_hn h + b_hn))
            h.lerp_(n, 1.0 - rz[H:])                                      # h_t = h + (1 − z) ⊙ (n − h)
            x = h
        torch.addmv(p["b_out"], p["W_out"], x, out=self.logits)
        if record is not None:
            for l in range(self.L):
                an = self.np["a"][l]
                for k, name in enumerate(GATES):
                    record[name][l] = an[k * H:(k + 1) * H]
                record["h"][l] = self.np["h"][l]
        return self.logits_np
