"""The text labs' view with synthetic snapshots: heatmaps aligned under the characters, the gradient
through time, hovering, streamed generation coloured by a unit, the prompt check, live samples."""
import numpy as np
import pytest
from PySide6 import QtCore

from widgets.style import configure_pyqtgraph
from widgets.text_cells import CharAxis
from widgets.text_view import TASK, TextView, fake_snapshot


@pytest.fixture
def view(qtbot):
    configure_pyqtgraph()
    v = TextView()
    qtbot.addWidget(v)
    v.resize(1000, 800)
    v.show()
    return v


def test_lstm_heatmaps_and_gradient_through_time(view):
    snap = fake_snapshot("lstm", T=30, H=24, phase_step=10)
    view.set_snapshot(snap)
    rows = view.sequence.rows
    assert set(rows) == {"i", "f", "g", "o", "c", "h", "dh", "dh_norm", "nll"}
    for name in ("i", "f", "g", "o", "c", "h", "dh"):
        assert rows[name]["image"].image.shape == (24, 30)        # units × time
    assert rows["f"]["image"].levels.tolist() == [0.0, 1.0]       # gates on a fixed 0…1 scale
    lo, hi = rows["c"]["image"].levels
    assert -lo == hi > 0                                          # the cell state: symmetric levels
    x, y = rows["dh_norm"]["curve"].getData()
    assert len(x) == 20 and x.min() == 10.5                        # steps not reached yet are left out
    assert rows["dh"]["cursor"].isVisible() and rows["dh"]["cursor"].value() == 10
    assert "clipping fired" in rows["dh_norm"]["plot"].titleLabel.text
    axis = rows["nll"]["axis"]
    assert isinstance(axis, CharAxis) and axis.tickStrings([0.5, 5.5, 14.5], 1, 1) == ["F", "␣", "⏎"]


def test_hover_shows_one_characters_values(view):
    view.set_snapshot(fake_snapshot("lstm"))
    view.sequence.set_hover(3)
    text = view.sequence.info.text()
    assert "t = 3" in text and "'s'" in text and "f: mean" in text and "loss" in text
    assert view.sequence.rows["h"]["hover"].isVisible()
    view.sequence.set_hover(-1)
    assert not view.sequence.rows["h"]["hover"].isVisible()


def test_char_rnn_shows_the_hidden_state(view):
    view.set_snapshot(fake_snapshot("rnn", T=25, H=16, phase_step=None))
    rows = view.sequence.rows
    assert set(rows) == {"h", "dh", "dh_norm", "nll"}
    assert rows["h"]["image"].image.shape == (16, 25)
    assert view.generator.signal.count() == 1


def test_generation_streams_and_colours_by_unit(qtbot, view):
    view.set_snapshot(fake_snapshot("lstm", H=24))
    sent = []
    view.command.connect(lambda name, args: sent.append((name, args)))
    gen = view.generator
    gen.prompt.setText("ROMEO:")
    gen.button.click()
    assert sent and sent[0][0] == TASK and sent[0][1]["prompt"] == "ROMEO:" and gen.running
    rng = np.random.default_rng(0)

    def acts(n):
        return {k: rng.uniform(-1, 1, (n, 2, 24)).astype(np.float32) for k in ("i", "f", "g", "o", "c", "h")}

    view.on_task(TASK, {"text": "ROMEO:", "activations": acts(6), "prompt": True, "start": 0})
    view.on_task(TASK, {"text": "\nWhat", "activations": acts(5), "prompt": False, "start": 6})
    view.on_task(TASK, {"done": True, "length": 5})
    assert gen.text.toPlainText() == "ROMEO:\nWhat" and not gen.running
    assert "5 characters" in gen.status.text()
    # each character has the colour of the chosen unit's value
    gen.signal.setCurrentIndex(gen.signal.findData("h"))
    gen.layer.setValue(2)
    gen.unit.setValue(7)
    doc = gen.text.document()
    colours = []
    block = doc.begin()
    while block.isValid():
        it = block.begin()
        while not it.atEnd():
            frag = it.fragment()
            colours += [frag.charFormat().background().color().name()] * frag.length()
            it += 1
        block = block.next()
    expected = [gen._colour(gen._value(k), gen._levels()).name() for k in range(len(gen.chars)) if gen.chars[k] != "\n"]
    assert [c for c, ch in zip(colours, [ch for ch in gen.chars if ch != "\n"])] == expected
    gen.show_char_at(2)
    assert "character 1" in gen.hover_label.text() and gen.gates_img.image.shape == (6, 24, 3)
    gen.pick_varied_unit()
    assert 0 <= gen.unit.value() < 24


