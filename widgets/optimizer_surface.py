"""The optimizer lab's surface mode, in its parts: the race on the contour plot (race_plot.py), the
legend and the explanation of the selected optimizer's next update beside it, the loss of each
optimizer on a log scale below, and the table of live hyperparameters.

Reads view_data: surface (grid + description), optimizers, titles, rules, direction_names,
paths (n, L, 2), losses (n, L), iterations (L,), current (n, 2), current_loss (n,), stopped, start,
next_updates (per optimizer: grad, direction, scale, step, terms), optimizer_hyperparams.
"""
from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

from .common import fmt, steady_bounds
from .growing_curves import GrowingCurves
from .hyper_table import HyperTable
from .optimizer_common import HYPER_LABELS, LOSS_FLOOR, Log10Axis, brush_of, color_of, vec
from .race_plot import Legend, RacePlot


class UpdateExplainer(QtWidgets.QScrollArea):
    """The selected optimizer's rule, its settings and (paused) its next update with the numbers."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.label = QtWidgets.QLabel()
        self.label.setTextFormat(QtCore.Qt.TextFormat.RichText)
        self.label.setAlignment(QtCore.Qt.AlignmentFlag.AlignTop | QtCore.Qt.AlignmentFlag.AlignLeft)
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
        self.setWidget(self.label)
        self.setWidgetResizable(True)
        self.setFrameShape(QtWidgets.QFrame.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(QtCore.Qt.ScrollBarPolicy.ScrollBarAlwaysOff)

    def explain(self, v: dict, paused: bool, sel: int) -> None:
        names, titles, rules = v["optimizers"], v["titles"], v["rules"]
        comp = v["next_updates"][sel]
        name = names[sel]
        c = color_of(name, sel)
        rule = rules[sel].replace("\n", "<br>")
        hyper = v["optimizer_hyperparams"].get(name, {})
        order = list(HYPER_LABELS)
        settings = ", ".join(f"{HYPER_LABELS.get(k, k)} = {fmt(val)}"
                             for k, val in sorted(hyper.items(), key=lambda kv: order.index(kv[0])
                                                  if kv[0] in order else len(order)))
        html = [f"<span style='color:{c}; font-size:12pt'><b>{titles[sel]}</b></span> "
                f"<span style='color:#666'>(click another optimizer's dot on the surface to explain it)</span>",
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
            dname = v["direction_names"][sel]
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
        if text != self.label.text():
            self.label.setText(text)


class RaceLossPlot(pg.PlotWidget):
    """Each optimizer's f(x, y) against the iteration, on a log or a linear axis."""

    def __init__(self, parent=None):
        self.log_axis = Log10Axis("left")
        self.lin_axis = pg.AxisItem("left")
        super().__init__(parent, axisItems={"left": self.log_axis})
        self.setToolTip("f(x, y) at each optimizer's point, iteration by iteration (log scale: a "
                        "straight line down is a constant rate of convergence).")
        self.item = self.getPlotItem()
        self.item.setTitle("loss f(x, y) vs iteration", size="9pt")
        self.item.setLabel("bottom", "iteration")   # no grid: redrawn with the curves at every frame
        self.cursor = pg.InfiniteLine(angle=90, pen=pg.mkPen("#888", style=QtCore.Qt.PenStyle.DashLine))
        self.item.addItem(self.cursor)
        self.curves = GrowingCurves(antialias=False)
        self.item.addItem(self.curves)
        self.pens: dict[str, QtGui.QPen] = {}
        self.item.disableAutoRange()  # ranges move in steps (see _fit_range): no re-layout every frame
        self.fitted_range = None
        self.log_scale = True

    def set_log_scale(self, log_scale: bool) -> None:
        self.log_scale = log_scale
        self.item.setAxisItems({"left": self.log_axis if log_scale else self.lin_axis})
        self.fitted_range = None
        self.item.setLabel("left", "f (log scale)" if log_scale else "f")

    def set_curves(self, names: list[str], its: np.ndarray, losses: np.ndarray, hidden: set[str]) -> None:
        curves = {}
        for k, name in enumerate(names):
            if name not in self.pens:
                self.pens[name] = pg.mkPen(color_of(name, k), width=1.5)
            if name not in hidden:
                y = np.log10(np.maximum(losses[k], LOSS_FLOOR)) if self.log_scale else losses[k]
                curves[name] = np.stack([its, y], axis=1)
        self.curves.set_trails(curves, self.pens)
        if len(its) and curves:
            self._fit_range(float(its[-1]), np.stack([c[:, 1] for c in curves.values()]))

    def _fit_range(self, x_max: float, ys: np.ndarray) -> None:
        """Grow the x range in steps of 1.5×; move the y range only when the curves leave it or fill
        less than 40 % of it, and then to round numbers: the axes and the curves (GrowingCurves draws
        them from scratch when the range moves) are redrawn every few seconds, not every frame."""
        ys = ys[np.isfinite(ys)]
        if not ys.size:
            return
        lo, hi = float(ys.min()), float(ys.max())
        span = max(hi - lo, 1e-9)
        old = self.fitted_range
        # a new race or a jump far back (the curves end below a quarter of the range) shrinks it again
        x_hi = old[1] if old and old[1] / 4 <= x_max <= old[1] else max(10.0, 1.5 * x_max)
        if old and old[2] <= lo and hi <= old[3] and span > 0.4 * (old[3] - old[2]):
            y_lo, y_hi = old[2], old[3]
        else:
            y_lo, y_hi = steady_bounds(lo, hi, 0.05)   # rounded out: it holds while the curves move
        new = (0.0, x_hi, y_lo, y_hi)
        if new != old:
            self.fitted_range = new
            self.item.setRange(xRange=new[:2], yRange=new[2:], padding=0)


