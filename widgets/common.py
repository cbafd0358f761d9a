"""Shared pieces of the views: colour maps, tiling, and small plot panels.

Every panel builds its pyqtgraph items once; ``set_*`` methods only push new data.
"""
from __future__ import annotations

import html
import math
import time

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

# Phase colours, shared by the diagram, the status bar and the legends.
PHASE_COLORS = {"forward": "#4C78A8", "loss": "#E45756", "backward": "#F58518", "update": "#54A24B"}
TEXT = {"scale": 1.0}  # presenter mode's text size (1.0 = 100 %): painted text multiplies its sizes by it
SERIES_COLORS = ["#4C78A8", "#F58518", "#54A24B", "#E45756", "#72B7B2", "#B279A2", "#FF9DA6", "#9D755D", "#BAB0AC"]

SEQUENTIAL = pg.colormap.get("viridis")
DIVERGING = pg.colormap.get("CET-D1A")  # blue – white – red
GRAYS = pg.ColorMap([0.0, 1.0], [(0, 0, 0), (255, 255, 255)])


def cache_axes(root: QtWidgets.QWidget) -> int:
    """Every pyqtgraph axis under ``root`` paints from a cached pixmap: an axis is redrawn (its ticks laid
    out and its text drawn) only when its own range or labels change, not whenever a curve or an image in
    its plot moves (measured: most of a frame's paint time went to axes replaying their ticks). Returns
    how many axes it set."""
    mode = QtWidgets.QGraphicsItem.CacheMode.DeviceCoordinateCache
    count = 0
    for view in root.findChildren(pg.GraphicsView):
        scene = view.scene()
        for item in scene.items() if scene is not None else ():
            if isinstance(item, pg.AxisItem) and item.cacheMode() != mode:
                item.setCacheMode(mode)
                count += 1
    return count


def nice_step(x: float) -> float:
    """The round number 1, 2 or 5 × 10ⁿ at or below ``x`` (> 0)."""
    e = 10.0 ** math.floor(math.log10(x))
    m = x / e
    return e * (5.0 if m >= 5 else 2.0 if m >= 2 else 1.0)


class SteadyRange:
    """One axis of a plot whose range moves only when the data leaves it or fills less than ``fill`` of it:
    each move lays out its ticks again, so a range that follows every frame's data costs every frame. A move
    pads the data by ``pad`` of its span and rounds each end out to a round step (1, 2 or 5 × 10ⁿ, about a
    quarter of the range): a curve growing to the right moves its axis about 7 times a decade rather than
    16, and the next example's slightly wider values mostly stay inside."""

    def __init__(self, plot, axis: str = "y", pad: float = 0.1, fill: float = 0.4):
        self.plot, self.axis, self.pad, self.fill = plot, axis, pad, fill
        self.range: tuple[float, float] | None = None

    def fit(self, lo: float, hi: float) -> None:
        if not (np.isfinite(lo) and np.isfinite(hi)):
            return
        r = self.range
        if r is not None and r[0] <= lo and hi <= r[1] and (hi - lo) >= self.fill * (r[1] - r[0]):
            return
        self.range = steady_bounds(lo, hi, self.pad)
        if self.axis == "y":
            self.plot.setYRange(*self.range, padding=0)
        else:
            self.plot.setXRange(*self.range, padding=0)
        settle(self.plot)


def steady_bounds(lo: float, hi: float, pad: float) -> tuple[float, float]:
    """[lo, hi] padded by ``pad`` of its span and rounded out to a round step; an end at 0 stays at 0."""
    span = hi - lo if hi > lo else (abs(hi) or 1.0)
    a = lo - pad * span if lo != 0 else 0.0
    b = hi + pad * span if hi != 0 else 0.0
    if a == b:
        return a - 1.0, b + 1.0
    step = nice_step((b - a) / 4)
    a, b = math.floor(a / step) * step, math.ceil(b / step) * step
    # float rounding (0.1 · 3) must not put an end inside the data
    return min(a, lo), max(b, hi)


