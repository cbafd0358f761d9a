"""The optimizer lab's view, fed synthetic snapshots (no engine): items, arrows, intents."""
from __future__ import annotations

import numpy as np
import pytest
from PySide6 import QtCore

from widgets.style import configure_pyqtgraph
from widgets.growing_curves import thin_path
from widgets.optimizer_common import thin_curve
from widgets.optimizer_view import OptimizerView

NAMES = ["sgd", "momentum", "adam"]


def surface(key="demo"):
    x = np.linspace(-2, 2, 41)
    y = np.linspace(-1, 3, 41)
    X, Y = np.meshgrid(x, y)
    return {"x": x, "y": y, "z": (1 - X) ** 2 + 5 * (Y - X * X) ** 2, "id": "demo", "title": "Demo",
            "formula": "f = (1 − x)² + 5(y − x²)²", "bounds": (-2.0, 2.0, -1.0, 3.0), "start": (-1.5, 2.0),
            "minima": ((1.0, 1.0),), "f_min": 0.0, "log_scale": True, "key": key}


def comp(g, d, scale, step):
    return {"grad": np.array(g, float), "direction": np.array(d, float), "scale": np.array(scale, float),
            "step": np.array(step, float), "terms": {"v": np.array(d, float)}}


def view_data(n_points=5, key="demo"):
    t = np.linspace(0, 1, n_points)
    paths = np.stack([np.stack([-1.5 + k * 0.3 + t, 2.0 - 1.5 * t], axis=1) for k in range(3)])  # (3, L, 2)
    losses = np.stack([10.0 ** (-t * (k + 1)) for k in range(3)])
    return {
        "mode": "surface", "surface": surface(key), "optimizers": NAMES, "titles": ["SGD", "Momentum", "Adam"],
        "rules": ["θ ← θ − η·g", "v ← μ·v + g\nθ ← θ − η·v", "m ← …\nθ ← θ − η·m̂ / (√v̂ + ε)"],
        "direction_names": ["g", "v", "m̂"], "iterations": np.arange(n_points, dtype=float),
        "paths": paths, "losses": losses, "current": paths[:, -1].copy(), "current_loss": losses[:, -1].copy(),
        "stopped": [-1, -1, 3],
        "next_updates": [comp([1, 0], [1, 0], [0.1, 0.1], [-0.1, 0]), comp([1, 1], [2, 0.5], [0.05, 0.05], [-0.1, -0.025]),
                         {}],
        "optimizer_hyperparams": {"sgd": {"lr": 0.1}, "momentum": {"lr": 0.05, "momentum": 0.9},
                                  "adam": {"lr": 0.01, "beta1": 0.9, "beta2": 0.999}},
        "start": np.array([-1.5, 2.0]), "iteration": n_points - 1,
    }


def snap(v, playing=False, selected=1):
    return {"view": v, "iteration": v.get("iteration", 0), "playing": playing, "selected_block": selected, "phase": 0}


@pytest.fixture
def view(qtbot):
    configure_pyqtgraph()
    w = OptimizerView()
    qtbot.addWidget(w)
    w.resize(900, 800)
    w.show()
    return w


def test_paths_points_legend_and_loss_curves(view):
    v = view_data()
    view.set_snapshot(snap(v, playing=True))
    assert set(view.race.trails.trails) == set(NAMES)
    np.testing.assert_allclose(view.race.trails.path("momentum"), v["paths"][1])
    assert len(view.race.points.data) == 3
    rows = view.legend.rows
    assert [r[1] for r in rows] == ["SGD", "Momentum", "Adam"]
    assert rows[2][3] == "out at 3"  # the stopped one says so
    curve = view.surface.loss_plot.curves.path("adam")
    np.testing.assert_allclose(curve[:, 1], np.log10(v["losses"][2]))  # log scale: log10 of f
    assert "Demo" in view.race.title.text


def test_arrows_only_when_paused(view):
    v = view_data()
    view.set_snapshot(snap(v, playing=True))
    assert all(npts(item) == 0 for item in view.race.arrows["sgd"].values())
    view.set_snapshot(snap(v, playing=False, selected=1))
    sgd = view.race.arrows["sgd"]
    gx, gy = sgd["grad"].getData()
    assert len(gx) > 0
    sx, sy = sgd["step"].getData()
    p = v["current"][0]
    assert (sx[1], sy[1]) == pytest.approx((p[0] - 0.1, p[1]))  # the step arrow's tip: where it goes next
    assert npts(sgd["direction"]) == 0  # SGD's direction is g itself: no second arrow
    assert npts(view.race.arrows["momentum"]["direction"]) > 0
    assert npts(view.race.arrows["momentum"]["scale"]) > 0  # the selected one shows its scale
    text = view.surface.explainer.label.text()
    assert "Momentum" in text and "θ ← θ − η·v" in text and "Δθ" in text


def test_surface_drawn_once_per_key(view):
    view.set_snapshot(snap(view_data()))
    image = view.race.image.image
    view.set_snapshot(snap(view_data(6)))
    assert view.race.image.image is image
    view.set_snapshot(snap(view_data(6, key="other")))
    assert view.race.image.image is not image


