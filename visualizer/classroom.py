"""In class: lessons, presenter mode, export and notes, added to the main window through one hook
(``install(window)`` at the end of MainWindow.__init__), so the window's own code stays its own.

- Help → Lessons: the shipped lessons, and any lesson file;
- View → Text size (Ctrl+= / Ctrl+- / Ctrl+0), colour-blind-safe palette;
- File → Export view… (PNG at a scale, SVG), Export curves as CSV…, Record… (GIF / MP4);
- the timeline's Note button: the student's notes, saved with the session; live setting changes,
  branch points and notes drawn as markers on the timeline and the curves.
"""
from __future__ import annotations

from pathlib import Path

import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

from engines import StepwiseError
from visualizer import export
from visualizer.lesson_controller import PANELS, LessonController, find_panel
from visualizer.lessons import LessonRunner, load_lesson, shipped_lessons
from visualizer.presenter import SIZES, Presenter

EXPORT_TIP = ("Right-click any plot → Export… saves that plot alone (PNG, SVG, CSV of its data); "
              "File → Export view saves the whole view or one panel.")


def _menu(window, title: str) -> QtWidgets.QMenu:
    """The window's menu called ``title`` ("&File"), or a new one."""
    for action in window.menuBar().actions():
        if action.menu() is not None and action.text().replace("&", "") == title.replace("&", ""):
            return action.menu()
    return window.menuBar().addMenu(title)


def install(window) -> None:
    window.lesson = None
    window.presenter = Presenter(window)
    window.notes = []           # [line, iteration, text]
    window.open_lesson = lambda path, scale=1.0: open_lesson(window, path, scale)

    # ---------------------------------------------------------------- File
    file_menu = _menu(window, "&File")
    quit_action = next((a for a in file_menu.actions() if a.text().replace("&", "") == "Quit"), None)
    actions = [QtGui.QAction("&Export view…", window), QtGui.QAction("Export &curves as CSV…", window),
               QtGui.QAction("&Record…", window)]
    actions[0].triggered.connect(lambda: export_dialog(window))
    actions[1].triggered.connect(lambda: export_curves_dialog(window))
    actions[2].triggered.connect(lambda: record_dialog(window))
    actions[0].setShortcut(QtGui.QKeySequence("Ctrl+E"))
    for a in actions:
        file_menu.insertAction(quit_action, a)
    file_menu.insertSeparator(quit_action)

    # ---------------------------------------------------------------- View
    view_menu = _menu(window, "&View")
    size_menu = view_menu.addMenu("&Text size")
    p = window.presenter
    for text, key, slot in (("Larger", "Ctrl+=", p.larger), ("Smaller", "Ctrl+-", p.smaller),
                            ("Actual size", "Ctrl+0", p.reset)):
        a = size_menu.addAction(text, slot)
        a.setShortcuts([QtGui.QKeySequence(key)] + ([QtGui.QKeySequence("Ctrl++")] if key == "Ctrl+=" else []))
        a.setShortcutContext(QtCore.Qt.ShortcutContext.ApplicationShortcut)
    size_menu.addSeparator()
    group = QtGui.QActionGroup(window)
    window.text_size_actions = {}
    for percent in SIZES:
        a = size_menu.addAction(f"{percent} %", lambda percent=percent: p.set_percent(percent))
        a.setCheckable(True)
        group.addAction(a)
        window.text_size_actions[percent] = a
    size_menu.aboutToShow.connect(lambda: [a.setChecked(k == p.percent) for k, a in window.text_size_actions.items()])
    cb = view_menu.addAction("&Colour-blind-safe palette")
    cb.setCheckable(True)
    cb.setChecked(p.colour_blind)
    cb.setToolTip("Okabe & Ito's colours, told apart with any colour vision")
    cb.toggled.connect(p.set_colour_blind)

    # ---------------------------------------------------------------- Help → Lessons
    help_menu = _menu(window, "&Help")
    lessons_menu = help_menu.addMenu("&Lessons")
    for path in shipped_lessons():
        try:
            title = load_lesson(path).title
        except StepwiseError:
            title = path.stem
        lessons_menu.addAction(f"{path.stem}: {title}", lambda path=path: open_lesson(window, str(path)))
    lessons_menu.addSeparator()
    lessons_menu.addAction("Open a lesson file…", lambda: open_lesson_dialog(window))

    # ---------------------------------------------------------------- notes and markers
    window.timeline.note_requested.connect(lambda it: add_note_dialog(window, it))
    window.client.snapshot.connect(lambda snap: on_snapshot(window, snap))
    window.client.ready.connect(lambda info: on_ready(window, info))
    window.curves.setToolTip(EXPORT_TIP)

    # ---------------------------------------------------------------- small screens, geometry, text size
    # the lab view scrolls when the window is smaller than it needs (1280×720, or large text)
    holder, splitter = window.view_holder, window.splitter
    sizes = splitter.sizes()
    scroll = FitScrollArea()
    splitter.replaceWidget(splitter.indexOf(holder), scroll)
    scroll.setWidget(holder)
    splitter.setSizes(sizes)
    splitter.setStretchFactor(1, 1)
    window.view_scroll = scroll
    p.restore_geometry()
    p.apply(share_space=True)
    window.installEventFilter(_CloseWatcher(window))


