"""Preferences that outlive a run, kept with QSettings: what the engine may use to go back in time.

Each preference is declared once (key, default, range, unit, help); the dialog and the config the
window sends to the engine process are built from the declarations.
"""
from __future__ import annotations

from dataclasses import dataclass

from PySide6 import QtCore, QtWidgets


@dataclass(frozen=True)
class Preference:
    key: str          # also the config key the engine process reads
    label: str
    default: float
    low: float
    high: float
    unit: str
    help: str


PREFERENCES = (
    Preference("keyframe_disk_gb", "Disk space for going back", 4.0, 0.0, 1024.0, "GB",
               "Keyframes that do not fit in memory (512 MB) go to a cache folder on disk, removed when the "
               "app closes. More space keeps them closer together, so a jump back replays less; 0 keeps "
               "them in memory only. Takes effect with the next run."),
)


def settings() -> QtCore.QSettings:
    return QtCore.QSettings("Stepwise", "Stepwise")


def load() -> dict[str, float]:
    """The saved preferences (defaults where none is saved), as config entries."""
    s = settings()
    out = {}
    for p in PREFERENCES:
        try:
            value = float(s.value(p.key, p.default))
        except (TypeError, ValueError):
            value = p.default
        out[p.key] = min(max(value, p.low), p.high)
    return out


class PreferencesDialog(QtWidgets.QDialog):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.setWindowTitle("Preferences")
        form = QtWidgets.QFormLayout(self)
        self.fields: dict[str, QtWidgets.QDoubleSpinBox] = {}
        values = load()
        for p in PREFERENCES:
            box = QtWidgets.QDoubleSpinBox()
            box.setRange(p.low, p.high)
            box.setDecimals(1)
            box.setSuffix(f" {p.unit}")
            box.setValue(values[p.key])
            box.setToolTip(p.help)
            label = QtWidgets.QLabel(p.label)
            label.setToolTip(p.help)
            form.addRow(label, box)
            self.fields[p.key] = box
        buttons = QtWidgets.QDialogButtonBox(QtWidgets.QDialogButtonBox.StandardButton.Ok
                                             | QtWidgets.QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def values(self) -> dict[str, float]:
        return {key: box.value() for key, box in self.fields.items()}

    def accept(self) -> None:
        s = settings()
        for key, value in self.values().items():
            s.setValue(key, value)
        super().accept()
