"""The main window: lab picker, transport, timeline, network diagram, settings, curves, lab view.

It owns no training: it sends commands to the engine process (visualizer/worker.py) and
renders the latest snapshot, at most once per timer tick.
"""
from __future__ import annotations

import os
import statistics
import time
from pathlib import Path

import numpy as np
from PySide6 import QtCore, QtGui, QtWidgets

from engines import StepwiseError
from engines.atomic import atomic_write
from engines.labs import LABS
from engines.options import live_help
from visualizer import preferences
from visualizer.lab_help import KEYS_HELP, lab_help_html
from visualizer.client import SessionClient
from visualizer.host import SPEEDS, leftover_autosaves
from visualizer.lab_views import lab_ui, make_view
from widgets.common import PHASE_COLORS, SteadyLabel, cache_axes, fmt
from widgets.curves import CurvesPanel
from widgets.lab_view import SettingsForm
from widgets.network_diagram import NetworkDiagram
from widgets.timeline import Timeline

TRANSPORT_KEYS = {QtCore.Qt.Key.Key_Space, QtCore.Qt.Key.Key_Left, QtCore.Qt.Key.Key_Right}
EXPLODED = 10.0  # the loss "exploded" when it exceeds this many times its starting value


class DivergenceWatch:
    """Finds where the training loss exploded: the median of the last RECENT losses above
    EXPLODED × the starting loss (the median of the first START losses), or a loss that is not
    finite. Medians, because one example's loss (batch size 1) can be 10× the start on its own.
    Also remembers the last iteration whose recent median was at most the starting loss: where
    to go back to. Plain Python, fed the curve points as they arrive."""

    START, RECENT = 10, 5

    def __init__(self):
        self.first: list[float] = []
        self.recent: list[float] = []
        self.start: float | None = None
        self.last_fine: int | None = None

    def add(self, iteration: int, loss: float) -> bool:
        """True when the loss has exploded at ``iteration``."""
        if not np.isfinite(loss):
            return True
        if self.start is None:
            self.first.append(loss)
            if len(self.first) == self.START:
                self.start = max(statistics.median(self.first), 1e-12)
        self.recent = (self.recent + [loss])[-self.RECENT:]
        if self.start is None or len(self.recent) < self.RECENT:
            return False
        level = statistics.median(self.recent)  # of 5 floats: np.median cost ~40 µs a point, 1-6 ms a frame
        if level > EXPLODED * self.start:
            return True
        if level <= self.start:
            self.last_fine = iteration
        return False


class TransportKeys(QtCore.QObject):
    """Space, ← and → reach the transport wherever the focus is, except while a text field is
    being edited (typed in since it last committed); Enter or Escape in a field commits and
    hands the keys back. A number field being edited takes no space: Space commits it, as Enter
    does, and plays (typing lr 0.2 and pressing Space did nothing, and a second Space played on
    with the old lr while the field still read 0.2). Filters only the focused text field, not every
    event of the app."""

    def __init__(self, window: QtWidgets.QMainWindow):
        super().__init__(window)
        self.window = window
        self.filtered: set[int] = set()
        QtWidgets.QApplication.instance().focusChanged.connect(self._focus_changed)

    @staticmethod
    def text_of(widget) -> QtWidgets.QLineEdit | None:
        """The text field a focused widget types into (a spin box has one inside), or None."""
        if isinstance(widget, QtWidgets.QLineEdit):
            return widget
        if isinstance(widget, QtWidgets.QAbstractSpinBox):
            return widget.lineEdit()
        return None

    def _focus_changed(self, _old, new) -> None:
        if self.text_of(new) is not None and new.window() is self.window and id(new) not in self.filtered:
            self.filtered.add(id(new))
            new.installEventFilter(self)
            new.destroyed.connect(lambda _=None, key=id(new): self.filtered.discard(key))

    def eventFilter(self, widget, event) -> bool:
        kind = event.type()
        field = self.text_of(widget)
        if field is None:
            return False
        if kind == QtCore.QEvent.Type.ShortcutOverride and event.key() in TRANSPORT_KEYS and not field.isModified():
            event.ignore()  # not overridden: the window's shortcut gets the key
            return True
        spin = widget if isinstance(widget, QtWidgets.QAbstractSpinBox) else field.parent()
        if (kind == QtCore.QEvent.Type.ShortcutOverride and event.key() == QtCore.Qt.Key.Key_Space
                and isinstance(spin, QtWidgets.QAbstractSpinBox)):
            spin.interpretText()   # the value typed is committed (and sent) before the shortcut plays
            field.setModified(False)
            spin.clearFocus()
            event.ignore()
            return True
        if kind == QtCore.QEvent.Type.FocusIn:
            field.setModified(False)  # "being edited" starts with the first key typed
        elif kind == QtCore.QEvent.Type.KeyPress and event.key() in (
                QtCore.Qt.Key.Key_Return, QtCore.Qt.Key.Key_Enter, QtCore.Qt.Key.Key_Escape):
            def hand_back():  # after the field has committed the value
                field.setModified(False)
                widget.clearFocus()
            QtCore.QTimer.singleShot(0, hand_back)
        return False


