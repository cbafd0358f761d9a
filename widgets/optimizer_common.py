"""What every part of the optimizer lab's view shares: one colour per optimizer, the labels of the
hyperparameters, a log10 axis, and the geometry of paths, curves and arrows drawn on the plots."""
from __future__ import annotations

import functools
import math

import numpy as np
import pyqtgraph as pg
from PySide6 import QtGui

from .common import fmt

# one colour per optimizer id, the same in every plot and in every run
OPT_COLORS = {"sgd": "#d62728", "momentum": "#1f77b4", "nesterov": "#17becf", "adagrad": "#8c564b",
              "rmsprop": "#ff7f0e", "adadelta": "#bcbd22", "adam": "#2ca02c", "adamax": "#9467bd",
              "adamw": "#e377c2"}
GRAD_COLOR = "#444444"
LOSS_FLOOR = 1e-12  # losses below this are drawn at it on the log scale
HYPER_LABELS = {"lr": "η", "momentum": "μ", "beta1": "β₁", "beta2": "β₂", "rho": "ρ", "alpha": "α",
                "weight_decay": "λ"}
HYPER_MAX = {"lr": 100.0, "momentum": 0.9999, "beta1": 0.9999, "beta2": 0.99999, "rho": 0.9999, "alpha": 0.9999,
             "weight_decay": 10.0}


SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


class Log10Axis(pg.AxisItem):
    """An axis for values already in log10: whole decades only, labelled 10ⁿ (the data stay
    log10(f), so the curves need no conversion and no minor-tick clutter)."""

    def tickValues(self, minVal, maxVal, size):
        lo, hi = math.floor(minVal), math.ceil(maxVal)
        span = max(hi - lo, 1)
        step = max(1, math.ceil(span / max(2, size / 28)))
        return [(float(step), [float(v) for v in range(lo, hi + 1, step) if minVal <= v <= maxVal])]

    def tickStrings(self, values, scale, spacing):
        return [f"10{str(int(round(v))).translate(SUPERSCRIPT)}" for v in values]


def color_of(name: str, index: int = 0) -> str:
    return OPT_COLORS.get(name, list(OPT_COLORS.values())[index % len(OPT_COLORS)])


@functools.lru_cache(maxsize=None)
def brush_of(name: str, index: int = 0) -> QtGui.QBrush:
    """One brush per optimizer for the whole run: a scatter plot renders and keeps a symbol image per
    brush object, so a new brush each frame rendered every marker again and grew its atlas without end."""
    return pg.mkBrush(color_of(name, index))


