"""The Session: phase-by-phase stepping, going back in time, determinism, the settings log,
recovery from a diverging run, keyframe thinning. All in-process, no Qt."""
import numpy as np
import pytest

from engines import StepwiseError
from engines.labs import make_trainer
from engines.trainer import BACKWARD, FORWARD, LOSS, UPDATE
from visualizer.session import Session

CONFIG = {"lab": "mlp", "seed": 0, "hidden": "32,16"}


def new_session(**overrides) -> Session:
    config = dict(CONFIG, **{k: v for k, v in overrides.items() if k != "max_keyframes"})
    kwargs = {"max_keyframes": overrides["max_keyframes"]} if "max_keyframes" in overrides else {}
    return Session(make_trainer(config), **kwargs)


def params(session: Session) -> list[np.ndarray]:
    return [p.copy() for p in session.trainer.model.params()]


def assert_same_params(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert np.array_equal(x, y)


def assert_same_state(a: dict, b: dict):
    """Everything that changes while training: params, optimizer buffers, generator, data order."""
    assert a["iteration"] == b["iteration"]
    assert_same_params(a["params"], b["params"])
    assert a["optimizer"]["t"] == b["optimizer"]["t"] and a["optimizer"]["lr"] == b["optimizer"]["lr"]
    assert a["optimizer"]["state"].keys() == b["optimizer"]["state"].keys()
    for k in a["optimizer"]["state"]:
        assert_same_params(a["optimizer"]["state"][k], b["optimizer"]["state"][k])
    assert a["hyper"] == b["hyper"]
    assert a["rng"] == b["rng"]
    assert np.array_equal(a["perm"], b["perm"]) and a["cursor"] == b["cursor"]


def losses(session: Session) -> list[float]:
    return [session.history[i]["loss"] for i in sorted(session.history)]


def run_recording(session: Session, iterations: int) -> dict[int, list[np.ndarray]]:
    """Run iterations one by one; the params at every iteration boundary on the way."""
    seen = {session.iteration: params(session)}
    for _ in range(iterations):
        session.step_iteration()
        seen[session.iteration] = params(session)
    return seen


# ---------------------------------------------------------------- phases
def test_phases_in_order_one_by_one():
    s = new_session()
    blocks = s.trainer.blocks()
    assert [b.name for b in blocks] == ["dropout", "dense1", "dense2", "output"]
    n = len(blocks)
    expected = ([(FORWARD, i) for i in range(n)] + [(LOSS, -1)]
                + [(BACKWARD, i) for i in reversed(range(n))] + [(UPDATE, -1)])
    assert [(spec.kind, spec.block) for spec in s.specs] == expected
    assert s.specs[0].label == "forward · Dropout p=0.3"
    assert s.specs[1].label == "forward · Dense 784→32 + relu"
    assert s.specs[n - 1].label == "forward · Dense 16→10"
    assert s.specs[n].label.startswith("loss")
    assert s.specs[n + 1].label == "backward · Dense 16→10"
    assert s.specs[-1].label.startswith("update")
    assert s.current_label().startswith("ready: next is forward")

    for iteration in range(2):
        for index, spec in enumerate(s.specs):
            assert s.iteration == iteration and s.phase == index
            event = s.step_phase()
            assert event.iteration == iteration and event.index == index and event.spec == spec
            if index < len(s.specs) - 1:
                assert s.current_label() == spec.label
        assert s.iteration == iteration + 1 and s.phase == 0
        assert np.isfinite(s.history[iteration + 1]["loss"])


def test_block_phase_data_only_for_phases_reached():
    s = new_session()
    assert s.block_phase_data(1) == {}
    for _ in range(2):  # forward through dropout and dense1
        s.step_phase()
    data = s.block_phase_data(1)
    assert set(data) == {FORWARD}
    assert data[FORWARD]["activation"]["vector"].shape == (32,)
    assert s.block_phase_data(2) == {}
    s.step_iteration()  # the rest of the iteration
    data = s.block_phase_data(1)
    assert set(data) == {FORWARD, LOSS, BACKWARD, UPDATE}
    assert data[BACKWARD]["grad_output"]["vector"].shape == (32,)
    assert len(data[UPDATE]["update_norms"]) == 2


# ---------------------------------------------------------------- going back
def test_step_back_and_forward_is_bit_identical():
    s = new_session()
    n = len(s.specs)
    seen = run_recording(s, 30)
    state30 = s.trainer.get_state()
    history30 = losses(s)

    for _ in range(n):  # one whole iteration, a phase at a time
        s.step_back_phase()
    assert (s.iteration, s.phase) == (29, 0)
    assert_same_params(params(s), seen[29])
    for _ in range(3):
        s.step_back_phase()
    assert (s.iteration, s.phase) == (28, n - 3)
    s.step_back_iteration()  # mid-iteration: back to its start
    assert (s.iteration, s.phase) == (28, 0)
    for _ in range(3):
        s.step_back_iteration()
    assert (s.iteration, s.phase) == (25, 0)
    assert_same_params(params(s), seen[25])
    s.seek(17)
    assert (s.iteration, s.phase) == (17, 0)
    assert_same_params(params(s), seen[17])  # 13 iterations back

    for _ in range(n):  # forward again: a phase at a time, then whole iterations
        s.step_phase()
    assert_same_params(params(s), seen[18])
    for _ in range(3):
        s.step_phase()
    s.step_iteration()  # finishes iteration 18
    assert_same_params(params(s), seen[19])
    while s.iteration < 30:
        s.step_iteration()
    assert_same_state(s.trainer.get_state(), state30)
    assert losses(s) == history30


def test_seek_clamps_and_step_back_at_the_start_is_a_no_op():
    s = new_session()
    s.step_back_phase()
    s.step_back_iteration()
    assert (s.iteration, s.phase) == (0, 0)
    seen = run_recording(s, 5)
    s.seek(99)
    assert s.iteration == 5
    s.seek(-3)
    assert s.iteration == 0
    assert_same_params(params(s), seen[0])


def test_same_seed_same_run_other_seed_other_run():
    runs = {}
    for name, seed in [("a", 0), ("b", 0), ("c", 1)]:
        s = new_session(seed=seed)
        s.run(15)
        runs[name] = (losses(s), params(s))
    assert runs["a"][0] == runs["b"][0]
    assert_same_params(runs["a"][1], runs["b"][1])
    assert runs["a"][0] != runs["c"][0]


# ---------------------------------------------------------------- the settings log
def test_hyperparameter_changes_are_replayed():
    s = new_session()
    s.run(20)
    s.seek(10)
    s.set_hyperparam("lr", 0.01)  # at a boundary: from iteration 10 on; the old future is dropped
    assert s.furthest == 10 and max(s.history) == 10
    assert s.trainer.hyperparams()["lr"] == 0.01
    s.run(5)
    for _ in range(3):
        s.step_phase()
    s.set_hyperparam("momentum", 0.5)  # mid-iteration: from the next boundary (16) on
    assert s.trainer.hyperparams()["momentum"] == 0.9
    s.step_iteration()
    assert s.iteration == 16
    seen = run_recording(s, 9)
    assert s.trainer.hyperparams() == {"lr": 0.01, "momentum": 0.5}
    state25, history25 = s.trainer.get_state(), losses(s)

    s.seek(4)  # before both changes
    assert s.trainer.hyperparams() == {"lr": 0.05, "momentum": 0.9}
    s.seek(13)
    assert s.trainer.hyperparams() == {"lr": 0.01, "momentum": 0.9}
    assert_same_params(params(s), seen.get(13, params(s)))
    s.seek(2)
    while s.iteration < 25:
        s.step_iteration()
        if s.iteration in seen:
            assert_same_params(params(s), seen[s.iteration])
    assert_same_state(s.trainer.get_state(), state25)
    assert losses(s) == history25


def test_changing_a_setting_changes_the_future():
    a = new_session()
    a.run(12)
    b = new_session()
    b.run(6)
    b.set_hyperparam("lr", 0.2)
    b.run(6)
    assert losses(a)[:6] == losses(b)[:6]
    assert losses(a)[6:] != losses(b)[6:]


@pytest.mark.parametrize("mid_iteration", [False, True], ids=["at-a-boundary", "mid-iteration"])
@pytest.mark.parametrize("name, value", [("lr", -1.0), ("lr", float("nan")), ("no_such_setting", 1.0)])
def test_a_bad_setting_is_refused_and_changes_nothing(mid_iteration, name, value):
    s = new_session()
    s.run(6)
    s.seek(3)
    if mid_iteration:
        s.step_phase()
    log, furthest, hyper = list(s.settings_log), s.furthest, s.trainer.hyperparams()
    with pytest.raises(StepwiseError):
        s.set_hyperparam(name, value)
    assert s.settings_log == log and s.furthest == furthest == 6 and max(s.history) == 6
    assert s.trainer.hyperparams() == hyper
    s.run(4)  # training goes on, also past the point where the bad value would have applied
    assert s.iteration == 7 and all(np.isfinite(v) for v in losses(s))


def test_a_setting_made_mid_iteration_is_checked_but_applies_at_the_next_boundary():
    s = new_session()
    s.step_phase()
    s.set_hyperparam("lr", 0.2)
    assert s.trainer.hyperparams()["lr"] == 0.05
    assert s.settings_log == [(1, "lr", 0.2)]
    s.step_iteration()
    assert s.trainer.hyperparams()["lr"] == 0.05  # applied when iteration 1 begins
    s.step_phase()
    assert s.trainer.hyperparams()["lr"] == 0.2


# ---------------------------------------------------------------- a diverging run
@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("by_phase", [False, True], ids=["by-iteration", "by-phase"])
def test_nan_loss_raises_and_keeps_the_state_before(by_phase):
    s = new_session()
    s.run(5)
    s.set_hyperparam("lr", 1e6)
    error = None
    for _ in range(50):
        before = s.trainer.get_state()
        try:
            if by_phase:
                for _ in range(len(s.specs)):
                    s.step_phase()
            else:
                s.step_iteration()
        except StepwiseError as e:
            error = e
            break
    assert error is not None, "a learning rate of 1e6 should make the loss NaN"
    message = str(error)
    assert "learning rate" in message and f"iteration {before['iteration'] + 1}" in message
    assert s.phase == 0 and s.iteration == before["iteration"]
    after = s.trainer.get_state()
    assert all(np.isfinite(p).all() for p in after["params"])
    assert_same_state(after, before)  # params, and also the batch order and the dropout generator

    # the iterations before the failing one already blew the weights up (a finite loss of ~1e17):
    # go back to before the change, lower the learning rate, and training goes on, deterministically
    s.seek(5)
    s.set_hyperparam("lr", 0.01)
    s.run(3)
    assert all(np.isfinite(v) for v in losses(s))
    end = s.trainer.get_state()
    s.seek(2)
    while s.iteration < end["iteration"]:
        s.step_iteration()
    assert_same_state(s.trainer.get_state(), end)


# ---------------------------------------------------------------- keyframe thinning
def test_keyframe_thinning_keeps_replay_bit_identical():
    s = new_session(max_keyframes=4)
    s.trainer.keyframe_every = 2
    seen = run_recording(s, 40)
    assert len(s.keyframes) <= 4 and 0 in s.keyframes
    end = s.trainer.get_state()
    for target in (3, 31, 17, 0, 40, 22):
        s.seek(target)
        assert s.iteration == target
        assert_same_params(params(s), seen[target])
        assert len(s.keyframes) <= 4
    s.seek(25)
    for _ in range(2 * len(s.specs) + 1):
        s.step_back_phase()
    while s.iteration < 40:
        s.step_iteration()
    assert_same_state(s.trainer.get_state(), end)
