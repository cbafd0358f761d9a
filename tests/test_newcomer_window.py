"""What a newcomer meets in the window, with a real engine process: keys after editing a field,
a question before a run is discarded, the update named, messages that do not outlive their
run, divergence announced, the diagram's input and loss boxes."""
import numpy as np
import pytest
from PySide6 import QtCore, QtWidgets
from test_main_window import CONFIG, wait_for, window  # noqa: F401  (the same window fixture, a real engine)

from visualizer.main_window import DivergenceWatch


def test_enter_commits_a_field_and_space_plays(qtbot, window):
    box = window.settings.live["lr"]
    field = box.lineEdit()
    box.setFocus()
    qtbot.waitUntil(field.hasFocus)
    field.selectAll()
    qtbot.keyClicks(box, "0.02")
    assert field.isModified()  # being edited: the keys are the field's
    qtbot.keyClick(box, QtCore.Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: not field.hasFocus())
    wait_for(qtbot, window, lambda s: s["view"]["hyperparams"]["lr"] == pytest.approx(0.02))
    assert box.value() == pytest.approx(0.02)
    # focus back in the committed field (clicked, not typed in): the transport still gets the keys
    box.setFocus()
    qtbot.waitUntil(field.hasFocus)
    assert QtWidgets.QApplication.focusWidget() is box  # keys go to the focus widget, as a real keyboard's do
    qtbot.keyClick(box, QtCore.Qt.Key.Key_Right)
    wait_for(qtbot, window, lambda s: s["phase"] == 1)
    qtbot.keyClick(box, QtCore.Qt.Key.Key_Space)
    wait_for(qtbot, window, lambda s: s["playing"])
    qtbot.keyClick(window, QtCore.Qt.Key.Key_Space)
    wait_for(qtbot, window, lambda s: not s["playing"])
    assert box.value() == pytest.approx(0.02) and field.text().startswith("0.02")


def test_switching_lab_or_loading_asks_before_discarding_history(qtbot, window, monkeypatch):
    asked = []
    window.ask = lambda title, text: asked.append(text) or False
    window.switch_lab("cnn")  # nothing to lose yet: no question
    assert asked == []
    qtbot.waitUntil(lambda: window.lab == "cnn", timeout=30000)
    window.client.send("run_to", 7)
    wait_for(qtbot, window, lambda s: s["iteration"] == 7 and not s["playing"] and s["lab"] == "cnn")
    window.lab_combo.setCurrentIndex(window.lab_combo.findData("mlp"))
    window._lab_chosen(window.lab_combo.currentIndex())
    assert len(asked) == 1 and "7 iterations of history" in asked[0]
    assert window.lab_combo.currentData() == "cnn"  # cancelled: the picker shows the lab that stays
    monkeypatch.setattr(QtWidgets.QFileDialog, "getOpenFileName", lambda *a, **k: ("/tmp/some-model.npz", ""))
    window.load_model()
    assert len(asked) == 2 and asked[1].startswith("Loading a model discards")
    window.client.send("step_iteration")
    wait_for(qtbot, window, lambda s: s["iteration"] == 8)
    assert window.lab == "cnn"


def test_the_update_phase_is_named_and_old_messages_go(qtbot, window):
    n = window.last_snapshot["phase_count"]
    for _ in range(n):
        window.client.send("step_phase")
    wait_for(qtbot, window, lambda s: s["iteration"] == 1 and s["phase"] == 0)
    text = window.phase_label.text()
    assert f"phase {n}/{n}" in text and "update" in text and "applied" in text
    window.client.send("configure", dict(CONFIG, hidden="-5"))  # a failed Apply
    qtbot.waitUntil(lambda: window.last_error is not None, timeout=10000)
    assert window.statusBar().currentMessage() == window.last_error
    window.client.send("configure", dict(CONFIG, hidden="16"))  # then a good one
    wait_for(qtbot, window, lambda s: s["iteration"] == 0 and len(s["blocks"]) == 3)
    assert window.statusBar().currentMessage() == "" and window.last_error is None


