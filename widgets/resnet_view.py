"""The residual lab's view: how the gradient flows back through skip connections.

Tabs:
- Gradient flow: for each residual block, the gradient that reached its input, split into
  the part that came back through the skip path and the part that came back through the
  residual branch, on a log scale, one panel per run (residual | plain, or Adam | AdaMax),
  the same y range; below, the first block's gradient over training for both runs.
- ‖∇W‖/‖W‖: per-layer gradient-to-weight norm ratios of both runs.
- Runs compared: training loss, held-out accuracy and macro F1 of both runs on one plot,
  and the per-parameter step sizes of the last update for the selected layer.
- Layer inspector and classification report (shared widgets), for the first run.

Reads only snapshot["view"] (see engines/labs/resnet.py view_data) and snapshot["history"].
"""
from __future__ import annotations

import functools
import math

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

from .common import Refresh, SteadyLabel, explain_tabs, fmt
from .lab_view import LabView
from .layer_inspector import LayerInspector
from .report_panel import ReportPanel

SKIP_COLOR, BRANCH_COLOR, TOTAL_COLOR, INIT_COLOR = "#4C78A8", "#F58518", "#222222", "#999999"
RUN_COLORS = ["#4C78A8", "#E45756", "#54A24B", "#B279A2"]


def log10_positive(values) -> np.ndarray:
    """log10 of the positive finite values; NaN elsewhere (0 has no place on a log axis)."""
    v = np.asarray(values if values is not None else [], dtype=np.float64)
    out = np.full(v.shape, np.nan)
    ok = np.isfinite(v) & (v > 0)
    out[ok] = np.log10(v[ok])
    return out


def nice_ratio(a: float, b: float) -> str:
    """'33× smaller' / '2.1× larger' for a relative to b."""
    if not (np.isfinite(a) and np.isfinite(b)) or a <= 0 or b <= 0:
        return "–"
    r = a / b
    return f"{1 / r:.3g}× smaller" if r < 1 else f"{r:.3g}× larger"


class DecadeAxis(pg.AxisItem):
    """An axis for data given as log10 values: a labelled tick at each power of ten, nothing else
    (pyqtgraph's log axis labels 2·10ⁿ … 9·10ⁿ too, which collide on short plots)."""

    def tickValues(self, minVal, maxVal, size):
        lo, hi = math.ceil(minVal - 1e-9), math.floor(maxVal + 1e-9)
        if hi < lo:
            return [(1.0, [])]
        step = max(1, math.ceil((hi - lo + 1) / max(2, size / 20)))  # ~20 px per label at least
        return [(float(step), [float(v) for v in range(lo, hi + 1, step)])]

    def tickStrings(self, values, scale, spacing):
        out = []
        for v in values:
            x = 10.0 ** v
            out.append(f"{x:g}" if 1e-3 <= x <= 1e4 else f"1e{int(round(v))}")
        return out


@functools.lru_cache(maxsize=None)
def brushes_of(color: str) -> tuple[QtGui.QBrush, QtGui.QBrush]:
    """A bar's brush this iteration, and faded (the previous iteration's value): made once per colour."""
    return pg.mkBrush(color), pg.mkBrush(color + "55")


def log_axis_plot(title: str) -> pg.PlotWidget:
    """A plot whose data are log10 values and whose left axis reads as powers of ten."""
    w = pg.PlotWidget(axisItems={"left": DecadeAxis("left")})
    w.setTitle(title, size="9pt")
    w.setMouseEnabled(False, False)
    w.hideButtons()
    return w


