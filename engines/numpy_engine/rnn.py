"""Character-level recurrent networks in NumPy with hand-written backpropagation through time.

This module holds what the vanilla RNN (here) and the LSTM (lstm.py) share:

- ``FlatParams``: every parameter is a view into one flat array, and every gradient a view into
  another, so clipping and the optimizer are a handful of in-place vector operations;
- the optimizers are the engine's own (numpy_engine/optimizers.py Adagrad, Adam), given the flat
  buffer as their one parameter array;
- ``RecurrentNet``: a stack of recurrent layers under a softmax output layer, run the way the
  app steps through it: ``forward_layer(l)`` (all time steps of layer l), ``forward_output()``,
  ``loss()``, ``backward_output()``, then ``backward_steps(l, t_hi, t_lo)`` walking each layer's
  unrolled sequence from the last character to the first, top layer first.

Layouts (batch innermost, so each time step's block is contiguous and every gate is a block of
rows): hidden states (T+1, H, B) with [0] the state carried in from the previous sequence;
pre-activations / gates (T, G·H, B); logits and probabilities (T, V, B). Layer 0 reads
characters: its input weight matrix times a one-hot x_t is one column of that matrix, so it is
stored transposed as an embedding table ``embed`` (V, G·H) and looked up, never multiplied.

A vanilla RNN layer:   a_t = W_ih x_t + W_hh h_{t−1} + b,   h_t = tanh(a_t).
Output:                z_t = W_out h_t + b_out,   p_t = softmax(z_t),   loss_t = −log p_t[y_t].
"""
from __future__ import annotations

import math

import numpy as np


# ---------------------------------------------------------------------------- parameters
class FlatParams:
    """Named parameter arrays that are views into one flat buffer ``data``; gradients likewise in ``grad``."""

    def __init__(self, shapes: dict[str, tuple[int, ...]], dtype=np.float32):
        self.shapes = {k: tuple(int(d) for d in v) for k, v in shapes.items()}
        sizes = [math.prod(s) for s in self.shapes.values()]
        offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(int)
        self.data = np.zeros(int(offsets[-1]), dtype=dtype)
        self.grad = np.zeros_like(self.data)
        self.p: dict[str, np.ndarray] = {}
        self.g: dict[str, np.ndarray] = {}
        self.slices: dict[str, slice] = {}
        for (name, shape), a, b in zip(self.shapes.items(), offsets[:-1], offsets[1:]):
            self.slices[name] = slice(int(a), int(b))
            self.p[name] = self.data[a:b].reshape(shape)   # a view: writing p[name] writes data
            self.g[name] = self.grad[a:b].reshape(shape)

    def __repr__(self) -> str:
        shapes = ", ".join(f"{k} {'×'.join(map(str, s))}" for k, s in self.shapes.items())
        return f"FlatParams({shapes}; {self.size:,} {self.data.dtype} in one buffer)"

    @property
    def names(self) -> list[str]:
        return list(self.shapes)

    @property
    def size(self) -> int:
        return int(self.data.size)


# ---------------------------------------------------------------------------- gradient clipping
def clip_elementwise(grad: np.ndarray, limit: float) -> dict:
    """min-char-rnn's clipping: every gradient entry into [−limit, limit], in place."""
    norm = float(np.sqrt(np.dot(grad, grad)))
    fired = bool(grad.max() > limit or grad.min() < -limit)
    n_clipped = int(np.count_nonzero(np.abs(grad) > limit)) if fired else 0
    if fired:
        np.clip(grad, -limit, limit, out=grad)
    return {"grad_norm": norm, "clipped": fired, "clipped_fraction": n_clipped / max(grad.size, 1)}


def clip_global_norm(grad: np.ndarray, max_norm: float) -> dict:
    """torch.nn.utils.clip_grad_norm_: if ‖g‖ > max_norm, scale g by max_norm / (‖g‖ + 1e−6), in place."""
    norm = float(np.sqrt(np.dot(grad, grad)))
    fired = bool(norm > max_norm)
    if fired:
        grad *= max_norm / (norm + 1e-6)
    return {"grad_norm": norm, "clipped": fired, "clipped_fraction": 1.0 if fired else 0.0}