def settle(plot) -> None:
    """Apply a new view range now, not in the middle of the next paint: pyqtgraph moves a view's items when
    it paints, which asks for a second paint of the whole plot (measured: the inspector's plots painted
    two to four times per frame)."""
    plot.getViewBox().updateMatrix()


class SteadyLabel(QtWidgets.QLabel):
    """A label whose room only grows: a shorter text keeps the space of the longest so far, so a text that
    changes every frame (an iteration count, a phase name, a caption wrapping to one line or two) does not
    lay out its toolbar, status bar or page again (a relayout resizes and repaints every plot beside it:
    up to 190 ms at the start of play). ``lines``: the height a word-wrapped label holds from the start."""

    def __init__(self, text: str = "", parent=None, lines: int = 1, rich: bool = False, wrap: bool = False):
        super().__init__(parent)
        if rich:
            self.setTextFormat(QtCore.Qt.TextFormat.RichText)
        self.setWordWrap(wrap)
        self._lines = lines
        self._width = -1
        if wrap:
            self.setMinimumHeight(self._floor())
        if text:
            self.setText(text)

    def setText(self, text: str) -> None:
        if text == self.text():
            return
        super().setText(text)
        self._hold()

    def _hold(self) -> None:
        if self.wordWrap():
            if self.width() > 0:
                need = self.heightForWidth(self.width())
                if need > self.minimumHeight():
                    self.setMinimumHeight(need)
        else:
            need = self.sizeHint().width()
            if need > self.minimumWidth():
                self.setMinimumWidth(need)

    def _floor(self) -> int:
        """The height held from the start: ``lines`` lines (none below two)."""
        return self._lines * self.fontMetrics().lineSpacing() + 2 * self.margin() if self._lines > 1 else 0

    def resizeEvent(self, ev) -> None:
        super().resizeEvent(ev)
        if self.wordWrap() and ev.size().width() != self._width:   # a new width (the window resized): fit again
            self._width = ev.size().width()
            self.setMinimumHeight(max(self._floor(), self.heightForWidth(self._width)))


class Refresh:
    """When a costly panel (histograms, per-channel lines, heatmaps, reports) draws again: while training plays,
    at most every ``period`` seconds; paused or stepped, at once (the snapshot after a pause says it is not
    playing, so such a panel never lags behind a pause or a step by more than the frame that shows it)."""

    def __init__(self, period: float = 0.25):
        self.period = period
        self.last = -math.inf
        self.key = None

    def due(self, snap: dict, key=None) -> bool:
        """``key``: what the panel shows (a selected block, a layer): a new one draws at once."""
        now = time.monotonic()
        if snap.get("playing") and now - self.last < self.period and key == self.key:
            return False
        self.last, self.key = now, key
        return True

    def again(self) -> None:
        """The next snapshot draws, playing or not (a new run, a tab shown again)."""
        self.last = -math.inf

    def drawn(self, key=None) -> None:
        """Drawn just now outside ``due`` (a tab shown with the latest snapshot): the next draw is a period on."""
        self.last, self.key = time.monotonic(), key


def tile(maps: np.ndarray, columns: int | None = None, pad: int = 1, fill: float = np.nan) -> np.ndarray:
    """(K, H, W) -> one (rows·(H+pad)−pad, cols·(W+pad)−pad) image, maps left to right, top to bottom."""
    maps = np.asarray(maps, dtype=np.float32)
    if maps.ndim == 2:
        maps = maps[None]
    k, h, w = maps.shape
    cols = columns or max(1, math.ceil(math.sqrt(k)))
    rows = math.ceil(k / cols)
    out = np.full((rows * (h + pad) - pad, cols * (w + pad) - pad), fill, dtype=np.float32)
    for i in range(k):
        r, c = divmod(i, cols)
        out[r * (h + pad): r * (h + pad) + h, c * (w + pad): c * (w + pad) + w] = maps[i]
    return out


