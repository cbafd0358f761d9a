"""Presenter mode: text size 100–200 % for every font (Qt widgets and pyqtgraph's titles, axis
labels, tick labels and legends), a colour-blind-safe palette, and the window's geometry and last
lab, all kept with QSettings between runs.

How every font follows one factor:
- Qt widgets: the application font is the base size × factor; a widget with a font of its own
  keeps its own size × factor (its base is remembered on the widget);
- pyqtgraph: ``LabelItem.setText(size="9pt")`` and an axis label's ``font-size`` are scaled where
  they are turned into HTML, so a title set again at every snapshot stays scaled; tick labels get
  the scaled application font;
- painted widgets (the network diagram) read ``widgets.common.TEXT["scale"]``.
"""
from __future__ import annotations

import re

import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

from widgets import common

SIZES = (100, 115, 130, 150, 175, 200)
STEP = 15

# Tableau 10 (the app's colours) -> Okabe & Ito's palette, told apart with any colour vision
COLOUR_BLIND_SAFE = {
    "#4C78A8": "#0072B2", "#F58518": "#E69F00", "#54A24B": "#009E73", "#E45756": "#D55E00",
    "#72B7B2": "#56B4E9", "#B279A2": "#CC79A7", "#FF9DA6": "#F0E442", "#9D755D": "#000000",
    "#BAB0AC": "#999999",
}


def settings() -> QtCore.QSettings:
    return QtCore.QSettings("Stepwise", "Stepwise")


def _scaled_pt(size: str, factor: float) -> str:
    match = re.fullmatch(r"\s*([0-9.]+)\s*(pt|px)\s*", str(size))
    if not match or factor == 1.0:
        return size
    return f"{float(match.group(1)) * factor:.3g}{match.group(2)}"


# ---------------------------------------------------------------------- pyqtgraph, scaled at the source
_label_set_text = pg.LabelItem.setText
_axis_label_string = pg.AxisItem.labelString


def _set_text(self, text, **args):
    factor = common.TEXT["scale"]
    base = args.get("size", getattr(self, "_base_size", self.opts.get("size")))
    if base is None or factor == 1.0:
        _label_set_text(self, text, **args)
        return
    self._base_size = base
    _label_set_text(self, text, **dict(args, size=_scaled_pt(base, factor)))


def _label_string(self) -> str:
    factor = common.TEXT["scale"]
    style = self.labelStyle
    if factor == 1.0 or "font-size" not in style:
        return _axis_label_string(self)
    saved = dict(style)
    self.labelStyle = dict(style, **{"font-size": _scaled_pt(style["font-size"], factor)})
    try:
        return _axis_label_string(self)
    finally:
        self.labelStyle = saved


pg.LabelItem.setText = _set_text
pg.AxisItem.labelString = _label_string


