"""The window with a real engine process: keys step exactly, errors keep the state."""
import pytest
from PySide6 import QtCore

from visualizer.main_window import MainWindow
from widgets.style import configure_pyqtgraph

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


def test_going_back_a_long_way_shows_progress_and_a_killed_engine_gets_a_clear_message(qtbot, window):
    interval = 2048
    window.client.send("configure", dict(CONFIG, keyframe_interval=interval))
    window.client.send("run_to", interval + 50)
    wait_for(qtbot, window, lambda s: s["iteration"] == interval + 50 and not s["playing"], timeout=60000)
    progress = []
    window.client.progress.connect(progress.append)
    window.client.send("seek", interval - 1)  # the far end of a gap between two keyframes
    qtbot.waitUntil(lambda: bool(progress), timeout=20000)
    assert not progress[0].get("done"), "the replay should have been long enough to show progress"
    if True:  # mid-replay: the window says where to and how far
        assert window.timeline.progress.isVisible()
        assert "going back to iteration" in window.statusBar().currentMessage()
        window.client.process.kill()
        qtbot.waitUntil(lambda: window.last_error is not None, timeout=10000)
        assert "stopped unexpectedly" in window.last_error
        assert window.isVisible()


def test_a_branch_shows_on_the_timeline_and_in_the_curves(qtbot, window):
    window.client.send("run_to", 60)
    wait_for(qtbot, window, lambda s: s["iteration"] == 60 and not s["playing"])
    window.client.send("seek", 20)
    wait_for(qtbot, window, lambda s: s["iteration"] == 20)
    window.client.send("hyper", ("lr", 0.2))
    window.client.send("run_to", 40)
    wait_for(qtbot, window, lambda s: s["iteration"] == 40 and not s["playing"])
    bar = window.timeline.branches
    assert bar.isVisible() and [l["label"] for l in bar.lines] == ["lr 0.05", "lr 0.2 from iteration 20"]
    names = [item.name() for _, item in window.curves.branch_items]
    assert "branch lr 0.05 (dashed)" in names
    assert sum(n is not None for n in names) <= 2   # one legend entry per branch and plot, not one per metric
    bar.clicked.emit(0)  # back to the first run, at the same iteration
    wait_for(qtbot, window, lambda s: s["line"] == 0 and s["furthest"] == 60)
    assert [l["current"] for l in window.timeline.branches.lines] == [True, False]


def test_the_disk_budget_preference_goes_with_every_new_run(qtbot, window):
    from visualizer import preferences
    preferences.settings().setValue("keyframe_disk_gb", 0.5)
    try:
        sent = []
        original = window.client.send
        window.client.send = lambda cmd, arg=None: (sent.append((cmd, arg)), original(cmd, arg))
        window.switch_lab("mlp")
        assert sent[-1][0] == "configure" and sent[-1][1]["keyframe_disk_gb"] == 0.5
        dialog = preferences.PreferencesDialog(window)
        assert dialog.fields["keyframe_disk_gb"].value() == 0.5 and dialog.fields["keyframe_disk_gb"].toolTip()
    finally:
        preferences.settings().remove("keyframe_disk_gb")


def test_the_handle_stays_where_it_was_released_while_earlier_answers_arrive(qtbot, window):
    timeline = window.timeline
    window.client.send("run_to", 30)
    wait_for(qtbot, window, lambda s: s["iteration"] == 30 and not s["playing"])
    timeline.slider.setSliderDown(True)
    timeline.slider.setValue(20)      # dragging: a throttled seek to 20 goes out at once
    timeline.slider.setValue(5)
    timeline.slider.setSliderDown(False)
    timeline._released()
    timeline.set_position(20, 30)     # the answer to the earlier seek comes in
    assert timeline.slider.value() == 5 and "iteration 5" in timeline.label.text()
    wait_for(qtbot, window, lambda s: s["iteration"] == 5)
    timeline.set_position(5, 30)
    assert timeline._pending is None


def test_a_new_lab_shows_its_own_phase_and_status_before_its_first_frame(qtbot, window):
    """Between "ready" and the new run's first snapshot (a new view's first paint) the toolbar and status bar
    must not show the old run's phase, loss and engine."""
    window.client.send("run_to", 5)
    wait_for(qtbot, window, lambda s: s["iteration"] == 5 and not s["playing"])
    seen = {}
    window.client.ready.connect(lambda info: seen.setdefault("labels", (
        len(info["phases"]), window.phase_label.text(), window.status_iter.text(), window.status_speed.text())))
    window.ask = lambda title, text: True
    window.switch_lab("optimizers")
    qtbot.waitUntil(lambda: "labels" in seen, timeout=30000)
    n, phase, status, speed = seen["labels"]
    assert f"phase 0/{n}" in phase and "iteration 0" in status and "loss" not in status and speed == "paused"
    wait_for(qtbot, window, lambda s: s["lab"] == "optimizers")


def test_a_lab_view_kept_for_later_takes_no_room_from_the_lab_on_screen(qtbot, window):
    """The views of labs visited before stay built (hidden); the lab on screen is laid out at its own size,
    not at the largest of them (after the CNN lab the MLP's view was held 200 px taller and the window
    scrolled)."""
    mlp = window.view
    window._prepare_view("cnn")
    cnn = window._views_by_lab["cnn"]
    assert cnn.minimumSizeHint().height() > mlp.minimumSizeHint().height()
    window._show_view(cnn)
    window._show_view(mlp)
    assert window.view_holder.minimumSizeHint() == mlp.minimumSizeHint()
    window._show_view(cnn)
    assert window.view_holder.minimumSizeHint() == cnn.minimumSizeHint()
