"""Central-difference gradient checks in float64.

    numerical dL/dθ_i ≈ (L(θ + h e_i) − L(θ − h e_i)) / 2h

The loss used is L = Σ (f(x) ⊙ R) for a fixed random R, so every output element contributes
and dL/dy = R is the gradient fed to the backward pass being checked.
"""
from __future__ import annotations

from typing import Callable

import numpy as np


def numerical_gradient(f: Callable[[], float], array: np.ndarray, h: float = 1e-6,
                       max_checks: int | None = None, rng: np.random.Generator | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Central differences of the scalar f() w.r.t. ``array`` (perturbed in place and restored).

    Returns (indices checked as flat positions, numerical gradient at those positions)."""
    assert array.dtype == np.float64, "gradient checks run in float64"
    flat = array.reshape(-1)
    n = flat.size
    if max_checks is None or max_checks >= n:
        positions = np.arange(n)
    else:
        positions = (rng or np.random.default_rng(0)).choice(n, size=max_checks, replace=False)
    grads = np.empty(len(positions))
    for k, i in enumerate(positions):
        old = flat[i]
        flat[i] = old + h
        plus = f()
        flat[i] = old - h
        minus = f()
        flat[i] = old
        grads[k] = (plus - minus) / (2 * h)
    return positions, grads


def relative_error(a: np.ndarray, b: np.ndarray) -> float:
    a = np.asarray(a, dtype=np.float64).ravel()
    b = np.asarray(b, dtype=np.float64).ravel()
    return float(np.max(np.abs(a - b) / np.maximum(1e-8, np.abs(a) + np.abs(b))))


def check_operation(op, x: np.ndarray, seed: int = 0, training: bool = True, max_checks: int = 200,
                    tol: float = 1e-6) -> dict[str, float]:
    """Check an Operation's input gradient (and param gradient, if any) by central differences.

    Returns the max relative errors; raises AssertionError above ``tol``."""
    rng = np.random.default_rng(seed)
    y = op.forward(x, training)
    R = rng.standard_normal(y.shape)

    def loss() -> float:
        return float(np.sum(op.forward(x, training) * R))

    op.forward(x, training)
    analytic_x = op.backward(R).copy()
    analytic_p = op.param_grad.copy() if hasattr(op, "param") else None
    errors = {}
    idx, num = numerical_gradient(loss, x, max_checks=max_checks, rng=rng)
    errors["input"] = relative_error(analytic_x.reshape(-1)[idx], num)
    if analytic_p is not None:
        idx, num = numerical_gradient(loss, op.param, max_checks=max_checks, rng=rng)
        errors["param"] = relative_error(analytic_p.reshape(-1)[idx], num)
    for k, e in errors.items():
        assert e < tol, f"{type(op).__name__}: {k} gradient relative error {e:.3g} > {tol}"
    return errors
