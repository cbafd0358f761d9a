"""The SessionHost (the worker's logic) in-process: commands in, messages out."""
import numpy as np

from visualizer.host import SessionHost

CONFIG = {"lab": "mlp", "seed": 0, "hidden": "32,16", "dropout": 0.2}


def make_host():
    messages = []
    host = SessionHost(lambda kind, payload: messages.append((kind, payload)))
    assert host.configure(CONFIG)
    return host, messages


def kinds(messages):
    return [k for k, _ in messages]


def test_ready_and_first_snapshot():
    host, messages = make_host()
    assert kinds(messages)[:2] == ["ready", "snapshot"]
    info = messages[0][1]
    assert info["lab"] == "mlp" and info["engine"] == "numpy"
    assert [b["label"] for b in info["blocks"]][1] == "Dense 784→32 + relu"
    snap = messages[1][1]
    assert snap["iteration"] == 0 and snap["phase"] == 0 and snap["phase_count"] == len(info["phases"])


def test_step_phase_is_exact_and_snapshots_carry_phase_data():
    host, messages = make_host()
    host.handle("step_phase")
    host.flush(force=True)
    snap = messages[-1][1]
    assert snap["phase"] == 1 and snap["active_kind"] == "forward" and snap["active_block"] == 0
    for _ in range(3):
        host.handle("step_phase")
    host.handle("select", 1)
    host.flush(force=True)
    snap = messages[-1][1]
    assert snap["phase"] == 4
    fwd = snap["block_data"]["forward"]
    assert fwd["activation"]["vector"].shape == (32,)
    assert "backward" not in snap["block_data"]  # not reached yet in this iteration


def test_bad_command_reports_error_and_keeps_state():
    host, messages = make_host()
    host.handle("step_iteration")
    before = [p.copy() for p in host.session.trainer.model.params()]
    host.handle("configure", dict(CONFIG, hidden="0"))
    assert messages[-1][0] in ("error", "snapshot")
    assert any(k == "error" and "Hidden size 0" in p for k, p in messages)
    assert host.session.iteration == 1
    for a, b in zip(before, host.session.trainer.model.params()):
        assert np.array_equal(a, b)
    host.handle("load", "/nonexistent/model.npz")
    assert any(k == "error" and "does not exist" in p for k, p in messages)
    assert host.session.iteration == 1


def test_run_to_plays_then_pauses_and_curves_arrive_incrementally():
    host, messages = make_host()
    host.handle("run_to", 60)
    for _ in range(10000):
        host.tick()
        if not host.playing:
            break
    assert host.session.iteration == 60
    assert ("reached", 60) in messages
    host.flush(force=True)
    snaps = [p for k, p in messages if k == "snapshot"]
    iterations = [it for s in snaps for it, _ in s["history"]]
    assert sorted(iterations) == list(range(1, 61))  # every point sent exactly once
    assert any("heldout_accuracy" in m for s in snaps for _, m in s["history"])


def test_hyperparam_change_rewrites_the_future_history():
    host, messages = make_host()
    for _ in range(5):
        host.handle("step_iteration")
    host.handle("seek", 2)
    host.handle("hyper", ("lr", 0.01))
    host.flush(force=True)
    snap = [p for k, p in messages if k == "snapshot"][-1]
    assert snap["history_reset"] and max(it for it, _ in snap["history"]) == 2
    assert snap["view"]["hyperparams"]["lr"] == 0.01


def test_nan_pauses_with_a_clear_message():
    host, messages = make_host()
    host.handle("hyper", ("lr", 1e6))
    host.handle("play")
    for _ in range(200):
        host.tick()
        if not host.playing:
            break
    errors = [p for k, p in messages if k == "error"]
    assert errors and "learning rate" in errors[-1]
    assert all(np.isfinite(p).all() for p in host.session.trainer.model.params())


