"""The MLP lab's view: the layer inspector and the held-out classification report."""
from __future__ import annotations

from PySide6 import QtWidgets

from .lab_view import LabView
from .layer_inspector import LayerInspector
from .report_panel import ReportPanel


class MLPView(LabView):
    def __init__(self, parent=None):
        super().__init__(parent)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.tabs = QtWidgets.QTabWidget()
        self.inspector = LayerInspector()
        self.report = ReportPanel()
        self.tabs.addTab(self.inspector, "Layer inspector")
        self.tabs.addTab(self.report, "Classification report")
        layout.addWidget(self.tabs)

    def set_snapshot(self, snap: dict) -> None:
        if self.inspector.isVisible():  # render only what is on screen
            self.inspector.set_snapshot(snap)
        else:
            self.inspector.pending = snap
        self.report.set_report(snap.get("view", {}).get("report"))
