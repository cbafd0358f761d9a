"""What a newcomer meets, view side: plots that fit their widgets, empty plots that forget the
last run, hover readouts, help on every setting, a page of help for every lab."""
import numpy as np
import pyqtgraph as pg
import pytest
from PySide6 import QtCore, QtWidgets

from engines.labs import LABS
from visualizer.lab_help import PAGES, lab_help_html
from visualizer.lab_views import LAB_UIS, LIVE_HELP
from widgets.common import BarPanel, wrapped
from widgets.style import configure_pyqtgraph
from widgets.curves import CurvesPanel
from widgets.lab_view import SettingsForm
from widgets.report_panel import ReportPanel


@pytest.fixture(autouse=True)
def _pg():
    configure_pyqtgraph()


def settle() -> None:
    """Let pyqtgraph run its deferred auto-range (it happens before painting)."""
    for _ in range(3):
        QtWidgets.QApplication.processEvents()


def fake_report(rng) -> dict:
    confusion = rng.integers(0, 5, (10, 10)) + np.diag(rng.integers(150, 220, 10))
    per_class = rng.uniform(0.8, 1.0, 10)
    return {"confusion": confusion, "precision": per_class, "recall": per_class, "f1": per_class,
            "support": confusion.sum(axis=1), "accuracy": 0.9, "macro_f1": 0.9, "iteration": 150}


def test_confusion_matrix_cells_line_up_with_their_axes(qtbot):
    panel = ReportPanel()
    qtbot.addWidget(panel)
    panel.resize(900, 500)
    panel.show()
    panel.set_report(fake_report(np.random.default_rng(0)))
    (x0, x1), (y0, y1) = panel.plot.vb.viewRange()
    # the view shows the 10 × 10 cells; square cells widen one axis to the widget's shape
    assert x0 <= -0.5 + 1e-6 and x1 >= 9.5 - 1e-6 and y0 <= -0.5 + 1e-6 and y1 >= 9.5 - 1e-6
    assert min(x1 - x0, y1 - y0) == pytest.approx(10.0)
    # the heatmap covers exactly the 10 × 10 cells, each count sits in the middle of its cell
    rect = panel.image.mapRectToParent(panel.image.boundingRect())
    assert (rect.left(), rect.top(), rect.width(), rect.height()) == pytest.approx((-0.5, -0.5, 10, 10))
    assert panel.texts[23].pos() == QtCore.QPointF(3, 2)
    assert "iteration 150" in panel.title.text()


def test_a_long_title_does_not_push_bars_out_of_view(qtbot):
    bars = BarPanel("a title much longer than the narrow panel it is drawn in, as the inspector's were")
    qtbot.addWidget(bars)
    bars.resize(220, 160)
    bars.show()
    bars.set_vector(np.linspace(-1, 1, 10), "dL/d(output) for this example — a very long title indeed (10 units)")
    qtbot.waitUntil(lambda: bars.plotItem.geometry().width() > 0)
    assert bars.plotItem.geometry().width() <= bars.viewport().width() + 1
    # the right edge of the last bar (x = 9.4) is on screen
    right = bars.plotItem.vb.mapViewToScene(pg.Point(9.4, 0)).x()
    assert right <= bars.viewport().width()


def test_empty_curves_forget_the_last_runs_axes(qtbot):
    curves = CurvesPanel()
    qtbot.addWidget(curves)
    curves.resize(380, 700)
    curves.show()
    curves.add_points([(i, {"loss": 2.3 if i < 400 else 1.5e32, "heldout_accuracy": 0.1}) for i in range(1, 1000)])
    qtbot.waitUntil(lambda: curves.top.vb.viewRange()[1][1] > 1e31)
    curves.clear({})  # a new run
    settle()
    (x0, x1), (y0, y1) = curves.top.vb.viewRange()
    assert -20 <= x0 <= 20 and 50 <= x1 <= 150 and y1 <= 10
    assert not curves.top.getAxis("bottom").autoSIPrefix  # no "iteration (x0.001)"
    curves.add_points([(i, {"loss": 2.0 / i}) for i in range(1, 300)])
    qtbot.waitUntil(lambda: curves.top.vb.viewRange()[0][1] > 250)  # follows the new data again
    curves.reset()  # the future rewritten
    settle()
    assert curves.top.vb.viewRange()[0][1] <= 150


