"""The CNN lab's and the batch-size-1 lab's views, fed synthetic snapshots (no engine)."""
import numpy as np
import pytest
from PySide6 import QtCore

from engines.augment import input_statistics
from widgets import batch1_view, cnn_view
from widgets.cnn_view import CNNView, kernel_grid, map_levels
from widgets.style import configure_pyqtgraph
from widgets.drawing_canvas import DrawingCanvas, centred


@pytest.fixture
def view(qtbot):
    configure_pyqtgraph()
    w = CNNView()
    qtbot.addWidget(w)
    w.resize(1100, 800)
    w.show()
    return w


def test_feature_maps_one_tiled_image_with_explicit_levels(view):
    snap = cnn_view.fake_snapshot(selected=0, phase_kind="backward")
    view.set_snapshot(snap)
    tab = view.maps_tab
    maps = snap["block_data"]["forward"]["activation"]["maps"]
    img = tab.maps.image.image.image
    assert img.shape[0] >= 28 and img.shape[1] >= 28 * 2       # all 8 maps in one image
    assert tab.maps.levels == (0.0, pytest.approx(float(maps.max())))  # ReLU output: 0 … max
    assert tab.maps.image.image.levels is not None and list(tab.maps.image.image.levels) == list(tab.maps.levels)
    g = snap["block_data"]["backward"]["grad_output"]["maps"]
    lo, hi = tab.grads.levels
    assert lo == -hi and hi == pytest.approx(float(np.abs(g).max()))   # symmetric, diverging
    assert tab.grads.image.diverging
    k = snap["view"]["kernels"]
    assert tab.kernels.image.image.shape == kernel_grid(k).shape
    assert "8×1 kernels" in tab.kernels.plot.titleLabel.text
    assert "first image of the batch" in tab.header.text()
    assert tab.use_batch.isChecked()
    assert tab.input_grad.isVisible() and tab.input_grad.image.image is not None  # first layer in backward


def test_gradient_panel_waits_for_backward(view):
    view.set_snapshot(cnn_view.fake_snapshot(selected=2, phase_kind="forward"))
    tab = view.maps_tab
    assert tab.grads.levels is None
    assert "backward" in tab.grads.image.caption.text
    assert tab.input_grad.image.image is None and "after backward" in tab.input_grad.caption.text  # no layout change
    assert tab.maps.levels is not None
    assert "16×8 kernels" in tab.kernels.plot.titleLabel.text and "columns: output maps" in tab.kernels.caption.text


def test_dense_block_shows_bars(view):
    view.set_snapshot(cnn_view.fake_snapshot(selected=4))
    assert view.maps_tab.maps.currentWidget() is view.maps_tab.maps.bars
    assert "no kernels" in view.maps_tab.kernels.caption.text


def test_inspected_example_takes_over(view):
    snap = cnn_view.fake_snapshot(selected=2, inspected=True)
    view.set_snapshot(snap)
    tab = view.maps_tab
    assert tab.use_chosen.isChecked()
    assert "held-out #3" in tab.header.text() and "true label 7" in tab.header.text()
    expected = snap["view"]["inspected"]["activations"][2]["maps"]
    assert tab.maps.levels[1] == pytest.approx(float(expected.max()))
    assert "toward 7" in tab.grads.image.plot.titleLabel.text


def test_layer_combo_and_strip_emit_intents(view, qtbot):
    view.set_snapshot(cnn_view.fake_snapshot(selected=0))
    with qtbot.waitSignal(view.select_block) as sig:
        view.maps_tab.layer_combo.setCurrentIndex(2)
    assert sig.args == [2]
    images = np.zeros((3, 28, 28), np.float32)
    view.on_reply("heldout_examples", {"images": images, "labels": np.array([1, 2, 3]),
                                       "predictions": np.array([1, 5, 3]), "indices": np.array([0, 1, 2])})
    strip = view.maps_tab.strip.list
    assert strip.count() == 3 and strip.item(1).text().startswith("✗")
    with qtbot.waitSignal(view.command) as sig:
        strip.itemClicked.emit(strip.item(2))
    assert sig.args == ["inspect_heldout", {"index": 2}]
    with qtbot.waitSignal(view.command) as sig:
        view.maps_tab.strip.next.click()
    assert sig.args[0] == "heldout_examples" and sig.args[1]["indices"][0] == 16


