"""A real network's loss landscape: the loss on a plane of parameter space, with training paths on top.

Reusable by any lab whose trainer answers ``command("landscape", {...})`` with a task (see
engines/landscape.py): the panel emits ``compute(args)`` and ``cancel()``, shows the task's
progress (``set_progress``) and draws the final result (``set_result``). It never computes.
"""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtWidgets

from .common import SERIES_COLORS, fmt

CONTOUR_MAP = pg.ColorMap([0.0, 0.5, 1.0], [(250, 250, 252), (198, 219, 239), (107, 174, 214)])


def contour_lines(x: np.ndarray, y: np.ndarray, z: np.ndarray, levels) -> tuple[np.ndarray, np.ndarray]:
    """Isolines of z (rows = y) at ``levels`` as one NaN-separated polyline in data coordinates."""
    dx = (x[-1] - x[0]) / max(len(x) - 1, 1)
    dy = (y[-1] - y[0]) / max(len(y) - 1, 1)
    xs, ys = [], []
    for level in levels:
        for line in pg.functions.isocurve(z, level, connected=True, extendToEdge=True):
            pts = np.asarray(line, dtype=np.float64)  # (k, 2): (row, column) in pixel-edge units
            ys.append(y[0] + (pts[:, 0] - 0.5) * dy)
            xs.append(x[0] + (pts[:, 1] - 0.5) * dx)
            xs.append([np.nan])
            ys.append([np.nan])
    if not xs:
        return np.zeros(0), np.zeros(0)
    return np.concatenate(xs), np.concatenate(ys)


def image_rect(x: np.ndarray, y: np.ndarray) -> QtCore.QRectF:
    """The rectangle that puts each pixel's centre on its grid sample."""
    dx = (x[-1] - x[0]) / max(len(x) - 1, 1)
    dy = (y[-1] - y[0]) / max(len(y) - 1, 1)
    return QtCore.QRectF(x[0] - dx / 2, y[0] - dy / 2, x[-1] - x[0] + dx, y[-1] - y[0] + dy)


def upsample(z: np.ndarray, factor: int = 4) -> np.ndarray:
    """Bilinear interpolation of a coarse grid (a 25×25 landscape) for a smooth picture; the
    samples themselves are kept: out[factor·i, factor·j] = z[i, j]."""
    r, c = z.shape
    yi = np.linspace(0, r - 1, (r - 1) * factor + 1)
    xi = np.linspace(0, c - 1, (c - 1) * factor + 1)
    y0 = np.minimum(np.floor(yi).astype(int), r - 2)
    x0 = np.minimum(np.floor(xi).astype(int), c - 2)
    ty, tx = (yi - y0)[:, None], (xi - x0)[None, :]
    a, b = z[y0][:, x0], z[y0][:, x0 + 1]
    c_, d = z[y0 + 1][:, x0], z[y0 + 1][:, x0 + 1]
    return (1 - ty) * ((1 - tx) * a + tx * b) + ty * ((1 - tx) * c_ + tx * d)


def log_levels(z: np.ndarray, n: int = 14) -> np.ndarray:
    lo, hi = float(np.nanmin(z)), float(np.nanmax(z))
    if not np.isfinite(lo) or hi - lo < 1e-12:
        return np.array([lo])
    return np.linspace(lo, hi, n + 2)[1:-1]


