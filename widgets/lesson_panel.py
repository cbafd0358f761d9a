"""The lesson's side panel (Back / Next, the step's text, predict then reveal) and the highlight
(a coloured frame and a callout over a named panel of the window).

Plain data in (``show_step``), intents out (``back``, ``next``, ``revealed``); it knows nothing of
engines or lessons' files.

    python -m widgets.lesson_panel      # runs alone with a fake step
"""
from __future__ import annotations

from PySide6 import QtCore, QtGui, QtWidgets

HIGHLIGHT = QtGui.QColor("#E45756")


class LessonPanel(QtWidgets.QWidget):
    back = QtCore.Signal()
    next = QtCore.Signal()
    revealed = QtCore.Signal(str)     # the student's guess
    closed = QtCore.Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setMinimumWidth(260)
        v = QtWidgets.QVBoxLayout(self)
        v.setContentsMargins(6, 4, 6, 4)
        top = QtWidgets.QHBoxLayout()
        self.lesson_title = QtWidgets.QLabel()
        self.lesson_title.setWordWrap(True)
        self.lesson_title.setTextFormat(QtCore.Qt.TextFormat.RichText)
        top.addWidget(self.lesson_title, 1)
        self.close_button = QtWidgets.QToolButton()
        self.close_button.setText("✕")
        self.close_button.setToolTip("Close the lesson (the run stays as it is)")
        self.close_button.clicked.connect(self.closed)
        top.addWidget(self.close_button, 0, QtCore.Qt.AlignmentFlag.AlignTop)
        v.addLayout(top)
        self.counter = QtWidgets.QLabel()
        v.addWidget(self.counter)
        self.step_title = QtWidgets.QLabel()
        self.step_title.setWordWrap(True)
        self.step_title.setTextFormat(QtCore.Qt.TextFormat.RichText)
        v.addWidget(self.step_title)
        self.text = QtWidgets.QTextBrowser()
        self.text.setOpenExternalLinks(True)
        v.addWidget(self.text, 3)
        self.ask_box = QtWidgets.QGroupBox("Predict first")
        a = QtWidgets.QVBoxLayout(self.ask_box)
        self.question = QtWidgets.QLabel()
        self.question.setWordWrap(True)
        a.addWidget(self.question)
        self.guess = QtWidgets.QLineEdit()
        self.guess.setPlaceholderText("Your prediction (optional)")
        a.addWidget(self.guess)
        self.reveal_button = QtWidgets.QPushButton("Reveal")
        self.reveal_button.setToolTip("Show the answer (Next also reveals it first)")
        self.reveal_button.clicked.connect(self.reveal)
        a.addWidget(self.reveal_button)
        self.answer = QtWidgets.QTextBrowser()
        self.answer.setVisible(False)
        a.addWidget(self.answer, 2)
        v.addWidget(self.ask_box, 2)
        self.busy = QtWidgets.QLabel("The engine is getting there…")
        self.busy.setStyleSheet("color: #777")
        v.addWidget(self.busy)
        row = QtWidgets.QHBoxLayout()
        self.back_button = QtWidgets.QPushButton("◀ Back")
        self.back_button.setToolTip("The previous step, exactly as it was (the run goes back in time)")
        self.back_button.clicked.connect(self.back)
        self.next_button = QtWidgets.QPushButton("Next ▶")
        self.next_button.setToolTip("The next step")
        self.next_button.clicked.connect(self._next_clicked)
        row.addWidget(self.back_button)
        row.addWidget(self.next_button)
        v.addLayout(row)
        self.has_answer = False

    def set_lesson(self, title: str) -> None:
        self.lesson_title.setText(f"<b>Lesson:</b> {title}")

    def show_step(self, index: int, count: int, title: str, html: str, ask: str | None = None,
                  answer_html: str = "") -> None:
        self.counter.setText(f"Step {index + 1} of {count}")
        self.step_title.setText(f"<h3>{title}</h3>")
        self.text.setHtml(html)
        self.ask_box.setVisible(ask is not None)
        self.question.setText(ask or "")
        self.guess.clear()
        self.answer.setHtml(answer_html)
        self.answer.setVisible(False)
        self.reveal_button.setEnabled(True)
        self.has_answer = ask is not None
        self.back_button.setEnabled(index > 0)
        self.next_button.setEnabled(index + 1 < count)

    def set_busy(self, busy: bool) -> None:
        self.busy.setVisible(busy)

    @property
    def answer_shown(self) -> bool:
        return not self.has_answer or not self.answer.isHidden()

    def reveal(self) -> None:
        if self.has_answer and self.answer.isHidden():
            self.answer.setVisible(True)
            self.reveal_button.setEnabled(False)
            self.revealed.emit(self.guess.text())

    def _next_clicked(self) -> None:
        if not self.answer_shown:  # predict, then see, then go on
            self.reveal()
            return
        self.next.emit()


