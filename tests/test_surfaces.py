"""Each surface's hand-written gradient against central differences, and the grid layout."""
from __future__ import annotations

import numpy as np
import pytest

from engines import StepwiseError
from engines.surfaces import SURFACES, make_surface

CASES = [("rosenbrock", {}), ("beale", {}), ("himmelblau", {}), ("saddle", {}),
         ("quadratic", {"condition": 50.0}), ("quadratic", {"condition": 7.0, "angle": 30.0})]


@pytest.mark.parametrize("name,kw", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_gradient_matches_central_differences(name, kw):
    s = make_surface(name, **kw)
    rng = np.random.default_rng(0)
    x0, x1, y0, y1 = s.bounds
    h = 1e-6
    for _ in range(25):
        x, y = rng.uniform(x0, x1), rng.uniform(y0, y1)
        gx, gy = s.gradient(x, y)
        nx = (s.value(x + h, y) - s.value(x - h, y)) / (2 * h)
        ny = (s.value(x, y + h) - s.value(x, y - h)) / (2 * h)
        scale = max(1.0, abs(nx), abs(ny))
        assert abs(gx - nx) <= 1e-6 * scale and abs(gy - ny) <= 1e-6 * scale, (x, y, gx, nx, gy, ny)


@pytest.mark.parametrize("name", list(SURFACES))
def test_vectorised_and_scalar_agree_and_minima_are_stationary(name):
    s = make_surface(name)
    xs = np.array([0.3, -1.2, 2.0])
    ys = np.array([0.7, 0.1, -0.5])
    gx, gy = s.gradient(xs, ys)
    for i in range(3):
        assert s.value(xs[i], ys[i]) == pytest.approx(s.value(xs, ys)[i], rel=1e-15)
        sx, sy = s.gradient(xs[i], ys[i])
        assert sx == pytest.approx(gx[i], rel=1e-15) and sy == pytest.approx(gy[i], rel=1e-15)
    for mx, my in s.minima:
        g = np.hypot(*s.gradient(mx, my))
        assert g < 1e-4, (name, mx, my, g)
        assert s.value(mx, my) == pytest.approx(s.f_min, abs=1e-9)


def test_grid_rows_are_y():
    s = make_surface("rosenbrock")
    g = s.grid(11)
    assert g["z"].shape == (11, 11)
    i, j = 3, 7
    assert g["z"][i, j] == s.value(g["x"][j], g["y"][i])


def test_quadratic_condition_number_and_errors():
    s = make_surface("quadratic", condition=100.0, angle=20.0)
    # Hessian by finite differences of the exact gradient: eigenvalues 1 and κ
    h = 1e-5
    H = np.array([[(s.gradient(h, 0)[0] - s.gradient(-h, 0)[0]) / (2 * h), (s.gradient(0, h)[0] - s.gradient(0, -h)[0]) / (2 * h)],
                  [(s.gradient(h, 0)[1] - s.gradient(-h, 0)[1]) / (2 * h), (s.gradient(0, h)[1] - s.gradient(0, -h)[1]) / (2 * h)]])
    ev = np.linalg.eigvalsh(H)
    assert ev == pytest.approx([1.0, 100.0], rel=1e-6)
    assert s.key != make_surface("quadratic", condition=10.0).key
    with pytest.raises(StepwiseError):
        make_surface("quadratic", condition=0.5)
    with pytest.raises(StepwiseError):
        make_surface("nope")
