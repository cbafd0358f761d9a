"""The held-out classification report: per-class precision, recall, F1 and a confusion matrix."""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtWidgets

from .common import SEQUENTIAL


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
        left.addWidget(self.table)
        layout.addLayout(left, 1)
        self.glw = pg.GraphicsLayoutWidget()
        self.plot = self.glw.addPlot(title="confusion matrix (rows: true, columns: predicted)")
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
        self.image.setRect(QtCore.QRectF(-0.5, -0.5, 10, 10))
        self.plot.addItem(self.image)
        self.texts = []
        for r in range(10):
            for c in range(10):
                t = pg.TextItem("", anchor=(0.5, 0.5), color="w")
                t.setPos(c, r)
                self.plot.addItem(t)
                self.texts.append(t)
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
        if getattr(self, "_shown", None) is not None and np.array_equal(self._shown, report["confusion"]):
            return  # unchanged since the last evaluation
        self._shown = np.array(report["confusion"])
        self.title.setText(f"<b>Held-out classification report</b> — accuracy {report['accuracy']:.2%}, "
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
        top = shown.max() * 0.6
        for r in range(10):
            for c in range(10):
                t = self.texts[r * 10 + c]
                t.setText(str(int(cm[r, c])) if cm[r, c] else "")
                t.setColor("k" if shown[r, c] > top else "w")
