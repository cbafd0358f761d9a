"""The timeline: a slider over the iterations of the current run, and under it its branches.

A branch starts when a live setting is changed after going back: the earlier future is kept.
Each branch is drawn as a bar from the iteration where it left its parent to the furthest one it
reached, with its label ("lr 0.2 from iteration 400"); the current one is drawn strong, the others
faded. Clicking a bar asks to switch to that branch (``switch_line``); dragging the slider asks to
go to an iteration (``seek``), throttled so the engine is not flooded, with the label following at
once. While the engine replays, ``set_progress`` shows how far it has got.

    python -m widgets.timeline      # runs alone with fake branches
"""
from __future__ import annotations

import time

from PySide6 import QtCore, QtGui, QtWidgets
from superqt.utils import qthrottled

CURRENT = QtGui.QColor("#4C78A8")
OTHER = QtGui.QColor("#B8C4D6")


def slider_x(slider: QtWidgets.QSlider, widget: QtWidgets.QWidget, fraction: float) -> float:
    """The x, in ``widget``, of the centre of ``slider``'s handle at ``fraction`` (0–1) of its range: the
    markers and branch bars under the slider line up with the handle (not with their own width)."""
    opt = QtWidgets.QStyleOptionSlider()
    opt.initFrom(slider)
    opt.orientation = slider.orientation()
    opt.minimum, opt.maximum = 0, 10_000
    opt.sliderPosition = opt.sliderValue = int(round(10_000 * min(max(fraction, 0.0), 1.0)))
    style, cc = slider.style(), QtWidgets.QStyle.ComplexControl.CC_Slider
    handle = style.subControlRect(cc, opt, QtWidgets.QStyle.SubControl.SC_SliderHandle, slider)
    return widget.mapFromGlobal(slider.mapToGlobal(handle.center())).x()


