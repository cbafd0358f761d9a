"""Time travel that holds up: keyframes evenly spaced in memory and on disk, temporary keyframes
near the cursor, branches instead of lost futures, replay in slices that keeps reading commands.
Everything bit-exact: step back n and forward n gives the same state. In-process, no Qt."""
import os
import time

import numpy as np
import pytest

from engines.labs import make_trainer
from visualizer import host as host_module
from visualizer.session import Session
from visualizer.host import SessionHost

CONFIG = {"lab": "mlp", "seed": 0, "hidden": "32,16"}


def params(session):
    model = session.trainer.model
    if hasattr(model, "params"):
        return [p.copy() for p in model.params()]
    return flat_state(session.trainer.get_state())  # any lab: every array of its state


def flat_state(tree) -> list:
    """Every array in a trainer's state (torch tensors as NumPy), in a fixed order."""
    if isinstance(tree, dict):
        return [a for k in sorted(tree, key=str) for a in flat_state(tree[k])]
    if isinstance(tree, (list, tuple)):
        return [a for x in tree for a in flat_state(x)]
    if hasattr(tree, "detach"):
        return [tree.detach().cpu().numpy().copy()]
    if isinstance(tree, np.ndarray):
        return [tree.copy()]
    return [np.array(tree)] if isinstance(tree, (int, float)) else []


def same(a, b):
    return len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b))


def as_if_iterations_took(session, seconds: float = 0.2) -> None:
    """From now on the session believes each iteration takes ``seconds`` (an LSTM's, a ResNet's: a heavy lab)."""
    session._measure_iteration = lambda _seconds: None
    session._it_seconds = seconds


