"""Two-dimensional test surfaces for the optimizer race, each with its exact gradient.

Every surface is a function f(x, y) that works on scalars and on arrays (for the contour
grid), its gradient written out by hand from the formula (tested against central
differences), the region drawn, a default start point, the known minima, and learning rates
that make a watchable race from the default start (every one is editable while it plays).
"""
from __future__ import annotations

import math

import numpy as np

from . import StepwiseError


class Surface:
    id = ""
    title = ""
    formula = ""
    bounds: tuple[float, float, float, float] = (-2.0, 2.0, -2.0, 2.0)  # x_min, x_max, y_min, y_max
    start: tuple[float, float] = (0.0, 0.0)
    minima: tuple[tuple[float, float], ...] = ()
    f_min: float | None = 0.0   # None: unbounded below (no log scale)
    lrs: dict[str, float] = {}  # default learning rate per optimizer id

    def value(self, x, y):
        raise NotImplementedError

    def gradient(self, x, y):
        raise NotImplementedError

    @property
    def key(self) -> str:
        """Changes whenever the surface's shape changes (the views cache the contour grid by it)."""
        return self.id

    @property
    def log_scale(self) -> bool:
        return self.f_min is not None

    def grid(self, n: int = 160) -> dict[str, np.ndarray]:
        """f on an n×n grid over ``bounds``: z[i, j] = f(x[j], y[i]) (rows are y)."""
        x0, x1, y0, y1 = self.bounds
        xs = np.linspace(x0, x1, n)
        ys = np.linspace(y0, y1, n)
        X, Y = np.meshgrid(xs, ys)  # (n, n), row i is y = ys[i]
        return {"x": xs, "y": ys, "z": np.asarray(self.value(X, Y), dtype=np.float64)}

    def describe(self) -> dict:
        return {"id": self.id, "title": self.title, "formula": self.formula, "bounds": self.bounds,
                "start": self.start, "minima": self.minima, "f_min": self.f_min, "log_scale": self.log_scale,
                "key": self.key}


class Rosenbrock(Surface):
    """A curved, flat-bottomed valley: easy to find, slow to follow to the minimum at (a, a²)."""
    id, title = "rosenbrock", "Rosenbrock"
    formula = "f = (1 − x)² + 100·(y − x²)²"
    bounds = (-2.0, 2.0, -1.0, 3.0)
    start = (-1.5, 2.5)
    minima = ((1.0, 1.0),)
    a, b = 1.0, 100.0
    lrs = {"sgd": 1e-3, "momentum": 3e-4, "nesterov": 3e-4, "adagrad": 0.3, "rmsprop": 0.01, "adadelta": 1.0,
           "adam": 0.1, "adamax": 0.1, "adamw": 0.1}

    def value(self, x, y):
        return (self.a - x) ** 2 + self.b * (y - x * x) ** 2

    def gradient(self, x, y):
        r = y - x * x
        # ∂f/∂x = −2(a − x) − 4b·x·(y − x²);  ∂f/∂y = 2b·(y − x²)
        return -2 * (self.a - x) - 4 * self.b * x * r, 2 * self.b * r


class Beale(Surface):
    """Sharp ridges and a long flat valley towards the minimum at (3, 0.5)."""
    id, title = "beale", "Beale"
    formula = "f = (1.5 − x + xy)² + (2.25 − x + xy²)² + (2.625 − x + xy³)²"
    bounds = (-4.5, 4.5, -4.5, 4.5)
    start = (1.0, 1.5)
    minima = ((3.0, 0.5),)
    lrs = {"sgd": 1e-3, "momentum": 1e-3, "nesterov": 1e-3, "adagrad": 0.5, "rmsprop": 0.01, "adadelta": 1.0,
           "adam": 0.05, "adamax": 0.05, "adamw": 0.05}

    def value(self, x, y):
        return (1.5 - x + x * y) ** 2 + (2.25 - x + x * y ** 2) ** 2 + (2.625 - x + x * y ** 3) ** 2

    def gradient(self, x, y):
        a = 1.5 - x + x * y
        b = 2.25 - x + x * y ** 2
        c = 2.625 - x + x * y ** 3
        # f = a² + b² + c²: ∂f/∂x = 2a(y − 1) + 2b(y² − 1) + 2c(y³ − 1);  ∂f/∂y = 2a·x + 2b·2xy + 2c·3xy²
        gx = 2 * a * (y - 1) + 2 * b * (y ** 2 - 1) + 2 * c * (y ** 3 - 1)
        gy = 2 * a * x + 4 * b * x * y + 6 * c * x * y ** 2
        return gx, gy


