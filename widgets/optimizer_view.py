"""The optimizer lab's view: optimizers racing on a contour plot, the loss of each on a log scale,
live hyperparameters, and — when paused — what each one's next update is made of.

Snapshot fields used (engines/labs/optimizers.py, view_data): surface (grid + description),
optimizers, titles, rules, direction_names, paths (n, L, 2), losses (n, L), iterations (L,),
current (n, 2), current_loss (n,), stopped, next_updates (per optimizer: grad, direction,
scale, step, terms), optimizer_hyperparams. Network mode: losses and landscape.
"""
from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

from .common import fmt
from .lab_view import LabView
from .landscape_view import CONTOUR_MAP, LandscapeView, contour_lines, image_rect

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


def thin_path(xy: np.ndarray, cell: float) -> np.ndarray:
    """Drop consecutive points that fall in the same screen-sized cell (a converged optimizer
    piles thousands of points onto one pixel); the first and last points are kept."""
    if len(xy) < 3 or cell <= 0:
        return xy
    q = np.floor(xy / cell)
    keep = np.ones(len(xy), dtype=bool)
    keep[1:] = np.any(q[1:] != q[:-1], axis=1)
    keep[-1] = True
    return xy[keep]


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


class HyperTable(QtWidgets.QTableWidget):
    """Rows: optimizers (a show/hide box, the name in its colour); columns: their live settings."""

    set_hyperparam = QtCore.Signal(str, float)
    visibility = QtCore.Signal(str, bool)

    COLUMNS = ("lr", "momentum", "beta1", "beta2", "rho", "alpha", "weight_decay")

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setColumnCount(1 + len(self.COLUMNS))
        self.setHorizontalHeaderLabels(["optimizer (show)"] + [HYPER_LABELS[c] for c in self.COLUMNS])
        self.verticalHeader().setVisible(False)
        self.setSelectionMode(QtWidgets.QAbstractItemView.SelectionMode.NoSelection)
        self.horizontalHeader().setSectionResizeMode(QtWidgets.QHeaderView.ResizeMode.ResizeToContents)
        self.setToolTip("Edit a setting while the race plays: it applies from the next iteration "
                        "(the future beyond the cursor is rewritten). Untick to hide a path.")
        self.names: tuple = ()
        self.boxes: dict[str, QtWidgets.QDoubleSpinBox] = {}
        self.checks: dict[str, QtWidgets.QCheckBox] = {}

    def set_values(self, names: list[str], titles: list[str], hyper: dict[str, dict[str, float]]) -> None:
        if tuple(names) != self.names:
            self._rebuild(names, titles, hyper)
        for name, values in hyper.items():
            for hp, value in values.items():
                box = self.boxes.get(f"{name}.{hp}")
                if box is not None and not box.hasFocus() and abs(box.value() - value) > 1e-12:
                    box.blockSignals(True)
                    box.setValue(value)
                    box.blockSignals(False)

    def _rebuild(self, names, titles, hyper) -> None:
        self.names = tuple(names)
        self.boxes.clear()
        self.checks.clear()
        self.setRowCount(len(names))
        used = [c for c in self.COLUMNS if any(c in hyper.get(n, {}) for n in names)]
        for col, c in enumerate(self.COLUMNS, start=1):
            self.setColumnHidden(col, c not in used)
        for row, (name, title) in enumerate(zip(names, titles)):
            check = QtWidgets.QCheckBox(title)
            check.setChecked(True)
            check.setStyleSheet(f"QCheckBox {{ color: {color_of(name, row)}; font-weight: bold; }}")
            check.toggled.connect(lambda on, n=name: self.visibility.emit(n, on))
            self.setCellWidget(row, 0, check)
            self.checks[name] = check
            for col, hp in enumerate(self.COLUMNS, start=1):
                if hp not in hyper.get(name, {}):
                    self.setCellWidget(row, col, None)
                    continue
                box = QtWidgets.QDoubleSpinBox()
                box.setDecimals(6 if hp == "lr" else 5)
                box.setRange(0.0, HYPER_MAX[hp])
                box.setSingleStep(0.0001 if hp == "lr" and hyper[name][hp] < 0.01 else 0.01)
                box.setKeyboardTracking(False)
                box.setFrame(False)
                box.setValue(hyper[name][hp])
                box.valueChanged.connect(lambda v, key=f"{name}.{hp}": self.set_hyperparam.emit(key, float(v)))
                self.setCellWidget(row, col, box)
                self.boxes[f"{name}.{hp}"] = box
        self.resizeColumnsToContents()