class GradientFlowPanel(QtWidgets.QWidget):
    """One run: skip and branch bars per block, the total as a line, the total at init dashed."""

    def __init__(self, parent=None):
        super().__init__(parent)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.plot = log_axis_plot("")
        self.plot.setMinimumHeight(240)
        self.plot.setLabel("bottom", "residual block (stage.block), input side on the left")
        self.plot.setLabel("left", "‖dL/d(block input)‖")
        legend = self.plot.addLegend(offset=(-6, 6), labelTextSize="8pt", colCount=2)
        self.skip = pg.BarGraphItem(x=[0], height=[0], width=0.38, brush=SKIP_COLOR, pen=None)
        self.branch = pg.BarGraphItem(x=[0], height=[0], width=0.38, brush=BRANCH_COLOR, pen=None)
        self.plot.addItem(self.skip)
        self.plot.addItem(self.branch)
        self.total = self.plot.plot([], [], pen=pg.mkPen(TOTAL_COLOR, width=2), symbol="o", symbolSize=6,
                                    symbolBrush=TOTAL_COLOR, symbolPen=None)
        self.init = self.plot.plot([], [], pen=pg.mkPen(INIT_COLOR, width=1.5, style=QtCore.Qt.PenStyle.DashLine),
                                   symbol="t", symbolSize=6, symbolBrush=INIT_COLOR, symbolPen=None)
        legend.addItem(pg.BarGraphItem(x=[0], height=[0], width=1, brush=SKIP_COLOR), "via skip")
        legend.addItem(pg.BarGraphItem(x=[0], height=[0], width=1, brush=BRANCH_COLOR), "via branch")
        legend.addItem(self.total, "total")
        legend.addItem(self.init, "total at init")
        self.caption = SteadyLabel(rich=True, wrap=True)
        layout.addWidget(self.plot, 1)
        layout.addWidget(self.caption)
        self.n = 0

    def set_run(self, run: dict | None, labels: list[str], floor: float, top: float) -> None:
        if not run:
            for item in (self.skip, self.branch):
                item.setOpts(x=[0], height=[0], y0=floor)
            self.total.setData([], [])
            self.init.setData([], [])
            self.caption.setText("")
            return
        n = len(labels)
        x = np.arange(n, dtype=np.float64)
        fresh = np.asarray(run["fresh"], dtype=bool)
        skip, branch, total = (log10_positive(run[k]) for k in ("grad_skip", "grad_branch", "grad_total"))

        def bars(item, values, offset, color):
            ok = np.isfinite(values)
            heights = np.where(ok, values - floor, 0.0)
            solid, faded = brushes_of(color)
            item.setOpts(x=x + offset, height=heights, y0=floor, width=0.38,
                         brushes=[solid if f else faded for f in fresh], pens=[None] * n)

        bars(self.skip, skip, -0.2, SKIP_COLOR)
        bars(self.branch, branch, 0.2, BRANCH_COLOR)
        ok = np.isfinite(total)
        self.total.setData(x[ok], total[ok])
        init = log10_positive(run["init_total"])
        if init.size == n:
            ok = np.isfinite(init)
            self.init.setData(x[ok], init[ok])
        else:
            self.init.setData([], [])
        if n != self.n:
            step = max(1, math.ceil(n / 10))  # at most ~10 labels: a panel is ~350 px wide
            self.plot.getAxis("bottom").setTicks([[(i, labels[i]) for i in range(0, n, step)]])
            self.n = n
        if (n, floor, top) != getattr(self, "_ranges", None):   # set again only when they change (a frame's cost)
            self._ranges = (n, floor, top)
            self.plot.setXRange(-0.7, n - 0.3, padding=0)
            self.plot.setYRange(floor, top, padding=0)
        # a short title: pyqtgraph widens the plot to fit its title
        skip_word = "with skips" if run["skip"] else "no skips"
        title = f"<b>{run['title']}</b> ({skip_word})"
        if title != getattr(self, "_title", None):
            self._title = title
            self.plot.setTitle(title, size="9pt")
        t = run["grad_total"]
        first = float(t[0]) if t is not None and len(t) else float("nan")
        last = float(t[-1]) if t is not None and len(t) else float("nan")
        stale = "" if fresh.all() else " · <span style='color:#888'>faded bars: previous iteration (this " \
                                         "iteration's backward has not reached them yet)</span>"
        no_skip = "" if run["skip"] else "no skip path: all of it came through the branch · "
        self.caption.setText(f"{no_skip}first block {fmt(first)} · last block {fmt(last)} · first / last = "
                             f"{fmt(first / last) if last else '–'}{stale}")


TORCH_DEPTHS = (8, 14, 20, 26, 32, 44, 56, 110)
NUMPY_DEPTHS = (4, 6, 10, 20, 40)


