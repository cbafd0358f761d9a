"""The text view's "Generate" panel: a prompt, temperature, top-k and length; Generate streams the
text in (task "generate_stream"), Stop cancels. Each character is coloured by one unit's activation
when the model read it (Karpathy's "Unreasonable Effectiveness" view); hovering a character shows
every unit's gates at that character.
"""
from __future__ import annotations

import html

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

from .common import DIVERGING, SEQUENTIAL
from .text_cells import CELL_COLOUR_BY, CELL_ROWS, GATE_ROWS, SIGMOID_GATES, describe_char


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


if __name__ == "__main__":  # python -m widgets.generate_panel [--screenshot PATH]
    from .demo import run_demo

    def build() -> GeneratePanel:
        from .fake_data import fake_stream, fake_text_snapshot as fake_snapshot   # the text labs' made-up data
        view = fake_snapshot("lstm")["view"]
        panel = GeneratePanel()
        panel.configure(view["cell"], view["depth"], view["hidden"], view["vocab"] + "\nWhatsyoutih?")
        panel.running = True                      # as after Generate: the chunks stream in
        for progress in fake_stream("lstm", view["depth"], view["hidden"]):
            panel.on_progress(progress)
        panel.show_char_at(9)
        return panel

    run_demo(build, (820, 620))
