"""The text labs' view (char-RNN, LSTM and GRU): inside the sequence, generation, live samples.
This class composes the panels, each in its own module, and routes their intents.

Tabs:
- Inside the sequence (sequence_panel.py): for the current training sequence (the first stream of the batch) and
  the selected layer, heatmaps over time × units, aligned under the characters: the input,
  forget, candidate and output gates, the cell state and the hidden state (LSTM), the reset and
  update gates, the candidate h̃ and the hidden state (GRU), or the hidden state (char-RNN),
  with the cell's parameter count beside the other cell's; then the gradient dL/dh_t that backpropagation through time has carried
  back so far, its norm per time step (log scale: where it vanishes or explodes) and the loss
  of each character. Hovering a character shows its values.
- Generate (generate_panel.py): a prompt, temperature, top-k and length; Generate streams the text in, Stop cancels.
  Each character is coloured by one unit's activation when the model read it (Karpathy's
  "Unreasonable Effectiveness" view); hovering a character shows its gates.
Below the tabs, a sample written by the model every few seconds while it trains (live_sample_panel.py). On the right,
the loss per character (training and held-out, nats) and the gradient norm before clipping over
the iterations, with the clipping threshold.

Reads snapshot["block_data"] (phase data of the selected block: TextPhaseData), snapshot["view"]
(TextLabView; both declared in engines/labs/text_common.py), and task progress of "generate_stream".
"""
from __future__ import annotations

import html

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtWidgets

from .common import explain_tabs, fit_title
from .curves import CurvesPanel
from .generate_panel import GeneratePanel
from .lab_view import LabView
from .live_sample_panel import LiveSamplePanel
from .sequence_panel import SequencePanel
from .fake_data import fake_text_snapshot as fake_snapshot, fake_stream  # noqa: F401 (kept importable here)

TASK = "generate_stream"


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
        self.live = LiveSamplePanel()
        split.addWidget(self.live)
        split.setSizes([640, 150])
        layout.addWidget(split, 1)
        self.generator.generate.connect(lambda args: self.command.emit(TASK, args))
        self.generator.stop.connect(lambda: self.cancel_task.emit(TASK))
        self.pending: dict | None = None
        self._key = None
        self._drawn_data = None
        self._requested = None

    def on_ready(self, info: dict) -> None:
        self._key = None
        self._drawn_data = None
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
        view = snap["view"]   # engines/labs/text_common.py TextLabView
        clip = view["hyperparams"].get("clip")
        norm_clip = view["clip_mode"] == "norm" and clip is not None
        self.clip_line.setVisible(norm_clip)      # elementwise clipping has no single norm threshold
        if norm_clip:
            self.clip_line.setValue(clip)
        if clip is not None:
            title = "‖gradient‖ before clipping" if norm_clip else f"‖gradient‖ (entries clipped to ±{clip:g})"
            if title != getattr(self, "_clip_title", None):
                self._clip_title = title
                fit_title(self.curves.bottom, title)
        self.generator.configure(view["cell"], int(view["depth"]), int(view["hidden"]), view["vocab"])
        src = html.escape(view["source"])
        self.source.setText(f"Text: <b>{src}</b>, {len(view['vocab'])} distinct characters · "
                            f"epoch {view['epoch'] + view['epoch_fraction']:.2f}")
        sample = view.get("sample")
        if sample and self.live.is_newer(sample):
            self.live.show_sample(sample)
        it = int(snap.get("iteration", 0))
        if (not snap.get("playing") and it > 0 and it != self.live.iteration and it != self._requested):
            self._requested = it     # paused: ask for a sample of the model as it is now
            self.command.emit("sample", {"length": 240, "temperature": 0.8})
        self.pending = snap
        self._render_pending()

    def _render_pending(self) -> None:
        snap = self.pending
        if snap is None or not self.sequence.isVisible():
            return
        # the heatmaps draw the block's arrays, which come about 4 times a second while playing (the frames
        # between carry the same object): drawn again when those or the selection change, not at every frame
        # of a new iteration or phase (6 images and two curves: ~6 ms of a char-RNN frame); a new phase of
        # the same arrays moves the line of backpropagation through time only
        data = snap.get("block_data") or {}
        key = (snap.get("selected_block"), snap.get("history_reset"), snap.get("view", {}).get("cell"))
        if key == self._key and data is self._drawn_data:
            self.sequence.show_step(data.get("backward", {}), snap)
            return
        self._key, self._drawn_data = key, data
        self.sequence.render_snapshot(data, snap, snap["view"])

    def on_reply(self, name: str, reply: dict) -> None:
        if name == "sample" and "text" in reply:
            self.live.show_sample(reply)

    def on_task(self, name: str, progress: dict) -> None:
        if name == TASK:
            self.generator.on_progress(progress)


if __name__ == "__main__":  # python -m widgets.text_view [--screenshot PATH]
    from .demo import run_lab_view_demo
    run_lab_view_demo(TextView, fake_snapshot())
