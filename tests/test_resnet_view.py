"""The residual lab's view, fed synthetic snapshots (no engine)."""
import numpy as np
import pytest

from widgets.style import configure_pyqtgraph
from widgets.resnet_view import ResNetView, fake_snapshot, log10_positive


@pytest.fixture
def view(qtbot):
    configure_pyqtgraph()
    w = ResNetView()
    qtbot.addWidget(w)
    w.resize(900, 850)
    w.show()
    return w


def test_gradient_flow_panels_share_one_log_scale(view):
    snap = fake_snapshot(iteration=60)
    view.set_snapshot(snap)
    res, plain = view.flow.panels
    assert res.plot.getViewBox().viewRange()[1] == pytest.approx(plain.plot.getViewBox().viewRange()[1])
    runs = snap["view"]["runs"]
    # bars hold log10 values above a common floor
    floor = res.skip.opts["y0"]
    np.testing.assert_allclose(np.asarray(res.skip.opts["height"]) + floor, log10_positive(runs[0]["grad_skip"]))
    np.testing.assert_allclose(np.asarray(res.branch.opts["height"]) + floor, log10_positive(runs[0]["grad_branch"]))
    assert not np.asarray(plain.skip.opts["height"]).any()  # the plain net has no skip path: no skip bars
    x, y = res.total.getData()
    assert len(x) == 9 and np.allclose(y, np.log10(runs[0]["grad_total"]))
    assert len(plain.init.getData()[0]) == 9
    assert "smaller" in view.flow.header.text()
    assert "no skip path" in plain.caption.text()
    assert plain.isVisibleTo(view)


def test_history_curves_and_reset(view):
    view.set_snapshot(fake_snapshot(iteration=60))
    curve = view.flow.curves["_plain_grad_first"]
    assert len(curve.getData()[0]) == 60
    assert "plain_heldout_accuracy" not in view.compare.curves   # a tab not shown draws nothing...
    view.tabs.setCurrentWidget(view.compare)                     # ...until it is shown
    acc = view.compare.curves["plain_heldout_accuracy"]
    assert list(acc.getData()[1]) == [0.45]
    assert "held-out accuracy 0.450" in view.compare.summary.text()
    view.tabs.setCurrentWidget(view.flow)
    view.set_snapshot(fake_snapshot(iteration=10))  # history_reset: the curves start over
    assert len(view.flow.curves["_grad_first"].getData()[0]) == 10
    assert "plain_heldout_accuracy" not in view.series


def test_stale_blocks_are_faded_while_backward_runs(view):
    view.set_snapshot(fake_snapshot(fresh_upto=5))
    res = view.flow.panels[0]
    brushes = res.skip.opts["brushes"]
    assert brushes[0].color().alpha() < 255 and brushes[-1].color().alpha() == 255
    assert "previous iteration" in res.caption.text()


def test_step_sizes_and_optimizer_mode(view):
    view.set_snapshot(fake_snapshot(mode="optimizer"))
    assert "optimizer" in view.flow.header.text() and "adamax" in view.flow.header.text()
    assert view.flow.panels[1].isVisibleTo(view)
    view.tabs.setCurrentWidget(view.compare)
    x, y = view.compare.hist_items[1].getData()
    assert y.sum() > 0
    assert len(view.compare.scatter.data) > 0
    assert "Per-parameter step sizes" in view.compare.step_title.text()


def test_ratio_tab_and_inspector_tab(view):
    snap = fake_snapshot()
    view.set_snapshot(snap)
    view.tabs.setCurrentWidget(view.ratios)
    x, y = view.ratios.items[1].getData()
    np.testing.assert_allclose(y, np.log10(snap["view"]["runs"][1]["ratios"]))
    view.tabs.setCurrentWidget(view.inspector)  # renders the shared inspector from the last snapshot
    assert "Inspecting" in view.inspector.header.text()


def test_single_run_hides_the_second_panel(view):
    snap = fake_snapshot()
    snap["view"]["runs"] = snap["view"]["runs"][:1]
    snap["view"]["mode"] = "none"
    view.set_snapshot(snap)
    assert not view.flow.panels[1].isVisibleTo(view)


def test_run_controls_ask_for_a_new_run(view, qtbot):
    view.on_ready({"config": {"lab": "resnet", "depth": 32, "norm": "bn"}, "engine": "torch"})
    controls = view.flow.controls
    assert controls.depth.currentText() == "32" and controls.norm.currentText() == "bn"
    controls.skips.setChecked(False)
    controls.depth.setCurrentText("56")
    with qtbot.waitSignal(view.apply_settings) as blocker:
        controls.button.click()
    assert blocker.args[0] == {"plain": True, "depth": 56, "norm": "bn"}
    view.on_ready({"config": {"lab": "resnet"}, "engine": "numpy"})
    assert controls.depth.currentText() == "10" and not controls.norm.isVisibleTo(view)
    view.on_ready({"config": {"lab": "resnet", "arch": "resnet50"}, "engine": "torch"})
    assert not controls.isVisibleTo(view)


def test_in_the_window_with_a_real_engine(qtbot):
    from visualizer.main_window import MainWindow
    configure_pyqtgraph()
    w = MainWindow({"lab": "resnet", "seed": 0, "depth": 8, "batch_size": 8})
    qtbot.addWidget(w)
    w.show()
    try:
        qtbot.waitUntil(lambda: w.last_snapshot is not None, timeout=60000)
        w.client.send("step_iteration")
        qtbot.waitUntil(lambda: w.last_snapshot["iteration"] == 1, timeout=60000)
        flow = w.view.flow
        assert len(flow.panels[0].total.getData()[0]) == 3 and len(flow.panels[1].total.getData()[0]) == 3
        assert "smaller" in flow.header.text() or "larger" in flow.header.text()
        flow.controls.skips.setChecked(False)  # a new run from the same init, the first run now plain
        flow.controls.button.click()
        qtbot.waitUntil(lambda: w.config.get("plain") is True and w.last_snapshot["iteration"] == 0, timeout=60000)
        w.client.send("step_iteration")
        qtbot.waitUntil(lambda: w.last_snapshot["iteration"] == 1, timeout=60000)
        assert not w.last_snapshot["view"]["runs"][0]["skip"]
    finally:
        w.close()


def test_while_playing_the_panels_draw_a_few_times_a_second_and_at_once_on_a_pause(view):
    playing = fake_snapshot(iteration=60)
    playing["playing"] = True
    view.set_snapshot(playing)
    first = view.flow.panels[0].total.getData()[1].copy()
    again = fake_snapshot(iteration=61)
    again["playing"], again["history_reset"], again["history"] = True, False, []
    again["view"]["runs"][0]["grad_total"] = again["view"]["runs"][0]["grad_total"] * 10
    view.set_snapshot(again)   # within the refresh period: not drawn
    assert np.allclose(view.flow.panels[0].total.getData()[1], first)
    paused = fake_snapshot(iteration=61)
    paused["playing"], paused["history_reset"], paused["history"] = False, False, []
    paused["view"]["runs"][0]["grad_total"] = again["view"]["runs"][0]["grad_total"]
    view.set_snapshot(paused)  # a pause draws at once
    assert np.allclose(view.flow.panels[0].total.getData()[1], np.log10(paused["view"]["runs"][0]["grad_total"]))
