"""The layer inspector: what the selected block computed for the inspected example.

Forward: the input digit, the block's output (bars for a vector, tiled maps for images),
the distribution over the batch. Backward: the gradient that reached the block's output,
its distribution, and the parameter gradient. Update: how far the parameters moved.
Works with any engine: it reads only the plain arrays of a snapshot.
"""
from __future__ import annotations

import time

import numpy as np
from PySide6 import QtCore, QtWidgets

from .common import BarPanel, HistogramPanel, ImagePanel, SteadyLabel, fmt, tile, wrapped

SECOND_HALF_MS = 12   # while playing, the inspector's last row (weights, dL/dW, Δθ) draws this much after the rest


class VectorOrMaps(QtWidgets.QStackedWidget):
    """Shows {"vector": (D,)} as bars or {"maps": (C, H, W)} as one tiled image."""

    def __init__(self, title: str, diverging: bool, parent=None):
        super().__init__(parent)
        self.bars = BarPanel(title)
        self.maps = ImagePanel(title, diverging=diverging)
        self.addWidget(self.bars)
        self.addWidget(self.maps)
        self.diverging = diverging

    def show_data(self, data: dict | None, title: str, missing: str = "not computed yet") -> None:
        if not data:
            self.setCurrentWidget(self.bars)
            self.bars.set_vector(None, title, note=missing)
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
            self.bars.set_vector(v[:512], f"{title} ({len(v)})" + (", first 512" if v.size > 512 else ""))
            self.setCurrentWidget(self.bars)


class BatchPanel(QtWidgets.QWidget):
    """The diagram's two ends: "input" shows the batch (images, true labels), "loss" each
    example's loss ℓ_i = −log p_i(true) and the softmax of the inspected example."""

    def __init__(self, parent=None):
        super().__init__(parent)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        self.header = SteadyLabel(rich=True, wrap=True, lines=2)
        layout.addWidget(self.header)
        self.images = ImagePanel("the batch", min_height=200)
        self.images.setToolTip("The images of this iteration's batch, as the first layer receives them "
                               "(pixel values 0..1), left to right, top to bottom; the first is the inspected example.")
        self.losses = BarPanel("loss of each example")
        self.losses.setToolTip("ℓ_i = −log p_i(true label) for each example i of the batch; the training loss is "
                               "their mean L = (1/B) Σ ℓ_i. Green: the inspected (first) example.")
        self.probs = BarPanel("softmax of the first example")
        self.probs.setToolTip("p_k = e^{z_k} / Σ_j e^{z_j} over the 10 digits, from the last layer's outputs z; "
                              "green: the true label.")
        layout.addWidget(self.images, 3)
        layout.addWidget(self.losses, 2)
        layout.addWidget(self.probs, 2)
        self.end = "input"

    def set_end(self, end: str) -> None:
        self.end = end
        self.losses.setVisible(end == "loss")
        self.probs.setVisible(end == "loss")

    def set_batch(self, reply: dict) -> None:
        if reply.get("images") is None:
            self.header.setText("<b>Nothing computed at this point yet</b> (the run starts here, or it was "
                                "restored from a keyframe): press → to run the first forward phase.")
            self.images.clear_image("")
            self.losses.set_vector(None)
            self.probs.set_vector(None)
            return
        images, labels = np.asarray(reply["images"]), np.asarray(reply["labels"])
        shown = f"the first {len(images)} of " if len(images) < reply.get("batch_size", len(images)) else ""
        self.images.set_image(tile(images, columns=16), levels=(0.0, 1.0), gray=True,
                              caption="true labels: " + " ".join(str(int(y)) for y in labels[:48])
                              + (" …" if len(labels) > 48 else ""))
        self.images.set_title(f"input: {shown}{reply.get('batch_size', len(images))} images")
        if "losses" in reply:
            losses = np.asarray(reply["losses"])
            self.losses.set_vector(losses, f"loss of each example (mean {fmt(float(losses.mean()))})", highlight=0)
            probs = np.asarray(reply["probs"])[0]
            self.probs.set_vector(probs, f"softmax of the first example: predicted {int(probs.argmax())}",
                                  labels=[str(i) for i in range(len(probs))], highlight=int(labels[0]))
            self.header.setText(f"<b>Loss</b> · softmax cross-entropy of the {len(labels)} examples of this batch")
        else:
            self.losses.set_vector(None, "loss of each example", note="after the loss phase")
            self.probs.set_vector(None, "softmax of the first example", note="after the loss phase")
            self.header.setText("<b>Loss</b> · not computed yet in this iteration: it comes with the loss phase "
                                "(→ steps there); below, the batch it will be computed on")
        if self.end == "input":
            self.header.setText(f"<b>Input</b> · the batch of this iteration ({reply.get('batch_size', len(labels))} "
                                "images, drawn at random without replacement)")


