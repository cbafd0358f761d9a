"""Training curves: losses on top, held-out metrics below, a cursor at the current iteration.

Points arrive incrementally (only new iterations cross the process boundary); a reset
replaces everything (after a change that rewrites the future).
"""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6 import QtWidgets

from .common import SERIES_COLORS, HoverReadout, SteadyRange, fit_title, legend_below, no_si_prefix, wrapped

EMPTY_X_RANGE = (0.0, 100.0)  # what an empty plot shows: iterations 0..100, never the last run's axes
EMPTY_Y_RANGE = {"top": (0.0, 2.5), "bottom": (0.0, 1.0)}

PRETTY = {
    "loss": "training loss", "heldout_loss": "held-out loss", "heldout_accuracy": "held-out accuracy",
    "train_accuracy": "batch accuracy", "heldout_macro_f1": "held-out macro F1",
    "heldout_loss_per_char": "held-out loss/char",
}


KEY_COLORS = {"loss": "#4C78A8", "heldout_loss": "#F58518", "heldout_loss_per_char": "#F58518",
              "heldout_accuracy": "#54A24B", "heldout_macro_f1": "#B279A2"}


def thin(curve: pg.PlotDataItem, method: str) -> None:
    """A curve of thousands of points drawn as one bin a pixel column ("peak": each column's extremes,
    "mean": its mean), and only what is in view (pyqtgraph's default: five points a pixel, all of them)."""
    curve.opts["autoDownsampleFactor"] = 1.0
    curve.setDownsampling(auto=True, method=method)
    curve.setClipToView(True)


def pretty(key: str) -> str:
    return PRETTY.get(key, key.replace("_", " "))


def default_panel(key: str) -> str | None:
    """Which plot a metric goes on: 'top' (losses), 'bottom' (accuracies), or None (not plotted)."""
    if key == "train_accuracy" or key.startswith("_"):
        return None
    if "loss" in key:
        return "top"
    if "accuracy" in key or "f1" in key:
        return "bottom"
    return None



SeriesArrays = dict[str, tuple[np.ndarray, np.ndarray, int]]   # key -> (xs, ys, n used): the series in order


def append_point(arrays: SeriesArrays, series: dict[str, dict[int, float]], key: str, it: int, value: float) -> None:
    """Before ``series[key][it] = value``: points arrive in order (a new iteration each), so append to the
    key's arrays, grown by doubling; anything else (an iteration seen before, one out of order) drops
    them, to be rebuilt from the whole series once (series_arrays). Sorting the whole series again
    at every frame cost milliseconds after a few thousand iterations."""
    known = series.get(key)
    if key not in arrays and known:
        return   # to be rebuilt from the whole series: a point came again earlier in this batch
    xs, ys, n = arrays.get(key, (np.empty(0), np.empty(0), 0))
    if (known and it in known) or (n and it <= xs[n - 1]):
        arrays.pop(key, None)
        return
    if n == len(xs):
        xs = np.resize(xs, max(256, 2 * n))
        ys = np.resize(ys, max(256, 2 * n))
    xs[n], ys[n] = it, value
    arrays[key] = (xs, ys, n + 1)


def series_arrays(arrays: SeriesArrays, series: dict[str, dict[int, float]], key: str) -> tuple[np.ndarray, np.ndarray]:
    """The points of ``series[key]`` as (iterations, values) in order."""
    if key not in arrays:
        data = series[key]
        xs = np.fromiter(sorted(data), dtype=np.float64, count=len(data))
        ys = np.array([data[int(x)] for x in xs], dtype=np.float64)
        arrays[key] = (xs, ys, len(xs))
    xs, ys, n = arrays[key]
    return xs[:n], ys[:n]


