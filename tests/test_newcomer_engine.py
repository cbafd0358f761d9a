"""What a newcomer meets, engine side (no Qt): the update named as a phase, the batch behind the
diagram's "input" and "loss" boxes, reports and landscape paths that follow the timeline."""
import numpy as np
import pytest

from engines.labs import make_trainer
from engines.landscape import ParameterTrajectory, with_path_iterations
from visualizer.session import Session

CONFIG = {"lab": "mlp", "seed": 0, "hidden": "32,16"}


def test_the_update_is_named_after_the_last_phase():
    s = Session(make_trainer(dict(CONFIG)))
    assert s.current_label().startswith("ready: next is forward")
    for _ in range(len(s.specs)):
        s.step_phase()
    assert s.iteration == 1 and s.phase == 0
    label = s.current_label()
    assert label.startswith("update") and "applied" in label and "next: forward" in label
    s.set_hyperparam("lr", 0.5)
    assert "(lr 0.5)" in s.current_label()  # the rate it names is the one in use


def test_batch_view_gives_the_batch_then_each_examples_loss():
    s = Session(make_trainer(dict(CONFIG)))
    t = s.trainer
    assert t.command("batch", {}) == {"images": None}  # nothing computed yet
    s.step_phase()  # forward of the first block: the batch is drawn, no loss yet
    reply = t.command("batch", {})
    assert reply["images"].shape == (64, 28, 28) and reply["batch_size"] == 64
    assert np.array_equal(reply["labels"], t._y)
    assert "losses" not in reply
    while s.specs[s.phase - 1].kind != "loss":
        s.step_phase()
    reply = t.command("batch", {})
    # ℓ_i = −log p_i(true); their mean is the loss of the loss phase
    p_true = reply["probs"][np.arange(64), reply["labels"]]
    assert np.allclose(reply["losses"], -np.log(p_true))
    assert reply["losses"].mean() == pytest.approx(s.block_phase_data(1)["loss"]["loss"], rel=1e-5)
    s.step_iteration()
    s.step_phase()  # the next iteration's batch: its loss is not computed yet
    assert "losses" not in t.command("batch", {})


def test_batch_view_matches_between_engines():
    """The twins draw the same batch with the same weights: the same per-example losses."""
    replies = []
    for engine in ("numpy", "torch"):
        s = Session(make_trainer(dict(CONFIG, engine=engine, dropout=0.0)))
        while not s.phase or s.specs[s.phase - 1].kind != "loss":
            s.step_phase()
        replies.append(s.trainer.command("batch", {}))
    a, b = replies
    assert np.array_equal(a["labels"], b["labels"])
    assert np.allclose(a["images"], b["images"])
    assert np.allclose(a["losses"], b["losses"], rtol=1e-4, atol=1e-6)


def test_the_report_follows_the_timeline():
    s = Session(make_trainer(dict(CONFIG)))
    s.run(100)  # evaluations at 50 and 100
    assert s.trainer.view_data(1)["report"]["iteration"] == 100
    late = s.trainer.view_data(1)["report"]["accuracy"]
    s.seek(60)
    early = s.trainer.view_data(1)["report"]
    assert early["iteration"] == 50
    assert early["accuracy"] == s.history[50]["heldout_accuracy"] != late
    s.seek(30)
    assert "report" not in s.trainer.view_data(1)  # no evaluation before iteration 50


def test_landscape_paths_carry_their_iterations():
    traj = ParameterTrajectory(every=10)
    for it in range(0, 45):
        traj.maybe_record(it, lambda: [np.full(3, float(it))])
    assert traj.iterations_to(35) == [0, 10, 20, 30, 35]
    assert len(traj.path_to(35, [np.zeros(3)])) == 5

    def task():
        yield {"progress": 0.5}
        yield {"done": True, "paths": {"mlp": np.zeros((5, 2))}}
    out = list(with_path_iterations(task(), traj.iterations_to(35)))
    assert "path_iterations" not in out[0]
    assert out[1]["path_iterations"] == {"mlp": [0, 10, 20, 30, 35]}


def test_weights_are_shown_before_any_forward_phase():
    """A new run (or one restored from a keyframe) has weights: the inspector shows them."""
    s = Session(make_trainer(dict(CONFIG)))
    data = s.trainer.phase_data(1, 1)  # forward of Dense 784→32, nothing computed yet
    assert data["weight_tiles"].shape == (32, 28, 28)
    assert "activation" not in data


def test_measure_both_engines_says_what_it_does_before_the_slow_parts(monkeypatch):
    """The first "Measure both engines" sat silent for 10-30 s: loading PyTorch, then torch._dynamo
    (imported by the first torch.optim optimizer), ran before the task's first word."""
    import engines.labs as labs
    trainer = make_trainer({"lab": "cnn", "seed": 0, "channels": "4,8", "batch_size": 8})
    built = []
    real = labs.make_trainer
    monkeypatch.setattr(labs, "make_trainer", lambda config: built.append(config["engine"]) or real(config))
    task = trainer.speed_task(iterations=1)
    first = next(task)
    assert built == [] and "building the numpy twin" in first["stage"]
    stages = [p.get("stage", "") for p in task]
    assert built == ["numpy", "torch"]
    assert any("torch twin" in s for s in stages) and any("timing the torch engine" in s for s in stages)
    assert trainer.speed_result["torch_it_per_s"] > 0


@pytest.mark.parametrize("engine, suffix", [("numpy", ".npz"), ("torch", ".pt")])
def test_a_model_with_other_layers_is_named_in_words(tmp_path, engine, suffix):
    from engines import StepwiseError
    path = str(tmp_path / f"m{suffix}")
    make_trainer(dict(CONFIG, engine=engine)).save(path)
    with pytest.raises(StepwiseError) as e:
        make_trainer(dict(CONFIG, engine=engine, hidden="16")).load(path)
    message = str(e.value)
    assert "[" not in message and "'" not in message  # not a Python list
    assert "Dense 784→32 + relu → Dense 32→16 + relu" in message and "this one has" in message


def test_loading_a_model_says_so(tmp_path):
    from visualizer.host import SessionHost
    messages = []
    host = SessionHost(lambda kind, payload: messages.append((kind, payload)))
    assert host.configure(dict(CONFIG))
    host.handle("run_to", 3)
    while host.playing:
        host.tick()
    path = str(tmp_path / "m.npz")
    host.handle("save", path)
    host.handle("load", path)
    infos = [p for k, p in messages if k == "info"]
    assert any(p.startswith("Loaded the model from") and path in p for p in infos)
    assert host.session.iteration == 0