class LayerInspector(QtWidgets.QStackedWidget):
    """Page 0: the selected block. Page 1: the input batch or the loss (``show_end``): while it
    is shown, ``wants_batch`` asks for the batch whenever the cursor moved (at most ~3 times a
    second while playing); the view sends ``command("batch")`` and hands the reply to
    ``batch.set_batch``."""

    wants_batch = QtCore.Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self._batch_key = None
        self._batch_asked = 0.0
        page = QtWidgets.QWidget()
        self.addWidget(page)
        self.batch = BatchPanel()
        self.addWidget(self.batch)
        grid = QtWidgets.QGridLayout(page)
        grid.setContentsMargins(4, 4, 4, 4)
        grid.setSpacing(6)
        self.header = SteadyLabel(rich=True, wrap=True, lines=2)
        grid.addWidget(self.header, 0, 0, 1, 3)
        self.input_image = ImagePanel("input digit")
        self.probs = BarPanel("prediction (softmax)")
        self.activation = VectorOrMaps("output, this example", diverging=False)
        self.act_hist = HistogramPanel("output over the batch", "#4C78A8")
        self.grad = VectorOrMaps("dL/d(output), this example", diverging=True)
        self.grad_hist = HistogramPanel("dL/d(output) over the batch", "#F58518")
        self.weights = ImagePanel("weights", diverging=True)
        self.weight_grad = ImagePanel("dL/dW", diverging=True)
        self.delta = ImagePanel("Δθ of the update", diverging=True)
        self.update_text = QtWidgets.QLabel()
        self.update_text.setTextFormat(QtCore.Qt.TextFormat.RichText)
        self.update_text.setAlignment(QtCore.Qt.AlignmentFlag.AlignTop | QtCore.Qt.AlignmentFlag.AlignLeft)
        self.update_text.setWordWrap(True)
        self.update_text.setMinimumWidth(180)
        update_box = QtWidgets.QWidget()
        update_layout = QtWidgets.QVBoxLayout(update_box)
        update_layout.setContentsMargins(0, 0, 0, 0)
        update_layout.addWidget(self.delta, 3)
        # in a scroll area: a word-wrapped label asks for height-for-width (again at every setText), and
        # the grid gave its row half the inspector
        text_area = QtWidgets.QScrollArea()
        text_area.setWidget(self.update_text)
        text_area.setWidgetResizable(True)
        text_area.setFrameShape(QtWidgets.QFrame.Shape.NoFrame)
        update_layout.addWidget(text_area, 2)
        self._tooltips()
        panels = [(self.input_image, 1, 0), (self.activation, 1, 1), (self.probs, 1, 2),
                  (self.act_hist, 2, 0), (self.grad, 2, 1), (self.grad_hist, 2, 2),
                  (self.weights, 3, 0), (self.weight_grad, 3, 1), (update_box, 3, 2)]
        for w, r, c in panels:
            grid.addWidget(w, r, c)
        for r in (1, 2, 3):
            grid.setRowStretch(r, 1)
        for c in range(3):
            grid.setColumnStretch(c, 1)
        self.pending: dict | None = None
        self._later: object | None = None   # the last row to draw, of the latest snapshot
        self._drawn: tuple | None = None   # (block_data, selected, just updated, empty) last drawn

    def _tooltips(self) -> None:
        tips = {
            self.input_image: "The inspected example: the first image of this iteration's batch, as the network sees it.",
            self.activation: "This block's output y for the inspected example (y = act(x·W + b) for a Dense layer; "
                             "maps for a convolution), computed in its forward phase.",
            self.probs: "The softmax p_k = e^{z_k} / Σ_j e^{z_j} of the last layer's outputs z for the inspected "
                        "example; green: the true label. Its loss is −log p_true.",
            self.act_hist: "How this block's outputs are distributed over the whole batch (all examples, all units).",
            self.grad: "dL/d(output): how much the loss would change per unit change of each output, for the "
                       "inspected example; backward passes it on as dL/dx = dL/dy · dy/dx (dL/dx = W·dL/dy for Dense).",
            self.grad_hist: "dL/d(output) over the whole batch: a narrow spike at 0 means almost no gradient arrives.",
            self.weights: "The block's weights W (blue negative, red positive). The first Dense layer's are drawn as "
                          "one 28×28 tile per unit: the pixel pattern that unit responds to.",
            self.weight_grad: "dL/dW = xᵀ·dL/dy summed over the batch: the direction the update moves W against.",
            self.delta: "Δθ = θ_after − θ_before, the step the optimizer applied to this block's main weights in the "
                        "update phase (SGD: Δθ = −η·dL/dW; momentum and Adam add their own terms).",
            self.update_text: "Sizes (L2 norms) of the gradient, the update and the weights of each parameter "
                              "(W, b). ‖Δθ‖/‖θ‖ near 1e-3 is a healthy rate; far above it the rate is too high.",
        }
        for widget, tip in tips.items():
            widget.setToolTip(wrapped(tip))

    def show_end(self, end: str) -> None:
        """Show the input batch or the loss page ("input" | "loss"), or the block page ("")."""
        if end:
            self.batch.set_end(end)
            self.setCurrentWidget(self.batch)
            self._batch_key = None
            self.wants_batch.emit()
        else:
            self.setCurrentIndex(0)

    def showing_end(self) -> bool:
        return self.currentWidget() is self.batch

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if self.pending is not None:
            snap, self.pending = self.pending, None
            self.set_snapshot(snap)

    def set_snapshot(self, snap: dict) -> None:
        if self.showing_end():
            key = (snap.get("iteration"), snap.get("phase"))
            now = time.monotonic()
            if key != self._batch_key and (not snap.get("playing") or now - self._batch_asked > 0.3):
                self._batch_key, self._batch_asked = key, now
                self.wants_batch.emit()
            return
        data = snap.get("block_data", {})
        blocks = snap.get("blocks", [])
        sel = snap.get("selected_block", 0)
        name = blocks[sel]["label"] if 0 <= sel < len(blocks) else "?"
        fwd, loss, bwd, upd = (data.get(k, {}) for k in ("forward", "loss", "backward", "update"))
        has_weights = bool(blocks[sel].get("n_params", 0)) if 0 <= sel < len(blocks) else False
        nothing_yet = "input_image" not in fwd and snap.get("phase", 0) == 0
        where = snap.get("label", "")
        self._set_header(f"<b>Inspecting:</b> {name} &nbsp;·&nbsp; <b>now:</b> {where} "
                            f"&nbsp;·&nbsp; <span style='color:#666'>example = first image of the batch"
                            + (f", true label {fwd['label']}" if "label" in fwd else "") + "</span>"
                            + "".join(f"<br><span style='color:#F58518'>{d['note']}</span>"
                                      for d in (bwd or upd or fwd,) if d.get("note")))   # e.g. an expert not chosen
        drawn = (data, sel, snap.get("active_kind") == "update", nothing_yet)
        if self._drawn is not None and data is self._drawn[0] and drawn[1:] == self._drawn[1:]:
            return  # the same arrays (not recomputed while playing): nothing to redraw
        self._drawn = drawn
        if "input_image" in fwd:
            self.input_image.set_image(fwd["input_image"], levels=(0.0, 1.0), gray=True,
                                       caption=f"true label: {fwd.get('label', '?')}")
        elif nothing_yet and snap.get("iteration", 0):
            self.input_image.clear_image("restored from a keyframe: press → to compute this iteration")
        else:
            self.input_image.clear_image("run a forward phase to see the input")
        self.activation.show_data(fwd.get("activation"), "output, this example", "after this block's forward phase")
        self.act_hist.set_histogram(fwd.get("activation_hist"), note="after this block's forward phase")
        if "probs" in loss:
            pred = int(np.argmax(loss["probs"]))
            self.probs.set_vector(loss["probs"], f"prediction {pred} (p {loss['probs'][pred]:.2f}) · green: true",
                                  labels=[str(i) for i in range(len(loss["probs"]))], highlight=loss.get("label"))
        else:
            self.probs.set_vector(None, "prediction", note="after the loss phase")
        self.grad.show_data(bwd.get("grad_output"), "dL/d(output), this example", "after this block's backward phase")
        self.grad_hist.set_histogram(bwd.get("grad_hist"), note="after this block's backward phase")
        just_updated = snap.get("active_kind") == "update"
        self._later = token = object()

        def last_row() -> None:
            if token is self._later:   # not overtaken by a newer snapshot's
                self._weights(fwd, bwd, has_weights)
                self._update(bwd, upd, has_weights, just_updated)
        if snap.get("playing"):
            # while playing, the weight images a moment later: two shorter paints, keys and timers in between
            QtCore.QTimer.singleShot(SECOND_HALF_MS, last_row)
        else:
            last_row()

    def _set_header(self, text: str) -> None:
        if text != self.header.text():
            self.header.setText(text)

    def _weights(self, fwd: dict, bwd: dict, has_weights: bool) -> None:
        if "weight_tiles" in fwd:
            w = fwd["weight_tiles"]
            self.weights.set_title(f"weights into {len(w)} units · blue −, red +")
            self.weights.set_image(tile(w, columns=8), caption="")
        elif "weight_matrix" in fwd:
            self.weights.set_title("weight matrix (inputs × units)")
            self.weights.set_image(fwd["weight_matrix"], caption=f"{fwd['weight_matrix'].shape[0]}×"
                                   f"{fwd['weight_matrix'].shape[1]} shown")
        elif "kernels" in fwd:
            k = np.asarray(fwd["kernels"])
            tiles = k.reshape(-1, *k.shape[-2:])
            self.weights.set_title("kernels")
            self.weights.set_image(tile(tiles), caption=kernel_caption(len(tiles), fwd.get("kernel_grid")
                                                                       or (k.shape[:2] if k.ndim == 4 else None)))
        else:
            self.weights.set_title("weights")
            self.weights.clear_image("shown after this block's forward phase" if has_weights
                                     else "this block has no weights")
        if "grad_weight_tiles" in bwd:
            self.weight_grad.set_title("dL/dW of the same units · blue −, red +")
            self.weight_grad.set_image(tile(bwd["grad_weight_tiles"], columns=8), caption="")
        elif "grad_weight_matrix" in bwd:
            self.weight_grad.set_title("dL/dW")
            self.weight_grad.set_image(bwd["grad_weight_matrix"], caption="")
        elif "grad_kernels" in bwd:   # a conv block: dL/dK tiled as the kernels are
            g = np.asarray(bwd["grad_kernels"])
            self.weight_grad.set_title("dL/d kernels (this batch) · blue −, red +")
            self.weight_grad.set_image(tile(g.reshape(-1, *g.shape[-2:])), caption="")
        else:
            self.weight_grad.set_title("dL/dW")
            self.weight_grad.clear_image("after this block's backward phase" if has_weights
                                         else "this block has no weights")

    def _update(self, bwd: dict, upd: dict, has_weights: bool, just_updated: bool) -> None:
        delta = next((upd[k] for k in ("update_weight_tiles", "update_weight_matrix", "update_kernels") if k in upd), None)
        if delta is not None:
            self.delta.set_title("Δθ just applied (update phase)" if just_updated else "Δθ of the last update")
            d = np.asarray(delta)
            if d.ndim == 4:
                d = d.reshape(-1, *d.shape[2:])  # kernels (C_out, C_in, kh, kw) -> (C_out·C_in, kh, kw)
            self.delta.set_image(d if d.ndim == 2 else tile(d, columns=8 if "update_weight_tiles" in upd else None),
                                 caption="")
        else:
            self.delta.set_title("Δθ of the update")
            self.delta.clear_image("after the update phase" if has_weights else "this block has no weights")
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
            lines.append("<span style='color:#666'>" + ("appears after the backward and update phases" if has_weights
                                                        else "no parameters: nothing to update") + "</span>")
        self.update_text.setText("<br>".join(lines))