def test_prompt_outside_the_vocabulary_is_refused_in_the_view(view):
    view.set_snapshot(fake_snapshot("lstm"))
    sent = []
    view.command.connect(lambda name, args: sent.append(name))
    view.generator.prompt.setText("¿Qué?")
    view.generator.button.click()
    assert not sent and "never saw" in view.generator.status.text()


def test_stop_cancels_and_live_samples_appear(view):
    view.set_snapshot(fake_snapshot("lstm"))
    cancelled = []
    view.cancel_task.connect(cancelled.append)
    view.generator.button.click()
    view.generator.button.click()          # Stop
    assert cancelled == [TASK] and not view.generator.running
    assert "What say you?" in view.live.text.toPlainText() and "12 iterations" in view.live.text.toPlainText()


def test_paused_run_asks_for_a_fresh_sample(view):
    asked = []
    view.command.connect(lambda name, args: asked.append(name))
    snap = fake_snapshot("lstm")
    snap["iteration"], snap["playing"] = 40, False
    view.set_snapshot(snap)
    view.set_snapshot(snap)
    assert asked == ["sample"]                         # once per iteration
    view.on_reply("sample", {"text": "KING:\nNow is the winter", "iteration": 40})
    assert "winter" in view.live.text.toPlainText() and "40 iterations" in view.live.text.toPlainText()


def test_open_text_starts_a_new_run(view, monkeypatch):
    from PySide6 import QtWidgets
    monkeypatch.setattr(QtWidgets.QFileDialog, "getOpenFileName", lambda *a, **k: ("/tmp/some.txt", ""))
    got = []
    view.apply_settings.connect(got.append)
    view.open_button.click()
    view.shakespeare_button.click()
    assert got == [{"text": "/tmp/some.txt"}, {"text": ""}]


def test_a_real_trainer_snapshot_renders(view):
    """End to end without a window: the engine's phase data in the view."""
    from engines.labs import make_trainer
    from visualizer.session import Session
    s = Session(make_trainer({"lab": "lstm", "engine": "numpy", "hidden": 12, "seq_len": 9, "batch_size": 2}))
    s.run(1)
    for _ in range(7):   # forward 2 layers and the output, the loss, backward the output, 2 steps back in time
        s.step_phase()
    t = s.trainer
    snap = {"iteration": s.iteration, "phase": s.phase, "selected_block": 1, "active_kind": "backward",
            "active_block": 1, "history_reset": False, "last_metrics": dict(t.last_metrics),
            "block_data": s.block_phase_data(1), "view": t.view_data(1)}
    view.set_snapshot(snap)
    assert view.sequence.rows["f"]["image"].image.shape == (12, 9)
    assert view.sequence.rows["nll"]["axis"].chars == snap["block_data"]["forward"]["chars"]
    x, _ = view.sequence.rows["dh_norm"]["curve"].getData()
    assert len(x) == 2   # two steps back through time so far in the top layer


def test_in_the_window_with_a_real_engine_process(qtbot):
    """The view in the main window: training snapshots, then generation streamed from the worker."""
    from visualizer.main_window import MainWindow
    configure_pyqtgraph()
    w = MainWindow({"lab": "lstm", "engine": "numpy", "hidden": 16, "seq_len": 10, "batch_size": 4, "seed": 0})
    qtbot.addWidget(w)
    w.show()
    try:
        qtbot.waitUntil(lambda: w.last_snapshot is not None, timeout=60000)
        assert isinstance(w.view, TextView)
        w.client.send("run_to", 3)
        qtbot.waitUntil(lambda: w.last_snapshot["iteration"] == 3 and not w.last_snapshot["playing"], timeout=60000)
        for _ in range(4):
            w.client.send("step_phase")
        qtbot.waitUntil(lambda: w.last_snapshot["phase"] == 4, timeout=30000)
        qtbot.waitUntil(lambda: w.view.sequence.rows and w.view.sequence.rows["f"]["image"].image is not None,
                        timeout=30000)
        gen = w.view.generator
        gen.prompt.setText("ROMEO:")
        gen.length.setValue(40)
        gen.button.click()
        qtbot.waitUntil(lambda: not gen.running, timeout=60000)
        assert gen.text.toPlainText().startswith("ROMEO:") and len(gen.chars) == 46
        assert gen.acts["f"][10].shape == (2, 16)
    finally:
        w.close()


