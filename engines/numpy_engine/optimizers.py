"""Optimizers of the NumPy engine. Each gets its parameters explicitly and updates them in place.

Every update rule is written in the comment beside it; every optimizer is tested against
torch.optim (same gradients, same parameters to float64 precision), with and without weight
decay. Notation: θ parameters, g gradient, η learning rate, t the step count (1 on the first
step), λ weight decay, ⊙ elementwise product; all operations are elementwise.

For the views each optimizer can also say what its last update was made of
(``record = True`` then ``last_components``, or ``preview(grads)`` for the next update without
taking it): every update here has the form

    Δθ = −scale ⊙ direction   (AdamW also subtracts its decoupled decay η·λ·θ)

where ``direction`` is the gradient, the velocity or the first moment, and ``scale`` the
per-coordinate step size (η for SGD, η / √(running mean of g²) for the adaptive methods).
"""
from __future__ import annotations

import math

import numpy as np


class Optimizer:
    """Base: holds references to the parameter arrays; step(grads) updates them in place."""

    name = "optimizer"
    title = "Optimizer"
    hyperparams: tuple[str, ...] = ("lr",)
    rule = ""                # the update rule, several lines, for the views
    direction_name = "g"     # what the per-coordinate scale multiplies

    def __init__(self, params: list[np.ndarray], lr: float = 0.01, weight_decay: float = 0.0):
        self.params = list(params)
        self.lr = lr
        self.weight_decay = weight_decay
        self.t = 0  # steps taken
        self.state: dict[str, list[np.ndarray]] = {}
        self.record = False  # keep the components of each update (small problems only)
        self.last_components: list[dict] = []
        self.updates: list[np.ndarray | None] = [None] * len(self.params)  # Δθ of the last step (Adam, Adagrad)

    def __repr__(self) -> str:
        hyper = ", ".join(f"{k}={v:g}" for k, v in self.get_hyperparams().items())
        shapes = ", ".join("×".join(map(str, p.shape)) for p in self.params[:6]) + (", ..." if len(self.params) > 6 else "")
        n = len(self.params)
        return f"{type(self).__name__}({hyper}; t={self.t}; {n} parameter array{'s' * (n != 1)}: {shapes})"

    def _buffers(self, name: str, fill: float = 0.0) -> list[np.ndarray]:
        if name not in self.state:
            self.state[name] = [np.full_like(p, fill) for p in self.params]
        return self.state[name]

    def _update_buffer(self, i: int) -> np.ndarray:
        """A persistent array like parameter i: the step is computed in it with ``out=`` (no fresh
        temporaries: they cost page faults on large flat buffers), and it keeps Δθ for the views."""
        u = self.updates[i]
        if u is None or u.shape != self.params[i].shape or u.dtype != self.params[i].dtype:
            u = self.updates[i] = np.empty_like(self.params[i])
        return u

    def current_lr(self) -> float:
        """The learning rate the next step will use."""
        return float(self.lr)

    def _decayed(self, p: np.ndarray, g: np.ndarray) -> np.ndarray:
        return g + self.weight_decay * p if self.weight_decay else g  # L2: g ← g + λθ

    def step(self, grads: list[np.ndarray]) -> None:
        assert len(grads) == len(self.params)
        self.t += 1
        if self.record:
            self.last_components = [{} for _ in self.params]
        for i, (p, g) in enumerate(zip(self.params, grads)):
            if g is None:  # a frozen parameter: no gradient, no update (as torch.optim skips grad None)
                continue
            assert p.shape == g.shape
            self._update(i, p, g)

    def _update(self, i: int, p: np.ndarray, g: np.ndarray) -> None:
        raise NotImplementedError

    def _record(self, i: int, grad, direction, scale, step, **terms) -> None:
        """Remember what update i was made of (copies): Δθ = −scale ⊙ direction."""
        if not self.record:
            return
        as_array = lambda a: np.array(np.broadcast_to(a, self.params[i].shape), dtype=np.float64)
        self.last_components[i] = {
            "grad": as_array(grad), "direction": as_array(direction), "scale": as_array(scale),
            "step": as_array(step), "terms": {k: as_array(v) for k, v in terms.items()}}

    def preview(self, grads: list[np.ndarray]) -> list[dict]:
        """The components of the update that step(grads) would make now, without making it."""
        saved, params, record, last = self.state_dict(), self.params, self.record, self.last_components
        updates = self.updates
        self.params, self.updates = [p.copy() for p in params], [None] * len(params)
        self.record = True
        try:
            self.step([np.array(g) for g in grads])
            return self.last_components
        finally:
            self.params, self.record, self.last_components, self.updates = params, record, last, updates
            self.load_state_dict(saved)

    def get_hyperparams(self) -> dict[str, float]:
        return {k: float(getattr(self, k)) for k in self.hyperparams}

    # keyframes: the optimizer's whole state as plain arrays and numbers
    def state_dict(self) -> dict:
        return {"t": self.t, "lr": self.lr, "hyper": self.get_hyperparams(),
                "state": {k: [b.copy() for b in v] for k, v in self.state.items()}}

    def load_state_dict(self, d: dict) -> None:
        self.t = int(d["t"])
        self.lr = d["lr"]
        for k, v in d.get("hyper", {}).items():
            setattr(self, k, v)
        self.state = {k: [b.copy() for b in v] for k, v in d["state"].items()}


