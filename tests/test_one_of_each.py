"""One of each: one Adam and one Adagrad (numpy_engine/optimizers.py) for every NumPy lab, torch.optim for
every torch lab, one model writer (engines.loading.write_model, the pair of read_model), and a __repr__ on
the engine objects that shows a student the layers and their shapes."""
import re
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from engines.labs import make_trainer
from engines.loading import read_model, write_model
from engines.numpy_engine.conv import MaxPool2dOp
from engines.numpy_engine.optimizers import Adagrad, Adam

ROOT = Path(__file__).resolve().parent.parent


def engine_sources() -> dict[str, str]:
    return {str(p.relative_to(ROOT)): p.read_text(encoding="utf-8") for p in (ROOT / "engines").rglob("*.py")}


def test_one_adam_and_one_adagrad():
    for path, text in engine_sources().items():
        found = re.findall(r"^class (\w*(?:Adam|Adagrad)\w*)\b", text, re.M)
        if path != "engines/numpy_engine/optimizers.py":
            assert not found, (path, found)
    assert isinstance(make_trainer({"lab": "char-rnn", "hidden": 8}).optimizer, Adagrad)
    assert type(make_trainer({"lab": "lstm", "engine": "numpy", "hidden": 8}).optimizer) is Adam
    assert isinstance(make_trainer({"lab": "lstm", "hidden": 8}).optimizer, torch.optim.Adam)


def test_every_model_file_is_written_by_one_helper():
    for path, text in engine_sources().items():
        if path not in ("engines/loading.py", "engines/state_io.py", "engines/atomic.py"):
            assert "torch.save(" not in text and "np.savez(" not in text, path


@pytest.mark.parametrize("tensors", [False, True])
def test_write_model_round_trip_atomic_and_pickle_free(tmp_path, tensors):
    arrays = {"w": np.arange(6, dtype=np.float32).reshape(2, 3), "b": np.ones(3, np.float32)}
    if tensors:
        arrays = {"net": {k: torch.from_numpy(v.copy()) for k, v in arrays.items()}}
    path = tmp_path / ("m.pt" if tensors else "m.npz")
    meta = {"format": "stepwise-model-1", "lab": "mlp", "iteration": 3}
    write_model(path, meta, arrays)
    assert not list(tmp_path.glob("*.part")) and not list(tmp_path.glob(".*"))   # the temporary file is gone
    if tensors:
        payload = torch.load(path, weights_only=True)   # plain data: no pickled objects needed
        assert payload["meta"] == meta and set(payload["state_dict"]["net"]) == {"w", "b"}
        expected = {f"net/{k}": v for k, v in arrays["net"].items()}
    else:
        with np.load(path, allow_pickle=False) as f:
            assert set(f.files) == {"__meta__", "w", "b"}
        assert zipfile.is_zipfile(path)
        expected = arrays
    got_meta, got = read_model(path, "mlp", expected, ("stepwise-model-1",))
    assert got_meta["iteration"] == 3
    for k, v in expected.items():
        np.testing.assert_array_equal(got[k], np.asarray(v))


def test_a_model_prints_its_layers_and_shapes():
    t = make_trainer({"lab": "cnn", "channels": "4,8"})
    text = repr(t.model)
    assert text.startswith("CNNModel(\n") and text.endswith("4,266 parameters")
    assert "Conv2d('conv1': Conv 1→4 3×3 pad 1 + relu; weight 4×1×3×3 float32, bias 4 float32; 40 parameters)" in text
    assert "MaxPool2d('pool1': MaxPool 2×2; no parameters)" in text and "loss: SoftmaxCrossEntropy()" in text
    assert repr(t.model.layers[0].operations[0]) == "Conv2dOp(weight 4×1×3×3 float32, stride=1, padding=1)"
    assert repr(MaxPool2dOp(3, 2)) == "MaxPool2dOp(kernel=3, stride=2)"
    t.model.forward(np.zeros((2, 1, 28, 28), np.float32))
    assert "→ (2, 4, 28, 28)" in repr(t.model.layers[0])   # after a forward: the output's shape too
    assert repr(t.optimizer).startswith("Momentum(lr=0.02, momentum=0.9; t=0; 6 parameter arrays: 4×1×3×3, 4,")
    trainer_text = repr(t)
    assert "lab='cnn', engine='numpy'" in trainer_text and "(4) output: Flatten + Dense 392→10; 3,930 parameters → (10,)" \
        in trainer_text


def test_the_other_engine_objects_print_their_shapes():
    torch_cnn = make_trainer({"lab": "cnn", "engine": "torch", "channels": "4,8"})
    assert "(0) conv1: Conv 1→4 3×3 pad 1 + relu; conv.weight 4×1×3×3, conv.bias 4; 40 parameters" in repr(torch_cnn.runner)
    rnn = make_trainer({"lab": "char-rnn", "hidden": 16}).model
    assert repr(rnn).startswith("RecurrentNet(rnn: 65 characters → 2 layers of 16 → 65; embed 65×16, W_hh0 16×16")
    assert "2,945 float32 in one buffer" in repr(rnn.flat)
    lstm = make_trainer({"lab": "lstm", "engine": "numpy", "hidden": 8})
    assert repr(lstm.model).startswith("NumpyLSTM(lstm:") and "W_hh0 32×8" in repr(lstm.model)
    assert repr(lstm.optimizer).startswith("Adam(lr=0.002, beta1=0.9, beta2=0.999; t=0; 1 parameter array:")


def test_printing_does_not_disturb_an_iteration():
    from visualizer.session import Session
    a, b = (make_trainer({"lab": "mlp", "hidden": "16", "batch_size": 8}) for _ in range(2))
    s = Session(a)
    s.step_phase()
    repr(a)          # the blocks' shapes run a forward pass: the iteration in progress must not notice
    s.step_iteration()
    Session(b).run(1)
    for p, q in zip(a.model.params(), b.model.params()):
        np.testing.assert_array_equal(p, q)
