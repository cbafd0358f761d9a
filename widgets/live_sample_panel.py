"""The text view's live-sample panel: a passage written by the model every few seconds while it
trains (view_data["sample"]), or asked for when paused (the "sample" command's reply)."""
from __future__ import annotations

from PySide6 import QtCore, QtGui, QtWidgets


class LiveSamplePanel(QtWidgets.QWidget):
    """The latest sample, with the iteration it was written after."""

    def __init__(self, parent=None):
        super().__init__(parent)
        lv = QtWidgets.QVBoxLayout(self)
        lv.setContentsMargins(2, 0, 2, 0)
        self.title = QtWidgets.QLabel("<b>Written by the model while it trains</b> (a new sample every few seconds)")
        self.title.setTextFormat(QtCore.Qt.TextFormat.RichText)
        lv.addWidget(self.title)
        self.text = QtWidgets.QPlainTextEdit()
        self.text.setReadOnly(True)
        # always there: a scroll bar appearing with the first long sample lays out (and repaints) the whole view
        self.text.setVerticalScrollBarPolicy(QtCore.Qt.ScrollBarPolicy.ScrollBarAlwaysOn)
        self.text.setFont(QtGui.QFontDatabase.systemFont(QtGui.QFontDatabase.SystemFont.FixedFont))
        self.text.setPlaceholderText("Press play: samples appear here as the model learns.")
        lv.addWidget(self.text, 1)
        self.iteration: int | None = None   # the iteration of the sample shown (None: none yet)

    def clear(self) -> None:
        self.iteration = None
        self.text.clear()

    def is_newer(self, sample: dict) -> bool:
        return self.iteration is None or sample.get("iteration", 0) > self.iteration

    def show_sample(self, sample: dict) -> None:
        self.iteration = int(sample.get("iteration", 0))
        self.text.setPlainText(f"— after {self.iteration:,} iterations (temperature 0.8) —\n{sample['text']}")


if __name__ == "__main__":  # python -m widgets.live_sample_panel [--screenshot PATH]
    from .demo import run_demo

    def build() -> LiveSamplePanel:
        panel = LiveSamplePanel()
        panel.show_sample({"iteration": 1200, "text": "ROMEO:\nWhat say you to my son? the king is come,\n"
                                                      "And hath the gods to mine the world of him.\n\nKING:\nNo."})
        return panel

    run_demo(build, (640, 220))