def symmetric_levels(a: np.ndarray) -> tuple[float, float]:
    m = float(np.nanmax(np.abs(a))) if np.size(a) and np.isfinite(np.nanmax(np.abs(a))) else 0.0
    m = m if m > 0 else 1e-12
    return -m, m


def range_levels(a: np.ndarray) -> tuple[float, float]:
    if not np.size(a) or not np.isfinite(np.nanmax(a)):
        return 0.0, 1.0
    lo, hi = float(np.nanmin(a)), float(np.nanmax(a))
    if hi - lo < 1e-12:
        hi = lo + 1e-6
    return lo, hi


class FittingLabel(pg.LabelItem):
    """A plot title that never widens its plot: pyqtgraph's LabelItem makes its text width the
    minimum width (at every resize), and a long title pushed the right end of the data out of
    view. This one may be narrower than its text: the text then starts at the left and is cut
    at the right (the full text is the tooltip)."""

    def updateMin(self) -> None:
        super().updateMin()
        self.setMinimumWidth(0)
        self._sizeHint[QtCore.Qt.SizeHint.MinimumSize] = (0, self._sizeHint[QtCore.Qt.SizeHint.MinimumSize][1])

    centre_when_it_fits = True   # a title; a caption stays at the left

    def resizeEvent(self, ev) -> None:
        if self.centre_when_it_fits:
            self.opts["justify"] = "left" if self.itemRect().width() > self.rect().width() else "center"
        super().resizeEvent(ev)


class FittingCaption(FittingLabel):
    """A caption under a panel: at the left, cut at the right when longer than the panel (whole in its tooltip)."""

    centre_when_it_fits = False


def fit_title(plot: pg.PlotItem, title: str, size: str = "9pt") -> None:
    """Set a plot's title without letting it widen the plot past its widget (see FittingLabel)."""
    if not isinstance(plot.titleLabel, FittingLabel):
        old = plot.titleLabel
        plot.layout.removeItem(old)
        old.setParentItem(None)
        plot.titleLabel = FittingLabel("", size=size)
        plot.layout.addItem(plot.titleLabel, 0, 1)
    plot.setTitle(title, size=size)
    plot.titleLabel.setToolTip(title)


def no_si_prefix(plot: pg.PlotItem, *axes: str) -> None:
    """Axes show values as they are: no "(x0.001)" scaling in the label."""
    for axis in axes or ("left", "bottom"):
        plot.getAxis(axis).enableAutoSIPrefix(False)