def thin_curve(x: np.ndarray, y: np.ndarray, limit: int = 600) -> tuple[np.ndarray, np.ndarray]:
    """At most about ``limit`` points per curve, keeping each block's min and max (no spike lost)."""
    n = len(x)
    if n <= limit:
        return x, y
    k = int(math.ceil(n / (limit // 2)))
    m = (n // k) * k
    yb = y[:m].reshape(-1, k)
    xb = x[:m].reshape(-1, k)
    lo, hi = yb.argmin(axis=1), yb.argmax(axis=1)
    rows = np.arange(len(yb))
    first = np.minimum(lo, hi)
    second = np.maximum(lo, hi)
    xs = np.stack([xb[rows, first], xb[rows, second]], axis=1).ravel()
    ys = np.stack([yb[rows, first], yb[rows, second]], axis=1).ravel()
    return np.concatenate([xs, x[m:]]), np.concatenate([ys, y[m:]])


def arrow(p: np.ndarray, v: np.ndarray, head: float) -> tuple[np.ndarray, np.ndarray]:
    """A polyline for an arrow from p along v with a head of length ``head`` (NaN-separated)."""
    tip = p + v
    n = float(np.hypot(*v))
    if not np.isfinite(n) or n == 0:
        return np.array([np.nan]), np.array([np.nan])
    u = v / n
    h = min(head, 0.5 * n)
    c, s = math.cos(math.radians(25)), math.sin(math.radians(25))
    left = tip - h * np.array([c * u[0] - s * u[1], s * u[0] + c * u[1]])
    right = tip - h * np.array([c * u[0] + s * u[1], -s * u[0] + c * u[1]])
    xs = [p[0], tip[0], np.nan, left[0], tip[0], right[0], np.nan]
    ys = [p[1], tip[1], np.nan, left[1], tip[1], right[1], np.nan]
    return np.array(xs), np.array(ys)


def ellipse(p: np.ndarray, rx: float, ry: float, n: int = 48) -> tuple[np.ndarray, np.ndarray]:
    t = np.linspace(0, 2 * np.pi, n)
    return p[0] + rx * np.cos(t), p[1] + ry * np.sin(t)


def vec(v) -> str:
    v = np.asarray(v, dtype=np.float64).ravel()
    return "(" + ", ".join(fmt(float(x)) for x in v) + ")"


def fake_view_data(mode: str = "surface", steps: int = 150) -> dict:
    """Made-up view_data of the optimizer lab (engines/labs/optimizers.py SurfaceRaceView or
    NetworkRaceView) for running the widgets alone: SGD, momentum and Adam really descending
    f = (1 − x)² + 5(y − x²)² from (−1.5, 2), or made-up falling losses of three networks."""
    names, titles = ["sgd", "momentum", "adam"], ["SGD", "Momentum", "Adam"]
    rules = ["θ ← θ − η·g", "v ← μ·v + g\nθ ← θ − η·v", "m ← β₁m + (1−β₁)g, v ← β₂v + (1−β₂)g²\nθ ← θ − η·m̂ / (√v̂ + ε)"]
    hyper = {"sgd": {"lr": 0.01}, "momentum": {"lr": 0.004, "momentum": 0.9},
             "adam": {"lr": 0.05, "beta1": 0.9, "beta2": 0.999}}
    its = np.arange(steps + 1, dtype=np.float64)
    if mode == "network":
        losses = np.stack([2.3 * np.exp(-its / tau) + 0.1 for tau in (90.0, 40.0, 25.0)])
        return {"mode": "network", "optimizers": names, "titles": titles, "rules": rules, "iterations": its + 1,
                "losses": losses, "optimizer_hyperparams": hyper, "iteration": steps, "recorded": steps // 5}

    def f(p):
        return (1 - p[0]) ** 2 + 5 * (p[1] - p[0] ** 2) ** 2

    def grad(p):   # ∇f = (−2(1 − x) − 20x(y − x²), 10(y − x²))
        return np.array([-2 * (1 - p[0]) - 20 * p[0] * (p[1] - p[0] ** 2), 10 * (p[1] - p[0] ** 2)])

    start = np.array([-1.5, 2.0])
    paths, updates = [], []
    for name in names:
        p, v, m, s = start.copy(), np.zeros(2), np.zeros(2), np.zeros(2)
        path = [p.copy()]
        h = hyper[name]
        for t in range(1, steps + 2):
            g = grad(p)
            if name == "sgd":
                parts = {"grad": g, "direction": g, "scale": np.full(2, h["lr"]), "terms": {}}
            elif name == "momentum":
                v_next = h["momentum"] * v + g
                parts = {"grad": g, "direction": v_next, "scale": np.full(2, h["lr"]), "terms": {"v": v_next}}
            else:
                m_next, s_next = 0.9 * m + 0.1 * g, 0.999 * s + 0.001 * g * g
                m_hat, s_hat = m_next / (1 - 0.9 ** t), s_next / (1 - 0.999 ** t)
                parts = {"grad": g, "direction": m_hat, "scale": h["lr"] / (np.sqrt(s_hat) + 1e-8),
                         "terms": {"m": m_next, "v": s_next, "m̂": m_hat, "v̂": s_hat}}
            parts["step"] = -parts["scale"] * parts["direction"]
            if t == steps + 1:          # the update after the last iteration: what the arrows show
                updates.append(parts)
                break
            p = p + parts["step"]
            v = parts["terms"].get("v", v) if name == "momentum" else v
            if name == "adam":
                m, s = parts["terms"]["m"], parts["terms"]["v"]
            path.append(p.copy())
        paths.append(np.array(path))
    paths = np.stack(paths)                                                   # (3, L, 2)
    losses = np.array([[f(q) for q in path] for path in paths])               # (3, L)
    x, y = np.linspace(-2, 2, 80), np.linspace(-1, 3, 80)
    X, Y = np.meshgrid(x, y)
    surface = {"x": x, "y": y, "z": ((1 - X) ** 2 + 5 * (Y - X * X) ** 2).astype(np.float32), "id": "demo",
               "title": "Rosenbrock (b = 5)", "formula": "f = (1 − x)² + 5·(y − x²)²", "bounds": (-2.0, 2.0, -1.0, 3.0),
               "start": (-1.5, 2.0), "minima": ((1.0, 1.0),), "f_min": 0.0, "log_scale": True, "key": "demo"}
    return {"mode": "surface", "surface": surface, "optimizers": names, "titles": titles, "rules": rules,
            "direction_names": ["g", "v", "m̂"], "iterations": its, "paths": paths, "losses": losses,
            "current": paths[:, -1].copy(), "current_loss": losses[:, -1].copy(), "stopped": [-1, -1, -1],
            "next_updates": updates, "optimizer_hyperparams": hyper, "start": start, "iteration": steps}