def test_hover_shows_iteration_and_value(qtbot):
    curves = CurvesPanel()
    qtbot.addWidget(curves)
    curves.resize(380, 700)
    curves.show()
    curves.add_points([(i, {"loss": 1.0 / i}) for i in range(1, 101)])
    settle()
    readout = curves.readouts[0]
    readout.show_at(curves.top.vb.mapViewToScene(pg.Point(40.2, 0.5)))
    text = readout.text.textItem.toPlainText()
    assert readout.text.isVisible()
    assert "iteration 40" in text and "training loss: 0.025" in text
    readout.show_at(QtCore.QPointF(-100, -100))  # off the plot: hidden
    assert not readout.text.isVisible()
    readout.show_at(curves.top.vb.mapViewToScene(pg.Point(40.2, 0.5)))
    QtWidgets.QApplication.sendEvent(curves.glw.viewport(), QtCore.QEvent(QtCore.QEvent.Type.Leave))
    assert not readout.text.isVisible()  # the mouse left the widget


def test_log_loss_axis(qtbot):
    curves = CurvesPanel()
    qtbot.addWidget(curves)
    curves.add_points([(i, {"loss": 10.0 ** (-i / 50)}) for i in range(1, 200)])
    curves.log_loss.setChecked(True)
    assert curves.top.ctrl.logYCheck.isChecked()
    assert "log" in curves.top.getAxis("left").labelText


def test_every_setting_has_help_shown_as_its_tooltip(qtbot):
    form = SettingsForm()
    qtbot.addWidget(form)
    for lab, ui in LAB_UIS.items():
        assert ui.options, lab
        form.set_options(list(ui.options), {})
        for key, (spec, editor) in form.editors.items():
            assert len(spec.tooltip) > 20, (lab, key)  # a sentence: what it is, with the math where there is one
            assert editor.toolTip() == wrapped(spec.tooltip)  # wrapped: long tooltips as a paragraph
            assert form.form.labelForField(editor).toolTip() == wrapped(spec.tooltip)
    form.clear_live(LIVE_HELP)
    form.set_live({"lr": 0.05, "plain_lr": 0.001, "momentum": 0.9})
    assert "θ ← θ − η" in form.live["lr"].toolTip()
    assert form.live["plain_lr"].toolTip() == form.live["lr"].toolTip()
    assert form.form.rowCount() and form.live_form.labelForField(form.live["plain_lr"]).text() == "lr (plain net)"


def test_resnet50_has_no_depth_to_choose(qtbot):
    form = SettingsForm()
    qtbot.addWidget(form)
    options = [o for o in LAB_UIS["resnet"].options if not o.engines or "torch" in o.engines]
    form.set_options(options, {"arch": "resnet50", "depth": 50})
    assert not form.editors["depth"][1].isEnabled()
    form.editors["arch"][1].setCurrentText("small")
    assert form.editors["depth"][1].isEnabled()


def test_whole_numbers_are_shown_as_whole_numbers(qtbot):
    form = SettingsForm()
    qtbot.addWidget(form)
    form.set_options(list(LAB_UIS["cnn"].options), {"decay": 1000.0})
    assert form.editors["decay"][1].text() == "1000"


def test_a_help_page_for_every_lab():
    assert set(PAGES) == set(LABS)
    for lab in LABS:
        html = lab_help_html(lab)
        assert PAGES[lab][0] in html
        assert "Space" in html and len(html) > 600


def test_resnet_legend_names_the_network_of_the_new_run(qtbot):
    """ResNet-50 after ResNet-20 (same lab, same view): the legend said "ResNet-20 · Adam"."""
    from widgets.resnet_view import ResNetView, fake_snapshot
    view = ResNetView()
    qtbot.addWidget(view)
    view.set_snapshot(fake_snapshot())
    legend = view.flow.over_legend
    first = view.flow.curves["_grad_first"]
    assert legend.getLabel(first).text == "ResNet-20 · Adam"
    snap = fake_snapshot()
    snap["view"]["runs"][0]["title"] = "ResNet-50 · Adam"
    view.set_snapshot(snap)
    assert legend.getLabel(first).text == "ResNet-50 · Adam"


