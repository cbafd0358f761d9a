"""The layer inspector: what the selected block computed for the inspected example.

Forward: the input digit, the block's output (bars for a vector, tiled maps for images),
the distribution over the batch. Backward: the gradient that reached the block's output,
its distribution, and the parameter gradient. Update: how far the parameters moved.
Works with any engine: it reads only the plain arrays of a snapshot.
"""
from __future__ import annotations

import numpy as np
from PySide6 import QtCore, QtWidgets

from .common import BarPanel, HistogramPanel, ImagePanel, fmt, tile


class VectorOrMaps(QtWidgets.QStackedWidget):
    """Shows {"vector": (D,)} as bars or {"maps": (C, H, W)} as one tiled image."""

    def __init__(self, title: str, diverging: bool, parent=None):
        super().__init__(parent)
        self.bars = BarPanel(title)
        self.maps = ImagePanel(title, diverging=diverging)
        self.addWidget(self.bars)
        self.addWidget(self.maps)
        self.diverging = diverging

    def show_data(self, data: dict | None, title: str) -> None:
        if not data:
            self.setCurrentWidget(self.bars)
            self.bars.set_vector(None, title + " — not computed yet")
            return
        if "maps" in data:
            maps = np.asarray(data["maps"])
            self.maps.set_title(title)
            levels = None
            self.maps.set_image(tile(maps), levels=levels,
                                caption=f"{maps.shape[0]} maps of {maps.shape[1]}×{maps.shape[2]}")
            self.setCurrentWidget(self.maps)
        else:
            v = np.asarray(data["vector"])
            if v.size == 784:  # a whole image (the input, or dropout's output): show it as one
                self.maps.set_title(f"{title} (784 values as 28×28)")
                self.maps.set_image(v.reshape(28, 28), caption="", diverging=self.diverging)
                self.setCurrentWidget(self.maps)
                return
            self.bars.set_vector(v[:512], f"{title} ({len(v)} units)" + (", first 512" if v.size > 512 else ""))
            self.setCurrentWidget(self.bars)


