"""The residual lab's trainer: same init and data for both runs, the gradient split, going back in time."""
import numpy as np
import pytest
import torch

from engines import StepwiseError
from engines.labs import make_trainer
from engines.labs.resnet_torch import TorchRun
from engines.trainer import BACKWARD
from visualizer.session import Session

torch.set_num_threads(1)

SMALL = {"lab": "resnet", "engine": "torch", "depth": 8, "batch_size": 8, "seed": 3}
NUMPY = {"lab": "resnet", "engine": "numpy", "depth": 6, "batch_size": 8, "seed": 3}


def params_of(trainer) -> list[np.ndarray]:
    out = []
    for run in trainer.runs:
        if isinstance(run, TorchRun):
            out += [v.detach().numpy().copy() for v in run.net.state_dict().values()]
            for s in run.optimizer.state_dict()["state"].values():
                out += [v.numpy().copy() for v in s.values() if isinstance(v, torch.Tensor)]
        else:
            out += [p.copy() for p in run.model.params()]
    return out


@pytest.mark.parametrize("config", [SMALL, NUMPY, dict(SMALL, compare="optimizer", norm="bn"),
                                    dict(SMALL, norm="gnws", plain=True)])
def test_back_n_forward_n_is_bit_identical(config):
    trainer = make_trainer(dict(config))
    session = Session(trainer)
    session.run(7)
    session.step_phase()
    session.step_phase()
    ahead = params_of(trainer)
    loss = trainer.last_metrics["loss"]
    for _ in range(2 + 3 * len(session.specs)):
        session.step_back_phase()
    assert session.iteration == 4 and session.phase == 0
    session.run(3)
    session.step_phase()
    session.step_phase()
    assert trainer.last_metrics["loss"] == loss
    for a, b in zip(ahead, params_of(trainer)):
        np.testing.assert_array_equal(a, b)


def test_runs_share_init_and_batches():
    trainer = make_trainer(dict(SMALL))
    res, plain = trainer.runs
    assert res.skip and not plain.skip
    for a, b in zip(res.net.state_dict().values(), plain.net.state_dict().values()):
        assert torch.equal(a, b)
    session = Session(trainer)
    session.step_phase()  # forward of the stem: no skip anywhere yet, both runs see the same batch
    assert torch.equal(res.outputs[0], plain.outputs[0])


@pytest.mark.parametrize("config", [SMALL, NUMPY])
def test_block_grad_norms_split_and_plain_skip_zero(config):
    trainer = make_trainer(dict(config))
    Session(trainer).run(2)
    ev = trainer.evaluate()
    res, plain = ev["block_grad_norms"], ev["plain_block_grad_norms"]
    n_res = len(trainer.primary.residual)
    assert len(res) == len(plain) == n_res == len(trainer.residual_labels())
    for n in res:
        assert n["skip"] > 0 and n["branch"] > 0
        # ‖s + b‖ lies between |‖s‖ − ‖b‖| and ‖s‖ + ‖b‖
        assert abs(n["skip"] - n["branch"]) - 1e-6 <= n["total"] <= n["skip"] + n["branch"] + 1e-6
    for n in plain:
        assert n["skip"] == 0.0 and n["branch"] == pytest.approx(n["total"])
    assert 0 <= ev["heldout_accuracy"] <= 1 and 0 <= ev["plain_heldout_macro_f1"] <= 1
    summary = trainer.summary()
    assert summary["init_first_block_grad_ratio_plain_over_residual"] > 0


def test_stepping_shows_the_gradient_arriving_block_by_block():
    trainer = make_trainer(dict(SMALL))
    session = Session(trainer)
    session.run(1)
    n_blocks = len(trainer.blocks())
    for _ in range(n_blocks + 1):  # all forwards and the loss
        session.step_phase()
    view = trainer.view_data(1)
    assert not view["runs"][0]["fresh"].any()  # no backward of this iteration yet
    session.step_phase()  # backward of the head
    session.step_phase()  # backward of the last residual block
    fresh = trainer.view_data(1)["runs"][0]["fresh"]
    assert fresh.dtype == bool and fresh[-1] and not fresh[:-1].any()
    spec = session.specs[session.phase - 1]
    assert spec.kind == BACKWARD
    data = session.block_phase_data(spec.block)
    assert "grad_split" in data[BACKWARD] and data[BACKWARD]["grad_split"]["total"] > 0


