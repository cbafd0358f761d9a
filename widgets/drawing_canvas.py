"""A 28×28 canvas to draw a digit with the mouse, as MNIST digits look: white strokes on black,
a soft round brush, the drawing centred by its centre of mass (as MNIST's digits were) when it is sent.

Emits ``changed(image)`` (float32 (28, 28) in [0, 1]) while drawing, at most every
``interval_ms``, and once when the stroke ends; ``cleared()`` when emptied.
"""
from __future__ import annotations

import numpy as np
from PySide6 import QtCore, QtGui, QtWidgets

SIZE = 28


def stamp(image: np.ndarray, x: float, y: float, radius: float = 1.3, strength: float = 1.0) -> None:
    """Add a soft round dot at (x, y) in pixel units, in place; values stay in [0, 1]."""
    yy, xx = np.mgrid[0:SIZE, 0:SIZE]
    d2 = (xx + 0.5 - x) ** 2 + (yy + 0.5 - y) ** 2
    dot = strength * np.clip(1.5 - np.sqrt(d2) / radius, 0.0, 1.0)      # flat core, soft edge
    np.maximum(image, np.minimum(dot, 1.0), out=image)


def centred(image: np.ndarray) -> np.ndarray:
    """Shift the drawing so its centre of mass sits at the centre (whole pixels, zeros shifted in)."""
    total = float(image.sum())
    if total <= 0:
        return image.copy()
    yy, xx = np.mgrid[0:SIZE, 0:SIZE]
    cy, cx = float((yy * image).sum() / total), float((xx * image).sum() / total)
    dy, dx = int(round((SIZE - 1) / 2 - cy)), int(round((SIZE - 1) / 2 - cx))
    out = np.zeros_like(image)
    src = image[max(0, -dy):SIZE - max(0, dy), max(0, -dx):SIZE - max(0, dx)]
    out[max(0, dy):max(0, dy) + src.shape[0], max(0, dx):max(0, dx) + src.shape[1]] = src
    return out


class DrawingCanvas(QtWidgets.QWidget):
    changed = QtCore.Signal(object)   # np.ndarray (28, 28) float32
    cleared = QtCore.Signal()

    def __init__(self, parent=None, interval_ms: int = 50):
        super().__init__(parent)
        self.image = np.zeros((SIZE, SIZE), dtype=np.float32)
        self.setMinimumSize(140, 140)
        self.setSizePolicy(QtWidgets.QSizePolicy.Policy.Preferred, QtWidgets.QSizePolicy.Policy.Preferred)
        self.setCursor(QtCore.Qt.CursorShape.CrossCursor)
        self.setToolTip("Draw a digit with the mouse (left button); right-click clears")
        self._last: QtCore.QPointF | None = None
        self._pending = False
        self._timer = QtCore.QTimer(self, singleShot=True, interval=interval_ms)
        self._timer.timeout.connect(self._emit)

    # ---- geometry: the canvas is the largest square that fits
    def _square(self) -> QtCore.QRectF:
        side = min(self.width(), self.height())
        return QtCore.QRectF((self.width() - side) / 2, (self.height() - side) / 2, side, side)

    def _to_pixels(self, pos: QtCore.QPointF) -> tuple[float, float]:
        r = self._square()
        return (pos.x() - r.left()) / r.width() * SIZE, (pos.y() - r.top()) / r.height() * SIZE

    # ---- drawing
    def draw_line(self, a: tuple[float, float], b: tuple[float, float]) -> None:
        """Stamp dots along the segment a→b (pixel units)."""
        n = max(1, int(np.hypot(b[0] - a[0], b[1] - a[1]) * 3))
        for t in np.linspace(0.0, 1.0, n + 1):
            stamp(self.image, a[0] + t * (b[0] - a[0]), a[1] + t * (b[1] - a[1]))
        self._schedule()
        self.update()

    def clear(self) -> None:
        self.image[...] = 0.0
        self.update()
        self.cleared.emit()

    def set_image(self, image: np.ndarray) -> None:
        self.image[...] = np.clip(np.asarray(image, dtype=np.float32).reshape(SIZE, SIZE), 0.0, 1.0)
        self.update()

    def current(self) -> np.ndarray:
        return centred(self.image)

    def _schedule(self) -> None:
        self._pending = True
        if not self._timer.isActive():
            self._timer.start()

    def _emit(self) -> None:
        if self._pending:
            self._pending = False
            self.changed.emit(self.current())

    # ---- Qt events
    def mousePressEvent(self, event: QtGui.QMouseEvent) -> None:
        if event.button() == QtCore.Qt.MouseButton.RightButton:
            self.clear()
            return
        p = self._to_pixels(event.position())
        self._last = event.position()
        self.draw_line(p, p)

    def mouseMoveEvent(self, event: QtGui.QMouseEvent) -> None:
        if self._last is None:
            return
        self.draw_line(self._to_pixels(self._last), self._to_pixels(event.position()))
        self._last = event.position()

    def mouseReleaseEvent(self, event: QtGui.QMouseEvent) -> None:
        self._last = None
        self._timer.stop()
        self._pending = True
        self._emit()  # the finished stroke, at once

    def paintEvent(self, event) -> None:
        painter = QtGui.QPainter(self)
        r = self._square()
        gray = np.ascontiguousarray((np.clip(self.image, 0, 1) * 255).astype(np.uint8))
        qimg = QtGui.QImage(gray.data, SIZE, SIZE, SIZE, QtGui.QImage.Format.Format_Grayscale8)
        painter.drawImage(r, qimg)
        painter.setPen(QtGui.QPen(QtGui.QColor("#888"), 1))
        painter.drawRect(r.adjusted(0, 0, -1, -1))
        if not self.image.any():
            painter.setPen(QtGui.QColor("#aaa"))
            painter.drawText(r, QtCore.Qt.AlignmentFlag.AlignCenter, "draw a digit here")
        painter.end()


if __name__ == "__main__":  # python -m widgets.drawing_canvas [--screenshot PATH]: draw, and see the array's sum
    from .demo import run_demo

    def build() -> DrawingCanvas:
        canvas = DrawingCanvas()
        canvas.changed.connect(lambda img: canvas.setWindowTitle(f"ink {img.sum():.1f}"))
        for a, b in (((8, 6), (20, 6)), ((20, 6), (12, 23))):   # a 7, in pixel units of the 28×28 image
            canvas.draw_line(a, b)
        return canvas

    run_demo(build, (280, 280))