# The optimizers (Adagrad for the char-RNN, Adam for the LSTM and GRU) are the NumPy engine's own,
# numpy_engine/optimizers.py, given the one flat buffer as their parameter: Adagrad([flat.data]).


# ---------------------------------------------------------------------------- sampling
def sample_from_logits(logits: np.ndarray, temperature: float, top_k: int, u: float) -> int:
    """Draw a character id from logits (V,): temperature, then the top-k, with uniform u in [0, 1).

    temperature 0 means greedy (the most likely character)."""
    if temperature <= 0:
        return int(np.argmax(logits))
    z = logits.astype(np.float64) / temperature
    if 0 < top_k < z.size:
        kth = np.partition(z, -top_k)[-top_k]
        z = np.where(z >= kth, z, -np.inf)            # keep the k largest
    z -= z.max()
    p = np.exp(z)
    cdf = np.cumsum(p)
    return int(min(np.searchsorted(cdf, u * cdf[-1], side="right"), z.size - 1))


# ---------------------------------------------------------------------------- the network
class RecurrentNet:
    """A depth-L stack of recurrent layers of H units under a softmax over V characters.

    ``loss_reduction``: "mean" averages the loss over all T·B characters; "sum_time" sums over
    time and averages over the batch (min-char-rnn's objective). ``loss()`` always returns the
    mean per character, in nats.
    """

    cell = "rnn"
    n_gates = 1             # rows of pre-activation per hidden unit (LSTM: 4)
    state_names = ("h",)    # what a layer carries from one sequence to the next
    activation_names = ("h",)   # what layer_activations and the sampler's record hold, per layer

    def __init__(self, vocab_size: int, hidden: int, depth: int, rng: np.random.Generator,
                 dtype=np.float32, loss_reduction: str = "mean"):
        assert loss_reduction in ("mean", "sum_time")
        self.V, self.H, self.L = int(vocab_size), int(hidden), int(depth)
        self.G = self.n_gates * self.H
        self.dtype = np.dtype(dtype)
        self.loss_reduction = loss_reduction
        shapes: dict[str, tuple[int, ...]] = {"embed": (self.V, self.G)}   # layer 0's W_ih, transposed
        for l in range(self.L):
            if l > 0:
                shapes[f"W_ih{l}"] = (self.G, self.H)
            shapes[f"W_hh{l}"] = (self.G, self.H)
            shapes[f"b{l}"] = (self.G,)
            shapes.update(self.extra_shapes(l))
        shapes["W_out"] = (self.V, self.H)
        shapes["b_out"] = (self.V,)
        self.flat = FlatParams(shapes, self.dtype)
        self.p, self.g = self.flat.p, self.flat.g
        self.init_params(rng)
        self.carry: list[dict[str, np.ndarray]] | None = None   # per layer: state at the end of the last sequence
        self.T = self.B = 0
        self.ids = self.targets = None
        self.layers_done_forward = 0

    def __repr__(self) -> str:
        """RecurrentNet(rnn: 65 characters → 2 layers of 128 → 65; embed 65×128, W_hh0 128×128, ...)."""
        shapes = ", ".join(f"{k} {'×'.join(map(str, s))}" for k, s in self.flat.shapes.items())
        return (f"{type(self).__name__}({self.cell}: {self.V} characters → {self.L} layer{'s' * (self.L > 1)} of "
                f"{self.H} → {self.V}; {shapes}; {self.flat.size:,} parameters, {self.dtype})")

    # ------------------------------------------------------------------ setup
    def extra_shapes(self, l: int) -> dict[str, tuple[int, ...]]:
        """Parameters of layer l beyond W_ih, W_hh, b (the GRU's b_hn)."""
        return {}

    def init_params(self, rng: np.random.Generator) -> None:
        """U(−1/√H, 1/√H) for every weight and bias, as torch initialises nn.RNN / nn.LSTM / the output Linear."""
        k = 1.0 / math.sqrt(self.H)
        for name, p in self.p.items():
            p[...] = rng.uniform(-k, k, size=p.shape)

    def _ensure_buffers(self, T: int, B: int) -> None:
        if (T, B) == (self.T, self.B):
            return
        self.T, self.B = T, B
        H, G, V, L, dt = self.H, self.G, self.V, self.L, self.dtype
        z = lambda *shape: np.zeros(shape, dtype=dt)  # noqa: E731
        self.A = [z(T, G, B) for _ in range(L)]        # pre-activations (LSTM: activated gates)
        self.Hs = [z(T + 1, H, B) for _ in range(L)]   # h_0..h_T, [0] carried in
        self.dA = [z(T, G, B) for _ in range(L)]       # dL/da_t
        self.D = [z(T, G, B) for _ in range(L)]        # local derivatives, filled when a layer's backward starts
        self.dHtot = [z(T, H, B) for _ in range(L)]    # dL/dh_t, all paths (views show its norm per step)
        self.dIn = [z(T, H, B) for _ in range(L)]      # dL/dh_t arriving from above (layer l+1 or the output)
        self.Z = z(T, V, B)                            # logits
        self.P = z(T, V, B)                            # probabilities
        self.dZ = z(T, V, B)                           # dL/dz
        self.gather = z(1, B, G)                       # one step's embedding rows before the transpose
        self.onehot = z(V, T * B)                      # column t·B + b is onehot(x_tb)
        self.cols = np.arange(T * B)
        # (K, T·B) matrices of per-step blocks (T, K, B), for the products over all steps at once
        self.mat = {K: z(K, T * B) for K in {G, H, V}} if B > 1 else {}
        self.mat2 = z(H, T * B) if B > 1 else None
        self.tmpG = z(G, B)
        self.tmpH = z(H, B)
        self.dh_next = z(H, B)
        self.nll = np.zeros((T, B))
        self.tt, self.bb = np.meshgrid(np.arange(T), np.arange(B), indexing="ij")   # (T,B) index grids
        # per-step views, [l][t], made once: indexing a list is cheaper than slicing an array in the time loops
        self.A_t, self.Hs_t, self.dA_t, self.D_t, self.dHtot_t, self.dIn_t = (
            [list(a) for a in arrays] for arrays in (self.A, self.Hs, self.dA, self.D, self.dHtot, self.dIn))
        self._extra_buffers(T, B)

    def _extra_buffers(self, T: int, B: int) -> None:
        pass

    def zero_carry(self, B: int) -> list[dict[str, np.ndarray]]:
        return [{k: np.zeros((self.H, B), dtype=self.dtype) for k in self.state_names} for _ in range(self.L)]

    def reset_carry(self) -> None:
        self.carry = None

    def begin(self, ids: np.ndarray, targets: np.ndarray, stepwise: bool = True) -> None:
        """Start an iteration on character ids (T, B) predicting targets (T, B). (``stepwise``: the
        torch engine builds a graph per step when True; here every step is computed alike.)"""
        assert ids.shape == targets.shape and ids.ndim == 2
        T, B = ids.shape
        self._ensure_buffers(T, B)
        self.ids, self.targets = ids, targets
        if self.carry is None or self.carry[0]["h"].shape[1] != B:
            self.carry = self.zero_carry(B)
        for l in range(self.L):
            self._load_carry(l)
        self.onehot.fill(0)
        self.onehot[ids.reshape(-1), self.cols] = 1.0   # (V, T·B), used only for the embedding gradient
        self.layers_done_forward = 0

    def steps_matrix(self, x: np.ndarray, buffer: np.ndarray | None = None) -> np.ndarray:
        """Per-step blocks x (T, K, B) as one matrix (K, T·B), column t·B + b; a view when B = 1."""
        T, K, B = x.shape
        if B == 1:
            return x.reshape(T, K).T
        out = (buffer if buffer is not None else self.mat[K]).reshape(K, T, B)
        np.copyto(out, x.transpose(1, 0, 2))
        return out.reshape(K, T * B)

    def matrix_to_steps(self, m: np.ndarray, out: np.ndarray) -> None:
        """The inverse: a (K, T·B) matrix into per-step blocks out (T, K, B)."""
        T, K, B = out.shape
        np.copyto(out, m.reshape(K, T, B).transpose(1, 0, 2))

    def _load_carry(self, l: int) -> None:
        self.Hs[l][0] = self.carry[l]["h"]

    def store_carry(self) -> None:
        """The state after the last character becomes the next sequence's initial state."""
        self.carry = [{"h": self.Hs[l][self.T].copy()} for l in range(self.L)]

    # ------------------------------------------------------------------ forward
    def forward_layer(self, l: int) -> None:
        """All T steps of layer l. The input projection is hoisted out of the time loop."""
        A = self.A[l]
        if l == 0:
            # W_ih x_t + b for one-hot x_t is row x_t of embed, plus b: an embedding lookup, one step
            # at a time (B rows, then transposed into the step's (G, B) block while it is in cache)
            table = self.p["embed"] + self.p["b0"]                            # (V, G)
            if self.B == 1:                                                   # (T, G, 1) is (T, G): one lookup
                np.take(table, self.ids[:, 0], axis=0, out=A.reshape(self.T, self.G))
            else:
                rows = self.gather[0]                                         # (B, G)
                take, copyto = np.take, np.copyto
                for t, a in enumerate(self.A_t[0]):
                    take(table, self.ids[t], axis=0, out=rows)
                    copyto(a, rows.T)
        else:
            if self.B == 1:
                np.dot(self.Hs[l - 1][1:].reshape(self.T, self.H), self.p[f"W_ih{l}"].T,
                       out=A.reshape(self.T, self.G))                      # (T,H)·(H,G): W_ih x_t for all t
            else:
                np.matmul(self.p[f"W_ih{l}"], self.Hs[l - 1][1:], out=A)   # (G,H)·(T,H,B) -> (T,G,B)
            A += self.p[f"b{l}"][:, None]
        self._recur(l)
        self.layers_done_forward = l + 1

    def _recur(self, l: int) -> None:
        A, Hs, W, tmp = self.A_t[l], self.Hs_t[l], self.p[f"W_hh{l}"], self.tmpH
        dot, add, tanh = np.dot, np.add, np.tanh
        for t in range(self.T):
            dot(W, Hs[t], out=tmp)             # W_hh h_{t−1}            (H, B)
            add(A[t], tmp, out=A[t])           # a_t = W_ih x_t + b + W_hh h_{t−1}
            tanh(A[t], out=Hs[t + 1])          # h_t = tanh(a_t)

    def forward_output(self) -> None:
        top = self.Hs[-1][1:]
        if self.B == 1:
            np.dot(top.reshape(self.T, self.H), self.p["W_out"].T, out=self.Z.reshape(self.T, self.V))
        else:
            np.matmul(self.p["W_out"], top, out=self.Z)           # z_t = W_out h_t   (V,H)·(T,H,B) -> (T,V,B)
        self.Z += self.p["b_out"][:, None]

    def loss(self) -> float:
        """Softmax cross-entropy per character (nats), averaged over the T·B characters."""
        Z, P = self.Z, self.P
        m = Z.max(axis=1, keepdims=True)                            # (T,1,B) shift: softmax(z) = softmax(z − max)
        np.subtract(Z, m, out=P)
        z_target = P[self.tt, self.targets, self.bb].astype(np.float64)   # (T,B) shifted logit of the target
        np.exp(P, out=P)
        s = P.sum(axis=1, keepdims=True)                            # (T,1,B)
        P /= s                                                      # p_t = softmax(z_t)
        np.subtract(np.log(s[:, 0, :].astype(np.float64)), z_target, out=self.nll)   # −log p_t[y_t]
        return float(self.nll.mean())

    # ------------------------------------------------------------------ backward
    def loss_scale(self) -> float:
        return 1.0 / (self.T * self.B) if self.loss_reduction == "mean" else 1.0 / self.B

    def backward_output(self) -> None:
        dZ = self.dZ
        np.copyto(dZ, self.P)
        dZ[self.tt, self.targets, self.bb] -= 1.0
        dZ *= self.loss_scale()                                     # dL/dz = (p − onehot(y)) · scale
        dZm = self.steps_matrix(dZ)                                           # (V, T·B)
        top = self.steps_matrix(self.Hs[-1][1:], self.mat2)                   # (H, T·B)
        np.dot(dZm, top.T, out=self.g["W_out"])                               # dL/dW_out = Σ_t,b dz · hᵀ
        np.sum(dZm, axis=1, out=self.g["b_out"])                              # dL/db_out = Σ_t,b dz
        self.dh_from(self.p["W_out"], dZm, self.dIn[-1])                      # dL/dh_t = W_outᵀ · dz_t

    def dh_from(self, W: np.ndarray, dm: np.ndarray, out: np.ndarray) -> None:
        """out (T, H, B) = Wᵀ · dm for every step, dm a (K, T·B) matrix of per-step gradients.
        (Uses mat2: callers have finished with what they put there.)"""
        if self.B == 1:
            np.dot(dm.T, W, out=out.reshape(self.T, self.H))                  # (T,K)·(K,H)
        else:
            np.dot(W.T, dm, out=self.mat2)                                    # (H,K)·(K,T·B), a kept buffer
            self.matrix_to_steps(self.mat2, out)

    def backward_steps(self, l: int, t_hi: int, t_lo: int) -> None:
        """Backpropagate through time steps t_hi, t_hi−1, …, t_lo of layer l (top layer first).

        The first call for a layer (t_hi = T−1) starts its backward; the call that reaches t_lo = 0
        computes the layer's weight gradients and the gradient sent to the layer below."""
        assert 0 <= t_lo <= t_hi < self.T
        if t_hi == self.T - 1:
            self._begin_layer_backward(l)
        self._backsteps(l, t_hi, t_lo)
        if t_lo == 0:
            self._finish_layer_backward(l)

    def _begin_layer_backward(self, l: int) -> None:
        h = self.Hs[l][1:]
        D = self.D[l]
        np.multiply(h, h, out=D)
        np.subtract(1.0, D, out=D)             # tanh'(a_t) = 1 − h_t²
        self.dh_next.fill(0)
        self.W_hh_T = np.ascontiguousarray(self.p[f"W_hh{l}"].T)   # W_hhᵀ, contiguous: the fastest product below

    def _backsteps(self, l: int, t_hi: int, t_lo: int) -> None:
        dIn, D, dA, dH = self.dIn_t[l], self.D_t[l], self.dA_t[l], self.dHtot_t[l]
        W_T, dh_next = self.W_hh_T, self.dh_next
        add, mul, dot = np.add, np.multiply, np.dot
        for t in range(t_hi, t_lo - 1, -1):
            add(dIn[t], dh_next, out=dH[t])    # dL/dh_t = from above + from step t+1
            mul(dH[t], D[t], out=dA[t])        # dL/da_t = dL/dh_t ⊙ (1 − h_t²)
            dot(W_T, dA[t], out=dh_next)       # dL/dh_{t−1} = W_hhᵀ · dL/da_t

    def _recurrent_weight_grads(self, l: int, dA: np.ndarray) -> None:
        """dL/dW_hh from the (G, T·B) gradients of every step's pre-activation."""
        # the recurrent weights are shared by all steps: dL/dW_hh = Σ_t dL/da_t · h_{t−1}ᵀ, one matrix product
        np.dot(dA, self.steps_matrix(self.Hs[l][:-1], self.mat2).T, out=self.g[f"W_hh{l}"])

    def _finish_layer_backward(self, l: int) -> None:
        dA = self.steps_matrix(self.dA[l])                                      # (G, T·B): dL/da_t of every step
        self._recurrent_weight_grads(l, dA)
        np.sum(dA, axis=1, out=self.g[f"b{l}"])                                 # dL/db = Σ_t,b dL/da
        if l == 0:
            # dL/dembed[v] = Σ over the (t, b) where x = v of dL/da_t: onehot · dL/daᵀ
            np.dot(self.onehot, dA.T, out=self.g["embed"])
        else:
            below = self.steps_matrix(self.Hs[l - 1][1:], self.mat2)            # (H, T·B)
            np.dot(dA, below.T, out=self.g[f"W_ih{l}"])                          # dL/dW_ih = Σ_t dL/da_t · x_tᵀ
            self.dh_from(self.p[f"W_ih{l}"], dA, self.dIn[l - 1])               # dL/dx_t = W_ihᵀ · dL/da_t

    def forward_backward(self, ids: np.ndarray, targets: np.ndarray) -> float:
        """One whole iteration's forward and backward (no update); returns the mean loss per character."""
        self.begin(ids, targets)
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
        """Copies, (T, H) each, of what layer l computed for one example of the batch."""
        return {"h": self.Hs[l][1:, :, example].copy()}

    def probabilities(self, example: int = 0) -> np.ndarray:
        return self.P[:, :, example].copy()    # (T, V)

    def step_gradients(self, l: int, example: int = 0) -> dict[str, np.ndarray]:
        """dL/dh_t per step (T, H) for one example, and its norm per step over the batch (T,)."""
        d = self.dHtot[l]
        norms = np.sqrt(np.einsum("thb,thb->t", d, d, dtype=np.float64) / self.B)
        return {"dh": d[:, :, example].copy(), "dh_norm": norms}

    def param_arrays(self) -> dict[str, np.ndarray]:
        return {k: v.copy() for k, v in self.p.items()}

    def set_param_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        for k, v in self.p.items():
            if k not in arrays:
                raise KeyError(k)
            if tuple(arrays[k].shape) != v.shape:
                raise ValueError(f"{k}: shape {tuple(arrays[k].shape)} != {v.shape}")
        for k, v in self.p.items():
            v[...] = arrays[k]

    # ------------------------------------------------------------------ evaluation and sampling
    def eval_loss(self, ids: np.ndarray, streams: int = 32, chunk: int = 100) -> float:
        """Mean loss per character (nats) of predicting ids[1:] from ids[:-1], read as ``streams``
        parallel streams from a zero state, carrying the state between chunks. Training state untouched."""
        n = (len(ids) - 1) // streams
        if n < 1:
            streams, n = 1, len(ids) - 1
        x = ids[: streams * n].reshape(streams, n).T                 # (n, S)
        y = ids[1: streams * n + 1].reshape(streams, n).T
        runner = self.sampler(streams)
        total = 0.0
        for start in range(0, n, chunk):
            total += runner.nll_sum(x[start:start + chunk], y[start:start + chunk])
        return total / (streams * n)

    def sampler(self, batch: int = 1) -> "Sampler":
        return Sampler(self, batch)


