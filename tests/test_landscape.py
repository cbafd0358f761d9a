"""Landscape helpers: PCA directions, filter-normalised directions, projection, and the loss grid."""
from __future__ import annotations

import copy

import numpy as np
import pytest

from engines import StepwiseError
from engines.landscape import (ClassifierPlaneLoss, classifier_landscape, filter_normalized_direction, flatten,
                               grid_extent, loss_grid, pca_directions, plane_landscape, project, unflatten_into)
from engines.numpy_engine.layers import Dense, DropoutLayer
from engines.numpy_engine.losses import SoftmaxCrossEntropy
from engines.numpy_engine.model import Model


def tiny_model(dropout=False, dtype=np.float64):
    rng = np.random.default_rng(0)
    layers = [DropoutLayer("drop", 0.3, np.random.default_rng(1))] if dropout else []
    layers += [Dense("d1", 12, 6, "relu", rng, dtype), Dense("out", 6, 3, "linear", rng, dtype)]
    return Model(layers, SoftmaxCrossEntropy())


def test_pca_recovers_the_plane_of_a_planar_trajectory():
    rng = np.random.default_rng(0)
    D = 50
    u, v = np.linalg.qr(rng.standard_normal((D, 2)))[0].T
    c = rng.standard_normal(D)
    t = np.linspace(0, 1, 30)
    pts = c + np.outer(3 * t, u) + np.outer(np.sin(4 * t), v)
    d1, d2, explained = pca_directions(pts, c)
    assert abs(d1 @ d2) < 1e-10 and np.isclose(np.linalg.norm(d1), 1) and np.isclose(np.linalg.norm(d2), 1)
    basis = np.stack([u, v])
    for d in (d1, d2):  # d lies in span(u, v)
        assert np.linalg.norm(d - basis.T @ (basis @ d)) < 1e-10
    assert explained.sum() == pytest.approx(1.0, abs=1e-10)
    coords = project(pts, c, d1, d2)
    back = c + coords[:, :1] * d1 + coords[:, 1:] * d2
    np.testing.assert_allclose(back, pts, atol=1e-10)
    # same answer with the SVD
    _, s, vt = np.linalg.svd(pts - c, full_matrices=False)
    assert abs(abs(vt[0] @ d1) - 1) < 1e-10


def test_pca_needs_two_directions():
    c = np.zeros(5)
    with pytest.raises(StepwiseError):
        pca_directions(np.array([[1.0, 0, 0, 0, 0], [2.0, 0, 0, 0, 0]]), c)


def test_filter_normalised_direction_matches_each_filters_norm():
    rng = np.random.default_rng(3)
    W = rng.standard_normal((12, 6))
    b = rng.standard_normal(6)
    conv = rng.standard_normal((4, 2, 3, 3))
    d = filter_normalized_direction([W, b, conv], np.random.default_rng(5))
    dW = d[:W.size].reshape(W.shape)
    db = d[W.size:W.size + 6]
    dc = d[W.size + 6:].reshape(conv.shape)
    np.testing.assert_allclose(np.linalg.norm(dW, axis=0), np.linalg.norm(W, axis=0), rtol=1e-12)
    assert np.all(db == 0)
    np.testing.assert_allclose(np.linalg.norm(dc.reshape(4, -1), axis=1), np.linalg.norm(conv.reshape(4, -1), axis=1),
                               rtol=1e-12)


def test_loss_grid_protocol_and_extent():
    msgs = list(loss_grid(lambda a, b: a * a + 2 * b, (-1, 1, 0, 2), resolution=5))
    assert [m["progress"] for m in msgs[:-1]] == pytest.approx(np.arange(1, 26) / 25)
    done = msgs[-1]
    assert done["done"] and done["loss"][4, 0] == pytest.approx(1 + 4)  # alpha=-1, beta=2
    ext = grid_extent(np.array([[0.0, 0.0], [1.0, 2.0]]), margin=0.5)
    assert ext == (-0.5, 1.5, -1.0, 3.0)


@pytest.mark.parametrize("dropout", [False, True])
def test_fast_plane_loss_equals_the_full_forward(dropout):
    model = tiny_model(dropout)
    rng = np.random.default_rng(2)
    x, y = rng.standard_normal((40, 12)), rng.integers(0, 3, 40)
    c = flatten(model.params())
    d1, d2 = rng.standard_normal(c.size), rng.standard_normal(c.size)
    plane = ClassifierPlaneLoss(model, x, y, c, d1, d2)
    assert plane.fast
    for a, b in [(0, 0), (0.3, -0.2), (-1, 0.5)]:
        assert plane(a, b) == pytest.approx(plane.at(c + a * d1 + b * d2), rel=1e-12)
    # the live model is untouched
    assert np.array_equal(flatten(model.params()), c)


def test_plane_landscape_leaves_the_model_alone_and_can_stop_early():
    model = tiny_model()
    rng = np.random.default_rng(4)
    x, y = rng.standard_normal((30, 12)), rng.integers(0, 3, 30)
    c = flatten(model.params())
    trajs = {"a": c + np.cumsum(rng.standard_normal((8, c.size)) * 0.01, axis=0),
             "b": c + np.cumsum(rng.standard_normal((6, c.size)) * 0.01, axis=0)}
    before = copy.deepcopy(model.params())
    gen = plane_landscape(model, x, y, trajs, resolution=7)
    for _ in range(10):  # cancel part-way: simply stop pumping
        next(gen)
    gen.close()
    for p, q in zip(model.params(), before):
        assert np.array_equal(p, q)
    msgs = list(plane_landscape(model, x, y, trajs, resolution=7, directions="random", seed=1))
    res = msgs[-1]
    assert res["done"] and res["loss"].shape == (7, 7) and res["paths"]["b"].shape == (6, 2)
    assert all(len(v["loss"]) == len(v["index"]) for v in res["path_loss"].values())
    a0, a1, b0, b1 = res["extent"]
    for p in res["paths"].values():
        assert np.all((p[:, 0] >= a0) & (p[:, 0] <= a1) & (p[:, 1] >= b0) & (p[:, 1] <= b1))


def test_classifier_landscape_on_the_mlp_lab():
    from engines.labs import make_trainer
    from visualizer.session import Session
    t = make_trainer({"lab": "mlp", "hidden": "16", "dropout": 0.0})
    s = Session(t)
    traj = [flatten(t.model.params())]
    for _ in range(4):
        s.run(3)
        traj.append(flatten(t.model.params()))
    live = flatten(t.model.params())
    msgs = list(classifier_landscape(t, traj, resolution=5, n_examples=300))
    res = msgs[-1]
    assert res["done"] and res["paths"]["mlp"].shape == (5, 2)
    # the centre is the last point (Li et al.): it projects to the origin, and the loss there is the true loss
    np.testing.assert_allclose(res["paths"]["mlp"][-1], [0, 0], atol=1e-9)
    assert res["center_loss"] == pytest.approx(res["path_loss"]["mlp"]["loss"][-1], rel=1e-5)
    assert np.array_equal(flatten(t.model.params()), live)
    with pytest.raises(StepwiseError):
        next(classifier_landscape(t, traj[:2]))


def test_unflatten_round_trip():
    model = tiny_model(dtype=np.float32)
    v = flatten(model.params())
    params = copy.deepcopy(model.params())
    unflatten_into(v * 2, params)
    np.testing.assert_allclose(flatten(params), v * 2, rtol=1e-6)
