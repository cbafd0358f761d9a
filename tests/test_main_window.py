"""The window with a real engine process: keys step exactly, errors keep the state."""
import pytest
from PySide6 import QtCore

from visualizer.main_window import MainWindow
from widgets.common import configure_pyqtgraph

CONFIG = {"lab": "mlp", "seed": 0, "hidden": "32,16"}


@pytest.fixture
def window(qtbot):
    configure_pyqtgraph()
    w = MainWindow(dict(CONFIG))
    qtbot.addWidget(w)
    w.show()
    qtbot.waitUntil(lambda: w.last_snapshot is not None, timeout=30000)
    yield w
    w.close()


def wait_for(qtbot, window, predicate, timeout=15000):
    qtbot.waitUntil(lambda: window.last_snapshot is not None and predicate(window.last_snapshot), timeout=timeout)


def test_keys_step_phase_by_phase_and_back(qtbot, window):
    assert window.diagram.blocks and window.lab == "mlp"
    qtbot.keyClick(window, QtCore.Qt.Key.Key_Right)
    wait_for(qtbot, window, lambda s: s["phase"] == 1)
    assert window.last_snapshot["active_kind"] == "forward"
    qtbot.keyClick(window, QtCore.Qt.Key.Key_Right)
    qtbot.keyClick(window, QtCore.Qt.Key.Key_Right)
    wait_for(qtbot, window, lambda s: s["phase"] == 3)
    qtbot.keyClick(window, QtCore.Qt.Key.Key_Left)
    wait_for(qtbot, window, lambda s: s["phase"] == 2)
    qtbot.keyClick(window, QtCore.Qt.Key.Key_Right, QtCore.Qt.KeyboardModifier.ShiftModifier)
    wait_for(qtbot, window, lambda s: s["iteration"] == 1 and s["phase"] == 0)
    assert "iteration 1" in window.status_iter.text()


def test_play_pause_and_timeline(qtbot, window):
    window.client.send("run_to", 40)
    wait_for(qtbot, window, lambda s: s["iteration"] == 40 and not s["playing"])
    assert window.timeline.slider.maximum() == 40
    assert window.curves.latest("loss") is not None
    window.timeline.slider.setValue(10)  # dragging the timeline seeks (throttled)
    wait_for(qtbot, window, lambda s: s["iteration"] == 10)
    assert window.last_snapshot["furthest"] == 40


def test_bad_settings_show_a_message_and_keep_the_run(qtbot, window):
    window.client.send("step_iteration")
    wait_for(qtbot, window, lambda s: s["iteration"] == 1)
    window.client.send("configure", dict(CONFIG, hidden="-5"))
    qtbot.waitUntil(lambda: window.last_error is not None, timeout=10000)
    assert "Hidden size -5" in window.last_error
    window.client.send("step_iteration")
    wait_for(qtbot, window, lambda s: s["iteration"] == 2)  # still alive, state intact


def test_clicking_a_block_selects_it(qtbot, window):
    assert window.last_snapshot["selected_block"] == 1  # the first block with weights
    rect = window.diagram.box_rect(3)  # row 0 is the input; row 3 is block 2
    qtbot.mouseClick(window.diagram, QtCore.Qt.MouseButton.LeftButton, pos=rect.center().toPoint())
    wait_for(qtbot, window, lambda s: s["selected_block"] == 2)
