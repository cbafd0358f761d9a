"""Shared pieces of the views: colour maps, tiling, and small plot panels.

Every panel builds its pyqtgraph items once; ``set_*`` methods only push new data.
"""
from __future__ import annotations

import math

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


def configure_pyqtgraph() -> None:
    """Once at start-up: row-major images (else every image is transposed), light theme."""
    pg.setConfigOptions(imageAxisOrder="row-major", antialias=True, background="w", foreground="#333")


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
        self.plot = self.addPlot(title=title)
        self.plot.setAspectLocked(True)
        self.plot.invertY(True)
        self.plot.hideAxis("left")
        self.plot.hideAxis("bottom")
        self.plot.setMouseEnabled(False, False)
        self.plot.hideButtons()
        self.image = pg.ImageItem()
        self.plot.addItem(self.image)
        self.diverging = diverging
        self.image.setColorMap(DIVERGING if diverging else SEQUENTIAL)
        self.caption = pg.LabelItem(justify="left", size="8pt")
        self.nextRow()
        self.addItem(self.caption)

    def set_title(self, title: str) -> None:
        if title != getattr(self, "_title", None):
            self._title = title
            self.plot.setTitle(title, size="9pt")

    def set_image(self, image: np.ndarray, levels: tuple[float, float] | None = None,
                  diverging: bool | None = None, caption: str | None = None, gray: bool = False) -> None:
        if diverging is not None and diverging != self.diverging:
            self.diverging = diverging
        cmap = GRAYS if gray else (DIVERGING if self.diverging else SEQUENTIAL)
        self.image.setColorMap(cmap)
        if levels is None:
            levels = symmetric_levels(image) if self.diverging else range_levels(image)
        self.image.setImage(np.nan_to_num(image, nan=levels[0] if not self.diverging else 0.0), levels=levels,
                            autoLevels=False)
        self.plot.autoRange(padding=0.02)
        if caption is not None:
            self.set_caption(caption)

    def set_caption(self, caption: str) -> None:
        if caption != getattr(self, "_caption", None):
            self._caption = caption
            self.caption.setText(caption)

    def clear_image(self, caption: str = "") -> None:
        self.image.clear()
        self.set_caption(caption)


class HistogramPanel(pg.PlotWidget):
    """A histogram given as counts and bin edges (computed in the engine process)."""

    def __init__(self, title: str = "", color: str = "#4C78A8", parent=None):
        super().__init__(parent=parent)
        self.setMinimumHeight(110)
        self.setTitle(title, size="9pt")
        self.setMouseEnabled(False, False)
        self.hideButtons()
        self.curve = self.plot([0, 1], [0], stepMode="center", fillLevel=0, brush=pg.mkBrush(color + "99"),
                               pen=pg.mkPen(color, width=1))
        self.getAxis("left").setStyle(showValues=False)

    def set_histogram(self, hist: dict | None, title: str | None = None) -> None:
        if title is not None and title != getattr(self, "_title", None):
            self._title = title
            self.setTitle(title, size="9pt")
        if not hist:
            self.curve.setData([0, 1], [0])
            return
        self.curve.setData(np.asarray(hist["edges"]), np.asarray(hist["counts"]))


class BarPanel(pg.PlotWidget):
    """Bars of one vector (e.g. a layer's activations for one example): blue ≥ 0, red < 0.

    Drawn as filled step curves (one path each), not as one rectangle per bar: hundreds of
    bars a frame cost tens of milliseconds as rectangles."""

    def __init__(self, title: str = "", parent=None):
        super().__init__(parent=parent)
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

    def set_title(self, title: str) -> None:
        if title != self._title:
            self._title = title
            self.setTitle(title, size="9pt")

    def set_vector(self, values: np.ndarray | None, title: str | None = None, labels: list[str] | None = None,
                   highlight: int | None = None) -> None:
        if title is not None:
            self.set_title(title)
        if values is None or len(values) == 0:
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
        for name, heights in parts.items():
            y = np.zeros(2 * n - 1)
            y[0::2] = heights  # bars at even positions, zero-height gaps between them
            self.curves[name].setData(edges, y)
        if labels != self._labels or n != self._n:
            self._labels, self._n = labels, n
            self.getAxis("bottom").setTicks([list(enumerate(labels))] if labels is not None else None)
            self.setXRange(-0.6, n - 0.4, padding=0)


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