class Sampler:
    """Runs a frozen copy of the network one character at a time (generation and evaluation).

    State per layer as (H, B) columns; ``step(ids)`` feeds one character per stream and returns the
    logits (V, B). ``record`` (optional) receives each layer's activations of stream 0."""

    def __init__(self, net: RecurrentNet, batch: int):
        self.net = net
        self.p = {k: v.copy() for k, v in net.p.items()}   # frozen: training may go on meanwhile
        self.B = batch
        self.state = net.zero_carry(batch)
        self.a = np.zeros((net.G, batch), dtype=net.dtype)
        self.tmp = np.zeros((net.G, batch), dtype=net.dtype)
        self.z = np.zeros((net.V, batch), dtype=net.dtype)

    def step(self, ids: np.ndarray, record: dict | None = None) -> np.ndarray:
        p, a, tmp = self.p, self.a, self.tmp
        x = None
        for l in range(self.net.L):
            if l == 0:
                np.copyto(a, p["embed"][ids].T)                # W_ih x_t: embedding rows   (G, B)
            else:
                np.dot(p[f"W_ih{l}"], x, out=a)
            a += p[f"b{l}"][:, None]
            x = self.cell(l, a, tmp, record)
        np.dot(p["W_out"], x, out=self.z)
        self.z += p["b_out"][:, None]
        return self.z

    def cell(self, l: int, a: np.ndarray, tmp: np.ndarray, record: dict | None) -> np.ndarray:
        h = self.state[l]["h"]
        np.dot(self.p[f"W_hh{l}"], h, out=tmp)
        a += tmp
        np.tanh(a, out=h)                                       # h_t = tanh(W_ih x_t + W_hh h_{t−1} + b)
        if record is not None:
            record["h"][l] = h[:, 0]
        return h

    def nll_sum(self, x: np.ndarray, y: np.ndarray) -> float:
        """Sum of −log p(y_t | x_≤t) over a chunk (T, B) of character ids."""
        total = 0.0
        cols = np.arange(self.B)
        for t in range(len(x)):
            z = self.step(x[t]).astype(np.float64)              # (V, B)
            z -= z.max(axis=0, keepdims=True)
            total += float(np.sum(np.log(np.exp(z).sum(axis=0)) - z[y[t], cols]))
        return total
