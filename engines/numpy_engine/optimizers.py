"""Optimizers of the NumPy engine. Each gets its parameters explicitly and updates them in place.

Every update rule is written in the comment beside it; every optimizer is tested against
torch.optim (same gradients, same parameters to float64 precision).
"""
from __future__ import annotations

import numpy as np


class Optimizer:
    """Base: holds references to the parameter arrays; step(grads) updates them in place."""

    name = "optimizer"
    hyperparams: tuple[str, ...] = ("lr",)

    def __init__(self, params: list[np.ndarray], lr: float = 0.01, weight_decay: float = 0.0):
        self.params = list(params)
        self.lr = lr
        self.weight_decay = weight_decay
        self.t = 0  # steps taken
        self.state: dict[str, list[np.ndarray]] = {}

    def _buffers(self, name: str) -> list[np.ndarray]:
        if name not in self.state:
            self.state[name] = [np.zeros_like(p) for p in self.params]
        return self.state[name]

    def _decayed(self, p: np.ndarray, g: np.ndarray) -> np.ndarray:
        return g + self.weight_decay * p if self.weight_decay else g  # L2: g ← g + λθ

    def step(self, grads: list[np.ndarray]) -> None:
        assert len(grads) == len(self.params)
        self.t += 1
        for i, (p, g) in enumerate(zip(self.params, grads)):
            assert p.shape == g.shape
            self._update(i, p, g)

    def _update(self, i: int, p: np.ndarray, g: np.ndarray) -> None:
        raise NotImplementedError

    # keyframes: the optimizer's whole state as plain arrays and numbers
    def state_dict(self) -> dict:
        return {"t": self.t, "lr": self.lr, "state": {k: [b.copy() for b in v] for k, v in self.state.items()}}

    def load_state_dict(self, d: dict) -> None:
        self.t = int(d["t"])
        self.lr = d["lr"]
        self.state = {k: [b.copy() for b in v] for k, v in d["state"].items()}


class SGD(Optimizer):
    name = "sgd"

    def _update(self, i, p, g):
        p -= self.lr * self._decayed(p, g)  # θ ← θ − η g


class Momentum(Optimizer):
    """Heavy-ball momentum as torch.optim.SGD(momentum=μ): v ← μ v + g, θ ← θ − η v."""

    name = "momentum"
    hyperparams = ("lr", "momentum")

    def __init__(self, params, lr=0.01, momentum=0.9, weight_decay=0.0):
        super().__init__(params, lr, weight_decay)
        self.momentum = momentum

    def _update(self, i, p, g):
        g = self._decayed(p, g)
        v = self._buffers("velocity")[i]
        if self.t == 1:
            v[...] = g  # torch starts the buffer at the first gradient
        else:
            v *= self.momentum
            v += g
        p -= self.lr * v


OPTIMIZERS: dict[str, type[Optimizer]] = {"sgd": SGD, "momentum": Momentum}