class LayerInspector(QtWidgets.QWidget):
    def __init__(self, parent=None):
        super().__init__(parent)
        grid = QtWidgets.QGridLayout(self)
        grid.setContentsMargins(4, 4, 4, 4)
        grid.setSpacing(6)
        self.header = QtWidgets.QLabel()
        self.header.setWordWrap(True)
        self.header.setTextFormat(QtCore.Qt.TextFormat.RichText)
        grid.addWidget(self.header, 0, 0, 1, 3)
        self.input_image = ImagePanel("input digit")
        self.probs = BarPanel("prediction (softmax)")
        self.activation = VectorOrMaps("output for this example", diverging=False)
        self.act_hist = HistogramPanel("output over the batch", "#4C78A8")
        self.grad = VectorOrMaps("dL/d(output) for this example", diverging=True)
        self.grad_hist = HistogramPanel("dL/d(output) over the batch", "#F58518")
        self.weights = ImagePanel("weights", diverging=True)
        self.weight_grad = ImagePanel("dL/dW", diverging=True)
        self.update_text = QtWidgets.QLabel()
        self.update_text.setTextFormat(QtCore.Qt.TextFormat.RichText)
        self.update_text.setAlignment(QtCore.Qt.AlignmentFlag.AlignTop | QtCore.Qt.AlignmentFlag.AlignLeft)
        self.update_text.setWordWrap(True)
        self.update_text.setMinimumWidth(180)
        panels = [(self.input_image, 1, 0), (self.activation, 1, 1), (self.probs, 1, 2),
                  (self.act_hist, 2, 0), (self.grad, 2, 1), (self.grad_hist, 2, 2),
                  (self.weights, 3, 0), (self.weight_grad, 3, 1), (self.update_text, 3, 2)]
        for w, r, c in panels:
            grid.addWidget(w, r, c)
        for r in (1, 2, 3):
            grid.setRowStretch(r, 1)
        for c in range(3):
            grid.setColumnStretch(c, 1)
        self.pending: dict | None = None

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if self.pending is not None:
            snap, self.pending = self.pending, None
            self.set_snapshot(snap)

    def set_snapshot(self, snap: dict) -> None:
        data = snap.get("block_data", {})
        blocks = snap.get("blocks", [])
        sel = snap.get("selected_block", 0)
        name = blocks[sel]["label"] if 0 <= sel < len(blocks) else "?"
        fwd, loss, bwd, upd = (data.get(k, {}) for k in ("forward", "loss", "backward", "update"))
        where = snap.get("label", "")
        self._set_header(f"<b>Inspecting:</b> {name} &nbsp;·&nbsp; <b>now:</b> {where} "
                            f"&nbsp;·&nbsp; <span style='color:#666'>example = first image of the batch"
                            + (f", true label {fwd['label']}" if "label" in fwd else "") + "</span>"
                            + "".join(f"<br><span style='color:#F58518'>{d['note']}</span>"
                                      for d in (bwd or upd or fwd,) if d.get("note")))   # e.g. an expert not chosen
        if "input_image" in fwd:
            self.input_image.set_image(fwd["input_image"], levels=(0.0, 1.0), gray=True,
                                       caption=f"true label: {fwd.get('label', '?')}")
        else:
            self.input_image.clear_image("run a forward phase to see the input")
        self.activation.show_data(fwd.get("activation"), "output for this example")
        self.act_hist.set_histogram(fwd.get("activation_hist"))
        if "probs" in loss:
            pred = int(np.argmax(loss["probs"]))
            self.probs.set_vector(loss["probs"], f"prediction: {pred} (p = {loss['probs'][pred]:.2f}), "
                                  f"loss {fmt(loss.get('loss'))}", labels=[str(i) for i in range(len(loss['probs']))],
                                  highlight=loss.get("label"))
        else:
            self.probs.set_vector(None, "prediction — after the loss phase")
        self.grad.show_data(bwd.get("grad_output"), "dL/d(output) for this example")
        self.grad_hist.set_histogram(bwd.get("grad_hist"))
        self._weights(fwd, bwd)
        self._update(bwd, upd)

    def _set_header(self, text: str) -> None:
        if text != self.header.text():
            self.header.setText(text)

    def _weights(self, fwd: dict, bwd: dict) -> None:
        if "weight_tiles" in fwd:
            w = fwd["weight_tiles"]
            self.weights.set_title(f"weights into {len(w)} units · blue −, red +")
            self.weights.set_image(tile(w, columns=8), caption="")
        elif "weight_matrix" in fwd:
            self.weights.set_title("weight matrix (inputs × units)")
            self.weights.set_image(fwd["weight_matrix"], caption=f"{fwd['weight_matrix'].shape[0]}×"
                                   f"{fwd['weight_matrix'].shape[1]} shown")
        elif "kernels" in fwd:
            k = fwd["kernels"]
            self.weights.set_title("kernels")
            self.weights.set_image(tile(k), caption=f"{len(k)} kernels")
        else:
            self.weights.set_title("weights")
            self.weights.clear_image("this block has no weights")
        if "grad_weight_tiles" in bwd:
            self.weight_grad.set_title("dL/dW of the same units · blue −, red +")
            self.weight_grad.set_image(tile(bwd["grad_weight_tiles"], columns=8), caption="")
        elif "grad_weight_matrix" in bwd:
            self.weight_grad.set_title("dL/dW")
            self.weight_grad.set_image(bwd["grad_weight_matrix"], caption="")
        else:
            self.weight_grad.set_title("dL/dW")
            has_weights = any(k in fwd for k in ("weight_tiles", "weight_matrix", "kernels"))
            self.weight_grad.clear_image("after this block's backward phase" if has_weights
                                         else "this block has no weights")

    def _update(self, bwd: dict, upd: dict) -> None:
        lines = ["<b>Gradient and update</b>"]
        def named(values):
            names = ["W", "b"] if len(values) == 2 else [f"θ{i}" for i in range(len(values))]
            return ", ".join(f"{n} {fmt(v)}" for n, v in zip(names, values))

        if "param_grad_norms" in bwd:
            lines.append("‖dL/dθ‖: " + named(bwd["param_grad_norms"]))
        if "update_norms" in upd:
            lines.append("‖Δθ‖: " + named(upd["update_norms"]))
            lines.append("‖θ‖: " + named(upd["param_norms"]))
            ratios = [u / p if p else 0 for u, p in zip(upd["update_norms"], upd["param_norms"])]
            lines.append("‖Δθ‖/‖θ‖: " + named(ratios))
            lines.append("<span style='color:#666'>a healthy ratio is about 1e-3</span>")
        if len(lines) == 1:
            lines.append("<span style='color:#666'>appears after the backward and update phases</span>")
        self.update_text.setText("<br>".join(lines))