def test_view_data_shapes_and_steps():
    trainer = make_trainer(dict(SMALL, compare="optimizer"))
    Session(trainer).run(2)
    view = trainer.view_data(2)
    assert [r["optimizer"] for r in view["runs"]] == ["adam", "adamax"]
    steps = view["steps"]["runs"]
    assert len(steps) == 2 and steps[0]["steps"].shape == steps[1]["steps"].shape
    assert not np.array_equal(steps[0]["steps"], steps[1]["steps"])
    names, ratios = view["runs"][0]["ratio_names"], view["runs"][0]["ratios"]
    assert len(names) == len(ratios) and np.all(ratios > 0)
    lines = trainer.final_lines()
    assert [line["optimizer"] for line in lines] == ["adam", "adamax"]


def test_bad_settings_are_one_sentence_errors():
    for bad in [dict(depth=15), dict(arch="resnet18"), dict(optimizer="lbfgs"), dict(norm="ln"), dict(compare="x"),
                dict(engine="numpy", depth=7), dict(arch="resnet50", batch_size=64)]:
        with pytest.raises(StepwiseError):
            make_trainer(dict(SMALL, **bad))


def test_torch_only_settings_on_numpy_are_noted_not_fatal():
    notes = []
    trainer = make_trainer(dict(NUMPY, norm="bn", arch="resnet50", notify=notes.append))
    assert trainer.norm == "none" and trainer.arch == "small" and len(notes) == 2


def test_resnet50_opens_and_steps_one_input():
    trainer = make_trainer({"lab": "resnet", "arch": "resnet50", "compare": "none", "seed": 0})
    blocks = trainer.blocks()
    assert len(blocks) == 18 and blocks[-1].out_shape == (10,)
    assert sum(b.n_params for b in blocks) == 25_557_032 - 2048 * 990 - 990  # a 10-way head
    session = Session(trainer)
    for _ in range(len(session.specs)):
        session.step_phase()
    assert session.iteration == 1
    norms = trainer.primary.block_grad_norms()
    assert len(norms) == 16 and all(np.isfinite(n["total"]) and n["total"] > 0 for n in norms)
    fwd = session.block_phase_data(3)
    assert fwd["forward"]["input_image"].shape == (224, 224)


def test_saved_session_reopens_exactly(tmp_path):
    config = dict(SMALL)
    trainer = make_trainer(dict(config))
    session = Session(trainer)
    session.run(6)
    session.step_phase()
    path = str(tmp_path / "resnet.stepwise.npz")
    session.save(path, config)
    session.run(2)
    again, _ = Session.open(path, make_trainer)
    again.run(2)
    for a, b in zip(params_of(trainer), params_of(again.trainer)):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("config", [SMALL, NUMPY], ids=["torch", "numpy"])
def test_a_back_step_while_playing_shows_what_stepping_there_shows_without_a_replay(config):
    """← while ResNet plays phase by phase: in the forward phases, and inside backward (the blocks not
    reached yet show what they showed just after the loss), the phase before is rebuilt from the trainer's
    caches, bit for bit what stepping there shows, for every block."""
    from tests.test_time_travel import back_steps_from_caches_are_exact
    from engines.labs import make_trainer
    nb = len(make_trainer(dict(config)).blocks())
    # forward: 2 and the last forward phase; backward: just after the first backward phase, the middle,
    # and the last backward phase (before the update)
    back_steps_from_caches_are_exact(config, {2, nb, nb + 2, nb + 3, (3 * nb) // 2 + 1, 2 * nb + 1})
