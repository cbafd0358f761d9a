"""The text labs' view (char-RNN, LSTM and GRU): inside the sequence, generation, live samples.

Tabs:
- Inside the sequence: for the current training sequence (the first stream of the batch) and
  the selected layer, heatmaps over time × units, aligned under the characters: the input,
  forget, candidate and output gates, the cell state and the hidden state (LSTM), the reset and
  update gates, the candidate h̃ and the hidden state (GRU), or the hidden state (char-RNN),
  with the cell's parameter count beside the other cell's; then the gradient dL/dh_t that backpropagation through time has carried
  back so far, its norm per time step (log scale: where it vanishes or explodes) and the loss
  of each character. Hovering a character shows its values.
- Generate: a prompt, temperature, top-k and length; Generate streams the text in, Stop cancels.
  Each character is coloured by one unit's activation when the model read it (Karpathy's
  "Unreasonable Effectiveness" view); hovering a character shows its gates.
Below the tabs, a sample written by the model every few seconds while it trains. On the right,
the loss per character (training and held-out, nats) and the gradient norm before clipping over
the iterations, with the clipping threshold.

Reads snapshot["block_data"] (phase data of the selected block), snapshot["view"] (see
engines/labs/text_common.py view_data), and task progress of "generate_stream".
"""
from __future__ import annotations

import html
import math

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

from .common import DIVERGING, SEQUENTIAL, explain_tabs, fit_title, fmt
from .curves import CurvesPanel
from .lab_view import LabView

GATE_ROWS = {  # name -> (title, short label, levels or None for symmetric)
    "i": ("input gate i", "i", (0.0, 1.0)),
    "f": ("forget gate f", "f", (0.0, 1.0)),
    "g": ("candidate c̃", "c̃", (-1.0, 1.0)),
    "o": ("output gate o", "o", (0.0, 1.0)),
    "c": ("cell state c", "c", None),
    "h": ("hidden state h", "h", (-1.0, 1.0)),
    "r": ("reset gate r", "r", (0.0, 1.0)),
    "z": ("update gate z", "z", (0.0, 1.0)),
    "n": ("candidate h̃", "h̃", (-1.0, 1.0)),
}
LSTM_ORDER = ("i", "f", "g", "o", "c", "h")
CELL_ROWS = {"lstm": LSTM_ORDER, "gru": ("r", "z", "n", "h"), "rnn": ("h",)}   # heatmap rows, top to bottom
CELL_COLOUR_BY = {"lstm": ("c", "h", "i", "f", "g", "o"), "gru": ("h", "z", "r", "n"), "rnn": ("h",)}
SIGMOID_GATES = ("i", "f", "o", "r", "z")
CELL_TITLES = {"lstm": "LSTM", "gru": "GRU", "rnn": "RNN"}
ROW_LEGENDS = {
    "lstm": "<b>i</b> input gate · <b>f</b> forget gate · <b>c̃</b> candidate · <b>o</b> output gate · "
            "<b>c</b> cell state · <b>h</b> hidden state",
    "gru": "<b>r</b> reset gate · <b>z</b> update gate (h = (1−z)·h̃ + z·h<sub>t−1</sub>) · <b>h̃</b> candidate · "
           "<b>h</b> hidden state",
    "rnn": "<b>h</b> hidden state",
}
TASK = "generate_stream"


def show_char(c: str) -> str:
    """A character as it can be read on an axis: newline ⏎, space ␣, tab ⇥."""
    return {"\n": "⏎", " ": "␣", "\t": "⇥", "\r": "␍"}.get(c, c)


def describe_char(c: str) -> str:
    return {"\n": "newline", " ": "space", "\t": "tab"}.get(c, repr(c))


