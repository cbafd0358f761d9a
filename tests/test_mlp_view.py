"""The MLP view with real snapshots from an in-process SessionHost (no engine process)."""
import numpy as np

from visualizer.host import SessionHost
from widgets.style import configure_pyqtgraph
from widgets.mlp_view import MLPView


def host_with(messages, **config):
    host = SessionHost(lambda kind, payload: messages.append((kind, payload)))
    assert host.configure({"lab": "mlp", "seed": 0, "hidden": "32,16", **config})
    return host


def last(messages, kind):
    return [p for k, p in messages if k == kind][-1]


def test_inspector_shows_phase_data(qtbot):
    configure_pyqtgraph()
    messages = []
    host = host_with(messages)
    view = MLPView()
    qtbot.addWidget(view)
    view.show()
    for _ in range(2 + 1 + 4):  # dropout, dense1, dense2, output forward; loss; output, dense2 backward
        host.handle("step_phase")
    host.flush(force=True)
    view.set_snapshot(last(messages, "snapshot"))
    ins = view.inspector
    assert ins.input_image.image.image is not None and ins.input_image.image.image.shape == (28, 28)
    assert ins.weights.image.image.shape[0] > 28  # the first Dense layer's weights, tiled
    assert "prediction" in ins.probs.plotItem.titleLabel.text
    # the selected block (dense1) has not had its backward phase yet: the plot says when it will show, and
    # shows no numbers of a range left from other data
    note = ins.grad.bars.note.item
    assert note.isVisible() and "after this block's backward phase" in note.textItem.toPlainText()
    assert ins.grad.bars.getAxis("left").textPen().color().alpha() == 0
    assert ins.grad_hist.note.item.isVisible()
    host.handle("step_phase")   # dense1's backward: the numbers and the bars come back
    host.flush(force=True)
    view.set_snapshot(last(messages, "snapshot"))
    assert not ins.grad.bars.note.item.isVisible() and not ins.grad_hist.note.item.isVisible()
    assert ins.grad.bars.getAxis("left").textPen().color().alpha() == 255


def test_landscape_task_draws_the_path(qtbot):
    configure_pyqtgraph()
    messages = []
    host = host_with(messages, record_every=10)
    for _ in range(60):
        host.handle("step_iteration")
    host.handle("command", ("landscape", {"resolution": 7, "n_examples": 200}))
    for _ in range(500):
        host.tick()
        if not host.tasks:
            break
    done = [p for k, (n, p) in ((k, p) for k, p in messages if k == "task") if p.get("done")]
    assert done and done[-1]["loss"].shape == (7, 7) and np.isfinite(done[-1]["loss"]).all()
    view = MLPView()
    qtbot.addWidget(view)
    view.on_task("landscape", {"progress": 0.5, "stage": "grid"})
    assert view.landscape.busy
    view.on_task("landscape", done[-1])
    assert not view.landscape.busy
    path = view.landscape.paths["mlp"].getData()
    assert len(path[0]) >= 6  # recorded every 10 iterations, plus the current point


def test_too_short_a_path_is_refused_clearly(qtbot):
    messages = []
    host = host_with(messages)
    host.handle("command", ("landscape", {}))
    for _ in range(5):
        host.tick()
    assert any(k == "error" and "trajectory" in p for k, p in messages)
    assert any(k == "task" and p[1].get("cancelled") for k, p in messages)
