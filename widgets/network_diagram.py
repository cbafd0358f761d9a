"""The network diagram: one box per block, input at the top and the loss at the bottom.

The block of the current phase is filled in the phase's colour (forward blue, backward
orange, update green), the inspected block is outlined; clicking a box selects it.

Blocks that can be frozen (transfer learning) carry a lock at their right edge: open when the
block trains, closed (and the block greyed) when it is frozen; clicking the lock asks to toggle
it (``freeze_toggled``). Where backward stops (nothing at or below a block trains), the arrows
above that block are drawn dashed: no gradient flows there.
"""
from __future__ import annotations

from PySide6 import QtCore, QtGui, QtWidgets

from .common import PHASE_COLORS, TEXT

BOX_H = 44
GAP = 14
MARGIN = 10


LOCK_W = 18


def _box_h() -> float:
    return BOX_H * max(1.0, 0.35 + 0.65 * TEXT["scale"])  # room for the title and its line under it


class NetworkDiagram(QtWidgets.QWidget):
    block_clicked = QtCore.Signal(int)
    end_clicked = QtCore.Signal(str)  # "input" or "loss", when the view can show them
    freeze_toggled = QtCore.Signal(str, bool)   # block name, frozen from now on

    def __init__(self, parent=None):
        super().__init__(parent)
        self.blocks: list[dict] = []
        self.active_block = -1
        self.active_kind = ""
        self.selected = 0
        self.freezable: set[str] = set()
        self.frozen: set[str] = set()
        self.gradient_stops_at: int | None = None
        self.setMinimumWidth(210)
        self.setMouseTracking(True)
        self.clickable_ends = False
        self.end_shown = ""   # "input" | "loss" while the view shows that end: its box has the selection border
        self.setToolTip("Click a block to inspect it")

    def set_clickable_ends(self, clickable: bool) -> None:
        """Whether the input and loss boxes are clickable (the view shows the batch and the loss)."""
        self.clickable_ends = clickable
        self.setToolTip("Click a block to inspect it" + (" (input: the batch; loss: each example's loss)"
                                                          if clickable else ""))

    # ---------------------------------------------------------------- data
    def set_blocks(self, blocks: list[dict]) -> None:
        """blocks: dicts with name, label, kind, n_params, out_shape."""
        self.blocks = list(blocks)
        self.end_shown = ""
        self.setMinimumHeight(self._total_height())
        self.updateGeometry()
        self.update()

    def set_state(self, active_block: int, active_kind: str, selected: int) -> None:
        if (active_block, active_kind, selected) != (self.active_block, self.active_kind, self.selected):
            self.active_block, self.active_kind, self.selected = active_block, active_kind, selected
            self.update()

    def set_transfer(self, freezable=(), frozen=(), gradient_stops_at: int | None = None) -> None:
        """Which blocks show a lock, which are frozen, and where backward stops (None: nowhere)."""
        state = (set(freezable), set(frozen), gradient_stops_at)
        if state != (self.freezable, self.frozen, self.gradient_stops_at):
            self.freezable, self.frozen, self.gradient_stops_at = state
            self.update()

    def lock_rect(self, row: int) -> QtCore.QRectF:
        r = self.box_rect(row)
        return QtCore.QRectF(r.right() - LOCK_W - 4, r.top() + (BOX_H - LOCK_W) / 2, LOCK_W, LOCK_W)

    def _rows(self) -> list[tuple[str, str, str, int]]:
        """(title, subtitle, role, block index) for input, blocks, loss."""
        rows = [("input", "", "input", -2)]
        for i, b in enumerate(self.blocks):
            shape = "×".join(str(s) for s in b.get("out_shape", ())) or ""
            params = b.get("n_params", 0)
            sub = (f"out {shape}" if shape else "") + (f" · {params:,} params" if params else "")
            rows.append((b["label"], sub, b.get("kind", ""), i))
        rows.append(("loss", "", "loss", -1))
        return rows

    def _total_height(self) -> int:
        return int(MARGIN * 2 + len(self._rows()) * (_box_h() + GAP))

    def sizeHint(self) -> QtCore.QSize:
        return QtCore.QSize(240, self._total_height())

    def box_rect(self, row: int) -> QtCore.QRectF:
        w = self.width() - 2 * MARGIN
        return QtCore.QRectF(MARGIN, MARGIN + row * (_box_h() + GAP), w, _box_h())

    # ---------------------------------------------------------------- painting
    def paintEvent(self, event) -> None:
        p = QtGui.QPainter(self)
        p.setRenderHint(QtGui.QPainter.RenderHint.Antialiasing)
        rows = self._rows()
        for r, (title, sub, role, index) in enumerate(rows):
            rect = self.box_rect(r)
            active = (index == self.active_block and index >= 0) or (role == "loss" and self.active_kind == "loss")
            fill = QtGui.QColor("#F4F4F4")
            if role in ("input", "loss"):
                fill = QtGui.QColor("#E8E8E8")
            if active:
                fill = QtGui.QColor(PHASE_COLORS.get(self.active_kind, "#DDDDDD"))
                fill.setAlpha(110)
            name = self.blocks[index].get("name", "") if index >= 0 else ""
            frozen = name in self.frozen
            if (self.active_kind == "update" and index >= 0 and self.blocks[index].get("n_params", 0)
                    and not frozen):
                fill = QtGui.QColor(PHASE_COLORS["update"])
                fill.setAlpha(70)
            if frozen:
                fill = QtGui.QColor("#D5DCE4") if not active else fill
            chosen = (index < 0 and role == self.end_shown) if self.end_shown else index == self.selected
            pen = QtGui.QPen(QtGui.QColor("#222" if chosen else "#999"), 2.5 if chosen else 1)
            p.setPen(pen)
            p.setBrush(fill)
            p.drawRoundedRect(rect, 6, 6)
            p.setPen(QtGui.QColor("#111"))
            f = p.font()
            f.setPointSizeF(9 * TEXT["scale"])
            f.setBold(chosen)
            p.setFont(f)
            text_rect = rect.adjusted(8, 3, -8 - (LOCK_W + 4 if name in self.freezable else 0), -3)
            if sub:
                p.drawText(text_rect, QtCore.Qt.AlignmentFlag.AlignLeft | QtCore.Qt.AlignmentFlag.AlignTop, title)
                f.setBold(False)
                f.setPointSizeF(8 * TEXT["scale"])
                p.setFont(f)
                p.setPen(QtGui.QColor("#555"))
                p.drawText(text_rect, QtCore.Qt.AlignmentFlag.AlignLeft | QtCore.Qt.AlignmentFlag.AlignBottom, sub)
            else:
                p.drawText(text_rect, QtCore.Qt.AlignmentFlag.AlignCenter, title)
            if name in self.freezable:
                self._lock(p, self.lock_rect(r), frozen)
            if r < len(rows) - 1:
                # the arrow below row r carries dL/d(input of block r); none above where backward stops
                stopped = self.gradient_stops_at is not None and r <= self.gradient_stops_at
                self._arrow(p, rect, no_gradient=stopped)
                if stopped and r == self.gradient_stops_at:
                    self._barrier(p, rect)
        p.end()

    def _lock(self, p: QtGui.QPainter, r: QtCore.QRectF, closed: bool) -> None:
        """A padlock: closed and dark when frozen; open (shackle raised, one leg free) and grey when it trains."""
        color = QtGui.QColor("#1F3A5F" if closed else "#9AA4AE")
        p.setPen(QtGui.QPen(color, 1.6))
        body = QtCore.QRectF(r.left() + 2, r.top() + r.height() * 0.45, r.width() - 4, r.height() * 0.5)
        lift = 0.0 if closed else 4.0
        arc = QtCore.QRectF(r.left() + 5, r.top() + 1 - lift, r.width() - 10, r.height() * 0.6)
        p.setBrush(QtCore.Qt.BrushStyle.NoBrush)
        p.drawArc(arc, 0, 180 * 16)
        mid = arc.center().y()
        p.drawLine(QtCore.QPointF(arc.right(), mid), QtCore.QPointF(arc.right(), body.top()))
        left_end = body.top() if closed else body.top() - 4
        p.drawLine(QtCore.QPointF(arc.left(), mid), QtCore.QPointF(arc.left(), left_end))
        p.setBrush(color if closed else QtGui.QColor("#FFFFFF"))
        p.drawRoundedRect(body, 2, 2)

    def _barrier(self, p: QtGui.QPainter, rect: QtCore.QRectF) -> None:
        """Where backward stops: a bar across the arrow into the block, and a word beside it."""
        x, y = rect.center().x(), rect.bottom() + GAP / 2
        p.setPen(QtGui.QPen(QtGui.QColor("#C62828"), 2.5))
        p.drawLine(QtCore.QPointF(x - 9, y), QtCore.QPointF(x + 9, y))
        f = p.font()
        f.setPointSizeF(7)
        f.setBold(False)
        p.setFont(f)
        p.drawText(QtCore.QRectF(x + 14, y - 7, rect.width() / 2, 14),
                   QtCore.Qt.AlignmentFlag.AlignLeft | QtCore.Qt.AlignmentFlag.AlignVCenter, "gradient stops here")

    def _arrow(self, p: QtGui.QPainter, rect: QtCore.QRectF, no_gradient: bool = False) -> None:
        backward = self.active_kind == "backward"
        color = QtGui.QColor(PHASE_COLORS["backward"] if backward and not no_gradient else "#888")
        pen = QtGui.QPen(color, 1.5)
        if no_gradient:
            pen.setStyle(QtCore.Qt.PenStyle.DashLine)
            backward = False  # nothing flows back along this arrow
        p.setPen(pen)
        x = rect.center().x()
        y0, y1 = rect.bottom() + 1, rect.bottom() + GAP - 1
        p.drawLine(QtCore.QPointF(x, y0), QtCore.QPointF(x, y1))
        tip, base = (y0, y0 + 5) if backward else (y1, y1 - 5)
        p.setBrush(color)
        p.drawPolygon(QtGui.QPolygonF([QtCore.QPointF(x, tip), QtCore.QPointF(x - 4, base), QtCore.QPointF(x + 4, base)]))

    # ---------------------------------------------------------------- input
    def mousePressEvent(self, event) -> None:
        pos = event.position()
        for r, (_, _, role, index) in enumerate(self._rows()):
            if not self.box_rect(r).contains(pos):
                continue
            if index < 0:
                if self.clickable_ends:
                    self.end_shown = role
                    self.update()
                    self.end_clicked.emit(role)
                return
            if self.end_shown:
                self.end_shown = ""
                self.update()
            name = self.blocks[index].get("name", "")
            if name in self.freezable and self.lock_rect(r).adjusted(-4, -6, 4, 6).contains(pos):
                self.freeze_toggled.emit(name, name not in self.frozen)
            else:
                self.block_clicked.emit(index)
            return


if __name__ == "__main__":  # python -m widgets.network_diagram [--screenshot PATH]
    from .demo import run_demo

    def build() -> NetworkDiagram:
        w = NetworkDiagram()
        w.set_blocks([{"name": "dropout", "label": "Dropout p=0.3", "kind": "dropout", "out_shape": (784,)},
                      {"name": "dense1", "label": "Dense 784→256 + relu", "kind": "dense", "n_params": 200960,
                       "out_shape": (256,)},
                      {"name": "output", "label": "Dense 256→10", "kind": "dense", "n_params": 2570, "out_shape": (10,)}])
        w.set_state(1, "backward", 1)
        w.set_transfer({"dense1", "output"}, {"dense1"}, gradient_stops_at=1)
        w.freeze_toggled.connect(lambda name, on: w.set_transfer({"dense1", "output"}, {"dense1"} ^ {name}))
        return w

    run_demo(build, (260, 420))