class SGD(Optimizer):
    name, title = "sgd", "SGD"
    rule = "θ ← θ − η·g"

    def _update(self, i, p, g):
        g = self._decayed(p, g)
        step = -self.lr * g
        p += step  # θ ← θ − η g
        self._record(i, g, g, self.lr, step)


class Momentum(Optimizer):
    """Heavy-ball momentum as torch.optim.SGD(momentum=μ): v ← μ v + g, θ ← θ − η v."""

    name, title = "momentum", "Momentum"
    hyperparams = ("lr", "momentum")
    rule = "v ← μ·v + g\nθ ← θ − η·v"
    direction_name = "v"
    nesterov = False

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
            v += g  # v ← μ v + g
        if self.nesterov:
            d = g + self.momentum * v  # Nesterov: step along g + μ v (the gradient at the look-ahead point)
        else:
            d = v
        step = -self.lr * d
        p += step  # θ ← θ − η d
        self._record(i, g, d, self.lr, step, v=v)


class Nesterov(Momentum):
    """Nesterov momentum as torch.optim.SGD(momentum=μ, nesterov=True):
    v ← μ v + g, θ ← θ − η (g + μ v)."""

    name, title = "nesterov", "Nesterov"
    rule = "v ← μ·v + g\nθ ← θ − η·(g + μ·v)"
    direction_name = "g + μv"
    nesterov = True


class Adagrad(Optimizer):
    """torch.optim.Adagrad: G ← G + g², θ ← θ − η_t g / (√G + ε), η_t = η / (1 + (t−1)·decay)."""

    name, title = "adagrad", "Adagrad"
    rule = "G ← G + g²\nθ ← θ − η·g / (√G + ε)"

    def __init__(self, params, lr=0.01, lr_decay=0.0, weight_decay=0.0, initial_accumulator_value=0.0,
                 eps=1e-10):
        super().__init__(params, lr, weight_decay)
        self.lr_decay, self.eps = lr_decay, eps
        self.initial_accumulator_value = initial_accumulator_value

    def current_lr(self) -> float:
        return self.lr / (1.0 + self.t * self.lr_decay)   # η_t of the next step

    def _update(self, i, p, g):
        g = self._decayed(p, g)
        G = self._buffers("sum", self.initial_accumulator_value)[i]
        u = self._update_buffer(i)
        np.multiply(g, g, out=u)
        G += u                                # G ← G + g²  (every squared gradient so far)
        clr = self.lr / (1.0 + (self.t - 1) * self.lr_decay)  # η_t = η / (1 + (t−1)·decay)
        np.sqrt(G, out=u)
        u += self.eps                         # √G + ε
        scale = clr / u if self.record else None   # per-coordinate step size η_t / (√G + ε)
        np.divide(g, u, out=u)
        u *= -clr                             # Δθ = −η_t · g / (√G + ε)
        p += u                                # θ ← θ − η_t g / (√G + ε)
        self._record(i, g, g, scale, u, G=G)

    def load_state_dict(self, d: dict) -> None:
        if "sum" in d:   # the text labs' earlier flat Adagrad: {t, lr, lr_decay, sum}
            d = {"t": d["t"], "lr": d["lr"], "hyper": {"lr_decay": d["lr_decay"]}, "state": {"sum": [d["sum"]]}}
        super().load_state_dict(d)


