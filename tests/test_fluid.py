"""A fluid window: the engine sends only what the visible view draws, slow labs play phase by phase,
and neither changes a number."""
from __future__ import annotations

import numpy as np
import pytest

import visualizer.host as host_module
from engines.labs import make_trainer
from visualizer.client import complete_snapshot
from visualizer.host import SessionHost
from tests import corpus
from visualizer.session import Session

CONFIG = {"lab": "mlp", "seed": 0, "hidden": "16", "batch_size": 16}


def flat(tree) -> list[np.ndarray]:
    if isinstance(tree, dict):
        return [a for k in sorted(tree) for a in flat(tree[k])]
    if isinstance(tree, (list, tuple)):
        return [a for v in tree for a in flat(v)]
    if hasattr(tree, "detach"):   # a torch tensor
        return [tree.detach().cpu().numpy()]
    return [np.asarray(tree)] if isinstance(tree, np.ndarray) else []


LSTM = {"lab": "lstm", "seed": 0, "hidden": 16, "seq_len": 8, "eval_chars": 400, "batch_size": 4}


@pytest.mark.parametrize("config", [CONFIG, dict(LSTM, engine="torch"), dict(LSTM, engine="numpy")],
                         ids=["mlp", "lstm-torch", "lstm-numpy"])
def test_playing_phase_by_phase_gives_the_same_numbers_as_whole_iterations(config):
    whole, by_phase = Session(make_trainer(dict(config))), Session(make_trainer(dict(config)))
    for _ in range(3):
        whole.step_iteration()
    n = len(by_phase.specs)
    for _ in range(3 * n):
        by_phase.play_phase()
    assert by_phase.iteration == 3 and by_phase.phase == 0
    assert by_phase.iteration_seconds() is not None  # timed as step_iteration times it (keyframe spacing)
    a, b = flat(whole.trainer.get_state()), flat(by_phase.trainer.get_state())
    assert len(a) == len(b) and len(a) > 0
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert whole.history[3]["loss"] == by_phase.history[3]["loss"]


def test_a_slow_text_lab_played_phase_by_phase_does_each_layers_work_in_its_own_phase():
    """A pause lands between layers: the first phase runs only the first layer's forward steps."""
    s = Session(make_trainer(dict(LSTM, engine="torch", depth=2)))
    s.play_phase()
    assert s.phase == 1 and s.trainer._reached == 1   # the loss, the backward and the update wait for their phases
    while s.phase:
        s.play_phase()
    assert s.iteration == 1


def test_a_slow_lab_plays_one_phase_per_tick_and_says_which(monkeypatch):
    sent = []
    host = SessionHost(lambda kind, payload: sent.append((kind, payload)))
    host.configure(dict(CONFIG))
    host.session.step_iteration()                     # timed: now "slow" with the threshold at 0
    monkeypatch.setattr(host_module, "PHASE_PLAY_AFTER", 0.0)
    host.handle("play")
    host.tick()
    assert host.session.iteration == 1 and host.session.phase == 1
    snap = host.snapshot()
    assert snap["playing"] and snap["phase"] == 1 and snap["active_kind"] == "forward"
    host.handle("pause")                              # lands between two phases, not after the iteration
    assert host.session.phase == 1 and not host.playing


def test_block_data_only_for_a_view_that_draws_it_and_at_most_every_tenth_of_a_second(monkeypatch):
    host = SessionHost(lambda kind, payload: None)
    host.configure(dict(CONFIG))
    host.handle("step_iteration")
    assert host.snapshot()["block_data"]              # paused: always there
    host.handle("play")
    host.tick()
    monkeypatch.setattr(host_module, "BLOCK_DATA_EVERY", 0.0)
    assert host.snapshot()["block_data"]              # playing, due
    monkeypatch.setattr(host_module, "BLOCK_DATA_EVERY", 3600.0)
    assert host.snapshot()["block_data"] is None      # playing, not due: not recomputed
    host.handle("select", 1)
    assert host.snapshot()["block_data"]              # a new selection: at once
    host.handle("view", {"block_data": False})        # a tab without the block's arrays is shown
    monkeypatch.setattr(host_module, "BLOCK_DATA_EVERY", 0.0)
    host.tick()
    assert host.snapshot()["block_data"] is None
    monkeypatch.setattr(host_module, "BLOCK_DATA_EVERY", 3600.0)
    host.handle("view", {"block_data": True})         # shown again: at once
    assert host.snapshot()["block_data"]
    host.handle("pause")
    assert host.snapshot()["block_data"]


