"""GrowingCurves: a growing curve is drawn at the cost of its new points, and looks the same as one
stroked whole; anything other than growth draws it again from scratch."""
from __future__ import annotations

import numpy as np
import pytest
from PySide6 import QtCore, QtGui

from widgets.growing_curves import GrowingCurves


def spiral(n=600):
    t = np.linspace(0, 6 * np.pi, n)
    return np.stack([np.cos(t) * t, np.sin(t) * t], 1) / (6 * np.pi)


def paint(item, cached: bool, size=200) -> np.ndarray:
    """The item painted onto a fresh image, as onto the plot's viewport (cached) or as an export."""
    image = QtGui.QImage(size, size, QtGui.QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(0)
    painter = QtGui.QPainter(image)
    painter.setTransform(QtGui.QTransform(size / 2.4, 0, 0, -size / 2.4, size / 2, size / 2))   # [-1.2, 1.2]²
    item.paint(painter, None, image if cached else None)
    painter.end()
    ptr = image.constBits()
    return np.frombuffer(ptr, np.uint8).reshape(size, size, 4)[..., 3].copy()   # the alpha: where ink is


@pytest.fixture
def curves(qapp):
    return GrowingCurves(antialias=True), {"a": QtGui.QPen(QtGui.QColor("red"), 3)}


def test_growing_draws_from_scratch_once_and_looks_like_one_stroke(curves):
    item, pens = curves
    xy = spiral()
    for k in range(2, len(xy) + 1, 7):
        item.set_trails({"a": xy[:k]}, pens)
        grown = paint(item, cached=True)
    item.set_trails({"a": xy}, pens)
    grown = paint(item, cached=True)
    assert item.full_redraws == 1
    whole = paint(item, cached=False)
    ink_grown, ink_whole = grown > 64, whole > 64
    assert ink_whole.sum() > 1000
    overlap = (ink_grown & ink_whole).sum() / (ink_grown | ink_whole).sum()
    assert overlap > 0.97, overlap


def test_a_step_back_within_the_live_points_draws_nothing_again(curves):
    item, pens = curves
    xy = spiral()
    item.set_trails({"a": xy[:300]}, pens)
    paint(item, cached=True)
    item.set_trails({"a": xy[:300 - GrowingCurves.LIVE_POINTS // 2]}, pens)   # ← a few steps
    paint(item, cached=True)
    assert item.full_redraws == 1


@pytest.mark.parametrize("change", ["long rewind", "new prefix", "new pen", "new curve"])
def test_anything_but_growth_draws_from_scratch(curves, change):
    item, pens = curves
    xy = spiral()
    item.set_trails({"a": xy[:300]}, pens)
    paint(item, cached=True)
    trails = {"long rewind": {"a": xy[:100]}, "new prefix": {"a": xy[1:302]},
              "new pen": {"a": xy[:302]}, "new curve": {"a": xy[:302], "b": xy[:50]}}[change]
    new_pens = dict(pens, b=QtGui.QPen(QtGui.QColor("blue"), 2))
    if change == "new pen":
        new_pens["a"] = QtGui.QPen(QtGui.QColor("green"), 3)
    item.set_trails(trails, new_pens)
    after = paint(item, cached=True)
    assert item.full_redraws == 2
    assert np.array_equal(after > 64, paint(item, cached=False) > 64) or \
        ((after > 64) & (paint(item, cached=False) > 64)).sum() / max((after > 64).sum(), 1) > 0.97


def test_a_new_view_draws_from_scratch(curves):
    item, pens = curves
    item.set_trails({"a": spiral()}, pens)
    paint(item, cached=True)
    paint(item, cached=True, size=300)   # resized (or zoomed: another transform)
    assert item.full_redraws == 2


def test_bounds_cover_every_finite_point(curves):
    item, pens = curves
    xy = spiral()
    xy[10] = np.nan
    item.set_trails({"a": xy}, pens)
    lo, hi = np.nanmin(xy, axis=0), np.nanmax(xy, axis=0)
    assert item.dataBounds(0) == pytest.approx((lo[0], hi[0]))
    assert item.dataBounds(1) == pytest.approx((lo[1], hi[1]))
    item.set_trails({}, {})
    assert item.dataBounds(0) == (None, None)