class CharAxis(pg.AxisItem):
    """A bottom axis that labels time step t with the character read at t."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.chars = ""

    def set_chars(self, chars: str) -> None:
        if chars != self.chars:
            self.chars = chars
            self.picture = None
            self.update()

    def tickValues(self, minVal, maxVal, size):
        n = len(self.chars)
        if not n:
            return []
        step = max(1, math.ceil(n * 11 / max(size, 1)))   # ~11 px per label at least
        return [(float(step), [t + 0.5 for t in range(0, n, step)])]

    def tickStrings(self, values, scale, spacing):
        out = []
        for v in values:
            t = int(v)
            out.append(show_char(self.chars[t]) if 0 <= t < len(self.chars) else "")
        return out


class DecadeAxis(pg.AxisItem):
    """A left axis for log10 data: a label at each power of ten only."""

    def tickValues(self, minVal, maxVal, size):
        lo, hi = math.ceil(minVal - 1e-9), math.floor(maxVal + 1e-9)
        if hi - lo >= 1:
            step = max(1, math.ceil((hi - lo + 1) / max(2, size / 18)))
            return [(float(step), [float(v) for v in range(lo, hi + 1, step)])]
        # less than a decade in view: 1, 2 and 5 times powers of ten
        values = [math.log10(m) + e for e in range(math.floor(minVal) - 1, math.ceil(maxVal) + 1)
                  for m in (1, 2, 5) if minVal <= math.log10(m) + e <= maxVal]
        return [(1.0, values)]

    def tickStrings(self, values, scale, spacing):
        return [f"{10.0 ** v:.2g}" if -3 <= v <= 4 else f"1e{int(round(v))}" for v in values]


def robust_max(a: np.ndarray) -> float:
    """The 99th percentile of |a| (a few extreme entries would wash out the rest), never 0."""
    v = np.abs(np.asarray(a, dtype=np.float64))
    v = v[np.isfinite(v)]
    m = float(np.percentile(v, 99)) if v.size else 0.0
    return m if m > 0 else (float(v.max()) if v.size and v.max() > 0 else 1e-12)


def colormap_lut(diverging: bool) -> np.ndarray:
    return (DIVERGING if diverging else SEQUENTIAL).getLookupTable(0.0, 1.0, 256)


class SequencePanel(QtWidgets.QWidget):
    """Heatmaps over time × units for one layer, aligned under the characters; gradients through time."""

    hovered = QtCore.Signal(int)   # time step under the mouse (−1: none)

    def __init__(self, parent=None):
        super().__init__(parent)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        self.header = QtWidgets.QLabel()
        self.header.setTextFormat(QtCore.Qt.TextFormat.RichText)
        self.header.setWordWrap(True)
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
        cell = view.get("cell", fwd.get("cell", "lstm"))
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
        depth = view.get("depth", 1)
        for row in self.rows.values():
            row["axis"].set_chars(chars)
        cell_title = CELL_TITLES.get(cell, "RNN")
        title = f"{cell_title} layer {layer + 1} of {depth}"
        if layer >= depth:
            self.header.setText(f"<b>Output layer</b> — click a {cell_title} layer in the diagram to see its "
                                "activations over time.")
        elif not acts:
            self.header.setText(f"<b>{title}</b> — not computed yet in this iteration: step forward (→).")
        else:
            rows = ROW_LEGENDS.get(cell, ROW_LEGENDS["rnn"])
            batch = int(view.get("batch_size", 1))
            which = "of the training sequence" if batch == 1 else f"of the first of {batch} sequences in the batch"
            scale = ("Gates 0 → 1 dark → bright; others blue &lt; 0 &lt; red." if cell in ("lstm", "gru")
                     else "Blue &lt; 0 &lt; red.")
            self.header.setText(
                f"<b>{title}</b>: {view.get('hidden', '?')} units (rows) × {self.T} characters (columns) {which}. "
                f"{rows}; <b>dL/dh</b> the gradient carried back through time so far. {scale}"
                + parameter_caption(cell, layer, view.get("parameter_counts")))
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
        # where backpropagation through time has got to in this layer
        step = back.get("step") if snap.get("active_kind") == "backward" and snap.get("active_block") == layer else None
        for row in self.rows.values():
            row["cursor"].setVisible(step is not None)
            if step is not None:
                row["cursor"].setValue(step)
        for name, row in self.rows.items():
            row["plot"].setXRange(-0.02 * T, T, padding=0)
            if "image" in row and row["image"].image is not None:
                row["plot"].setYRange(0, row["image"].image.shape[0], padding=0)
        self._update_info()

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


class GeneratePanel(QtWidgets.QWidget):
    """Prompt, settings, streamed text coloured by one unit, the gates of the character under the mouse."""

    generate = QtCore.Signal(dict)
    stop = QtCore.Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        outer = QtWidgets.QVBoxLayout(self)
        outer.setContentsMargins(4, 4, 4, 4)
        form = QtWidgets.QHBoxLayout()
        form.addWidget(QtWidgets.QLabel("Prompt"))
        self.prompt = QtWidgets.QLineEdit("ROMEO:")
        self.prompt.setToolTip("The text the model reads before it writes; only characters of its training text")
        self.prompt.returnPressed.connect(self._clicked)
        form.addWidget(self.prompt, 1)
        outer.addLayout(form)
        form = QtWidgets.QHBoxLayout()
        form.addWidget(QtWidgets.QLabel("temperature"))
        self.temperature = QtWidgets.QDoubleSpinBox()
        self.temperature.setRange(0.0, 5.0)
        self.temperature.setSingleStep(0.1)
        self.temperature.setValue(0.8)
        self.temperature.setToolTip("Divides the logits: below 1 safer and repetitive, above 1 wilder; 0 = always the most likely")
        form.addWidget(self.temperature)
        form.addWidget(QtWidgets.QLabel("top-k"))
        self.top_k = QtWidgets.QSpinBox()
        self.top_k.setRange(0, 4096)
        self.top_k.setValue(0)
        self.top_k.setSpecialValueText("all")
        self.top_k.setToolTip("Sample only among the k most likely characters (all: no limit)")
        form.addWidget(self.top_k)
        form.addWidget(QtWidgets.QLabel("length"))
        self.length = QtWidgets.QSpinBox()
        self.length.setRange(1, 100_000)
        self.length.setValue(500)
        form.addWidget(self.length)
        form.addStretch(1)
        self.button = QtWidgets.QPushButton("Generate")
        self.button.setMinimumWidth(90)
        self.button.clicked.connect(self._clicked)
        form.addWidget(self.button)
        outer.addLayout(form)

        colour = QtWidgets.QHBoxLayout()
        colour.addWidget(QtWidgets.QLabel("Colour by"))
        self.signal = QtWidgets.QComboBox()
        colour.addWidget(self.signal)
        colour.addWidget(QtWidgets.QLabel("of layer"))
        self.layer = QtWidgets.QSpinBox()
        self.layer.setRange(1, 1)
        colour.addWidget(self.layer)
        colour.addWidget(QtWidgets.QLabel("unit"))
        self.unit = QtWidgets.QSpinBox()
        self.unit.setRange(0, 0)
        colour.addWidget(self.unit)
        self.auto_unit = QtWidgets.QPushButton("Most varied")
        self.auto_unit.setToolTip("Pick the unit whose value changes most over this text")
        self.auto_unit.clicked.connect(self.pick_varied_unit)
        colour.addWidget(self.auto_unit)
        colour.addStretch(1)
        self.legend = QtWidgets.QLabel()
        colour.addWidget(self.legend)
        outer.addLayout(colour)
        for w in (self.signal, self.layer, self.unit):
            (w.currentIndexChanged if isinstance(w, QtWidgets.QComboBox) else w.valueChanged).connect(self.recolour)

        split = QtWidgets.QSplitter(QtCore.Qt.Orientation.Vertical)
        self.text = QtWidgets.QTextEdit()
        self.text.setReadOnly(True)
        self.text.setFont(QtGui.QFontDatabase.systemFont(QtGui.QFontDatabase.SystemFont.FixedFont))
        self.text.setPlaceholderText("Type a prompt and press Generate: the text streams in here, each character "
                                     "coloured by the chosen unit's activation when the model read it.")
        self.text.setMouseTracking(True)
        self.text.viewport().setMouseTracking(True)
        self.text.viewport().installEventFilter(self)
        split.addWidget(self.text)
        lower = QtWidgets.QWidget()
        lv = QtWidgets.QVBoxLayout(lower)
        lv.setContentsMargins(0, 0, 0, 0)
        self.hover_label = QtWidgets.QLabel("Hover over a character to see its gates.")
        self.hover_label.setTextFormat(QtCore.Qt.TextFormat.RichText)
        lv.addWidget(self.hover_label)
        self.gates_plot = pg.PlotWidget()
        self.gates_plot.setMinimumHeight(150)
        self.gates_plot.setMouseEnabled(False, False)
        self.gates_plot.hideButtons()
        self.gates_plot.invertY(True)
        self.gates_plot.getAxis("bottom").setLabel("unit", size="8pt")
        self.gates_img = pg.ImageItem()
        self.gates_plot.addItem(self.gates_img)
        lv.addWidget(self.gates_plot, 1)
        split.addWidget(lower)
        split.setSizes([330, 200])
        outer.addWidget(split, 1)
        self.status = QtWidgets.QLabel()
        outer.addWidget(self.status)

        self.running = False
        self.vocab = ""
        self.names: tuple[str, ...] = ("h",)
        self.chars: list[str] = []
        self.acts: dict[str, list[np.ndarray]] = {}
        self.depth, self.hidden = 1, 1
        self.n_prompt = 0

    # ------------------------------------------------------------------ configuration
    def configure(self, cell: str, depth: int, hidden: int, vocab: str) -> None:
        self.vocab = vocab
        names = CELL_ROWS.get(cell, ("h",))
        if (names, depth, hidden) != (self.names, self.depth, self.hidden) or self.signal.count() == 0:
            self.names, self.depth, self.hidden = names, depth, hidden
            self.signal.blockSignals(True)
            self.signal.clear()
            for name in CELL_COLOUR_BY.get(cell, ("h",)):
                self.signal.addItem(GATE_ROWS[name][0], name)
            self.signal.blockSignals(False)
            self.layer.setRange(1, depth)
            self.layer.setValue(depth)
            self.unit.setRange(0, hidden - 1)
            self.gates_plot.getAxis("left").setTicks([[(k + 0.5, GATE_ROWS[n][1]) for k, n in enumerate(names)]])
            self.clear()

    def clear(self) -> None:
        self.chars, self.acts, self.n_prompt = [], {n: [] for n in self.names}, 0
        self.text.clear()
        self.gates_img.clear()

    # ------------------------------------------------------------------ generation
    def _clicked(self) -> None:
        if self.running:
            self.stop.emit()
            self.finished("Stopped.")
            return
        prompt = self.prompt.text().replace("\\n", "\n")
        missing = sorted({c for c in prompt if self.vocab and c not in self.vocab})
        if missing:
            self.status.setText("The prompt contains " + ", ".join(repr(c) for c in missing[:8])
                                + ", which the model never saw in its training text; remove or replace them.")
            return
        self.clear()
        self.running = True
        self.button.setText("Stop")
        self.status.setText("Generating…")
        self.generate.emit({"prompt": prompt, "length": self.length.value(), "temperature": self.temperature.value(),
                            "top_k": self.top_k.value(), "chunk": 4})

    def finished(self, message: str) -> None:
        self.running = False
        self.button.setText("Generate")
        self.status.setText(message)

    def on_progress(self, progress: dict) -> None:
        if progress.get("cancelled"):
            self.finished("Stopped.")
            return
        if progress.get("done"):
            n = len(self.chars) - self.n_prompt
            self.finished(f"Done: {n} characters after a prompt of {self.n_prompt}.")
            return
        if not self.running or "text" not in progress:
            return
        text = progress["text"]
        acts = progress.get("activations") or {}
        if progress.get("prompt"):
            self.n_prompt = len(text)
        start = len(self.chars)
        self.chars.extend(text)
        for n in self.names:
            a = acts.get(n)
            self.acts.setdefault(n, []).extend(list(a) if a is not None else [None] * len(text))
        self._append(start, text, prompt=bool(progress.get("prompt")))

    # ------------------------------------------------------------------ colouring
    def _value(self, k: int) -> float | None:
        name = self.signal.currentData() or "h"
        seq = self.acts.get(name) or []
        if k >= len(seq) or seq[k] is None:
            return None
        return float(seq[k][self.layer.value() - 1, min(self.unit.value(), self.hidden - 1)])

    def _levels(self) -> tuple[float, float]:
        name = self.signal.currentData() or "h"
        levels = GATE_ROWS[name][2]
        if levels is not None:
            return levels
        vals = [abs(v) for v in (self._value(k) for k in range(len(self.chars))) if v is not None]
        m = max(vals) if vals else 1.0
        return (-max(m, 1e-6), max(m, 1e-6))

    def _colour(self, value: float | None, levels) -> QtGui.QColor:
        if value is None:
            return QtGui.QColor("white")
        lo, hi = levels
        x = (value - lo) / (hi - lo) if hi > lo else 0.5
        x = min(max(x, 0.0), 1.0)
        cmap = DIVERGING if lo < 0 else SEQUENTIAL
        c = cmap.map(x, mode="qcolor")
        w = 0.45   # blend with white, so that dark text stays legible on every colour
        return QtGui.QColor.fromRgbF(w + (1 - w) * c.redF(), w + (1 - w) * c.greenF(), w + (1 - w) * c.blueF())

    def _append(self, start: int, text: str, prompt: bool) -> None:
        cursor = self.text.textCursor()
        cursor.movePosition(QtGui.QTextCursor.MoveOperation.End)
        levels = self._levels()
        for k, ch in enumerate(text):
            fmt_ = QtGui.QTextCharFormat()
            fmt_.setBackground(self._colour(self._value(start + k), levels))
            if prompt:
                fmt_.setFontWeight(QtGui.QFont.Weight.Bold)
            cursor.insertText(ch, fmt_)
        self.text.setTextCursor(cursor)
        self.text.ensureCursorVisible()
        self._update_legend(levels)

    def recolour(self) -> None:
        chars = self.chars
        self.text.clear()
        if not chars:
            self._update_legend(self._levels())
            return
        self._append(0, "".join(chars[:self.n_prompt]), True)
        self._append(self.n_prompt, "".join(chars[self.n_prompt:]), False)

    def _update_legend(self, levels) -> None:
        lo, hi = levels
        a, b = self._colour(lo, levels).name(), self._colour(hi, levels).name()
        self.legend.setText(f"<span style='background:{a}'>&nbsp;{lo:.2g}&nbsp;</span> … "
                            f"<span style='background:{b}'>&nbsp;{hi:.2g}&nbsp;</span>")

    def pick_varied_unit(self) -> None:
        name = self.signal.currentData() or "h"
        seq = [a for a in self.acts.get(name, []) if a is not None]
        if len(seq) < 2:
            return
        values = np.stack(seq)[:, self.layer.value() - 1, :]   # (n, H)
        self.unit.setValue(int(np.argmax(values.std(axis=0))))

    # ------------------------------------------------------------------ hover
    def eventFilter(self, obj, event) -> bool:
        if obj is self.text.viewport() and event.type() == QtCore.QEvent.Type.MouseMove:
            pos = event.position().toPoint() if hasattr(event, "position") else event.pos()
            self.show_char_at(self.text.cursorForPosition(pos).position())
        return super().eventFilter(obj, event)

    def show_char_at(self, position: int) -> None:
        k = position - 1 if position > 0 else 0
        if not (0 <= k < len(self.chars)):
            return
        layer = self.layer.value() - 1
        unit = self.unit.value()
        rgb = []
        parts = [f"<b>{html.escape(describe_char(self.chars[k]), quote=False)}</b> (character {k}"
                 + (", prompt)" if k < self.n_prompt else ")") + f", layer {layer + 1}, unit {unit}:"]
        for name in self.names:
            seq = self.acts.get(name) or []
            if k < len(seq) and seq[k] is not None:
                v = np.asarray(seq[k][layer], dtype=np.float64)
                parts.append(f"{name} {float(v[min(unit, len(v) - 1)]):+.2f}")
                # each row in its own colour scale: gates 0…1 sequential, the others −1…1 diverging
                if name in SIGMOID_GATES:
                    rgb.append(SEQUENTIAL.map(np.clip(v, 0.0, 1.0), mode="byte")[:, :3])
                else:
                    rgb.append(DIVERGING.map(np.clip((v + 1.0) / 2.0, 0.0, 1.0), mode="byte")[:, :3])
        self.hover_label.setText(" ".join(parts))
        if rgb:
            img = np.stack(rgb).astype(np.uint8)   # (rows, H, 3)
            self.gates_img.setImage(img, autoLevels=False, levels=(0, 255))
            self.gates_img.setRect(QtCore.QRectF(0, 0, img.shape[1], img.shape[0]))
            self.gates_plot.setTitle(f"{describe_char(self.chars[k])}: every unit of layer {layer + 1} "
                                     "(gates 0…1 dark → bright; candidate, c, h −1…1 blue → red)", size="8pt")


def parameter_caption(cell: str, layer: int, counts: dict | None) -> str:
    """This layer's parameter count beside what an LSTM / a GRU of the same size would have."""
    if not counts or cell not in ("lstm", "gru") or not 0 <= layer < len(counts.get("layers", [])):
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