def test_every_transport_command_is_answered_without_an_error_and_plays_first_block_arrays_a_moment_later(
        monkeypatch):
    """Space, play, pause, →, ←, Shift+→/← and a speed change, in the order a student presses them: no error
    message (a slip in the host's chain of commands answered "Unknown command 'toggle'" to every pause). The
    first frames of play carry the curves only: the block's arrays come FIRST_BLOCK_DATA_AFTER later."""
    sent = []
    host = SessionHost(lambda kind, payload: sent.append((kind, payload)))
    host.configure(dict(CONFIG))
    host.handle("step_iteration")
    clock = [1000.0]
    monkeypatch.setattr(host_module.time, "perf_counter", lambda: clock[0])
    for cmd, arg, playing in [("toggle", None, True), ("toggle", None, False), ("play", None, True),
                              ("pause", None, False), ("step_phase", None, False), ("back_phase", None, False),
                              ("step_iteration", None, False), ("back_iteration", None, False),
                              ("speed", "max", False), ("run_to", 3, True), ("pause", None, False)]:
        host.handle(cmd, arg)
        assert host.playing == playing, cmd
        if cmd in ("toggle", "play") and playing:
            assert host.snapshot()["block_data"] is None        # play's first frame: the curves only
            clock[0] += host_module.FIRST_BLOCK_DATA_AFTER
            assert host.snapshot()["block_data"]                # a moment later: the block's arrays
    assert [p for k, p in sent if k == "error"] == []


def test_fast_play_keeps_an_iterations_start_seldom_and_a_back_step_after_a_pause_stays_exact(monkeypatch):
    """Fast play keeps the start of an iteration (a state copy) once per KEEP_START_REPLAY_S of iterations, not
    before every slice's last one (batch-1: 9 % of the engine); ← after a pause then replays at most that much
    and one iteration, and lands on the same state as stepping there."""
    host = SessionHost(lambda kind, payload: None)
    host.configure(dict(CONFIG))
    s = host.session
    s.adaptive = False
    s.store.interval = 1024          # no keyframe near: only the kept start (or the pool) to replay from
    s.near_every = 1 << 20
    s._measure_iteration = lambda _seconds: None
    s._it_seconds = 0.004            # a 4 ms iteration: a start kept every 5 iterations at most
    kept = []
    real_keep = s.keep_start
    monkeypatch.setattr(s, "keep_start", lambda: (kept.append(s.iteration), real_keep()))
    host.handle("play")
    while s.iteration < 60:
        host.tick()
    host.handle("pause")
    gaps = np.diff(kept)
    assert len(kept) >= 2 and gaps.min() >= 5, kept
    it, steps = s.iteration, list(s.seek_steps(s.back_phase_target()))
    assert not steps or steps[-1][1] <= 5 + 1 + 1
    plain = Session(make_trainer(dict(CONFIG)))
    plain.run(it - 1)
    for _ in range(len(plain.specs) - 1):
        plain.step_phase()
    assert (s.iteration, s.phase) == (plain.iteration, plain.phase)
    assert all(np.array_equal(x, y) for x, y in zip(flat(s.trainer.get_state()), flat(plain.trainer.get_state())))


def test_the_window_side_puts_back_what_was_not_sent_again():
    sent = []
    host = SessionHost(lambda kind, payload: sent.append((kind, payload)))
    host.configure({"lab": "optimizers", "seed": 0})
    first = next(p for k, p in sent if k == "snapshot")   # the first snapshot of the run carries the surface
    kept: dict = {}
    complete_snapshot(first, kept)
    assert "surface" in first["view"]
    host.handle("play")
    host.tick()
    second = host.snapshot()
    assert "surface" not in second["view"] and "surface" in second["view_same"]   # the same grid: not resent
    complete_snapshot(second, kept)
    assert second["view"]["surface"] is first["view"]["surface"]
    third = {"block_data": None, "view": {}, "view_same": []}
    complete_snapshot(third, kept)
    assert third["block_data"] is second["block_data"] and not third["block_data_fresh"]


