"""Each lab's view contract, checked on real trainers and rendered by the real views.

A lab declares what its view_data holds (``VIEW_DATA``, a TypedDict near the top of
engines/labs/<lab>.py) and, where its view reads them, what Session.block_phase_data holds
(``PHASE_DATA``). Here both engines' real trainers (small sizes, a few iterations) are checked
against those declarations — every key, every type, no key left undeclared — and the real view
renders the real snapshot; then each declared key that a view reads is taken out in turn, and the
view must fail with a KeyError naming it instead of silently drawing nothing.
"""
from __future__ import annotations

import functools
import importlib
import typing

import numpy as np
import pytest
from PySide6 import QtGui
from typeguard import CollectionCheckStrategy, TypeCheckError, check_type

from engines.labs import LABS
from visualizer.client import complete_snapshot
from visualizer.host import SessionHost
from visualizer.lab_views import make_view
from widgets.style import configure_pyqtgraph

# (lab, engine, settings): small sizes; every lab with each of its engines, and its other view modes
CASES = [
    ("mlp", "numpy", {"hidden": "16", "batch_size": 8}),
    ("mlp", "torch", {"hidden": "16", "batch_size": 8}),
    ("cnn", "numpy", {"channels": "4,8", "batch_size": 8}),
    ("cnn", "torch", {"channels": "4,8", "batch_size": 8}),
    ("batch1", "torch", {}),
    ("batch1", "torch", {"router": True}),
    ("resnet", "torch", {"depth": 8, "batch_size": 8}),
    ("resnet", "numpy", {"depth": 4, "batch_size": 8}),
    ("char-rnn", "numpy", {"hidden": 12, "seq_len": 9, "batch_size": 2}),
    ("lstm", "torch", {"hidden": 12, "seq_len": 9, "batch_size": 2}),
    ("lstm", "numpy", {"hidden": 12, "seq_len": 9, "batch_size": 2}),
    ("lstm", "torch", {"cell": "gru", "hidden": 12, "seq_len": 9, "batch_size": 2}),
    ("optimizers", "numpy", {}),
    ("optimizers", "numpy", {"surface": "network"}),
]
IDS = [f"{lab}-{engine}" + "".join(f"-{k}={v}" for k, v in cfg.items() if k in ("router", "cell", "surface"))
       for lab, engine, cfg in CASES]
# one case per view (the view code is the same for both engines) for the missing-key test
LOUD = [i for i, (lab, engine, cfg) in enumerate(CASES)
        if (lab, engine) in {("mlp", "numpy"), ("cnn", "numpy"), ("batch1", "torch"), ("resnet", "torch"),
                             ("char-rnn", "numpy"), ("lstm", "torch"), ("optimizers", "numpy")}]


def contract(lab: str) -> tuple[type, type | None]:
    """The lab's declarations, in engines/labs/<lab>.py (beside its NumPy or only trainer)."""
    module = importlib.import_module(f"engines.labs.{lab.replace('-', '_')}")
    return module.VIEW_DATA, module.PHASE_DATA


def check(value, declared, what: str) -> None:
    try:
        check_type(value, declared, collection_check_strategy=CollectionCheckStrategy.ALL_ITEMS)
    except TypeCheckError as e:
        raise AssertionError(f"{what} does not match its declaration: {e}") from None