class Himmelblau(Surface):
    """Four minima of equal depth: which one an optimizer reaches depends on where it starts and how it moves."""
    id, title = "himmelblau", "Himmelblau"
    formula = "f = (x² + y − 11)² + (x + y² − 7)²"
    bounds = (-5.0, 5.0, -5.0, 5.0)
    start = (-0.3, -0.9)
    minima = ((3.0, 2.0), (-2.805118, 3.131312), (-3.779310, -3.283186), (3.584428, -1.848126))
    lrs = {"sgd": 0.005, "momentum": 0.002, "nesterov": 0.002, "adagrad": 0.5, "rmsprop": 0.02, "adadelta": 1.0,
           "adam": 0.05, "adamax": 0.05, "adamw": 0.05}

    def value(self, x, y):
        return (x * x + y - 11) ** 2 + (x + y * y - 7) ** 2

    def gradient(self, x, y):
        a = x * x + y - 11
        b = x + y * y - 7
        # ∂f/∂x = 2a·2x + 2b;  ∂f/∂y = 2a + 2b·2y
        return 4 * a * x + 2 * b, 2 * a + 4 * b * y


class Saddle(Surface):
    """A saddle point at the origin: a minimum along x, a maximum along y. Starting almost on the
    ridge (y ≈ 0), the gradient along y is tiny, so plain gradient descent lingers there."""
    id, title = "saddle", "Saddle"
    formula = "f = x² − y²"
    bounds = (-2.0, 2.0, -2.0, 2.0)
    start = (-1.8, 0.001)
    minima = ()
    f_min = None
    lrs = {"sgd": 0.02, "momentum": 0.005, "nesterov": 0.005, "adagrad": 0.1, "rmsprop": 0.01, "adadelta": 1.0,
           "adam": 0.02, "adamax": 0.02, "adamw": 0.02}

    def value(self, x, y):
        return x * x - y * y

    def gradient(self, x, y):
        return 2 * x, -2 * y  # ∂f/∂x = 2x;  ∂f/∂y = −2y


class Quadratic(Surface):
    """An ill-conditioned bowl: f = ½(λ₁u² + λ₂v²) with curvatures λ₁ = 1 and λ₂ = κ (the
    condition number) along axes (u, v) turned by ``angle`` degrees from (x, y). Gradient descent
    must keep η < 2/κ to stay stable along v, so it crawls along u."""
    id, title = "quadratic", "Ill-conditioned quadratic"
    bounds = (-2.5, 2.5, -2.5, 2.5)
    start = (-2.0, 1.0)
    minima = ((0.0, 0.0),)

    def __init__(self, condition: float = 10.0, angle: float = 0.0):
        if not (np.isfinite(condition) and 1.0 <= condition <= 1e4):
            raise StepwiseError("The condition number must be between 1 and 10000.")
        if not np.isfinite(angle):
            raise StepwiseError("The angle of the quadratic must be a number of degrees.")
        self.condition, self.angle = float(condition), float(angle)
        t = math.radians(self.angle)
        self.c, self.s = math.cos(t), math.sin(t)
        k = self.condition
        angle_text = f", turned {self.angle:g}°" if self.angle else ""
        self.formula = f"f = ½(u² + κ·v²), κ = {k:g}{angle_text}"
        base = 1.0 / k  # stable for SGD needs η < 2/κ
        self.lrs = {"sgd": 1.5 * base, "momentum": 0.5 * base, "nesterov": 0.5 * base, "adagrad": 0.5,
                    "rmsprop": 0.02, "adadelta": 1.0, "adam": 0.05, "adamax": 0.05, "adamw": 0.05}

    @property
    def key(self) -> str:
        return f"quadratic:{self.condition:g}:{self.angle:g}"

    def _uv(self, x, y):
        return self.c * x + self.s * y, -self.s * x + self.c * y  # rotate (x, y) into the principal axes

    def value(self, x, y):
        u, v = self._uv(x, y)
        return 0.5 * (u * u + self.condition * v * v)

    def gradient(self, x, y):
        u, v = self._uv(x, y)
        gu, gv = u, self.condition * v  # ∂f/∂u = u, ∂f/∂v = κv; rotate back: ∇f = Rᵀ (gu, gv)
        return self.c * gu - self.s * gv, self.s * gu + self.c * gv


SURFACES: dict[str, type[Surface]] = {cls.id: cls for cls in (Rosenbrock, Beale, Himmelblau, Saddle, Quadratic)}


def make_surface(name: str, condition: float = 10.0, angle: float = 0.0) -> Surface:
    if name not in SURFACES:
        raise StepwiseError(f"Unknown surface {name!r}; choose one of: {', '.join(SURFACES)}.")
    if name == "quadratic":
        return Quadratic(condition, angle)
    return SURFACES[name]()