def test_building_a_lab_view_opens_no_window_of_its_own(qtbot):
    """A widget made visible before it has a parent becomes a window of its own for a moment, and takes
    the activation from the main window: its shortcuts (Space, ←, →) then no longer fire."""
    from PySide6 import QtCore, QtWidgets

    from engines.labs import LABS
    from visualizer.lab_views import make_view

    opened = []

    class Watch(QtCore.QObject):
        def eventFilter(self, obj, event):
            if event.type() == QtCore.QEvent.Type.Show and isinstance(obj, QtWidgets.QWidget) and obj.isWindow():
                opened.append(type(obj).__name__)
            return False

    watch = Watch()
    QtWidgets.QApplication.instance().installEventFilter(watch)
    try:
        for lab in LABS:
            view = make_view(lab)
            qtbot.addWidget(view)
    finally:
        QtWidgets.QApplication.instance().removeEventFilter(watch)
    assert opened == []


def test_paused_inside_an_unfinished_iteration_the_timeline_counts_it_as_reached(qtbot):
    from widgets.timeline import Timeline
    timeline = Timeline()
    qtbot.addWidget(timeline)
    timeline.set_position(44, 43)   # phase by phase play paused in iteration 44, the furthest finished is 43
    assert timeline.label.text() == "iteration 44 / 44" and timeline.slider.maximum() == 44


def _thread(target, name):
    import threading
    thread = threading.Thread(target=target, name=name, daemon=True)
    thread.start()
    return thread


def _gated_evaluations(monkeypatch, trainer):
    """Every trainer of this class (the copy that evaluates too) evaluates only once the gate opens."""
    import threading
    gate, started = threading.Event(), threading.Event()
    evaluate = type(trainer).evaluate

    def slow_evaluate(self):
        started.set()
        assert gate.wait(10)
        return evaluate(self)
    monkeypatch.setattr(type(trainer), "evaluate", slow_evaluate)
    return gate, started


def _play_until_evaluating(host) -> int:
    every = host.session.trainer.eval_every
    host.handle("play")
    while not host.session.evaluating:
        host.tick()
    assert host.session.iteration >= every   # (on a copy the slice goes on after it)
    # no second evaluation while this one is held: on a fast machine one 15 ms slice of this small net ran
    # past the next one, whose start waits for the one held (and the gate's wait ran out)
    host.session.trainer.eval_every = 10 ** 9
    return every


def test_while_a_held_out_evaluation_runs_on_a_copy_training_goes_on_and_the_figures_are_the_same(monkeypatch):
    """Playing at full speed, the held-out evaluation runs in a thread on a copy of the weights: the loop
    answers a pause at once, training goes on meanwhile, and the figures filed with the iteration (when it
    ends) are the ones a plain Session computes; the report the view shows is taken over from the copy."""
    sent = []
    host = SessionHost(lambda kind, payload: sent.append((kind, payload)), start_thread=_thread)
    host.configure(dict(CONFIG))
    gate, started = _gated_evaluations(monkeypatch, host.session.trainer)
    every = _play_until_evaluating(host)
    assert started.wait(10) and "heldout_accuracy" not in host.session.history[every]
    assert not host.session.trainer_busy
    host.handle("pause")
    host.tick()
    snap = sent[-1][1] if sent[-1][0] == "snapshot" else None
    assert snap is not None and not snap["playing"] and host.session.evaluating   # answered before it ended
    host.handle("play")
    while host.session.iteration < every + 5:
        host.tick()
    assert host.session.evaluating                     # training went on while it runs
    gate.set()
    while host.session.evaluating:
        host.tick()
    host.handle("pause")
    monkeypatch.undo()
    plain = Session(make_trainer(dict(CONFIG)))
    plain.run(every)
    assert host.session.history[every] == plain.history[every]
    assert host.session.history_log.count(every) == 2   # sent again, with its held-out figures
    mine, theirs = host.session.trainer.reports[every], plain.trainer.reports[every]
    assert sorted(mine) == sorted(theirs) and all(np.array_equal(a, b) for a, b in zip(flat(mine), flat(theirs)))