def test_session_saved_and_reopened_where_it_was(tmp_path):
    host, messages = make_host()
    for _ in range(25):
        host.handle("step_iteration")
    host.handle("hyper", ("lr", 0.02))
    for _ in range(5):
        host.handle("step_iteration")
    for _ in range(3):
        host.handle("step_phase")
    path = str(tmp_path / "run.stepwise.npz")
    host.handle("save_session", path)
    assert not [p for k, p in messages if k == "error"]
    assert host.session.iteration == 30 and host.session.phase == 3  # saving does not move the cursor
    params = [p.copy() for p in host.session.trainer.model.params()]
    history = dict(host.session.history)

    other, other_messages = make_host()
    other.handle("open_session", path)
    assert other.replay is not None  # the engine replays to the saved cursor in slices
    other.finish_replay()
    s = other.session
    assert s.iteration == 30 and s.phase == 3  # reopened exactly where it was
    assert s.history == history and s.trainer.optimizer.lr == 0.02
    for a, b in zip(params, s.trainer.model.params()):
        assert np.array_equal(a, b)
    # going back before the save point and forward again reproduces the same state
    s.seek(12)
    s.run(18)
    for a, b in zip(params, s.trainer.model.params()):
        assert np.array_equal(a, b)


def test_foreign_session_file_is_refused_clearly(tmp_path):
    host, messages = make_host()
    bad = tmp_path / "bad.npz"
    np.savez(bad, x=np.zeros(3))
    host.handle("open_session", str(bad))
    assert any(k == "error" and "not a saved Stepwise session" in p for k, p in messages)
    assert host.session.trainer.lab == "mlp"


def test_no_snapshot_while_one_is_in_flight_and_no_curve_point_lost():
    messages = []
    in_flight = {"busy": False}
    host = SessionHost(lambda kind, payload: messages.append((kind, payload)), lambda: not in_flight["busy"])
    assert host.configure(CONFIG)
    in_flight["busy"] = True  # the UI has not taken the last snapshot yet
    before = len([k for k, _ in messages if k == "snapshot"])
    for _ in range(20):
        host.handle("step_iteration")
        host.flush(force=True)
    assert len([k for k, _ in messages if k == "snapshot"]) == before
    in_flight["busy"] = False
    host.flush(force=True)
    snap = messages[-1][1]
    assert [it for it, _ in snap["history"]] == list(range(1, 21)) and snap["iteration"] == 20


def test_the_pipe_reader_reads_ahead_hands_over_what_it_did_not_deliver_and_sees_the_end():
    import multiprocessing as mp
    import threading
    import time
    from visualizer.worker import PipeReader

    ui_end, engine_end = mp.Pipe()
    woken = threading.Event()
    reader = PipeReader(ui_end, woken.set)
    for i in range(3):
        engine_end.send(("info", i))
    deadline = time.monotonic() + 5
    while len(reader.messages) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert woken.is_set() and list(reader.messages) == [("info", i) for i in range(3)]
    assert reader.messages.popleft() == ("info", 0)
    backlog = reader.stop()
    engine_end.send(("info", 3))
    again = PipeReader(ui_end, lambda: None, backlog)   # the same pipe, read again (a lab switched back)
    engine_end.close()
    assert again.closed.wait(5)
    assert list(again.messages) == [("info", i) for i in (1, 2, 3)]
    again.stop()


def test_the_pipe_reader_reads_at_most_AHEAD_snapshots_the_window_has_not_taken():
    """Beyond, the engine's sender waits and the engine builds no snapshot the window would not draw."""
    import multiprocessing as mp
    import time
    from visualizer.worker import PipeReader

    ui_end, engine_end = mp.Pipe()
    reader = PipeReader(ui_end, lambda: None)
    for i in range(PipeReader.AHEAD + 1):
        engine_end.send(("snapshot", i))
    time.sleep(0.3)
    assert [m[1] for m in reader.messages] == list(range(PipeReader.AHEAD))
    reader.messages.popleft()                       # the window took one: the next is read
    deadline = time.monotonic() + 5
    while len(reader.messages) < PipeReader.AHEAD and time.monotonic() < deadline:
        time.sleep(0.01)
    assert [m[1] for m in reader.messages] == list(range(1, PipeReader.AHEAD + 1))
    reader.stop()
