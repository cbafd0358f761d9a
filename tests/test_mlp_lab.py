"""The MLP lab's trainer: option checks, save/load, learning for real, and that looking at the
model (diagram, held-out evaluation, a drawn digit) never disturbs training."""
import numpy as np
import pytest

from engines import StepwiseError
from engines.labs import make_trainer
from engines.labs.mlp import parse_hidden

SMALL = {"lab": "mlp", "seed": 0, "hidden": "32,16"}


def train(trainer, iterations: int) -> None:
    for _ in range(iterations):
        for _ in trainer.run_iteration(detail=False):
            pass


# ---------------------------------------------------------------- options
@pytest.mark.parametrize("value", ["0", "-5", "abc", "", " , ", "1.5", "5000", ",".join(["8"] * 9), []])
def test_parse_hidden_rejects(value):
    with pytest.raises(StepwiseError):
        parse_hidden(value)


@pytest.mark.parametrize("value, sizes", [("256,128,64", (256, 128, 64)), ("64", (64,)),
                                          (" 32, 16 ", (32, 16)), ("32 16", (32, 16)), ([8, 4], (8, 4))])
def test_parse_hidden_accepts(value, sizes):
    assert parse_hidden(value) == sizes


@pytest.mark.parametrize("config, message", [
    ({"hidden": "0"}, "out of range"),
    ({"activation": "softplus"}, "Unknown activation"),
    ({"dropout": 1.0}, "dropout"),
    ({"batch_size": 0}, "batch size"),
    ({"optimizer": "lbfgs"}, "Unknown optimizer"),
    ({"lab": "nope"}, "Unknown lab"),
    ({"engine": "jax"}, "engine"),
])
def test_bad_config_is_a_clear_error(config, message):
    with pytest.raises(StepwiseError, match=message):
        make_trainer(dict(SMALL, **config))


def test_blocks_describe_the_network():
    trainer = make_trainer(dict(SMALL, dropout=0))
    blocks = trainer.blocks()
    assert [b.label for b in blocks] == ["Dense 784→32 + relu", "Dense 32→16 + relu", "Dense 16→10"]
    assert [b.n_params for b in blocks] == [784 * 32 + 32, 32 * 16 + 16, 16 * 10 + 10]
    assert [b.out_shape for b in blocks] == [(32,), (16,), (10,)]


# ---------------------------------------------------------------- save / load
def test_save_and_load_give_the_same_heldout_metrics(tmp_path):
    a = make_trainer(SMALL)
    train(a, 40)
    metrics = a.evaluate()
    path = tmp_path / "mlp.npz"
    a.save(str(path))
    b = make_trainer(dict(SMALL, seed=7))  # other initial weights
    assert b.evaluate() != metrics
    b.load(str(path))
    assert b.evaluate() == metrics
    for p, q in zip(a.model.params(), b.model.params()):
        assert np.array_equal(p, q)


def test_load_rejects_bad_files(tmp_path):
    trainer = make_trainer(SMALL)
    with pytest.raises(StepwiseError, match="does not exist"):
        trainer.load(str(tmp_path / "missing.npz"))

    corrupt = tmp_path / "corrupt.npz"
    corrupt.write_bytes(b"PK\x03\x04 this is not really a zip file" * 10)
    with pytest.raises(StepwiseError, match="not a Stepwise model"):
        trainer.load(str(corrupt))

    cut = tmp_path / "cut.npz"
    trainer.save(str(cut))
    cut.write_bytes(cut.read_bytes()[:-200])
    with pytest.raises(StepwiseError, match="not a Stepwise model"):
        trainer.load(str(cut))

    foreign = tmp_path / "foreign.npz"
    np.savez(foreign, weights=np.zeros(3))  # a .npz, but not one Stepwise wrote
    with pytest.raises(StepwiseError, match="not a Stepwise model"):
        trainer.load(str(foreign))

    other = tmp_path / "other.npz"
    make_trainer(dict(SMALL, hidden="16")).save(str(other))
    before = [p.copy() for p in trainer.model.params()]
    with pytest.raises(StepwiseError, match="same layers"):
        trainer.load(str(other))
    assert all(np.array_equal(p, q) for p, q in zip(before, trainer.model.params()))  # untouched


def test_save_to_an_impossible_place(tmp_path):
    with pytest.raises(StepwiseError, match="does not exist; create it"):
        make_trainer(SMALL).save(str(tmp_path / "no-such-folder" / "m.npz"))


# ---------------------------------------------------------------- learning
def test_short_run_learns_mnist():
    trainer = make_trainer({"lab": "mlp", "seed": 0, "hidden": "64"})
    before = trainer.evaluate()["heldout_accuracy"]
    train(trainer, 300)
    metrics = trainer.evaluate()
    assert before < 0.3
    assert metrics["heldout_accuracy"] > 0.90, metrics
    assert np.isfinite(metrics["heldout_loss"]) and metrics["heldout_loss"] < 0.5
    report = trainer.report
    assert report["confusion"].sum() == 2000 and report["support"].sum() == 2000


# ---------------------------------------------------------------- looking does not disturb
def test_views_mid_iteration_do_not_change_training():
    """A paused iteration may be inspected — the diagram, held-out metrics, a drawn digit —
    before it goes on; the result must be the same as if nobody had looked."""
    quiet, watched = make_trainer(SMALL), make_trainer(SMALL)
    train(quiet, 4)
    train(watched, 4)
    digit = watched.data.heldout_x[0]
    for trainer, look in ((quiet, False), (watched, True)):
        for event in trainer.run_iteration(detail=True):
            if look and event.spec.kind in ("forward", "loss", "backward"):
                trainer.blocks()
                trainer.evaluate()
                trainer.command("classify", {"image": digit})
                trainer.command("heldout_examples", {"indices": [0, 1, 2]})
                for block in range(len(trainer.blocks())):
                    trainer.phase_data(event.index, block)
    for p, q in zip(quiet.model.params(), watched.model.params()):
        assert np.array_equal(p, q)
    assert quiet.last_metrics == watched.last_metrics
