"""A lesson in the window: the side panel, the highlight, and carrying out each step's commands.

The runner (visualizer/lessons.py) says what to send; this sends one command at a time and waits
for the snapshot that shows it done (a seek replays in slices, and a step during it would cancel
it), then applies the step to the UI: the inspected block, the tab, the highlight.
"""
from __future__ import annotations

from PySide6 import QtCore, QtWidgets

from engines import StepwiseError
from visualizer.lessons import Lesson, LessonRunner, markdown_to_html, next_move, reached
from widgets.lesson_panel import Highlight, LessonPanel

# named panels a lesson may highlight (and File → Export view may save); "view.a.b" also works:
# an attribute path on the lab's view, e.g. view.maps_tab.kernels
PANELS = {
    "diagram": lambda w: w.diagram,
    "settings": lambda w: w.settings,
    # the text labs draw their own curves (the window's panel is hidden there)
    "curves": lambda w: w.view.curves if getattr(w.view, "owns_curves", False) and hasattr(w.view, "curves") else w.curves,
    "timeline": lambda w: w.timeline,
    "transport": lambda w: w.findChild(QtWidgets.QToolBar),
    "phase": lambda w: w.phase_label,
    "status": lambda w: w.statusBar(),
    "view": lambda w: w.view,
    "tabs": lambda w: w.view.findChild(QtWidgets.QTabWidget) if w.view is not None else None,
}


def find_panel(window, name: str) -> QtWidgets.QWidget:
    """The widget a lesson calls ``name``; StepwiseError naming the choices when there is none."""
    if name in PANELS:
        widget = PANELS[name](window)
    elif name.startswith("view."):
        widget = window.view
        for part in name.split(".")[1:]:
            widget = getattr(widget, part, None)
    elif name == "lesson" and getattr(window, "lesson", None) is not None:
        widget = window.lesson.panel
    else:
        widget = None
    if not isinstance(widget, QtWidgets.QWidget):
        raise StepwiseError(f"There is no panel {name!r} in this lab's window; use one of "
                            f"{', '.join(PANELS)}, lesson, or view.<part> of the lab's view.")
    return widget


def show_widget(widget: QtWidgets.QWidget) -> None:
    """Bring a widget inside a tab to the front (each tab widget on the way) and scroll to it."""
    child, parent = widget, widget.parentWidget()
    scrolls = []
    while parent is not None:
        if isinstance(parent, QtWidgets.QStackedWidget) and isinstance(parent.parentWidget(), QtWidgets.QTabWidget):
            parent.parentWidget().setCurrentWidget(child)
        if isinstance(parent, QtWidgets.QScrollArea):
            scrolls.append(parent)
        child, parent = parent, parent.parentWidget()
    for scroll in scrolls:
        scroll.ensureWidgetVisible(widget, 8, 8)


def find_tab(view: QtWidgets.QWidget, name: str) -> tuple[QtWidgets.QTabWidget, int]:
    names = []
    for tabs in view.findChildren(QtWidgets.QTabWidget):
        for i in range(tabs.count()):
            if tabs.tabText(i).lower() == name.lower():
                return tabs, i
            names.append(tabs.tabText(i))
    raise StepwiseError(f"This lab's view has no tab {name!r}; its tabs are: {', '.join(names) or 'none'}.")