class RunControls(QtWidgets.QWidget):
    """Remove or restore the skip connections, change depth or normalization: a new run from the same init."""

    apply = QtCore.Signal(dict)

    def __init__(self, parent=None):
        super().__init__(parent)
        row = QtWidgets.QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(QtWidgets.QLabel("<b>New run, same init:</b>"))
        self.skips = QtWidgets.QCheckBox("skip connections in the first run")
        self.skips.setChecked(True)
        self.skips.setToolTip("Unchecked: the first (inspected) run is the plain net — the same layers and initial "
                              "weights with the skip connections removed")
        row.addWidget(self.skips)
        row.addWidget(QtWidgets.QLabel("depth"))
        self.depth = QtWidgets.QComboBox()
        self.depth.setToolTip("weight layers on the longest path")
        row.addWidget(self.depth)
        self.norm_label = QtWidgets.QLabel("norm")
        row.addWidget(self.norm_label)
        self.norm = QtWidgets.QComboBox()
        self.norm.addItems(["none", "bn", "gnws"])
        self.norm.setToolTip("none; BatchNorm; GroupNorm after weight-standardized convolutions")
        row.addWidget(self.norm)
        self.button = QtWidgets.QPushButton("Start")
        self.button.setToolTip("Start a new run with these settings from the same initial weights (same seed)")
        self.button.clicked.connect(self._emit)
        row.addWidget(self.button)
        row.addStretch(1)
        self.engine = "torch"
        self.configured = False
        self._fill({}, "torch")   # not set_config: setVisible on a widget with no parent yet opens it as a window

    def set_config(self, config: dict, engine: str, configured: bool = True) -> None:
        self._fill(config, engine)
        self.configured = configured
        self.setVisible((config.get("arch") or "small") == "small")  # ResNet-50 has its own depth

    def _fill(self, config: dict, engine: str) -> None:
        self.engine = engine
        depths = TORCH_DEPTHS if engine == "torch" else NUMPY_DEPTHS
        depth = int(config.get("depth") or (20 if engine == "torch" else 10))
        self.depth.blockSignals(True)
        self.depth.clear()
        self.depth.addItems([str(d) for d in sorted(set(depths) | {depth})])
        self.depth.setCurrentText(str(depth))
        self.depth.blockSignals(False)
        self.skips.setChecked(not config.get("plain", False))
        norm = config.get("norm") or "none"
        self.norm.setCurrentText(norm if norm in ("none", "bn", "gnws") else "none")
        self.norm.setVisible(engine == "torch")
        self.norm_label.setVisible(engine == "torch")

    def values(self) -> dict:
        out = {"plain": not self.skips.isChecked(), "depth": int(self.depth.currentText())}
        if self.engine == "torch":
            out["norm"] = self.norm.currentText()
        return out

    def _emit(self) -> None:
        self.apply.emit(self.values())


