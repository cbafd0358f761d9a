"""The CNN lab's view: feature maps, kernels and gradient maps of the selected layer for one
inspected example; held-out thumbnails and a drawing canvas to choose that example; the NumPy
vs Torch gradient parity and both engines' speed; the inputs (pixel statistics and histograms
before and after standardization, the augmented versions of the inspected example); the layer
inspector and the report. Frozen blocks (transfer learning) say so where their dL/dW would be,
and blocks the gradient never reaches say that instead of showing a map.

Everything is rendered from snapshots (plain arrays): the maps of every channel are tiled into
one ImageItem with explicit levels, a sequential colour map for activations (0 … max) and a
diverging one with symmetric levels (−m … m) for gradients and kernels.
"""
from __future__ import annotations

import time

import numpy as np
from PySide6 import QtCore, QtGui, QtWidgets

from .common import (PHASE_COLORS, BarPanel, HistogramPanel, ImagePanel, SteadyLabel, explain_tabs, fmt, section_label,
                     tile)
from .drawing_canvas import DrawingCanvas
from .lab_view import LabView
from .landscape_view import LandscapeView
from .layer_inspector import InspectsEnds, LayerInspector
from .report_panel import ReportPanel

STRIP_PAGE = 16
DIGITS = [str(i) for i in range(10)]


def kernel_grid(kernels: np.ndarray) -> np.ndarray:
    """(C_out, C_in, kh, kw) -> one image: a column per output channel, a row per input channel
    (wide, as the panels are); a single input channel: the C_out kernels side by side, 8 to a row."""
    k = np.asarray(kernels, dtype=np.float32)
    if k.ndim == 3:
        k = k[:, None]
    c_out, c_in = k.shape[:2]
    if c_in == 1:
        return tile(k[:, 0], columns=min(8, c_out))
    by_input = k.transpose(1, 0, 2, 3).reshape(c_in * c_out, *k.shape[2:])   # (C_in·C_out, kh, kw), row = input
    return tile(by_input, columns=c_out)


def map_levels(maps: np.ndarray) -> tuple[tuple[float, float], bool]:
    """Explicit levels for activation maps: (0, max) when none is negative (after ReLU / pooling),
    else symmetric (−m, m) on a diverging map. Returns (levels, diverging)."""
    a = np.asarray(maps, dtype=np.float64)
    lo, hi = float(np.nanmin(a)), float(np.nanmax(a))
    if lo >= 0:
        return (0.0, hi if hi > 0 else 1.0), False
    m = max(abs(lo), abs(hi)) or 1.0
    return (-m, m), True


def symmetric(a: np.ndarray) -> tuple[float, float]:
    m = float(np.nanmax(np.abs(a))) if np.size(a) else 0.0
    m = m if np.isfinite(m) and m > 0 else 1e-12
    return -m, m


def gray_icon(image: np.ndarray, size: int = 56) -> QtGui.QIcon:
    g = np.ascontiguousarray((np.clip(np.asarray(image, dtype=np.float32), 0.0, 1.0) * 255).astype(np.uint8))
    qimg = QtGui.QImage(g.data, g.shape[1], g.shape[0], g.shape[1], QtGui.QImage.Format.Format_Grayscale8).copy()
    return QtGui.QIcon(QtGui.QPixmap.fromImage(qimg).scaled(size, size))


def thumbnail_list(icon: int, grid: tuple[int, int], wrapping: bool) -> QtWidgets.QListWidget:
    """A left-to-right list of image thumbnails with captions (held-out examples, augmentations)."""
    w = QtWidgets.QListWidget()
    w.setViewMode(QtWidgets.QListView.ViewMode.IconMode)
    w.setFlow(QtWidgets.QListView.Flow.LeftToRight)
    w.setWrapping(wrapping)
    w.setIconSize(QtCore.QSize(icon, icon))
    w.setGridSize(QtCore.QSize(*grid))
    w.setMovement(QtWidgets.QListView.Movement.Static)
    return w


class MapsOrBars(QtWidgets.QStackedWidget):
    """{"maps": (C, H, W)} tiled in one image, or {"vector": (D,)} as bars."""

    def __init__(self, title: str, diverging: bool, parent=None):
        super().__init__(parent)
        self.image = ImagePanel(title, diverging=diverging, min_height=160)
        self.bars = BarPanel(title)
        self.addWidget(self.image)
        self.addWidget(self.bars)
        self.diverging = diverging
        self.levels: tuple[float, float] | None = None   # what the image shows, for tests and captions

    def show(self, data: dict | None, title: str, empty: str = "", note: str = "") -> None:
        if not data:
            self.setCurrentWidget(self.image)
            self.image.set_title(title)
            self.image.clear_image(empty)
            self.levels = None
            return
        if "maps" in data:
            maps = np.asarray(data["maps"], dtype=np.float32)
            if self.diverging:
                levels, div = symmetric(maps), True
            else:
                levels, div = map_levels(maps)
            cols = int(np.ceil(np.sqrt(len(maps) * 2))) if len(maps) > 2 else len(maps)  # wider than tall
            self.image.set_title(title)
            self.image.set_image(tile(maps, columns=cols), levels=levels, diverging=div,
                                 caption=f"{len(maps)} maps of {maps.shape[1]}×{maps.shape[2]} · levels "
                                         f"{fmt(levels[0])} … {fmt(levels[1])}" + (" (blue −, red +)" if div and not note else "")
                                         + (f" · {note}" if note else ""))
            self.levels = levels
            self.setCurrentWidget(self.image)
        else:
            v = np.asarray(data["vector"], dtype=np.float64)
            self.bars.set_vector(v, f"{title} ({len(v)} values)", labels=DIGITS if len(v) == 10 else None)
            self.levels = None
            self.setCurrentWidget(self.bars)