class LandscapeView(QtWidgets.QWidget):
    compute = QtCore.Signal(dict)
    cancel = QtCore.Signal()

    def __init__(self, parent=None, title: str = "Loss landscape around the training paths"):
        super().__init__(parent)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        row = QtWidgets.QHBoxLayout()
        row.addWidget(QtWidgets.QLabel("Plane:"))
        self.directions = QtWidgets.QComboBox()
        self.directions.addItem("top 2 principal directions of the paths (PCA)", "pca")
        self.directions.addItem("2 random filter-normalised directions", "random")
        self.directions.setToolTip("PCA: the plane the training paths move in most (Li et al. 2018, §7).\n"
                                   "Random: a random plane, each filter scaled like the weights (Li et al. §4).")
        row.addWidget(self.directions)
        row.addWidget(QtWidgets.QLabel("grid"))
        self.resolution = QtWidgets.QSpinBox()
        self.resolution.setRange(5, 101)
        self.resolution.setValue(25)
        self.resolution.setSuffix(" × same")
        row.addWidget(self.resolution)
        self.compute_button = QtWidgets.QPushButton("Compute landscape")
        self.compute_button.setToolTip("Compute the loss on a grid in this plane, in the background (training goes on)")
        self.compute_button.clicked.connect(self._emit_compute)
        row.addWidget(self.compute_button)
        self.progress = QtWidgets.QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setTextVisible(True)
        self.progress.setFormat("")
        row.addWidget(self.progress, 1)
        self.cancel_button = QtWidgets.QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self._emit_cancel)
        row.addWidget(self.cancel_button)
        layout.addLayout(row)

        self.plot_widget = pg.PlotWidget()
        self.plot = self.plot_widget.getPlotItem()
        self.plot.setTitle(title, size="10pt")
        self.plot.setLabel("bottom", "α (direction 1)")
        self.plot.setLabel("left", "β (direction 2)")
        self.image = pg.ImageItem()
        self.image.setColorMap(CONTOUR_MAP)
        self.plot.addItem(self.image)
        self.contours = pg.PlotDataItem([], [], pen=pg.mkPen("#7a8a99", width=1), connect="finite")
        self.plot.addItem(self.contours)
        self.legend = self.plot.addLegend(offset=(8, 8), labelTextSize="9pt")
        self.legend.setBrush(pg.mkBrush(255, 255, 255, 215))
        self.paths: dict[str, pg.PlotDataItem] = {}
        self.ends = pg.ScatterPlotItem(size=11, pen=pg.mkPen("k", width=1.2))
        self.plot.addItem(self.ends)
        self.start = pg.ScatterPlotItem(size=16, symbol="star", brush="w", pen=pg.mkPen("k", width=1.2))
        self.plot.addItem(self.start)
        layout.addWidget(self.plot_widget, 1)
        self.caption = QtWidgets.QLabel("Press <b>Compute landscape</b> after training a while: the loss is "
                                        "computed on a grid of the plane, and every path is drawn on it.")
        self.caption.setWordWrap(True)
        self.caption.setTextFormat(QtCore.Qt.TextFormat.RichText)
        layout.addWidget(self.caption)
        self.stale = QtWidgets.QLabel("<b>These paths are another branch's</b> (computed before the branch shown "
                                      "now): press <b>Compute landscape</b> for this branch's path and its dot.")
        self.stale.setWordWrap(True)
        self.stale.setStyleSheet("color: #8a4b00")
        self.stale.setVisible(False)
        layout.addWidget(self.stale)
        self.line = 0                     # the branch on screen (snapshot "line")
        self.result_line: int | None = None   # the branch the landscape was computed on
        self.result_id = None
        self.busy = False
        self.path_points: dict[str, tuple[np.ndarray, np.ndarray, str]] = {}  # name -> (iterations, (k, 2) points, colour)
        self.cursor_iteration: int | None = None

    # ------------------------------------------------------------------ intents
    def _emit_compute(self) -> None:
        self.set_busy(True)
        self.compute.emit({"directions": self.directions.currentData(), "resolution": self.resolution.value()})

    def _emit_cancel(self) -> None:
        self.cancel.emit()
        self.set_busy(False)
        self.progress.setFormat("cancelled")

    # ------------------------------------------------------------------ rendering
    def set_busy(self, busy: bool) -> None:
        self.busy = busy
        self.compute_button.setEnabled(not busy)
        self.cancel_button.setEnabled(busy)
        if busy:
            self.progress.setValue(0)
            self.progress.setFormat("starting…")

    def set_progress(self, fraction: float, stage: str = "") -> None:
        if not self.busy:
            self.set_busy(True)
        self.progress.setValue(int(round(1000 * max(0.0, min(1.0, fraction)))))
        words = {"directions": "finding the directions", "grid": "loss on the grid", "path": "loss along the paths"}
        self.progress.setFormat(f"{words.get(stage, 'computing')} · {100 * fraction:.0f}%")

    def set_result(self, result: dict | None, colors: dict[str, str] | None = None,
                   titles: dict[str, str] | None = None) -> None:
        """Draw a finished landscape (the engine's final dict). Same result object: nothing to do."""
        if result is None or "loss" not in result:
            return
        if self.busy:
            self.set_busy(False)
        self.progress.setValue(1000)
        self.progress.setFormat(f"done · it {result['iteration']}" if "iteration" in result else "done")
        key = (id(result["loss"]), result.get("iteration"), result.get("directions"))
        if key == self.result_id:
            return
        self.result_id = key
        self.result_line = self.line
        self.stale.setVisible(False)
        a, b, z = np.asarray(result["alpha"]), np.asarray(result["beta"]), np.asarray(result["loss"], dtype=np.float64)
        lz = np.log10(np.maximum(z, 1e-12))
        if min(lz.shape) >= 2:
            fine = upsample(lz)
            fa = np.linspace(a[0], a[-1], fine.shape[1])
            fb = np.linspace(b[0], b[-1], fine.shape[0])
        else:
            fine, fa, fb = lz, a, b
        self.image.setImage(fine, levels=(float(lz.min()), float(lz.max()) + 1e-12), autoLevels=False)
        self.image.setRect(image_rect(fa, fb))
        cx, cy = contour_lines(a, b, lz, log_levels(lz, 12))
        self.contours.setData(cx, cy, connect="finite")
        paths = result.get("paths", {})
        for name in list(self.paths):
            if name not in paths:
                self.plot.removeItem(self.paths.pop(name))
                self.legend.removeItem(name)
        spots, start = [], None
        iterations = result.get("path_iterations", {})
        self.path_points = {}
        for i, (name, p) in enumerate(paths.items()):
            p = np.asarray(p)
            c = (colors or {}).get(name, SERIES_COLORS[i % len(SERIES_COLORS)])
            label = (titles or {}).get(name, name)
            if name not in self.paths:
                self.paths[name] = self.plot.plot([], [], pen=pg.mkPen(c, width=2.5), name=label)
            self.paths[name].setData(p[:, 0], p[:, 1])
            spots.append({"pos": tuple(p[-1]), "brush": pg.mkBrush(c)})
            if name in iterations and len(iterations[name]) == len(p):
                self.path_points[name] = (np.asarray(iterations[name], dtype=np.float64), p, c)
            start = p[0] if start is None else start
        self.ends.setData(spots)
        self.start.setData([{"pos": tuple(start)}] if start is not None else [])
        if self.path_points and self.cursor_iteration is not None:
            self.set_cursor(self.cursor_iteration, force=True)
        self.plot.setRange(xRange=(a[0], a[-1]), yRange=(b[0], b[-1]), padding=0)
        ex = np.asarray(result.get("explained", [np.nan, np.nan]), dtype=np.float64)
        if result.get("directions") == "pca" and np.all(np.isfinite(ex)):
            self.plot.setLabel("bottom", f"α: principal direction 1 ({100 * ex[0]:.0f}% of the path's variance)")
            self.plot.setLabel("left", f"β: principal direction 2 ({100 * ex[1]:.0f}%)")
            plane = "the plane of the paths' top two principal directions, through the shared start (★)"
        else:
            self.plot.setLabel("bottom", "α: random filter-normalised direction 1")
            self.plot.setLabel("left", "β: random direction 2")
            plane = "a random plane through the start (★); the paths barely project onto it"
        self.caption.setText(
            f"Held-out loss (log colour scale, min {fmt(float(z.min()))}, max {fmt(float(z.max()))}) on {plane}. "
            "Each path is the projection of a network's recorded weights; the dot is where it is at the "
            "timeline's iteration (between recorded points: interpolated). "
            "The paths are not exactly in the plane, so the loss under a dot is only close to the network's real loss.")

    def set_cursor(self, iteration: int, force: bool = False, line: int | None = None) -> None:
        """Put each path's dot where the network was at ``iteration`` (the timeline), along the path; on
        another branch (``line``) than the one computed, no dot: the path is not this branch's."""
        if line is not None and line != self.line:
            self.line, force = int(line), True
        if not force and iteration == self.cursor_iteration:
            return
        self.cursor_iteration = int(iteration)
        if not self.path_points:
            return
        other = self.result_line is not None and self.result_line != self.line
        self.stale.setVisible(other)
        if other:
            self.ends.setData([])
            return
        spots = []
        for its, points, c in self.path_points.values():
            # np.interp holds the ends: beyond the last recorded point the dot stays at the end
            spots.append({"pos": (float(np.interp(iteration, its, points[:, 0])),
                                  float(np.interp(iteration, its, points[:, 1]))), "brush": pg.mkBrush(c)})
        self.ends.setData(spots)


