"""Presenter mode (text size, palette, kept between runs), export (PNG, SVG, CSV, GIF of a real run,
read back by another program) and notes (markers, saved with the session)."""
import csv
import shutil
import subprocess

import numpy as np
import pyqtgraph as pg
import pytest
from PySide6 import QtWidgets

from visualizer import export
from visualizer.presenter import COLOUR_BLIND_SAFE, settings
from widgets import common

from test_main_window import CONFIG, wait_for, window  # noqa: F401 — the same real window


def identify(path) -> list[str]:
    if shutil.which("identify") is None:
        pytest.skip("ImageMagick's identify is not installed")
    out = subprocess.run(["identify", str(path)], capture_output=True, text=True, check=True)
    return out.stdout.strip().splitlines()


def test_text_size_scales_qt_and_pyqtgraph_fonts_and_is_kept(qtbot, window):
    p = window.presenter
    app = QtWidgets.QApplication.instance()
    base = p.base_pt
    title = window.view.inspector.weights.plot.titleLabel  # set with size="9pt"
    assert "9pt" in title.item.toHtml()
    p.set_percent(175)
    assert app.font().pointSizeF() == pytest.approx(base * 1.75)
    assert common.TEXT["scale"] == pytest.approx(1.75)
    axis = window.curves.top.getAxis("left")
    assert axis.style["tickFont"].pointSizeF() == pytest.approx(base * 1.75)
    assert "15.8pt" in title.item.toHtml()  # 9 pt × 1.75, re-rendered in place
    # a title set again later (as views do at every snapshot) stays scaled
    label = pg.LabelItem("x", size="8pt")
    label.setText("again", size="8pt")
    assert "font-size: 14pt" in label.item.toHtml() or "font-size:14pt" in label.item.toHtml()
    assert settings().value("presenter/text_percent", type=int) == 175
    assert sorted(window.text_size_actions) == [100, 115, 130, 150, 175, 200]  # View → Text size
    p.larger()
    p.larger()
    assert p.percent == 200  # at most 200 %
    p.reset()
    assert app.font().pointSizeF() == pytest.approx(base)
    assert axis.style["tickFont"] is None


def test_colour_blind_palette_recolours_curves_and_phases(qtbot, window):
    window.client.send("run_to", 5)
    wait_for(qtbot, window, lambda s: s["iteration"] == 5 and not s["playing"])
    loss = window.curves.items["loss"]
    before = loss.opts["pen"].color().name().upper()
    window.presenter.set_colour_blind(True)
    after = loss.opts["pen"].color().name().upper()
    assert after == COLOUR_BLIND_SAFE[before].upper()
    assert common.PHASE_COLORS["forward"] == COLOUR_BLIND_SAFE["#4C78A8"]
    assert settings().value("presenter/colour_blind", type=bool)
    window.presenter.set_colour_blind(False)
    assert loss.opts["pen"].color().name().upper() == before
    assert common.PHASE_COLORS["forward"] == "#4C78A8"


