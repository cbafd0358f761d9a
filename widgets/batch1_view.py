"""The batch-size-1 lab's view: BatchNorm vs GroupNorm + weight standardization, side by side.

Top: both nets' training loss (moving average: one example per step is noisy) and held-out
accuracy — the BN net evaluated as BatchNorm is evaluated (running statistics) and, for
comparison, with each image normalized by its own statistics (as in training). Bottom: the
BN layer's running mean and variance per channel, drifting as single examples come and go,
and the statistics of the current example beside the running ones evaluation will use.
"""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

from .common import (SEQUENTIAL, SERIES_COLORS, HoverReadout, Refresh, SteadyLabel, SteadyRange, explain_tabs,
                     fit_title, fmt, legend_below)
from .curves import SeriesArrays, append_point, series_arrays, thin
from .growing_curves import GrowingCurves
from .lab_view import LabView
from .layer_inspector import LayerInspector

NET_COLORS = {"gnws": "#54A24B", "bn": "#E45756", "bn_own": "#F58518"}
CURVES = {  # history key -> (plot, label, colour, dashed)
    "loss_gnws": ("loss", "GN+WS", NET_COLORS["gnws"], False),
    "loss_bn": ("loss", "BN", NET_COLORS["bn"], False),
    "heldout_accuracy_gnws": ("acc", "GN+WS", NET_COLORS["gnws"], False),
    "heldout_accuracy_bn": ("acc", "BN, eval mode (running statistics)", NET_COLORS["bn"], False),
    "heldout_accuracy_bn_own_stats": ("acc", "BN, each image normalized by its own statistics",
                                      NET_COLORS["bn_own"], True),
}


def moving_average(y: np.ndarray, window: int) -> np.ndarray:
    """Mean of the last ``window`` values at each point (fewer at the start), via cumulative sums."""
    c = np.cumsum(np.insert(np.asarray(y, dtype=np.float64), 0, 0.0))
    n = np.arange(1, len(y) + 1)
    lo = np.maximum(n - window, 0)
    return (c[n] - c[lo]) / (n - lo)


def plot(title: str, left: str, bottom: str = "iteration") -> pg.PlotWidget:
    w = pg.PlotWidget()
    fit_title(w.getPlotItem(), title)
    # no grid: grid lines belong to the axes, which then repaint all their ticks whenever the plot moves
    w.setLabel("left", left)
    w.setLabel("bottom", bottom)
    w.setMinimumHeight(170)
    for axis in ("left", "bottom"):
        w.getAxis(axis).enableAutoSIPrefix(False)  # no "(x0.001)": values as they are
    return w


def rich_label(lines: int = 1) -> QtWidgets.QLabel:
    return SteadyLabel(rich=True, wrap=True, lines=lines)


def legends_and_readouts(*plots: pg.PlotWidget) -> list[HoverReadout]:
    """Legends under the axes (never over the curves) and a hover readout for each plot."""
    for p in plots:
        legend_below(p.getPlotItem())
    return [HoverReadout(p.getPlotItem()) for p in plots]


def make_curves(spec: dict, loss_plot: pg.PlotWidget, acc_plot: pg.PlotWidget) -> dict[str, pg.PlotDataItem]:
    """One curve per history key of ``spec`` (key -> (plot, label, colour, dashed)), created once."""
    curves = {}
    for key, (where, label, colour, dashed) in spec.items():
        target = loss_plot if where == "loss" else acc_plot
        pen = pg.mkPen(colour, width=2, style=QtCore.Qt.PenStyle.DashLine if dashed else QtCore.Qt.PenStyle.SolidLine)
        kw = {} if where == "loss" else {"symbol": "o", "symbolSize": 5, "symbolBrush": colour, "symbolPen": None}
        curves[key] = target.plot([], [], pen=pen, name=label, **kw)
        if where == "loss":   # thousands of points
            thin(curves[key], "mean")
    return curves