def test_divergence_is_found_with_the_iteration_to_go_back_to():
    watch = DivergenceWatch()
    rng = np.random.default_rng(0)
    # batch size 1: single losses swing far beyond 10× the start without any divergence
    noisy = [2.3 * float(np.exp(rng.normal(0, 1.2))) for _ in range(200)]
    assert max(noisy) > 10 * 2.3
    assert not any(watch.add(it, loss) for it, loss in enumerate(noisy, 1))
    watch = DivergenceWatch()
    climbing = [2.3] * 10 + [1.0] * 20 + [3.0, 8.0, 40.0, 300.0, 1e4, 1e8, 1e20]
    found = [it for it, loss in enumerate(climbing, 1) if watch.add(it, loss)]
    assert found and found[0] == 35  # the median of the last five is past 10 × 2.3
    assert watch.last_fine == 32  # the last iteration whose recent median was at most the start
    assert DivergenceWatch().add(1, float("nan"))


def test_an_exploding_loss_is_announced_and_going_back_offered(qtbot, window):
    window.client.send("run_to", 30)
    wait_for(qtbot, window, lambda s: s["iteration"] == 30 and not s["playing"])
    assert window._divergence.last_fine == 30  # the real losses are below their start
    window._divergence.last_fine = 12  # as if the loss had climbed since iteration 12
    window._watch_divergence([(31, {"loss": float("inf")})])
    box = window._divergence_box
    assert box is not None and box.isVisible()
    assert "iteration 31" in box.text() and "inf" in box.text() and "learning rate" in box.text()
    window._go_back_button.click()
    wait_for(qtbot, window, lambda s: s["iteration"] == 12 and s["furthest"] >= 30)
    window._watch_divergence([(33, {"loss": 1e32})])  # told once per run
    assert not window._divergence_box.isVisible()


def test_input_and_loss_boxes_show_the_batch(qtbot, window):
    inspector = window.view.inspector
    qtbot.mouseClick(window.diagram, QtCore.Qt.MouseButton.LeftButton,
                     pos=window.diagram.box_rect(0).center().toPoint())  # "input"
    assert inspector.showing_end()
    qtbot.waitUntil(lambda: "Nothing computed" in inspector.batch.header.text())
    window.client.send("step_phase")
    qtbot.waitUntil(lambda: inspector.batch.images.image.image is not None
                    and inspector.batch.images.image.image.shape[0] > 28, timeout=15000)
    assert "Input" in inspector.batch.header.text()
    rows = len(window.diagram._rows())
    qtbot.mouseClick(window.diagram, QtCore.Qt.MouseButton.LeftButton,
                     pos=window.diagram.box_rect(rows - 1).center().toPoint())  # "loss"
    assert inspector.batch.losses.isVisibleTo(inspector.batch)
    # before the loss phase the loss page says so (it was headed "Input")
    qtbot.waitUntil(lambda: "not computed yet" in inspector.batch.header.text(), timeout=15000)
    window.client.send("step_iteration")
    qtbot.waitUntil(lambda: "softmax cross-entropy" in inspector.batch.header.text(), timeout=15000)
    heights = inspector.batch.losses.curves["positive"].yData
    assert len(heights) == 2 * 64 - 1 and heights.max() > 0  # one bar per example
    qtbot.mouseClick(window.diagram, QtCore.Qt.MouseButton.LeftButton,
                     pos=window.diagram.box_rect(2).center().toPoint())  # a block: back to the block page
    assert not inspector.showing_end()


def test_space_in_a_number_field_being_edited_commits_it_and_plays(qtbot, window):
    """Typing lr 0.02 and pressing Space (no Enter): the value is committed, as Enter commits it, and play
    starts (Space was swallowed, and a second one played on with the old lr while the field read 0.02)."""
    box = window.settings.live["lr"]
    field = box.lineEdit()
    box.setFocus()
    qtbot.waitUntil(field.hasFocus)
    field.selectAll()
    qtbot.keyClicks(box, "0.02")
    assert field.isModified()
    qtbot.keyClick(box, QtCore.Qt.Key.Key_Space)
    wait_for(qtbot, window, lambda s: s["playing"] and s["view"]["hyperparams"]["lr"] == pytest.approx(0.02))
    assert box.value() == pytest.approx(0.02) and not field.hasFocus()
    qtbot.keyClick(window, QtCore.Qt.Key.Key_Space)
    wait_for(qtbot, window, lambda s: not s["playing"])