class SurfaceRace(QtWidgets.QWidget):
    """The surface-mode page: the race and its side panel on top, the losses and the table below."""

    def __init__(self, parent=None):
        super().__init__(parent)
        grid = QtWidgets.QGridLayout(self)
        grid.setContentsMargins(0, 0, 0, 0)
        self.race = RacePlot()
        self.race.setToolTip("Contours of f(x, y); each optimizer's path from the shared start (★). Click anywhere "
                             "to start a new race from there. Paused: arrows show each optimizer's next update "
                             "θ ← θ + Δθ split into its parts (the gradient step −η·g, momentum, the rescaling).")
        self.explainer = UpdateExplainer()
        self.loss_plot = RaceLossPlot()
        self.table = HyperTable()
        self.legend = Legend()
        side = QtWidgets.QWidget()
        side.setMinimumWidth(230)
        side.setMaximumWidth(285)
        sv = QtWidgets.QVBoxLayout(side)
        sv.setContentsMargins(2, 2, 2, 2)
        sv.addWidget(self.legend)
        sv.addWidget(self.explainer, 1)
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
        self.surface_key = None
        self._start = None   # the start point drawn (the same every frame of a run)
        self.bounds = (-1.0, 1.0, -1.0, 1.0)
        self._arrows_shown = False

    def render(self, v: dict, snap: dict, hidden: set[str]) -> str:
        """Draw the race; returns the header line."""
        s = v["surface"]
        if s["key"] != self.surface_key:
            log_scale, self.bounds = self.race.set_surface(s)
            self.loss_plot.set_log_scale(log_scale)
            self.surface_key = s["key"]
        names, titles = v["optimizers"], v["titles"]
        self.race.ensure(names, titles)
        paths, losses, its = np.asarray(v["paths"]), np.asarray(v["losses"]), np.asarray(v["iterations"])
        current, cur_loss, stopped = np.asarray(v["current"]), np.asarray(v["current_loss"]), v["stopped"]
        spots, rows, trails = [], [], {}
        for k, name in enumerate(names):
            shown = name not in hidden
            if shown:
                trails[name] = paths[k]
                spots.append({"pos": (current[k, 0], current[k, 1]), "brush": brush_of(name, k),
                              "symbol": "o" if stopped[k] < 0 else "s"})
            rows.append((color_of(name, k), titles[k], fmt(float(cur_loss[k])),
                         f"out at {stopped[k]}" if stopped[k] >= 0 else "", shown))
        self.race.trails.set_trails(trails, self.race.pens)
        self.loss_plot.set_curves(names, its, losses, hidden)
        self.race.points.setData(spots)
        self.legend.set_rows(rows)
        start = v["start"]
        if tuple(start) != self._start:
            self._start = tuple(start)
            self.race.start.setData([{"pos": self._start}])
        self.loss_plot.cursor.setValue(snap.get("iteration", 0))
        self.table.set_values(names, titles, v["optimizer_hyperparams"])
        sel = int(snap.get("selected_block", 0))
        sel = sel if 0 <= sel < len(names) else 0
        paused = not snap.get("playing", False)
        if paused:
            self._arrows_shown = True
            self.race.show_updates(v, hidden, sel, self.bounds)
        elif self._arrows_shown:  # clear once; while playing nothing else to do
            self.race.clear_updates()
            self._arrows_shown = False
        self.explainer.explain(v, paused, sel)
        it = snap.get("iteration", 0)
        best = int(np.argmin(np.where(np.asarray(stopped) < 0, cur_loss, np.inf))) if any(
            st < 0 for st in stopped) else int(np.argmin(cur_loss))
        return (f"<b>Iteration {it}</b> · every optimizer started at ★ {vec(start)} · "
                f"lowest now: <span style='color:{color_of(names[best], best)}'><b>{titles[best]}</b></span> "
                f"(f = {fmt(float(cur_loss[best]))}) · "
                + ("<i>paused: arrows show each optimizer's next update</i>" if paused
                   else "playing · pause (Space) to see what each update is made of")
                + " · click the plot to start from another point")


if __name__ == "__main__":  # python -m widgets.optimizer_surface [--screenshot PATH]
    from .demo import run_demo
    from .optimizer_common import fake_view_data

    def build() -> SurfaceRace:
        page = SurfaceRace()
        page.render(fake_view_data(), {"iteration": 150, "playing": False, "selected_block": 2}, set())
        return page

    run_demo(build, (980, 760))
