"""The held-out classification report: per-class precision, recall, F1 and a confusion matrix."""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtWidgets

from .common import SEQUENTIAL, fit_title

CELL_RANGE = (-0.5, 9.5)


class ReportPanel(QtWidgets.QWidget):
    def __init__(self, parent=None):
        super().__init__(parent)
        layout = QtWidgets.QHBoxLayout(self)
        left = QtWidgets.QVBoxLayout()
        self.title = QtWidgets.QLabel("<b>Held-out classification report</b> — appears at the first evaluation")
        left.addWidget(self.title)
        self.table = QtWidgets.QTableWidget(11, 4)
        self.table.setHorizontalHeaderLabels(["precision", "recall", "F1", "support"])
        self.table.setVerticalHeaderLabels([str(i) for i in range(10)] + ["macro avg"])
        self.table.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setSectionResizeMode(QtWidgets.QHeaderView.ResizeMode.Stretch)
        self.table.setToolTip(
            "Per class c, on the held-out images: precision = TP / (TP + FP) (of the images predicted c, the "
            "share that are c); recall = TP / (TP + FN) (of the images of c, the share found); "
            "F1 = 2·precision·recall / (precision + recall); support = images of c. "
            "Macro avg: the plain mean over the 10 classes (macro F1 = mean of the per-class F1).")
        left.addWidget(self.table)
        layout.addLayout(left, 1)
        self.glw = pg.GraphicsLayoutWidget()
        self.plot = self.glw.addPlot()
        fit_title(self.plot, "confusion matrix (held-out counts)")
        self.plot.invertY(True)
        self.plot.setAspectLocked(True)
        self.plot.setMouseEnabled(False, False)
        self.plot.hideButtons()
        ticks = [[(i, str(i)) for i in range(10)]]
        for axis in ("left", "bottom"):
            self.plot.getAxis(axis).setTicks(ticks)
        self.plot.setLabel("left", "true")
        self.plot.setLabel("bottom", "predicted")
        self.image = pg.ImageItem()
        self.image.setColorMap(SEQUENTIAL)
        self.plot.addItem(self.image)
        # cell (r, c) is centred on (c, r): the view shows exactly the 10 × 10 cells
        self.plot.setRange(xRange=CELL_RANGE, yRange=CELL_RANGE, padding=0)
        self.texts = []
        for r in range(10):
            for c in range(10):
                t = pg.TextItem("", anchor=(0.5, 0.5), color="w")
                t.setPos(c, r)
                self.plot.addItem(t)
                self.texts.append(t)
        self.glw.setToolTip("Row = true digit, column = predicted digit; each cell counts held-out images. "
                            "The diagonal is right; off-diagonal cells are the mistakes. "
                            "Colour: log(1 + count), so a few mistakes still show.")
        layout.addWidget(self.glw, 1)
        self._pending = None

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if self._pending is not None:
            self.set_report(self._pending)

    def set_report(self, report: dict | None) -> None:
        if not report or not self.isVisible():
            self._pending = report
            return
        key = (report.get("iteration"), id(report))
        if getattr(self, "_shown", None) is not None and self._shown[0] == key[0] and \
                np.array_equal(self._shown[1], report["confusion"]):
            return  # unchanged since the last evaluation
        self._shown = (key[0], np.array(report["confusion"]))
        at = f"iteration {report['iteration']:,}: " if "iteration" in report else ""
        self.title.setText(f"<b>Held-out classification report</b> — {at}accuracy {report['accuracy']:.2%}, "
                           f"macro F1 {report['macro_f1']:.3f}")
        for i in range(10):
            for j, key in enumerate(("precision", "recall", "f1")):
                self.table.setItem(i, j, QtWidgets.QTableWidgetItem(f"{report[key][i]:.3f}"))
            self.table.setItem(i, 3, QtWidgets.QTableWidgetItem(f"{int(report['support'][i])}"))
        for j, key in enumerate(("precision", "recall", "f1")):
            self.table.setItem(10, j, QtWidgets.QTableWidgetItem(f"{np.mean(report[key]):.3f}"))
        self.table.setItem(10, 3, QtWidgets.QTableWidgetItem(f"{int(np.sum(report['support']))}"))
        cm = np.asarray(report["confusion"], dtype=np.float64)
        shown = np.log1p(cm)  # log scale so the off-diagonal errors are visible
        self.image.setImage(shown, levels=(0, max(1.0, shown.max())), autoLevels=False)
        self.image.setRect(QtCore.QRectF(-0.5, -0.5, 10, 10))  # after setImage: the rect scales the image it has
        top = shown.max() * 0.6
        for r in range(10):
            for c in range(10):
                t = self.texts[r * 10 + c]
                t.setText(str(int(cm[r, c])) if cm[r, c] else "")
                t.setColor("k" if shown[r, c] > top else "w")


def fake_report(seed: int = 0, accuracy: float = 0.93) -> dict:
    """A held-out report shaped like the engine's (classification_report): a confusion matrix of
    1,000 images with about ``accuracy`` of them on the diagonal, and its per-class figures."""
    rng = np.random.default_rng(seed)
    support = np.full(10, 100)
    cm = np.zeros((10, 10), dtype=np.int64)
    for true in range(10):
        right = int(rng.binomial(support[true], accuracy))
        cm[true, true] = right
        np.add.at(cm[true], rng.integers(0, 10, support[true] - right), 1)   # errors spread over the classes
    tp, predicted = np.diag(cm).astype(np.float64), cm.sum(axis=0).astype(np.float64)
    precision, recall = tp / np.maximum(predicted, 1), tp / support
    f1 = 2 * precision * recall / np.maximum(precision + recall, 1e-12)
    return {"precision": precision, "recall": recall, "f1": f1, "support": support.astype(np.float64),
            "confusion": cm, "accuracy": float(tp.sum() / cm.sum()), "macro_f1": float(f1.mean()), "iteration": 500}


if __name__ == "__main__":  # python -m widgets.report_panel [--screenshot PATH]
    from .demo import run_demo

    def build() -> ReportPanel:
        panel = ReportPanel()
        panel.show()
        panel.set_report(fake_report())
        return panel

    run_demo(build, (760, 420))
