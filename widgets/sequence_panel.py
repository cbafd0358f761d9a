"""The text view's "Inside the sequence" panel: for the current training sequence (the first stream
of the batch) and the selected layer, heatmaps over time × units aligned under the characters (the
gates, the cell state and the hidden state of an LSTM; r, z, h̃, h of a GRU; h of a vanilla RNN), the
gradient dL/dh_t that backpropagation through time has carried back so far, its norm per time step
(log scale) and the loss of each character. Hovering a character shows its values.

Reads the selected block's phase data (forward acts/chars/targets, loss nll, backward dh/dh_norm/
dc_norm/step, update clipped/grad_norm) and the lab's view_data (cell, depth, hidden, batch_size,
parameter_counts).
"""
from __future__ import annotations

import html
import math

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtWidgets

from .common import SteadyLabel, fmt
from .text_cells import (CELL_ROWS, CELL_TITLES, GATE_ROWS, ROW_LEGENDS, SIGMOID_GATES, CharAxis, DecadeAxis,
                         colormap_lut, describe_char, robust_max)


class SequencePanel(QtWidgets.QWidget):
    """Heatmaps over time × units for one layer, aligned under the characters; gradients through time."""

    hovered = QtCore.Signal(int)   # time step under the mouse (−1: none)

    def __init__(self, parent=None):
        super().__init__(parent)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        self.header = SteadyLabel(rich=True, wrap=True, lines=2)
        layout.addWidget(self.header)
        self.glw = pg.GraphicsLayoutWidget()
        layout.addWidget(self.glw, 1)
        self.info = QtWidgets.QLabel("Hover over the heatmaps to read one character's values.")
        self.info.setTextFormat(QtCore.Qt.TextFormat.RichText)
        self.info.setWordWrap(True)
        self.info.setMinimumHeight(36)
        layout.addWidget(self.info)
        self.rows: dict[str, dict] = {}
        self.layout_key = None
        self.T = 0
        self.chars = ""
        self.targets = ""
        self.data: dict = {}
        self.hover_t = -1
        self.glw.scene().sigMouseMoved.connect(self._mouse_moved)

    # ------------------------------------------------------------------ building
    def _build(self, names: tuple[str, ...]) -> None:
        self.glw.clear()
        self.rows = {}
        first = None
        all_rows = list(names) + ["dh", "dh_norm", "nll"]
        for k, name in enumerate(all_rows):
            last = k == len(all_rows) - 1
            axis = CharAxis(orientation="bottom")
            axes = {"bottom": axis}
            if name == "dh_norm":
                axes["left"] = DecadeAxis(orientation="left")
            plot = self.glw.addPlot(row=k, col=0, axisItems=axes)
            plot.setMouseEnabled(False, False)
            plot.hideButtons()
            plot.setMenuEnabled(False)
            plot.getAxis("left").setWidth(44)
            plot.getAxis("bottom").setStyle(showValues=last)
            if not last:
                plot.getAxis("bottom").setHeight(4)
            row = {"plot": plot, "axis": axis}
            if name in GATE_ROWS or name == "dh":
                img = pg.ImageItem()
                plot.addItem(img)
                plot.invertY(True)
                row["image"] = img
                plot.setLabel("left", GATE_ROWS[name][1] if name in GATE_ROWS else "dL/dh", size="9pt")
                plot.getAxis("left").setStyle(showValues=False)
                plot.getAxis("left").enableAutoSIPrefix(False)  # hidden values: "c̃ (x0.001)" only overlapped
                if name == "dh":
                    img.setLookupTable(colormap_lut(True))
                else:
                    levels = GATE_ROWS[name][2]
                    img.setLookupTable(colormap_lut(levels is None or levels[0] < 0))
            elif name == "dh_norm":
                plot.showGrid(x=False, y=True, alpha=0.3)
                row["curve"] = plot.plot([], [], pen=pg.mkPen("#F58518", width=2), symbol="o", symbolSize=4,
                                         symbolBrush="#F58518", symbolPen=None, name="‖dL/dh_t‖")
                row["curve_c"] = plot.plot([], [], pen=pg.mkPen("#B279A2", width=1.5, style=QtCore.Qt.PenStyle.DashLine),
                                           name="‖dL/dc_t‖")
            else:  # per-character loss
                plot.setLabel("left", "loss", size="9pt")
                row["bars"] = pg.BarGraphItem(x=[0], height=[0], width=0.8, brush="#E45756", pen=None)
                plot.addItem(row["bars"])
            cursor = pg.InfiniteLine(angle=90, pen=pg.mkPen("#F58518", width=2))
            cursor.setVisible(False)
            plot.addItem(cursor, ignoreBounds=True)
            row["cursor"] = cursor
            hover = pg.InfiniteLine(angle=90, pen=pg.mkPen("#222", width=1, style=QtCore.Qt.PenStyle.DotLine))
            hover.setVisible(False)
            plot.addItem(hover, ignoreBounds=True)
            row["hover"] = hover
            if first is None:
                first = plot
            else:
                plot.setXLink(first)
            self.rows[name] = row
        for k, name in enumerate(all_rows):
            stretch = 1 if name in ("dh_norm", "nll") else 2
            self.glw.ci.layout.setRowStretchFactor(k, stretch)

    # ------------------------------------------------------------------ rendering
    def render_snapshot(self, block_data: dict, snap: dict, view: dict) -> None:
        fwd = block_data.get("forward", {})
        back = block_data.get("backward", {})
        loss = block_data.get("loss", {})
        update = block_data.get("update", {})
        cell = view["cell"]
        names = CELL_ROWS.get(cell, ("h",))
        if self.layout_key != names:
            self.layout_key = names
            self._build(names)
        acts = fwd.get("acts") or {}
        chars = fwd.get("chars") or loss.get("chars") or back.get("chars") or ""
        self.chars, self.targets = chars, fwd.get("targets") or loss.get("targets") or ""
        self.T = len(chars)
        self.data = {"acts": acts, "nll": loss.get("nll"), "back": back}
        layer = snap.get("selected_block", 0)
        depth = view["depth"]
        for row in self.rows.values():
            row["axis"].set_chars(chars)
        cell_title = CELL_TITLES.get(cell, "RNN")
        title = f"{cell_title} layer {layer + 1} of {depth}"
        if layer >= depth:
            self.header.setText(f"<b>Output layer</b> — click a {cell_title} layer in the diagram to see its "
                                "activations over time.")
        else:   # the same description before the first data: the header keeps its lines, the heatmaps their room
            rows = ROW_LEGENDS.get(cell, ROW_LEGENDS["rnn"])
            batch = int(view["batch_size"])
            which = "of the training sequence" if batch == 1 else f"of the first of {batch} sequences in the batch"
            scale = ("Gates 0 → 1 dark → bright; others blue &lt; 0 &lt; red." if cell in ("lstm", "gru")
                     else "Blue &lt; 0 &lt; red.")
            self.header.setText(
                f"<b>{title}</b>" + ("" if acts else " — <i>not computed yet in this iteration: step forward (→)</i>")
                + f": {view['hidden']} units (rows) × {self.T} characters (columns) {which}. "
                f"{rows}; <b>dL/dh</b> the gradient carried back through time so far. {scale}"
                + parameter_caption(cell, layer, view["parameter_counts"]))
        T = max(self.T, 1)
        for name in names:
            row = self.rows[name]
            a = acts.get(name)
            if a is None:
                row["image"].clear()
                continue
            img = np.asarray(a, dtype=np.float32).T                     # (H, T): units down, time across
            levels = GATE_ROWS[name][2]
            if levels is None:
                m = robust_max(img)
                levels = (-m, m)
            row["image"].setImage(img, levels=levels, autoLevels=False)
            row["image"].setRect(QtCore.QRectF(0, 0, img.shape[1], img.shape[0]))
        dh = back.get("dh")
        if dh is not None:
            img = np.asarray(dh, dtype=np.float32).T
            m = robust_max(img[:, back.get("step", 0):]) if img.size else 1e-12
            self.rows["dh"]["image"].setImage(img, levels=(-m, m), autoLevels=False)
            self.rows["dh"]["image"].setRect(QtCore.QRectF(0, 0, img.shape[1], img.shape[0]))
        else:
            self.rows["dh"]["image"].clear()
        norms = back.get("dh_norm")
        t_axis = np.arange(T) + 0.5
        if norms is not None and len(norms) == T:
            n = np.asarray(norms, dtype=np.float64)
            ok = np.isfinite(n) & (n > 0)
            self.rows["dh_norm"]["curve"].setData(t_axis[ok], np.log10(n[ok]))       # log10: decades
            nc = back.get("dc_norm")
            if nc is not None:
                nc = np.asarray(nc, dtype=np.float64)
                okc = np.isfinite(nc) & (nc > 0)
                self.rows["dh_norm"]["curve_c"].setData(t_axis[okc], np.log10(nc[okc]))
            else:
                self.rows["dh_norm"]["curve_c"].setData([], [])
        else:
            self.rows["dh_norm"]["curve"].setData([], [])
            self.rows["dh_norm"]["curve_c"].setData([], [])
        clip = update if update else snap.get("last_metrics", {})
        fired = clip.get("clipped")
        clip_text = "" if fired is None else (" · clipping fired" if fired else " · no clipping")
        dc_text = ", dashed ‖dL/dc_t‖" if back.get("dc_norm") is not None else ""
        self.rows["dh_norm"]["plot"].setTitle(
            f"‖dL/dh_t‖ per step (log scale{dc_text}): where the gradient through time fades or grows{clip_text}"
            + (f" · ‖g‖ = {fmt(clip.get('grad_norm'))}" if clip.get("grad_norm") is not None else ""), size="8pt")
        nll = loss.get("nll")
        if nll is not None and len(nll) == T:
            self.rows["nll"]["bars"].setOpts(x=t_axis, height=np.asarray(nll, dtype=np.float64), width=0.8)
        else:
            self.rows["nll"]["bars"].setOpts(x=[0], height=[0])
        self.show_step(back, snap)
        for name, row in self.rows.items():
            row["plot"].setXRange(-0.02 * T, T, padding=0)
            if "image" in row and row["image"].image is not None:
                row["plot"].setYRange(0, row["image"].image.shape[0], padding=0)
        self._update_info()

    def show_step(self, back: dict, snap: dict) -> None:
        """Where backpropagation through time has got to in the layer shown (a line across the rows)."""
        layer = snap.get("selected_block", 0)
        step = back.get("step") if snap.get("active_kind") == "backward" and snap.get("active_block") == layer else None
        for row in self.rows.values():
            if row["cursor"].isVisible() != (step is not None):
                row["cursor"].setVisible(step is not None)
            if step is not None and row["cursor"].value() != step:
                row["cursor"].setValue(step)

    # ------------------------------------------------------------------ hover
    def _mouse_moved(self, pos) -> None:
        t = -1
        for row in self.rows.values():
            vb = row["plot"].vb
            if row["plot"].sceneBoundingRect().contains(pos):
                x = vb.mapSceneToView(pos).x()
                if 0 <= x < self.T:
                    t = int(x)
                break
        if t != self.hover_t:
            self.set_hover(t)

    def set_hover(self, t: int) -> None:
        self.hover_t = t
        for row in self.rows.values():
            row["hover"].setVisible(t >= 0)
            if t >= 0:
                row["hover"].setValue(t + 0.5)
        self._update_info()
        self.hovered.emit(t)

    def _update_info(self) -> None:
        t = self.hover_t
        if not (0 <= t < self.T):
            return
        acts = self.data.get("acts") or {}
        parts = [f"<b>t = {t}</b>: read {html.escape(describe_char(self.chars[t]), quote=False)}"]
        if t < len(self.targets):
            parts[0] += f", should predict {html.escape(describe_char(self.targets[t]), quote=False)}"
        nll = self.data.get("nll")
        if nll is not None and t < len(nll):
            parts.append(f"loss {float(nll[t]):.2f} nats (p = {math.exp(-float(nll[t])):.2f})")
        for name in CELL_ROWS["lstm"] + ("r", "z", "n"):
            a = acts.get(name)
            if a is not None and t < len(a):
                v = np.asarray(a[t], dtype=np.float64)
                shown = GATE_ROWS[name][1]  # "c̃" for the candidate, as the panels name it
                if name in SIGMOID_GATES:
                    parts.append(f"{shown}: mean {v.mean():.2f}, {np.mean(v > 0.9) * 100:.0f}% open &gt; 0.9")
                else:
                    parts.append(f"{shown}: mean |·| {np.abs(v).mean():.2f}, max |·| {np.abs(v).max():.2f}")
        back = self.data.get("back") or {}
        n = back.get("dh_norm")
        if n is not None and t < len(n) and np.isfinite(n[t]):
            parts.append(f"‖dL/dh‖ {fmt(float(n[t]))}")
        self.info.setText(" · ".join(parts))


