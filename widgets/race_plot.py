"""The optimizer race on a 2-D surface: the contour plot with every optimizer's path, its current point
and (paused) the arrows of its next update, and the legend of current losses beside it."""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

from .landscape_view import CONTOUR_MAP, contour_lines, image_rect
from .growing_curves import GrowingCurves
from .optimizer_common import GRAD_COLOR, arrow, brush_of, color_of, ellipse


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
        self.trails = GrowingCurves()
        self.addItem(self.trails)
        self.pens: dict[str, QtGui.QPen] = {}   # each optimizer's path pen (the same object all run long)
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
        for name in list(self.pens):
            if name not in names:
                self.pens.pop(name)
                for item in self.arrows.pop(name).values():
                    self.removeItem(item)
        for i, (name, title) in enumerate(zip(names, titles)):
            if name in self.pens:
                continue
            c = color_of(name, i)
            self.pens[name] = pg.mkPen(c, width=2.2)
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

    def set_surface(self, s: dict) -> tuple[bool, tuple[float, float, float, float]]:
        """Draw the surface f(x, y) (log colours when it asks for them); returns (log scale, bounds)."""
        x, y, z = np.asarray(s["x"]), np.asarray(s["y"]), np.asarray(s["z"], dtype=np.float64)
        log_scale = bool(s["log_scale"])
        if log_scale:
            f_min = float(s["f_min"] or 0.0)
            shift = z - f_min
            eps = max(1e-6, 1e-4 * float(np.nanmax(shift)))
            shown = np.log10(np.maximum(shift, 0) + eps)  # log colours: the valleys get as many shades as the peaks
        else:
            shown = z
        lo, hi = float(np.nanmin(shown)), float(np.nanmax(shown))
        self.image.setImage(shown, levels=(lo, hi), autoLevels=False)
        self.image.setRect(image_rect(x, y))
        levels = np.linspace(lo, hi, 18)[1:-1]
        cx, cy = contour_lines(x, y, shown, levels)
        self.contours.setData(cx, cy, connect="finite")
        minima = s["minima"]
        self.minima.setData([{"pos": tuple(m)} for m in minima])
        bounds = tuple(float(b) for b in s["bounds"])
        self.plot_item.setRange(xRange=bounds[:2], yRange=bounds[2:], padding=0.01)
        self.plot_item.setLimits(xMin=bounds[0] - 10 * (bounds[1] - bounds[0]),
                                 xMax=bounds[1] + 10 * (bounds[1] - bounds[0]))
        self.title.setText(f"<b>{s['title']}</b>: {s['formula']}" + (" · log colour scale" if log_scale else ""))
        return log_scale, bounds

    def clear_updates(self) -> None:
        for items in self.arrows.values():
            for item in items.values():
                item.setData([], [])

    def show_updates(self, v: dict, hidden: set[str], sel: int, bounds: tuple[float, float, float, float]) -> None:
        """Each optimizer's next update from its current point: −g and −direction at a fixed length,
        the step Δθ at its true length, and (the selected one) its scale per axis as an ellipse."""
        names = v["optimizers"]
        updates = v["next_updates"]
        current = np.asarray(v["current"])
        x0, x1, y0, y1 = bounds
        L = 0.09 * max(x1 - x0, y1 - y0)  # display length of the direction arrows
        head = 0.25 * L
        for k, name in enumerate(names):
            items = self.arrows[name]
            comp = updates[k] if k < len(updates) else {}
            if not comp or name in hidden:
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


if __name__ == "__main__":  # python -m widgets.race_plot [--screenshot PATH]: the race and its legend
    from .demo import run_demo
    from .optimizer_common import fake_view_data

    def build() -> QtWidgets.QWidget:
        v = fake_view_data()
        page = QtWidgets.QWidget()
        row = QtWidgets.QHBoxLayout(page)
        plot, legend = RacePlot(), Legend()
        row.addWidget(plot, 1)
        row.addWidget(legend)
        _, bounds = plot.set_surface(v["surface"])
        plot.ensure(v["optimizers"], v["titles"])
        plot.trails.set_trails({n: v["paths"][k] for k, n in enumerate(v["optimizers"])}, plot.pens)
        plot.points.setData([{"pos": tuple(p), "brush": brush_of(n, k)}
                             for k, (n, p) in enumerate(zip(v["optimizers"], v["current"]))])
        plot.start.setData([{"pos": tuple(v["start"])}])
        plot.show_updates(v, set(), 2, bounds)
        legend.set_rows([(color_of(n, k), t, f"{loss:.3g}", "", True)
                         for k, (n, t, loss) in enumerate(zip(v["optimizers"], v["titles"], v["current_loss"]))])
        return page

    run_demo(build, (900, 640))