def test_a_back_step_during_an_evaluation_is_answered_at_once_and_the_figures_still_arrive(monkeypatch):
    host = SessionHost(lambda kind, payload: None, start_thread=_thread)
    host.configure(dict(CONFIG))
    gate, _ = _gated_evaluations(monkeypatch, host.session.trainer)
    every = _play_until_evaluating(host)
    host.handle("pause")
    here = host.session.iteration
    host.handle("back_iteration")
    while host.replay is not None:
        host.tick()
    assert host.session.evaluating and host.session.iteration == here - 1   # moved while it runs
    host.handle("step_phase")
    assert host.session.evaluating and host.session.phase == 1
    gate.set()
    while host.session.evaluating:
        host.tick()
    assert "heldout_accuracy" in host.session.history[every]


def test_a_new_branch_during_an_evaluation_keeps_the_figures_of_the_iterations_it_copies(monkeypatch):
    host = SessionHost(lambda kind, payload: None, start_thread=_thread)
    host.configure(dict(CONFIG))
    gate, _ = _gated_evaluations(monkeypatch, host.session.trainer)
    every = _play_until_evaluating(host)
    while host.session.iteration < every + 3:
        host.tick()
    host.handle("pause")
    host.handle("seek", every + 1)
    while host.replay is not None:
        host.tick()
    gate.set()
    host.handle("hyper", ("lr", 0.01))   # back in time: a new line from here, made after the figures are in
    assert host.session.line_id == 1 and "heldout_accuracy" in host.session.history[every]


def test_without_a_copy_a_step_during_an_evaluation_waits_for_it(monkeypatch):
    """Where a state is too big to copy (ResNet-50) the evaluation holds the trainer: play waits, and a
    step is taken once its figures are filed."""
    host = SessionHost(lambda kind, payload: None, start_thread=_thread)
    host.configure(dict(CONFIG))
    host.session.make_trainer = None
    gate, _ = _gated_evaluations(monkeypatch, host.session.trainer)
    every = _play_until_evaluating(host)
    assert host.session.trainer_busy
    for _ in range(20):
        host.tick()
    assert host.session.iteration == every            # training waits for the evaluation
    gate.set()
    host.handle("step_phase")   # touches the trainer: the evaluation is filed first
    assert not host.session.evaluating and "heldout_accuracy" in host.session.history[every]
    assert host.session.phase == 1


def piped_client():
    """A SessionClient reading one end of a pipe (no engine process: the test writes the other end)."""
    import multiprocessing as mp

    from visualizer.client import SessionClient
    from visualizer.worker import PipeReader

    class Alive:
        def is_alive(self):
            return True

    ui_end, engine_end = mp.Pipe()
    client = SessionClient.__new__(SessionClient)
    SessionClient.__base__.__init__(client)
    client.conn, client.process, client.kept, client._dead, client._polling = ui_end, Alive(), {}, False, False
    client._wake_pending = client._poll_again = False
    client.reader = PipeReader(ui_end, lambda: None)
    return client, engine_end


def test_the_window_never_draws_an_older_snapshot_over_a_newer_one(qtbot):
    """A slot that runs an event loop (a dialog; the benchmark's processEvents) while a snapshot is drawn
    must not make the client emit the next one inside it: the older one would be drawn last and stay."""
    client, engine_end = piped_client()
    drawn = []

    def arrive(message):
        engine_end.send(message)
        qtbot.waitUntil(lambda: len(client.reader.messages) > 0, timeout=5000)

    def draw(snap):
        if snap["iteration"] == 1:
            arrive(("snapshot", dict(base, iteration=2)))
            client.poll()   # as if an event loop ran here: must not emit iteration 2 inside iteration 1's slot
        drawn.append(snap["iteration"])   # finished drawing
    client.snapshot.connect(draw)
    base = {"history": [], "history_reset": False, "view": {}, "block_data": None}
    arrive(("snapshot", dict(base, iteration=1)))
    client.poll()
    client.poll()
    client.reader.stop()
    assert drawn == [1, 2]


def test_snapshots_read_together_keep_the_branches_and_notes_the_first_one_carried(qtbot):
    """The engine sends the branches, the notes and the other lines' curves only when they change; when the
    window reads that snapshot and a newer one at once (it keeps only the latest), they stay."""
    client, engine_end = piped_client()
    drawn = []
    client.snapshot.connect(drawn.append)
    base = {"history": [], "history_reset": False, "view": {}, "block_data": None}
    engine_end.send(("snapshot", dict(base, iteration=1, lines=[{"id": 0}], notes=[[0, 1, "a note"]],
                                      line_curves={})))
    engine_end.send(("snapshot", dict(base, iteration=2)))
    qtbot.waitUntil(lambda: len(client.reader.messages) == 2, timeout=5000)
    client.poll()
    client.reader.stop()
    assert len(drawn) == 1 and drawn[0]["iteration"] == 2
    assert drawn[0]["notes"] == [[0, 1, "a note"]] and drawn[0]["lines"] == [{"id": 0}]