class LessonController(QtCore.QObject):
    arrived = QtCore.Signal(int)     # the app shows step k (engine there, UI applied)
    failed = QtCore.Signal(str)

    def __init__(self, window, lesson: Lesson, scale: float = 1.0):
        super().__init__(window)
        self.window = window
        self.lesson = lesson
        self.runner = LessonRunner(lesson, scale)
        self.panel = LessonPanel()
        self.panel.set_lesson(lesson.title)
        self.panel.back.connect(lambda: self.goto(self.index - 1))
        self.panel.next.connect(lambda: self.goto(self.index + 1))
        self.panel.closed.connect(self.close)
        self.dock = QtWidgets.QDockWidget("Lesson", window)
        self.dock.setObjectName("lesson-dock")
        self.dock.setWidget(self.panel)
        self.dock.setFeatures(QtWidgets.QDockWidget.DockWidgetFeature.DockWidgetMovable)
        window.addDockWidget(QtCore.Qt.DockWidgetArea.RightDockWidgetArea, self.dock)
        self.highlight = Highlight(window)
        self.index = -1
        self.queue: list[tuple] = []
        self.expect: int | None = None          # the position the last move leads to
        self.expect_select: int | None = None
        self.awaiting_ready = False
        self.ours = False                       # the run now was started by this lesson
        self.phase_count: int | None = None
        self.run_config: dict | None = None
        self.line_settings: list | None = None
        self.error: str | None = None
        self._sent_config: dict = {}
        self._after_ready = False
        self._pending_configures = 0     # configures sent whose ready has not come back
        c = window.client
        c.ready.connect(self._on_ready)
        c.snapshot.connect(self._on_snapshot)
        c.error.connect(self._on_error)
        c.died.connect(self._on_error)

    # ------------------------------------------------------------------ moving between steps
    def goto(self, k: int) -> None:
        if not 0 <= k < len(self.lesson.steps):
            return
        self.index = k
        step = self.lesson.steps[k]
        self.panel.show_step(k, len(self.lesson.steps), step.title, markdown_to_html(step.text), step.ask,
                             markdown_to_html(step.reveal))
        self.panel.set_busy(True)
        self.highlight.clear()
        self.error = None
        self.expect = self.expect_select = None
        if self.awaiting_ready and self.runner.same_config(self.runner.config_of(k), self._sent_config):
            self.queue = []  # the lab is starting with this step's config: its moves follow once it is up
            return
        self.queue = self.runner.route(k, self.phase_count, self.run_config, self.line_settings, self.ours)
        self._advance()

    def adopt_first_run(self) -> None:
        """The window's first run, not up yet, was started with the lesson's first config: step 1
        goes on from it instead of starting the lab a second time."""
        self.awaiting_ready = True
        self._pending_configures = 1
        self._sent_config = self.runner.config_of(0)
        self.index = 0
        step = self.lesson.steps[0]
        self.panel.show_step(0, len(self.lesson.steps), step.title, markdown_to_html(step.text), step.ask,
                             markdown_to_html(step.reveal))

    def _advance(self) -> None:
        w = self.window
        while self.queue:
            op = self.queue[0]
            if op[0] == "configure":
                self.queue.pop(0)
                self.awaiting_ready = True
                self._pending_configures += 1
                self._sent_config = dict(op[1])
                w.send_configure(dict(op[1]))
                return
            snap = w.last_snapshot
            if op[0] == "set":
                self.queue.pop(0)
                w.client.send("hyper", (op[1], op[2]))
                continue
            move = next_move(snap, op[1]) if snap is not None else None
            if move is None:
                self.queue.pop(0)
                continue
            cmd, arg, self.expect = move
            if cmd == "step_phase":
                for _ in range(arg):
                    w.client.send("step_phase")
            else:
                w.client.send(cmd, arg)
            return
        plan = self.runner.plan(self.index, self.phase_count)
        snap = w.last_snapshot
        if plan.select is not None and snap["selected_block"] != plan.select:
            if not 0 <= plan.select < len(snap["blocks"]):
                return self._fail(f"Step {self.index + 1}: there is no block {plan.select} to select; this lab "
                                  f"has blocks 0 to {len(snap['blocks']) - 1}.")
            self.expect_select = plan.select
            w.client.send("select", plan.select)
            return
        self._apply_ui(plan.step)

    def _apply_ui(self, step) -> None:
        try:
            if step.tab:
                tabs, i = find_tab(self.window.view, step.tab)
                tabs.setCurrentIndex(i)
                show_widget(tabs)
            if step.highlight:
                target = find_panel(self.window, step.highlight[0])
                show_widget(target)
                if not target.isVisible():
                    raise StepwiseError(f"the panel {step.highlight[0]!r} is hidden in this lab; highlight "
                                        "one that shows")
                self.highlight.show_on(target, markdown_to_html(step.highlight[1]) if step.highlight[1] else "")
        except StepwiseError as e:
            return self._fail(f"Step {self.index + 1} ('{step.title}'): {e}")
        self.panel.set_busy(False)
        self.arrived.emit(self.index)

    def _fail(self, message: str) -> None:
        self.error = message
        self.queue = []
        self.panel.set_busy(False)
        self.failed.emit(message)
        self.window.show_error(message)

    # ------------------------------------------------------------------ what the engine says
    def _on_ready(self, info: dict) -> None:
        if self._pending_configures > 1:  # an earlier configure of ours: the latest one is still coming
            self._pending_configures -= 1
            return
        self._pending_configures = 0
        self.phase_count = len(info["phases"])
        # the lesson's own config when the run is the lesson's (the engine reads it back normalised)
        self.run_config = dict(self._sent_config) if self.awaiting_ready else dict(info["config"])
        self.line_settings = []
        self.ours = self.awaiting_ready   # a lab or settings the student chose: start the step again next time
        self._after_ready = self.awaiting_ready

    def _on_snapshot(self, snap: dict) -> None:
        if "lines" in snap:
            current = next((l for l in snap["lines"] if l["current"]), None)
            self.line_settings = list(current.get("settings", [])) if current else None
        if self.awaiting_ready:
            if self._after_ready:  # the first snapshot of the new run
                self.awaiting_ready = self._after_ready = False
                if not self.queue:  # a fresh run of the lesson's lab: every move from its start
                    self.queue = list(self.runner.plan(self.index, self.phase_count).ops)
                self._advance()
            return
        if self.expect is not None and reached(snap, self.expect):
            self.expect = None
            self._advance()
        elif self.expect_select is not None and snap["selected_block"] == self.expect_select:
            self.expect_select = None
            self._advance()

    def _on_error(self, message: str) -> None:
        if self.awaiting_ready or self.expect is not None or self.queue:
            if self.awaiting_ready:
                self._pending_configures = max(0, self._pending_configures - 1)
            self.awaiting_ready = False
            self.expect = None
            self.queue = []
            self.error = message
            self.panel.set_busy(False)
            self.failed.emit(message)

    def close(self) -> None:
        self.highlight.clear()
        self.highlight.deleteLater()
        self.window.removeDockWidget(self.dock)
        self.dock.deleteLater()
        if getattr(self.window, "lesson", None) is self:
            self.window.lesson = None