def text_curve_panel(key: str) -> str | None:
    """Loss per character (training, held-out) on top; the gradient norm before clipping below."""
    if key in ("loss", "heldout_loss_per_char"):
        return "top"
    if key == "grad_norm":
        return "bottom"
    return None


class TextView(LabView):
    owns_curves = True

    def __init__(self, parent=None):
        super().__init__(parent)
        outer = QtWidgets.QHBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        hsplit = QtWidgets.QSplitter(QtCore.Qt.Orientation.Horizontal)
        outer.addWidget(hsplit)
        main = QtWidgets.QWidget()
        layout = QtWidgets.QVBoxLayout(main)
        layout.setContentsMargins(0, 0, 0, 0)
        hsplit.addWidget(main)
        self.curves = CurvesPanel(text_curve_panel, top_label="loss per character (nats)", bottom_label="‖g‖")
        self.curves.setMinimumWidth(280)
        fit_title(self.curves.top, "Loss per character")
        fit_title(self.curves.bottom, "‖gradient‖ before clipping")
        self.curves.glw.setToolTip("Top: the training loss per character, −(1/T) Σ_t log p(next char), in nats "
                                   "(log 65 ≈ 4.17 is guessing among 65 characters); held-out loss per character "
                                   "every few iterations. Bottom: the gradient's norm ‖g‖ before clipping. "
                                   "Hover a curve to read its values.")
        self.clip_line = pg.InfiniteLine(angle=0, pen=pg.mkPen("#E45756", width=1, style=QtCore.Qt.PenStyle.DashLine),
                                         label="clip", labelOpts={"position": 0.05, "color": "#E45756"})
        self.clip_line.setVisible(False)
        self.curves.bottom.addItem(self.clip_line, ignoreBounds=True)
        hsplit.addWidget(self.curves)
        hsplit.setSizes([840, 340])
        hsplit.setStretchFactor(0, 1)
        top = QtWidgets.QHBoxLayout()
        self.source = QtWidgets.QLabel()
        self.source.setTextFormat(QtCore.Qt.TextFormat.RichText)
        top.addWidget(self.source, 1)
        self.open_button = QtWidgets.QPushButton("Open text…")
        self.open_button.setToolTip("Train on another UTF-8 text file (a new run; the vocabulary is its characters)")
        self.open_button.clicked.connect(self.open_text)
        top.addWidget(self.open_button)
        self.shakespeare_button = QtWidgets.QPushButton("Shakespeare")
        self.shakespeare_button.setToolTip("Train on Tiny Shakespeare again (a new run)")
        self.shakespeare_button.clicked.connect(lambda: self.apply_settings.emit({"text": ""}))
        top.addWidget(self.shakespeare_button)
        layout.addLayout(top)
        split = QtWidgets.QSplitter(QtCore.Qt.Orientation.Vertical)
        self.tabs = QtWidgets.QTabWidget()
        self.sequence = SequencePanel()
        self.generator = GeneratePanel()
        self.tabs.addTab(self.sequence, "Inside the sequence")
        self.tabs.addTab(self.generator, "Generate")
        explain_tabs(self.tabs)
        self.tabs.currentChanged.connect(lambda _: self._render_pending())
        split.addWidget(self.tabs)
        live = QtWidgets.QWidget()
        lv = QtWidgets.QVBoxLayout(live)
        lv.setContentsMargins(2, 0, 2, 0)
        self.live_title = QtWidgets.QLabel("<b>Written by the model while it trains</b> (a new sample every few seconds)")
        self.live_title.setTextFormat(QtCore.Qt.TextFormat.RichText)
        lv.addWidget(self.live_title)
        self.live = QtWidgets.QPlainTextEdit()
        self.live.setReadOnly(True)
        self.live.setFont(QtGui.QFontDatabase.systemFont(QtGui.QFontDatabase.SystemFont.FixedFont))
        self.live.setPlaceholderText("Press play: samples appear here as the model learns.")
        lv.addWidget(self.live, 1)
        split.addWidget(live)
        split.setSizes([640, 150])
        layout.addWidget(split, 1)
        self.generator.generate.connect(lambda args: self.command.emit(TASK, args))
        self.generator.stop.connect(lambda: self.cancel_task.emit(TASK))
        self.pending: dict | None = None
        self._key = None
        self._sample_it = None
        self._requested = None

    def on_ready(self, info: dict) -> None:
        self._key = None
        self._sample_it = None
        self._requested = None
        self.curves.reset()
        self.live.clear()
        self.generator.clear()
        if self.generator.running:
            self.generator.finished("")

    def open_text(self) -> None:
        path, _ = QtWidgets.QFileDialog.getOpenFileName(self, "Train on a text file", "",
                                                        "Text files (*.txt);;All files (*)")
        if path:
            self.apply_settings.emit({"text": path})

    def set_snapshot(self, snap: dict) -> None:
        if snap.get("history_reset"):
            self.curves.reset()
        self.curves.add_points(snap.get("history", []))   # always: points arrive only once
        self.curves.set_cursor(int(snap.get("iteration", 0)))
        view = snap.get("view", {})
        clip = view.get("hyperparams", {}).get("clip")
        norm_clip = view.get("clip_mode") == "norm" and clip is not None
        self.clip_line.setVisible(norm_clip)      # elementwise clipping has no single norm threshold
        if norm_clip:
            self.clip_line.setValue(clip)
        if clip is not None:
            title = "‖gradient‖ before clipping" if norm_clip else f"‖gradient‖ (entries clipped to ±{clip:g})"
            if title != getattr(self, "_clip_title", None):
                self._clip_title = title
                fit_title(self.curves.bottom, title)
        if view:
            self.generator.configure(view.get("cell", "lstm"), int(view.get("depth", 1)), int(view.get("hidden", 1)),
                                     view.get("vocab", ""))
            src = html.escape(view.get("source", ""))
            self.source.setText(f"Text: <b>{src}</b>, {len(view.get('vocab', ''))} distinct characters · "
                                f"epoch {view.get('epoch', 0) + view.get('epoch_fraction', 0):.2f}")
            sample = view.get("sample")
            if sample and (self._sample_it is None or sample.get("iteration", 0) > self._sample_it):
                self.show_sample(sample)
            it = int(snap.get("iteration", 0))
            if (not snap.get("playing") and it > 0 and it != self._sample_it and it != self._requested):
                self._requested = it     # paused: ask for a sample of the model as it is now
                self.command.emit("sample", {"length": 240, "temperature": 0.8})
        self.pending = snap
        self._render_pending()

    def _render_pending(self) -> None:
        snap = self.pending
        if snap is None or not self.sequence.isVisible():
            return
        key = (snap.get("iteration"), snap.get("phase"), snap.get("selected_block"), snap.get("history_reset"))
        if key == self._key:
            return
        self._key = key
        self.sequence.render_snapshot(snap.get("block_data", {}), snap, snap.get("view", {}))

    def show_sample(self, sample: dict) -> None:
        self._sample_it = int(sample.get("iteration", 0))
        self.live.setPlainText(f"— after {self._sample_it:,} iterations (temperature 0.8) —\n{sample['text']}")

    def on_reply(self, name: str, reply: dict) -> None:
        if name == "sample" and "text" in reply:
            self.show_sample(reply)

    def on_task(self, name: str, progress: dict) -> None:
        if name == TASK:
            self.generator.on_progress(progress)