@functools.lru_cache(maxsize=None)
def recorded(case: int) -> dict:
    """Snapshots of a real run: at iteration 0, mid-iteration after 3 iterations (evaluated at 2),
    and at the iteration boundary; with every block's phase data at each."""
    lab, engine, cfg = CASES[case]
    messages: list = []
    kept: dict = {}

    def receive(kind, payload):  # as the window's client receives them: unchanged parts put back
        if kind == "snapshot":
            complete_snapshot(payload, kept)
        messages.append((kind, payload))
    host = SessionHost(receive)
    assert host.configure({"lab": lab, "engine": engine, "seed": 0, **cfg}), messages
    s = host.session
    s.trainer.eval_every = 2                      # the held-out report is part of the contract too
    out = {"ready": [p for k, p in messages if k == "ready"][-1], "snapshots": [], "phase_data": []}

    def take() -> None:
        messages.clear()
        host.flush(force=True)
        snap = [p for k, p in messages if k == "snapshot"][-1]
        # the complete view_data and phase data, as the window has them (the host may leave out what it sent before)
        sel = s.selected_block
        out["snapshots"].append(dict(snap, view=s.trainer.view_data(sel), block_data=s.block_phase_data(sel)))
        out["phase_data"].append([s.block_phase_data(b) for b in range(len(s.trainer.blocks()))])

    take()
    if lab == "cnn":                               # an inspected example: its maps come with every view_data
        host.handle("command", ("inspect_heldout", {"index": 3}))
    for _ in range(3):
        host.handle("step_iteration")
    for _ in range(len(s.specs) // 2 + 1):
        host.handle("step_phase")
    take()
    host.handle("step_iteration")
    take()
    host.close()
    return out


def render(lab: str, ready: dict, snap: dict, qtbot):
    view = make_view(lab)
    qtbot.addWidget(view)
    view.resize(1000, 760)
    view.show()
    view.on_ready(ready)
    view.set_snapshot(snap)
    return view


def test_every_lab_and_engine_is_checked():
    covered = {(lab, engine) for lab, engine, _ in CASES}
    assert covered == {(lab, e) for lab, info in LABS.items() for e in info.engines}


@pytest.mark.parametrize("case", range(len(CASES)), ids=IDS)
def test_real_view_data_matches_its_declaration_and_renders(case, qtbot):
    configure_pyqtgraph()
    lab = CASES[case][0]
    view_type, phase_type = contract(lab)
    run = recorded(case)
    for k, snap in enumerate(run["snapshots"]):
        check(snap["view"], view_type, f"{lab} view_data (snapshot {k}, iteration {snap['iteration']})")
        if phase_type is not None:
            for b, data in enumerate(run["phase_data"][k]):
                check(data, phase_type, f"{lab} block {b} phase data (snapshot {k})")
            check(snap["block_data"], phase_type, f"{lab} snapshot {k} block_data")
    view = render(lab, run["ready"], run["snapshots"][1], qtbot)
    view.set_snapshot(run["snapshots"][2])
    image = view.grab().toImage().convertToFormat(QtGui.QImage.Format.Format_RGB32)
    pixels = np.frombuffer(image.constBits(), dtype=np.uint32, count=image.width() * image.height())
    assert len(np.unique(pixels)) > 50, "the view drew (almost) nothing"


class Reads(dict):
    """A dict that records the keys read from it (by [], get or in), and wraps the dicts inside."""

    def __init__(self, data: dict, path: tuple, log: set):
        super().__init__(data)
        self._path, self._log = path, log
        for k, v in data.items():
            if type(v) is dict:
                dict.__setitem__(self, k, Reads(v, path + (k,), log))

    def __getitem__(self, key):
        self._log.add(self._path + (key,))
        return super().__getitem__(key)

    def get(self, key, default=None):
        self._log.add(self._path + (key,))
        return super().get(key, default)

    def __contains__(self, key):
        self._log.add(self._path + (key,))
        return super().__contains__(key)


def member_for(declared, value):
    """The member of a union of TypedDicts that ``value`` matches (the declaration itself if not a union)."""
    for member in typing.get_args(declared) or (declared,):
        try:
            check_type(value, member)
            return member
        except TypeCheckError:
            pass
    raise AssertionError(f"{value!r:.200} matches no member of {declared}")


def required_path(declared, path: tuple) -> bool:
    """Whether every key along ``path`` is a required key of its (one, not a union of) TypedDict."""
    for key in path:
        if not typing.is_typeddict(declared) or key not in declared.__required_keys__:
            return False
        # the modules use `from __future__ import annotations`: NotRequired shows only in the resolved hints
        hint = typing.get_type_hints(declared, include_extras=True)[key]
        if typing.get_origin(hint) is typing.NotRequired:
            return False
        declared = hint
    return True


def without(data: dict, path: tuple) -> dict:
    out = dict(data)
    if len(path) == 1:
        del out[path[0]]
    else:
        out[path[0]] = without(out[path[0]], path[1:])
    return out


@pytest.mark.parametrize("case", LOUD, ids=[IDS[i] for i in LOUD])
def test_a_missing_declared_key_fails_loudly(case, qtbot):
    configure_pyqtgraph()
    lab = CASES[case][0]
    view_type, _ = contract(lab)
    run = recorded(case)
    snap = run["snapshots"][1]
    log: set = set()
    declared = member_for(view_type, snap["view"])
    render(lab, run["ready"], dict(snap, view=Reads(snap["view"], (), log)), qtbot)
    check(snap["view"], view_type, f"{lab} view_data after the view rendered it (a view must not write to it)")
    needed = sorted(p for p in log if required_path(declared, p))
    assert log, f"the {lab} view read nothing of its view_data"
    silent = []
    for path in needed:
        view = make_view(lab)               # a fresh view each time: no cache of the last snapshot helps it
        view.resize(1000, 760)
        view.show()
        view.on_ready(run["ready"])
        try:
            view.set_snapshot(dict(snap, view=without(snap["view"], path)))
        except KeyError as e:
            if e.args[0] == path[-1]:
                continue
        finally:
            view.close()
            view.deleteLater()
        silent.append("view" + "".join(f"[{k!r}]" for k in path))
    assert not silent, f"the {lab} view goes on without these declared keys: {', '.join(silent)}"


def fake_snapshots():
    """The widgets' made-up snapshots (their demos and tests use them), by lab."""
    from widgets import batch1_view, cnn_view, mlp_view, resnet_view, text_view
    from widgets.optimizer_common import fake_view_data
    yield "mlp", mlp_view.fake_snapshot()
    yield "cnn", cnn_view.fake_snapshot(selected=2, inspected=True)
    yield "batch1", batch1_view.fake_snapshot()
    yield "resnet", resnet_view.fake_snapshot()
    for cell in ("lstm", "gru", "rnn"):
        yield "lstm", text_view.fake_snapshot(cell)
    yield "optimizers", {"view": fake_view_data("surface")}
    yield "optimizers", {"view": fake_view_data("network")}


def test_the_widgets_made_up_data_follows_the_contracts():
    for lab, snap in fake_snapshots():
        view_type, _ = contract(lab)
        check(snap["view"], view_type, f"the made-up {lab} view_data of widgets/")