def parameter_caption(cell: str, layer: int, counts: dict) -> str:
    """This layer's parameter count beside what an LSTM / a GRU of the same size would have."""
    if cell not in ("lstm", "gru") or not 0 <= layer < len(counts["layers"]):
        return ""
    simple = counts["rnn_layers"][layer]
    mine = counts["layers"][layer]
    if cell == "gru":
        other = f"an LSTM layer of the same size: 4({simple:,}) = {counts['lstm_layers'][layer]:,}"
        n = counts["gru_layers"][layer] - 3 * simple                  # N: b_hn, one bias per unit more
        formula = f"3(N·d + N² + N) + N = 3·{simple:,} + {n:,} = {mine:,}"
    else:
        other = f"a GRU layer of the same size: 3({simple:,}) + N = {counts['gru_layers'][layer]:,}"
        formula = f"4(N·d + N² + N) = 4·{simple:,} = {mine:,}"
    return (f"<br><b>Parameters</b> of this layer: {formula} (a simple RNN layer: N·d + N² + N = {simple:,}); "
            f"{other}. The whole network: {counts['total']:,}.")


if __name__ == "__main__":  # python -m widgets.sequence_panel [--screenshot PATH]
    from .demo import run_demo

    def build() -> SequencePanel:
        from .fake_data import fake_text_snapshot as fake_snapshot   # the text labs' made-up snapshot
        panel = SequencePanel()
        snap = fake_snapshot("lstm")
        panel.render_snapshot(snap["block_data"], snap, snap["view"])
        panel.set_hover(7)
        return panel

    run_demo(build, (900, 760))