class GradientFlowTab(QtWidgets.QWidget):
    def __init__(self, parent=None):
        super().__init__(parent)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        self.header = SteadyLabel(rich=True, wrap=True, lines=6)   # room for the figures the first iterations add
        layout.addWidget(self.header)
        self.controls = RunControls()
        layout.addWidget(self.controls)
        row = QtWidgets.QHBoxLayout()
        self.panels = [GradientFlowPanel(), GradientFlowPanel()]
        for p in self.panels:
            row.addWidget(p, 1)
        layout.addLayout(row, 3)
        self.over_time = pg.PlotWidget(axisItems={"left": DecadeAxis("left")})  # data are log10 values
        self.over_time.setTitle("gradient reaching the first residual block, every iteration", size="9pt")
        self.over_time.setLabel("left", "‖dL/dx‖")
        self.over_time.setLabel("bottom", "iteration")
        self.over_time.setMinimumHeight(170)
        self.over_legend = self.over_time.addLegend(offset=(-6, -6), labelTextSize="8pt")
        self.cursor = pg.InfiniteLine(angle=90, pen=pg.mkPen("#888", style=QtCore.Qt.PenStyle.DashLine))
        self.over_time.addItem(self.cursor)
        layout.addWidget(self.over_time, 2)
        self.curves: dict[str, pg.PlotDataItem] = {}

    def set_view(self, view: dict) -> None:
        runs = view["runs"]
        labels = list(view["block_labels"])
        # one y range for both panels, so the two runs can be compared by eye
        vals = np.concatenate([log10_positive(r[k]) for r in runs
                               for k in ("grad_skip", "grad_branch", "grad_total", "init_total")] or [np.array([])])
        vals = vals[np.isfinite(vals)]
        # room above the tallest bar for the legend
        floor, top = (math.floor(vals.min()) - 0.3, vals.max() + 0.9) if vals.size else (-4.0, 0.0)
        for i, panel in enumerate(self.panels):
            panel.set_run(runs[i] if i < len(runs) else None, labels, floor, top)
        self.panels[1].setVisible(len(runs) > 1)
        self.header.setText(self._header(view))

    def _header(self, view: dict) -> str:
        runs = view["runs"]
        lines = ["<b>How much gradient reaches each block</b>: ‖dL/dx‖ at each residual block's input, split into the "
                 "part that came back through the <span style='color:%s'><b>skip connection</b></span> and the part "
                 "that came back through the <span style='color:%s'><b>residual branch</b></span> "
                 "(y = relu(x + F(x)) ⇒ dL/dx = dL/dz + J<sub>F</sub><sup>T</sup>·dL/dz). Log scale, both panels on "
                 "the same scale." % (SKIP_COLOR, BRANCH_COLOR)]
        by_skip = {bool(r["skip"]): r for r in runs}
        if len(runs) == 2 and len(by_skip) == 2:
            res, plain = by_skip[True], by_skip[False]
            ratio = view["init_ratio"]
            if ratio is not None and res.get("init_total") is not None:
                lines.append(f"<b>At init</b> (iteration 1): first block — residual {fmt(res['init_total'][0])}, "
                             f"plain {fmt(plain['init_total'][0])}: the plain net's is <b>{nice_ratio(ratio, 1.0)}</b>.")
            rt, pt = res.get("grad_total"), plain.get("grad_total")
            if rt is not None and len(rt) and np.isfinite(rt[0]) and np.isfinite(pt[0]):
                lines.append(f"<b>Latest</b>: first block — residual {fmt(rt[0])}, plain {fmt(pt[0])}: the plain "
                             f"net's is {nice_ratio(pt[0], rt[0])}.")
            if ratio is not None and ratio > 1:
                lines.append("Here the plain net's gradient <i>grows</i> towards the input: with normalization "
                             "layers a deep plain net's gradient explodes at init rather than vanishes. Set "
                             "normalization to none to see it vanish.")
        elif len(runs) == 2:
            lines.append("Both runs are the same network from the same init; they differ only in the optimizer "
                         f"({runs[0].get('optimizer')} vs {runs[1].get('optimizer')}).")
        norm = {"none": "no normalization", "bn": "BatchNorm", "gnws": "GroupNorm + weight standardization"}.get(
            view["norm"], view["norm"])
        lines.append(f"<span style='color:#666'>depth {view['depth']}, {norm}, {view['engine']} engine. "
                     + ("Remove the skips or change depth and normalization above." if view["arch"] != "resnet50"
                        else "ResNet-50 on one 224×224 input (an MNIST digit, upsampled); Settings → normalization "
                             "gnws for GroupNorm + WS.") + "</span>")
        return "<br>".join(lines)

    def reset(self) -> None:
        for item in self.curves.values():
            item.setData([], [])

    def set_history(self, series: dict[str, dict[int, float]], names: dict[str, str], iteration: int) -> None:
        logs = []
        for key, title in names.items():
            data = series.get(key, {})
            if key not in self.curves:
                color = RUN_COLORS[len(self.curves) % len(RUN_COLORS)]
                self.curves[key] = self.over_time.plot([], [], pen=pg.mkPen(color, width=1.5), name=title, symbol="o",
                                                       symbolSize=5, symbolBrush=color, symbolPen=None)
            label = self.over_legend.getLabel(self.curves[key])
            if label is not None and label.text != title:  # a new run of another network (ResNet-50 after ResNet-20)
                label.setText(title)
            xs = np.fromiter(sorted(data), dtype=np.float64, count=len(data))
            ys = np.array([data[int(x)] for x in xs], dtype=np.float64)
            ok = np.isfinite(ys) & (ys > 0)
            xs, ys = xs[ok], ys[ok]
            if len(xs) > 3000:
                step = len(xs) // 3000 + 1
                xs, ys = xs[::step], ys[::step]
            item = self.curves[key]
            item.setData(xs, np.log10(ys))
            symbol = "o" if len(xs) < 30 else None  # a lone point needs a marker
            if item.opts["symbol"] != symbol:
                item.setSymbol(symbol)
            logs.append(np.log10(ys))
        self.cursor.setValue(iteration)
        logs = np.concatenate(logs) if logs else np.array([])
        if logs.size:  # whole decades, at least two, so the axis labels only powers of ten
            lo, hi = math.floor(logs.min()), math.ceil(logs.max())
            self.over_time.setYRange(lo - 0.2, max(hi, lo + 2) + 0.2, padding=0)  # room for the end labels
        last = max((max(series[k]) for k in names if series.get(k)), default=0)
        self.over_time.setXRange(0, max(last, iteration, 1) + 0.5, padding=0.02)