def record(session, iterations):
    seen = {session.iteration: params(session)}
    for _ in range(iterations):
        session.step_iteration()
        seen[session.iteration] = params(session)
    return seen


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("STEPWISE_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache" / "keyframes"


def small_session(kf_bytes_memory: int, kf_bytes_disk: int) -> Session:
    trainer = make_trainer(dict(CONFIG))
    size = Session(make_trainer(dict(CONFIG)))._kf_bytes
    s = Session(trainer, keyframe_budget_bytes=int(kf_bytes_memory * size), disk_budget_bytes=int(kf_bytes_disk * size),
                pool_budget_bytes=3 * size)
    s.adaptive = False  # the spacing comes from the budgets alone here, not from timing
    s.store.interval = 2
    return s


def test_keyframes_go_to_disk_and_come_back_bit_identical(cache):
    s = small_session(kf_bytes_memory=3.5, kf_bytes_disk=6.5)
    seen = record(s, 40)
    assert s.store.disk_bytes() > 0 and s.store.memory_bytes() <= 3.5 * s._kf_bytes
    assert len(list(cache.iterdir())) == 1 and any(cache.iterdir().__next__().iterdir())
    for target in (37, 3, 21, 0, 40, 9, 30):
        s.seek(target)
        assert s.iteration == target and same(params(s), seen[target])
    s.close()
    assert not any(cache.iterdir()), "the cache folder is removed when the session closes"


def test_keyframes_stay_evenly_spaced_when_the_budgets_are_full(cache):
    s = small_session(kf_bytes_memory=2.5, kf_bytes_disk=3.5)
    record(s, 200)
    its = s.keyframes
    gaps = {b - a for a, b in zip(its, its[1:])}
    assert gaps == {s.store.interval}, f"uneven keyframes {its}"
    assert s.store.interval >= 32 and its[0] == 0
    s.close()


def test_stale_cache_folders_of_dead_processes_are_removed(cache):
    cache.mkdir(parents=True)
    stale = cache / "999999999-abc"
    stale.mkdir()
    (stale / "0-10.npz").write_bytes(b"x")
    s = small_session(kf_bytes_memory=1.5, kf_bytes_disk=10)
    record(s, 20)
    assert not stale.exists() and s.store.disk_bytes() > 0
    s.close()


def test_temporary_keyframes_make_repeated_steps_back_cheap():
    s = Session(make_trainer(dict(CONFIG)))
    s.adaptive = False
    s.store.interval = 64
    s.near_every = 1
    seen = record(s, 130)
    s.seek(100)
    assert (0, 99) in s.pool and (0, 98) in s.pool, "the replay left temporary keyframes just before the target"
    replayed = []
    original = s.step_iteration

    def counting(detail=False):
        replayed.append(1)
        original(detail)

    s.step_iteration = counting
    for expected in range(99, 90, -1):
        replayed.clear()
        s.step_back_iteration()
        assert s.iteration == expected and same(params(s), seen[expected])
        assert len(replayed) <= 1, "one step back replays one iteration, not the whole gap"


def test_a_step_back_inside_an_iteration_replays_only_its_phases():
    s = Session(make_trainer(dict(CONFIG)))
    s.run(25)
    for _ in range(5):
        s.step_phase()
    calls = []
    original = s.trainer.run_iteration
    s.trainer.run_iteration = lambda detail=True: (calls.append(detail), original(detail))[1]
    s.step_back_phase()
    assert (s.iteration, s.phase) == (25, 4)
    assert calls == [True], "restored the start of this iteration, replayed 4 phases of it, nothing before"


def test_a_setting_changed_after_going_back_starts_a_branch_and_keeps_the_old_future():
    s = Session(make_trainer(dict(CONFIG)))
    seen_a = record(s, 30)
    history_a = dict(s.history)
    s.seek(12)
    s.set_hyperparam("lr", 0.2)
    assert len(s.lines) == 2 and s.line.fork == 12 and s.furthest == 12
    assert max(s.history) == 12 and s.lines[0].furthest == 30 and s.lines[0].history == history_a
    assert s.lines[0].label == "lr 0.05" and s.line.label == "lr 0.2 from iteration 12"
    seen_b = record(s, 10)
    assert not same(seen_b[22], seen_a[22]) and same(seen_b[12], seen_a[12])
    # back to the first branch: its future is exact, and so is the new one's after switching again
    s._seek_position(s.switch_line(0))
    assert s.furthest == 30 and s.iteration == 22
    assert same(params(s), seen_a[22])
    s.seek(30)
    assert same(params(s), seen_a[30]) and s.trainer.hyperparams()["lr"] == 0.05
    s._seek_position(s.switch_line(1))
    assert s.iteration == 22 and same(params(s), seen_b[22]) and s.trainer.hyperparams()["lr"] == 0.2
    s.seek(15)
    assert same(params(s), seen_b[15])


def test_branches_survive_save_and_open(tmp_path):
    s = Session(make_trainer(dict(CONFIG)))
    seen_a = record(s, 20)
    s.seek(8)
    s.set_hyperparam("lr", 0.3)
    seen_b = record(s, 7)
    for _ in range(2):
        s.step_phase()
    path = str(tmp_path / "run.stepwise.npz")
    s.save(path, dict(CONFIG))
    assert (s.iteration, s.phase) == (15, 2)
    t, _ = Session.open(path, make_trainer)
    assert (t.iteration, t.phase, t.line_id) == (15, 2, 1)
    assert {l.id: (l.fork, l.furthest, l.label) for l in t.lines.values()} == \
        {l.id: (l.fork, l.furthest, l.label) for l in s.lines.values()}
    t.seek(11)
    assert same(params(t), seen_b[11])
    t._seek_position(t.switch_line(0))
    t.seek(19)
    assert same(params(t), seen_a[19])


# ---------------------------------------------------------------- the engine process's side
def make_host_for(config):
    host = SessionHost(lambda kind, payload: None)
    assert host.configure(dict(config))
    return host, None


def make_host():
    messages = []
    host = SessionHost(lambda kind, payload: messages.append((kind, payload)))
    assert host.configure(dict(CONFIG))
    return host, messages


def settle(host):
    while host.busy():
        host.tick()


def test_replay_runs_in_slices_shows_progress_and_a_new_seek_replaces_the_old(monkeypatch):
    monkeypatch.setattr(host_module, "PROGRESS_AFTER", 0.0)
    monkeypatch.setattr(host_module, "REPLAY_SLICE", 0.0)  # one iteration per slice
    host, messages = make_host()
    s = host.session
    s.adaptive = False
    s.store.interval = 64
    s.pool.budget = 0
    seen = record(s, 70)
    host.handle("seek", 50)
    assert host.replay is not None and s.iteration == 70  # nothing done yet: tick() does it
    host.tick()
    host.tick()
    progress = [p for k, p in messages if k == "progress"]
    assert progress and progress[-1]["target"] == 50 and 0 <= progress[-1]["fraction"] < 1
    host.handle("seek", 40)  # dragging on: the pending target is replaced
    settle(host)
    assert s.iteration == 40 and same(params(s), seen[40])
    assert [p for k, p in messages if k == "progress"][-1] == {"done": True}
    snap = [p for k, p in messages if k == "snapshot"][-1]
    assert snap["iteration"] == 40


def test_pause_cancels_a_replay_and_the_cursor_stays_exact(monkeypatch):
    monkeypatch.setattr(host_module, "REPLAY_SLICE", 0.0)
    host, messages = make_host()
    s = host.session
    s.adaptive = False
    s.store.interval = 64
    s.pool.budget = 0  # no temporary keyframe near 60: the replay is long
    seen = record(s, 70)
    host.handle("seek", 60)
    for _ in range(5):
        host.tick()
    host.handle("pause")
    assert host.replay is None and 0 < s.iteration < 60
    assert same(params(s), seen[s.iteration])
    host.flush(force=True)
    assert [p for k, p in messages if k == "snapshot"][-1]["iteration"] == s.iteration


def test_a_setting_sent_during_a_replay_applies_where_the_replay_was_going():
    host, _ = make_host()
    s = host.session
    record(s, 30)
    host.handle("seek", 10)
    host.handle("hyper", ("lr", 0.2))
    assert s.iteration == 10 and s.settings_log[-1] == (10, "lr", 0.2) and len(s.lines) == 2


def test_step_back_inside_an_iteration_is_answered_from_what_was_shown():
    host, messages = make_host()
    for _ in range(3):
        host.handle("step_iteration")
    shown = []
    for _ in range(4):
        host.handle("step_phase")
        shown.append(host.snapshot())
    host.handle("back_phase")
    assert host.session.phase == 4 and host.shown_phase() == 3  # the engine stays; the view goes back
    again = host.snapshot()
    assert again["phase"] == 3 and again["label"] == shown[2]["label"]
    for kind, data in shown[2]["block_data"].items():
        for k, v in data.items():
            assert np.array_equal(np.asarray(again["block_data"][kind][k]), np.asarray(v))
    host.handle("step_phase")
    assert host.shown_phase() == 4 and host.virtual is None
    host.handle("back_phase")
    host.handle("back_phase")
    host.handle("hyper", ("lr", 0.1))  # needs the engine exactly where the view is
    assert host.session.phase == 2 and host.virtual is None


def test_switching_branch_from_the_engine_process():
    host, messages = make_host()
    s = host.session
    seen = record(s, 20)
    host.handle("seek", 5)
    settle(host)
    host.handle("hyper", ("lr", 0.25))
    host.handle("step_iteration")
    host.flush(force=True)
    snap = [p for k, p in messages if k == "snapshot"][-1]
    assert [l["label"] for l in snap["lines"]] == ["lr 0.05", "lr 0.25 from iteration 5"]
    assert snap["line"] == 1 and 0 in snap["line_curves"] and len(snap["line_curves"][0]) == 20
    host.handle("switch_line", 0)
    settle(host)
    assert s.line_id == 0 and s.iteration == 6 and same(params(s), seen[6])


def test_the_engine_process_removes_its_keyframe_folder_when_it_quits(cache):
    host, _ = make_host()
    s = host.session
    s.store.memory_budget = 0  # everything but the newest keyframe goes to disk
    s.adaptive = False
    s.store.interval = 2
    record(s, 10)
    assert s.store.disk_bytes() > 0 and any(cache.iterdir())
    host.close()
    assert not any(cache.iterdir())
    assert os.path.isdir(cache)


def boundary_view(host):
    host._sent_block_data = None   # the arrays in full, even where the last snapshot sent the same (the window has them)
    snap = host.snapshot()
    view = {k: v for k, v in snap["view"].items() if k != "sample"}  # the text sample is time-throttled
    return snap["block_data"], view, snap["last_metrics"]


def same_tree(a, b) -> bool:
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(same_tree(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return isinstance(b, (list, tuple)) and len(a) == len(b) and all(same_tree(x, y) for x, y in zip(a, b))
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and a.dtype == b.dtype and np.array_equal(a, b, equal_nan=True)
    if isinstance(a, float) and isinstance(b, float) and np.isnan(a) and np.isnan(b):
        return True
    return type(a) is type(b) and a == b


def idle(host: SessionHost, ticks: int) -> None:
    """The engine left idle past PREFETCH_AFTER (filling the pool waits that long after the last press),
    then ``ticks`` ticks of idle work."""
    quiet_until = time.perf_counter() + host_module.PREFETCH_AFTER + 0.05
    while time.perf_counter() < quiet_until:
        host.tick()
        time.sleep(0.005)
    for _ in range(ticks):
        host.tick()


@pytest.mark.parametrize("config", [
    {"lab": "lstm", "seed": 0, "hidden": 16, "depth": 2, "seq_len": 12, "batch_size": 4},
    {"lab": "mlp", "seed": 0, "hidden": "32,16"},
])
def test_shift_left_onto_a_kept_view_shows_what_a_replay_shows_and_pays_its_iteration_later(config):
    """Heavy labs keep the views of the boundaries behind the cursor (from the jump's replay and
    from the second trainer while idle): Shift+← restores the state and shows the kept view at
    once; the view, the metrics and the parameters are those a replay gives, bit for bit, and a
    request that reads the trainer's caches (another block) first replays the one iteration owed."""
    host, _ = make_host_for(config)
    s = host.session
    s.adaptive = False
    s.store.interval = 8
    s.near_every = 1
    seen = record(s, 30)
    as_if_iterations_took(s, 0.2)
    host.handle("seek", 26)
    settle(host)
    # the jump replayed from keyframe 16, not 24 (10 iterations of 0.2 s stay under DEEP_JUMP_SECONDS),
    # so the views of the next Shift+← presses are there at once
    assert all(s._has_view(j) for j in range(18, 26)) and s.prepared_view_at(25 * len(s.specs))
    idle(host, 400)  # the second trainer prepares states and views further back
    reference, _ = make_host_for(config)
    reference.session.run(30)
    replayed = []
    original = s.step_iteration
    s.step_iteration = lambda detail=False: (replayed.append(1), original(detail))
    for expected in range(25, 17, -1):
        host.handle("back_iteration")
        settle(host)
        assert s.iteration == expected and same(params(s), seen[expected])
        assert s.owed is not None, f"iteration {expected}: the view was not kept"
        reference.handle("seek", expected)
        settle(reference)
        assert same_tree(boundary_view(host), boundary_view(reference)), f"iteration {expected}"
    assert not replayed, "Shift+← onto kept views replays nothing"
    other = next(i for i, b in enumerate(s.trainer.blocks()) if b.n_params and i != s.selected_block)
    host.handle("select", other)   # reads the trainer's caches: the owed iteration is replayed first
    reference.handle("select", other)
    assert len(replayed) == 1 and s.owed is None and same(params(s), seen[18])
    assert same_tree(boundary_view(host), boundary_view(reference))
    host.handle("step_iteration")
    assert same(params(s), seen[19])


@pytest.mark.parametrize("config", [
    {"lab": "lstm", "seed": 0, "hidden": 16, "depth": 2, "seq_len": 12, "batch_size": 4},
])
def test_left_from_the_first_phase_onto_a_kept_boundary_view_replays_nothing(config):
    """← from phase 1 (a heavy lab played phase by phase) goes to the boundary before it: its kept view is
    shown at once, as Shift+← shows one, the same as a replay gives, bit for bit."""
    host, _ = make_host_for(config)
    s = host.session
    s.adaptive = False
    s.store.interval = 8
    s.near_every = 1
    record(s, 30)
    as_if_iterations_took(s, 0.2)
    # a state kept at every iteration, as a heavy lab's are: whether a copy is cheap is measured, and a
    # copy slowed by a loaded machine (the full suite) left iteration 27 without one, so ← replayed
    s._pool_is_cheap = lambda: True
    host.handle("seek", 26)
    settle(host)
    host.handle("play")
    while not (s.iteration == 28 and s.phase == 1):   # played phase by phase (0.2 s an iteration)
        host.tick()
    at = s.iteration
    replayed = []
    original = s.step_iteration
    s.step_iteration = lambda detail=False: (replayed.append(1), original(detail))
    host.handle("back_phase")
    settle(host)
    assert not replayed and s.owed is not None and s.iteration == at and s.phase == 0
    reference, _ = make_host_for(config)
    reference.session.run(at)
    assert same_tree(boundary_view(host), boundary_view(reference))
    assert same(params(s), params(reference.session))


def test_idle_engine_prepares_the_next_steps_back_with_a_second_trainer():
    host, _ = make_host()
    s = host.session
    s.adaptive = False
    s.store.interval = 16
    s.near_every = 1
    seen = record(s, 40)
    as_if_iterations_took(s, 0.2)  # an LSTM's or a ResNet's: worth preparing
    s.prepare_views = False  # states only here (the views: the test below)
    host.handle("seek", 30)
    settle(host)
    s.pool.clear()
    trainer_params = params(s)
    idle(host, 200)  # the engine fills the pool behind the cursor
    assert all(s._has_state(j) for j in range(20, 30)), sorted(s.pool.keys())
    assert same(params(s), trainer_params), "the cursor's own trainer was not touched"
    for expected in range(29, 22, -1):
        replayed = []
        original = s.step_iteration
        s.step_iteration = lambda detail=False: (replayed.append(1), original(detail))
        host.handle("back_iteration")
        settle(host)
        del s.step_iteration
        assert s.iteration == expected and same(params(s), seen[expected]) and len(replayed) == 1


# ---------------------------------------------------------------- any sequence of moves
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

MOVES = st.lists(st.one_of(
    st.tuples(st.sampled_from(["step_phase", "step_iteration", "back_phase", "back_iteration", "run", "run"])),
    st.tuples(st.just("seek"), st.floats(0, 1)),
    st.tuples(st.just("lr"), st.sampled_from([0.02, 0.1])),
    st.tuples(st.just("switch"), st.integers(0, 5)),
), min_size=5, max_size=30)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(moves=MOVES, budgets=st.sampled_from([(2.5, 4.5, 3), (2.5, 4.5, 0), (100, 0, 0), (2.5, 4.5, 6)]),
       views=st.booleans())
def test_any_walk_through_time_and_branches_meets_the_same_states(moves, budgets, views, cache):
    """Wherever a walk of steps, steps back, jumps, branches and switches lands on an iteration
    boundary, the parameters are those first seen there on that line: across memory, disk,
    temporary keyframes, widened spacing, branches and Shift+← onto a kept view (``views``)."""
    memory, disk, pool = budgets  # memory, disk and temporary keyframes, in keyframes
    s = small_session(kf_bytes_memory=memory, kf_bytes_disk=disk)
    s.pool.budget = pool * s._kf_bytes  # without temporary keyframes the keyframes alone must be right
    s.prepare_views = views
    seen = {}

    def check():
        if s.phase == 0:
            key = s._owner(s.iteration)
            if key in seen:
                assert same(params(s), seen[key]), f"state differs at {key} after {moves}"
            else:
                seen[key] = params(s)

    check()
    for move in moves:
        kind = move[0]
        if kind == "run":
            for _ in range(7):
                s.step_iteration()
                check()
        elif kind == "seek":
            s.seek(int(move[1] * s.furthest))
        elif kind == "lr":
            s.set_hyperparam("lr", move[1])
        elif kind == "switch":
            s._seek_position(s.switch_line(move[1] % len(s.lines)))
        else:
            getattr(s, {"back_phase": "step_back_phase", "back_iteration": "step_back_iteration"}.get(kind, kind))()
        check()
    s.close()


def _engine_keeping_keyframes_on_disk(conn, config):
    """The engine process's entry point, with no memory for keyframes: they all go to disk."""
    from visualizer import host as h, worker as w
    h.session_budgets = lambda config: {"keyframe_budget_bytes": 0, "interval": 1}
    w.worker_main(conn, config)


def test_a_terminated_engine_process_still_removes_its_keyframe_folder(cache):
    import multiprocessing as mp
    import time
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    p = ctx.Process(target=_engine_keeping_keyframes_on_disk, args=(child, dict(CONFIG)))
    p.start()
    parent.send(("run_to", 100000))
    deadline = time.time() + 60
    while time.time() < deadline and not (cache.is_dir() and any(f for d in cache.iterdir() for f in d.iterdir())):
        while parent.poll(0):
            parent.recv()
        time.sleep(0.05)
    assert any(cache.iterdir()), "keyframes should have gone to disk"
    p.terminate()  # SIGTERM, as SessionClient.close does when the engine does not quit in time
    p.join(10)
    assert not p.is_alive() and not any(cache.iterdir())


def test_views_shown_during_play_are_kept_for_the_first_steps_back():
    """At full speed a heavy lab keeps the view of every boundary it passes (and its snapshots show
    them), so the first Shift+← presses after a pause replay nothing, and show what a replay shows."""
    config = {"lab": "lstm", "seed": 0, "hidden": 16, "depth": 2, "seq_len": 12, "batch_size": 4}
    host, _ = make_host_for(config)
    s = host.session
    as_if_iterations_took(s, 0.2)
    s.near_every = 1
    seen = {}
    for _ in range(12):
        s.step_iteration()
        if s.iteration % 3 == 0:
            host.snapshot()   # play sends snapshots now and then
        seen[s.iteration] = params(s)
    reference, _ = make_host_for(config)
    reference.session.run(12)
    replayed = []
    original = s.step_iteration
    s.step_iteration = lambda detail=False: (replayed.append(1), original(detail))
    for expected in (11, 10, 9):
        host.handle("back_iteration")
        settle(host)
        reference.handle("seek", expected)
        settle(reference)
        assert s.iteration == expected and same(params(s), seen[expected])
        assert same_tree(boundary_view(host), boundary_view(reference))
    assert not replayed


def test_a_request_that_reads_only_the_weights_keeps_the_kept_views():
    """The paused text view asks for a sample at every new iteration: generation reads the weights
    alone, so it neither replays the owed iteration nor drops the kept views; the sample is the one
    the exact state gives."""
    config = {"lab": "lstm", "seed": 0, "hidden": 16, "depth": 2, "seq_len": 12, "batch_size": 4}
    host, _ = make_host_for(config)
    replies = []
    host.send = lambda kind, payload: replies.append(payload) if kind == "reply" else None
    s = host.session
    as_if_iterations_took(s, 0.2)
    s.near_every = 1
    s.run(10)
    host.handle("back_iteration")
    assert s.owed is not None
    host.handle("command", ("sample", {"length": 40, "seed": 7}))
    assert s.owed is not None and s.prepared_view_at(8 * len(s.specs)), "nothing replayed, nothing dropped"
    reference, _ = make_host_for(config)
    reference.session.run(9)
    expected = reference.session.trainer.command("sample", {"length": 40, "seed": 7})
    assert replies[-1][1]["text"] == expected["text"]
    assert s.trainer.reads_caches("batch") and not s.trainer.reads_caches("sample")


def test_the_disk_tier_never_takes_more_than_half_the_free_space(cache, monkeypatch):
    import collections
    from visualizer import keyframes
    s = small_session(kf_bytes_memory=1.5, kf_bytes_disk=100)
    size = s._kf_bytes
    usage = collections.namedtuple("usage", "total used free")
    monkeypatch.setattr(keyframes.shutil, "disk_usage", lambda path: usage(10 * size, 0, 6 * size + size // 2))
    seen = record(s, 40)
    assert s.store.disk_limit() == 3 * size + size // 4
    assert 0 < s.store.disk_bytes() <= s.store.disk_limit()
    s.seek(5)
    assert same(params(s), seen[5])
    s.close()


def test_a_heavy_lab_starts_with_keyframes_as_close_as_this_machine_needs():
    s = Session(make_trainer(dict(CONFIG)), interval=None)
    s.store.interval = 16  # as if the lab's default spacing were 16
    s._kf_seconds = 1e-4
    s._measure_iteration(0.2)  # 200 ms an iteration: a gap of 2 replays in 0.4 s
    assert s.store.interval == 2
    s._measure_iteration(0.2)
    assert s.store.interval == 2, "narrowed once, at the first measurement; later it only widens"


def back_steps_from_caches_are_exact(config: dict, phases) -> None:
    """For each k of ``phases``: a heavy lab played phase by phase to phase k, then ← with every block selected
    in turn, is answered from the trainer's caches (Trainer.shows_from_caches: no replay), and the snapshot is
    bit for bit what stepping to phase k − 1 shows; → returns to the engine's phase, and play goes on to the
    very state a plain run reaches."""
    from tests.test_text_labs import arrays_of
    from visualizer.host import SessionHost
    for k in sorted(phases):
        host = SessionHost(lambda kind, payload: None)
        host.configure(dict(config))
        s = host.session
        s.run(2)
        s._measure_iteration = lambda _seconds: None
        s._it_seconds = 0.2                      # a heavy lab: play goes phase by phase
        host.handle("play")
        while s.phase != k:
            host.tick()
        replays = []
        original = s.step_iteration
        s.step_iteration = lambda detail=False: (replays.append(1), original(detail))
        for block in range(len(s.trainer.blocks())):
            host.handle("select", block) if block != s.selected_block else None
            while s.phase != k:   # a selection brings the engine exactly to what is shown: play on to k
                host.handle("play")
                host.tick()
            host.handle("back_phase")
            assert host.replay is None and s.phase == k and host.virtual == k - 1, (k, block)
            got = boundary_view(host)
            ref = SessionHost(lambda kind, payload: None)
            ref.configure(dict(config))
            ref.session.run(2)
            ref.session.select_block(block)
            for _ in range(k - 1):
                ref.session.step_phase()
            assert same_tree(got, boundary_view(ref)), (k, block)
            host.handle("step_phase")             # → back to the engine's own phase
            assert host.virtual is None and s.phase == k
        assert not replays
        host.handle("play")
        while s.iteration < 4:
            host.tick()
        plain = SessionHost(lambda kind, payload: None)
        plain.configure(dict(config))
        plain.session.run(4)
        assert same_tree(arrays_of(s.trainer.get_state()), arrays_of(plain.session.trainer.get_state()))
