"""The optimizer lab: the race on a surface, exact going back, the CLI lines, the network race."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engines import StepwiseError
from engines.labs import make_trainer
from engines.labs.optimizers import ALL, NETWORK_DEFAULT
from engines.trainer import downsample_indices
from engines.numpy_engine.optimizers import make_optimizer
from engines.surfaces import make_surface
from visualizer.session import Session

ROOT = Path(__file__).resolve().parent.parent


def lab(**kw):
    return make_trainer({"lab": "optimizers", **kw})


def params_of(t):
    return np.array(t.points).copy(), [o.state_dict() for o in t.optimizers]


def same_state(a, b):
    pa, oa = a
    pb, ob = b
    assert np.array_equal(pa, pb)
    for x, y in zip(oa, ob):
        assert x["t"] == y["t"] and x["hyper"] == y["hyper"]
        for k in x["state"]:
            for u, v in zip(x["state"][k], y["state"][k]):
                assert np.array_equal(u, v)


def test_every_optimizer_races_from_the_same_start_with_its_own_rule():
    t = lab(surface="beale", start="1,1.5")
    assert t.names == ALL
    assert len(t.blocks()) == 9 and [s.kind for s in t.phase_specs()] == ["loss", "backward", "update"]
    s = make_surface("beale")
    # the race must equal running each optimizer alone on the exact gradient
    for _ in range(40):
        for _ev in t.run_iteration():
            pass
    for name, point in zip(t.names, t.points):
        p = [np.array([1.0, 1.5])]
        opt = make_optimizer(name, p, lr=s.lrs[name], **({"momentum": 0.9} if name in ("momentum", "nesterov") else {}))
        for _ in range(40):
            opt.step([np.array(s.gradient(*p[0]))])
        assert np.array_equal(p[0], point), name
    assert t.iteration == 40 and "loss" in t.last_metrics


def test_session_step_back_and_forward_is_bit_identical():
    t = lab(surface="rosenbrock", start="-1.2,1")
    s = Session(t)
    s.run(37)
    end = params_of(t)
    for _ in range(23):
        s.step_back_iteration()
    assert s.iteration == 14
    mid = params_of(t)
    s.run(23)
    same_state(params_of(t), end)
    s.seek(14)
    same_state(params_of(t), mid)
    # phase by phase, with the view data of every phase available
    s.step_phase()
    s.step_phase()
    assert s.phase == 2
    data = s.block_phase_data(6)
    assert set(data) == {"loss", "backward"} and "grad" in data["backward"]
    s.step_phase()
    data = s.block_phase_data(6)
    assert "components" in data["update"]
    np.testing.assert_allclose(data["update"]["step"], data["update"]["components"]["step"], rtol=1e-12, atol=1e-15)
    s.step_back_phase()
    assert (s.iteration, s.phase) == (14, 2)


def test_hyperparameter_change_replays_exactly():
    t = lab(surface="himmelblau", optimizers="sgd,adam")
    s = Session(t)
    s.run(10)
    s.set_hyperparam("adam.lr", 0.01)
    s.set_hyperparam("sgd.lr", 0.002)
    s.run(20)
    end = params_of(t)
    assert t.optimizers[1].lr == 0.01
    s.seek(5)
    assert t.optimizers[1].lr == make_surface("himmelblau").lrs["adam"]  # the setting of iteration 5 is back
    s.run(25)
    same_state(params_of(t), end)
    with pytest.raises(StepwiseError):
        t.set_hyperparam("adam.beta1", 1.5)
    with pytest.raises(StepwiseError):
        t.set_hyperparam("adam.rho", 0.5)


def test_determinism_and_view_data():
    a, b = lab(surface="saddle"), lab(surface="saddle")
    for t in (a, b):
        Session(t).run(500)
    same_state(params_of(a), params_of(b))
    v = a.view_data(0)
    n = len(a.names)
    assert v["paths"].shape[0] == n and v["paths"].shape[2] == 2
    assert v["losses"].shape == v["paths"].shape[:2] and len(v["iterations"]) == v["paths"].shape[1]
    assert np.array_equal(v["paths"][:, -1], v["current"])
    assert v["surface"]["z"].shape == (len(v["surface"]["y"]), len(v["surface"]["x"]))
    assert not v["surface"]["log_scale"]
    # on the saddle every optimizer eventually leaves the plot and stops there
    assert all(st > 0 for st in v["stopped"])
    racing = lab(surface="rosenbrock")
    Session(racing).run(3)
    nu = racing.view_data(0)["next_updates"]
    for comp in nu:
        assert set(comp) >= {"grad", "direction", "scale", "step", "terms"}
    before = np.array(racing.points).copy()
    Session(racing).trainer  # previews change nothing
    racing.view_data(0)
    assert np.array_equal(before, np.array(racing.points))


def test_downsampling_keeps_ends():
    idx = downsample_indices(10_001, 2000)
    assert len(idx) <= 2000 and idx[0] == 0 and idx[-1] == 10_000
    assert np.array_equal(downsample_indices(5, 2000), np.arange(5))


def test_config_errors_are_one_sentence():
    for kw, words in [({"surface": "moon"}, "Unknown surface"), ({"start": "1"}, "not two numbers"),
                      ({"start": "1e6,0"}, "far outside"), ({"optimizers": "sgd,foo"}, "Unknown optimizer"),
                      ({"surface": "quadratic", "condition": 0.1}, "condition number")]:
        with pytest.raises(StepwiseError, match=words):
            lab(**kw)


def test_config_overrides():
    t = lab(surface="quadratic", condition=10, start=(1.0, -0.5), optimizers=["adam", "momentum"], lr=0.01,
            momentum=0.5, **{"adam.beta1": 0.8})
    assert t.names == ("adam", "momentum")
    assert t.optimizers[0].lr == 0.01 and t.optimizers[0].beta1 == 0.8 and t.optimizers[1].momentum == 0.5
    assert t.start == (1.0, -0.5)
    assert "κ = 10" in t.surface.formula


def test_cli_prints_one_line_per_optimizer():
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    r = subprocess.run([sys.executable, "main.py", "--lab", "optimizers", "--headless", "--surface", "rosenbrock",
                        "--steps", "50", "--start=-1,1.5"], cwd=ROOT, capture_output=True, text=True,
                       timeout=120, env=env)
    assert r.returncode == 0, r.stderr
    lines = [json.loads(line) for line in r.stdout.splitlines()]
    per_opt = [line for line in lines if "optimizer" in line]
    assert [line["optimizer"] for line in per_opt] == list(ALL)
    for line in per_opt:
        assert all(isinstance(line[k], float) for k in ("x", "y", "loss"))
    assert lines[-1]["summary"] is True and lines[-1]["start"] == [-1.0, 1.5]


def test_network_race_shares_init_and_records_trajectories():
    t = lab(surface="network", optimizers="sgd,adam", record_every=2)
    assert t.names == ("sgd", "adam")
    w0 = [m.params()[0] for m in t.models]
    assert np.array_equal(w0[0], w0[1])
    s = Session(t)
    s.run(12)
    end = [p.copy() for m in t.models for p in m.params()]
    s.seek(5)
    s.run(7)
    for a, b in zip(end, [p for m in t.models for p in m.params()]):
        assert np.array_equal(a, b)
    trajs = t.trajectories()
    assert set(trajs) == {"sgd", "adam"} and len(trajs["sgd"]) == 7  # iterations 0, 2, ..., 12
    lines = t.final_lines()
    assert [l["optimizer"] for l in lines] == ["sgd", "adam"]
    assert all(np.isfinite(l["loss"]) and np.isfinite(l["x"]) for l in lines)
    task = t.command("landscape", {"resolution": 5, "n_examples": 200})["task"]
    msgs = list(task)
    assert all(0 <= m["progress"] <= 1 for m in msgs[:-1]) and msgs[-1]["done"]
    res = msgs[-1]
    assert res["loss"].shape == (5, 5) and set(res["paths"]) == {"sgd", "adam"}
    assert np.all(np.isfinite(res["loss"]))
    assert t.view_data(0)["landscape"] is res or "landscape" in t.view_data(0)
    assert NETWORK_DEFAULT == ("sgd", "momentum", "adam", "adamax")


@given(n=st.integers(2, 200_000), grow=st.integers(1, 5_000), limit=st.integers(3, 4_000))
@settings(max_examples=300, deadline=None)
def test_downsampled_points_stay_put_while_the_stride_holds(n, grow, limit):
    """The window strokes a path's settled points once: a longer run keeps every point but the
    last one, unless the stride doubled (then the earlier points are a subset of the old ones)."""
    before, after = downsample_indices(n, limit), downsample_indices(n + grow, limit)
    assert len(after) <= limit and after[0] == 0 and after[-1] == n + grow - 1
    assert np.all(np.diff(after) > 0)
    stride = lambda idx: idx[1] - idx[0] if len(idx) > 2 else 1
    if stride(before) == stride(after):
        assert np.array_equal(after[:len(before) - 1], before[:-1])
    else:
        assert stride(after) > stride(before) and set(after[:-1]) <= set(before) | set(range(n, n + grow))

