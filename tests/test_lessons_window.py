"""Every shipped lesson runs end to end in the window with a real engine process (a test scale
keeps the iterations few; every directive still executes and its target must exist), and Back
returns to a step's state exactly."""
import pytest

from test_main_window import window  # noqa: F401 — the same real window
from visualizer.lessons import shipped_lessons

SCALE = 0.02  # @run 300 -> 6 iterations


def open_lesson(qtbot, window, path):
    """Open a lesson; it goes to its first step by itself."""
    with qtbot.waitSignal(window.client.ready, timeout=60000):  # the lesson's lab starts
        controller = window.open_lesson(str(path), scale=SCALE)
    if controller.index != 0 or controller.panel.busy.isVisible():
        qtbot.waitUntil(lambda: controller.index == 0 and not controller.panel.busy.isVisible(), timeout=120000)
    assert controller.error is None, controller.error
    return controller


def go(qtbot, controller, k, timeout=120000):
    try:
        with qtbot.waitSignal(controller.arrived, timeout=timeout, check_params_cb=lambda i: i == k):
            controller.goto(k)
    except Exception:
        snap = controller.window.last_snapshot
        raise AssertionError(f"step {k} not reached: queue {controller.queue}, expecting {controller.expect}, "
                             f"select {controller.expect_select}, awaiting ready {controller.awaiting_ready}, "
                             f"error {controller.error}, at {snap['iteration']}:{snap['phase']} playing {snap['playing']}") from None
    assert controller.error is None, controller.error


def check_step(window, controller, k):
    snap = window.last_snapshot
    plan = controller.runner.plan(k, snap["phase_count"])
    assert snap["iteration"] * snap["phase_count"] + snap["phase"] == plan.target
    assert snap["lab"] == plan.config["lab"]
    step = plan.step
    if plan.select is not None:
        assert snap["selected_block"] == plan.select
    if step.tab:
        from visualizer.lesson_controller import find_tab
        tabs, i = find_tab(window.view, step.tab)
        assert tabs.currentIndex() == i
    if step.highlight:
        assert controller.highlight.target is not None and controller.highlight.target.isVisible()
        assert controller.highlight.isVisible()
    assert window.last_error is None, window.last_error


@pytest.mark.parametrize("path", shipped_lessons(), ids=lambda p: p.stem)
def test_shipped_lesson_runs_end_to_end(qtbot, window, path):
    controller = open_lesson(qtbot, window, path)
    check_step(window, controller, 0)
    for k in range(1, len(controller.lesson.steps)):
        go(qtbot, controller, k)
        check_step(window, controller, k)


def test_back_returns_to_the_step_exactly_by_going_back_in_time(qtbot, window):
    path = next(p for p in shipped_lessons() if p.stem == "mlp")
    controller = open_lesson(qtbot, window, path)
    last = len(controller.lesson.steps) - 1
    seen = {}
    for k in range(last + 1):
        if k:
            go(qtbot, controller, k)
        seen[k] = (window.last_snapshot["iteration"], window.last_snapshot["phase"],
                   dict(window.last_snapshot["last_metrics"]))
    readies = []
    window.client.ready.connect(readies.append)
    for k in range(last - 1, -1, -1):  # Back all the way: the same states, without a new run
        go(qtbot, controller, k)
        snap = window.last_snapshot
        assert (snap["iteration"], snap["phase"]) == seen[k][:2]
        if snap["iteration"] == seen[k][0] and snap["phase"] == 0 and snap["iteration"]:
            assert snap["last_metrics"]["loss"] == seen[k][2]["loss"]  # bit-identical
    assert readies == [], "Back should go back in time, not start the lab again"


def test_a_lesson_with_a_missing_panel_says_so(qtbot, window, tmp_path):
    bad = tmp_path / "bad.md"
    bad.write_text("# Bad\n\n## One\n@lab mlp seed=0 hidden=16\n@highlight view.no_such_panel | x\n", encoding="utf-8")
    controller = window.open_lesson(str(bad))
    with qtbot.waitSignal(controller.failed, timeout=60000) as blocker:
        pass
    assert "no panel 'view.no_such_panel'" in blocker.args[0]
    assert window.last_error == blocker.args[0]


def test_a_lesson_records_as_an_mp4_one_frame_per_step(qtbot, window, tmp_path):
    from visualizer.export import LessonRecorder
    path = next(p for p in shipped_lessons() if p.stem == "optimizers")
    controller = open_lesson(qtbot, window, path)
    recorder = LessonRecorder(window, controller, str(tmp_path / "lesson.mp4"), seconds=1.0, scale=0.5)
    with qtbot.waitSignal(recorder.finished, timeout=180000):
        recorder.start()
    import imageio.v3 as iio
    frames = iio.imread(tmp_path / "lesson.mp4", index=None)
    assert frames.shape[0] == len(controller.lesson.steps)
    assert frames.shape[1] == window.height() // 2 // 2 * 2  # half size, even for the encoder