class OutsideLegend(pg.LegendItem):
    """A legend in the plot's own layout, under the x axis: it never covers the data.

    pyqtgraph's LegendItem floats over the view box; placed in a layout it must report its
    size as a size hint instead of setting its own geometry. It shows up to ``colCount`` entries
    side by side, fewer where its width would cut a name ("held-out m…" in a narrow panel)."""

    GAP = 12   # px between one entry and the next beside it

    def __init__(self, *args, colCount: int = 1, **kwargs):
        super().__init__(*args, colCount=colCount, **kwargs)
        self.max_columns = colCount
        self._width = 0.0

    def updateSize(self) -> None:
        # may be narrower than its entries (long names are cut at the right): it must never widen the
        # plot past its widget, as the ResNet lab's eight entries did
        self.setMinimumWidth(0)
        self.updateGeometry()

    def _addItemToLayout(self, sample, label) -> None:
        self._place(self._columns_for(self._width))

    def removeItem(self, item) -> None:
        super().removeItem(item)
        self._place(self._columns_for(self._width))   # the entries after it move up

    def resizeEvent(self, ev) -> None:
        super().resizeEvent(ev)
        self._width = ev.newSize().width()
        columns = self._columns_for(self._width)
        if columns != self.columnCount:
            self._place(columns)

    def _columns_for(self, width: float) -> int:
        if width <= 0 or not self.items:
            return self.max_columns
        widest = max(s.boundingRect().width() + l.item.boundingRect().width() for s, l in self.items) + self.GAP
        return int(max(1, min(self.max_columns, width // widest)))

    def _place(self, columns: int) -> None:
        """Every entry at its place in rows of ``columns`` (pyqtgraph's own count of the layout's columns
        does not shrink when entries go, so its placement left holes)."""
        for i in range(self.layout.count() - 1, -1, -1):
            self.layout.removeAt(i)
        self.columnCount = columns
        for k, (sample, label) in enumerate(self.items):
            row, col = divmod(k, columns)
            self.layout.addItem(sample, row, 2 * col, alignment=QtCore.Qt.AlignmentFlag.AlignVCenter)
            self.layout.addItem(label, row, 2 * col + 1)
        self.rowCount = math.ceil(len(self.items) / columns) if self.items else 0
        self.updateSize()


def legend_below(plot: pg.PlotItem, columns: int = 2, text_size: str = "8pt") -> OutsideLegend:
    """A legend under ``plot``'s x axis; curves plotted with a name are added to it."""
    legend = OutsideLegend(colCount=columns, labelTextSize=text_size, frame=False, verSpacing=-6)
    plot.layout.addItem(legend, 5, 1)  # rows of a PlotItem: title, top axis, view, bottom axis, label
    plot.legend = legend
    return legend


class _OnLeave(QtCore.QObject):
    """Calls ``callback`` when the watched widget loses the mouse."""

    def __init__(self, callback):
        super().__init__()
        self.callback = callback

    def eventFilter(self, obj, event) -> bool:
        if event.type() == QtCore.QEvent.Type.Leave:
            self.callback()
        return False


class HoverReadout:
    """Hovering a plot shows, at the nearest x, the value of every named curve.

    Reads the curves' own data (``xData``/``yData``), so it works for any plot; it draws a
    thin vertical line and one text box, both created once."""

    def __init__(self, plot: pg.PlotItem, x_name: str = "iteration", x_format=lambda x: f"{x:,.0f}"):
        self.plot, self.x_name, self.x_format = plot, x_name, x_format
        self.line = pg.InfiniteLine(angle=90, pen=pg.mkPen("#bbbbbb", width=1))
        self.text = pg.TextItem("", anchor=(0, 0), color="#222", fill=pg.mkBrush(255, 255, 255, 225),
                                border=pg.mkPen("#bbbbbb"))
        for item in (self.line, self.text):
            item.setZValue(1000)
            item.hide()
            plot.addItem(item, ignoreBounds=True)
        self.proxy = pg.SignalProxy(plot.scene().sigMouseMoved, rateLimit=30, slot=lambda args: self.show_at(args[0]))
        self.leave = _OnLeave(self.hide)  # the mouse left the widget: no readout left behind
        for view in plot.scene().views():
            view.viewport().installEventFilter(self.leave)

    def lines_at(self, x: float) -> list[str]:
        out = []
        for item in self.plot.listDataItems():
            name = item.name()
            xs, ys = item.xData, item.yData
            if not name or not item.isVisible() or xs is None or not len(xs):
                continue
            i = int(np.clip(np.searchsorted(xs, x), 1, len(xs) - 1)) if len(xs) > 1 else 0
            if len(xs) > 1 and abs(xs[i - 1] - x) <= abs(xs[i] - x):
                i -= 1
            out.append((xs[i], f"{name}: {fmt(float(ys[i]))}"))
        if not out:
            return []
        nearest_x = min(out, key=lambda o: abs(o[0] - x))[0]
        return [f"{self.x_name} {self.x_format(float(nearest_x))}"] + [text for _, text in out]

    def show_at(self, scene_pos) -> None:
        vb = self.plot.vb
        if not vb.sceneBoundingRect().contains(scene_pos):
            self.hide()
            return
        p = vb.mapSceneToView(scene_pos)
        x = 10 ** p.x() if self.plot.ctrl.logXCheck.isChecked() else p.x()
        lines = self.lines_at(x)
        if not lines:
            self.hide()
            return
        self.text.setText("\n".join(lines))
        # at the top of the plot, off the curve under the mouse; to the left when there is no room right
        box = vb.sceneBoundingRect()
        room_right, room_left = box.right() - scene_pos.x(), scene_pos.x() - box.left()
        left = room_right < self.text.boundingRect().width() + 6 and room_left > room_right
        self.text.setAnchor((1, 0) if left else (0, 0))
        _, (_, y_top) = vb.viewRange()
        self.text.setPos(p.x(), y_top)
        self.line.setValue(p.x())
        self.text.show()
        self.line.show()

    def hide(self) -> None:
        self.text.hide()
        self.line.hide()


def fmt(x: float) -> str:
    if x is None or not np.isfinite(x):
        return "–"
    if x == 0:
        return "0"
    if abs(x) >= 1e4 or abs(x) < 1e-3:
        return f"{x:.2e}"
    return f"{x:.4g}"


class ImagePanel(pg.GraphicsLayoutWidget):
    """One image with a title, a fixed aspect ratio and explicit levels (never auto-levels)."""

    def __init__(self, title: str = "", diverging: bool = False, parent=None, min_height: int = 120):
        super().__init__(parent=parent)
        self.setMinimumHeight(min_height)
        self.plot = self.addPlot(enableMenu=False)   # no mouse, no menu (building one costs ~20 ms a panel)
        fit_title(self.plot, title)
        self.plot.setAspectLocked(True)
        self.plot.invertY(True)
        self.plot.hideAxis("left")
        self.plot.hideAxis("bottom")
        self.plot.setMouseEnabled(False, False)
        self.plot.hideButtons()
        self.image = pg.ImageItem()
        self.plot.addItem(self.image)
        self.plot.disableAutoRange()   # fitted when the image's shape changes, not at each new image
        self.diverging = diverging
        self.image.setColorMap(DIVERGING if diverging else SEQUENTIAL)
        # a long caption is cut at the right (whole in its tooltip), never widening the panel past its widget:
        # "for a chosen example, or the first …" pushed the CNN's third small panel out of view
        self.caption = FittingCaption(justify="left", size="8pt")
        self.nextRow()
        self.addItem(self.caption)

    def set_title(self, title: str) -> None:
        if title != getattr(self, "_title", None):
            self._title = title
            fit_title(self.plot, title)

    def set_image(self, image: np.ndarray, levels: tuple[float, float] | None = None,
                  diverging: bool | None = None, caption: str | None = None, gray: bool = False) -> None:
        if diverging is not None and diverging != self.diverging:
            self.diverging = diverging
        cmap = GRAYS if gray else (DIVERGING if self.diverging else SEQUENTIAL)
        if cmap is not getattr(self, "_cmap", None):  # a new lookup table costs; most frames keep theirs
            self._cmap = cmap
            self.image.setColorMap(cmap)
        if levels is None:
            levels = symmetric_levels(image) if self.diverging else range_levels(image)
        self.image.setImage(np.nan_to_num(image, nan=levels[0] if not self.diverging else 0.0), levels=levels,
                            autoLevels=False)
        if np.shape(image) != getattr(self, "_shape", None):  # the view range follows the image's size only
            self._shape = np.shape(image)
            self.plot.autoRange(padding=0.02)
            settle(self.plot)
        if caption is not None:
            self.set_caption(caption)

    def set_caption(self, caption: str) -> None:
        if caption != getattr(self, "_caption", None):
            self._caption = caption
            self.caption.setText(caption)
            self.caption.setToolTip(caption)

    def clear_image(self, caption: str = "") -> None:
        if getattr(self, "_shape", None) is not None or self.image.image is not None:
            self.image.clear()
            self._shape = None
        self.set_caption(caption)


def show_numbers(axis: pg.AxisItem, on: bool) -> None:
    """An axis's numbers shown or hidden in place (drawn transparent: the axis keeps its width, so the plot
    beside it does not move). A panel with nothing computed yet hides them: they would be a range left over
    from other data (a flat line on a ±3e-14 axis)."""
    if getattr(axis, "_numbers_on", True) == on:
        return
    if not on:
        axis._shown_text_pen = axis.textPen()
    axis.setTextPen(axis._shown_text_pen if on else pg.mkPen(0, 0, 0, 0))
    axis._numbers_on = on


class EmptyNote:
    """A grey sentence in the middle of a plot with nothing to show yet: what will be there, and when."""

    def __init__(self, plot: pg.PlotWidget):
        self.plot = plot
        self.item = pg.TextItem("", anchor=(0.5, 0.5), color="#888")
        plot.addItem(self.item, ignoreBounds=True)
        self.item.setVisible(False)

    def show(self, text: str | None) -> None:
        if not text:
            self.item.setVisible(False)
            return
        (x0, x1), (y0, y1) = self.plot.getViewBox().viewRange()
        if text != self.item.textItem.toPlainText():
            self.item.setText(text)
        self.item.setPos((x0 + x1) / 2, (y0 + y1) / 2)
        self.item.setVisible(True)


class HistogramPanel(pg.PlotWidget):
    """A histogram given as counts and bin edges (computed in the engine process)."""

    def __init__(self, title: str = "", color: str = "#4C78A8", parent=None):
        super().__init__(parent=parent, enableMenu=False)
        self.setMinimumHeight(110)
        fit_title(self.getPlotItem(), title)
        self.setMouseEnabled(False, False)
        self.hideButtons()
        self.curve = self.plot([0, 1], [0], stepMode="center", fillLevel=0, brush=pg.mkBrush(color + "99"),
                               pen=pg.mkPen(color, width=1))
        self.getAxis("left").setStyle(showValues=False)
        self.disableAutoRange()   # both axes steered by SteadyRange
        self.x_range, self.y_range = SteadyRange(self, "x", pad=0.02), SteadyRange(self, "y", pad=0.05)
        self.note = EmptyNote(self)

    def set_histogram(self, hist: dict | None, title: str | None = None, note: str | None = None) -> None:
        """``note``: said in the empty plot while there is no histogram (when it will come)."""
        if title is not None and title != getattr(self, "_title", None):
            self._title = title
            fit_title(self.getPlotItem(), title)
        edges = counts = None
        if hist:
            edges, counts = np.asarray(hist["edges"], dtype=np.float64), np.asarray(hist["counts"], dtype=np.float64)
        if edges is None or not (np.isfinite(edges).all() and np.isfinite(counts).all()):
            self.curve.setData([0, 1], [0])
            self.curve.setVisible(False)
            show_numbers(self.getAxis("bottom"), False)
            self.note.show(note)
            return
        self.note.show(None)
        self.curve.setVisible(True)
        show_numbers(self.getAxis("bottom"), True)
        self.curve.setData(edges, counts, skipFiniteCheck=True)
        self.x_range.fit(float(edges[0]), float(edges[-1]))
        self.y_range.fit(0.0, float(counts.max()) if counts.size else 1.0)


class BarPanel(pg.PlotWidget):
    """Bars of one vector (e.g. a layer's activations for one example): blue ≥ 0, red < 0.

    Drawn as filled step curves (one path each), not as one rectangle per bar: hundreds of
    bars a frame cost tens of milliseconds as rectangles."""

    def __init__(self, title: str = "", parent=None):
        super().__init__(parent=parent, enableMenu=False)
        self.setMinimumHeight(110)
        self._title = None
        self.set_title(title)
        self.setMouseEnabled(False, False)
        self.hideButtons()
        self.curves = {}
        for name, color in (("positive", "#4C78A8"), ("negative", "#E45756"), ("marked", "#54A24B")):
            self.curves[name] = self.plot([0, 1], [0], stepMode="center", fillLevel=0, pen=None,
                                          brush=pg.mkBrush(color))
        self.zero = pg.InfiniteLine(angle=0, pen=pg.mkPen("#999", width=1))
        self.addItem(self.zero)
        self._labels = None
        self._n = -1
        self.disableAutoRange()   # x follows the number of bars, y is steered by SteadyRange
        self.y_range = SteadyRange(self, "y", pad=0.08)
        self.note = EmptyNote(self)

    def set_title(self, title: str) -> None:
        if title != self._title:
            self._title = title
            fit_title(self.getPlotItem(), title)

    def set_vector(self, values: np.ndarray | None, title: str | None = None, labels: list[str] | None = None,
                   highlight: int | None = None, note: str | None = None) -> None:
        """``note``: said in the empty plot while there are no values (when they will come)."""
        if title is not None:
            self.set_title(title)
        empty = values is None or len(values) == 0
        self.zero.setVisible(not empty)
        show_numbers(self.getAxis("left"), not empty)
        self.note.show(note if empty else None)
        if empty:
            for curve in self.curves.values():
                curve.setData([0, 1], [0])
            return
        v = np.asarray(values, dtype=np.float64)
        n = len(v)
        # bar i spans [i − 0.4, i + 0.4]: edges alternate bar / gap
        edges = (np.arange(n)[:, None] + np.array([-0.4, 0.4])).ravel()
        parts = {"positive": np.where(v >= 0, v, 0.0), "negative": np.where(v < 0, v, 0.0), "marked": np.zeros(n)}
        if highlight is not None and 0 <= highlight < n:
            parts["marked"][highlight] = v[highlight]
            parts["positive"][highlight] = parts["negative"][highlight] = 0.0
        finite = bool(np.isfinite(v).all())
        for name, heights in parts.items():
            if not heights.any():   # nothing to fill (no negative output after a relu, nothing marked)
                self.curves[name].setData([0, 1], [0])
                continue
            y = np.zeros(2 * n - 1)
            y[0::2] = heights  # bars at even positions, zero-height gaps between them
            self.curves[name].setData(edges, y, skipFiniteCheck=finite)
        if finite:
            self.y_range.fit(min(0.0, float(v.min())), max(0.0, float(v.max())))
        if labels != self._labels or n != self._n:
            self._labels, self._n = labels, n
            self.getAxis("bottom").setTicks([list(enumerate(labels))] if labels is not None else None)
            self.setXRange(-0.6, n - 0.4, padding=0)
            settle(self)


# What each tab of the lab views shows, with the formula behind it: the tab's tooltip, and the
# page's (a panel without a tooltip of its own shows its page's).
TAB_HELP = {
    "Layer inspector": "The selected block in the current iteration: its output y for the first example, the same "
                       "over the batch, dL/d(output), the weights W and dL/dW, and the update's Δθ with ‖Δθ‖/‖θ‖ "
                       "(about 1e-3 is healthy).",
    "Classification report": "Held-out precision TP/(TP+FP), recall TP/(TP+FN) and F1 = 2PR/(P+R) per digit, "
                             "macro F1 = their mean, and the confusion matrix (rows true, columns predicted), "
                             "as of the last evaluation at or before the timeline's iteration.",
    "Loss landscape": "The held-out loss L(θ₀ + α·d₁ + β·d₂) on a plane of weight space through this run's recorded "
                      "weights (PCA of the path, or random filter-normalised directions); the dot follows the timeline.",
    "Feature maps": "Each convolution channel's output map for one image (y[c] = relu(Σ_k W[c,k] ⋆ x[k] + b[c])), "
                    "its 3×3 kernels, and dL/d(map): where a change would move the loss. Draw a digit to try your own.",
    "NumPy vs Torch": "The same weights and batch through both engines: the largest difference of every gradient "
                      "(max |a − b|, relative to the largest |a|), and each engine's training speed.",
    "BN vs GN+WS": "Two CNNs trained on one image per step: BatchNorm (x̂ = (x − μ_batch)/σ_batch, which is the "
                   "image itself at batch 1) vs GroupNorm (statistics per example over channel groups) with "
                   "weight standardisation Ŵ = (W − mean)/std. Accuracy is a fraction (0–1).",
    "Gradient flow: skip vs branch": "The gradient reaching each block, split into the part that came through the "
                                     "skip (dL/dy) and through the branch (dL/dy · dF/dx) of y = x + F(x); the plain "
                                     "net has only the branch.",
    "‖∇W‖/‖W‖ per layer": "Each layer's gradient norm relative to its weights, ‖∇W‖/‖W‖, on a log scale: "
                          "how fast each layer would change under plain SGD (Δθ = −η·∇W).",
    "Runs compared": "Both runs' training loss (smoothed), held-out accuracy and macro F1 (fractions 0–1), and the "
                     "per-parameter steps |Δθ| of the last update.",
    "Inside the sequence": "Every unit (rows) of the selected layer under every character (columns): the gates "
                           "i, f, o = σ(·), the candidate c̃ = tanh(·), the cell c_t = f⊙c_{t−1} + i⊙c̃ and "
                           "h_t = o⊙tanh(c_t); then dL/dh_t through time and each character's loss −log p(next).",
    "Generate": "The model writes one character at a time: p ∝ exp(z / T) at temperature T, sample, feed it back.",
    "Inputs: normalization, augmentation": "What the network is fed: each pixel standardized as z = (x − μ) / σ "
                                           "(when on) and the random augmentations (shift, rotate, scale, elastic, "
                                           "blur, contrast, noise) drawn for a training image.",
    "Routing net": "A router picks one of three expert sub-networks for each digit (y = expert_k(x), "
                   "k = argmax of the router's scores); only the chosen expert runs and learns. Shares per expert "
                   "and each expert's accuracy (fractions or %).",
}


def wrapped(text: str) -> str:
    """A tooltip that wraps: Qt shows plain text on one line however long, rich text in a paragraph."""
    return f"<p>{html.escape(text, quote=False)}</p>" if text else ""


def explain_tabs(tabs: QtWidgets.QTabWidget) -> None:
    """Tooltips for a view's tabs and their pages, from TAB_HELP."""
    for i in range(tabs.count()):
        text = TAB_HELP.get(tabs.tabText(i))
        if text:
            tabs.setTabToolTip(i, wrapped(text))
            if not tabs.widget(i).toolTip():
                tabs.widget(i).setToolTip(wrapped(text))


def section_label(text: str) -> QtWidgets.QLabel:
    label = QtWidgets.QLabel(text)
    font = label.font()
    font.setBold(True)
    label.setFont(font)
    return label


def hline() -> QtWidgets.QFrame:
    line = QtWidgets.QFrame()
    line.setFrameShape(QtWidgets.QFrame.Shape.HLine)
    line.setFrameShadow(QtWidgets.QFrame.Shadow.Sunken)
    return line


def color(c: str) -> QtGui.QColor:
    return QtGui.QColor(c)


Qt = QtCore.Qt


if __name__ == "__main__":  # python -m widgets.common [--screenshot PATH]: the shared panels, made-up data
    from .demo import run_demo

    def build() -> QtWidgets.QWidget:
        rng = np.random.default_rng(0)
        page = QtWidgets.QWidget()
        grid = QtWidgets.QGridLayout(page)
        maps = ImagePanel("8 feature maps (28×28), tiled")
        maps.set_image(tile(np.maximum(rng.standard_normal((8, 28, 28)), 0)), caption="activations ≥ 0")
        grads = ImagePanel("their gradients · blue −, red +", diverging=True)
        g = rng.standard_normal((8, 28, 28)) * 1e-3
        grads.set_image(tile(g), levels=symmetric_levels(g))
        hist = HistogramPanel("activations over the batch")
        counts, edges = np.histogram(np.maximum(rng.standard_normal(5000), 0), bins=40)
        hist.set_histogram({"counts": counts.astype(np.float64), "edges": edges})
        bars = BarPanel("softmax of one example")
        probs = np.full(10, 0.03)
        probs[3] = 0.73
        bars.set_vector(probs, labels=[str(d) for d in range(10)])
        for k, w in enumerate((maps, grads, hist, bars)):
            grid.addWidget(w, k // 2, k % 2)
        return page

    run_demo(build, (900, 640))
