"""The optimizer lab's table of live hyperparameters: one row per optimizer, editable while the race plays."""
from __future__ import annotations

from PySide6 import QtCore, QtWidgets

from .optimizer_common import HYPER_LABELS, HYPER_MAX, color_of


class HyperTable(QtWidgets.QTableWidget):
    """Rows: optimizers (a show/hide box, the name in its colour); columns: their live settings."""

    set_hyperparam = QtCore.Signal(str, float)
    visibility = QtCore.Signal(str, bool)

    COLUMNS = ("lr", "momentum", "beta1", "beta2", "rho", "alpha", "weight_decay")

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setColumnCount(1 + len(self.COLUMNS))
        self.setHorizontalHeaderLabels(["optimizer (show)"] + [HYPER_LABELS[c] for c in self.COLUMNS])
        self.verticalHeader().setVisible(False)
        self.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 8)   # compact rows: all fit
        self.setSelectionMode(QtWidgets.QAbstractItemView.SelectionMode.NoSelection)
        self.horizontalHeader().setSectionResizeMode(QtWidgets.QHeaderView.ResizeMode.ResizeToContents)
        self.setToolTip("Edit a setting while the race plays: it applies from the next iteration "
                        "(the future beyond the cursor is rewritten). Untick to hide a path.")
        self.names: tuple = ()
        self.boxes: dict[str, QtWidgets.QDoubleSpinBox] = {}
        self.checks: dict[str, QtWidgets.QCheckBox] = {}

    def set_values(self, names: list[str], titles: list[str], hyper: dict[str, dict[str, float]]) -> None:
        if tuple(names) != self.names:
            self._rebuild(names, titles, hyper)
        for name, values in hyper.items():
            for hp, value in values.items():
                box = self.boxes.get(f"{name}.{hp}")
                if box is not None and not box.hasFocus() and abs(box.value() - value) > 1e-12:
                    box.blockSignals(True)
                    box.setValue(value)
                    box.blockSignals(False)

    def _rebuild(self, names, titles, hyper) -> None:
        self.names = tuple(names)
        self.boxes.clear()
        self.checks.clear()
        self.setRowCount(len(names))
        used = [c for c in self.COLUMNS if any(c in hyper.get(n, {}) for n in names)]
        for col, c in enumerate(self.COLUMNS, start=1):
            self.setColumnHidden(col, c not in used)
        for row, (name, title) in enumerate(zip(names, titles)):
            check = QtWidgets.QCheckBox(title)
            check.setChecked(True)
            check.setStyleSheet(f"QCheckBox {{ color: {color_of(name, row)}; font-weight: bold; }}")
            check.toggled.connect(lambda on, n=name: self.visibility.emit(n, on))
            self.setCellWidget(row, 0, check)
            self.checks[name] = check
            for col, hp in enumerate(self.COLUMNS, start=1):
                if hp not in hyper.get(name, {}):
                    self.setCellWidget(row, col, None)
                    continue
                box = QtWidgets.QDoubleSpinBox()
                box.setDecimals(6 if hp == "lr" else 5)
                box.setRange(0.0, HYPER_MAX[hp])
                box.setSingleStep(0.0001 if hp == "lr" and hyper[name][hp] < 0.01 else 0.01)
                box.setKeyboardTracking(False)
                box.setFrame(False)
                box.setValue(hyper[name][hp])
                box.valueChanged.connect(lambda v, key=f"{name}.{hp}": self.set_hyperparam.emit(key, float(v)))
                self.setCellWidget(row, col, box)
                self.boxes[f"{name}.{hp}"] = box
        self.resizeColumnsToContents()
        # every optimizer's row on screen, none behind a scroll bar (it showed 6 of 9)
        self.setMinimumHeight(self.horizontalHeader().sizeHint().height() + 2 * self.frameWidth()
                              + sum(self.rowHeight(r) for r in range(self.rowCount()))
                              + self.horizontalScrollBar().sizeHint().height())


if __name__ == "__main__":  # python -m widgets.hyper_table [--screenshot PATH]
    from .demo import run_demo
    from .optimizer_common import fake_view_data

    def build() -> HyperTable:
        v = fake_view_data()
        table = HyperTable()
        table.set_values(v["optimizers"], v["titles"], v["optimizer_hyperparams"])
        return table

    run_demo(build, (520, 200))