class CurvesPanel(QtWidgets.QWidget):
    def __init__(self, panel_of=default_panel, parent=None, top_label: str = "loss",
                 bottom_label: str = "fraction (0–1)"):
        super().__init__(parent)
        self.panel_of = panel_of
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.log_loss = QtWidgets.QCheckBox("log loss axis")
        self.log_loss.setToolTip("Show the loss on a logarithmic axis: a loss that exploded (say to 1e30) "
                                 "no longer flattens everything before it")
        self.log_loss.toggled.connect(self.set_log_loss)
        layout.addWidget(self.log_loss)
        self.glw = pg.GraphicsLayoutWidget()
        self.glw.setToolTip(wrapped("Training loss L (mean cross-entropy of each batch, light; the moving average, dark) "
                            "and held-out metrics every few iterations. Hover a curve to read its values; "
                            "the dashed line is where the timeline is."))
        layout.addWidget(self.glw)
        self.top = self.glw.addPlot()
        fit_title(self.top, "Loss", "10pt")
        # no grid: grid lines belong to the axes, and an axis spanning the plot repaints all its tick
        # labels whenever anything in the plot moves (measured: 61 -> 27 ms a frame in the MLP window)
        self.top.setLabel("bottom", "iteration")
        self.top.setLabel("left", top_label)
        self.top_label = top_label
        self.top_legend = legend_below(self.top)
        self.glw.nextRow()
        self.bottom = self.glw.addPlot()
        fit_title(self.bottom, "Held-out", "10pt")
        self.bottom.setLabel("bottom", "iteration")
        self.bottom.setLabel("left", bottom_label)
        self.bottom_legend = legend_below(self.bottom)
        self.bottom.setXLink(self.top)
        for plot in (self.top, self.bottom):
            no_si_prefix(plot)
        self.readouts = [HoverReadout(self.top), HoverReadout(self.bottom)]
        # one evaluation point must not blow a 0.0001 difference up to the whole plot height
        self.top.setLimits(minYRange=0.05)
        self.bottom.setLimits(minYRange=0.02)
        # iterations start at 0: one point must not centre the axis on it (−40 … 40 around iteration 1)
        for plot in (self.top, self.bottom):
            plot.setLimits(xMin=-1, minXRange=10)
        self.cursor_top = pg.InfiniteLine(angle=90, pen=pg.mkPen("#888", style=pg.QtCore.Qt.PenStyle.DashLine))
        self.cursor_bottom = pg.InfiniteLine(angle=90, pen=pg.mkPen("#888", style=pg.QtCore.Qt.PenStyle.DashLine))
        self.top.addItem(self.cursor_top, ignoreBounds=True)
        self.bottom.addItem(self.cursor_bottom, ignoreBounds=True)
        # the panel steers the ranges itself (_follow): pyqtgraph's autorange would move them, and lay out
        # every tick again, at every frame of a growing curve; a range here moves only when the data leave it
        self.x_range = SteadyRange(self.top, "x", pad=0.3)   # a growing run: about 5 moves a decade
        self.y_ranges = {"top": SteadyRange(self.top, "y", pad=0.05, fill=0.3),
                         "bottom": SteadyRange(self.bottom, "y", pad=0.05, fill=0.3)}
        self.following = True   # False once the student pans or zooms; the plot's "A" button follows again
        for plot in (self.top, self.bottom):
            plot.disableAutoRange()
            plot.vb.sigRangeChangedManually.connect(self._stop_following)
            plot.vb.sigStateChanged.connect(self._maybe_follow_again)
        self.series: dict[str, dict[int, float]] = {}
        self.arrays: SeriesArrays = {}
        self.stale: set[str] = set()   # series changed while the panel was hidden: drawn when it shows
        self.items: dict[str, pg.PlotDataItem] = {}
        self.smoothed: pg.PlotDataItem | None = None
        self.labels: dict[str, str] = {}
        self.branch_items: list[tuple[pg.PlotItem, pg.PlotDataItem]] = []
        self.branch_bounds: dict[str, list[tuple[float, float, float]]] = {"top": [], "bottom": []}  # (x max, y min, y max)

    MARKER_PENS = {"setting": "#E69F00", "branch": "#4C78A8", "note": "#CC79A7"}

    def set_markers(self, markers: list[dict]) -> None:
        """Vertical marks at live setting changes, branch points and notes (text on hover)."""
        for plot, line in getattr(self, "marker_items", []):
            plot.removeItem(line)
        self.marker_items = []
        for m in markers:
            for plot in (self.top, self.bottom):
                line = pg.InfiniteLine(m["iteration"], angle=90, movable=False,
                                       pen=pg.mkPen(self.MARKER_PENS.get(m["kind"], "#666"), width=1.5,
                                                    style=pg.QtCore.Qt.PenStyle.DotLine))
                line.setToolTip(f"{m['kind']} at {m['iteration']}: {m['text']}")
                plot.addItem(line, ignoreBounds=True)
                self.marker_items.append((plot, line))

    def clear(self, labels: dict[str, str] | None = None) -> None:
        """Remove every curve (a new lab or run): new names, new colours."""
        for item in list(self.items.values()) + ([self.smoothed] if self.smoothed is not None else []):
            for plot, legend in ((self.top, self.top_legend), (self.bottom, self.bottom_legend)):
                if item in plot.listDataItems():
                    plot.removeItem(item)
                    legend.removeItem(item)
        self.items.clear()
        self.series.clear()
        self.arrays.clear()
        self.stale.clear()
        self.smoothed = None
        self.labels = dict(labels or {})
        self.set_branches({}, {})
        self.reset_ranges()

    def reset(self) -> None:
        for key, item in self.items.items():
            item.setData([], [])
        self.series = {k: {} for k in self.series}
        self.arrays.clear()
        self.stale.clear()
        if self.smoothed is not None:
            self.smoothed.setData([], [])
        self.reset_ranges()

    def reset_ranges(self) -> None:
        """Empty plots show iterations 0..100 and a plain range, not the axes of the run before
        (after a diverged run they read ±1e32); they follow the data again as it arrives (_follow)."""
        self._follow_again()
        for readout in self.readouts:
            readout.hide()

    def _stop_following(self, *_):
        self.following = False

    def _maybe_follow_again(self, vb) -> None:
        """The plot's "A" button or "View all" turned pyqtgraph's autorange on: follow the data again, steered here."""
        if any(vb.autoRangeEnabled()):
            vb.disableAutoRange()
            self._follow_again()

    def _follow_again(self) -> None:
        """Ranges fitted afresh to the data (a new run, the "A" button)."""
        self.following = True
        for steady in (self.x_range, *self.y_ranges.values()):
            steady.range = None
        self._follow()

    def _follow(self) -> None:
        """Keep every curve in view: x from 0 to the last iteration, y around each plot's values
        (log10 of them on a log axis). Nothing moves while the student has panned or zoomed."""
        if not self.following:
            return
        x_max = 0.0
        for name, plot in (("top", self.top), ("bottom", self.bottom)):
            lo, hi = np.inf, -np.inf
            log = name == "top" and self.log_loss.isChecked()
            keys = [k for k in self.series if (self.panel_of(k) == "top") == (name == "top")]
            ys_all = []
            for key in keys:
                xs, ys = series_arrays(self.arrays, self.series, key)
                if len(xs):
                    x_max = max(x_max, float(xs[-1]))
                    ys_all.append(ys)
            for bx, blo, bhi in self.branch_bounds[name]:
                x_max = max(x_max, bx)
                ys_all.append(np.array([blo, bhi]))
            if ys_all:
                ys = np.concatenate(ys_all)
                if log:
                    ys = np.log10(ys[ys > 0])
                ys = ys[np.isfinite(ys)]
                if ys.size:
                    lo, hi = float(ys.min()), float(ys.max())
            if np.isfinite(lo):
                self.y_ranges[name].fit(lo, hi)
            elif self.y_ranges[name].range is None:   # no data: a plain range (a log10 axis: 0.1 .. 10)
                y_range = (-1.0, 1.0) if log else EMPTY_Y_RANGE[name]
                plot.setYRange(*y_range, padding=0)
        if x_max > 0:
            self.x_range.fit(0.0, x_max)
        elif self.x_range.range is None:
            self.top.setXRange(*EMPTY_X_RANGE, padding=0)

    def set_log_loss(self, on: bool) -> None:
        self.top.setLogMode(y=on)
        self.top.setLabel("left", f"{self.top_label} (log)" if on else self.top_label)
        self.top.setLimits(minYRange=0.05 if not on else 0.02)
        self.y_ranges["top"].range = None
        self._follow()

    def add_points(self, points: list[tuple[int, dict]]) -> None:
        if not points:
            return
        touched = set()
        for it, metrics in points:
            for key, value in metrics.items():
                if not isinstance(value, (int, float)) or self.panel_of(key) is None:
                    continue
                series = self.series.setdefault(key, {})
                it = int(it)
                append_point(self.arrays, self.series, key, it, float(value))
                series[it] = float(value)
                touched.add(key)
        if not self.isVisible():  # a lab view that draws its own curves: keep the data, draw nothing
            self.stale |= touched
            return
        for key in touched | self.stale:
            self._redraw(key)
        self.stale.clear()
        self._follow()

    def showEvent(self, event) -> None:
        super().showEvent(event)
        for key in self.stale:
            self._redraw(key)
        self.stale.clear()
        self._follow()

    def _item(self, key: str) -> pg.PlotDataItem:
        if key not in self.items:
            panel = self.top if self.panel_of(key) == "top" else self.bottom
            used = {pg.mkPen(i.opts["pen"]).color().name()[:7] for i in self.items.values()}
            color = KEY_COLORS.get(key) or next((c for c in SERIES_COLORS[4:] + SERIES_COLORS[:4]
                                                 if pg.mkColor(c).name() not in used), SERIES_COLORS[0])
            if key != "loss" and "heldout" not in key:  # a value every iteration (a gradient norm, another run's loss)
                item = panel.plot([], [], pen=pg.mkPen(color, width=1.5), name=self.labels.get(key, pretty(key)),
                                  antialias=False)
                thin(item, "peak")
            elif key == "loss":
                name = self.labels.get(key, pretty(key))
                # the noisy per-iteration loss: thin, light and not antialiased (thousands of points a frame),
                # drawn as each pixel column's extremes once it has more points than pixels
                item = panel.plot([], [], pen=pg.mkPen(color + "55", width=1), name=name, antialias=False)
                self.smoothed = panel.plot([], [], pen=pg.mkPen(color, width=2), name="smoothed")
                thin(item, "peak")
                thin(self.smoothed, "mean")
            else:
                item = panel.plot([], [], pen=pg.mkPen(color, width=2), symbol="o", symbolSize=5,
                                  symbolBrush=color, symbolPen=None, name=self.labels.get(key, pretty(key)))
            self.items[key] = item
        return self.items[key]

    def _redraw(self, key: str) -> None:
        xs, ys = series_arrays(self.arrays, self.series, key)
        item = self._item(key)
        if len(xs) > 4000:  # draw at most ~4000 points per curve
            step = len(xs) // 4000 + 1
            xs_d, ys_d = xs[::step], ys[::step]
        else:
            xs_d, ys_d = xs, ys
        item.setData(xs_d, ys_d, skipFiniteCheck=bool(np.isfinite(ys_d).all()))
        if key == "loss" and self.smoothed is not None and len(ys) > 1:
            w = min(200, max(5, len(ys) // 20))  # moving-average window, via cumulative sums
            c = np.cumsum(np.insert(ys, 0, 0.0))
            lo = np.maximum(np.arange(1, len(ys) + 1) - w, 0)
            sm = (c[1:] - c[lo]) / (np.arange(1, len(ys) + 1) - lo)
            step = len(xs) // 4000 + 1 if len(xs) > 4000 else 1
            self.smoothed.setData(xs[::step], sm[::step])

    def set_branches(self, line_curves: dict, labels: dict) -> None:
        """The run's other branches, faded and dashed: training loss (smoothed) and held-out metrics."""
        for plot, item in self.branch_items:
            plot.removeItem(item)
            legend = self.top_legend if plot is self.top else self.bottom_legend
            legend.removeItem(item)
        self.branch_items = []
        self.branch_bounds = {"top": [], "bottom": []}
        dash = pg.QtCore.Qt.PenStyle.DashLine
        named: set = set()   # one legend entry per branch and plot (ResNet's eight metrics per branch swamped it)
        for line_id, points in line_curves.items():
            label = labels.get(line_id, f"branch {line_id}")
            keys = sorted({k for _, m in points for k, v in m.items()
                           if isinstance(v, (int, float)) and self.panel_of(k) is not None})
            for key in keys:
                pts = [(it, m[key]) for it, m in points if isinstance(m.get(key), (int, float))]
                if not pts:
                    continue
                xs = np.array([p[0] for p in pts], dtype=np.float64)
                ys = np.array([p[1] for p in pts], dtype=np.float64)
                if key == "loss" and len(ys) > 5:  # the same moving average as the current run's
                    w = min(50, max(3, len(ys) // 20))
                    ys = np.convolve(np.pad(ys, (w - 1, 0), mode="edge"), np.ones(w) / w, mode="valid")
                plot = self.top if self.panel_of(key) == "top" else self.bottom
                finite = ys[np.isfinite(ys)]
                if finite.size:
                    self.branch_bounds["top" if plot is self.top else "bottom"].append(
                        (float(xs[-1]), float(finite.min()), float(finite.max())))
                color = KEY_COLORS.get(key, "#888888")
                first = (line_id, id(plot)) not in named
                named.add((line_id, id(plot)))
                item = plot.plot(xs, ys, pen=pg.mkPen(color + "66", width=1.5, style=dash),
                                 name=f"branch {label} (dashed)" if first else None)
                item.setToolTip(f"branch {label} · {self.labels.get(key, pretty(key))}")
                item.setZValue(-5)
                self.branch_items.append((plot, item))
        self._follow()

    def set_cursor(self, iteration: int) -> None:
        self.cursor_top.setValue(iteration)
        self.cursor_bottom.setValue(iteration)

    def latest(self, key: str) -> float | None:
        data = self.series.get(key)
        if not data:
            return None
        return data[max(data)]


def fake_history(iterations: int = 600, seed: int = 0) -> list[tuple[int, dict]]:
    """Training loss per iteration (noisy, falling) and held-out figures every 50, as a Session records them."""
    rng = np.random.default_rng(seed)
    points = []
    for it in range(1, iterations + 1):
        record = {"loss": float(2.3 * np.exp(-it / 120) + 0.15 + 0.1 * rng.standard_normal() ** 2)}
        if it % 50 == 0:
            record.update(heldout_loss=float(2.1 * np.exp(-it / 140) + 0.25),
                          heldout_accuracy=float(0.97 - 0.85 * np.exp(-it / 100)))
        points.append((it, record))
    return points


if __name__ == "__main__":  # python -m widgets.curves [--screenshot PATH]
    from .demo import run_demo

    def build() -> CurvesPanel:
        panel = CurvesPanel()
        panel.add_points(fake_history())
        panel.set_cursor(420)
        panel.set_markers([{"iteration": 300, "kind": "setting", "text": "lr → 0.02"}])
        return panel

    run_demo(build, (700, 560))