def test_an_iteration_sent_again_with_its_held_out_figures_keeps_the_whole_curve(qtbot):
    """The held-out figures of an iteration arrive after it (an evaluation off the loop): the iteration
    comes again, with newer ones after it in the same batch; the curve keeps every point."""
    from widgets.curves import CurvesPanel
    curves = CurvesPanel()
    qtbot.addWidget(curves)
    curves.show()
    curves.add_points([(i, {"loss": 1.0 / i}) for i in range(1, 101)])
    curves.add_points([(50, {"loss": 1.0 / 50, "heldout_loss": 0.5})] + [(i, {"loss": 1.0 / i}) for i in range(101, 111)])
    xs, ys = curves.items["loss"].getData()
    assert list(xs) == list(range(1, 111)) and ys[-1] == 1.0 / 110


def test_a_back_step_after_play_replays_only_the_last_iteration_from_the_start_kept_before_it():
    """Play keeps the state before the last iteration of each slice (keep_start), so ← after a pause
    replays that one iteration in detail, not from the last keyframe; the state is exact."""
    played, plain = Session(make_trainer(dict(CONFIG))), Session(make_trainer(dict(CONFIG)))
    played.adaptive = False
    played.store.interval = 64
    played.near_every = 1000   # no temporary states on the way: only the kept start is near
    for _ in range(20):
        played.step_iteration()
    played.keep_start()
    played.step_iteration()
    steps = list(played.seek_steps(played.back_phase_target()))
    assert steps == [] or steps[-1][1] <= 1   # at most one iteration replayed
    plain.run(20)
    for _ in range(len(plain.specs) - 1):
        plain.step_phase()
    assert (played.iteration, played.phase) == (plain.iteration, plain.phase)
    a, b = flat(played.trainer.get_state()), flat(plain.trainer.get_state())
    assert all(np.array_equal(x, y) for x, y in zip(a, b))


@pytest.mark.parametrize("on_copy", [True, False], ids=["on-a-copy", "on-the-trainer"])
def test_a_block_selected_during_an_evaluation_shows_at_once_with_the_right_arrays(monkeypatch, on_copy):
    sent = []
    host = SessionHost(lambda kind, payload: sent.append((kind, payload)), start_thread=_thread)
    host.configure(dict(CONFIG))
    if not on_copy:
        host.session.make_trainer = None
    gate, _ = _gated_evaluations(monkeypatch, host.session.trainer)
    _play_until_evaluating(host)
    host.handle("pause")
    host.flush(force=True)
    other = (host.session.selected_block + 1) % len(host.session.trainer.blocks())
    host.handle("select", other)
    host.tick()
    snap = [p for k, p in sent if k == "snapshot"][-1]
    assert host.session.evaluating and snap["selected_block"] == other   # answered while it runs
    assert (snap["block_data"] is not None) == on_copy                  # on the trainer: arrays follow
    gate.set()
    while host.session.evaluating:
        host.tick()
    host.tick()
    monkeypatch.undo()
    plain = SessionHost(lambda kind, payload: None)
    plain.configure(dict(CONFIG))
    plain.session.run(host.session.iteration)
    plain.handle("select", other)
    assert flat(host.snapshot()["block_data"]) and all(
        np.array_equal(a, b) for a, b in zip(flat(host.session.block_phase_data(other)),
                                             flat(plain.session.block_phase_data(other))))


def test_a_steady_label_keeps_the_room_of_its_longest_text(qtbot):
    """A status text that changes every frame must not lay out its bar again each time: its room only grows."""
    from PySide6 import QtWidgets
    from widgets.common import SteadyLabel
    bar = QtWidgets.QWidget()
    row = QtWidgets.QHBoxLayout(bar)
    label = SteadyLabel()
    row.addWidget(label)
    row.addStretch(1)
    qtbot.addWidget(bar)
    bar.resize(600, 40)
    bar.show()
    label.setText("iteration 1000 · loss 0.123")
    qtbot.waitUntil(lambda: label.width() >= label.sizeHint().width())
    wide = label.width()
    label.setText("iteration 7")
    QtWidgets.QApplication.processEvents()
    assert label.width() == wide and label.text() == "iteration 7"
    wrapped = SteadyLabel(wrap=True, lines=2)
    assert wrapped.minimumHeight() >= 2 * wrapped.fontMetrics().lineSpacing()   # two lines held from the start


