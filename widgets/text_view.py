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
        self._requested = None

    def on_ready(self, info: dict) -> None:
        self._key = None
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
        key = (snap.get("iteration"), snap.get("phase"), snap.get("selected_block"), snap.get("history_reset"))
        if key == self._key:
            return
        self._key = key
        self.sequence.render_snapshot(snap.get("block_data", {}), snap, snap["view"])

    def on_reply(self, name: str, reply: dict) -> None:
        if name == "sample" and "text" in reply:
            self.live.show_sample(reply)

    def on_task(self, name: str, progress: dict) -> None:
        if name == TASK:
            self.generator.on_progress(progress)


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
    vocab = "".join(sorted(set(chars + "ROMEO")))
    base = {"chars": chars, "targets": chars[1:] + "e", "cell": cell, "layer": 0, "depth": depth}
    back = dict(base, dh=dh, dh_norm=dh_norm, step=phase_step or 0)
    if cell == "lstm":
        back["dc"] = dh * 2
        back["dc_norm"] = dh_norm * 2
    # parameters per layer of N units reading d inputs: RNN N·d + N² + N, GRU 3(…) + N, LSTM 4(…)
    simple = [H * (len(vocab) if l == 0 else H) + H * H + H for l in range(depth)]
    counts = {"rnn": simple, "gru": [3 * n + H for n in simple], "lstm": [4 * n for n in simple]}
    return {
        "iteration": 12, "phase": 20, "selected_block": 0, "active_kind": "backward", "active_block": 0,
        "history_reset": False, "last_metrics": {"loss": 2.1, "clipped": 1.0, "grad_norm": 7.5},
        "history": [(k, {"loss": 4.0 - k / 10, "grad_norm": 3.0 + k % 4}) for k in range(1, 13)]
        + [(10, {"loss": 3.0, "grad_norm": 4.0, "heldout_loss_per_char": 3.2})],
        "block_data": {"forward": dict(base, acts=acts),
                       "loss": dict(base, nll=rng.uniform(0.1, 4.0, T), loss=2.0),
                       "backward": back},
        "view": {"cell": cell, "depth": depth, "hidden": H, "vocab": vocab,
                 "source": "Tiny Shakespeare (1,115,394 characters)", "seq_len": T, "batch_size": 32, "epoch": 0,
                 "epoch_fraction": 0.25, "sample": {"text": "ROMEO:\nWhat say you?", "iteration": 12},
                 "hyperparams": {"lr": 0.002, "clip": 5.0}, "clip_mode": "norm",
                 "parameter_counts": {"layers": counts[cell], "total": sum(counts[cell]) + len(vocab) * (H + 1),
                                      "rnn_layers": simple, "gru_layers": counts["gru"],
                                      "lstm_layers": counts["lstm"]}},
    }

def fake_stream(cell: str = "lstm", depth: int = 2, H: int = 24, prompt: str = "ROMEO:",
                text: str = "\nWhat say you to this?") -> list[dict]:
    """Task progress of "generate_stream" as the engine sends it: the prompt, then chunks of text,
    each character with every layer's gates (depth, H) when the model read it; then done."""
    rng = np.random.default_rng(1)
    names = {"lstm": ("i", "f", "g", "o", "c", "h"), "gru": ("r", "z", "n", "h"), "rnn": ("h",)}[cell]

    def acts(n):
        out = {}
        for name in names:
            a = rng.standard_normal((n, depth, H))
            out[name] = (1 / (1 + np.exp(-a)) if name in "ifozr" else np.tanh(a)).astype(np.float32)
        return out
    chunks = [{"text": prompt, "activations": acts(len(prompt)), "prompt": True, "start": 0}]
    for k in range(0, len(text), 4):
        piece = text[k:k + 4]
        chunks.append({"text": piece, "activations": acts(len(piece)), "prompt": False, "start": len(prompt) + k})
    return chunks + [{"done": True, "length": len(text)}]


if __name__ == "__main__":  # python -m widgets.text_view [--screenshot PATH]
    from .demo import run_lab_view_demo
    run_lab_view_demo(TextView, fake_snapshot())
