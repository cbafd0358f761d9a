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
from PySide6 import QtCore, QtWidgets

from .common import SERIES_COLORS, HoverReadout, explain_tabs, fit_title, fmt, legend_below
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
    w.showGrid(x=True, y=True, alpha=0.2)
    w.setLabel("left", left)
    w.setLabel("bottom", bottom)
    w.setMinimumHeight(170)
    for axis in ("left", "bottom"):
        w.getAxis(axis).enableAutoSIPrefix(False)  # no "(x0.001)": values as they are
    return w


class Batch1Tab(QtWidgets.QWidget):
    def __init__(self, parent=None):
        super().__init__(parent)
        grid = QtWidgets.QGridLayout(self)
        grid.setContentsMargins(4, 4, 4, 4)
        self.header = QtWidgets.QLabel()
        self.header.setWordWrap(True)
        self.header.setTextFormat(QtCore.Qt.TextFormat.RichText)
        grid.addWidget(self.header, 0, 0, 1, 3)
        self.loss_plot = plot("training loss (moving average)", "cross-entropy")
        self.acc_plot = plot("held-out accuracy", "fraction (0–1)")  # as every lab's curves
        for p in (self.loss_plot, self.acc_plot):
            legend_below(p.getPlotItem())  # under the axis: never over the curves
        self.readouts = [HoverReadout(p.getPlotItem()) for p in (self.loss_plot, self.acc_plot)]
        self.curves: dict[str, pg.PlotDataItem] = {}
        for key, (where, label, colour, dashed) in CURVES.items():
            target = self.loss_plot if where == "loss" else self.acc_plot
            pen = pg.mkPen(colour, width=2, style=QtCore.Qt.PenStyle.DashLine if dashed else QtCore.Qt.PenStyle.SolidLine)
            kw = {} if where == "loss" else {"symbol": "o", "symbolSize": 5, "symbolBrush": colour, "symbolPen": None}
            self.curves[key] = target.plot([], [], pen=pen, name=label, **kw)
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
        self.stat_lines: dict[str, list[pg.PlotDataItem]] = {"mean": [], "var": []}
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
        self.summary = QtWidgets.QLabel()
        self.summary.setWordWrap(True)
        self.summary.setTextFormat(QtCore.Qt.TextFormat.RichText)
        grid.addWidget(self.summary, 3, 0, 1, 3)
        for r in (1, 2):
            grid.setRowStretch(r, 1)
        self.series: dict[str, dict[int, float]] = {}
        self.bn_layer = ""

    # ---- curves from the history (incremental)
    def reset(self) -> None:
        self.series = {}
        for item in self.curves.values():
            item.setData([], [])

    def add_points(self, points: list) -> None:
        touched = set()
        for it, metrics in points:
            for key in CURVES:
                if key in metrics and metrics[key] is not None and np.isfinite(metrics[key]):
                    self.series.setdefault(key, {})[int(it)] = float(metrics[key])
                    touched.add(key)
        for key in touched:
            data = self.series[key]
            xs = np.array(sorted(data), dtype=np.float64)
            ys = np.array([data[int(x)] for x in xs])
            if CURVES[key][0] == "loss":
                ys = moving_average(ys, max(10, min(300, len(ys) // 10)))
                if len(xs) > 3000:
                    step = len(xs) // 3000 + 1
                    xs, ys = xs[::step], ys[::step]
            self.curves[key].setData(xs, ys)
        if touched & {k for k, v in CURVES.items() if v[0] == "loss"}:
            self._loss_range()

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
            self.loss_plot.setYRange(0.0, 1.1 * max(max(tops), 1e-3), padding=0)

    def set_bn_history(self, hist: dict, layer: str) -> None:
        layers = hist.get("layers", []) if hist else []
        chosen = next((l for l in layers if l["name"] == layer), layers[0] if layers else None)
        if chosen is None:
            for lines in self.stat_lines.values():
                for line in lines:
                    line.setData([], [])
            return
        its = np.asarray(hist["iterations"], dtype=np.float64)
        if chosen["name"] != self.bn_layer:
            self.bn_layer = chosen["name"]
            self.mean_plot.setTitle(f"BN running mean per channel ({chosen['name']})", size="9pt")
            self.var_plot.setTitle(f"BN running variance per channel ({chosen['name']})", size="9pt")
        for kind, target in (("mean", self.mean_plot), ("var", self.var_plot)):
            values = np.asarray(chosen[kind])
            lines = self.stat_lines[kind]
            while len(lines) < values.shape[1]:
                colour = SERIES_COLORS[len(lines) % len(SERIES_COLORS)]
                lines.append(target.plot([], [], pen=pg.mkPen(colour, width=1)))
            for c, line in enumerate(lines):
                if c < values.shape[1]:
                    line.setData(its, values[:, c])
                else:
                    line.setData([], [])
            target.setXRange(0, max(float(its[-1]), 1.0), padding=0.02)
            target.enableAutoRange(axis="y")

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


class Batch1View(LabView):
    owns_curves = True

    def __init__(self, parent=None):
        super().__init__(parent)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.tabs = QtWidgets.QTabWidget()
        self.main = Batch1Tab()
        self.inspector = LayerInspector()
        self.tabs.addTab(self.main, "BN vs GN+WS")
        self.tabs.addTab(self.inspector, "Layer inspector")
        explain_tabs(self.tabs)
        layout.addWidget(self.tabs)
        self.snap: dict | None = None
        self.tabs.currentChanged.connect(lambda _: self.snap is not None and self._render(self.snap))

    def on_ready(self, info: dict) -> None:
        self.main.reset()

    def set_snapshot(self, snap: dict) -> None:
        if snap.get("history_reset"):
            self.main.reset()
        self.main.add_points(snap.get("history", []))   # always: points arrive only once
        self.snap = snap
        self._render(snap)

    def _render(self, snap: dict) -> None:
        if self.tabs.currentWidget() is self.inspector:
            self.inspector.set_snapshot(snap)
            return
        view = snap.get("view", {})
        blocks = snap.get("blocks", [])
        sel = int(snap.get("selected_block", 0))
        block = blocks[sel] if 0 <= sel < len(blocks) else {"name": "", "label": ""}
        layer = block["name"].split(".")[-1] if block["name"].startswith("bn.") else ""
        self.main.set_bn_history(view.get("bn_history", {}), layer or "conv1")
        fwd = snap.get("block_data", {}).get("forward", {})
        self.main.set_example_stats(fwd.get("bn"), block["label"])
        self.main.set_cursor(int(snap.get("iteration", 0)))
        batch = view.get("batch_size", 1)
        self.main.header.setText(
            f"<b>Two identical CNNs, one example per step</b> (batch size {batch}), same initial weights, same "
            "examples in the same order. <span style='color:#E45756'><b>BN</b></span>: conv → BatchNorm; "
            "<span style='color:#54A24B'><b>GN+WS</b></span>: weight-standardized conv → GroupNorm. "
            "In training, BatchNorm normalizes each image by its own statistics (the batch is one image); "
            "in evaluation it uses running averages of them, which drift from example to example (below).")
        e = view.get("last_eval") or {}
        if e:
            self.main.summary.setText(
                f"Latest evaluation: <span style='color:#54A24B'><b>GN+WS {100 * e['heldout_accuracy_gnws']:.2f} %</b></span>"
                f" · <span style='color:#E45756'><b>BN {100 * e['heldout_accuracy_bn']:.2f} %</b></span> in eval mode "
                f"(running statistics) · BN with each image's own statistics "
                f"{100 * e['heldout_accuracy_bn_own_stats']:.2f} % (the gap is what the running statistics cost)"
                f" · learning rate now {fmt(snap.get('last_metrics', {}).get('lr'))}")
        else:
            self.main.summary.setText("Held-out accuracy appears at the first evaluation (every 500 iterations).")


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
            "view": {"bn_history": bn_history, "batch_size": 1, "hyperparams": {"lr": 0.05, "decay": 2000.0},
                     "last_eval": {"heldout_accuracy_gnws": 0.97, "heldout_accuracy_bn": 0.95,
                                   "heldout_accuracy_bn_own_stats": 0.96}},
            "history": history, "history_reset": reset, "keyframes": 3,
            "last_metrics": {"loss": 0.5, "lr": 0.02}}


if __name__ == "__main__":  # run alone with fake data
    from .common import configure_pyqtgraph
    app = QtWidgets.QApplication([])
    configure_pyqtgraph()
    w = Batch1View()
    w.resize(1100, 800)
    w.set_snapshot(fake_snapshot())
    w.show()
    app.exec()