def test_drawing_sends_inspect_and_clearing_goes_back(view, qtbot):
    canvas = view.maps_tab.canvas
    with qtbot.waitSignal(view.command, timeout=2000) as sig:
        canvas.draw_line((8.0, 6.0), (14.0, 22.0))
    name, args = sig.args
    assert name == "inspect" and args["image"].shape == (28, 28) and args["image"].max() == 1.0
    with qtbot.waitSignal(view.command) as sig:
        view.maps_tab.clear_button.click()
    assert sig.args == ["inspect", {"image": None}]


def test_mouse_drawing_on_canvas(qtbot):
    c = DrawingCanvas(interval_ms=1)
    qtbot.addWidget(c)
    c.resize(280, 280)
    c.show()
    with qtbot.waitSignal(c.changed, timeout=2000):
        qtbot.mousePress(c, QtCore.Qt.MouseButton.LeftButton, pos=QtCore.QPoint(140, 60))
        qtbot.mouseMove(c, QtCore.QPoint(140, 220))
        qtbot.mouseRelease(c, QtCore.Qt.MouseButton.LeftButton, pos=QtCore.QPoint(140, 220))
    assert c.image[6:22, 13:15].min() > 0.5  # a vertical stroke down the middle
    img = np.zeros((28, 28), np.float32)
    img[2:6, 2:6] = 1.0
    out = centred(img)
    ys, xs = np.nonzero(out)
    assert abs(ys.mean() - 13.5) <= 0.5 and abs(xs.mean() - 13.5) <= 0.5


def test_parity_and_speed(view):
    entries = [{"what": "output", "max_abs": 0.0, "max_rel": 0.0, "scale": 1.0, "n_diff": 0, "size": 10},
               {"what": "dL/d input", "max_abs": 0.3, "max_rel": 0.2, "scale": 1.5, "n_diff": 2, "size": 10}]
    view.on_reply("parity", {"dtype": "float32", "loss_numpy": 0.1, "loss_torch": 0.1, "max_rel": 0.2,
                             "batch_size": 64, "iteration": 3,
                             "blocks": [{"block": "pool1", "label": "MaxPool 2×2", "entries": entries}]})
    tab = view.engines_tab
    assert tab.table.rowCount() == 2 and tab.table.item(1, 4).text() == "2 of 10"
    assert "first maximum wins" in tab.summary.text()
    view.tabs.setCurrentWidget(tab)
    snap = cnn_view.fake_snapshot()
    snap["view"]["speed"] = {"numpy_it_per_s": 150.0, "torch_it_per_s": 120.0, "numpy_over_torch": 0.8,
                             "batch_size": 64}
    view.set_snapshot(snap)
    assert "150" in tab.speed.text() and "120" in tab.speed.text()
    view.on_task("speed", {"progress": 0.5})
    assert tab.progress.value() == 50


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
    assert tab.input_grad.image.image is None
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
    assert sig.args == ["augment_strip", {"count": 8, "draw": 0}]
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
    assert sig.args == ["augment_strip", {"count": 8, "draw": 1}]          # new draws


def test_helpers():
    assert map_levels(np.array([[0.0, 2.0]])) == ((0.0, 2.0), False)
    assert map_levels(np.array([[-1.0, 3.0]])) == ((-3.0, 3.0), True)
    assert kernel_grid(np.zeros((8, 1, 3, 3))).shape == (3, 8 * 4 - 1)
    assert kernel_grid(np.zeros((16, 8, 3, 3))).shape == (8 * 4 - 1, 16 * 4 - 1)
    k = np.arange(2 * 3 * 1 * 1, dtype=np.float32).reshape(2, 3, 1, 1)   # (out, in) = (2, 3)
    np.testing.assert_array_equal(kernel_grid(k)[::2, ::2], k[:, :, 0, 0].T)  # row: input map, column: output map