class ExampleStrip(QtWidgets.QWidget):
    """Held-out thumbnails with the prediction and the true label; click one to inspect it."""

    picked = QtCore.Signal(int)
    page_changed = QtCore.Signal(int)

    def __init__(self, parent=None):
        super().__init__(parent)
        row = QtWidgets.QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        self.prev = QtWidgets.QToolButton(text="◀")
        self.next = QtWidgets.QToolButton(text="▶")
        self.prev.setToolTip("previous held-out examples")
        self.next.setToolTip("next held-out examples")
        self.list = thumbnail_list(48, (62, 74), wrapping=False)
        self.list.setFixedHeight(96)
        self.list.setToolTip("held-out examples: prediction → true label; click one to inspect it")
        self.list.itemClicked.connect(lambda item: self.picked.emit(int(item.data(QtCore.Qt.ItemDataRole.UserRole))))
        row.addWidget(self.prev)
        row.addWidget(self.list, 1)
        row.addWidget(self.next)
        self.page = 0
        self.prev.clicked.connect(lambda: self._turn(-1))
        self.next.clicked.connect(lambda: self._turn(+1))
        self.indices: np.ndarray = np.zeros(0, dtype=int)

    def _turn(self, step: int) -> None:
        self.page = max(0, self.page + step)
        self.page_changed.emit(self.page)

    def page_indices(self, n_heldout: int = 2000) -> list[int]:
        start = (self.page * STRIP_PAGE) % max(n_heldout, STRIP_PAGE)
        return list(range(start, min(start + STRIP_PAGE, n_heldout)))

    def set_examples(self, reply: dict) -> None:
        images, labels = np.asarray(reply["images"]), np.asarray(reply["labels"])
        preds, idx = np.asarray(reply["predictions"]), np.asarray(reply["indices"])
        same = len(idx) == self.list.count() and np.array_equal(idx, self.indices)
        if not same:
            self.list.clear()
        self.indices = idx
        for k, (img, y, p, i) in enumerate(zip(images, labels, preds, idx)):
            text = f"{p} → {y}" if p == y else f"✗ {p} → {y}"
            if same:
                item = self.list.item(k)
                item.setText(text)
            else:
                item = QtWidgets.QListWidgetItem(gray_icon(img), text)
                item.setData(QtCore.Qt.ItemDataRole.UserRole, int(i))
                self.list.addItem(item)
            item.setForeground(QtGui.QColor("#333" if p == y else "#C62828"))
            item.setToolTip(f"held-out #{int(i)}: predicted {p}, true label {y}")