class FitScrollArea(QtWidgets.QScrollArea):
    """Fills its viewport like a plain layout and scrolls only below the widget's minimum size
    (QScrollArea's own resizing lays word-wrapped views out at their preferred, taller, height)."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setWidgetResizable(False)
        self.setFrameShape(QtWidgets.QFrame.Shape.NoFrame)

    def setWidget(self, widget: QtWidgets.QWidget) -> None:
        super().setWidget(widget)
        widget.installEventFilter(self)
        self.fit()

    def fit(self) -> None:
        widget = self.widget()
        if widget is None:
            return
        needed = widget.minimumSizeHint().expandedTo(widget.minimumSize())
        widget.resize(self.viewport().size().expandedTo(needed))

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self.fit()

    def eventFilter(self, obj, event) -> bool:
        if obj is self.widget() and event.type() == QtCore.QEvent.Type.LayoutRequest:
            QtCore.QTimer.singleShot(0, self.fit)
        return False


class _CloseWatcher(QtCore.QObject):
    def eventFilter(self, obj, event) -> bool:
        if event.type() == QtCore.QEvent.Type.Close:
            obj.presenter.save_geometry()
        return False


def on_ready(window, info: dict) -> None:
    """A new run: the view may be new (scale its fonts, say where its plots export), remember the lab."""
    window.presenter.apply()
    window.presenter.save_last_lab(info["lab"])
    window.notes = []
    for view in window.view.findChildren(pg.GraphicsView) if window.view is not None else []:
        if not view.toolTip():
            view.setToolTip(EXPORT_TIP)


def on_snapshot(window, snap: dict) -> None:
    if "lines" not in snap:
        return
    if "notes" in snap:
        window.notes = [list(n) for n in snap["notes"]]
    markers = timeline_markers(snap["lines"], window.notes, snap.get("line", 0))
    window.timeline.set_markers(markers)
    window.curves.set_markers(markers)


def timeline_markers(lines: list[dict], notes: list, line_id: int) -> list[dict]:
    """Markers of the current line: its live setting changes, where branches leave it, the notes."""
    out = []
    current = next((l for l in lines if l["current"]), None)
    if current is not None:
        for at, name, value in current.get("settings", []):
            out.append({"iteration": int(at), "kind": "setting", "text": f"{name} → {float(value):g}"})
    for line in lines:
        if line["parent"] is not None and (current is None or line["id"] == current["id"]
                                           or line["parent"] == current["id"]):
            out.append({"iteration": int(line["fork"]), "kind": "branch", "text": str(line["label"])})
    for lid, it, text in notes:
        if int(lid) == int(line_id):
            out.append({"iteration": int(it), "kind": "note", "text": str(text)})
    return sorted(out, key=lambda m: m["iteration"])


def add_note_dialog(window, iteration: int) -> None:
    text, ok = QtWidgets.QInputDialog.getText(window, "Note", f"A note at iteration {iteration}:")
    if ok and text.strip():
        add_note(window, iteration, text.strip())


def add_note(window, iteration: int, text: str) -> None:
    line = window.last_snapshot.get("line", 0) if window.last_snapshot else 0
    window.notes.append([int(line), int(iteration), str(text)])
    window.client.send("notes", [list(n) for n in window.notes])  # kept by the session, saved with it


# ---------------------------------------------------------------------- lessons
def open_lesson(window, path: str, scale: float = 1.0) -> LessonController | None:
    try:
        lesson = load_lesson(path)
    except StepwiseError as e:
        window.show_error(str(e))
        return None
    if window.lesson is not None:
        window.lesson.close()
    controller = LessonController(window, lesson, scale)
    window.lesson = controller
    window.presenter.apply()

    if window.lab is None and LessonRunner.same_config(lesson.steps[0].lab, window.config):
        controller.adopt_first_run()  # the window was opened on the lesson's first run (--lesson)
        return controller

    if window.last_snapshot is None:  # the first run is not up yet: the lesson starts after it
        def start(*_):
            window.client.snapshot.disconnect(start)
            controller.goto(0)
        window.client.snapshot.connect(start)
    else:
        controller.goto(0)
    return controller


def open_lesson_dialog(window) -> None:
    folder = str(shipped_lessons()[0].parent) if shipped_lessons() else ""
    path, _ = QtWidgets.QFileDialog.getOpenFileName(window, "Open a lesson", folder, "Lessons (*.md);;All files (*)")
    if path:
        open_lesson(window, path)


# ---------------------------------------------------------------------- export dialogs
def export_targets(window) -> dict[str, QtWidgets.QWidget]:
    out = {"the whole window": window}
    for name in PANELS:
        try:
            out[name] = find_panel(window, name)
        except StepwiseError:
            pass
    return out


def _ask_path(window, dialog, form, fmt: QtWidgets.QComboBox, title: str) -> str | None:
    """Save / Cancel under the form; then where to, with the format's suffix. None: cancelled."""
    buttons = QtWidgets.QDialogButtonBox(QtWidgets.QDialogButtonBox.StandardButton.Save
                                         | QtWidgets.QDialogButtonBox.StandardButton.Cancel)
    buttons.accepted.connect(dialog.accept)
    buttons.rejected.connect(dialog.reject)
    form.addRow(buttons)
    if not dialog.exec():
        return None
    suffix = fmt.currentText().lower()
    path, _ = QtWidgets.QFileDialog.getSaveFileName(window, title, f"stepwise-{window.lab}.{suffix}",
                                                    f"{fmt.currentText()} (*.{suffix})")
    if path and not path.lower().endswith("." + suffix):
        path += "." + suffix
    return path or None