def test_a_new_run_starts_on_the_standby_engine_and_a_refused_config_keeps_the_run(qtbot, monkeypatch, tmp_path):
    """A lab switch finds its imports done: the standby engine takes the new run and the old engine ends; a
    config the standby refuses brings back the engine before it, its run intact; then a new standby waits."""
    from functools import partial

    import visualizer.client as client_module
    from visualizer.client import SessionClient
    from visualizer.main_window import MainWindow
    from widgets.style import configure_pyqtgraph
    monkeypatch.setattr(client_module, "STANDBY_AFTER_MS", 0)
    monkeypatch.setenv("STEPWISE_AUTOSAVE", str(tmp_path / "autosave"))
    configure_pyqtgraph()
    w = MainWindow({"lab": "mlp", "seed": 0, "hidden": "16"}, client_factory=partial(SessionClient, standby=True),
                   offer_recovery=False)
    qtbot.addWidget(w)
    w.ask = lambda title, text: True
    w.show()

    def at(predicate):
        qtbot.waitUntil(lambda: w.last_snapshot is not None and predicate(w.last_snapshot), timeout=60000)
    w.client.send("run_to", 5)
    at(lambda s: s["iteration"] == 5 and not s["playing"])
    qtbot.waitUntil(lambda: w.client.standby is not None, timeout=10000)
    first, standby = w.client.process, w.client.standby[0]
    w.switch_lab("optimizers")
    at(lambda s: s["lab"] == "optimizers")
    assert w.client.process is standby and w.lab == "optimizers"
    qtbot.waitUntil(lambda: not first.is_alive(), timeout=10000)       # the old engine ended
    qtbot.waitUntil(lambda: w.client.standby is not None, timeout=10000)   # and the next standby waits
    w.client.send("run_to", 3)
    at(lambda s: s["iteration"] == 3 and not s["playing"])
    running, second = w.client.process, w.client.standby[0]
    w.errors = []
    w.client.error.connect(w.errors.append)
    w.send_configure({"lab": "mlp", "seed": 0, "hidden": "abc"})
    qtbot.waitUntil(lambda: bool(w.errors), timeout=30000)
    assert "not a whole number" in w.errors[0]
    assert w.client.process is running and w.lab == "optimizers"        # the run it had
    qtbot.waitUntil(lambda: not second.is_alive(), timeout=10000)
    w.client.send("step_iteration")
    at(lambda s: s["lab"] == "optimizers" and s["iteration"] == 4)
    w.close()
    assert not w.client.process.is_alive()


def test_the_engine_leaves_out_the_histograms_the_view_on_screen_does_not_draw(qtbot):
    host = SessionHost(lambda kind, payload: None)
    host.configure(dict(CONFIG))
    host.session.step_iteration()
    full = host.snapshot()["block_data"]
    assert {"activation_hist"} <= set(full["forward"]) and {"grad_hist"} <= set(full["backward"])
    host.handle("view", {"block_data": True, "histograms": False})    # the CNN's feature maps tab
    lean = host.snapshot()["block_data"]
    assert "activation_hist" not in lean["forward"] and "grad_hist" not in lean["backward"]
    assert "update_hist" not in lean["update"]
    assert np.array_equal(lean["forward"]["activation"]["vector"], full["forward"]["activation"]["vector"])
    assert host.session.trainer.histograms                               # what the Session keeps has them
    host.handle("view", {"block_data": True, "histograms": True})
    assert "activation_hist" in host.snapshot()["block_data"]["forward"]
    from widgets.cnn_view import CNNView
    view = CNNView()
    qtbot.addWidget(view)
    assert view.shows_block_data() and not view.shows_histograms()      # feature maps: no histogram
    view.tabs.setCurrentWidget(view.inspector)
    assert view.shows_block_data() and view.shows_histograms()