def _demo() -> None:  # pragma: no cover - run this file to see the view with fake data
    import sys
    from .common import configure_pyqtgraph
    app = QtWidgets.QApplication(sys.argv)
    configure_pyqtgraph()
    v = TextView()
    v.resize(1000, 800)
    v.set_snapshot(fake_snapshot())
    v.show()
    app.exec()


def fake_snapshot(cell: str = "lstm", T: int = 30, H: int = 24, depth: int = 2, phase_step: int | None = 10) -> dict:
    """A synthetic snapshot shaped like the engine's (used by the tests and the demo)."""
    rng = np.random.default_rng(0)
    chars = ("First Citizen:\nBefore we proceed any further" * 3)[:T]
    sig = lambda x: 1 / (1 + np.exp(-x))  # noqa: E731
    acts = {"h": np.tanh(rng.standard_normal((T, H))).astype(np.float32)}
    if cell == "lstm":
        acts.update({k: sig(rng.standard_normal((T, H))).astype(np.float32) for k in ("i", "f", "o")})
        acts["g"] = np.tanh(rng.standard_normal((T, H))).astype(np.float32)
        acts["c"] = (rng.standard_normal((T, H)) * 2).astype(np.float32)
    if cell == "gru":
        acts.update({k: sig(rng.standard_normal((T, H))).astype(np.float32) for k in ("r", "z")})
        acts["n"] = np.tanh(rng.standard_normal((T, H))).astype(np.float32)
    dh_norm = np.exp(-np.linspace(0, 4, T))[::-1].copy()
    dh = rng.standard_normal((T, H)).astype(np.float32) * dh_norm[:, None].astype(np.float32)
    if phase_step is not None:
        dh_norm[:phase_step] = np.nan
        dh[:phase_step] = 0
    back = {"dh": dh, "dh_norm": dh_norm, "step": phase_step or 0, "chars": chars}
    if cell == "lstm":
        back["dc_norm"] = dh_norm * 2
    return {
        "iteration": 12, "phase": 20, "selected_block": 0, "active_kind": "backward", "active_block": 0,
        "history_reset": False, "last_metrics": {"loss": 2.1, "clipped": 1.0, "grad_norm": 7.5},
        "history": [(k, {"loss": 4.0 - k / 10, "grad_norm": 3.0 + k % 4}) for k in range(1, 13)]
        + [(10, {"loss": 3.0, "grad_norm": 4.0, "heldout_loss_per_char": 3.2})],
        "block_data": {"forward": {"acts": acts, "chars": chars, "targets": chars[1:] + "e", "cell": cell},
                       "loss": {"nll": rng.uniform(0.1, 4.0, T), "loss": 2.0, "chars": chars},
                       "backward": back},
        "view": {"cell": cell, "depth": depth, "hidden": H, "vocab": "".join(sorted(set(chars + "ROMEO"))),
                 "source": "Tiny Shakespeare (1,115,394 characters)", "batch_size": 32, "epoch": 0,
                 "epoch_fraction": 0.25, "sample": {"text": "ROMEO:\nWhat say you?", "iteration": 12},
                 "hyperparams": {"lr": 0.002, "clip": 5.0}, "clip_mode": "norm"},
    }


if __name__ == "__main__":  # pragma: no cover
    _demo()