def extend_curves(series: dict[str, dict[int, float]], arrays: SeriesArrays, spec: dict, curves: dict,
                  points: list) -> set[str]:
    """New history points into ``series`` (and its ``arrays``, appended) and the curves they touch: losses
    as a moving average (one example per step is noisy), at most ~3,000 points drawn; accuracies as
    fractions (0–1), as in every lab. Returns the keys touched."""
    touched = set()
    for it, metrics in points:
        for key in spec:
            if key in metrics and metrics[key] is not None and np.isfinite(metrics[key]):
                append_point(arrays, series, key, int(it), float(metrics[key]))
                series.setdefault(key, {})[int(it)] = float(metrics[key])
                touched.add(key)
    for key in touched:
        xs, ys = series_arrays(arrays, series, key)
        if spec[key][0] == "loss":
            ys = moving_average(ys, max(10, min(300, len(ys) // 10)))
            if len(xs) > 3000:
                step = len(xs) // 3000 + 1
                xs, ys = xs[::step], ys[::step]
        curves[key].setData(xs, ys, skipFiniteCheck=True)   # finite: checked above
    return touched


def follow_curves(curves: dict, x_range: SteadyRange) -> None:
    """A steady x range from 0 to the last point of ``curves``: pyqtgraph's autorange would move it, and lay
    out its ticks again, at every frame."""
    x_max = max((float(item.xData[-1]) for item in curves.values() if item.xData is not None and len(item.xData)),
                default=0.0)
    if x_max > 0:
        x_range.fit(0.0, x_max)


class Batch1Tab(QtWidgets.QWidget):
    def __init__(self, parent=None):
        super().__init__(parent)
        grid = QtWidgets.QGridLayout(self)
        grid.setContentsMargins(4, 4, 4, 4)
        self.header = rich_label(lines=2)
        grid.addWidget(self.header, 0, 0, 1, 3)
        self.loss_plot = plot("training loss (moving average)", "cross-entropy")
        self.acc_plot = plot("held-out accuracy", "fraction (0–1)")  # as every lab's curves
        self.readouts = legends_and_readouts(self.loss_plot, self.acc_plot)
        self.curves = make_curves(CURVES, self.loss_plot, self.acc_plot)
        self.cursors = [pg.InfiniteLine(angle=90, pen=pg.mkPen("#888", style=QtCore.Qt.PenStyle.DashLine))
                        for _ in range(4)]
        self.loss_plot.addItem(self.cursors[0])
        self.acc_plot.addItem(self.cursors[1])
        grid.addWidget(self.loss_plot, 1, 0, 1, 2)
        grid.addWidget(self.acc_plot, 1, 2)
        self.mean_plot = plot("BN running mean per channel", "running mean")
        self.var_plot = plot("BN running variance per channel", "running variance")
        self.mean_plot.addItem(self.cursors[2])
        self.var_plot.addItem(self.cursors[3])
        # a line per channel, in one item per plot that draws only what is new (up to 600 × 16 points each)
        self.stat_curves = {"mean": GrowingCurves(), "var": GrowingCurves()}
        self.mean_plot.addItem(self.stat_curves["mean"])
        self.var_plot.addItem(self.stat_curves["var"])
        self.stat_pens: list[QtGui.QPen] = []   # channel c's pen, the same object every frame
        self.stats_plot = plot("this image vs the running statistics", "mean", bottom="channel")
        self.batch_bars = pg.BarGraphItem(x=[0], height=[0], width=0.35, brush="#F58518")
        self.running_bars = pg.BarGraphItem(x=[0], height=[0], width=0.35, brush="#9D755D")
        self.stats_plot.addItem(self.batch_bars)
        self.stats_plot.addItem(self.running_bars)
        self.stats_note = pg.TextItem("", color="#666", anchor=(0, 0))
        self.stats_plot.addItem(self.stats_note)
        grid.addWidget(self.mean_plot, 2, 0)
        grid.addWidget(self.var_plot, 2, 1)
        grid.addWidget(self.stats_plot, 2, 2)
        self.summary = rich_label(lines=2)
        grid.addWidget(self.summary, 3, 0, 1, 3)
        for r in (1, 2):
            grid.setRowStretch(r, 1)
        self.series: dict[str, dict[int, float]] = {}
        self.arrays: SeriesArrays = {}
        self.bn_layer = ""
        self.loss_x, self.acc_x = SteadyRange(self.loss_plot, "x", pad=0.3), SteadyRange(self.acc_plot, "x", pad=0.3)
        self.loss_y = SteadyRange(self.loss_plot, "y", pad=0.05, fill=0.3)
        self.acc_plot.setYRange(0.0, 1.02, padding=0)   # a fraction
        self.stat_x = {k: SteadyRange(p, "x", pad=0.3) for k, p in (("mean", self.mean_plot), ("var", self.var_plot))}
        self.stat_y = {k: SteadyRange(p, "y", pad=0.08, fill=0.3) for k, p in (("mean", self.mean_plot), ("var", self.var_plot))}
        for p in (self.loss_plot, self.acc_plot, self.mean_plot, self.var_plot):
            p.disableAutoRange()
        self.refresh = Refresh()   # the BN statistics: a few times a second while playing

    # ---- curves from the history (incremental)
    def reset(self) -> None:
        self.series, self.arrays = {}, {}
        for item in self.curves.values():
            item.setData([], [])
        for steady in (self.loss_x, self.acc_x, self.loss_y, *self.stat_x.values(), *self.stat_y.values()):
            steady.range = None
        self.refresh.again()

    def add_points(self, points: list) -> None:
        touched = extend_curves(self.series, self.arrays, CURVES, self.curves, points)
        if touched & {k for k, v in CURVES.items() if v[0] == "loss"}:
            self._loss_range()
        if touched:   # both plots to the latest iteration: the held-out points and the cursor stay in view
            follow_curves(self.curves, self.loss_x)
            follow_curves(self.curves, self.acc_x)

    def _loss_range(self) -> None:
        """0 … the largest smoothed loss after the first 5 % of the run: the first steps (losses
        of 10 and more) would flatten everything else."""
        tops = []
        for key, (where, *_rest) in CURVES.items():
            if where == "loss" and key in self.series:
                _, ys = self.curves[key].getData()
                if ys is not None and len(ys):
                    tops.append(float(np.max(ys[len(ys) // 20:])))
        if tops:
            self.loss_y.fit(0.0, 1.05 * max(max(tops), 1e-3))

    def set_bn_history(self, hist: dict, layer: str) -> None:
        layers = hist.get("layers", []) if hist else []
        chosen = next((l for l in layers if l["name"] == layer), layers[0] if layers else None)
        if chosen is None:
            for curves in self.stat_curves.values():
                curves.set_trails({}, {})
            return
        its = np.asarray(hist["iterations"], dtype=np.float64)
        if chosen["name"] != self.bn_layer:
            self.bn_layer = chosen["name"]
            self.mean_plot.setTitle(f"BN running mean per channel ({chosen['name']})", size="9pt")
            self.var_plot.setTitle(f"BN running variance per channel ({chosen['name']})", size="9pt")
        for kind in ("mean", "var"):
            values = np.asarray(chosen[kind], dtype=np.float64)   # (T, channels)
            while len(self.stat_pens) < values.shape[1]:
                self.stat_pens.append(pg.mkPen(SERIES_COLORS[len(self.stat_pens) % len(SERIES_COLORS)], width=1))
            channels = range(values.shape[1])
            self.stat_curves[kind].set_trails({c: np.stack([its, values[:, c]], 1) for c in channels},
                                              {c: self.stat_pens[c] for c in channels})
            self.stat_x[kind].fit(0.0, max(float(its[-1]), 1.0))
            finite = values[np.isfinite(values)]
            if finite.size:
                self.stat_y[kind].fit(float(finite.min()), float(finite.max()))

    def set_example_stats(self, stats: dict | None, block_label: str) -> None:
        if not stats or "batch_mean" not in stats:
            self.batch_bars.setOpts(x=[0], height=[0])
            self.running_bars.setOpts(x=[0], height=[0])
            self.stats_note.setText("select a BN convolution block\n(BN · Conv …) and step forward")
            return
        m, r = np.asarray(stats["batch_mean"]), np.asarray(stats["running_mean"])
        x = np.arange(len(m))
        self.batch_bars.setOpts(x=x - 0.18, height=m, width=0.35)
        self.running_bars.setOpts(x=x + 0.18, height=r, width=0.35)
        self.stats_note.setText("")
        layer = block_label.split("·")[-1].strip().split(" + ")[0].split(" ")[-2] if "→" in block_label else ""
        self.stats_plot.setTitle(f"conv {layer} means: <span style='color:#F58518'>■ this image</span> vs "
                                 f"<span style='color:#9D755D'>■ running</span>", size="9pt")
        self.stats_plot.setXRange(-0.6, len(m) - 0.4, padding=0)

    def set_cursor(self, iteration: int) -> None:
        for c in self.cursors:
            c.setValue(iteration)

    def latest(self, key: str) -> float | None:
        data = self.series.get(key)
        return data[max(data)] if data else None


ROUTER_CURVES = {  # history key -> (plot, label, colour, dashed)
    "loss_gnws": ("loss", "GN+WS experts", NET_COLORS["gnws"], False),
    "loss_bn": ("loss", "BN experts", NET_COLORS["bn"], False),
    "heldout_top1_gnws": ("acc", "GN+WS top-1", NET_COLORS["gnws"], False),
    "heldout_top5_gnws": ("acc", "GN+WS top-5", NET_COLORS["gnws"], True),
    "heldout_top1_bn": ("acc", "BN top-1", NET_COLORS["bn"], False),
    "heldout_top5_bn": ("acc", "BN top-5", NET_COLORS["bn"], True),
}
ROUTER_NETS = (("gnws", "GN+WS experts"), ("bn", "BN experts"))


class RoutingDiagram(QtWidgets.QWidget):
    """Per net, this image's path: stem → router (its probabilities) → the chosen expert (the others
    idle), and where the gradient reached: ‖∇θ‖ on each part that got one, "no gradient" elsewhere."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.routing: dict = {}
        self.groups: list[str] = []
        self.setMinimumHeight(250)

    def set_routing(self, routing: dict, groups: list[str]) -> None:
        self.routing, self.groups = routing or {}, list(groups or [])
        self.update()

    def paintEvent(self, event) -> None:
        p = QtGui.QPainter(self)
        p.setRenderHint(QtGui.QPainter.RenderHint.Antialiasing)
        p.fillRect(self.rect(), QtGui.QColor("white"))
        r = self.routing
        if not r or r.get("gnws", {}).get("chosen", -1) < 0:
            p.setPen(QtGui.QColor("#666"))
            p.drawText(self.rect(), QtCore.Qt.AlignmentFlag.AlignCenter,
                       "Step forward (→): the router's choice and the gradient's path appear here.")
            return
        W, H = self.width(), self.height()
        row_h = H / len(ROUTER_NETS)
        image = r.get("image")
        for j, (net, title) in enumerate(ROUTER_NETS):
            d = r.get(net) or {}
            top = j * row_h
            self._net_row(p, d, title, net, QtCore.QRectF(0, top, W, row_h), image, r.get("label"))
        p.end()

    def _box(self, p, rect, text, fill, border, bold=False) -> None:
        p.setPen(QtGui.QPen(QtGui.QColor(border), 2.5 if bold else 1.2))
        p.setBrush(QtGui.QColor(fill))
        p.drawRoundedRect(rect, 6, 6)
        p.setPen(QtGui.QColor("#222"))
        p.drawText(rect.adjusted(4, 2, -4, -2), QtCore.Qt.AlignmentFlag.AlignCenter | QtCore.Qt.TextFlag.TextWordWrap,
                   text)

    @staticmethod
    def _grad_text(g) -> str:
        return "no gradient" if g is None else f"‖∇θ‖ {fmt(g)}"

    def _arrow(self, p, a: QtCore.QPointF, b: QtCore.QPointF, colour: str, width: float, dashed=False) -> None:
        pen = QtGui.QPen(QtGui.QColor(colour), width)
        if dashed:
            pen.setStyle(QtCore.Qt.PenStyle.DashLine)
        p.setPen(pen)
        p.drawLine(a, b)
        v = b - a
        n = max((v.x() ** 2 + v.y() ** 2) ** 0.5, 1e-6)
        ux, uy = v.x() / n, v.y() / n
        tip = [b, b - QtCore.QPointF(8 * ux - 4 * uy, 8 * uy + 4 * ux), b - QtCore.QPointF(8 * ux + 4 * uy, 8 * uy - 4 * ux)]
        p.setBrush(QtGui.QColor(colour))
        p.setPen(QtCore.Qt.PenStyle.NoPen)
        p.drawPolygon(QtGui.QPolygonF(tip))

    def _net_row(self, p, d: dict, title: str, net: str, area: QtCore.QRectF, image, label) -> None:
        x0, y0, w, h = area.x(), area.y(), area.width(), area.height()
        colour = NET_COLORS[net]
        p.setPen(QtGui.QColor(colour))
        font = p.font()
        font.setBold(True)
        p.setFont(font)
        p.drawText(QtCore.QRectF(x0 + 6, y0 + 2, 200, 18), title)
        font.setBold(False)
        p.setFont(font)
        mid = y0 + h / 2 + 6
        grads = d.get("grad_norms") or []
        chosen = int(d.get("chosen", -1))
        unit = w / 100.0
        # the image
        side = min(h - 30, 11 * unit)
        img_rect = QtCore.QRectF(x0 + 2 * unit, mid - side / 2, side, side)
        if image is not None:
            a = np.clip(np.asarray(image, dtype=np.float32), 0, 1)
            grey = np.ascontiguousarray((255 * (1 - a)).astype(np.uint8))       # ink dark on white
            qimg = QtGui.QImage(grey.data, grey.shape[1], grey.shape[0], grey.shape[1],
                                QtGui.QImage.Format.Format_Grayscale8)
            p.drawImage(img_rect, qimg)
        p.setPen(QtGui.QColor("#444"))
        p.drawText(QtCore.QRectF(img_rect.x(), img_rect.bottom() + 1, side, 14), QtCore.Qt.AlignmentFlag.AlignCenter,
                   f"label {label}")
        stem = QtCore.QRectF(x0 + 16 * unit, mid - 26, 17 * unit, 52)
        router = QtCore.QRectF(x0 + 38 * unit, mid - 34, 21 * unit, 68)
        g0 = grads[0] if grads else None
        g1 = grads[1] if len(grads) > 1 else None
        self._box(p, stem, f"stem (GN+WS)\n{self._grad_text(g0)}", "#EEF3F8", "#4C78A8", g0 is not None)
        probs = d.get("probs")
        ptxt = " ".join(f"{100 * v:.0f}%" for v in probs) if probs is not None else ""
        self._box(p, router, f"router (GN+WS)\np = {ptxt}\n{self._grad_text(g1)}", "#EEF3F8", "#4C78A8", g1 is not None)
        self._arrow(p, QtCore.QPointF(img_rect.right() + 3, mid), QtCore.QPointF(stem.left() - 2, mid), "#888", 1.5)
        self._arrow(p, QtCore.QPointF(stem.right() + 2, mid), QtCore.QPointF(router.left() - 2, mid), "#888", 1.5)
        K = max(len(grads) - 2, 1)
        eh = min(36.0, (h - 26) / K - 4)
        for k in range(K):
            y = mid + (k - (K - 1) / 2) * (eh + 5)
            rect = QtCore.QRectF(x0 + 66 * unit, y - eh / 2, 25 * unit, eh)
            g = grads[2 + k] if len(grads) > 2 + k else None
            group = f" · {self.groups[k]}" if k < len(self.groups) else ""
            if k == chosen:
                pred = d.get("prediction")
                says = "" if pred is None else f" → says {pred}"
                self._box(p, rect, f"expert {k + 1}{group}: RAN{says}\n{self._grad_text(g)}", "#FFF1DE", colour, True)
                self._arrow(p, QtCore.QPointF(router.right() + 2, mid), QtCore.QPointF(rect.left() - 2, y), colour, 3)
                if g is not None:   # the gradient's way back: expert → (the stem, once its backward ran)
                    self._arrow(p, QtCore.QPointF(rect.left() - 2, y + 8), QtCore.QPointF(router.right() + 4, router.bottom()),
                                "#F58518", 1.6, dashed=True)
                    if g0 is not None:
                        self._arrow(p, QtCore.QPointF(router.left() - 2, router.bottom() - 4),
                                    QtCore.QPointF(stem.right() + 2, stem.bottom() - 4), "#F58518", 1.6, dashed=True)
            else:
                self._box(p, rect, f"expert {k + 1}{group}: idle\nno forward, {self._grad_text(g)}", "#F2F2F2", "#BBB")
                self._arrow(p, QtCore.QPointF(router.right() + 2, mid), QtCore.QPointF(rect.left() - 2, y), "#CCC", 1,
                            dashed=True)
        share = d.get("share")
        if share is not None:
            p.setPen(QtGui.QColor("#555"))
            text = "recent shares\n" + "\n".join(f"E{k + 1} {100 * v:.0f}%" for k, v in enumerate(share))
            p.drawText(QtCore.QRectF(x0 + 92.5 * unit, mid - 34, 7.5 * unit, 68), QtCore.Qt.AlignmentFlag.AlignVCenter, text)


class RouterTab(QtWidgets.QWidget):
    """The routing net: this image's path and gradient, the curves, which digits each expert takes."""

    def __init__(self, parent=None):
        super().__init__(parent)
        grid = QtWidgets.QGridLayout(self)
        grid.setContentsMargins(4, 4, 4, 4)
        self.header = rich_label(lines=2)
        grid.addWidget(self.header, 0, 0, 1, 3)
        self.diagram = RoutingDiagram()
        grid.addWidget(self.diagram, 1, 0, 1, 3)
        self.loss_plot = plot("training loss of the chosen expert (moving average)", "cross-entropy")
        self.acc_plot = plot("held-out accuracy, routed", "fraction (0–1)")
        self.readouts = legends_and_readouts(self.loss_plot, self.acc_plot)
        self.curves = make_curves(ROUTER_CURVES, self.loss_plot, self.acc_plot)
        self.digits_plot = plot("digits per expert (GN+WS, recent training images)", "expert", bottom="digit")
        self.digits_plot.showGrid(x=False, y=False)
        self.digits_plot.invertY(True)
        self.digits_img = pg.ImageItem()
        self.digits_img.setLookupTable(SEQUENTIAL.getLookupTable(0.0, 1.0, 256))
        self.digits_plot.addItem(self.digits_img)
        self.digits_plot.getAxis("bottom").setTicks([[(d + 0.5, str(d)) for d in range(10)]])
        self.digit_labels: list[pg.TextItem] = []
        grid.addWidget(self.loss_plot, 2, 0)
        grid.addWidget(self.acc_plot, 2, 1)
        grid.addWidget(self.digits_plot, 2, 2)
        self.summary = rich_label(lines=2)
        grid.addWidget(self.summary, 3, 0, 1, 3)
        grid.setRowStretch(1, 3)
        grid.setRowStretch(2, 2)
        self.series: dict[str, dict[int, float]] = {}
        self.arrays: SeriesArrays = {}
        self.cursors = [pg.InfiniteLine(angle=90, pen=pg.mkPen("#888", style=QtCore.Qt.PenStyle.DashLine))
                        for _ in range(2)]
        self.loss_plot.addItem(self.cursors[0])
        self.acc_plot.addItem(self.cursors[1])

    def reset(self) -> None:
        self.series, self.arrays = {}, {}
        for item in self.curves.values():
            item.setData([], [])

    def add_points(self, points: list) -> None:
        extend_curves(self.series, self.arrays, ROUTER_CURVES, self.curves, points)

    def set_digits(self, counts, groups: list[str]) -> None:
        if counts is None:
            return
        counts = np.asarray(counts, dtype=np.float64)                          # (expert, digit)
        frac = counts / np.maximum(counts.sum(axis=0, keepdims=True), 1)       # of each digit, the share per expert
        self.digits_img.setImage(frac, levels=(0.0, 1.0), autoLevels=False)
        self.digits_img.setRect(QtCore.QRectF(0, 0, 10, counts.shape[0]))
        self.digits_plot.setXRange(0, 10, padding=0)
        self.digits_plot.setYRange(0, counts.shape[0], padding=0)
        self.digits_plot.getAxis("left").setTicks([[(k + 0.5, f"E{k + 1}") for k in range(counts.shape[0])]])
        while len(self.digit_labels) < counts.size:
            t = pg.TextItem("", color="w", anchor=(0.5, 0.5))
            self.digits_plot.addItem(t)
            self.digit_labels.append(t)
        for i, t in enumerate(self.digit_labels):
            k, d = divmod(i, 10)
            if k < counts.shape[0]:
                t.setText(str(int(counts[k, d])))
                t.setColor("k" if frac[k, d] > 0.6 else "w")
                t.setPos(d + 0.5, k + 0.5)

    def set_cursor(self, iteration: int) -> None:
        for c in self.cursors:
            c.setValue(iteration)


class Batch1View(LabView):
    block_data_tabs = ("BN vs GN+WS", "Layer inspector")
    histogram_tabs = ("Layer inspector",)
    owns_curves = True

    def __init__(self, parent=None):
        super().__init__(parent)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.tabs = QtWidgets.QTabWidget()
        self.main = Batch1Tab()
        self.inspector = LayerInspector()
        self.router = RouterTab()
        self.tabs.addTab(self.main, "BN vs GN+WS")
        self.tabs.addTab(self.router, "Routing net")
        self.tabs.addTab(self.inspector, "Layer inspector")
        explain_tabs(self.tabs)
        layout.addWidget(self.tabs)
        self.snap: dict | None = None
        self.tabs.currentChanged.connect(self._tab_shown)

    def _tab_shown(self, _index: int) -> None:
        self.main.refresh.again()
        if self.snap is not None:
            self._render(self.snap)

    def on_ready(self, info: dict) -> None:
        self.main.reset()
        self.router.reset()

    def set_snapshot(self, snap: dict) -> None:
        if snap.get("history_reset"):
            self.main.reset()
            self.router.reset()
        routed = snap["view"]["router"]   # engines/labs/batch1.py Batch1View or RouterView
        self._show_tab(self.router if routed else self.main, hide=self.main if routed else self.router)
        (self.router if routed else self.main).add_points(snap.get("history", []))   # points arrive only once
        self.snap = snap
        self._render(snap)

    def _show_tab(self, shown: QtWidgets.QWidget, hide: QtWidgets.QWidget) -> None:
        """The routing net's run shows its tab in place of the BN-vs-GN+WS one."""
        i, j = self.tabs.indexOf(shown), self.tabs.indexOf(hide)
        if self.tabs.isTabVisible(j) or not self.tabs.isTabVisible(i):
            self.tabs.setTabVisible(i, True)
            self.tabs.setTabVisible(j, False)
            if self.tabs.currentWidget() is hide:
                self.tabs.setCurrentWidget(shown)

    def _render(self, snap: dict) -> None:
        if self.tabs.currentWidget() is self.inspector:
            self.inspector.set_snapshot(snap)
            return
        view = snap["view"]
        if view["router"]:
            self._render_router(snap, view)
            return
        blocks = snap.get("blocks", [])
        sel = int(snap.get("selected_block", 0))
        block = blocks[sel] if 0 <= sel < len(blocks) else {"name": "", "label": ""}
        layer = block["name"].split(".")[-1] if block["name"].startswith("bn.") else ""
        self.main.set_cursor(int(snap.get("iteration", 0)))
        if not self.main.refresh.due(snap, key=sel):
            return   # the BN statistics and the texts: a few times a second while playing
        self.main.set_bn_history(view["bn_history"], layer or "conv1")
        fwd = snap.get("block_data", {}).get("forward", {})
        self.main.set_example_stats(fwd.get("bn"), block["label"])
        batch = view["batch_size"]
        self.main.header.setText(
            f"<b>Two identical CNNs, one example per step</b> (batch size {batch}), same initial weights, same "
            "examples in the same order. <span style='color:#E45756'><b>BN</b></span>: conv → BatchNorm; "
            "<span style='color:#54A24B'><b>GN+WS</b></span>: weight-standardized conv → GroupNorm. "
            "In training, BatchNorm normalizes each image by its own statistics (the batch is one image); "
            "in evaluation it uses running averages of them, which drift from example to example (below).")
        e = view["last_eval"]
        if e:
            self.main.summary.setText(
                f"Latest evaluation: <span style='color:#54A24B'><b>GN+WS {100 * e['heldout_accuracy_gnws']:.2f} %</b></span>"
                f" · <span style='color:#E45756'><b>BN {100 * e['heldout_accuracy_bn']:.2f} %</b></span> in eval mode "
                f"(running statistics) · BN with each image's own statistics "
                f"{100 * e['heldout_accuracy_bn_own_stats']:.2f} % (the gap is what the running statistics cost)"
                f" · learning rate now {fmt(snap.get('last_metrics', {}).get('lr'))}")
        else:
            self.main.summary.setText("Held-out accuracy appears at the first evaluation (every 500 iterations).")

    def _render_router(self, snap: dict, view: dict) -> None:
        tab = self.router
        groups = view["groups_routed"]
        tab.diagram.set_routing(view["routing"], groups)
        tab.set_digits(view["recent"]["gnws"], groups)
        tab.set_cursor(int(snap.get("iteration", 0)))
        tab.header.setText(
            "<b>A routing net, one image per step</b>: a stem and a router (both GN+WS) send each digit to "
            f"<b>one</b> of {view['n_experts']} experts — the router learns the digit's coarse group "
            f"({', '.join(groups)}) and its argmax decides, right or wrong. Only that expert runs, and only it "
            "(with the router and the stem) gets a gradient and an update: a batch would have to split. "
            "<span style='color:#54A24B'><b>GN+WS experts</b></span> vs <span style='color:#E45756'><b>BN experts"
            "</b></span>, whose BatchNorm sees one routed image at a time.")
        e = view["last_eval"]
        if e and "detail" in e:
            parts = []
            for net, title in ROUTER_NETS:
                d = e["detail"][net]
                shares = " / ".join(f"{100 * v:.0f}%" for v in d["share"])
                accs = " / ".join("–" if not np.isfinite(v) else f"{100 * v:.1f}%" for v in d["expert_accuracy"])
                parts.append(f"<span style='color:{NET_COLORS[net]}'><b>{title}</b></span>: top-1 "
                             f"<b>{100 * e[f'heldout_top1_{net}']:.2f} %</b>, top-5 {100 * e[f'heldout_top5_{net}']:.2f} %;"
                             f" held-out shares E1/E2/E3 {shares}; accuracy on each expert's images {accs}")
            tab.summary.setText(f"Held-out, routed (iteration {e.get('iteration', '?')}): " + " · ".join(parts))
        else:
            tab.summary.setText("Held-out top-1 / top-5 and each expert's share appear at the first evaluation "
                                "(every 500 iterations).")



# ---------------------------------------------------------------------------- synthetic data
def fake_snapshot(iteration: int = 1000, selected: int = 0, reset: bool = False, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    names = ["conv1", "pool1", "conv2", "pool2", "output"]
    blocks = [{"name": f"{net}.{n}", "label": f"{title} · {n}", "kind": "conv" if "conv" in n else "pool",
               "n_params": 0, "out_shape": ()} for net, title in (("bn", "BN"), ("gnws", "GN+WS")) for n in names]
    history = []
    for it in range(1, iteration + 1):
        rec = {"loss": 0.5, "loss_gnws": float(rng.random()), "loss_bn": float(rng.random())}
        if it % 500 == 0:
            rec.update(heldout_accuracy_gnws=0.97, heldout_accuracy_bn=0.95, heldout_accuracy_bn_own_stats=0.96)
        history.append((it, rec))
    its = np.arange(1, iteration + 1)
    bn_history = {"iterations": its, "layers": [
        {"name": "conv1", "mean": rng.standard_normal((iteration, 8)), "var": rng.random((iteration, 8))},
        {"name": "conv2", "mean": rng.standard_normal((iteration, 16)), "var": rng.random((iteration, 16))}]}
    fwd = {}
    if selected in (0, 2):
        c = 8 if selected == 0 else 16
        fwd["bn"] = {"batch_mean": rng.standard_normal(c), "batch_var": rng.random(c),
                     "running_mean": rng.standard_normal(c), "running_var": rng.random(c)}
    return {"lab": "batch1", "engine": "torch", "iteration": iteration, "phase": 0, "phase_count": 22,
            "label": "update", "active_block": -1, "active_kind": "update", "playing": False, "ips": 0.0,
            "selected_block": selected, "blocks": blocks, "block_data": {"forward": fwd},
            "view": {"router": False, "nets": {"bn": "BN", "gnws": "GN+WS"}, "n_blocks_per_net": len(names),
                     "bn_history": bn_history, "batch_size": 1, "hyperparams": {"lr": 0.05},
                     "last_eval": {"heldout_accuracy_gnws": 0.97, "heldout_accuracy_bn": 0.95,
                                   "heldout_accuracy_bn_own_stats": 0.96}},
            "history": history, "history_reset": reset, "keyframes": 3,
            "last_metrics": {"loss": 0.5, "lr": 0.02}}


if __name__ == "__main__":  # python -m widgets.batch1_view [--screenshot PATH]
    from .demo import run_lab_view_demo
    run_lab_view_demo(Batch1View, fake_snapshot(), (1100, 800))