# ---------------------------------------------------------------- batch size 1
@pytest.fixture
def b1view(qtbot):
    configure_pyqtgraph()
    w = batch1_view.Batch1View()
    qtbot.addWidget(w)
    w.resize(1100, 800)
    w.show()
    return w


def test_batch1_curves_and_bn_drift(b1view):
    b1view.set_snapshot(batch1_view.fake_snapshot(iteration=1000, selected=0))
    tab = b1view.main
    assert b1view.owns_curves
    x, y = tab.curves["heldout_accuracy_bn"].getData()
    assert list(x) == [500, 1000] and list(y) == [0.95, 0.95]   # a fraction (0–1), as in every lab
    curve = tab.curves["loss_gnws"]
    x, y = curve.xData, curve.yData   # all of it (getData: what is drawn, thinned to the pixels)
    assert len(x) == 1000 and np.all(np.isfinite(y))     # a moving average of every step
    assert len(tab.stat_curves["mean"].trails) == 8               # a line per channel of conv1
    assert "conv1" in tab.mean_plot.getPlotItem().titleLabel.text
    assert len(tab.batch_bars.opts["height"]) == 8
    assert "GN+WS 97.00 %" in tab.summary.text() and "BN 95.00 %" in tab.summary.text()


def test_batch1_selecting_conv2_and_reset(b1view):
    b1view.set_snapshot(batch1_view.fake_snapshot(iteration=600, selected=2))
    assert len(b1view.main.stat_curves["mean"].trails) == 16 and "conv2" in b1view.main.bn_layer
    b1view.set_snapshot(batch1_view.fake_snapshot(iteration=100, selected=5, reset=True))
    x, _ = b1view.main.curves["loss_bn"].getData()
    assert len(x) == 100
    assert "select a BN convolution block" in b1view.main.stats_note.textItem.toPlainText()


def test_input_statistics_counted_by_pixel_level_match_every_pixel_in_float64():
    rng = np.random.default_rng(0)
    eight_bit = (rng.integers(0, 256, size=(300, 28, 28)) / 255).astype(np.float32)   # as the MNIST arrays
    for images in (eight_bit, rng.random((50, 28, 28)).astype(np.float32)):   # the second: no 8-bit levels
        x = images.astype(np.float64).ravel()
        mean, std = x.mean(), x.std()
        z = (x - mean) / std
        stats = input_statistics(images)
        assert stats["mean"] == pytest.approx(mean, rel=1e-12) and stats["std"] == pytest.approx(std, rel=1e-12)
        assert np.array_equal(stats["raw_counts"], np.histogram(x, bins=40, range=(0.0, 1.0))[0])
        counts, edges = np.histogram(z, bins=40, range=(z.min(), z.max()))
        assert np.array_equal(stats["normalized_counts"], counts) and np.allclose(stats["normalized_edges"], edges)
        assert stats["normalized_mean"] == pytest.approx(0.0, abs=1e-9) and stats["normalized_std"] == pytest.approx(1.0)


def test_the_layer_inspector_shows_dl_dk_of_a_conv_block_from_the_real_engine(qtbot):
    """A conv block's backward carries grad_kernels (not a weight matrix): the inspector's dL/dW panel tiles
    them as it tiles the kernels (it showed "after this block's backward phase" after backward)."""
    from visualizer.host import SessionHost
    from widgets.layer_inspector import LayerInspector
    configure_pyqtgraph()
    host = SessionHost(lambda kind, payload: None)
    host.configure({"lab": "cnn", "seed": 0, "channels": "4,8"})
    host.handle("step_iteration")
    snap = host.snapshot()
    assert snap["selected_block"] == 0 and "grad_kernels" in snap["block_data"]["backward"]
    inspector = LayerInspector()
    qtbot.addWidget(inspector)
    inspector.resize(1000, 700)
    inspector.show()
    inspector.set_snapshot(snap)
    qtbot.wait(50)
    g = snap["block_data"]["backward"]["grad_kernels"]                  # (4, 1, 3, 3)
    shown = inspector.weight_grad.image.image
    assert shown is not None and shown.size >= g.size
    assert "kernels" in inspector.weight_grad.plot.titleLabel.text
