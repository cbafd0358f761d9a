"""Every NumPy optimizer against torch.optim: the same gradients fed for 100 steps give the same
parameters (float64, relative error ≤ 1e-10), with and without weight decay, and torch's variants."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from engines.numpy_engine.optimizers import OPTIMIZERS, make_optimizer

STEPS = 100
SHAPES = [(4, 3), (5,), (2, 2, 3)]

# (our id, our kwargs, torch class, torch kwargs)
CASES = [
    ("sgd", {"lr": 0.05}, torch.optim.SGD, {"lr": 0.05}),
    ("sgd", {"lr": 0.05, "weight_decay": 0.1}, torch.optim.SGD, {"lr": 0.05, "weight_decay": 0.1}),
    ("momentum", {"lr": 0.02, "momentum": 0.9}, torch.optim.SGD, {"lr": 0.02, "momentum": 0.9}),
    ("momentum", {"lr": 0.02, "momentum": 0.8, "weight_decay": 0.05}, torch.optim.SGD,
     {"lr": 0.02, "momentum": 0.8, "weight_decay": 0.05}),
    ("nesterov", {"lr": 0.02, "momentum": 0.9}, torch.optim.SGD, {"lr": 0.02, "momentum": 0.9, "nesterov": True}),
    ("nesterov", {"lr": 0.02, "momentum": 0.7, "weight_decay": 0.05}, torch.optim.SGD,
     {"lr": 0.02, "momentum": 0.7, "nesterov": True, "weight_decay": 0.05}),
    ("adagrad", {"lr": 0.1}, torch.optim.Adagrad, {"lr": 0.1}),
    ("adagrad", {"lr": 0.1, "weight_decay": 0.05, "lr_decay": 0.01, "initial_accumulator_value": 0.1},
     torch.optim.Adagrad, {"lr": 0.1, "weight_decay": 0.05, "lr_decay": 0.01, "initial_accumulator_value": 0.1}),
    ("rmsprop", {"lr": 0.01}, torch.optim.RMSprop, {"lr": 0.01}),
    ("rmsprop", {"lr": 0.01, "alpha": 0.9, "weight_decay": 0.05}, torch.optim.RMSprop,
     {"lr": 0.01, "alpha": 0.9, "weight_decay": 0.05}),
    ("rmsprop", {"lr": 0.005, "momentum": 0.9, "centered": True, "weight_decay": 0.01}, torch.optim.RMSprop,
     {"lr": 0.005, "momentum": 0.9, "centered": True, "weight_decay": 0.01}),
    ("adadelta", {}, torch.optim.Adadelta, {}),
    ("adadelta", {"lr": 0.5, "rho": 0.95, "weight_decay": 0.05}, torch.optim.Adadelta,
     {"lr": 0.5, "rho": 0.95, "weight_decay": 0.05}),
    ("adam", {"lr": 0.01}, torch.optim.Adam, {"lr": 0.01}),
    ("adam", {"lr": 0.01, "betas": (0.8, 0.99), "weight_decay": 0.05}, torch.optim.Adam,
     {"lr": 0.01, "betas": (0.8, 0.99), "weight_decay": 0.05}),
    ("adam", {"lr": 0.01, "amsgrad": True, "weight_decay": 0.01}, torch.optim.Adam,
     {"lr": 0.01, "amsgrad": True, "weight_decay": 0.01}),
    ("adamax", {"lr": 0.02}, torch.optim.Adamax, {"lr": 0.02}),
    ("adamax", {"lr": 0.02, "betas": (0.85, 0.995), "weight_decay": 0.05}, torch.optim.Adamax,
     {"lr": 0.02, "betas": (0.85, 0.995), "weight_decay": 0.05}),
    ("adamw", {"lr": 0.01}, torch.optim.AdamW, {"lr": 0.01}),
    ("adamw", {"lr": 0.01, "weight_decay": 0.1}, torch.optim.AdamW, {"lr": 0.01, "weight_decay": 0.1}),
    ("adamw", {"lr": 0.01, "weight_decay": 0.1, "amsgrad": True}, torch.optim.AdamW,
     {"lr": 0.01, "weight_decay": 0.1, "amsgrad": True}),
]


def rel_err(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))


def run_pair(name, ours_kw, torch_cls, torch_kw, seed=0):
    rng = np.random.default_rng(seed)
    init = [rng.standard_normal(s) for s in SHAPES]
    grads = [[rng.standard_normal(s) * (1 + 0.5 * k % 3) for s in SHAPES] for k in range(STEPS)]
    ours = [p.copy() for p in init]
    opt = OPTIMIZERS[name](ours, **ours_kw)
    tp = [torch.tensor(p, dtype=torch.float64, requires_grad=True) for p in init]
    topt = torch_cls(tp, foreach=False, **torch_kw)
    worst = 0.0
    for k in range(STEPS):
        # gradients that depend on the parameters too, so a wrong update would compound
        g_ours = [g + 0.1 * p for g, p in zip(grads[k], ours)]
        opt.step(g_ours)
        for t, g in zip(tp, grads[k]):
            t.grad = torch.tensor(g, dtype=torch.float64) + 0.1 * t.detach()
        topt.step()
        worst = max(worst, max(rel_err(p, t.detach().numpy()) for p, t in zip(ours, tp)))
    return worst, ours, init


@pytest.mark.parametrize("name,ours_kw,torch_cls,torch_kw", CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_matches_torch(name, ours_kw, torch_cls, torch_kw):
    worst, ours, init = run_pair(name, ours_kw, torch_cls, torch_kw)
    assert worst <= 1e-10, f"{name}: relative error {worst:.2e}"
    assert any(not np.allclose(p, q) for p, q in zip(ours, init)), "parameters did not move"


def test_every_id_is_tested_and_has_a_rule():
    assert set(OPTIMIZERS) == {"sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adadelta", "adam", "adamax",
                               "adamw"}
    assert {c[0] for c in CASES} == set(OPTIMIZERS)
    for name, cls in OPTIMIZERS.items():
        assert cls.name == name and cls.rule and "θ" in cls.rule
        assert "lr" in cls.hyperparams


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_components_reconstruct_the_step(name):
    rng = np.random.default_rng(1)
    p = [rng.standard_normal(2), rng.standard_normal((2, 2))]
    opt = make_optimizer(name, p, lr=0.05, weight_decay=0.01)
    opt.record = True
    for _ in range(5):
        before = [q.copy() for q in p]
        grads = [rng.standard_normal(q.shape) for q in p]
        opt.step(grads)
        for q, b, c in zip(p, before, opt.last_components):
            np.testing.assert_allclose(q - b, c["step"], rtol=1e-9, atol=1e-15)
            expected = -c["scale"] * c["direction"]
            if name == "adamw":
                expected = expected + c["terms"]["−ηλθ"]
            np.testing.assert_allclose(c["step"], expected, rtol=1e-9, atol=1e-15)


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_preview_changes_nothing_and_predicts_the_step(name):
    rng = np.random.default_rng(2)
    p = [rng.standard_normal(3)]
    opt = make_optimizer(name, p, lr=0.05)
    for _ in range(3):
        opt.step([rng.standard_normal(3)])
    state = opt.state_dict()
    g = [rng.standard_normal(3)]
    before = p[0].copy()
    comps = opt.preview(g)
    assert np.array_equal(p[0], before)
    after = opt.state_dict()
    assert after["t"] == state["t"]
    for k in state["state"]:
        for a, b in zip(state["state"][k], after["state"][k]):
            assert np.array_equal(a, b)
    opt.step(g)
    np.testing.assert_allclose(p[0] - before, comps[0]["step"], rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_state_dict_round_trip_is_exact(name):
    rng = np.random.default_rng(3)
    p = [rng.standard_normal(4)]
    opt = make_optimizer(name, p, lr=0.03)
    grads = [[rng.standard_normal(4)] for _ in range(10)]
    for g in grads[:4]:
        opt.step(g)
    saved, saved_p = opt.state_dict(), p[0].copy()
    for g in grads[4:]:
        opt.step(g)
    end = p[0].copy()
    p[0][...] = saved_p
    opt.load_state_dict(saved)
    for g in grads[4:]:
        opt.step(g)
    assert np.array_equal(p[0], end)


def test_float32_parameters_stay_float32():
    for name in OPTIMIZERS:
        p = [np.ones((3, 2), dtype=np.float32)]
        opt = make_optimizer(name, p, lr=0.01)
        opt.step([np.full((3, 2), 0.5, dtype=np.float32)])
        assert p[0].dtype == np.float32
