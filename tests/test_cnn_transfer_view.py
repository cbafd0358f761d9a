"""The views of transfer learning and of the inputs: locks on the diagram, frozen blocks and a stopped
gradient in the CNN view, the normalization histograms and the augmentation strip; and the window
sending a lock click to the engine as a live setting."""
import numpy as np
import pytest
from PySide6 import QtCore

from engines.augment import input_statistics
from visualizer.main_window import MainWindow
from widgets import cnn_view
from widgets.cnn_view import CNNView
from widgets.common import configure_pyqtgraph
from widgets.network_diagram import NetworkDiagram

BLOCKS = [{"name": "conv1", "label": "Conv 1→4", "kind": "conv", "n_params": 40, "out_shape": (4, 28, 28)},
          {"name": "pool1", "label": "MaxPool 2×2", "kind": "pool", "n_params": 0, "out_shape": (4, 14, 14)},
          {"name": "output", "label": "Dense", "kind": "dense", "n_params": 7850, "out_shape": (10,)}]


def test_diagram_lock_toggles_and_box_selects(qtbot):
    d = NetworkDiagram()
    qtbot.addWidget(d)
    d.resize(260, 400)
    d.show()
    d.set_blocks(BLOCKS)
    d.set_transfer({"conv1", "output"}, {"conv1"}, gradient_stops_at=1)
    with qtbot.waitSignal(d.freeze_toggled) as sig:
        qtbot.mouseClick(d, QtCore.Qt.MouseButton.LeftButton, pos=d.lock_rect(1).center().toPoint())
    assert sig.args == ["conv1", False]          # frozen -> unfreeze
    with qtbot.waitSignal(d.freeze_toggled) as sig:
        qtbot.mouseClick(d, QtCore.Qt.MouseButton.LeftButton, pos=d.lock_rect(3).center().toPoint())
    assert sig.args == ["output", True]
    with qtbot.waitSignal(d.block_clicked) as sig:
        qtbot.mouseClick(d, QtCore.Qt.MouseButton.LeftButton, pos=d.box_rect(1).center().toPoint())
    assert sig.args == [0]
    with qtbot.assertNotEmitted(d.freeze_toggled):  # a pool has nothing to freeze: its box only selects
        qtbot.mouseClick(d, QtCore.Qt.MouseButton.LeftButton,
                         pos=QtCore.QPoint(int(d.lock_rect(2).center().x()), int(d.lock_rect(2).center().y())))


@pytest.fixture
def view(qtbot):
    configure_pyqtgraph()
    w = CNNView()
    qtbot.addWidget(w)
    w.resize(1100, 800)
    w.show()
    return w


def with_transfer(snap, frozen, stop):
    names = ["conv1", "pool1", "conv2", "pool2", "output"]
    for b, n in zip(snap["blocks"], names):
        b["name"] = n
    snap["view"]["transfer"] = {"frozen": frozen, "gradient_stops_at": stop, "freezable": ["conv1", "conv2", "output"],
                                "digits": [5, 6, 7, 8, 9], "init": "pre.npz", "init_report": None}
    return snap


def test_frozen_block_says_so_and_an_unreached_block_shows_no_gradient(view):
    snap = with_transfer(cnn_view.fake_snapshot(selected=2, phase_kind="backward"), ["conv1", "conv2"], 3)
    del snap["block_data"]["backward"]["grad_kernels"]
    view.set_snapshot(snap)
    tab = view.maps_tab
    assert "frozen" in tab.header.text()
    assert "no dL/dW" in tab.kernel_grads.caption.text
    assert tab.grads.levels is None and "stops" in tab.grads.image.caption.text   # conv2 is below the stop
    snap = with_transfer(cnn_view.fake_snapshot(selected=0, phase_kind="backward", inspected=True), ["conv1"], 1)
    view.set_snapshot(snap)
    assert tab.grads.levels is None                                          # even for the inspected example
    assert not tab.input_grad.isVisible()
    snap = with_transfer(cnn_view.fake_snapshot(selected=2, phase_kind="backward"), ["conv2"], None)
    view.set_snapshot(snap)
    assert "passes through" in tab.header.text() and tab.grads.levels is not None


def test_inputs_tab_histograms_and_augmentation_strip(view, qtbot):
    rng = np.random.default_rng(0)
    pixels = np.clip(rng.random((50, 28, 28)) - 0.6, 0, 1)
    snap = cnn_view.fake_snapshot(selected=0)
    snap["view"]["inputs"] = {"normalize": True, "augment": ["shift", "rotate"], "shift": 2, **input_statistics(pixels)}
    view.set_snapshot(snap)
    with qtbot.waitSignal(view.command) as sig:
        view.tabs.setCurrentWidget(view.inputs_tab)
    assert sig.args == ["augment_strip", {"count": 8}]
    tab = view.inputs_tab
    assert f"{pixels.mean():.4f}" in tab.stats.text() and "on" in tab.stats.text()
    x, y = tab.norm_hist.curve.getData()
    assert len(x) == 41 and y.max() == pytest.approx(np.log10(1 + snap["view"]["inputs"]["normalized_counts"].max()))
    images = rng.random((4, 28, 28)).astype(np.float32)
    view.on_reply("augment_strip", {"images": images, "captions": ["original", "shift", "rotate", "all"],
                                    "augment": ["shift", "rotate"], "source": "held-out #3", "iteration": 5})
    assert tab.strip.count() == 4 and tab.strip.item(2).text() == "rotate"
    assert "held-out #3" in tab.strip_note.text()
    with qtbot.waitSignal(view.command) as sig:
        tab.refresh.click()
    assert sig.args[0] == "augment_strip"


def test_window_lock_click_freezes_in_the_engine(qtbot):
    configure_pyqtgraph()
    w = MainWindow({"lab": "cnn", "seed": 0, "channels": "4,6", "batch_size": 8})
    qtbot.addWidget(w)
    w.show()
    try:
        qtbot.waitUntil(lambda: w.last_snapshot is not None, timeout=30000)
        assert w.diagram.freezable == {"conv1", "conv2", "output"} and not w.diagram.frozen
        assert not any(name.startswith("freeze:") for name in w.settings.live)   # locks, not spin boxes
        qtbot.mouseClick(w.diagram, QtCore.Qt.MouseButton.LeftButton, pos=w.diagram.lock_rect(1).center().toPoint())
        qtbot.waitUntil(lambda: w.last_snapshot["view"]["transfer"]["frozen"] == ["conv1"], timeout=15000)
        qtbot.waitUntil(lambda: w.diagram.frozen == {"conv1"} and w.diagram.gradient_stops_at == 1, timeout=5000)
    finally:
        w.close()
