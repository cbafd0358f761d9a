"""A real network's loss landscape: a plane through parameter space, and the loss on a grid in it.

A network has thousands of parameters, so its loss surface cannot be drawn; a 2-D slice can.
Pick a centre θ_c and two directions d₁, d₂, and draw L(θ_c + α·d₁ + β·d₂) over a grid of (α, β).

- PCA directions (Li et al. 2018, "Visualizing the Loss Landscape of Neural Nets", §7): the
  top two principal directions of the trajectory θ₀, θ₁, … (displacements from the centre),
  so the plane is the one the training path moves in most.
- Filter-normalised random directions (Li et al. §4): a Gaussian direction, each filter
  (output unit) rescaled to the norm of the same filter in θ_c, biases left out, so the
  picture does not depend on the scale of the weights.

The trajectory is drawn by projecting each recorded θ onto the plane (least squares). Points
are not exactly in the plane, so the loss under a projected point is not exactly the loss the
network had there; the explained variance says how much of the path the plane holds.

Nothing here touches a live trainer's arrays: the grid is computed on a copy of the model, by a
generator that yields {"progress": fraction} and finally {"done": True, ...}. The app's worker
pumps it between training steps; cancelling is simply not pumping it any more.
"""
from __future__ import annotations

import copy
from typing import Callable, Iterator

import numpy as np

from . import StepwiseError

MAX_PCA_POINTS = 200  # trajectory points used to fit the directions (all are projected)


# ---------------------------------------------------------------------- vectors
def flatten(params: list[np.ndarray], dtype=np.float64) -> np.ndarray:
    """The parameters as one vector, in the order given."""
    return np.concatenate([np.asarray(p, dtype=dtype).ravel() for p in params])


def unflatten_into(vector: np.ndarray, params: list[np.ndarray]) -> None:
    """Write ``vector`` into the arrays ``params`` in place (their dtypes are kept)."""
    offset = 0
    for p in params:
        n = p.size
        p[...] = vector[offset:offset + n].reshape(p.shape)
        offset += n
    assert offset == vector.size, "vector and parameters differ in size"