def fake_result(names: tuple[str, ...] = ("sgd", "momentum", "adam"), resolution: int = 25) -> dict:
    """A finished landscape shaped like the engine's: a held-out loss over a (β, α) grid around a
    valley, and one made-up training path per optimizer sliding into it."""
    a = np.linspace(-1.0, 1.5, resolution)
    b = np.linspace(-1.0, 1.0, resolution)
    A, B = np.meshgrid(a, b)                                # (β, α): rows are β
    loss = 0.15 + 2.0 * (A - 1.0) ** 2 * 0.3 + 1.5 * B ** 2 + 0.2 * np.sin(3 * A) ** 2
    paths, iterations = {}, {}
    t = np.linspace(0.0, 1.0, 40)
    for k, name in enumerate(names):
        bend = 0.4 * (k - 1)
        paths[name] = np.stack([t * (1.0 - 0.1 * k), bend * np.sin(np.pi * t) * (1 - t)], axis=1)  # (40, 2)
        iterations[name] = np.linspace(0, 400, len(t))
    return {"alpha": a, "beta": b, "loss": loss, "paths": paths, "path_iterations": iterations,
            "directions": "pca", "explained": np.array([0.81, 0.12]), "iteration": 400, "done": True}


if __name__ == "__main__":  # python -m widgets.landscape_view [--screenshot PATH]
    from .demo import run_demo

    def build() -> LandscapeView:
        view = LandscapeView()
        view.set_result(fake_result(), {"sgd": "#d62728", "momentum": "#1f77b4", "adam": "#2ca02c"},
                        {"sgd": "SGD", "momentum": "Momentum", "adam": "Adam"})
        view.set_cursor(250)
        return view

    run_demo(build, (800, 620))