def kernel_caption(shown: int, grid) -> str:
    """"128 kernels (16 filters × 8 input channels)", or "64 of 128 kernels (...)" when not all are shown."""
    if grid is None:
        return f"{shown} kernels"
    filters, channels = int(grid[0]), int(grid[1])
    total = filters * channels
    count = f"{shown} of {total:,}" if shown < total else f"{total:,}"
    return f"{count} kernels ({filters} filters × {channels} input channel{'s' if channels != 1 else ''})"


class InspectsEnds:
    """For a lab view with ``self.inspector`` (a LayerInspector) on one of ``self.tabs``: the
    diagram's "input" and "loss" boxes open the inspector's batch page; the batch arrives as the
    reply to ``command("batch")`` (connect ``inspector.wants_batch`` to it)."""

    inspects_ends = True

    def show_end(self, end: str) -> None:
        self.inspector.show_end(end)
        if end:
            self.tabs.setCurrentWidget(self.inspector)

    def batch_reply(self, name: str, reply: dict) -> bool:
        """Hands a "batch" reply to the inspector; False for any other reply."""
        if name != "batch":
            return False
        self.inspector.batch.set_batch(reply)
        return True


if __name__ == "__main__":  # python -m widgets.layer_inspector [--screenshot PATH]
    from .demo import run_demo

    def build() -> LayerInspector:
        from .fake_data import fake_snapshot   # the MLP lab's made-up snapshot: the inspector's usual data
        inspector = LayerInspector()
        inspector.show()
        inspector.set_snapshot(fake_snapshot(selected=2))
        return inspector

    run_demo(build)
