"""Transfer learning in the window: the locks on the network diagram, and a lock click reaching the
engine as a live setting. (The CNN view's frozen blocks and its Inputs tab: tests/test_cnn_view.py.)"""
from PySide6 import QtCore

from visualizer.main_window import MainWindow
from widgets.style import configure_pyqtgraph
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