class Presenter(QtCore.QObject):
    """Text size and palette for one window; apply() again whenever new widgets appear."""

    def __init__(self, window: QtWidgets.QMainWindow):
        super().__init__(window)
        self.window = window
        app = QtWidgets.QApplication.instance()
        if app.property("stepwise_base_font") is None:
            app.setProperty("stepwise_base_font", app.font().pointSizeF())
        self.base_pt = float(app.property("stepwise_base_font"))
        s = settings()
        self.percent = int(s.value("presenter/text_percent", 100, type=int))
        self.colour_blind = bool(s.value("presenter/colour_blind", False, type=bool))
        self.original_colours = {"phase": dict(common.PHASE_COLORS), "series": list(common.SERIES_COLORS)}

    # ------------------------------------------------------------------ text size
    def set_percent(self, percent: int, keep: bool = True) -> None:
        self.percent = int(min(max(percent, SIZES[0]), SIZES[-1]))
        if keep:
            settings().setValue("presenter/text_percent", self.percent)
        self.apply(share_space=True)

    def larger(self) -> None:
        self.set_percent(self.percent + STEP)

    def smaller(self) -> None:
        self.set_percent(self.percent - STEP)

    def reset(self) -> None:
        self.set_percent(100)

    def apply(self, share_space: bool = False) -> None:
        """Scale every font; ``share_space``: also share the window's width out again between the
        diagram, the view and the curves (larger text needs wider side panels)."""
        factor = self.percent / 100.0
        common.TEXT["scale"] = factor
        app = QtWidgets.QApplication.instance()
        # widgets whose font sets its own size keep their size × factor; the others inherit the
        # application font (remember each own size before the application font changes)
        own = []
        for widget in [self.window, *self.window.findChildren(QtWidgets.QWidget)]:
            f = widget.font()
            if widget.testAttribute(QtCore.Qt.WidgetAttribute.WA_SetFont) and f.resolveMask() & 0x2:  # SizeResolved
                if widget.property("stepwise_base_pt") is None and f.pointSizeF() > 0:
                    widget.setProperty("stepwise_base_pt", f.pointSizeF())
                if widget.property("stepwise_base_pt") is not None:
                    own.append(widget)
        font = app.font()
        font.setPointSizeF(self.base_pt * factor)
        app.setFont(font)
        for widget in own:
            f = widget.font()
            f.setPointSizeF(float(widget.property("stepwise_base_pt")) * factor)
            widget.setFont(f)
        splitter = getattr(self.window, "splitter", None)
        if share_space and splitter is not None and splitter.count() == 3:
            total = sum(splitter.sizes()) or self.window.width()
            side = 0.16 * (0.7 + 0.3 * factor)  # 16 % each side at 100 %, 19 % at 200 %
            splitter.setSizes([int(total * side), int(total * (1 - 2 * side)), int(total * side)])
        diagram = getattr(self.window, "diagram", None)
        if diagram is not None:
            diagram.set_blocks(diagram.blocks)  # taller boxes for larger text
        tick_font = QtGui.QFont(font)
        for view in self.window.findChildren(pg.GraphicsView):
            scene = view.scene()
            if scene is None:
                continue
            scene.setFont(font)
            for item in scene.items():
                if isinstance(item, pg.AxisItem):
                    item.setTickFont(tick_font if factor != 1.0 else None)
                    item._updateLabel()  # noqa: SLF001 — re-renders the label at the new size
                elif isinstance(item, pg.LabelItem):
                    item.setText(item.text)
        self.apply_palette()

    # ------------------------------------------------------------------ palette
    def set_colour_blind(self, on: bool) -> None:
        self.colour_blind = bool(on)
        settings().setValue("presenter/colour_blind", self.colour_blind)
        self.apply_palette()

    def apply_palette(self) -> None:
        mapping = COLOUR_BLIND_SAFE if self.colour_blind else {v: k for k, v in COLOUR_BLIND_SAFE.items()}
        common.PHASE_COLORS.update({k: COLOUR_BLIND_SAFE.get(v, v) if self.colour_blind else v
                                    for k, v in self.original_colours["phase"].items()})
        common.SERIES_COLORS[:] = [COLOUR_BLIND_SAFE.get(c, c) if self.colour_blind else c
                                   for c in self.original_colours["series"]]
        from widgets import curves, timeline
        for key, c in list(curves.KEY_COLORS.items()):
            curves.KEY_COLORS[key] = mapping.get(c.upper(), c)
        timeline.CURRENT.setRgb(QtGui.QColor(mapping.get(timeline.CURRENT.name().upper(), timeline.CURRENT.name())).rgb())
        upper = {k.upper(): v for k, v in mapping.items()}
        for view in self.window.findChildren(pg.GraphicsView):
            if view.scene() is None:
                continue
            for item in view.scene().items():
                if isinstance(item, pg.PlotDataItem):
                    pen = item.opts.get("pen")
                    if isinstance(pen, QtGui.QPen):
                        new = upper.get(pen.color().name().upper())
                        if new:
                            pen = QtGui.QPen(pen)
                            alpha = pen.color().alpha()
                            c = QtGui.QColor(new)
                            c.setAlpha(alpha)
                            pen.setColor(c)
                            item.setPen(pen)
        for widget in self.window.findChildren(QtWidgets.QWidget):
            widget.update()

    # ------------------------------------------------------------------ geometry and last lab
    def restore_geometry(self) -> None:
        geometry = settings().value("window/geometry")
        if isinstance(geometry, QtCore.QByteArray) and not geometry.isEmpty():
            self.window.restoreGeometry(geometry)

    def save_geometry(self) -> None:
        settings().setValue("window/geometry", self.window.saveGeometry())

    @staticmethod
    def save_last_lab(lab: str) -> None:
        settings().setValue("window/last_lab", lab)


def last_lab() -> str | None:
    value = settings().value("window/last_lab")
    return str(value) if value else None