def test_hyperparameter_edit_and_hide(view, qtbot):
    view.set_snapshot(snap(view_data()))
    box = view.table.boxes["momentum.momentum"]
    with qtbot.waitSignal(view.set_hyperparam, timeout=2000) as sig:
        box.setValue(0.5)
    assert sig.args == ["momentum.momentum", 0.5]
    assert "adam.beta2" in view.table.boxes and "sgd.momentum" not in view.table.boxes
    view.table.checks["adam"].setChecked(False)
    assert view.race.trails.path("adam") is None and view.surface.loss_plot.curves.path("adam") is None
    assert view.race.trails.path("sgd") is not None


def npts(item) -> int:
    x = item.getData()[0]
    return 0 if x is None else len(x)


def click_at(qtbot, view, x, y):
    vb = view.race.plot_item.vb
    scene_pos = vb.mapViewToScene(QtCore.QPointF(x, y))
    pos = view.race.mapFromScene(scene_pos)
    qtbot.mouseClick(view.race.viewport(), QtCore.Qt.MouseButton.LeftButton, pos=pos)


def test_click_sets_the_start_or_selects_a_point(view, qtbot):
    v = view_data()
    view.set_snapshot(snap(v))
    qtbot.wait(50)
    got = []
    view.apply_settings.connect(got.append)
    click_at(qtbot, view, 0.5, 0.25)
    assert got and [float(c) for c in got[-1]["start"].split(",")] == pytest.approx([0.5, 0.25], abs=0.02)
    with qtbot.waitSignal(view.select_block, timeout=2000) as sig:
        click_at(qtbot, view, *v["current"][2])
    assert sig.args == [2]


def test_network_mode_landscape_progress_and_result(view, qtbot):
    v = {"mode": "network", "optimizers": ["sgd", "adam"], "titles": ["SGD", "Adam"], "rules": ["", ""],
         "iterations": np.arange(1, 11, dtype=float), "losses": np.stack([np.linspace(2, 0.5, 10)] * 2),
         "optimizer_hyperparams": {"sgd": {"lr": 0.1}, "adam": {"lr": 0.001, "beta1": 0.9, "beta2": 0.999}},
         "iteration": 10, "recorded": 3}
    view.set_snapshot(snap(v))
    assert view.stack.currentIndex() == 1
    with qtbot.waitSignal(view.command, timeout=2000) as sig:
        view.landscape.compute_button.click()
    assert sig.args[0] == "landscape" and sig.args[1]["directions"] in ("pca", "random")
    view.on_task("landscape", {"progress": 0.5, "stage": "grid"})
    assert view.landscape.progress.value() == 500 and view.landscape.cancel_button.isEnabled()
    with qtbot.waitSignal(view.command, timeout=2000) as sig:
        view.landscape.cancel_button.click()
    assert sig.args[0] == "landscape_cancel"
    a = np.linspace(-1, 1, 7)
    result = {"done": True, "alpha": a, "beta": a, "loss": np.add.outer(a ** 2, a ** 2) + 0.1,
              "paths": {"sgd": np.array([[0, 0], [0.5, 0.2]]), "adam": np.array([[0, 0], [-0.3, 0.4]])},
              "explained": np.array([0.8, 0.15]), "directions": "pca", "iteration": 10}
    view.on_task("landscape", result)
    x, y = view.landscape.paths["adam"].getData()
    np.testing.assert_allclose(x, [0, -0.3])
    assert "80%" in view.landscape.plot.getAxis("bottom").labelText


def test_thinning_keeps_ends_and_extremes():
    xy = np.concatenate([np.linspace([0, 0], [1, 1], 50), np.full((1000, 2), 1.0) + 1e-9 * np.arange(1000)[:, None]])
    out = thin_path(xy, 0.01)
    assert len(out) < 60 and np.array_equal(out[0], xy[0]) and np.array_equal(out[-1], xy[-1])
    x = np.arange(5000.0)
    y = np.sin(x / 50)
    y[1234] = 9.0
    tx, ty = thin_curve(x, y, 600)
    assert len(tx) <= 610 and ty.max() == 9.0 and ty.min() == pytest.approx(-1, abs=1e-3)


def test_the_loss_plot_range_follows_a_new_race_back_to_its_start(qtbot):
    from widgets.optimizer_surface import RaceLossPlot
    plot = RaceLossPlot()
    qtbot.addWidget(plot)
    losses = lambda n: np.stack([np.linspace(10, 1, n), np.linspace(10, 0.1, n)])
    plot.set_curves(["sgd", "adam"], np.arange(4000.0), losses(4000), set())
    assert plot.fitted_range[1] >= 4000
    plot.set_curves(["sgd", "adam"], np.arange(3000.0), losses(3000), set())   # a step back: the range holds
    assert plot.fitted_range[1] >= 4000
    plot.set_curves(["sgd", "adam"], np.arange(20.0), losses(20), set())       # a new race from a clicked start
    assert plot.fitted_range[1] <= 30
