"""Preferences that outlive a run, kept with QSettings: what the engine may use to go back in time.

Each is an app option declared once in engines/options.py (default, range, help); the dialog and
the config the window sends to the engine process are built from it.
"""
from __future__ import annotations

from dataclasses import dataclass

from PySide6 import QtCore, QtWidgets

from engines.options import OptionSpec, app_option


@dataclass(frozen=True)
class Preference:
    option: OptionSpec   # the one declaration (engines/options.py); its key is also the config key
    label: str
    unit: str
    decimals: int = 1

    @property
    def key(self) -> str:
        return self.option.key


PREFERENCES = (Preference(app_option("keyframe_disk_gb"), "Disk space for going back", "GB"),)


def settings() -> QtCore.QSettings:
    return QtCore.QSettings("Stepwise", "Stepwise")


def load() -> dict[str, float]:
    """The saved preferences (defaults where none is saved), as config entries."""
    s = settings()
    out = {}
    for p in PREFERENCES:
        o = p.option
        try:
            value = float(s.value(p.key, o.default))
        except (TypeError, ValueError):
            value = o.default
        out[p.key] = min(max(value, o.minimum), o.maximum)
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
            box.setRange(p.option.minimum, p.option.maximum)
            box.setDecimals(p.decimals)
            box.setSuffix(f" {p.unit}")
            box.setValue(values[p.key])
            box.setToolTip(p.option.tooltip)
            label = QtWidgets.QLabel(p.label)
            label.setToolTip(p.option.tooltip)
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
