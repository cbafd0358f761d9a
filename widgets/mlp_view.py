"""The MLP lab's view: the layer inspector, the held-out classification report, and the
loss landscape around the training path (computed in the engine process on request)."""
from __future__ import annotations

import numpy as np
from PySide6 import QtWidgets

from .common import explain_tabs
from .lab_view import LabView
from .landscape_view import LandscapeView
from .layer_inspector import InspectsEnds, LayerInspector
from .fake_data import fake_digit, fake_snapshot, histogram  # noqa: F401 (made-up data, kept importable here)
from .report_panel import ReportPanel


class MLPView(InspectsEnds, LabView):
    block_data_tabs = ("Layer inspector",)
    def __init__(self, parent=None):
        super().__init__(parent)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.tabs = QtWidgets.QTabWidget()
        self.inspector = LayerInspector()
        self.inspector.wants_batch.connect(lambda: self.command.emit("batch", {}))
        self.report = ReportPanel()
        self.landscape = LandscapeView(title="Held-out loss around this run's training path")
        self.landscape.compute.connect(lambda args: self.command.emit("landscape", args))
        self.landscape.cancel.connect(lambda: self.cancel_task.emit("landscape"))
        self.tabs.addTab(self.inspector, "Layer inspector")
        self.tabs.addTab(self.report, "Classification report")
        self.tabs.addTab(self.landscape, "Loss landscape")
        explain_tabs(self.tabs)
        layout.addWidget(self.tabs)

    def set_snapshot(self, snap: dict) -> None:
        if self.inspector.isVisible():  # render only what is on screen
            self.inspector.set_snapshot(snap)
        else:
            self.inspector.pending = snap
        self.report.set_report(snap.get("view", {}).get("report"))
        self.landscape.set_cursor(snap.get("iteration", 0), line=snap.get("line", 0))

    def on_reply(self, name: str, reply: dict) -> None:
        self.batch_reply(name, reply)

    def on_task(self, name: str, progress: dict) -> None:
        if name != "landscape":
            return
        if progress.get("cancelled"):
            self.landscape.set_busy(False)
        elif progress.get("done"):
            self.landscape.set_result(progress, titles={"mlp": "training path", "cnn": "training path"})
        else:
            self.landscape.set_progress(float(progress.get("progress", 0.0)), progress.get("stage", ""))


if __name__ == "__main__":  # python -m widgets.mlp_view [--screenshot PATH]
    from .demo import run_lab_view_demo
    run_lab_view_demo(MLPView, fake_snapshot())