class RatioTab(QtWidgets.QWidget):
    """‖dL/dW‖ / ‖W‖ per weight layer, both runs on one log plot."""

    def __init__(self, parent=None):
        super().__init__(parent)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        text = QtWidgets.QLabel("<b>Gradient-to-weight norm ratio per layer</b>, ‖dL/dW‖ / ‖W‖, from the latest "
                                "backward pass: how big a plain SGD step would be relative to the weights. Layers "
                                "near the input with a much smaller ratio learn much more slowly — the vanishing "
                                "gradient, layer by layer.")
        text.setWordWrap(True)
        layout.addWidget(text)
        self.plot = log_axis_plot("")
        self.plot.setLabel("left", "‖dL/dW‖ / ‖W‖")
        self.plot.setLabel("bottom", "weight layer, input side on the left")
        self.legend = self.plot.addLegend(offset=(-6, 6), labelTextSize="8pt")
        layout.addWidget(self.plot, 1)
        self.items: list[pg.PlotDataItem] = []
        self.names: list[str] = []

    def set_view(self, view: dict) -> None:
        runs = view["runs"]
        while len(self.items) < len(runs):
            color = RUN_COLORS[len(self.items) % len(RUN_COLORS)]
            self.items.append(self.plot.plot([], [], pen=pg.mkPen(color, width=2), symbol="o", symbolSize=5,
                                             symbolBrush=color, symbolPen=None, name=f"run {len(self.items) + 1}"))
        for i, item in enumerate(self.items):
            if i >= len(runs):
                item.setData([], [])
                continue
            y = log10_positive(runs[i]["ratios"])
            x = np.arange(len(y), dtype=np.float64)
            ok = np.isfinite(y)
            item.setData(x[ok], y[ok])
            self.legend.getLabel(item).setText(runs[i]["title"])
        names = list(runs[0]["ratio_names"]) if runs else []
        if names != self.names:
            step = max(1, math.ceil(len(names) / 16))
            self.plot.getAxis("bottom").setTicks([[(i, names[i]) for i in range(0, len(names), step)]])
            self.names = names
            self.plot.setXRange(-0.5, max(len(names) - 0.5, 0.5), padding=0)