class RacePlot(pg.GraphicsLayoutWidget):
    """The contour plot with paths, current points, start, minima and the update arrows; the
    legend (each optimizer's current loss) sits in its own column, never over the paths."""

    clicked = QtCore.Signal(float, float)

    def __init__(self, parent=None):
        super().__init__(parent=parent)
        self.plot_item = self.addPlot(row=0, col=0)
        self.plot_item.setAspectLocked(True)
        self.plot_item.setLabel("bottom", "x")
        self.plot_item.setLabel("left", "y")
        self.image = pg.ImageItem()
        self.image.setColorMap(CONTOUR_MAP)
        self.image.setZValue(-20)
        # the surface never changes during a race: Qt keeps it as a pixmap and only blits it
        self.image.setCacheMode(QtWidgets.QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self.addItem = self.plot_item.addItem
        self.removeItem = self.plot_item.removeItem
        self.plot = self.plot_item.plot
        self.addItem(self.image)
        self.contours = pg.PlotCurveItem([], [], pen=pg.mkPen("#8f9fb0", width=1), connect="finite", antialias=False)
        self.contours.setZValue(-10)
        self.contours.setCacheMode(QtWidgets.QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self.addItem(self.contours)
        self.minima = pg.ScatterPlotItem(symbol="x", size=12, pen=pg.mkPen("#222", width=2), brush=None)
        self.addItem(self.minima)
        self.start = pg.ScatterPlotItem(symbol="star", size=18, pen=pg.mkPen("k", width=1.2), brush="w")
        self.start.setZValue(5)
        self.addItem(self.start)
        # the title in its own row: a long formula never squeezes the plot
        self.title = pg.LabelItem("", size="10pt")
        self.ci.removeItem(self.plot_item)
        self.ci.addItem(self.title, row=0, col=0)
        self.ci.addItem(self.plot_item, row=1, col=0)
        self.points = pg.ScatterPlotItem(size=11, pen=pg.mkPen("k", width=1.2))
        self.points.setZValue(10)
        self.addItem(self.points)
        self.paths: dict[str, pg.PlotDataItem] = {}
        self.arrows: dict[str, dict[str, pg.PlotDataItem]] = {}
        self.scene().sigMouseClicked.connect(self._on_click)

    def _on_click(self, event) -> None:
        if event.button() != QtCore.Qt.MouseButton.LeftButton or event.double():
            return
        vb = self.plot_item.vb
        if not vb.sceneBoundingRect().contains(event.scenePos()):
            return
        p = vb.mapSceneToView(event.scenePos())
        self.clicked.emit(float(p.x()), float(p.y()))

    def ensure(self, names: list[str], titles: list[str]) -> None:
        """Create the items of every optimizer once (in order, so the legend keeps that order)."""
        for name in list(self.paths):
            if name not in names:
                self.removeItem(self.paths.pop(name))
                for item in self.arrows.pop(name).values():
                    self.removeItem(item)
        for i, (name, title) in enumerate(zip(names, titles)):
            if name in self.paths:
                continue
            c = color_of(name, i)
            self.paths[name] = pg.PlotCurveItem([], [], pen=pg.mkPen(c, width=2.2), antialias=True)
            self.addItem(self.paths[name])
            items = {
                "grad": pg.PlotCurveItem([], [], pen=pg.mkPen(GRAD_COLOR, width=1.6), connect="finite"),
                "direction": pg.PlotCurveItem([], [], pen=pg.mkPen(c, width=1.8, style=QtCore.Qt.PenStyle.DashLine),
                                              connect="finite"),
                "step": pg.PlotCurveItem([], [], pen=pg.mkPen(c, width=3.2), connect="finite"),
                "scale": pg.PlotCurveItem([], [], pen=pg.mkPen(c, width=1.2, style=QtCore.Qt.PenStyle.DotLine)),
            }
            for item in items.values():
                item.setZValue(8)
                self.addItem(item)
            self.arrows[name] = items



class Legend(QtWidgets.QWidget):
    """Each optimizer's colour, name and current loss, beside the plot (never over a path).
    Painted directly: it changes every frame, and a rich-text label cost ~8 ms per frame."""

    ROW = 19

    def __init__(self, parent=None):
        super().__init__(parent)
        self.rows: list[tuple] = []
        self.setSizePolicy(QtWidgets.QSizePolicy.Policy.Preferred, QtWidgets.QSizePolicy.Policy.Fixed)

    def set_rows(self, rows: list[tuple[str, str, str, str, bool]]) -> None:
        """rows: (colour, title, loss text, status text, shown)."""
        if rows == self.rows:
            return
        resized = len(rows) != len(self.rows)
        self.rows = rows
        if resized:
            self.setFixedHeight(self.ROW * len(rows) + 6)
        self.update()

    def sizeHint(self) -> QtCore.QSize:
        return QtCore.QSize(230, self.ROW * max(len(self.rows), 1) + 6)

    def paintEvent(self, event) -> None:
        p = QtGui.QPainter(self)
        p.setRenderHint(QtGui.QPainter.RenderHint.Antialiasing)
        bold = QtGui.QFont(self.font())
        bold.setBold(True)
        mono = QtGui.QFontDatabase.systemFont(QtGui.QFontDatabase.SystemFont.FixedFont)
        mono.setPointSizeF(self.font().pointSizeF())
        x_name = 34
        x_loss = x_name + 8 + max((QtGui.QFontMetrics(bold).horizontalAdvance(r[1]) for r in self.rows), default=60)
        for i, (c, title, loss, status, shown) in enumerate(self.rows):
            y = 3 + i * self.ROW
            mid = y + self.ROW // 2
            color = QtGui.QColor(c if shown else "#cccccc")
            p.setPen(QtGui.QPen(color, 3))
            p.drawLine(4, mid, 28, mid)
            p.setPen(QtGui.QColor("#222" if shown else "#aaa"))
            p.setFont(bold)
            p.drawText(QtCore.QRect(x_name, y, x_loss - x_name, self.ROW), QtCore.Qt.AlignmentFlag.AlignVCenter, title)
            p.setFont(mono)
            p.drawText(QtCore.QRect(x_loss, y, 200, self.ROW), QtCore.Qt.AlignmentFlag.AlignVCenter,
                       f"f = {loss}" + (f"  {status}" if status else ""))
        p.end()


class OptimizerView(LabView):
    """The race (surface mode) or the network race with its landscape (network mode)."""

    owns_curves = True  # it draws every optimizer's loss on a log scale itself
    shows_network = False  # no layer stack: its blocks are the optimizers, picked in the view itself

    apply_settings = QtCore.Signal(dict)  # a new run with these settings (e.g. a start point clicked)

    def __init__(self, parent=None):
        super().__init__(parent)
        outer = QtWidgets.QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        self.header = QtWidgets.QLabel()
        self.header.setTextFormat(QtCore.Qt.TextFormat.RichText)
        self.header.setWordWrap(True)
        outer.addWidget(self.header)
        self.stack = QtWidgets.QStackedWidget()
        outer.addWidget(self.stack, 1)

        # ---- surface mode
        surface_page = QtWidgets.QWidget()
        grid = QtWidgets.QGridLayout(surface_page)
        grid.setContentsMargins(0, 0, 0, 0)
        self.race = RacePlot()
        self.race.setToolTip("Contours of f(x, y); each optimizer's path from the shared start (★). Click anywhere "
                             "to start a new race from there. Paused: arrows show each optimizer's next update "
                             "θ ← θ + Δθ split into its parts (the gradient step −η·g, momentum, the rescaling).")
        self.race.clicked.connect(self._clicked)
        self.update_panel = QtWidgets.QLabel()
        self.update_panel.setTextFormat(QtCore.Qt.TextFormat.RichText)
        self.update_panel.setAlignment(QtCore.Qt.AlignmentFlag.AlignTop | QtCore.Qt.AlignmentFlag.AlignLeft)
        self.update_panel.setWordWrap(True)
        self.update_panel.setTextInteractionFlags(QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
        self.log_axis = Log10Axis("left")
        self.lin_axis = pg.AxisItem("left")
        self.loss_plot = pg.PlotWidget(axisItems={"left": self.log_axis})
        self.loss_plot.setToolTip("f(x, y) at each optimizer's point, iteration by iteration (log scale: a "
                                  "straight line down is a constant rate of convergence).")
        self.loss_item = self.loss_plot.getPlotItem()
        self.loss_item.setTitle("loss f(x, y) vs iteration", size="9pt")
        self.loss_item.setLabel("bottom", "iteration")
        self.loss_item.showGrid(x=True, y=True, alpha=0.25)
        self.loss_cursor = pg.InfiniteLine(angle=90, pen=pg.mkPen("#888", style=QtCore.Qt.PenStyle.DashLine))
        self.loss_item.addItem(self.loss_cursor)
        self.loss_curves: dict[str, pg.PlotDataItem] = {}
        self.loss_item.disableAutoRange()  # ranges move in steps (see _loss_range): no re-layout every frame
        self.loss_range = None
        self.table = HyperTable()
        self.table.set_hyperparam.connect(self.set_hyperparam)
        self.table.visibility.connect(self._set_visible)
        self.legend = Legend()
        side = QtWidgets.QWidget()
        side.setMinimumWidth(230)
        side.setMaximumWidth(285)
        sv = QtWidgets.QVBoxLayout(side)
        sv.setContentsMargins(2, 2, 2, 2)
        sv.addWidget(self.legend)
        scroll = QtWidgets.QScrollArea()
        scroll.setWidget(self.update_panel)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QtWidgets.QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(QtCore.Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        sv.addWidget(scroll, 1)
        top = QtWidgets.QWidget()
        th = QtWidgets.QHBoxLayout(top)
        th.setContentsMargins(0, 0, 0, 0)
        th.addWidget(self.race, 1)
        th.addWidget(side)
        bottom = QtWidgets.QWidget()
        bh = QtWidgets.QHBoxLayout(bottom)
        bh.setContentsMargins(0, 0, 0, 0)
        bh.addWidget(self.loss_plot, 3)
        bh.addWidget(self.table, 2)
        split = QtWidgets.QSplitter(QtCore.Qt.Orientation.Vertical)
        split.addWidget(top)
        split.addWidget(bottom)
        split.setStretchFactor(0, 5)
        split.setStretchFactor(1, 2)
        grid.addWidget(split, 0, 0)
        self.stack.addWidget(surface_page)

        # ---- network mode
        network_page = QtWidgets.QWidget()
        nv = QtWidgets.QVBoxLayout(network_page)
        nv.setContentsMargins(0, 0, 0, 0)
        self.landscape = LandscapeView(title="Held-out loss around the networks' training paths")
        self.landscape.compute.connect(lambda args: self.command.emit("landscape", args))
        self.landscape.cancel.connect(lambda: self.command.emit("landscape_cancel", {}))
        self.net_loss = pg.PlotWidget(axisItems={"left": Log10Axis("left")})
        self.net_loss.setToolTip("Each optimizer's network: the training loss L = −(1/B) Σ log p(true) on the same "
                                 "batches, log scale.")
        self.net_loss_item = self.net_loss.getPlotItem()
        self.net_loss_item.setTitle("training loss (each network, same batches) vs iteration", size="9pt")
        self.net_loss_item.setLabel("left", "loss (log scale)")
        self.net_loss_item.showGrid(x=True, y=True, alpha=0.25)
        self.net_curves: dict[str, pg.PlotDataItem] = {}
        self.net_table = HyperTable()
        self.net_table.set_hyperparam.connect(self.set_hyperparam)
        self.net_table.visibility.connect(self._set_net_visible)
        bottom = QtWidgets.QHBoxLayout()
        bottom.addWidget(self.net_loss, 3)
        bottom.addWidget(self.net_table, 2)
        nv.addWidget(self.landscape, 3)
        nv.addLayout(bottom, 2)
        self.stack.addWidget(network_page)

        self.surface_key = None
        self.log_scale = True
        self.hidden: set[str] = set()
        self.last_view: dict | None = None
        self.bounds = (-1.0, 1.0, -1.0, 1.0)
        self._arrows_shown = False

    # ------------------------------------------------------------------ intents
    def _clicked(self, x: float, y: float) -> None:
        x0, x1, y0, y1 = self.bounds
        if not (x0 <= x <= x1 and y0 <= y <= y1):
            return
        span = max(x1 - x0, y1 - y0)
        # a click near a current point selects that optimizer instead
        v = self.last_view or {}
        cur = np.asarray(v.get("current", np.zeros((0, 2))))
        if len(cur):
            d = np.hypot(cur[:, 0] - x, cur[:, 1] - y)
            k = int(np.argmin(d))
            if d[k] < 0.02 * span and v["optimizers"][k] not in self.hidden:
                self.select_block.emit(k)
                return
        span = max(x1 - x0, y1 - y0)
        decimals = max(0, 2 - math.floor(math.log10(span)))  # about 1/100 of the plot: a click is not finer
        values = {"start": f"{round(x, decimals):g},{round(y, decimals):g}"}
        if self.isSignalConnected(QtCore.QMetaMethod.fromSignal(self.apply_settings)):
            self.apply_settings.emit(values)
        else:  # until the window routes apply_settings itself: its settings' Apply path
            win = self.window()
            if hasattr(win, "_apply_settings"):
                win._apply_settings(values)

    def _set_visible(self, name: str, on: bool) -> None:
        (self.hidden.discard if on else self.hidden.add)(name)
        if self.last_view is not None:
            self._render_surface(self.last_view, self._last_snap)

    def _set_net_visible(self, name: str, on: bool) -> None:
        (self.hidden.discard if on else self.hidden.add)(name)
        if name in self.net_curves:
            self.net_curves[name].setVisible(on)

    # ------------------------------------------------------------------ LabView
    def on_ready(self, info: dict) -> None:
        self.hidden.clear()

    def on_reply(self, name: str, reply: dict) -> None:
        pass

    def on_task(self, name: str, progress: dict) -> None:
        if name != "landscape":
            return
        if progress.get("done"):
            if "loss" in progress:
                v = self.last_view or {}
                self.landscape.set_result(progress, self._colors(v), self._titles(v))
            else:
                self.landscape.set_busy(False)
        elif progress.get("cancelled"):
            self.landscape.set_busy(False)
        else:
            self.landscape.set_progress(float(progress.get("progress", 0.0)), progress.get("stage", ""))

    @staticmethod
    def _colors(v: dict) -> dict[str, str]:
        return {n: color_of(n, i) for i, n in enumerate(v.get("optimizers", []))}

    @staticmethod
    def _titles(v: dict) -> dict[str, str]:
        return dict(zip(v.get("optimizers", []), v.get("titles", [])))

    def set_snapshot(self, snap: dict) -> None:
        v = snap.get("view") or {}
        if not v:
            return
        self.last_view, self._last_snap = v, snap
        if v.get("mode") == "network":
            self.stack.setCurrentIndex(1)
            self._render_network(v, snap)
        else:
            self.stack.setCurrentIndex(0)
            self._render_surface(v, snap)

    # ------------------------------------------------------------------ surface mode
    def _set_surface(self, s: dict) -> None:
        x, y, z = np.asarray(s["x"]), np.asarray(s["y"]), np.asarray(s["z"], dtype=np.float64)
        self.log_scale = bool(s.get("log_scale"))
        if self.log_scale:
            f_min = float(s.get("f_min") or 0.0)
            shift = z - f_min
            eps = max(1e-6, 1e-4 * float(np.nanmax(shift)))
            shown = np.log10(np.maximum(shift, 0) + eps)  # log colours: the valleys get as many shades as the peaks
        else:
            shown = z
        lo, hi = float(np.nanmin(shown)), float(np.nanmax(shown))
        self.race.image.setImage(shown, levels=(lo, hi), autoLevels=False)
        self.race.image.setRect(image_rect(x, y))
        levels = np.linspace(lo, hi, 18)[1:-1]
        cx, cy = contour_lines(x, y, shown, levels)
        self.race.contours.setData(cx, cy, connect="finite")
        minima = s.get("minima") or ()
        self.race.minima.setData([{"pos": tuple(m)} for m in minima])
        self.bounds = tuple(float(b) for b in s["bounds"])
        self.race.plot_item.setRange(xRange=self.bounds[:2], yRange=self.bounds[2:], padding=0.01)
        self.race.plot_item.setLimits(xMin=self.bounds[0] - 10 * (self.bounds[1] - self.bounds[0]),
                                      xMax=self.bounds[1] + 10 * (self.bounds[1] - self.bounds[0]))
        self.race.title.setText(f"<b>{s['title']}</b>: {s['formula']}"
                                + (" · log colour scale" if self.log_scale else ""))
        self.loss_item.setAxisItems({"left": self.log_axis if self.log_scale else self.lin_axis})
        self.loss_range = None
        self.loss_item.setLabel("left", "f (log scale)" if self.log_scale else "f")

    def _render_surface(self, v: dict, snap: dict) -> None:
        s = v["surface"]
        if s.get("key") != self.surface_key:
            self._set_surface(s)
            self.surface_key = s.get("key")
        names, titles = v["optimizers"], v["titles"]
        self.race.ensure(names, titles)
        paths, losses, its = np.asarray(v["paths"]), np.asarray(v["losses"]), np.asarray(v["iterations"])
        current, cur_loss, stopped = np.asarray(v["current"]), np.asarray(v["current_loss"]), v["stopped"]
        spots, rows = [], []
        cell = max(self.bounds[1] - self.bounds[0], self.bounds[3] - self.bounds[2]) / 1500.0
        for k, name in enumerate(names):
            shown = name not in self.hidden
            path = self.race.paths[name]
            path.setVisible(shown)
            if shown:
                xy = thin_path(paths[k], cell)
                path.setData(xy[:, 0], xy[:, 1])
                spots.append({"pos": (current[k, 0], current[k, 1]), "brush": pg.mkBrush(color_of(name, k)),
                              "symbol": "o" if stopped[k] < 0 else "s"})
            rows.append((color_of(name, k), titles[k], fmt(float(cur_loss[k])),
                         f"out at {stopped[k]}" if stopped[k] >= 0 else "", shown))
            curve = self.loss_curves.get(name)
            if curve is None:
                curve = self.loss_curves[name] = pg.PlotCurveItem([], [], pen=pg.mkPen(color_of(name, k), width=1.5),
                                                                  antialias=False)
                self.loss_item.addItem(curve)
            curve.setVisible(shown)
            if shown:
                y = losses[k]
                curve.setData(*thin_curve(its, np.log10(np.maximum(y, LOSS_FLOOR)) if self.log_scale else y))
        for name in list(self.loss_curves):
            if name not in names:
                self.loss_item.removeItem(self.loss_curves.pop(name))
        self.race.points.setData(spots)
        self.legend.set_rows(rows)
        self._loss_range(its, losses, [n not in self.hidden for n in names])
        start = v.get("start")
        self.race.start.setData([{"pos": tuple(start)}] if start is not None else [])
        self.loss_cursor.setValue(snap.get("iteration", 0))
        self.table.set_values(names, titles, v.get("optimizer_hyperparams", {}))
        sel = int(snap.get("selected_block", 0))
        sel = sel if 0 <= sel < len(names) else 0
        paused = not snap.get("playing", False)
        self._draw_updates(v, paused, sel)
        it = snap.get("iteration", 0)
        best = int(np.argmin(np.where(np.asarray(stopped) < 0, cur_loss, np.inf))) if any(
            st < 0 for st in stopped) else int(np.argmin(cur_loss))
        self._set_header(f"<b>Iteration {it}</b> · every optimizer started at ★ {vec(start)} · "
                         f"lowest now: <span style='color:{color_of(names[best], best)}'><b>{titles[best]}</b></span> "
                         f"(f = {fmt(float(cur_loss[best]))}) · "
                         + ("<i>paused: arrows show each optimizer's next update</i>" if paused
                            else "playing · pause (Space) to see what each update is made of")
                         + " · click the plot to start from another point")

    def _loss_range(self, its: np.ndarray, losses: np.ndarray, shown: list[bool]) -> None:
        """Grow the x range in steps of 1.5×, and move the y range only when the curves leave it
        or fill less than half of it, so the axes are not redrawn on every frame."""
        ys = losses[np.asarray(shown, dtype=bool)] if any(shown) else losses
        ys = np.log10(np.maximum(ys, LOSS_FLOOR)) if self.log_scale else ys
        ys = ys[np.isfinite(ys)]
        if not len(its) or not ys.size:
            return
        x_max = float(its[-1])
        lo, hi = float(ys.min()), float(ys.max())
        pad = 0.05 * max(hi - lo, 1e-9)
        old = self.loss_range
        x_hi = old[1] if old and x_max <= old[1] else max(10.0, 1.5 * x_max)
        if old and old[2] <= lo and hi <= old[3] and (hi - lo) > 0.5 * (old[3] - old[2]):
            y_lo, y_hi = old[2], old[3]
        else:
            y_lo, y_hi = lo - pad, hi + pad
        new = (0.0, x_hi, y_lo, y_hi)
        if new != old:
            self.loss_range = new
            self.loss_item.setRange(xRange=new[:2], yRange=new[2:], padding=0)

    def _set_header(self, text: str) -> None:
        if text != self.header.text():
            self.header.setText(text)

    def _draw_updates(self, v: dict, paused: bool, sel: int) -> None:
        names = v["optimizers"]
        if not paused:
            if self._arrows_shown:  # clear once; while playing nothing else to do
                for items in self.race.arrows.values():
                    for item in items.values():
                        item.setData([], [])
                self._arrows_shown = False
            self._update_text(v, paused, sel)
            return
        self._arrows_shown = True
        updates = v.get("next_updates") or [{}] * len(names)
        current = np.asarray(v["current"])
        x0, x1, y0, y1 = self.bounds
        L = 0.09 * max(x1 - x0, y1 - y0)  # display length of the direction arrows
        head = 0.25 * L
        for k, name in enumerate(names):
            items = self.race.arrows[name]
            comp = updates[k] if k < len(updates) else {}
            if not paused or not comp or name in self.hidden:
                for item in items.values():
                    item.setData([], [])
                continue
            p = current[k]
            if float(np.hypot(*np.asarray(comp["step"]))) < 1e-6 * max(x1 - x0, y1 - y0):
                for item in items.values():  # converged: its directions are rounding noise
                    item.setData([], [])
                continue
            g = np.asarray(comp["grad"], dtype=np.float64)
            d = np.asarray(comp["direction"], dtype=np.float64)
            step = np.asarray(comp["step"], dtype=np.float64)
            scale = np.asarray(comp["scale"], dtype=np.float64)
            gn, dn = float(np.hypot(*g)), float(np.hypot(*d))
            items["grad"].setData(*arrow(p, -g / gn * L if gn > 0 else g, head), connect="finite")
            same = gn > 0 and dn > 0 and np.allclose(d / dn, g / gn, atol=1e-9)
            if dn > 0 and not same:
                items["direction"].setData(*arrow(p, -d / dn * L, head), connect="finite")
            else:
                items["direction"].setData([], [])
            items["step"].setData(*arrow(p, step, head * 1.2), connect="finite")  # true length: where it goes next
            smax = float(np.max(np.abs(scale)))
            if smax > 0 and k == sel:
                items["scale"].setData(*ellipse(p, 0.5 * L * abs(scale[0]) / smax, 0.5 * L * abs(scale[1]) / smax))
            else:
                items["scale"].setData([], [])
        self._update_text(v, paused, sel)

    def _update_text(self, v: dict, paused: bool, sel: int) -> None:
        names, titles, rules = v["optimizers"], v["titles"], v.get("rules", [""] * len(v["optimizers"]))
        comp = (v.get("next_updates") or [{}] * len(names))[sel]
        name = names[sel]
        c = color_of(name, sel)
        rule = rules[sel].replace("\n", "<br>")
        hyper = v.get("optimizer_hyperparams", {}).get(name, {})
        order = list(HYPER_LABELS)
        settings = ", ".join(f"{HYPER_LABELS.get(k, k)} = {fmt(val)}"
                             for k, val in sorted(hyper.items(), key=lambda kv: order.index(kv[0])
                                                  if kv[0] in order else len(order)))
        html = [f"<span style='color:{c}; font-size:12pt'><b>{titles[sel]}</b></span> "
                f"<span style='color:#666'>(click its dot or its block)</span>",
                f"<div style='font-family:monospace; background:#f4f4f4; padding:4px'>{rule}</div>",
                f"<div style='color:#555'>{settings}</div>"]
        p = np.asarray(v["current"])[sel]
        stopped = v["stopped"][sel]
        if not paused:
            html.append("<p>Pause (Space) to see what its next update is made of, with the numbers.</p>")
        elif stopped >= 0:
            html.append(f"<p>It left the plot at iteration {stopped} and stopped there "
                        "(its steps grew too large: try a smaller η).</p>")
        elif not comp:
            html.append("<p>No update yet.</p>")
        else:
            dname = v.get("direction_names", ["g"] * len(names))[sel]
            rows = [("θ", vec(p)), ("g = ∇f", vec(comp["grad"]))]
            for k2, val in comp.get("terms", {}).items():
                rows.append((k2, vec(val)))
            rows += [(f"direction {dname}", vec(comp["direction"])),
                     ("scale", vec(comp["scale"])),
                     ("Δθ", vec(comp["step"]))]
            table = "".join(f"<tr><td style='color:#555; padding-right:6px'><tt>{a}</tt></td><td><tt>{b}</tt></td></tr>"
                            for a, b in rows)
            decay = " − ηλθ" if "−ηλθ" in comp.get("terms", {}) else ""
            html.append(f"<p><b>Its next update</b> Δθ = −scale ⊙ direction{decay}:</p><table>{table}</table>")
        html.append("<p style='color:#666; font-size:9pt'>Arrows when paused: <b style='color:#444'>grey</b> −g "
                    "(downhill), <b>dashed</b> −direction, both at a fixed length; <b>thick</b>: the next step, "
                    "true length; <b>dotted</b>: the scale per axis.</p>")
        text = "".join(html)
        if text != self.update_panel.text():
            self.update_panel.setText(text)

    # ------------------------------------------------------------------ network mode
    def _render_network(self, v: dict, snap: dict) -> None:
        names, titles = v["optimizers"], v["titles"]
        its, losses = np.asarray(v["iterations"]), np.asarray(v["losses"])
        for k, name in enumerate(names):
            curve = self.net_curves.get(name)
            if curve is None:
                curve = self.net_curves[name] = self.net_loss_item.plot(
                    [], [], pen=pg.mkPen(color_of(name, k), width=1.5), name=titles[k])
            if losses.size:
                curve.setData(*thin_curve(its, np.log10(np.maximum(losses[k], LOSS_FLOOR))))
        self.net_table.set_values(names, titles, v.get("optimizer_hyperparams", {}))
        if "landscape" in v:
            self.landscape.set_result(v["landscape"], self._colors(v), self._titles(v))
        recorded = int(v.get("recorded", 0))
        self._set_header(f"<b>Iteration {snap.get('iteration', 0)}</b> · one MLP 784→32→10 per optimizer, "
                         f"the same initial weights and the same batches · {recorded} point"
                         f"{'' if recorded == 1 else 's'} of each path recorded · compute the landscape to see "
                         "the paths on the loss surface")
