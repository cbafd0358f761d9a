"""The batch-size-1 lab's routing net (--router): only the chosen expert gets a gradient and an
update, the staged phases equal one autograd graph, determinism, exact going back, files, the CLI."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from engines import StepwiseError
from engines.labs import make_trainer
from engines.labs.router import GROUP_OF, NETS
from engines.trainer import BACKWARD, FORWARD
from visualizer.session import Session

torch.set_num_threads(1)
ROOT = Path(__file__).resolve().parent.parent
CONFIG = {"lab": "batch1", "router": True, "seed": 0}


def params(t) -> list[torch.Tensor]:
    return [p.detach().clone() for net in NETS for p in t.nets[net].parameters()]


def test_gradient_reaches_only_the_chosen_expert():
    t = make_trainer(CONFIG)
    s = Session(t)
    s.run(3)
    before = {net: [[p.detach().clone() for p in r.parameters()] for r in t.nets[net].runners] for net in NETS}
    while s.phase < len(s.specs) - 1:                  # every phase but the update
        s.step_phase()
    for net in NETS:
        routed = t.nets[net]
        k = routed.chosen
        assert 0 <= k < routed.K
        for i, r in enumerate(routed.runners):
            grads = [p.grad for p in r.parameters()]
            if i >= 2 and i - 2 != k:
                assert all(g is None for g in grads), (net, i)          # no gradient at all
            else:
                assert all(g is not None and bool(g.abs().sum() > 0) for g in grads), (net, i)
        view = t.view_data(0)["routing"][net]
        assert view["chosen"] == k and [g is not None for g in view["grad_norms"]] == \
            [True, True] + [j == k for j in range(routed.K)]
    s.step_phase()                                     # the update
    for net in NETS:
        k = t.nets[net].chosen
        for i, r in enumerate(t.nets[net].runners):
            changed = any(not torch.equal(p, q) for p, q in zip(r.parameters(), before[net][i]))
            assert changed == (i < 2 or i - 2 == k), (net, i)
    # the phases of an unchosen expert say so
    P = t.parts
    other = next(j for j in range(t.n_experts) if j != t.nets["gnws"].chosen)
    data = s.block_phase_data(P + 2 + other)
    assert data[FORWARD]["skipped"] and "not chosen" in data[BACKWARD]["note"]


def test_staged_phases_equal_one_autograd_graph():
    """Stem, router and the chosen expert run as separate graphs; the stem's gradient is the sum of
    what the expert and the router send back. One graph through all three gives the same gradients."""
    t = make_trainer(CONFIG)
    s = Session(t)
    s.run(2)
    while s.phase < len(s.specs) - 1:
        s.step_phase()
    x, y = t._x, torch.from_numpy(t._y)
    for net in NETS:
        routed = t.nets[net]
        staged = [p.grad.clone() if p.grad is not None else None for p in routed.parameters()]
        for p in routed.parameters():
            p.grad = None
        for m in routed.modules():
            m.train(True)       # BN: the statistics of this one image again, as in the staged forward
            for sub in m.modules():
                if isinstance(sub, torch.nn.BatchNorm2d):
                    sub.momentum = 0.0                  # without moving the running ones
        h = routed.stem.net(x)
        gate_logits = routed.router.net(h)
        z = routed.experts[routed.chosen].net(h)
        loss = F.cross_entropy(z, y) + F.cross_entropy(gate_logits, GROUP_OF[y])
        loss.backward()
        for a, p in zip(staged, routed.parameters()):
            if a is None:
                assert p.grad is None
            else:
                torch.testing.assert_close(p.grad, a, rtol=1e-4, atol=1e-6)


def test_same_seed_same_numbers_and_step_back_bit_identical():
    s = Session(make_trainer(CONFIG))
    s.run(8)
    here = params(s.trainer)
    loss = s.history[8]["loss"]
    chosen = [row[2:] for row in s.trainer.routing_log]
    for _ in range(5):
        s.step_back_iteration()
    assert s.iteration == 3
    for _ in range(7):                        # into the middle of an iteration, phase by phase
        s.step_phase()
    s.step_back_phase()
    s.run(5)
    assert s.iteration == 8 and s.phase == 0
    assert all(torch.equal(a, b) for a, b in zip(params(s.trainer), here))
    assert s.history[8]["loss"] == loss and [row[2:] for row in s.trainer.routing_log] == chosen
    other = Session(make_trainer(CONFIG))
    other.run(8)
    assert all(torch.equal(a, b) for a, b in zip(params(other.trainer), here))


def test_evaluation_summary_and_files(tmp_path):
    t = make_trainer(CONFIG)
    Session(t).run(3)
    e = t.evaluate()
    assert 0 <= e["heldout_top1"] <= e["heldout_top5"] <= 1
    summary = t.summary()
    assert summary["heldout_top1"] == e["heldout_top1"] and len(summary["expert_share"]) == 3
    assert sum(summary["expert_share"]) == pytest.approx(1.0, abs=1e-3)
    assert np.sum(summary["expert_digits"]) == len(t.data.heldout_y)
    path = tmp_path / "router.pt"
    t.save(str(path))
    u = make_trainer(CONFIG)
    u.load(str(path))
    assert all(torch.equal(a, b) for a, b in zip(params(u), params(t)))
    assert u.evaluate()["heldout_top1"] == e["heldout_top1"]
    plain = tmp_path / "plain.pt"
    make_trainer({"lab": "batch1"}).save(str(plain))        # the lab's two plain CNNs, not a routing net
    with pytest.raises(StepwiseError, match="two plain CNNs, not a routing net"):
        u.load(str(plain))


def test_bad_settings_get_one_sentence():
    with pytest.raises(StepwiseError, match="batch size to 1"):
        make_trainer(dict(CONFIG, batch_size=2))


def test_cli_summary_has_top1_top5_and_expert_share():
    r = subprocess.run([sys.executable, "main.py", "--lab", "batch1", "--router", "--headless", "--steps", "3"],
                       cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout.strip().splitlines()[-1])
    assert {"heldout_top1", "heldout_top5", "expert_share"} <= set(summary) and summary["router"]
    bad = subprocess.run([sys.executable, "main.py", "--lab", "batch1", "--router", "--batch-size", "4", "--headless",
                          "--steps", "1"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and "batch size to 1" in bad.stderr


def test_the_view_shows_the_route_and_where_the_gradient_went(qtbot):
    from widgets.batch1_view import Batch1View
    from widgets.style import configure_pyqtgraph
    configure_pyqtgraph()
    v = Batch1View()
    qtbot.addWidget(v)
    v.resize(1200, 800)
    v.show()
    t = make_trainer(CONFIG)
    s = Session(t)
    s.run(3)
    t.evaluate()
    for _ in range(t.parts * 2 + 1 + 1):           # all forward phases, the loss, the first backward phase
        s.step_phase()
    snap = {"iteration": s.iteration, "phase": s.phase, "selected_block": 0, "active_kind": "backward",
            "active_block": -1, "history_reset": False, "last_metrics": dict(t.last_metrics),
            "history": [(k, dict(s.history[k])) for k in sorted(s.history)], "blocks": [],
            "block_data": s.block_phase_data(0), "view": t.view_data(0)}
    v.set_snapshot(snap)
    assert v.tabs.currentWidget() is v.router and not v.tabs.isTabVisible(v.tabs.indexOf(v.main))
    routing = v.router.diagram.routing["gnws"]
    assert routing["chosen"] == t.nets["gnws"].chosen
    assert routing["grad_norms"][0] is None                      # the stem's backward has not run yet
    assert v.router.digits_img.image.shape == (3, 10)
    assert "top-1" in v.router.summary.text() and "top-5" in v.router.summary.text()
    plain = Batch1View()
    qtbot.addWidget(plain)
    from widgets.batch1_view import fake_snapshot
    plain.set_snapshot(fake_snapshot(iteration=10))
    assert plain.tabs.currentWidget() is plain.main and not plain.tabs.isTabVisible(plain.tabs.indexOf(plain.router))
