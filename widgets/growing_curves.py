"""Curves that grow at their end, drawn at the cost of what is new (GrowingCurves)."""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui


def thin_path(xy: np.ndarray, cell) -> np.ndarray:
    """Drop consecutive points that fall in the same screen-sized cell (``cell``: its size, one number
    or one per axis; a converged optimizer piles thousands of points onto one pixel); the first and
    last points are kept."""
    if len(xy) < 3 or np.any(np.asarray(cell) <= 0):
        return xy
    q = np.floor(xy / cell)
    keep = np.ones(len(xy), dtype=bool)
    keep[1:] = np.any(q[1:] != q[:-1], axis=1)
    keep[-1] = True
    return xy[keep]


def _extent(xy: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """The lowest and highest finite point of (L, 2) points, per axis; None for none. Column by
    column: numpy's min(axis=0) over two columns took 90 µs for 2,000 points, a column's min 6 µs."""
    if not len(xy):
        return None
    x, y = xy[:, 0], xy[:, 1]
    lo, hi = np.array([x.min(), y.min()]), np.array([x.max(), y.max()])
    if not (np.isfinite(lo).all() and np.isfinite(hi).all()):   # rare (a loss that overflowed): the slow way
        xy = xy[np.isfinite(xy).all(axis=1)]
        if not len(xy):
            return None
        lo, hi = xy.min(axis=0), xy.max(axis=0)
    return lo, hi


class GrowingCurves(pg.GraphicsObject):
    """Curves that grow at their end, in one item, drawn so that a frame costs only what is new.

    A wide antialiased stroke costs Qt about 3 µs a point: the optimizer race's nine paths of
    1,000–2,000 points took 35 ms a frame, and its nine loss curves 12 ms. Where the data keep their
    points from frame to frame (the optimizer lab downsamples with a power-of-two stride), all but the
    last few points of a curve are settled: they are stroked once onto an image the size of the
    viewport, which later frames grow by their new segments only; the last LIVE_POINTS are stroked
    live, so a step back (←) costs no more than a step on. The image is drawn again from scratch when
    the view moves or resizes, or when a curve changed other than by growing or by losing some of
    its live points (a long rewind, a new race, the stride doubling). Painted anywhere but the plot's own
    viewport (an export, a grab), it strokes the curves directly."""

    LIVE_POINTS = 8

    def __init__(self, antialias: bool = True):
        super().__init__()
        self.antialias = antialias
        self.trails: dict[str, np.ndarray] = {}   # name → (L, 2) points: the curves shown, in drawing order
        self.pens: dict[str, QtGui.QPen] = {}
        self._image: QtGui.QImage | None = None
        self._image_key = None                    # (size, pixel ratio, transform) the image was drawn for
        self._drawn: dict[str, int] = {}          # points of each curve already on the image (its first m)
        self._stale = True                        # the image holds what is no longer shown: clear it
        self._bounds = QtCore.QRectF()
        self.full_redraws = 0                     # how often the image was drawn from scratch (for tests)

    def set_trails(self, trails: dict[str, np.ndarray], pens: dict[str, QtGui.QPen]) -> None:
        """The curves to show now (``trails``: name → (L, 2) points, in drawing order) and each one's pen
        (the same pen object from frame to frame: a new one draws everything again)."""
        grown = list(trails) == list(self.trails) and all(pens[n] is self.pens.get(n) for n in trails)
        for name, xy in trails.items():
            m = self._drawn.get(name, 0)
            if grown and m and (len(xy) < m or not np.array_equal(xy[:m], self.trails[name][:m])):
                grown = False
        if not grown:
            self._drawn, self._stale = {}, True
        self.trails, self.pens = dict(trails), dict(pens)
        ends = [e for e in map(_extent, trails.values()) if e is not None]
        if ends:
            lo, hi = np.min([e[0] for e in ends], axis=0), np.max([e[1] for e in ends], axis=0)
            bounds = QtCore.QRectF(float(lo[0]), float(lo[1]), float(hi[0] - lo[0]), float(hi[1] - lo[1]))
        else:
            bounds = QtCore.QRectF()
        if bounds != self._bounds:
            self.prepareGeometryChange()
            self._bounds = bounds
        self.update()

    def path(self, name: str) -> np.ndarray | None:
        return self.trails.get(name)

    def dataBounds(self, ax, frac=1.0, orthoRange=None):
        if self._bounds.isNull():
            return None, None
        r = self._bounds
        return (r.left(), r.right()) if ax == 0 else (r.top(), r.bottom())

    def boundingRect(self) -> QtCore.QRectF:
        if self._bounds.isNull():
            return QtCore.QRectF()
        px = self.pixelLength(pg.Point(1, 0)) or 0.0
        py = self.pixelLength(pg.Point(0, 1)) or 0.0
        return self._bounds.adjusted(-4 * px, -4 * py, 4 * px, 4 * py)   # the pens' width beyond the points

    def paint(self, painter: QtGui.QPainter, option, widget=None) -> None:
        painter.setRenderHint(QtGui.QPainter.RenderHint.Antialiasing, self.antialias)
        device = painter.device()
        if widget is None or device is not widget:   # an export or a grab: strokes, no image
            for name, xy in self.trails.items():
                self._stroke(painter, name, xy)
            return
        transform = painter.worldTransform()
        ratio = device.devicePixelRatioF()
        key = (device.width(), device.height(), ratio, transform)
        if self._image is None or key != self._image_key:
            self._image = QtGui.QImage(int(device.width() * ratio), int(device.height() * ratio),
                                       QtGui.QImage.Format.Format_ARGB32_Premultiplied)
            self._image.setDevicePixelRatio(ratio)
            self._image_key, self._drawn, self._stale = key, {}, True
        if self._stale:
            self._image.fill(0)
            self._stale = False
            self.full_redraws += 1
        on_image = QtGui.QPainter(self._image)
        on_image.setRenderHint(QtGui.QPainter.RenderHint.Antialiasing, self.antialias)
        on_image.setTransform(transform)
        # one point per device pixel (a converged curve piles thousands onto one): the size of a pixel in data units
        cell = np.array([abs(1 / transform.m11()) if transform.m11() else 0.0,
                         abs(1 / transform.m22()) if transform.m22() else 0.0])
        for name, xy in self.trails.items():
            m, settled = self._drawn.get(name, 0), len(xy) - self.LIVE_POINTS
            if settled > max(m, 1):
                part = xy[max(m - 1, 0):settled]   # from the last point drawn: the line goes on unbroken
                self._stroke(on_image, name, thin_path(part, cell) if m == 0 else part)
                self._drawn[name] = settled
        on_image.end()
        painter.save()
        painter.resetTransform()
        painter.drawImage(QtCore.QPointF(0, 0), self._image)
        painter.restore()
        for name, xy in self.trails.items():           # the live points
            self._stroke(painter, name, xy[max(self._drawn.get(name, 0) - 1, 0):])

    def _stroke(self, painter: QtGui.QPainter, name: str, xy: np.ndarray) -> None:
        if len(xy) < 2:
            return
        painter.setPen(self.pens[name])
        painter.drawPath(pg.arrayToQPath(xy[:, 0], xy[:, 1], connect="finite"))


if __name__ == "__main__":  # python -m widgets.growing_curves [--screenshot PATH]: three spirals that grow
    from PySide6 import QtWidgets

    from .demo import run_demo

    def build() -> QtWidgets.QWidget:
        plot = pg.PlotWidget(title="GrowingCurves: three paths, each frame stroking only its new points")
        plot.setRange(xRange=(-1.1, 1.1), yRange=(-1.1, 1.1), padding=0)
        curves = GrowingCurves()
        plot.addItem(curves)
        t = np.linspace(0, 12 * np.pi, 3000)
        paths = {name: np.stack([np.cos(t + phase), np.sin(t + phase)], 1) * (t / t[-1])[:, None]
                 for name, phase in (("a", 0.0), ("b", 2.1), ("c", 4.2))}
        pens = {name: pg.mkPen(colour, width=5) for name, colour in zip(paths, ("#4C78A8", "#F58518", "#54A24B"))}
        shown = {"n": 2400}

        def grow() -> None:
            shown["n"] = shown["n"] + 10 if shown["n"] < len(t) else 10   # grow, then start again
            curves.set_trails({k: xy[:shown["n"]] for k, xy in paths.items()}, pens)
        grow()
        timer = QtCore.QTimer(plot)
        timer.timeout.connect(grow)
        timer.start(33)
        return plot

    run_demo(build, (640, 560))