def test_own_curves_loss_per_char_and_gradient_norm(view):
    snap = fake_snapshot("lstm")
    view.set_snapshot(snap)
    assert TextView.owns_curves
    assert view.curves.latest("loss") is not None and view.curves.latest("heldout_loss_per_char") == 3.2
    assert view.curves.latest("grad_norm") is not None
    assert view.clip_line.isVisible() and view.clip_line.value() == 5.0
    snap["view"]["clip_mode"] = "value"
    view.set_snapshot(dict(snap, history=[]))
    assert not view.clip_line.isVisible()


def test_a_real_gru_snapshot_shows_its_gates_and_parameter_counts(view):
    from engines.labs import make_trainer
    from visualizer.session import Session
    s = Session(make_trainer({"lab": "lstm", "cell": "gru", "engine": "torch", "hidden": 10, "seq_len": 7,
                              "batch_size": 2, "eval_chars": 200}))
    s.run(1)
    for _ in range(6):   # forward 2 layers and the output, the loss, backward the output, 1 step back in time
        s.step_phase()
    t = s.trainer
    snap = {"iteration": s.iteration, "phase": s.phase, "selected_block": 1, "active_kind": "backward",
            "active_block": 1, "history_reset": False, "last_metrics": dict(t.last_metrics),
            "block_data": s.block_phase_data(1), "view": t.view_data(1)}
    view.set_snapshot(snap)
    assert set(view.sequence.rows) == {"r", "z", "n", "h", "dh", "dh_norm", "nll"}
    assert view.sequence.rows["z"]["image"].image.shape == (10, 7)
    counts = t.parameter_counts()
    header = view.sequence.header.text()
    assert "GRU layer 2 of 2" in header and f"{counts['layers'][1]:,}" in header
    assert f"{counts['lstm_layers'][1]:,}" in header           # what an LSTM layer of that size would have
    assert view.generator.signal.itemData(0) == "h" and view.generator.signal.count() == 4


def test_heatmaps_are_drawn_again_only_for_new_arrays(view, monkeypatch):
    """While playing, the block's arrays come about 4 times a second and the frames between carry the same
    object: those frames (a new iteration each) leave the six heatmaps as they are."""
    drawn = []
    real = view.sequence.render_snapshot
    monkeypatch.setattr(view.sequence, "render_snapshot", lambda *a: (drawn.append(a[0]), real(*a)))
    snap = fake_snapshot("lstm", phase_step=None)
    snap.update(playing=True, phase=0)
    view.set_snapshot(snap)
    for it in range(1, 4):   # the next frames: new iterations, the same arrays
        view.set_snapshot(dict(snap, iteration=snap["iteration"] + it, history=[]))
    assert len(drawn) == 1
    # played phase by phase (the LSTM): a new phase of the same arrays moves the line of BPTT only
    view.set_snapshot(dict(snap, phase=7, active_kind="backward", active_block=snap["selected_block"], history=[]))
    cursor = view.sequence.rows["dh"]["cursor"]
    assert len(drawn) == 1 and cursor.isVisible() == ("step" in snap["block_data"].get("backward", {}))
    view.set_snapshot(dict(snap, phase=8, active_kind="update", history=[]))
    assert len(drawn) == 1 and not cursor.isVisible()
    fresh = dict(snap, iteration=snap["iteration"] + 5, history=[],
                 block_data={k: dict(v) for k, v in snap["block_data"].items()})
    view.set_snapshot(fresh)   # new arrays
    view.set_snapshot(dict(fresh, selected_block=1, history=[]))   # another layer
    assert len(drawn) == 3 and drawn[1] is fresh["block_data"]


def test_gradient_norm_axis_labels_differ_within_a_decade():
    """‖dL/dh_t‖ spanning less than a decade near 1e-5 was labelled "1e-5" twice (2e-5's exponent rounded)."""
    import math
    from widgets.text_cells import DecadeAxis
    axis = DecadeAxis(orientation="left")
    (_, values), = axis.tickValues(math.log10(8e-6), math.log10(6e-5), 100)
    labels = axis.tickStrings(values, 1, 1)
    assert labels == ["1e-5", "2e-5", "5e-5"]
    assert axis.tickStrings([math.log10(300), -2, 0], 1, 1) == ["300", "0.01", "1"]


def test_a_short_gradient_norm_axis_labels_only_what_fits():
    """The BPTT strip's ‖dL/dh_t‖ plot is ~30 px tall: 5e-6, 1e-5 and 2e-5 crowded into it; one label in
    each ~18 px, the 1-2-5 ladder thinned evenly."""
    import math
    from widgets.text_cells import DecadeAxis
    axis = DecadeAxis(orientation="left")
    (_, values), = axis.tickValues(math.log10(4e-6), math.log10(3e-5), 36)
    assert axis.tickStrings(values, 1, 1) == ["5e-6", "2e-5"]