@pytest.mark.parametrize("lab", ["mlp", "cnn", "batch1", "resnet", "char-rnn", "lstm"])
def test_every_tab_of_a_lab_view_says_what_it_shows(qtbot, lab):
    from visualizer.lab_views import make_view
    view = make_view(lab)
    qtbot.addWidget(view)
    for i in range(view.tabs.count()):
        assert view.tabs.tabToolTip(i), (lab, view.tabs.tabText(i))
        assert view.tabs.widget(i).toolTip()


def test_many_long_legend_entries_do_not_widen_the_curves(qtbot):
    curves = CurvesPanel()
    qtbot.addWidget(curves)
    curves.resize(300, 700)
    curves.show()
    curves.clear({f"run{i}_loss": f"a rather long run name number {i}: training loss" for i in range(8)})
    curves.add_points([(it, {f"run{i}_loss": 1.0 / it for i in range(8)}) for it in range(1, 50)])
    settle()
    assert curves.top.geometry().width() <= curves.glw.viewport().width() + 1


def test_one_point_does_not_bring_negative_iterations(qtbot):
    curves = CurvesPanel()
    qtbot.addWidget(curves)
    curves.resize(380, 700)
    curves.show()
    curves.add_points([(1, {"loss": 2.5})])
    settle()
    (x0, x1), _ = curves.top.vb.viewRange()
    assert x0 >= -1 and x1 >= 9


def test_legend_names_are_never_cut_in_a_narrow_panel(qtbot):
    """The MLP window at 1500 px cut "held-out macro F1" to "held-out m": two long names side by side.
    A narrow legend puts them one under the other; a wide one keeps two columns; a curve removed
    leaves no hole."""
    curves = CurvesPanel()
    qtbot.addWidget(curves)
    curves.resize(300, 700)
    curves.show()
    curves.add_points([(it, {"loss": 1.0 / it, "heldout_accuracy": 0.5, "heldout_macro_f1": 0.4})
                       for it in range(50, 300, 50)])
    settle()
    legend = curves.bottom_legend
    assert legend.columnCount == 1
    for sample, label in legend.items:   # every name whole, inside the legend
        right = label.mapRectToItem(legend, label.item.boundingRect()).right()
        assert right <= legend.geometry().width() + 1, label.text
    curves.resize(900, 700)
    settle()
    assert legend.columnCount == 2
    first = legend.items[0][0].item
    legend.removeItem(first)
    settle()
    assert [legend.layout.itemAt(0, 1)] == [legend.items[0][1]]


def test_timeline_markers_and_branch_bars_line_up_with_the_slider_handle(qtbot):
    """A ▲ under the slider sits under the handle at its iteration (it spanned the whole row before, the
    "Timeline" label included, so a marker at iteration 40 of 100 sat far from the handle at 40)."""
    from widgets.timeline import Timeline
    timeline = Timeline()
    qtbot.addWidget(timeline)
    timeline.resize(1000, 80)
    timeline.show()
    qtbot.waitExposed(timeline)
    timeline.set_position(40, 100)
    timeline.set_markers([{"iteration": 40, "kind": "branch", "text": "lr 0.2 from iteration 40"}])
    timeline.set_lines([{"id": 0, "parent": None, "fork": 0, "label": "lr 0.05", "furthest": 100, "current": False},
                        {"id": 1, "parent": 0, "fork": 40, "label": "lr 0.2 from iteration 40", "furthest": 100,
                         "current": True}])
    slider = timeline.slider
    opt = QtWidgets.QStyleOptionSlider()
    opt.initFrom(slider)
    opt.orientation, opt.minimum, opt.maximum = slider.orientation(), slider.minimum(), slider.maximum()
    opt.sliderPosition = opt.sliderValue = slider.value()
    handle = slider.style().subControlRect(QtWidgets.QStyle.ComplexControl.CC_Slider, opt,
                                           QtWidgets.QStyle.SubControl.SC_SliderHandle, slider)
    handle_x = slider.mapToGlobal(handle.center()).x()
    for bar in (timeline.marker_bar, timeline.branches):
        assert abs(bar.mapToGlobal(QtCore.QPoint(int(round(bar._x(40))), 0)).x() - handle_x) <= 1
    assert timeline.marker_bar._x(0) > timeline.marker_bar.mapFromGlobal(slider.mapToGlobal(QtCore.QPoint(0, 0))).x()