def test_export_png_svg_csv_and_gif_of_a_real_run(qtbot, window, tmp_path):
    window.client.send("run_to", 20)
    wait_for(qtbot, window, lambda s: s["iteration"] == 20 and not s["playing"])
    curves = window.curves
    png = export.export_view(curves, str(tmp_path / "curves.png"), scale=2.0)
    line = identify(png)[0]
    assert f"PNG {2 * curves.width()}x{2 * curves.height()}" in line
    image = export.frame_of(curves)
    assert image.std() > 0  # something is drawn
    svg = export.export_view(window, str(tmp_path / "window.svg"))
    assert "<svg" in svg.read_text(encoding="utf-8")[:2000]
    # parsed as XML, with its embedded images decodable PNGs (ImageMagick 6's own SVG reader cannot follow
    # data: URIs, so identify is no judge of an SVG)
    import base64
    import xml.etree.ElementTree as ET
    root = ET.parse(svg).getroot()
    assert root.tag.endswith("svg")
    hrefs = [v for e in root.iter() for k, v in e.attrib.items() if k.endswith("href") and v.startswith("data:")]
    assert hrefs and all(base64.b64decode(h.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n" for h in hrefs)
    path = export.export_csv(curves.series, str(tmp_path / "curves.csv"))
    rows = list(csv.reader(path.open(encoding="utf-8")))
    assert rows[0][0] == "iteration" and "loss" in rows[0]
    col = rows[0].index("loss")
    assert [int(r[0]) for r in rows[1:]] == list(range(1, 21))
    assert float(rows[-1][col]) == pytest.approx(window.curves.series["loss"][20])
    # a recording of iterations 4, 8, ..., 16 (going back in time to 4, then on): one frame each
    recorder = export.Recorder(window, window.curves, str(tmp_path / "run.gif"), 4, 16, every=4, fps=5, scale=0.5)
    with qtbot.waitSignal(recorder.finished, timeout=60000):
        recorder.start()
    frames = identify(tmp_path / "run.gif")
    assert len(frames) == 4 and all("GIF" in f for f in frames)
    assert not list(tmp_path.glob(".stepwise-*"))  # no temporary files left
    import imageio.v3 as iio
    gif = iio.imread(tmp_path / "run.gif", index=None)
    assert gif.shape[0] == 4 and not np.array_equal(gif[0], gif[-1])  # the curves moved


def test_bad_exports_get_one_sentence(tmp_path, qtbot, window):
    from engines import StepwiseError
    with pytest.raises(StepwiseError, match="name the file .png or .svg"):
        export.export_view(window.curves, str(tmp_path / "x.bmp"))
    with pytest.raises(StepwiseError, match="does not exist"):
        export.export_view(window.curves, str(tmp_path / "missing" / "x.png"))
    with pytest.raises(StepwiseError, match="name the file .gif or .mp4"):
        export.Recorder(window, window, str(tmp_path / "x.avi"), 0, 3)
    with pytest.raises(StepwiseError, match="no curve points"):
        export.export_csv({}, str(tmp_path / "x.csv"))


def test_notes_and_setting_changes_are_markers_and_saved_with_the_session(qtbot, window, tmp_path):
    from visualizer import classroom
    window.client.send("run_to", 6)
    wait_for(qtbot, window, lambda s: s["iteration"] == 6 and not s["playing"])
    window.client.send("hyper", ("lr", 0.2))
    window.client.send("run_to", 10)
    wait_for(qtbot, window, lambda s: s["iteration"] == 10 and not s["playing"])
    classroom.add_note(window, 8, "the loss jumps here")
    qtbot.waitUntil(lambda: any(m["kind"] == "note" for m in window.timeline.marker_bar.markers), timeout=10000)
    kinds = {(m["kind"], m["iteration"]) for m in window.timeline.marker_bar.markers}
    assert ("setting", 6) in kinds and ("note", 8) in kinds
    assert window.timeline.marker_bar.isVisible()
    assert len(window.curves.marker_items) == 2 * len(window.timeline.marker_bar.markers)
    # a branch: back to 3, change lr there
    window.client.send("seek", 3)
    wait_for(qtbot, window, lambda s: s["iteration"] == 3)
    window.client.send("hyper", ("lr", 0.01))
    window.client.send("run_to", 5)
    wait_for(qtbot, window, lambda s: s["iteration"] == 5 and not s["playing"] and s["line"] != 0)
    qtbot.waitUntil(lambda: any(m["kind"] == "branch" for m in window.timeline.marker_bar.markers), timeout=10000)
    window.client.send("switch_line", 0)
    wait_for(qtbot, window, lambda s: s["line"] == 0)
    path = tmp_path / "s.stepwise.npz"
    window.client.send("save_session", str(path))
    qtbot.waitUntil(path.exists, timeout=20000)
    window.notes = []
    window.client.send("open_session", str(path))
    qtbot.waitUntil(lambda: [0, 8, "the loss jumps here"] in window.notes, timeout=30000)


def test_old_sessions_without_notes_still_open(tmp_path):
    from engines.labs import make_trainer
    from engines.state_io import load_tree, save_tree
    from visualizer.session import Session
    session = Session(make_trainer(dict(CONFIG)))
    session.run(2)
    session.notes = [[0, 1, "a note"]]
    tree = session.to_tree(dict(CONFIG))
    assert tree["format"] == "stepwise-session-2" and tree["notes"] == [[0, 1, "a note"]]
    del tree["notes"]
    save_tree(str(tmp_path / "old.npz"), tree)
    reopened, _ = Session.open(str(tmp_path / "old.npz"), make_trainer)
    assert reopened.notes == [] and reopened.iteration == 2
    save_tree(str(tmp_path / "new.npz"), session.to_tree(dict(CONFIG)))
    assert Session.open(str(tmp_path / "new.npz"), make_trainer)[0].notes == [[0, 1, "a note"]]
    assert load_tree(str(tmp_path / "new.npz"))["notes"] == [[0, 1, "a note"]]


def test_help_lessons_lists_the_shipped_lessons_and_the_last_lab_and_geometry_are_kept(qtbot, window):
    from visualizer.classroom import _menu
    from visualizer.lessons import shipped_lessons
    from visualizer.presenter import last_lab
    lessons_menu = next(a.menu() for a in _menu(window, "&Help").actions() if a.text() == "&Lessons")
    entries = [a.text() for a in lessons_menu.actions() if a.text() and not a.isSeparator()]
    assert len(entries) == len(shipped_lessons()) + 1 and entries[-1] == "Open a lesson file…"
    assert last_lab() == "mlp"  # remembered on every new run
    wanted = (700, window.minimumSizeHint().height() + 20)  # on the offscreen screen (restoreGeometry keeps it there)
    window.resize(*wanted)
    window.presenter.save_geometry()
    window.resize(600, 400)
    window.presenter.restore_geometry()
    assert (window.width(), window.height()) == wanted