class CompareTab(QtWidgets.QWidget):
    """Loss, held-out accuracy and macro F1 of both runs on one plot; per-parameter step sizes."""

    def __init__(self, parent=None):
        super().__init__(parent)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        self.plot = pg.PlotWidget()
        self.plot.setTitle("both runs: training loss (smoothed), held-out accuracy and macro F1", size="9pt")
        self.plot.setLabel("bottom", "iteration")
        self.plot.setLabel("left", "loss  ·  accuracy / F1 (0–1)")
        self.cursor = pg.InfiniteLine(angle=90, pen=pg.mkPen("#888", style=QtCore.Qt.PenStyle.DashLine))
        self.plot.addItem(self.cursor)
        self.key = SteadyLabel(rich=True, wrap=True)
        layout.addWidget(self.plot, 3)
        layout.addWidget(self.key)
        self.summary = SteadyLabel(rich=True, wrap=True)
        layout.addWidget(self.summary)
        self.step_title = SteadyLabel(rich=True, wrap=True)
        layout.addWidget(self.step_title)
        row = QtWidgets.QHBoxLayout()
        self.hist = pg.PlotWidget()
        self.hist.setTitle("per-parameter step |Δθ| of the last update (log10)", size="9pt")
        self.hist.setLabel("bottom", "log10 |Δθ|")
        self.hist.setLabel("left", "parameters")
        self.hist_legend = self.hist.addLegend(offset=(6, 6), labelTextSize="8pt")
        self.scatter_plot = pg.PlotWidget(axisItems={"left": DecadeAxis("left"), "bottom": DecadeAxis("bottom")})
        self.scatter_plot.setTitle("the same parameters: run 1 step vs run 2 step", size="9pt")
        self.scatter = pg.ScatterPlotItem(size=3, pen=None, brush=pg.mkBrush("#4C78A888"))
        self.diagonal = pg.PlotDataItem([], [], pen=pg.mkPen("#888", style=QtCore.Qt.PenStyle.DashLine))
        self.scatter_plot.addItem(self.scatter)
        self.scatter_plot.addItem(self.diagonal)
        for w in (self.hist, self.scatter_plot):
            w.setMinimumHeight(170)
            w.setMouseEnabled(False, False)
            w.hideButtons()
        row.addWidget(self.hist, 1)
        row.addWidget(self.scatter_plot, 1)
        layout.addLayout(row, 2)
        self.curves: dict[str, pg.PlotDataItem] = {}
        self.hist_items: list[pg.PlotDataItem] = []

    def set_history(self, series: dict[str, dict[int, float]], runs: list[dict], iteration: int) -> None:
        lines = []
        for i, run in enumerate(runs):
            prefix = "" if i == 0 else f"{run['tag']}_"
            color = RUN_COLORS[i % len(RUN_COLORS)]
            name = run.get("short", run["tag"])
            specs = [(f"{prefix}loss", f"{name} loss", QtCore.Qt.PenStyle.SolidLine, True),
                     (f"{prefix}heldout_accuracy", f"{name} held-out accuracy", QtCore.Qt.PenStyle.DashLine, False),
                     (f"{prefix}heldout_macro_f1", f"{name} macro F1", QtCore.Qt.PenStyle.DotLine, False)]
            last = []
            for key, title, style, smooth in specs:
                data = series.get(key, {})
                if key not in self.curves:
                    kw = {} if smooth else {"symbol": "o", "symbolSize": 4, "symbolBrush": color, "symbolPen": None}
                    self.curves[key] = self.plot.plot([], [], pen=pg.mkPen(color, width=2, style=style), **kw)
                xs = np.fromiter(sorted(data), dtype=np.float64, count=len(data))
                ys = np.array([data[int(x)] for x in xs], dtype=np.float64)
                if smooth and len(ys) > 1:
                    w = min(100, max(5, len(ys) // 20))  # moving average over w iterations
                    c = np.cumsum(np.insert(ys, 0, 0.0))
                    lo = np.maximum(np.arange(1, len(ys) + 1) - w, 0)
                    ys = (c[1:] - c[lo]) / (np.arange(1, len(ys) + 1) - lo)
                if len(xs) > 3000:
                    step = len(xs) // 3000 + 1
                    xs, ys = xs[::step], ys[::step]
                self.curves[key].setData(xs, ys)
                if not smooth and len(data):
                    last.append(f"{title.split(' ', 1)[1]} {data[max(data)]:.3f}")
            if last:
                lines.append(f"<span style='color:{color}'><b>{run['title']}</b></span>: " + ", ".join(last)
                             + f" (iteration {max(series.get(prefix + 'heldout_accuracy', {0: 0}))})")
        self.key.setText("<span style='color:#444'>── training loss (smoothed) &nbsp; – – held-out accuracy &nbsp; "
                         "· · · held-out macro F1</span> &nbsp; " + " &nbsp; ".join(
                             f"<span style='color:{RUN_COLORS[i % len(RUN_COLORS)]}'><b>■ {r['title']}</b></span>"
                             for i, r in enumerate(runs)))
        self.summary.setText("<br>".join(lines) if lines else
                             "<span style='color:#666'>held-out accuracy and F1 appear at each evaluation</span>")
        self.cursor.setValue(iteration)

    def set_steps(self, steps: dict) -> None:
        runs = steps["runs"] if steps else []
        if not runs:
            self.step_title.setText("<b>Per-parameter step sizes</b> — after the first update")
            for item in self.hist_items:
                item.setData([0, 1], [0])
            self.scatter.setData([], [])
            return
        desc = ", ".join(f"{r['title']}: lr {r['lr']:g}, median |Δθ| {fmt(float(np.median(np.abs(r['steps']))))}"
                         for r in runs)
        self.step_title.setText(f"<b>Per-parameter step sizes</b> of the last update for the first weight of "
                                f"<b>{steps['label']}</b> (click another block in the diagram to change it; "
                                f"{min(len(runs[0]['steps']), runs[0]['n'])} of {runs[0]['n']} parameters) — {desc}")
        logs = [log10_positive(np.abs(r["steps"])) for r in runs]
        finite = np.concatenate([v[np.isfinite(v)] for v in logs])
        if finite.size == 0:
            return
        lo, hi = float(finite.min()), float(finite.max())
        edges = np.linspace(lo, hi + 1e-9, 41)
        while len(self.hist_items) < len(runs):
            color = RUN_COLORS[len(self.hist_items) % len(RUN_COLORS)]
            self.hist_items.append(self.hist.plot([0, 1], [0], stepMode="center", fillLevel=0,
                                                  brush=pg.mkBrush(color + "55"), pen=pg.mkPen(color, width=1.5),
                                                  name=f"run {len(self.hist_items) + 1}"))
        for i, item in enumerate(self.hist_items):
            if i < len(runs):
                counts, _ = np.histogram(logs[i][np.isfinite(logs[i])], bins=edges)
                item.setData(edges, counts.astype(np.float64))
                self.hist_legend.getLabel(item).setText(runs[i]["title"])
            else:
                item.setData([0, 1], [0])
        if len(runs) >= 2:
            a, b = logs[0], logs[1]
            ok = np.isfinite(a) & np.isfinite(b)
            self.scatter.setData(a[ok], b[ok])
            self.diagonal.setData([lo, hi], [lo, hi])
            self.scatter_plot.setLabel("bottom", f"|Δθ| {runs[0]['title']}")
            self.scatter_plot.setLabel("left", f"|Δθ| {runs[1]['title']}")
        else:
            self.scatter.setData([], [])


class ResNetView(LabView):
    block_data_tabs = ("Layer inspector",)
    def __init__(self, parent=None):
        super().__init__(parent)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.tabs = QtWidgets.QTabWidget()
        self.flow = GradientFlowTab()
        self.ratios = RatioTab()
        self.compare = CompareTab()
        self.inspector = LayerInspector()
        self.report = ReportPanel()
        self.tabs.addTab(self.flow, "Gradient flow: skip vs branch")
        self.tabs.addTab(self.ratios, "‖∇W‖/‖W‖ per layer")
        self.tabs.addTab(self.compare, "Runs compared")
        self.tabs.addTab(self.inspector, "Layer inspector")
        self.tabs.addTab(self.report, "Classification report")
        explain_tabs(self.tabs)
        layout.addWidget(self.tabs)
        self.series: dict[str, dict[int, float]] = {}
        self._last: dict | None = None
        self.refresh = Refresh()   # bars, histograms and curves: a few times a second while playing
        self.flow.controls.apply.connect(self.apply_settings)
        self.tabs.currentChanged.connect(self._tab_changed)

    def _tab_changed(self, _index: int) -> None:
        if self._last is None:
            self.refresh.again()
            return
        self._render(self._last)   # the tab shown draws at once, and not again with the very next snapshot
        self.refresh.drawn(self._last.get("selected_block"))

    def _render_lazy(self, snap: dict) -> None:
        """The shared inspector and report redraw only while their tab is shown."""
        if self.tabs.currentWidget() is self.inspector:
            self.inspector.set_snapshot(snap)
        elif self.tabs.currentWidget() is self.report:
            self.report.set_report(snap["view"]["report"])

    def on_ready(self, info: dict) -> None:
        self._reset_history()
        self.flow.controls.set_config(info.get("config", {}), info.get("engine", "torch"))

    def _reset_history(self) -> None:
        self.series = {}
        self.flow.reset()
        self.refresh.again()

    def set_snapshot(self, snap: dict) -> None:
        view = snap["view"]   # engines/labs/resnet.py ResNetView
        if snap.get("history_reset"):
            self._reset_history()
        for it, metrics in snap.get("history", []):
            for key, value in metrics.items():
                if isinstance(value, (int, float)):
                    self.series.setdefault(key, {})[int(it)] = float(value)
        if not self.flow.controls.configured and view["depth"]:  # shown without on_ready (e.g. alone)
            self.flow.controls.set_config({k: view[k] for k in ("depth", "norm", "arch")}
                                          | {"plain": bool(view["runs"]) and not view["runs"][0]["skip"]},
                                          view["engine"])
        self._last = snap
        if self.refresh.due(snap, key=snap.get("selected_block")):
            self._render(snap)

    def _render(self, snap: dict) -> None:
        """The tab on screen only (another draws when it is shown)."""
        view = snap["view"]
        # with a short name for the legends (a copy: the snapshot is never written to)
        runs = [dict(run, short=run["tag"] if view["mode"] != "optimizer" else run["optimizer"])
                for run in view["runs"]]
        shown = self.tabs.currentWidget()
        if shown is self.flow:
            self.flow.set_view(view)
            names = {("_grad_first" if i == 0 else f"_{r['tag']}_grad_first"): r["title"]
                     for i, r in enumerate(runs)}
            self.flow.set_history(self.series, names, snap.get("iteration", 0))
        elif shown is self.ratios:
            self.ratios.set_view(view)
        elif shown is self.compare:
            self.compare.set_history(self.series, runs, snap.get("iteration", 0))
            self.compare.set_steps(view["steps"])
        else:
            self._render_lazy(snap)


def fake_snapshot(iteration: int = 50, n_blocks: int = 9, mode: str = "plain", fresh_upto: int = 0) -> dict:
    """A synthetic snapshot for tests and for running this file alone."""
    rng = np.random.default_rng(iteration)
    labels = [f"{s}.{b}" for s in (1, 2, 3) for b in range(1, n_blocks // 3 + 1)][:n_blocks]
    depth = np.arange(n_blocks)[::-1]
    res_skip = 0.02 * 1.2 ** depth * (1 + 0.1 * rng.random(n_blocks))
    res_branch = 0.025 * 1.2 ** depth
    plain_branch = 0.01 * 0.8 ** depth
    fresh = np.arange(n_blocks) >= fresh_upto
    runs = [
        {"tag": "residual" if mode == "plain" else "adam", "title": "ResNet-20 · Adam", "skip": True,
         "optimizer": "adam", "grad_skip": res_skip, "grad_branch": res_branch,
         "grad_total": np.sqrt(res_skip ** 2 + res_branch ** 2) * 1.3, "fresh": fresh,
         "init_total": np.sqrt(res_skip ** 2 + res_branch ** 2), "ratio_names": ["stem", "1.1a", "1.1b", "fc"],
         "ratios": np.array([0.1, 0.02, 0.03, 0.2])},
        {"tag": "plain" if mode == "plain" else "adamax", "title": "Plain-20 · Adam" if mode == "plain" else "ResNet-20 · AdaMax",
         "skip": mode != "plain", "optimizer": "adam" if mode == "plain" else "adamax",
         "grad_skip": np.zeros(n_blocks) if mode == "plain" else res_skip, "grad_branch": plain_branch,
         "grad_total": plain_branch, "fresh": fresh, "init_total": plain_branch * 0.5,
         "ratio_names": ["stem", "1.1a", "1.1b", "fc"], "ratios": np.array([0.001, 0.002, 0.01, 0.2])},
    ]
    steps = {"block": 1, "label": "Basic 8→8", "runs": [
        {"tag": r["tag"], "title": r["title"], "optimizer": r["optimizer"], "lr": 1e-3,
         "steps": rng.standard_normal(576) * 10 ** rng.uniform(-5, -3, 576), "n": 576} for r in runs]}
    history = [(it, {"loss": 2.3 * math.exp(-it / 40), "plain_loss": 2.3 * math.exp(-it / 80),
                     "_grad_first": 0.05 + 0.001 * it, "_plain_grad_first": 0.002 + 0.002 * it})
               for it in range(1, iteration + 1)]
    if iteration >= 50:
        history[49][1].update({"heldout_accuracy": 0.7, "heldout_macro_f1": 0.68, "plain_heldout_accuracy": 0.45,
                               "plain_heldout_macro_f1": 0.35})
    return {"lab": "resnet", "iteration": iteration, "phase": 0, "history": history, "history_reset": True,
            "selected_block": 1, "blocks": [], "block_data": {}, "label": "", "playing": False,
            "view": {"mode": mode, "arch": "small", "engine": "torch", "depth": 20, "norm": "none",
                     "block_labels": labels, "runs": runs, "steps": steps,
                     "init_ratio": float(runs[1]["init_total"][0] / runs[0]["init_total"][0]), "report": None,
                     "hyperparams": {"lr": 1e-3}}}


if __name__ == "__main__":  # python -m widgets.resnet_view [--screenshot PATH]
    from .demo import run_lab_view_demo
    run_lab_view_demo(ResNetView, fake_snapshot(), (900, 850))