def test_a_branch_marker_says_branch_once():
    from visualizer.classroom import timeline_markers
    lines = [{"id": 0, "parent": None, "fork": 0, "label": "lr 0.05", "current": False, "settings": []},
             {"id": 1, "parent": 0, "fork": 40, "label": "lr 0.2 from iteration 40", "current": True, "settings": []}]
    (marker,) = [m for m in timeline_markers(lines, [], 1) if m["kind"] == "branch"]
    assert marker["text"] == "lr 0.2 from iteration 40"


def test_a_clicked_end_box_takes_the_selection_border_and_a_block_click_gives_it_back(qtbot):
    from PySide6.QtTest import QTest
    from widgets.network_diagram import NetworkDiagram
    diagram = NetworkDiagram()
    qtbot.addWidget(diagram)
    diagram.set_blocks([{"label": "dense1", "kind": "dense", "n_params": 10, "out_shape": (16,)},
                        {"label": "output", "kind": "dense", "n_params": 10, "out_shape": (10,)}])
    diagram.set_clickable_ends(True)
    diagram.resize(260, 400)
    diagram.show()
    ends, blocks = [], []
    diagram.end_clicked.connect(ends.append)
    diagram.block_clicked.connect(blocks.append)
    left = QtCore.Qt.MouseButton.LeftButton
    QTest.mouseClick(diagram, left, pos=diagram.box_rect(3).center().toPoint())   # the loss box
    assert ends == ["loss"] and diagram.end_shown == "loss"
    QTest.mouseClick(diagram, left, pos=diagram.box_rect(1).center().toPoint())   # a block
    assert blocks == [0] and diagram.end_shown == ""


def test_the_landscape_dot_leaves_a_path_that_is_another_branchs(qtbot):
    """After a branch the landscape's paths are the old branch's: no dot walks along them at the new
    branch's iterations, and a note says to compute it again; back on that branch, the dot returns."""
    from widgets.landscape_view import LandscapeView, fake_result
    view = LandscapeView()
    qtbot.addWidget(view)
    view.set_cursor(5, line=0)
    view.set_result(fake_result())
    assert view.path_points and len(view.ends.data) == len(view.path_points)
    view.set_cursor(5, line=1)
    assert len(view.ends.data) == 0 and view.stale.isVisibleTo(view)
    view.set_cursor(5, line=0)
    assert len(view.ends.data) == len(view.path_points) and not view.stale.isVisibleTo(view)


def test_a_kernel_caption_counts_filters_times_input_channels():
    """An 8→16 conv has 128 kernels, not "64" (the tiles shown) nor "16" (the filters)."""
    from widgets.layer_inspector import kernel_caption
    assert kernel_caption(64, (16, 8)) == "64 of 128 kernels (16 filters × 8 input channels)"
    assert kernel_caption(8, (8, 1)) == "8 kernels (8 filters × 1 input channel)"
    assert kernel_caption(5, None) == "5 kernels"


def test_a_long_caption_does_not_widen_an_image_panel_past_its_widget(qtbot):
    """The CNN's third small panel ("for a chosen example, or the first …") was laid out wider than its
    widget: its title and image slid out of view on the right. The caption is cut instead (whole in its
    tooltip)."""
    from widgets.common import ImagePanel
    panel = ImagePanel("dL/d input image", diverging=True)
    qtbot.addWidget(panel)
    panel.resize(200, 160)
    panel.show()
    panel.set_image(np.zeros((28, 28)), caption="for a chosen example, or the first image of the batch: where a "
                                                "pixel would change the loss most")
    QtWidgets.QApplication.processEvents()
    assert panel.ci.geometry().width() <= panel.width()
    assert panel.caption.toolTip().startswith("for a chosen example")