class Highlight(QtWidgets.QWidget):
    """A frame around ``target`` and a callout beside it, drawn over ``host`` (the window)."""

    def __init__(self, host: QtWidgets.QWidget):
        super().__init__(host)
        self.setAttribute(QtCore.Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.target: QtWidgets.QWidget | None = None
        self.callout = QtWidgets.QLabel(host)
        self.callout.setWordWrap(True)
        self.callout.setTextFormat(QtCore.Qt.TextFormat.RichText)
        self.callout.setStyleSheet(f"background: #FFF6E0; border: 2px solid {HIGHLIGHT.name()}; "
                                   "border-radius: 6px; padding: 6px; color: #222;")
        self.callout.setAttribute(QtCore.Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.callout.hide()
        self.hide()
        self._timer = QtCore.QTimer(self)   # follows the target when the layout moves
        self._timer.timeout.connect(self.place)
        self._timer.start(200)

    def show_on(self, target: QtWidgets.QWidget | None, text: str = "") -> None:
        self.target = target
        self.callout.setFont(QtWidgets.QApplication.font())  # a styled label misses application font changes
        self.callout.setText(text)
        self.place()

    def clear(self) -> None:
        self.show_on(None)

    def frame_rect(self) -> QtCore.QRect | None:
        t = self.target
        if t is None or not t.isVisible():
            return None
        host = self.parentWidget()
        rect = QtCore.QRect(t.mapTo(host, QtCore.QPoint(0, 0)), t.size())
        parent = t.parentWidget()
        while parent is not None and parent is not host:  # only the part that shows (scroll areas clip)
            if isinstance(parent, QtWidgets.QAbstractScrollArea):
                view = parent.viewport()
                rect = rect.intersected(QtCore.QRect(view.mapTo(host, QtCore.QPoint(0, 0)), view.size()))
            parent = parent.parentWidget()
        if rect.isEmpty():
            return None
        return rect.adjusted(-3, -3, 3, 3)

    def place(self) -> None:
        rect = self.frame_rect()
        host = self.parentWidget()
        if rect is None:
            self.hide()
            self.callout.hide()
            return
        self.setGeometry(host.rect())
        self.raise_()
        self.show()
        if self.callout.text():
            width = min(360, max(260, rect.width() - 20))
            self.callout.setFixedWidth(width)
            self.callout.adjustSize()
            h = self.callout.height()
            x = min(max(4, rect.left() + 12), host.width() - width - 4)
            # inside the frame at its foot when it is tall (the panel's title stays readable), else above it
            y = rect.bottom() - h - 12 if rect.height() > 3 * h else max(4, rect.top() - h - 6)
            self.callout.move(x, y)
            self.callout.raise_()
            self.callout.show()
        else:
            self.callout.hide()
        self.update()

    def paintEvent(self, event) -> None:
        rect = self.frame_rect()
        if rect is None:
            return
        p = QtGui.QPainter(self)
        p.setRenderHint(QtGui.QPainter.RenderHint.Antialiasing)
        p.setPen(QtGui.QPen(HIGHLIGHT, 4))
        p.drawRoundedRect(QtCore.QRectF(rect), 6, 6)
        p.end()


if __name__ == "__main__":  # python -m widgets.lesson_panel [--screenshot PATH]
    from .demo import run_demo

    def build() -> QtWidgets.QWidget:
        w = QtWidgets.QWidget()
        lay = QtWidgets.QHBoxLayout(w)
        target = QtWidgets.QLabel("a panel")
        target.setMinimumSize(300, 200)
        panel = LessonPanel()
        lay.addWidget(target)
        lay.addWidget(panel)
        panel.set_lesson("A fake lesson")
        panel.show_step(1, 5, "Watch the loss", "<p>The loss goes <b>down</b>.</p>", "Up or down?", "<p>Down.</p>")
        hl = Highlight(w)
        w.show()
        hl.show_on(target, "This is the panel the step is about.")
        return w

    run_demo(build, (800, 400))