def pca_directions(points: np.ndarray, center: np.ndarray, max_points: int = MAX_PCA_POINTS
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Top two principal directions of ``points`` (n, D) about ``center`` (D,).

    Returns (d1, d2, explained) with unit vectors d1 ⟂ d2 and ``explained`` the fraction of
    Σ‖θ_i − θ_c‖² along each. Uses the n×n Gram matrix (n ≪ D): if M = U S Vᵀ then
    M Mᵀ = U S² Uᵀ and the right singular vectors are V = Mᵀ U / S.
    """
    points = np.asarray(points, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] != center.size:
        raise ValueError("points must be (n, D) with D the size of the centre")
    if len(points) > max_points:
        points = points[np.linspace(0, len(points) - 1, max_points).round().astype(int)]
    M = points - center  # (n, D) displacements from the centre
    gram = M @ M.T  # (n, n)
    evals, evecs = np.linalg.eigh(gram)  # ascending
    order = np.argsort(evals)[::-1]
    evals, evecs = np.clip(evals[order], 0.0, None), evecs[:, order]
    total = float(evals.sum())
    if len(evals) < 2 or evals[1] <= 1e-12 * max(total, 1e-300):
        raise StepwiseError("The trajectory is too short to find two directions; train a few more iterations.")
    dirs = []
    for k in range(2):
        d = M.T @ evecs[:, k] / np.sqrt(evals[k])  # (D,) right singular vector
        d /= np.linalg.norm(d)
        # fix the sign so the same trajectory always gives the same picture: the path's end is at α, β ≥ 0
        if d @ M[-1] < 0:
            d = -d
        dirs.append(d)
    explained = evals[:2] / total if total > 0 else np.zeros(2)
    return dirs[0], dirs[1], explained


def default_filter_axis(shape: tuple) -> int | None:
    """The axis that indexes filters (output units): Dense weights (in, out) -> 1; conv weights
    (C_out, C_in, kh, kw) -> 0; biases and other vectors -> None (left out, as Li et al. do)."""
    if len(shape) == 2:
        return 1
    if len(shape) >= 3:
        return 0
    return None


def filter_normalized_direction(params: list[np.ndarray], rng: np.random.Generator,
                                filter_axes: list[int | None] | None = None) -> np.ndarray:
    """A random direction with each filter scaled to the norm of that filter in ``params``:
    d_f ← d_f / ‖d_f‖ · ‖θ_f‖ (Li et al. 2018, eq. 1); vectors (biases) get 0."""
    parts = []
    for k, p in enumerate(params):
        p = np.asarray(p, dtype=np.float64)
        axis = default_filter_axis(p.shape) if filter_axes is None else filter_axes[k]
        if axis is None:
            parts.append(np.zeros(p.size))
            continue
        d = rng.standard_normal(p.shape)
        other = tuple(a for a in range(p.ndim) if a != axis)
        d_norm = np.sqrt((d * d).sum(axis=other, keepdims=True))
        p_norm = np.sqrt((p * p).sum(axis=other, keepdims=True))
        parts.append((d / np.maximum(d_norm, 1e-12) * p_norm).ravel())
    return np.concatenate(parts)


def random_directions(params: list[np.ndarray], rng: np.random.Generator,
                      filter_axes: list[int | None] | None = None) -> tuple[np.ndarray, np.ndarray]:
    return (filter_normalized_direction(params, rng, filter_axes),
            filter_normalized_direction(params, rng, filter_axes))


def project(points: np.ndarray, center: np.ndarray, d1: np.ndarray, d2: np.ndarray) -> np.ndarray:
    """(n, D) points -> (n, 2) coordinates (α, β) of their least-squares projection on the plane
    θ_c + α d1 + β d2: solve [d1 d2]ᵀ[d1 d2]·(α, β) = [d1 d2]ᵀ(θ − θ_c)."""
    points = np.atleast_2d(np.asarray(points, dtype=np.float64))
    D = np.stack([d1, d2], axis=1)  # (D, 2)
    rhs = (points - center) @ D  # (n, 2)
    return np.linalg.solve(D.T @ D, rhs.T).T


def grid_extent(coords: np.ndarray, margin: float = 0.25) -> tuple[float, float, float, float]:
    """A box around the projected points, ``margin`` of each span added on every side."""
    coords = np.asarray(coords, dtype=np.float64)
    lo, hi = coords.min(axis=0), coords.max(axis=0)
    span = hi - lo
    span = np.where(span > 1e-9, span, np.maximum(np.abs(hi), 1.0) * 0.5)
    lo, hi = lo - margin * span, hi + margin * span
    return float(lo[0]), float(hi[0]), float(lo[1]), float(hi[1])


# ---------------------------------------------------------------------- the loss on a plane
def loss_grid(plane_loss: Callable[[float, float], float], extent: tuple[float, float, float, float],
              resolution: int = 25) -> Iterator[dict]:
    """L(α, β) on a resolution×resolution grid: yields {"progress": f} after each point, and finally
    {"done": True, "alpha": (R,), "beta": (R,), "loss": (R, R)} with loss[i, j] at (alpha[j], beta[i])."""
    a0, a1, b0, b1 = extent
    alphas = np.linspace(a0, a1, resolution)
    betas = np.linspace(b0, b1, resolution)
    z = np.empty((resolution, resolution))
    n = resolution * resolution
    for i, b in enumerate(betas):
        for j, a in enumerate(alphas):
            z[i, j] = plane_loss(float(a), float(b))
            yield {"progress": (i * resolution + j + 1) / n}
    yield {"done": True, "alpha": alphas, "beta": betas, "loss": z}


class ClassifierPlaneLoss:
    """Mean cross-entropy of a NumPy classifier (a deep copy of ``model``) on (x, y) at
    θ_c + α d1 + β d2, evaluated without dropout.

    When the first layer with parameters is a Dense layer (after parameter-free layers such as
    dropout, the identity at evaluation), its pre-activation is linear in the parameters:
        x·(W_c + α D₁ + β D₂) + (b_c + α e₁ + β e₂) = x·W_c + α·x·D₁ + β·x·D₂ + (b_c + α e₁ + β e₂)
    so three matrix products made once serve the whole grid (the biggest product of an MLP).
    """

    def __init__(self, model, x: np.ndarray, y: np.ndarray, center: np.ndarray, d1: np.ndarray, d2: np.ndarray):
        from .numpy_engine.layers import Dense
        from .numpy_engine.losses import SoftmaxCrossEntropy

        self.model = copy.deepcopy(model)  # never touch the live model (its caches feed the views)
        self.params = self.model.params()
        self.dtype = self.params[0].dtype
        self.center, self.d1, self.d2 = center, d1, d2
        self.y = y
        self.loss = SoftmaxCrossEntropy()
        self.x = x
        layers = self.model.layers
        first = next(i for i, layer in enumerate(layers) if layer.params())
        self.fast = isinstance(layers[first], Dense) and all(not layers[i].params() for i in range(first))
        self.rest = layers[first + 1:]
        if self.fast:
            dense = layers[first]
            wsl = slice(0, dense.weight.size)  # the layers before it have no parameters
            bsl = slice(wsl.stop, wsl.stop + dense.bias.size)
            shape = dense.weight.shape
            xf = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
            # (N, out) each: the pre-activation's three parts
            self.xw = xf @ center[wsl].reshape(shape)
            self.xd1 = xf @ d1[wsl].reshape(shape)
            self.xd2 = xf @ d2[wsl].reshape(shape)
            self.b = (center[bsl], d1[bsl], d2[bsl])
            self.activation = dense.operations[2]
            self.rest_params = [p for layer in self.rest for p in layer.params()]
            self.rest_slice = slice(bsl.stop, center.size)

    def at(self, theta: np.ndarray) -> float:
        """The loss at any parameter vector (a full forward pass)."""
        unflatten_into(theta, self.params)
        logits = self.model.predict(self.x)
        return float(self.loss.forward(np.asarray(logits, dtype=np.float64), self.y))

    def __call__(self, alpha: float, beta: float) -> float:
        theta = self.center + alpha * self.d1 + beta * self.d2
        if not self.fast:
            return self.at(theta)
        else:
            bc, e1, e2 = self.b
            z = self.xw + alpha * self.xd1 + beta * self.xd2 + (bc + alpha * e1 + beta * e2)  # (N, out)
            h = self.activation.forward(z.astype(self.dtype), False)
            unflatten_into(theta[self.rest_slice], self.rest_params)
            for layer in self.rest:
                h = layer.forward(h, training=False)
            logits = h
        return float(self.loss.forward(np.asarray(logits, dtype=np.float64), self.y))


def plane_landscape(model, x: np.ndarray, y: np.ndarray, trajectories: dict[str, np.ndarray],
                    directions: str = "pca", center: str = "first", resolution: int = 25,
                    seed: int = 0, margin: float = 0.25) -> Iterator[dict]:
    """The whole computation as a generator: directions, projections, then the grid.

    trajectories: name -> (n_i, D) recorded parameter vectors (one per optimizer; all from the
    same model structure). centre: "first" (the first point of the first trajectory: the shared
    start) or "last" (its last point, as Li et al. do for one trajectory). Shared directions
    are fitted on all trajectories together, so every path is drawn on one plane.
    Final dict: alpha, beta, loss (grid), paths {name: (n_i, 2)}, path_loss {name: (n_i,)} (the
    true loss at each recorded point, to compare with the plane), explained, directions,
    center_loss.
    """
    if directions not in ("pca", "random"):
        raise StepwiseError(f"Unknown directions {directions!r}; use 'pca' or 'random'.")
    if not 5 <= int(resolution) <= 101:
        raise StepwiseError("The landscape resolution must be between 5 and 101 points per side.")
    trajs = {k: np.atleast_2d(np.asarray(v, dtype=np.float64)) for k, v in trajectories.items()}
    if not trajs or all(len(v) == 0 for v in trajs.values()):
        raise StepwiseError("No trajectory has been recorded yet; train a few iterations first.")
    first = next(iter(trajs.values()))
    c = first[0] if center == "first" else first[-1]
    yield {"progress": 0.0, "stage": "directions"}
    if directions == "pca":
        d1, d2, explained = pca_directions(np.concatenate(list(trajs.values())), c)
    else:
        params = copy.deepcopy(model).params()
        unflatten_into(c, params)
        d1, d2 = random_directions(params, np.random.default_rng(seed))
        explained = np.full(2, np.nan)
    paths = {k: project(v, c, d1, d2) for k, v in trajs.items()}
    extent = grid_extent(np.concatenate(list(paths.values())), margin)
    if directions == "random":
        # random directions are as long as the weights (filter-normalised), and a training path
        # hardly projects onto them: show at least α, β ∈ [−1, 1], as Li et al. do
        extent = (min(extent[0], -1.0), max(extent[1], 1.0), min(extent[2], -1.0), max(extent[3], 1.0))
    yield {"progress": 0.02, "stage": "grid"}
    plane = ClassifierPlaneLoss(model, x, y, c, d1, d2)
    result = None
    for msg in loss_grid(plane, extent, resolution):
        if msg.get("done"):
            result = msg
        else:
            yield {"progress": 0.02 + 0.9 * msg["progress"], "stage": "grid"}
    # the true loss at (a few of) the recorded points, to show how far the plane is from the path
    path_loss = {}
    for k, v in trajs.items():
        idx = np.unique(np.linspace(0, len(v) - 1, min(len(v), 20)).round().astype(int))
        path_loss[k] = {"index": idx, "loss": np.array([plane.at(v[i]) for i in idx])}
        yield {"progress": min(0.99, 0.92 + 0.07 * (list(trajs).index(k) + 1) / len(trajs)), "stage": "path"}
    yield {"done": True, "alpha": result["alpha"], "beta": result["beta"], "loss": result["loss"],
           "paths": paths, "path_loss": path_loss, "explained": explained, "directions": directions,
           "center": center, "extent": extent, "resolution": int(resolution),
           "center_loss": float(plane(0.0, 0.0))}


def classifier_landscape(trainer, trajectory: list[np.ndarray] | np.ndarray, directions: str = "pca",
                         resolution: int = 25, n_examples: int = 2000, seed: int = 0) -> Iterator[dict]:
    """The MLP (or CNN) lab's landscape: ``trainer`` is a NumpyClassifierTrainer and ``trajectory``
    its recorded parameter vectors (``flatten(trainer.model.params())`` every few iterations).
    Centre: the last point (Li et al.); loss on the first ``n_examples`` held-out images."""
    traj = np.asarray(trajectory, dtype=np.float64)
    if traj.ndim != 2 or len(traj) < 3:
        raise StepwiseError("Record at least 3 points of the trajectory (train a few more iterations) "
                            "before computing the landscape.")
    x = trainer.prepare(trainer.data.heldout_x[:n_examples])
    y = trainer.data.heldout_y[:n_examples]
    yield from plane_landscape(trainer.model, x, y, {trainer.lab: traj}, directions=directions, center="last",
                               resolution=resolution, seed=seed)


class ParameterTrajectory(dict):
    """iteration -> the flat parameter vector (float32) recorded then, for the landscape view.

    Recorded every ``every`` iterations; past ``max_records`` every other record is dropped and
    recording halves its rate. Like the loss history it is not keyframe state: going back
    truncates it, and replay records the same vectors again."""

    def __init__(self, every: int = 25, max_records: int = 100):
        super().__init__()
        self.every, self.max_records = int(every), int(max_records)

    def maybe_record(self, iteration: int, params: Callable[[], list[np.ndarray]]) -> None:
        if iteration % self.every:
            return
        self[iteration] = flatten(params(), np.float32)
        if len(self) > self.max_records:  # keep every other record, record half as often
            self.every *= 2
            for k in [k for k in self if k % self.every]:
                del self[k]

    def truncate(self, iteration: int) -> None:
        for k in [k for k in self if k > iteration]:
            del self[k]

    def path_to(self, iteration: int, current: list[np.ndarray]) -> list[np.ndarray]:
        """The recorded points before ``iteration``, then the current parameters."""
        return [self[k] for k in sorted(self) if k < iteration] + [flatten(current, np.float32)]

    def iterations_to(self, iteration: int) -> list[int]:
        """The iteration of each point of ``path_to(iteration, ...)``."""
        return [k for k in sorted(self) if k < iteration] + [int(iteration)]


def with_path_iterations(task: Iterator[dict], iterations: list[int]) -> Iterator[dict]:
    """A landscape task whose final result also says at which iteration each path point was
    recorded (``path_iterations``), so a view can put the "now" dot where the timeline is."""
    for progress in task:
        if progress.get("done") and "paths" in progress:
            progress = dict(progress, path_iterations={name: list(iterations) for name in progress["paths"]})
        yield progress