def _same_tree(a, b) -> bool:
    if isinstance(a, dict):
        return isinstance(b, dict) and sorted(a) == sorted(b) and all(_same_tree(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return isinstance(b, (list, tuple)) and len(a) == len(b) and all(_same_tree(x, y) for x, y in zip(a, b))
    if isinstance(a, np.ndarray) or hasattr(a, "detach"):
        return np.array_equal(np.asarray(a), np.asarray(b), equal_nan=True)
    return a == b or (a != a and b != b)   # nan == nan


@pytest.mark.parametrize("config", [c for _, c in corpus.LABS] + [{"lab": "optimizers", "surface": "network"}],
                         ids=[n for n, _ in corpus.LABS] + ["optimizers"])
def test_an_evaluation_on_a_copy_files_the_figures_and_shows_the_report_a_plain_session_does(config):
    """Every lab: the held-out figures computed on a second trainer given the state, and what the view shows
    after it (the report taken over), are those of evaluating on the trainer itself."""
    copied, plain = Session(make_trainer(dict(config))), Session(make_trainer(dict(config)))
    copied.trainer.eval_every = plain.trainer.eval_every = 2
    for trainer in (copied.trainer, plain.trainer):
        if hasattr(trainer, "sample_every_s"):   # the text labs' sample follows the clock: here, each iteration
            trainer.sample_every_s = 0.0
    copied.evaluate_in, copied.make_trainer = _thread, lambda: make_trainer(dict(config))
    copied.run(2)
    assert copied.evaluating and not copied.trainer_busy
    copied.step_iteration()                  # training goes on meanwhile
    copied.finish_evaluation()
    plain.run(3)
    assert _same_tree(copied.history[2], plain.history[2]) and any(k.startswith("heldout") for k in plain.history[2])
    block = copied.selected_block
    assert _same_tree(copied.trainer.view_data(block), plain.trainer.view_data(block))


@pytest.mark.parametrize("inline_below, off_the_loop", [(10.0, False), (0.0, True)], ids=["quick", "costly"])
def test_an_evaluation_measured_to_be_quick_runs_at_once_as_headless(monkeypatch, inline_below, off_the_loop):
    """The first evaluation runs off the loop and is timed; the next runs at once where that one took less
    than EVALUATE_INLINE_SECONDS (a thread gained nothing for the MLP's 18 ms and took the UI's core)."""
    import visualizer.session as session_module
    monkeypatch.setattr(session_module, "EVALUATE_INLINE_SECONDS", inline_below)
    s = Session(make_trainer(dict(CONFIG)))
    s.trainer.eval_every = 2
    s.evaluate_in, s.make_trainer = _thread, lambda: make_trainer(dict(CONFIG))
    s.run(2)
    assert s.evaluating
    s.finish_evaluation()
    s.run(2)
    assert s.evaluating == off_the_loop
    s.finish_evaluation()
    assert "heldout_accuracy" in s.history[4]


def test_steady_bounds_round_out_and_hold_zero():
    from widgets.common import steady_bounds
    lo, hi = steady_bounds(0.0, 103.0, 0.3)
    assert lo == 0.0 and hi >= 103.0 * 1.3 and hi % 20 == 0   # round steps of about a quarter of the range
    lo, hi = steady_bounds(-0.013, 0.0271, 0.05)
    assert lo <= -0.013 and hi >= 0.0271   # the data stay inside
    assert steady_bounds(5.0, 5.0, 0.1)[0] < 5.0 < steady_bounds(5.0, 5.0, 0.1)[1]
    for a, b in [(0.1, 0.3), (-3.3, -0.7), (1e-9, 3e-9), (0.0, 0.3)]:
        lo, hi = steady_bounds(a, b, 0.05)
        assert lo <= a and b <= hi and hi - lo <= 3 * (b - a)


def test_steady_range_moves_seldom_as_a_run_grows():
    """A growing x axis (the loss plot's) is laid out again about five times a decade, not at every frame."""
    from widgets.common import SteadyRange

    class Plot:
        moves = 0

        def setXRange(self, *a, **k):
            Plot.moves += 1

        def getViewBox(self):
            return type("VB", (), {"updateMatrix": lambda self: None})()
    steady = SteadyRange(Plot(), "x", pad=0.3)
    for it in range(10, 10_001):
        steady.fit(0.0, float(it))
        assert steady.range[0] == 0.0 and steady.range[1] >= it
    assert Plot.moves <= 20   # three decades