class BranchBar(QtWidgets.QWidget):
    """One row per branch; a click on a row emits its id."""

    clicked = QtCore.Signal(int)
    ROW = 16

    def __init__(self, slider: QtWidgets.QSlider, parent=None):
        super().__init__(parent)
        self.slider = slider
        self.lines: list[dict] = []
        self.maximum = 1
        self.setMouseTracking(True)
        self.setToolTip("Branches of this run: a setting changed after going back starts a new branch and "
                        "keeps the old future. Click a branch to switch to it.")
        self.setVisible(False)

    def set_lines(self, lines: list[dict], maximum: int) -> None:
        self.lines = sorted(lines, key=lambda l: l["id"])
        self.maximum = max(1, maximum, *(l["furthest"] for l in self.lines)) if self.lines else max(1, maximum)
        self.setVisible(len(self.lines) > 1)
        self.setFixedHeight(self.ROW * len(self.lines) + 2)
        self.update()

    def _x(self, iteration: int) -> float:
        return slider_x(self.slider, self, iteration / self.maximum)

    def _row_at(self, y: float) -> dict | None:
        i = int(y // self.ROW)
        return self.lines[i] if 0 <= i < len(self.lines) else None

    def paintEvent(self, event) -> None:
        p = QtGui.QPainter(self)
        p.setRenderHint(QtGui.QPainter.RenderHint.Antialiasing)
        for i, line in enumerate(self.lines):
            y = i * self.ROW + self.ROW / 2
            start = line["fork"] if line["parent"] is not None else 0
            x0, x1 = self._x(start), self._x(line["furthest"])
            color = CURRENT if line["current"] else OTHER
            pen = QtGui.QPen(color, 5 if line["current"] else 3)
            pen.setCapStyle(QtCore.Qt.PenCapStyle.RoundCap)
            p.setPen(pen)
            p.drawLine(QtCore.QPointF(x0, y), QtCore.QPointF(max(x1, x0 + 1), y))
            if line["parent"] is not None:  # where it left its parent
                p.setPen(QtGui.QPen(color, 1.5))
                p.drawLine(QtCore.QPointF(x0, y - self.ROW / 2), QtCore.QPointF(x0, y))
            text = line["label"] + (" (now)" if line["current"] else "")
            width = p.fontMetrics().horizontalAdvance(text) + 4
            if x1 + 6 + width <= self.width():      # after the bar
                box = QtCore.QRectF(x1 + 6, y - self.ROW / 2, width, self.ROW)
            elif x0 - 6 - width >= 0:                # before it
                box = QtCore.QRectF(x0 - 6 - width, y - self.ROW / 2, width, self.ROW)
            else:                                    # over it, on a light box
                box = QtCore.QRectF(x0 + 12, y - self.ROW / 2 + 1, width, self.ROW - 2)
                p.fillRect(box, QtGui.QColor(255, 255, 255, 210))
            p.setPen(QtGui.QColor("#222" if line["current"] else "#666"))
            p.drawText(box, QtCore.Qt.AlignmentFlag.AlignCenter, text)
        p.end()

    def mousePressEvent(self, event) -> None:
        line = self._row_at(event.position().y())
        if line is not None and not line["current"]:
            self.clicked.emit(int(line["id"]))


MARKER_COLORS = {"setting": QtGui.QColor("#E69F00"), "branch": QtGui.QColor("#4C78A8"),
                 "note": QtGui.QColor("#CC79A7")}


class MarkerBar(QtWidgets.QWidget):
    """Markers under the slider: live setting changes, branch points, notes; hover for the text."""

    def __init__(self, slider: QtWidgets.QSlider, parent=None):
        super().__init__(parent)
        self.slider = slider
        self.markers: list[dict] = []
        self.maximum = 1
        self.setFixedHeight(12)
        self.setMouseTracking(True)
        self.setVisible(False)

    def set_markers(self, markers: list[dict], maximum: int) -> None:
        self.markers = list(markers)
        self.maximum = max(1, maximum)
        self.setVisible(bool(self.markers))
        self.update()

    def _x(self, iteration: int) -> float:
        return slider_x(self.slider, self, min(iteration, self.maximum) / self.maximum)

    def paintEvent(self, event) -> None:
        p = QtGui.QPainter(self)
        p.setRenderHint(QtGui.QPainter.RenderHint.Antialiasing)
        for m in self.markers:
            x = self._x(m["iteration"])
            p.setPen(QtCore.Qt.PenStyle.NoPen)
            p.setBrush(MARKER_COLORS.get(m["kind"], QtGui.QColor("#666")))
            p.drawPolygon(QtGui.QPolygonF([QtCore.QPointF(x, 0), QtCore.QPointF(x - 5, 11), QtCore.QPointF(x + 5, 11)]))
        p.end()

    def marker_at(self, x: float) -> list[dict]:
        return [m for m in self.markers if abs(self._x(m["iteration"]) - x) <= 6]

    def mouseMoveEvent(self, event) -> None:
        hits = self.marker_at(event.position().x())
        text = "<br>".join(f"<b>{m['iteration']}</b> {m['kind']}: {m['text']}" for m in hits)
        QtWidgets.QToolTip.showText(event.globalPosition().toPoint(), text, self) if text else QtWidgets.QToolTip.hideText()


class Timeline(QtWidgets.QWidget):
    seek = QtCore.Signal(int)
    note_requested = QtCore.Signal(int)   # the Note button: a note at the iteration shown
    switch_line = QtCore.Signal(int)
    moved = QtCore.Signal(int)   # while dragging, at once (the curves' cursor follows it)
    cancel = QtCore.Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        v = QtWidgets.QVBoxLayout(self)
        v.setContentsMargins(0, 0, 0, 0)
        v.setSpacing(1)
        row = QtWidgets.QHBoxLayout()
        row.addWidget(QtWidgets.QLabel("Timeline"))
        self.slider = QtWidgets.QSlider(QtCore.Qt.Orientation.Horizontal)
        self.slider.setRange(0, 0)
        self.slider.setToolTip("Drag to go back to any earlier iteration: the state there is exact "
                               "(keyframes + deterministic replay). Changing a setting there starts a branch.")
        self.slider.valueChanged.connect(self._moved)
        self.slider.sliderReleased.connect(self._released)
        row.addWidget(self.slider, 1)
        self.label = QtWidgets.QLabel("0 / 0")
        self.label.setMinimumWidth(150)
        row.addWidget(self.label)
        self.progress = QtWidgets.QProgressBar()
        self.progress.setRange(0, 100)
        self.progress.setMaximumWidth(160)
        self.progress.setVisible(False)
        row.addWidget(self.progress)
        self.cancel_button = QtWidgets.QPushButton("Stop")
        self.cancel_button.setToolTip("Stop going back; the cursor stays where the replay has got to (exact)")
        self.cancel_button.clicked.connect(self.cancel)
        self.cancel_button.setVisible(False)
        row.addWidget(self.cancel_button)
        self.note_button = QtWidgets.QPushButton("Note…")
        self.note_button.setToolTip("Write a note at this iteration: it shows on the timeline and the curves "
                                    "and is saved with the session")
        self.note_button.clicked.connect(lambda: self.note_requested.emit(self.slider.value()))
        row.addWidget(self.note_button)
        v.addLayout(row)
        self.marker_bar = MarkerBar(self.slider)
        v.addWidget(self.marker_bar)
        self.branches = BranchBar(self.slider)
        self.branches.clicked.connect(self.switch_line)
        v.addWidget(self.branches)
        self._lines: list[dict] = []
        self._pending: int | None = None  # the iteration asked for last; the handle stays there until it comes
        self._pending_since = 0.0
        # while dragging, ask for the iteration under the handle at most every 80 ms (the engine
        # replaces a pending seek by the newest one)
        self._throttled_seek = qthrottled(lambda value: self.seek.emit(value), timeout=80, leading=True)

    def _moved(self, value: int) -> None:
        self.label.setText(f"iteration {value} / {self.slider.maximum()}")
        self.moved.emit(value)
        self._ask(value)
        self._throttled_seek(value)

    def _released(self) -> None:
        self._ask(self.slider.value())
        self.seek.emit(self._pending)

    def _ask(self, value: int) -> None:
        self._pending, self._pending_since = value, time.monotonic()

    def set_position(self, iteration: int, furthest: int) -> None:
        """The engine's cursor. While dragging, and until the iteration asked for last arrives,
        the handle stays where the student put it (an earlier seek's answer does not pull it back)."""
        furthest = max(furthest, iteration)   # paused inside an iteration not finished before: it counts as reached
        if self._pending is not None and (iteration == self._pending or (
                time.monotonic() - self._pending_since > 3.0 and not self.progress.isVisible())):
            self._pending = None  # arrived (or never will: a refused seek must not freeze the handle)
        if self.slider.isSliderDown() or self._pending is not None:
            self.slider.blockSignals(True)
            self.slider.setMaximum(max(furthest, self.slider.value()))
            self.slider.blockSignals(False)
            return
        self.slider.blockSignals(True)
        self.slider.setRange(0, furthest)
        self.slider.setValue(iteration)
        self.slider.blockSignals(False)
        self.label.setText(f"iteration {iteration} / {furthest}")
        if self.marker_bar.markers and self.marker_bar.maximum != max(1, furthest):
            self.marker_bar.set_markers(self.marker_bar.markers, furthest)
        if self._lines:
            for line in self._lines:  # the current line grows as it trains; the others stay
                if line["current"]:
                    line["furthest"] = furthest
            self.branches.set_lines(self._lines, furthest)

    def set_markers(self, markers: list[dict]) -> None:
        """[{"iteration", "kind": "setting" | "branch" | "note", "text"}] of the current branch."""
        self.marker_bar.set_markers(markers, self.slider.maximum())

    def set_lines(self, lines: list[dict]) -> None:
        self._lines = [dict(line) for line in lines]
        self.branches.set_lines(self._lines, self.slider.maximum())

    def set_progress(self, progress: dict) -> None:
        """{"what", "target", "fraction"} while replaying; {"done": True} when finished."""
        busy = not progress.get("done")
        if not busy:
            self._pending = None  # finished or stopped: the engine's cursor is the truth again
        self.progress.setVisible(busy)
        self.cancel_button.setVisible(busy)
        if busy:
            self.progress.setValue(int(round(100 * progress.get("fraction", 0.0))))
            self.progress.setFormat(f"→ {progress.get('target', '')}: %p%")


if __name__ == "__main__":  # python -m widgets.timeline [--screenshot PATH]
    from .demo import run_demo

    def build() -> Timeline:
        w = Timeline()
        w.set_position(650, 1200)
        w.set_lines([{"id": 0, "parent": None, "fork": 0, "label": "lr 0.05", "furthest": 1200, "current": False},
                     {"id": 1, "parent": 0, "fork": 400, "label": "lr 0.2 from iteration 400", "furthest": 900,
                      "current": True}])
        w.set_progress({"what": "going back to", "target": 812, "fraction": 0.4})
        w.set_markers([{"iteration": 400, "kind": "branch", "text": "lr 0.2 from iteration 400"},
                       {"iteration": 400, "kind": "setting", "text": "lr → 0.2"},
                       {"iteration": 600, "kind": "note", "text": "the loss jumps here"}])
        w.seek.connect(lambda it: print("seek", it))
        w.switch_line.connect(lambda i: print("switch to branch", i))
        return w

    run_demo(build, (900, 90))