def export_dialog(window) -> None:
    dialog = QtWidgets.QDialog(window)
    dialog.setWindowTitle("Export view")
    form = QtWidgets.QFormLayout(dialog)
    target = QtWidgets.QComboBox()
    targets = export_targets(window)
    target.addItems(list(targets))
    form.addRow("What", target)
    fmt = QtWidgets.QComboBox()
    fmt.addItems(["PNG", "SVG"])
    form.addRow("Format", fmt)
    scale = QtWidgets.QDoubleSpinBox()
    scale.setRange(0.5, 4.0)
    scale.setSingleStep(0.5)
    scale.setValue(2.0)
    scale.setSuffix(" ×")
    scale.setToolTip("PNG: pixels per screen pixel (2 × for slides and print)")
    form.addRow("Scale (PNG)", scale)
    path = _ask_path(window, dialog, form, fmt, "Export view")
    if path:
        try:
            export.export_view(targets[target.currentText()], path, scale.value())
            window.statusBar().showMessage(f"Exported to {path}.", 8000)
        except StepwiseError as e:
            window.show_error(str(e))


def export_curves_dialog(window) -> None:
    path, _ = QtWidgets.QFileDialog.getSaveFileName(window, "Export curves", f"stepwise-{window.lab}-curves.csv",
                                                    "CSV (*.csv)")
    if path:
        try:
            export.export_csv(window.curves.series, path)
            window.statusBar().showMessage(f"Curves written to {path}.", 8000)
        except StepwiseError as e:
            window.show_error(str(e))


def record_dialog(window) -> None:
    snap = window.last_snapshot or {"iteration": 0, "furthest": 0}
    dialog = QtWidgets.QDialog(window)
    dialog.setWindowTitle("Record")
    form = QtWidgets.QFormLayout(dialog)
    what = QtWidgets.QComboBox()
    what.addItems(["a range of iterations"] + (["the open lesson, step by step"] if window.lesson else []))
    form.addRow("Record", what)
    first, last, every = QtWidgets.QSpinBox(), QtWidgets.QSpinBox(), QtWidgets.QSpinBox()
    for box in (first, last, every):
        box.setRange(0, 10**7)
    first.setValue(max(0, snap["iteration"] - 20))
    last.setValue(max(snap["iteration"], snap["furthest"]))
    every.setRange(1, 10**6)
    every.setValue(max(1, (last.value() - first.value()) // 60))
    form.addRow("From iteration", first)
    form.addRow("To iteration", last)
    form.addRow("Every", every)
    fps = QtWidgets.QDoubleSpinBox()
    fps.setRange(0.5, 30)
    fps.setValue(6)
    form.addRow("Frames per second", fps)
    fmt = QtWidgets.QComboBox()
    fmt.addItems(["GIF", "MP4"])
    form.addRow("Format", fmt)
    path = _ask_path(window, dialog, form, fmt, "Record")
    if not path:
        return
    try:
        if what.currentIndex() == 1:
            recorder = export.LessonRecorder(window, window.lesson, path)
        else:
            recorder = export.Recorder(window, window, path, first.value(), last.value(), every.value(), fps.value())
    except StepwiseError as e:
        window.show_error(str(e))
        return
    window.statusBar().showMessage(f"Recording to {Path(path).name}…")
    recorder.finished.connect(lambda p: window.statusBar().showMessage(f"Recorded {p}.", 8000))
    recorder.failed.connect(window.show_error)
    window.recorder = recorder
    recorder.start()