class MainWindow(QtWidgets.QMainWindow):
    def __init__(self, config: dict, client_factory=SessionClient, offer_recovery: bool = True):
        super().__init__()
        self.setWindowTitle("Stepwise")
        self.resize(1500, 920)
        self.config = {**preferences.load(), **config}  # the command line wins over saved preferences
        self.lab = None
        self.view = None
        self._views_by_lab: dict = {}   # lab id -> its view, built the first time the lab is shown
        self.last_error: str | None = None
        self.last_snapshot: dict | None = None
        self._error_box: QtWidgets.QMessageBox | None = None
        self._divergence_box: QtWidgets.QMessageBox | None = None
        self._divergence = DivergenceWatch()
        self._divergence_told = False
        self.ask = self._ask_dialog  # (title, text) -> bool; tests replace it
        self.restart_box: QtWidgets.QMessageBox | None = None
        self.recovery_box: QtWidgets.QMessageBox | None = None
        self._build()
        self.transport_keys = TransportKeys(self)
        self.client = client_factory(self.config, self)
        self.client.snapshot.connect(self.on_snapshot)
        self.client.ready.connect(self.on_ready)
        self.client.error.connect(self.show_error)
        self.client.died.connect(self.on_died)
        self.client.info.connect(self.show_info)
        self.client.reply.connect(lambda name, reply: self.view and self.view.on_reply(name, reply))
        self.client.task.connect(lambda name, progress: self.view and self.view.on_task(name, progress))
        self.client.progress.connect(self.on_progress)
        if offer_recovery and not config.get("session"):
            QtCore.QTimer.singleShot(0, self.offer_recovery)
        # --- classroom hook: lessons, presenter mode, export, notes (visualizer/classroom.py)
        from visualizer import classroom
        classroom.install(self)

    # ------------------------------------------------------------------ layout
    def _build(self) -> None:
        tb = QtWidgets.QToolBar("Transport")
        tb.setMovable(False)
        tb.setIconSize(QtCore.QSize(20, 20))
        self.addToolBar(tb)
        tb.addWidget(QtWidgets.QLabel(" Lab "))
        self.lab_combo = QtWidgets.QComboBox()
        for lab_id, info in LABS.items():
            self.lab_combo.addItem(info.title, lab_id)
        self.lab_combo.activated.connect(self._lab_chosen)
        tb.addWidget(self.lab_combo)
        tb.addWidget(QtWidgets.QLabel("  Engine "))
        self.engine_combo = QtWidgets.QComboBox()
        self.engine_combo.activated.connect(self._engine_chosen)
        tb.addWidget(self.engine_combo)
        tb.addSeparator()
        style = self.style()
        SP = QtWidgets.QStyle.StandardPixmap
        self.act_back_it = self._action(tb, "Back one iteration", SP.SP_MediaSkipBackward, "Shift+Left",
                                        lambda: self.client.send("back_iteration"))
        self.act_back = self._action(tb, "Back one phase", SP.SP_MediaSeekBackward, "Left",
                                     lambda: self.client.send("back_phase"))
        self.act_play = self._action(tb, "Play / pause", SP.SP_MediaPlay, "Space", lambda: self.client.send("toggle"))
        self.act_step = self._action(tb, "Step one phase", SP.SP_MediaSeekForward, "Right",
                                     lambda: self.client.send("step_phase"))
        self.act_step_it = self._action(tb, "Step one iteration", SP.SP_MediaSkipForward, "Shift+Right",
                                        lambda: self.client.send("step_iteration"))
        self._icons = {"play": style.standardIcon(SP.SP_MediaPlay), "pause": style.standardIcon(SP.SP_MediaPause)}
        tb.addWidget(QtWidgets.QLabel("  Speed "))
        self.speed_combo = QtWidgets.QComboBox()
        self.speed_combo.addItems(list(SPEEDS))
        self.speed_combo.setCurrentText("max")
        self.speed_combo.activated.connect(lambda _: self.client.send("speed", self.speed_combo.currentText()))
        tb.addWidget(self.speed_combo)
        tb.addSeparator()
        self.phase_label = SteadyLabel(rich=True)
        tb.addWidget(self.phase_label)

        menu = self.menuBar().addMenu("&File")
        menu.addAction("&Save model…", self.save_model, QtGui.QKeySequence.StandardKey.Save)
        menu.addAction("&Load model…", self.load_model, QtGui.QKeySequence.StandardKey.Open)
        self.open_text_action = menu.addAction("Open &text… (text labs)", self.open_text)
        menu.addSeparator()
        menu.addAction("Save s&ession…", self.save_session)
        menu.addAction("&Open session…", self.open_session)
        menu.addSeparator()
        menu.addAction("Save &screenshot…", self.save_screenshot_dialog)
        menu.addSeparator()
        menu.addAction("&Preferences…", self.edit_preferences)
        menu.addSeparator()
        menu.addAction("&Quit", self.close, QtGui.QKeySequence.StandardKey.Quit)
        lab_menu = self.menuBar().addMenu("&Lab")
        for lab_id, info in LABS.items():
            lab_menu.addAction(info.title, lambda lab_id=lab_id: self.switch_lab(lab_id))
        help_menu = self.menuBar().addMenu("&Help")
        help_menu.addAction("&This lab…", self.show_lab_help, QtGui.QKeySequence.StandardKey.HelpContents)
        help_menu.addAction("&Keys", lambda: QtWidgets.QMessageBox.information(self, "Keys", KEYS_HELP))

        # left: diagram (scrollable) above the settings form
        self.diagram = NetworkDiagram()
        self.diagram.block_clicked.connect(self._block_clicked)
        self.diagram.end_clicked.connect(lambda end: self.view is not None and self.view.show_end(end))
        # a lock on the diagram: a live setting, so going back replays the toggle where it was made
        self.diagram.freeze_toggled.connect(
            lambda name, on: self.client.send("hyper", (f"freeze:{name}", 1.0 if on else 0.0)))
        scroll = QtWidgets.QScrollArea()
        scroll.setWidget(self.diagram)
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(QtCore.Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.settings = SettingsForm()
        self.settings.apply.connect(self._apply_settings)
        self.settings.hyperparam.connect(lambda n, v: self.client.send("hyper", (n, v)))
        left = QtWidgets.QSplitter(QtCore.Qt.Orientation.Vertical)
        self.diagram_box = QtWidgets.QGroupBox("Network — click a block to inspect it")
        self.diagram_box.setToolTip("One box per block, input at the top, the loss at the bottom. The block of "
                                    "the current phase is filled: forward blue, loss red, backward orange, update "
                                    "green; the inspected block is outlined.")
        QtWidgets.QVBoxLayout(self.diagram_box).addWidget(scroll)
        left.addWidget(self.diagram_box)
        left.addWidget(self.settings)
        left.setStretchFactor(0, 3)
        left.setStretchFactor(1, 2)

        self.view_holder = QtWidgets.QStackedWidget()
        self.curves = CurvesPanel()
        self.splitter = QtWidgets.QSplitter(QtCore.Qt.Orientation.Horizontal)
        self.splitter.addWidget(left)
        self.splitter.addWidget(self.view_holder)
        self.splitter.addWidget(self.curves)
        self.splitter.setSizes([260, 860, 380])
        self.curves.setMinimumWidth(300)  # the lab view scrolls before the curves get too narrow to read
        self.splitter.setStretchFactor(1, 1)

        # bottom: timeline
        central = QtWidgets.QWidget()
        v = QtWidgets.QVBoxLayout(central)
        v.setContentsMargins(4, 4, 4, 4)
        v.addWidget(self.splitter, 1)
        self.timeline = Timeline()
        self.timeline.moved.connect(self.curves.set_cursor)  # the curves follow the handle at once
        self.timeline.seek.connect(lambda it: self.client.send("seek", it))
        self.timeline.switch_line.connect(lambda i: self.client.send("switch_line", i))
        self.timeline.cancel.connect(lambda: self.client.send("pause"))
        v.addWidget(self.timeline)
        self.setCentralWidget(central)

        sb = self.statusBar()
        self.status_iter, self.status_speed, self.status_engine = SteadyLabel(), SteadyLabel(), SteadyLabel()
        for w in (self.status_iter, self.status_speed, self.status_engine):
            sb.addPermanentWidget(w)

    def _build_view(self, lab: str):
        view = make_view(lab)
        view.own_size_policy = view.sizePolicy()   # given back when it is on screen (_show_view)
        # intents go to the engine only from the view on screen
        view.command.connect(lambda name, args: view is self.view and self.client.send("command", (name, args)))
        view.select_block.connect(lambda i: view is self.view and self.client.send("select", i))
        view.set_hyperparam.connect(lambda n, v: view is self.view and self.client.send("hyper", (n, v)))
        view.cancel_task.connect(lambda name: view is self.view and self.client.send("cancel_task", name))
        view.apply_settings.connect(lambda values: view is self.view and self._apply_settings(values))
        self.view_holder.addWidget(view)
        tabs = getattr(view, "tabs", None)
        if isinstance(tabs, QtWidgets.QTabWidget):
            tabs.currentChanged.connect(lambda _: view is self.view and self.send_shown())
        return view

    def _show_view(self, view) -> None:
        """The lab's view on screen; the views kept for other labs ask for no room (a stack asks for the
        largest of its pages: after the CNN lab, the MLP lab's view was held 200 px taller than it needs)."""
        ignored = QtWidgets.QSizePolicy(QtWidgets.QSizePolicy.Policy.Ignored, QtWidgets.QSizePolicy.Policy.Ignored)
        for other in self._views_by_lab.values():
            other.setSizePolicy(other.own_size_policy if other is view else ignored)
        self.view_holder.setCurrentWidget(view)
        self.view_holder.updateGeometry()

    def send_shown(self) -> None:
        """Tell the engine what the visible view draws: it computes the block's arrays only for that."""
        if self.view is not None:
            shown = {"block_data": self.view.shows_block_data(), "histograms": self.view.shows_histograms()}
            if shown != getattr(self, "_shown_sent", None):
                self._shown_sent = shown
                self.client.send("view", shown)

    def _block_clicked(self, index: int) -> None:
        self.client.send("select", index)
        if self.view is not None:
            self.view.show_end("")  # back from the input / loss page to the block

    def _action(self, tb, text, pixmap, key, slot) -> QtGui.QAction:
        act = QtGui.QAction(self.style().standardIcon(pixmap), text, self)
        act.setToolTip(f"{text} ({key})")
        act.setShortcut(QtGui.QKeySequence(key))
        act.setShortcutContext(QtCore.Qt.ShortcutContext.WindowShortcut)
        act.triggered.connect(slot)
        tb.addAction(act)
        return act

    # ------------------------------------------------------------------ intents
    def send_configure(self, config: dict) -> None:
        """A new run; the engine-side preferences (disk space for keyframes) go with every one."""
        self.client.send("configure", {**{k: v for k, v in preferences.load().items() if k not in config}, **config})

    def edit_preferences(self) -> None:
        dialog = preferences.PreferencesDialog(self)
        if dialog.exec():
            self.config.update(dialog.values())
            self.statusBar().showMessage("Preferences saved; they take effect with the next run (Apply or a new lab).", 8000)

    def switch_lab(self, lab_id: str) -> None:
        if lab_id != self.lab and not self.confirm_discard(f"Switching to the {LABS[lab_id].title} lab"):
            self.lab_combo.setCurrentIndex(self.lab_combo.findData(self.lab))
            return
        self.send_configure({"lab": lab_id, "seed": self.config.get("seed", 0),
                             "data": self.config.get("data", "shipped")})
        self._prepare_view(lab_id)

    def _prepare_view(self, lab_id: str) -> None:
        """Build a lab's view (once) while its engine starts the run, not after it is ready: a view with its
        plots takes 0.3-0.7 s to build, and the two no longer come one after the other."""
        if lab_id in LABS and lab_id not in self._views_by_lab:
            self._views_by_lab[lab_id] = self._build_view(lab_id)

    def _lab_chosen(self, index: int) -> None:
        lab_id = self.lab_combo.itemData(index)
        if lab_id != self.lab:
            self.switch_lab(lab_id)

    def _engine_chosen(self, index: int) -> None:
        engine = self.engine_combo.itemText(index)
        if engine != self.config.get("engine"):
            if not self.confirm_discard(f"Switching to the {engine} engine"):
                self.engine_combo.setCurrentText(self.config.get("engine", ""))
                return
            self.send_configure(dict(self.config, engine=engine))

    # ------------------------------------------------------------------ asking before discarding a run
    def history_length(self) -> int:
        """Iterations of history the current run holds (what a new run would throw away)."""
        return int(self.last_snapshot["furthest"]) if self.last_snapshot else 0

    def confirm_discard(self, action: str) -> bool:
        """True when there is nothing to lose, or the user agrees to discard the run."""
        n = self.history_length()
        if n == 0:
            return True
        return self.ask("Discard this run?",
                        f"{action} discards this run with {n:,} iterations of history (going back included). "
                        "Discard it? (Cancel keeps it; File → Save session keeps it for later.)")

    def _ask_dialog(self, title: str, text: str) -> bool:
        buttons = QtWidgets.QMessageBox.StandardButton
        answer = QtWidgets.QMessageBox.question(self, title, text, buttons.Discard | buttons.Cancel, buttons.Cancel)
        return answer == buttons.Discard

    def _apply_settings(self, values: dict) -> None:
        self.send_configure(dict(self.config, **values))

    def save_model(self) -> None:
        path, _ = QtWidgets.QFileDialog.getSaveFileName(self, "Save model", f"{self.lab}.npz",
                                                        "Models (*.npz *.pt);;All files (*)")
        if path:
            self.client.send("save", path)

    def load_model(self) -> None:
        path, _ = QtWidgets.QFileDialog.getOpenFileName(self, "Load model", "", "Models (*.npz *.pt);;All files (*)")
        if path and self.confirm_discard("Loading a model"):
            self.client.send("load", path)

    TEXT_LABS = ("char-rnn", "lstm")

    def open_text(self) -> None:
        """Train a text lab on any UTF-8 file (checked in the engine process: bad files get a message)."""
        path, _ = QtWidgets.QFileDialog.getOpenFileName(self, "Open a UTF-8 text file", "", "Text (*.txt);;All files (*)")
        if path and self.confirm_discard("Training on another text"):
            lab = self.lab if self.lab in self.TEXT_LABS else "lstm"
            config = dict(self.config, text=path) if lab == self.lab else {"lab": lab, "text": path,
                                                                              "seed": self.config.get("seed", 0)}
            self.send_configure(config)

    def save_session(self) -> None:
        path, _ = QtWidgets.QFileDialog.getSaveFileName(self, "Save session", f"{self.lab}.stepwise.npz",
                                                        "Stepwise sessions (*.stepwise.npz);;All files (*)")
        if path:
            self.client.send("save_session", path)

    def open_session(self) -> None:
        path, _ = QtWidgets.QFileDialog.getOpenFileName(self, "Open session", "",
                                                        "Stepwise sessions (*.stepwise.npz);;All files (*)")
        if path and self.confirm_discard("Opening a session"):
            self.client.send("open_session", path)

    def save_screenshot_dialog(self) -> None:
        path, _ = QtWidgets.QFileDialog.getSaveFileName(self, "Save screenshot", "stepwise.png", "PNG (*.png)")
        if path:
            self.save_screenshot(path)

    def save_screenshot(self, path: str) -> bool:
        """The window as a PNG, written atomically (a failed write keeps the old file and says why)."""
        try:
            Path(path).expanduser().parent.mkdir(parents=True, exist_ok=True)
        except OSError:
            pass  # check_writable says why, in one sentence
        data = QtCore.QByteArray()
        buffer = QtCore.QBuffer(data)
        buffer.open(QtCore.QIODevice.OpenModeFlag.WriteOnly)
        if not self.grab().save(buffer, "PNG"):
            self.show_error("The window could not be encoded as a PNG; try again.")
            return False
        try:
            atomic_write(path, lambda f: f.write(bytes(data)), "the screenshot")
        except StepwiseError as e:
            self.show_error(str(e))
            return False
        return True

    # ------------------------------------------------------------------ recovery
    def on_died(self, message: str) -> None:
        """The engine process died: say so, and offer to restart it (from the last autosave if any)."""
        self.last_error = message
        self.statusBar().showMessage(message, 15000)
        box = self.restart_box = QtWidgets.QMessageBox(QtWidgets.QMessageBox.Icon.Warning, "Stepwise",
                                                       message, parent=self)
        restart = box.addButton("Restart", QtWidgets.QMessageBox.ButtonRole.AcceptRole)
        restart.setToolTip("a new run of this lab with these settings, from iteration 0")
        restart.clicked.connect(self.restart_engine)
        if self.client.has_autosave():
            resume = box.addButton("Restart from the last autosave", QtWidgets.QMessageBox.ButtonRole.AcceptRole)
            resume.clicked.connect(lambda: self.restart_engine(from_autosave=True))
            box.setDefaultButton(resume)
        box.addButton("Close", QtWidgets.QMessageBox.ButtonRole.RejectRole)
        box.open()

    def restart_engine(self, from_autosave: bool = False) -> None:
        if from_autosave and self.client.has_autosave():
            self.client.restart({"session": self.client.autosave})
        else:
            self.client.restart(dict(self.config))

    def offer_recovery(self) -> None:
        """After a crash (an autosave left behind by a window that is gone): offer to reopen it."""
        left = leftover_autosaves()
        if not left:
            return
        newest = left[0]
        box = self.recovery_box = QtWidgets.QMessageBox(
            QtWidgets.QMessageBox.Icon.Question, "Stepwise",
            "Stepwise did not close cleanly last time; its session was autosaved at "
            f"{time.strftime('%H:%M on %d %b', time.localtime(newest.stat().st_mtime))} ({newest.name}). "
            "Reopen it?", parent=self)
        reopen = box.addButton("Reopen", QtWidgets.QMessageBox.ButtonRole.AcceptRole)
        reopen.clicked.connect(lambda: self.reopen_autosave(newest, left[1:]))
        discard = box.addButton("Discard", QtWidgets.QMessageBox.ButtonRole.DestructiveRole)
        discard.clicked.connect(lambda: self._remove(left))
        box.addButton("Later", QtWidgets.QMessageBox.ButtonRole.RejectRole)
        box.open()

    def reopen_autosave(self, path: Path, others: list[Path] = ()) -> None:
        """Open it as this window's own autosave (so a clean close removes it)."""
        own = self.client.autosave or str(path)
        try:
            os.replace(path, own)
        except OSError:
            own = str(path)
        self._remove(others)
        self.client.send("open_session", own)

    @staticmethod
    def _remove(paths) -> None:
        for p in paths:
            try:
                os.unlink(p)
            except OSError:
                pass

    def show_info(self, text: str) -> None:
        self.statusBar().showMessage(text, 8000)

    def show_lab_help(self) -> None:
        box = QtWidgets.QMessageBox(QtWidgets.QMessageBox.Icon.NoIcon, f"Help — {LABS[self.lab].title}" if self.lab
                                    else "Help", "", parent=self)
        box.setTextFormat(QtCore.Qt.TextFormat.RichText)
        box.setText(lab_help_html(self.lab or ""))
        box.open()
        self.help_box = box

    def show_error(self, message: str) -> None:
        """One clear sentence, in a dialog that does not block; the app and its state stay."""
        self.last_error = message
        self.statusBar().showMessage(message, 15000)
        if self._error_box is None:
            self._error_box = QtWidgets.QMessageBox(QtWidgets.QMessageBox.Icon.Warning, "Stepwise", "", parent=self)
        self._error_box.setText(message)
        self._error_box.open()

    # ------------------------------------------------------------------ rendering
    def on_ready(self, info: dict) -> None:
        self.config = dict(info["config"])
        self._shown_sent = None   # a new engine process may have started: say again what is shown
        self._forget_previous_run()
        lab = info["lab"]
        if lab != self.lab:
            self.lab = lab
            # a lab's view is built once and kept (hidden) when another lab is chosen: switching back
            # costs no widget building (a view with its plots took 0.3-1 s to build)
            self._prepare_view(lab)
            self.view = self._views_by_lab[lab]
            self.curves.setVisible(not self.view.owns_curves)
            self.diagram_box.setVisible(self.view.shows_network)
            self.diagram.set_clickable_ends(self.view.inspects_ends)
            self._show_view(self.view)
        self.send_shown()
        self.lab_combo.setCurrentIndex(self.lab_combo.findData(lab))
        self.engine_combo.clear()
        self.engine_combo.addItems(list(LABS[lab].engines))
        self.engine_combo.setCurrentText(info["engine"])
        self.speed_combo.setCurrentText(info.get("speed", self.speed_combo.currentText()))
        ui = lab_ui(lab)
        options = [o for o in ui.options if not o.engines or info["engine"] in o.engines]
        self.settings.set_options(options, self.config)
        self.settings.clear_live(live_help(lab))   # this lab's declarations (clip: by value or by norm)
        self.diagram.set_blocks(info["blocks"])
        self.curves.clear(info.get("metric_labels"))
        self.setWindowTitle(f"Stepwise — {LABS[lab].title} ({info['engine']} engine)")
        # until the new run's first snapshot is drawn (a new view's first paint), not the old run's phase and status
        self._show_position(0, 0, len(info["phases"]), "ready", "#444", None, playing=False, ips=0.0)
        self.status_engine.setText(f"{info['engine']} engine")
        self.view.on_ready(info)
        cache_axes(self)   # the new view's axes too

    def _forget_previous_run(self) -> None:
        """A new run: no error message or divergence watch left from the one before."""
        if self.last_error is not None and self.statusBar().currentMessage() == self.last_error:
            self.statusBar().clearMessage()
        self.last_error = None
        self._divergence = DivergenceWatch()
        self._divergence_told = False

    def _watch_divergence(self, points: list[tuple[int, dict]]) -> None:
        """Say so when the loss explodes (far above its starting value), and offer to go back."""
        losses = [(int(it), float(m["loss"])) for it, m in points if isinstance(m.get("loss"), (int, float))]
        if not losses:
            return
        watch = self._divergence
        at = next((it for it, loss in losses if watch.add(it, loss)), None)
        if at is None or self._divergence_told:
            return
        back_to = watch.last_fine if watch.last_fine is not None and watch.last_fine < at else 0
        self._divergence_told = True
        self.client.send("pause")
        value = float(np.median(watch.recent)) if np.isfinite(dict(losses)[at]) else dict(losses)[at]
        self.divergence_at = (at, back_to)
        box = self._divergence_box = QtWidgets.QMessageBox(QtWidgets.QMessageBox.Icon.Warning, "The loss exploded",
                                                           "", parent=self)
        shown = f"{fmt(value)} (median of the last few)" if np.isfinite(value) else str(value)
        box.setText(f"At iteration {at:,} the loss reached {shown}, more than "
                    f"{EXPLODED:g}× its starting "
                    f"value {fmt(watch.start or 0.0)}: training diverged, most likely because the learning rate is "
                    f"too large. Go back to iteration {back_to:,} (before it climbed), lower lr, and play again?")
        self._go_back_button = box.addButton(f"Go back to iteration {back_to:,}",
                                             QtWidgets.QMessageBox.ButtonRole.AcceptRole)
        box.addButton("Keep this", QtWidgets.QMessageBox.ButtonRole.RejectRole)
        box.buttonClicked.connect(lambda b: b is self._go_back_button and self.client.send("seek", back_to))
        box.open()

    def on_snapshot(self, snap: dict) -> None:
        self.last_snapshot = snap
        if snap["history_reset"]:
            self.curves.reset()
            self._divergence_told = False
        self.curves.add_points(snap["history"])
        self._watch_divergence(snap["history"])
        self.curves.set_cursor(snap["iteration"])
        if snap.get("blocks") and len(snap["blocks"]) != len(self.diagram.blocks):
            self.diagram.set_blocks(snap["blocks"])
        self.diagram.set_state(snap["active_block"], snap["active_kind"], snap["selected_block"])
        transfer = snap.get("view", {}).get("transfer") or {}
        self.diagram.set_transfer(transfer.get("freezable", ()), transfer.get("frozen", ()),
                                  transfer.get("gradient_stops_at"))
        self.settings.set_live(snap.get("view", {}).get("hyperparams", {}))
        self.act_play.setIcon(self._icons["pause" if snap["playing"] else "play"])
        self.timeline.set_position(snap["iteration"], snap["furthest"])
        if "lines" in snap:
            self.timeline.set_lines(snap["lines"])
            self.curves.set_branches(snap.get("line_curves", {}), {l["id"]: l["label"] for l in snap["lines"]})
        shown_phase = snap["phase"] if snap["phase"] or not snap["iteration"] else snap["phase_count"]
        self._show_position(snap["iteration"], shown_phase, snap["phase_count"], snap["label"],
                            PHASE_COLORS.get(snap["active_kind"], "#444"), snap.get("last_metrics", {}).get("loss"),
                            snap["playing"], snap["ips"])
        self.status_engine.setText(f"{snap['engine']} engine · {snap['keyframes']} keyframes")
        if self.view is not None:
            self.view.set_snapshot(snap)

    def _show_position(self, iteration: int, phase: int, phases: int, label: str, color: str, loss: float | None,
                       playing: bool, ips: float) -> None:
        """The toolbar's phase label and the status bar's position and speed."""
        self.phase_label.setText(f"  <b>phase {phase}/{phases}</b> <span style='color:{color}'>{label}</span>")
        self.status_iter.setText(f"iteration {iteration} · phase {phase}/{phases}"
                                 + (f" · loss {fmt(loss)}" if loss is not None else ""))
        self.status_speed.setText(f"{ips:.0f} it/s" if playing else "paused")

    def on_progress(self, progress: dict) -> None:
        """The engine is replaying to reach an earlier point: say where to and how far it is."""
        self.timeline.set_progress(progress)
        if progress.get("done"):
            self.statusBar().clearMessage()
        else:
            self.statusBar().showMessage(f"{progress['what']} iteration {progress['target']} … "
                                         f"{100 * progress['fraction']:.0f} % (Space or Stop cancels)")

    def closeEvent(self, event) -> None:
        self.client.close()
        super().closeEvent(event)