class RMSprop(Optimizer):
    """torch.optim.RMSprop: E ← α E + (1−α) g², θ ← θ − η g / (√E + ε)
    (centered: √(E − ḡ²) with ḡ ← α ḡ + (1−α) g; momentum μ: b ← μ b + g/(√E + ε), θ ← θ − η b)."""

    name, title = "rmsprop", "RMSprop"
    hyperparams = ("lr", "alpha")
    rule = "E ← α·E + (1−α)·g²\nθ ← θ − η·g / (√E + ε)"

    def __init__(self, params, lr=0.01, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0,
                 centered=False):
        super().__init__(params, lr, weight_decay)
        self.alpha, self.eps, self.momentum, self.centered = alpha, eps, momentum, centered

    def _update(self, i, p, g):
        g = self._decayed(p, g)
        E = self._buffers("square_avg")[i]
        E *= self.alpha
        E += (1 - self.alpha) * (g * g)  # E ← α E + (1−α) g²  (running mean of g²)
        terms = {"E": E}
        if self.centered:
            m = self._buffers("grad_avg")[i]
            m += (1 - self.alpha) * (g - m)  # ḡ ← α ḡ + (1−α) g  (running mean of g)
            avg = np.sqrt(E - m * m) + self.eps  # √(E − ḡ²) + ε: a running standard deviation
            terms["ḡ"] = m
        else:
            avg = np.sqrt(E) + self.eps
        if self.momentum > 0:
            b = self._buffers("momentum_buffer")[i]
            b *= self.momentum
            b += g / avg  # b ← μ b + g / (√E + ε)
            step = -self.lr * b
            p += step  # θ ← θ − η b
            self._record(i, g, b, self.lr, step, b=b, **terms)
        else:
            scale = self.lr / avg
            step = -scale * g
            p += step  # θ ← θ − η g / (√E + ε)
            self._record(i, g, g, scale, step, **terms)


class Adadelta(Optimizer):
    """torch.optim.Adadelta: E_g ← ρ E_g + (1−ρ) g², Δ ← √(E_Δ + ε)/√(E_g + ε) · g,
    E_Δ ← ρ E_Δ + (1−ρ) Δ², θ ← θ − η Δ (η = 1 in Zeiler's paper: no learning rate to tune)."""

    name, title = "adadelta", "Adadelta"
    hyperparams = ("lr", "rho")
    rule = "E_g ← ρ·E_g + (1−ρ)·g²\nΔ ← √(E_Δ+ε) / √(E_g+ε) · g\nE_Δ ← ρ·E_Δ + (1−ρ)·Δ²\nθ ← θ − η·Δ"

    def __init__(self, params, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.0):
        super().__init__(params, lr, weight_decay)
        self.rho, self.eps = rho, eps

    def _update(self, i, p, g):
        g = self._decayed(p, g)
        Eg = self._buffers("square_avg")[i]
        Ed = self._buffers("acc_delta")[i]
        Eg *= self.rho
        Eg += (1 - self.rho) * (g * g)  # E_g ← ρ E_g + (1−ρ) g²
        ratio = np.sqrt(Ed + self.eps) / np.sqrt(Eg + self.eps)  # RMS of past steps / RMS of gradients
        Ed_before = Ed.copy() if self.record else Ed
        delta = ratio * g  # Δ ← √(E_Δ + ε) / √(E_g + ε) · g
        Ed *= self.rho
        Ed += (1 - self.rho) * (delta * delta)  # E_Δ ← ρ E_Δ + (1−ρ) Δ²
        step = -self.lr * delta
        p += step  # θ ← θ − η Δ
        self._record(i, g, g, self.lr * ratio, step, E_g=Eg, E_Δ=Ed_before)


class Adam(Optimizer):
    """torch.optim.Adam: m ← β₁ m + (1−β₁) g, v ← β₂ v + (1−β₂) g², m̂ = m/(1−β₁ᵗ), v̂ = v/(1−β₂ᵗ),
    θ ← θ − η m̂ / (√v̂ + ε)  (amsgrad: v̂ uses the running maximum of v)."""

    name, title = "adam", "Adam"
    hyperparams = ("lr", "beta1", "beta2")
    rule = "m ← β₁·m + (1−β₁)·g\nv ← β₂·v + (1−β₂)·g²\nm̂ = m/(1−β₁ᵗ),  v̂ = v/(1−β₂ᵗ)\nθ ← θ − η·m̂ / (√v̂ + ε)"
    direction_name = "m̂"
    decoupled = False

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False):
        super().__init__(params, lr, weight_decay)
        self.beta1, self.beta2 = betas
        self.eps, self.amsgrad = eps, amsgrad

    def _update(self, i, p, g):
        decay = None
        if self.weight_decay and self.decoupled:
            decay = -self.lr * self.weight_decay * p if self.record else None
            p *= 1 - self.lr * self.weight_decay  # AdamW: θ ← θ − η λ θ, apart from the gradient
        else:
            g = self._decayed(p, g)
        m = self._buffers("exp_avg")[i]
        v = self._buffers("exp_avg_sq")[i]
        u = self._update_buffer(i)     # every step below in place, in the parameters' dtype
        np.subtract(g, m, out=u)
        u *= 1.0 - self.beta1
        m += u                         # m ← β₁ m + (1−β₁) g, as m + (1−β₁)(g − m) (torch's lerp)
        np.multiply(g, g, out=u)
        u *= 1.0 - self.beta2
        v *= self.beta2
        v += u                         # v ← β₂ v + (1−β₂) g²  (second moment: running mean of g²)
        bc1 = 1 - self.beta1 ** self.t  # the moments start at 0: divide by 1−βᵗ to unbias them
        bc2 = 1 - self.beta2 ** self.t
        if self.amsgrad:
            vmax = self._buffers("max_exp_avg_sq")[i]
            np.maximum(vmax, v, out=vmax)  # v_max ← max(v_max, v)
            v_used = vmax
        else:
            v_used = v
        np.sqrt(v_used, out=u)
        u /= math.sqrt(bc2)
        u += self.eps                  # √v̂ + ε
        denom = u.copy() if self.record else None
        np.divide(m, u, out=u)
        u *= -(self.lr / bc1)          # Δθ = −η m̂ / (√v̂ + ε)
        p += u                         # θ ← θ − η m̂ / (√v̂ + ε)
        if self.record:
            m_hat = m / bc1
            terms = {"m": m, "v": v, "m̂": m_hat, "v̂": v_used / bc2}
            if decay is not None:
                terms["−ηλθ"] = decay
            self._record(i, g, m_hat, self.lr / denom, u if decay is None else u + decay, **terms)

    def load_state_dict(self, d: dict) -> None:
        if "m" in d:   # the text labs' earlier flat Adam: {t, lr, m, v}
            d = {"t": d["t"], "lr": d["lr"], "state": {"exp_avg": [d["m"]], "exp_avg_sq": [d["v"]]}}
        super().load_state_dict(d)