class FeatureMapsTab(QtWidgets.QWidget):
    """The main tab: example on the left, the selected layer's maps and kernels, the gradient maps."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self._drawn = None     # (block arrays, inspected example, what else the panels show) drawn last
        self._kernels = None   # the kernels drawn last
        grid = QtWidgets.QGridLayout(self)
        grid.setContentsMargins(4, 4, 4, 4)
        grid.setSpacing(6)
        top = QtWidgets.QHBoxLayout()
        top.addWidget(QtWidgets.QLabel("Layer:"))
        self.layer_combo = QtWidgets.QComboBox()
        self.layer_combo.setToolTip("the layer whose maps are shown (or click a block in the network diagram)")
        self.layer_combo.setMinimumContentsLength(28)
        self.layer_combo.setSizeAdjustPolicy(QtWidgets.QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        top.addWidget(self.layer_combo)
        self.header = SteadyLabel(rich=True, wrap=True)
        top.addWidget(self.header, 1)
        grid.addLayout(top, 0, 0, 1, 3)

        # left column: the inspected example
        left = QtWidgets.QVBoxLayout()
        left.addWidget(section_label("Inspected example"))
        self.use_batch = QtWidgets.QRadioButton("first image of the current batch")
        self.use_chosen = QtWidgets.QRadioButton("chosen below (thumbnail or drawing)")
        self.use_batch.setChecked(True)
        left.addWidget(self.use_batch)
        left.addWidget(self.use_chosen)
        self.input_image = ImagePanel("input", min_height=130)
        left.addWidget(self.input_image, 2)
        self.probs = BarPanel("prediction")
        left.addWidget(self.probs, 2)
        left.addWidget(section_label("Draw a digit"))
        self.canvas = DrawingCanvas()
        left.addWidget(self.canvas, 3)
        self.clear_button = QtWidgets.QPushButton("Clear drawing")
        left.addWidget(self.clear_button)
        left_w = QtWidgets.QWidget()
        left_w.setLayout(left)
        left_w.setMaximumWidth(260)
        grid.addWidget(left_w, 1, 0, 2, 1)

        self.maps = MapsOrBars("feature maps", diverging=False)
        self.grads = MapsOrBars("gradient maps", diverging=True)
        small = QtWidgets.QHBoxLayout()
        self.kernels = ImagePanel("kernels", diverging=True, min_height=120)
        self.kernel_grads = ImagePanel("dL/d kernels", diverging=True, min_height=120)
        self.input_grad = ImagePanel("dL/d input image", diverging=True, min_height=120)
        for w in (self.kernels, self.kernel_grads, self.input_grad):
            small.addWidget(w, 1)
        centre = QtWidgets.QVBoxLayout()
        centre.addWidget(self.maps, 3)
        centre.addWidget(self.grads, 3)
        centre.addLayout(small, 2)
        grid.addLayout(centre, 1, 1, 2, 2)
        grid.addWidget(section_label("Held-out examples (prediction → true label) — click one to inspect it"),
                       3, 0, 1, 3)
        self.strip = ExampleStrip()
        grid.addWidget(self.strip, 4, 0, 1, 3)
        grid.setRowStretch(1, 1)
        grid.setRowStretch(2, 1)
        grid.setColumnStretch(1, 1)

    def set_layers(self, blocks: list[dict], selected: int) -> None:
        labels = [f"{i}: {b['label']}" for i, b in enumerate(blocks)]
        if labels != [self.layer_combo.itemText(i) for i in range(self.layer_combo.count())]:
            self.layer_combo.blockSignals(True)
            self.layer_combo.clear()
            self.layer_combo.addItems(labels)
            self.layer_combo.blockSignals(False)
        if self.layer_combo.currentIndex() != selected and 0 <= selected < len(labels):
            self.layer_combo.blockSignals(True)
            self.layer_combo.setCurrentIndex(selected)
            self.layer_combo.blockSignals(False)

    def render(self, snap: dict) -> None:
        blocks = snap.get("blocks", [])
        sel = int(snap.get("selected_block", 0))
        self.set_layers(blocks, sel)
        block = blocks[sel] if 0 <= sel < len(blocks) else {"label": "?", "kind": ""}
        view = snap.get("view", {})
        data = snap.get("block_data", {})
        fwd, bwd, loss = data.get("forward", {}), data.get("backward", {}), data.get("loss", {})
        insp = view.get("inspected")
        chosen = bool(insp)
        if chosen != self.use_chosen.isChecked():
            (self.use_chosen if chosen else self.use_batch).setChecked(True)
        name = block["label"]
        kind = block.get("kind", "")
        backward_now = snap.get("active_kind") == "backward" and snap.get("active_block") == sel
        transfer = view["transfer"]
        frozen = block.get("name") in set(transfer["frozen"])
        stop = transfer["gradient_stops_at"]
        unreached = stop is not None and sel < stop      # backward never gets here: nothing below trains
        if chosen:
            act = insp["activations"][sel] if sel < len(insp["activations"]) else None
            grad = insp["grads"][sel] if sel < len(insp["grads"]) else None
            image, probs, label = insp.get("image"), insp.get("probs"), insp.get("label")
            pred, target = insp.get("prediction"), insp.get("target")
            source = insp.get("source") or "chosen example"
            why = ("its true label" if label is not None else
                   "the predicted class (a drawing has no label)")
            grad_title = f"dL/d(output) for this example · loss toward {target}"
            who = f"{source}" + (f", true label {label}" if label is not None else "") + f" · gradient toward {why}"
            grad_empty = ""
            input_grad = insp.get("input_grad")
        else:
            act, grad = fwd.get("activation"), bwd.get("grad_output")
            image, probs, label = fwd.get("input_image"), loss.get("probs"), fwd.get("label")
            pred = int(np.argmax(probs)) if probs is not None else None
            who = "first image of the batch" + (f", true label {label}" if label is not None else "")
            grad_title = "dL/d(output): the gradient reaching this layer (backward)"
            grad_empty = "appears when the backward pass reaches this layer (step → through the phases)"
            input_grad = bwd.get("grad_input", {}).get("maps", [None])[0] if sel == 0 and bwd.get("grad_input") else None
        if unreached:
            grad, input_grad = None, None
            grad_empty = "no gradient: the backward pass stops above this block (nothing here or below trains)"
        phase_color = PHASE_COLORS["backward"] if backward_now else "#333"
        lock = ""
        if frozen:
            lock = (" · <span style='color:#1F3A5F'><b>frozen</b> (locked): no dL/dW, no update"
                    + ("; dL/dx passes through to the blocks below" if not unreached and stop != sel else "") + "</span>")
        elif stop == sel:
            lock = " · <span style='color:#1F3A5F'>the gradient stops here: nothing below trains</span>"
        self._header(f"<span style='color:{phase_color}'><b>{name}</b></span> · iteration {snap.get('iteration', 0)}"
                     f"{lock}<br><span style='color:#666'>example: {who}</span>")
        kernels = view.get("kernels")
        if kernels is not None and kernels is not self._kernels:   # the same object: not sent again, drawn already
            self._kernels = kernels
            k = np.asarray(kernels)
            self.kernels.set_title(f"{k.shape[0]}×{k.shape[1]} kernels of {k.shape[2]}×{k.shape[3]}")
            self.kernels.set_image(kernel_grid(k), levels=symmetric(k),
                                   caption=("columns: output maps, rows: input maps" if k.shape[1] > 1
                                            else "one per map") + f" · ±{fmt(symmetric(k)[1])}")
        elif kernels is None:
            self._kernels = None
            self.kernels.set_title("kernels")
            self.kernels.clear_image("no kernels")
        key = (sel, chosen, frozen, unreached, kernels is None)
        if self._drawn is not None and data is self._drawn[0] and insp is self._drawn[1] and key == self._drawn[2]:
            return   # the same arrays (not sent again while playing): only the kernels above moved
        self._drawn = (data, insp, key)
        what = {"conv": "bright: the filter's pattern is here",
                "pool": "max of each 2×2 window"}.get(kind, "")
        short = name.split(" + ")[0]
        self.maps.show(act, f"output of {short} for this example", "run a forward phase (→) to see the maps", what)
        self.grads.show(grad, grad_title, grad_empty, "red: the loss rises if it grows, blue: falls")
        if image is not None:
            self.input_image.set_image(np.asarray(image), levels=(0.0, 1.0), gray=True,
                                       caption=f"true label: {label}" if label is not None else "drawn: no label")
        else:
            self.input_image.clear_image("run a forward phase to see it")
        if probs is not None:
            p = np.asarray(probs)
            green = "green: true label" if label is not None else "green: the prediction (no label)"
            self.probs.set_vector(p, f"prediction: {pred} (p = {p[pred]:.2f}) · {green}", labels=DIGITS,
                                  highlight=label if label is not None else pred)
        else:
            self.probs.set_vector(None, "prediction", note="after the loss phase")
        gk = bwd.get("grad_kernels")
        if gk is not None and not chosen:
            self.kernel_grads.set_title("dL/d kernels (this batch)")
            self.kernel_grads.set_image(kernel_grid(gk), levels=symmetric(gk), caption="blue −, red +")
        else:
            self.kernel_grads.set_title("dL/d kernels")
            if frozen and kernels is not None:
                self.kernel_grads.clear_image("frozen: no dL/dW computed")
            else:
                self.kernel_grads.clear_image("after backward" if kernels is not None and not chosen
                                              else ("for the batch only" if chosen and kernels is not None
                                                    else "no kernels"))
        self.input_grad.set_title("dL/d input image")
        if input_grad is not None:
            g = np.asarray(input_grad)
            self.input_grad.set_image(g, levels=symmetric(g), caption="most sensitive pixels")
        else:   # always there: a panel shown and hidden as play goes lays out (and repaints) the whole tab
            self.input_grad.clear_image("for a chosen example, or the first layer after backward")

    def _header(self, text: str) -> None:
        if text != self.header.text():
            self.header.setText(text)


class InputsTab(QtWidgets.QWidget):
    """What the network is fed: the training pixels' statistics and histograms before and after
    standardization (z = (x − μ)/σ), and the augmented versions of the inspected example."""

    refresh_requested = QtCore.Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        v = QtWidgets.QVBoxLayout(self)
        v.addWidget(section_label("Normalization: every pixel of the training split"))
        self.stats = QtWidgets.QLabel("–")
        self.stats.setTextFormat(QtCore.Qt.TextFormat.RichText)
        self.stats.setWordWrap(True)
        v.addWidget(self.stats)
        row = QtWidgets.QHBoxLayout()
        self.raw_hist = HistogramPanel("pixels x (log count)")
        self.norm_hist = HistogramPanel("standardized z = (x − μ)/σ (log count)", color="#F58518")
        row.addWidget(self.raw_hist, 1)
        row.addWidget(self.norm_hist, 1)
        v.addLayout(row, 2)
        head = QtWidgets.QHBoxLayout()
        head.addWidget(section_label("Augmentation: the inspected example as training would see it"))
        head.addStretch(1)
        self.refresh = QtWidgets.QPushButton("Draw again")
        self.refresh.setToolTip("new random draws (each draw is numbered: the same number and iteration give the "
                                "same strip)")
        self.refresh.clicked.connect(self.refresh_requested.emit)
        head.addWidget(self.refresh)
        v.addLayout(head)
        self.strip_note = QtWidgets.QLabel()
        self.strip_note.setWordWrap(True)
        v.addWidget(self.strip_note)
        self.strip = thumbnail_list(72, (86, 100), wrapping=True)
        self.strip.setMinimumHeight(120)
        v.addWidget(self.strip, 2)
        self.captions: list[str] = []

    def set_inputs(self, inputs: dict | None) -> None:
        if not inputs:
            return
        on = inputs.get("normalize")
        text = (f"{inputs['n_pixels']:,} pixels: mean μ = <b>{inputs['mean']:.4f}</b>, standard deviation "
                f"σ = <b>{inputs['std']:.4f}</b> → standardized: mean {inputs['normalized_mean']:.1e}, "
                f"std {inputs['normalized_std']:.4f}. ")
        text += ("<b>Standardization is on</b>: every input (training, held-out, drawn) is fed as z = (x − μ)/σ: the histogram keeps its shape, only the axis moves to mean 0, std 1."
                 if on else "Standardization is <b>off</b> (the network sees x in [0, 1]; tick "
                            "'standardize inputs' or use --normalize).")
        aug = inputs.get("augment") or []
        text += f"<br>Augmentations in training: <b>{', '.join(aug) if aug else 'none'}</b>"
        if "shift" in aug:
            text += f" (shift up to {inputs.get('shift', 0)} px)"
        if text != self.stats.text():
            self.stats.setText(text)
        for panel, key in ((self.raw_hist, "raw"), (self.norm_hist, "normalized")):
            counts = np.log10(1.0 + np.asarray(inputs[f"{key}_counts"], dtype=np.float64))  # the zeros dwarf the rest
            panel.set_histogram({"counts": counts, "edges": np.asarray(inputs[f"{key}_edges"])})

    def set_strip(self, reply: dict) -> None:
        images, captions = np.asarray(reply["images"]), list(reply["captions"])
        self.strip.clear()
        for img, caption in zip(images, captions):
            item = QtWidgets.QListWidgetItem(gray_icon(img, 72), caption)
            item.setToolTip(f"{caption} (iteration {reply.get('iteration', '?')})")
            self.strip.addItem(item)
        self.captions = captions
        aug = reply.get("augment") or []
        self.strip_note.setText(f"{reply.get('source', '')}: the original, each augmentation alone, then the whole "
                                f"pipeline ({', '.join(aug)}) drawn several times."
                                if aug else f"{reply.get('source', '')}: no augmentation is chosen.")


class EnginesTab(QtWidgets.QWidget):
    """NumPy vs Torch: the gradients of both on the same batch with the same weights, and their speed."""

    parity_requested = QtCore.Signal(str)
    speed_requested = QtCore.Signal()

    COLUMNS = ["block", "quantity", "max |NumPy − Torch|", "relative", "elements differing"]

    def __init__(self, parent=None):
        super().__init__(parent)
        v = QtWidgets.QVBoxLayout(self)
        v.addWidget(section_label("Gradient parity: the NumPy engine's hand-written backward vs torch autograd"))
        intro = QtWidgets.QLabel(
            "With the current weights and the current batch, both engines run forward and backward; for every "
            "block: its output, the gradient reaching its input, and its parameter gradients. "
            "Relative = max difference / largest magnitude.")
        intro.setWordWrap(True)
        v.addWidget(intro)
        row = QtWidgets.QHBoxLayout()
        self.dtype = QtWidgets.QComboBox()
        self.dtype.addItems(["float32", "float64"])
        self.dtype.setToolTip("float32: what training uses (rounding ~1e-7); float64: ~1e-16")
        self.run_parity = QtWidgets.QPushButton("Compare the engines on this batch")
        self.run_parity.clicked.connect(lambda: self.parity_requested.emit(self.dtype.currentText()))
        row.addWidget(self.run_parity)
        row.addWidget(QtWidgets.QLabel("precision"))
        row.addWidget(self.dtype)
        row.addStretch(1)
        v.addLayout(row)
        self.summary = QtWidgets.QLabel("not compared yet")
        self.summary.setWordWrap(True)
        self.summary.setTextFormat(QtCore.Qt.TextFormat.RichText)
        v.addWidget(self.summary)
        self.table = QtWidgets.QTableWidget(0, len(self.COLUMNS))
        self.table.setHorizontalHeaderLabels(self.COLUMNS)
        self.table.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setSectionResizeMode(QtWidgets.QHeaderView.ResizeMode.Stretch)
        self.table.verticalHeader().setVisible(False)
        v.addWidget(self.table, 1)
        v.addWidget(section_label("Speed: training iterations per second"))
        srow = QtWidgets.QHBoxLayout()
        self.run_speed = QtWidgets.QPushButton("Measure both engines")
        self.run_speed.setToolTip("times a few iterations of each engine on a copy of this network, one after the other")
        self.run_speed.clicked.connect(self._speed_clicked)
        self.progress = QtWidgets.QProgressBar()
        self.progress.setRange(0, 100)
        self.progress.setVisible(False)
        srow.addWidget(self.run_speed)
        srow.addWidget(self.progress, 1)
        v.addLayout(srow)
        self.live = QtWidgets.QLabel()
        self.speed = QtWidgets.QLabel("NumPy: – it/s · Torch: – it/s (press Measure)")
        self.speed.setTextFormat(QtCore.Qt.TextFormat.RichText)
        self.speed.setWordWrap(True)
        v.addWidget(self.live)
        v.addWidget(self.speed)

    def _speed_clicked(self) -> None:
        self.progress.setVisible(True)
        self.progress.setValue(0)
        self.progress.setFormat("starting…")
        self.run_speed.setEnabled(False)
        self.speed_requested.emit()

    def set_parity(self, reply: dict) -> None:
        rows = [(b["block"], e) for b in reply["blocks"] for e in b["entries"]]
        self.table.setRowCount(len(rows))
        for r, (block, e) in enumerate(rows):
            cells = [block, e["what"], f"{e['max_abs']:.2e}", f"{e['max_rel']:.2e}",
                     f"{e.get('n_diff', 0)} of {e.get('size', 0)}"]
            for c, text in enumerate(cells):
                item = QtWidgets.QTableWidgetItem(text)
                if c >= 2 and (e.get("n_diff", 0) > 0):
                    item.setForeground(QtGui.QColor("#C62828"))
                self.table.setItem(r, c, item)
        eps = 1.2e-7 if reply["dtype"] == "float32" else 2.2e-16
        ties = sum(e.get("n_diff", 0) for _, e in rows)
        text = (f"iteration {reply.get('iteration', '?')}, batch of {reply.get('batch_size', '?')}, {reply['dtype']}: "
                f"loss NumPy {reply['loss_numpy']:.8g} vs Torch {reply['loss_torch']:.8g}; largest relative "
                f"gradient difference <b>{reply['max_rel']:.1e}</b> (machine epsilon {eps:.1e}: differences of a few "
                "epsilons are rounding, from summing in another order).")
        if ties:
            text += ("<br><span style='color:#C62828'>Some elements differ by far more than rounding: a max-pool "
                     "window held two values equal up to rounding, and the engines picked different winners, so "
                     "that window's gradient went to a different pixel (both follow the same rule: the first "
                     "maximum wins). Try float64, or another batch.</span>")
        self.summary.setText(text)

    def set_speed_progress(self, progress: dict) -> None:
        if progress.get("done"):
            self.progress.setVisible(False)
            self.run_speed.setEnabled(True)
        elif progress.get("cancelled"):
            self.progress.setVisible(False)
            self.run_speed.setEnabled(True)
        else:
            self.progress.setValue(int(100 * float(progress.get("progress", 0.0))))
            self.progress.setFormat(f"{progress['stage']} · %p%" if progress.get("stage") else "%p%")

    def set_speed(self, speed: dict | None, snap: dict) -> None:
        engine = snap.get("engine", "")
        ips = snap.get("ips", 0.0)
        self.live.setText(f"This run ({engine} engine): {ips:.0f} iterations/s now" if snap.get("playing")
                          else f"This run ({engine} engine): paused")
        if speed:
            text = (f"NumPy: <b>{speed['numpy_it_per_s']:.0f}</b> it/s · Torch: <b>{speed['torch_it_per_s']:.0f}</b> it/s "
                    f"at batch {speed.get('batch_size', '?')} — NumPy takes {speed['numpy_over_torch']:.2f}× Torch's time "
                    "per iteration (measured here, one after the other, while the app runs; "
                    "<tt>python -m bench cnn</tt> measures carefully)")
            if text != self.speed.text():
                self.speed.setText(text)


class CNNView(InspectsEnds, LabView):
    block_data_tabs = ("Feature maps", "Layer inspector")
    histogram_tabs = ("Layer inspector",)   # the feature maps draw none (they were most of a snapshot's cost)
    def __init__(self, parent=None):
        super().__init__(parent)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.tabs = QtWidgets.QTabWidget()
        self.maps_tab = FeatureMapsTab()
        self.engines_tab = EnginesTab()
        self.inputs_tab = InputsTab()
        self.inspector = LayerInspector()
        self.inspector.wants_batch.connect(lambda: self.command.emit("batch", {}))
        self.report = ReportPanel()
        self.landscape = LandscapeView(title="Held-out loss around this run's training path")
        self.landscape.compute.connect(lambda args: self.command.emit("landscape", args))
        self.landscape.cancel.connect(lambda: self.cancel_task.emit("landscape"))
        self.tabs.addTab(self.maps_tab, "Feature maps")
        self.tabs.addTab(self.engines_tab, "NumPy vs Torch")
        self.tabs.addTab(self.inputs_tab, "Inputs: normalization, augmentation")
        self.tabs.addTab(self.inspector, "Layer inspector")
        self.tabs.addTab(self.report, "Classification report")
        self.tabs.addTab(self.landscape, "Loss landscape")
        explain_tabs(self.tabs)
        layout.addWidget(self.tabs)
        self.snap: dict | None = None
        self._strip_requested_at = 0.0
        self._strip_iteration = -1
        t = self.maps_tab
        t.layer_combo.currentIndexChanged.connect(lambda i: i >= 0 and self.select_block.emit(int(i)))
        t.canvas.changed.connect(lambda img: self.command.emit("inspect", {"image": img, "source": "your drawing"}))
        t.clear_button.clicked.connect(t.canvas.clear)
        t.canvas.cleared.connect(self._back_to_batch)
        t.use_batch.clicked.connect(self._back_to_batch)
        t.use_chosen.clicked.connect(self._chosen_clicked)
        t.strip.picked.connect(lambda i: self.command.emit("inspect_heldout", {"index": int(i)}))
        t.strip.page_changed.connect(lambda _: self._request_strip())
        self.engines_tab.parity_requested.connect(lambda dtype: self.command.emit("parity", {"dtype": dtype}))
        self.engines_tab.speed_requested.connect(lambda: self.command.emit("speed", {"iterations": 20}))
        self.tabs.currentChanged.connect(lambda _: self.snap is not None and self.set_snapshot(self.snap))
        self.inputs_tab.refresh_requested.connect(lambda: self._request_augment_strip(new_draw=True))
        self._augment_key = None
        self._augment_requested_at = 0.0
        self._augment_draw = 0

    def _back_to_batch(self) -> None:
        self.command.emit("inspect", {"image": None})

    def _chosen_clicked(self) -> None:
        canvas = self.maps_tab.canvas
        if canvas.image.any():
            self.command.emit("inspect", {"image": canvas.current(), "source": "your drawing"})
        else:
            self.maps_tab.strip.picked.emit(int(self.maps_tab.strip.page_indices()[0]))

    def _request_augment_strip(self, new_draw: bool = False) -> None:
        self._augment_requested_at = time.monotonic()
        self._augment_draw += int(new_draw)
        self.command.emit("augment_strip", {"count": 8, "draw": self._augment_draw})

    def _request_strip(self) -> None:
        self._strip_requested_at = time.monotonic()
        self.command.emit("heldout_examples", {"indices": self.maps_tab.strip.page_indices()})

    def on_ready(self, info: dict) -> None:
        self.maps_tab.canvas.image[...] = 0.0
        self.maps_tab.canvas.update()
        self._strip_iteration = -1
        self._request_strip()

    def on_reply(self, name: str, reply: dict) -> None:
        if self.batch_reply(name, reply):
            return
        if name in ("inspect", "inspect_heldout"):
            self._augment_key = None  # another example: the strip follows it
        if name == "heldout_examples":
            self.maps_tab.strip.set_examples(reply)
        elif name == "augment_strip":
            self.inputs_tab.set_strip(reply)
        elif name in ("inspect", "inspect_heldout") and self.snap is not None:
            if reply.get("cleared"):
                self.snap = dict(self.snap, view={k: v for k, v in self.snap.get("view", {}).items()
                                                  if k != "inspected"})
            else:
                self.snap = dict(self.snap, view=dict(self.snap.get("view", {}), inspected=reply))
            self.maps_tab.render(self.snap)
        elif name == "parity":
            self.engines_tab.set_parity(reply)

    def on_task(self, name: str, progress: dict) -> None:
        if name == "speed":
            self.engines_tab.set_speed_progress(progress)
        elif name == "landscape":
            if progress.get("cancelled"):
                self.landscape.set_busy(False)
            elif progress.get("done"):
                self.landscape.set_result(progress, titles={"cnn": "training path"})
            else:
                self.landscape.set_progress(float(progress.get("progress", 0.0)), progress.get("stage", ""))

    def set_snapshot(self, snap: dict) -> None:
        self.snap = snap
        current = self.tabs.currentWidget()
        if current is self.maps_tab:
            self.maps_tab.render(snap)
            it = snap.get("iteration", 0)
            # refresh the thumbnails' predictions now and then while the net learns
            if it != self._strip_iteration and time.monotonic() - self._strip_requested_at > 2.0:
                self._strip_iteration = it
                self._request_strip()
        elif current is self.engines_tab:
            self.engines_tab.set_speed(snap.get("view", {}).get("speed"), snap)
        elif current is self.inputs_tab:
            view = snap.get("view", {})
            self.inputs_tab.set_inputs(view.get("inputs"))
            key = (tuple(view.get("inputs", {}).get("augment", ())), snap.get("iteration", 0) if not snap.get("playing")
                   else None)
            # a new example or setting, another iteration while paused, or a while since the last draws while playing
            if key != self._augment_key or (snap.get("playing") and time.monotonic() - self._augment_requested_at > 2.0):
                self._augment_key = key
                self._request_augment_strip()
        elif current is self.inspector:
            self.inspector.set_snapshot(snap)
        self.report.set_report(snap.get("view", {}).get("report"))
        self.landscape.set_cursor(snap.get("iteration", 0), line=snap.get("line", 0))


# ---------------------------------------------------------------------------- synthetic data
def fake_snapshot(selected: int = 0, phase_kind: str = "backward", inspected: bool = False, seed: int = 0) -> dict:
    """A snapshot as the CNN lab sends it, with random arrays (for tests and running this file alone)."""
    rng = np.random.default_rng(seed)
    shapes = [(8, 28, 28), (8, 14, 14), (16, 14, 14), (16, 7, 7), (10,)]
    labels = ["Conv 1→8 3×3 pad 1 + relu", "MaxPool 2×2", "Conv 8→16 3×3 pad 1 + relu", "MaxPool 2×2",
              "Flatten + Dense 784→10"]
    kinds = ["conv", "pool", "conv", "pool", "dense"]
    blocks = [{"name": f"b{i}", "label": l, "kind": k, "n_params": 0, "out_shape": s}
              for i, (l, k, s) in enumerate(zip(labels, kinds, shapes))]

    def arr(shape, relu=False):
        a = rng.standard_normal(shape).astype(np.float32)
        return np.maximum(a, 0) if relu else a

    def view_of(a):
        return {"maps": a} if a.ndim == 3 else {"vector": a}

    def hist(a, bins=40):
        counts, edges = np.histogram(a, bins=bins)
        return {"counts": counts.astype(np.float64), "edges": edges}

    image = np.zeros((28, 28), np.float32)
    image[5:23, 12:16] = 1.0
    probs = np.full(10, 0.02)
    probs[1] = 0.82
    shape = shapes[selected]
    act = arr(shape, relu=kinds[selected] != "dense")
    fwd = {"activation": view_of(act), "activation_hist": hist(act), "input_image": image, "label": 1}
    kernel_shapes = {0: (8, 1, 3, 3), 2: (16, 8, 3, 3)}
    if selected in kernel_shapes:
        fwd["kernels"] = arr(kernel_shapes[selected])
    data = {"forward": fwd, "loss": {"probs": probs, "loss": 0.2, "label": 1}}
    if phase_kind in ("backward", "update"):
        grad = arr(shape) * 1e-3
        data["backward"] = {"grad_output": view_of(grad), "grad_hist": hist(grad)}
        if selected in kernel_shapes:
            data["backward"]["grad_kernels"] = arr(kernel_shapes[selected]) * 1e-2
        if selected == 0:
            data["backward"]["grad_input"] = {"maps": arr((1, 28, 28)) * 1e-4}
    pixels = rng.random(4096) ** 4                      # mostly dark, as MNIST is
    mean, std = float(pixels.mean()), float(pixels.std())
    raw, normalized = hist(pixels), hist((pixels - mean) / std)
    view = {"hyperparams": {"lr": 0.02, "momentum": 0.9}, "engine": "numpy", "channels": [8, 16],
            "transfer": {"frozen": [], "gradient_stops_at": None, "freezable": ["conv1", "conv2", "output"],
                         "digits": list(range(10)), "init": None, "init_report": None},
            "inputs": {"normalize": False, "augment": ["shift"], "shift": 2, "mean": mean, "std": std,
                       "raw_counts": raw["counts"], "raw_edges": raw["edges"],
                       "normalized_counts": normalized["counts"], "normalized_edges": normalized["edges"],
                       "normalized_mean": 0.0, "normalized_std": 1.0, "n_pixels": pixels.size}}
    if selected in kernel_shapes:
        view["kernels"] = fwd["kernels"]
    if inspected:
        view["inspected"] = {"image": image, "label": 7, "source": "held-out #3", "probs": probs, "prediction": 1,
                             "target": 7, "loss": 3.1, "iteration": 5,
                             "activations": [view_of(arr(s, relu=i < 4)) for i, s in enumerate(shapes)],
                             "grads": [view_of(arr(s) * 1e-2) for s in shapes], "input_grad": arr((28, 28)) * 1e-3}
    return {"lab": "cnn", "engine": "numpy", "iteration": 5, "phase": 8, "phase_count": 12,
            "label": f"{phase_kind} · {labels[selected]}", "active_block": selected, "active_kind": phase_kind,
            "playing": False, "ips": 0.0, "selected_block": selected, "blocks": blocks, "block_data": data,
            "view": view, "history": [], "history_reset": False, "keyframes": 1, "last_metrics": {"loss": 0.2}}


if __name__ == "__main__":  # python -m widgets.cnn_view [--screenshot PATH]
    from .demo import run_lab_view_demo
    run_lab_view_demo(CNNView, fake_snapshot(selected=2, inspected=True), (1100, 800))