class AdamW(Adam):
    """torch.optim.AdamW: θ ← θ − η λ θ (decoupled weight decay), then the Adam step on g."""

    name, title = "adamw", "AdamW"
    hyperparams = ("lr", "beta1", "beta2", "weight_decay")
    rule = "θ ← θ − η·λ·θ   (decay apart from g)\n" + Adam.rule
    decoupled = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad)


class Adamax(Optimizer):
    """torch.optim.Adamax: m ← β₁ m + (1−β₁) g, u ← max(β₂ u, |g| + ε), θ ← θ − η/(1−β₁ᵗ) · m / u
    (Adam with the infinity norm in place of the root mean square)."""

    name, title = "adamax", "AdaMax"
    hyperparams = ("lr", "beta1", "beta2")
    rule = "m ← β₁·m + (1−β₁)·g\nu ← max(β₂·u, |g| + ε)\nθ ← θ − η/(1−β₁ᵗ) · m / u"
    direction_name = "m̂"

    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        super().__init__(params, lr, weight_decay)
        self.beta1, self.beta2 = betas
        self.eps = eps

    def _update(self, i, p, g):
        g = self._decayed(p, g)
        m = self._buffers("exp_avg")[i]
        u = self._buffers("exp_inf")[i]
        m += (1 - self.beta1) * (g - m)  # m ← β₁ m + (1−β₁) g
        u *= self.beta2
        np.maximum(u, np.abs(g) + self.eps, out=u)  # u ← max(β₂ u, |g| + ε): a decaying max of |g|
        clr = self.lr / (1 - self.beta1 ** self.t)  # η / (1 − β₁ᵗ) unbiases m
        step = -clr * (m / u)
        p += step  # θ ← θ − η/(1−β₁ᵗ) · m / u
        if self.record:
            bc1 = 1 - self.beta1 ** self.t
            self._record(i, g, m / bc1, self.lr / u, step, m=m, u=u, **{"m̂": m / bc1})


OPTIMIZERS: dict[str, type[Optimizer]] = {
    "sgd": SGD, "momentum": Momentum, "nesterov": Nesterov, "adagrad": Adagrad, "rmsprop": RMSprop,
    "adadelta": Adadelta, "adam": Adam, "adamax": Adamax, "adamw": AdamW,
}


# Learning rates that train a small MNIST network well from the start (batch 64); the torch
# defaults are for larger models (Adadelta's η = 1 is its paper's: no rate to tune).
TYPICAL_LR: dict[str, float] = {"sgd": 0.1, "momentum": 0.02, "nesterov": 0.02, "adagrad": 0.02, "rmsprop": 0.001,
                                "adadelta": 1.0, "adam": 0.001, "adamax": 0.002, "adamw": 0.001}


def make_optimizer(name: str, params: list[np.ndarray], **hyper) -> Optimizer:
    """An optimizer by id with hyperparameters by name (beta1/beta2 accepted for Adam-like ones)."""
    cls = OPTIMIZERS[name]
    if "beta1" in hyper or "beta2" in hyper:
        b1, b2 = hyper.pop("beta1", 0.9), hyper.pop("beta2", 0.999)
        hyper["betas"] = (b1, b2)
    return cls(params, **hyper)
