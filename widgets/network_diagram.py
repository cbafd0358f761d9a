"""The network diagram: one box per block, input at the top and the loss at the bottom.

The block of the current phase is filled in the phase's colour (forward blue, backward
orange, update green), the inspected block is outlined; clicking a box selects it.
"""
from __future__ import annotations

from PySide6 import QtCore, QtGui, QtWidgets

from .common import PHASE_COLORS

BOX_H = 44
GAP = 14
MARGIN = 10


class NetworkDiagram(QtWidgets.QWidget):
    block_clicked = QtCore.Signal(int)
    end_clicked = QtCore.Signal(str)  # "input" or "loss", when the view can show them


    def __init__(self, parent=None):
        super().__init__(parent)
        self.blocks: list[dict] = []
        self.active_block = -1
        self.active_kind = ""
        self.selected = 0
        self.setMinimumWidth(210)
        self.setMouseTracking(True)
        self.clickable_ends = False
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
        self.setMinimumHeight(self._total_height())
        self.updateGeometry()
        self.update()

    def set_state(self, active_block: int, active_kind: str, selected: int) -> None:
        if (active_block, active_kind, selected) != (self.active_block, self.active_kind, self.selected):
            self.active_block, self.active_kind, self.selected = active_block, active_kind, selected
            self.update()

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
        return MARGIN * 2 + len(self._rows()) * (BOX_H + GAP)

    def sizeHint(self) -> QtCore.QSize:
        return QtCore.QSize(240, self._total_height())

    def box_rect(self, row: int) -> QtCore.QRectF:
        w = self.width() - 2 * MARGIN
        return QtCore.QRectF(MARGIN, MARGIN + row * (BOX_H + GAP), w, BOX_H)

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
            if self.active_kind == "update" and index >= 0 and self.blocks[index].get("n_params", 0):
                fill = QtGui.QColor(PHASE_COLORS["update"])
                fill.setAlpha(70)
            pen = QtGui.QPen(QtGui.QColor("#222" if index == self.selected else "#999"),
                             2.5 if index == self.selected else 1)
            p.setPen(pen)
            p.setBrush(fill)
            p.drawRoundedRect(rect, 6, 6)
            p.setPen(QtGui.QColor("#111"))
            f = p.font()
            f.setPointSizeF(9)
            f.setBold(index == self.selected)
            p.setFont(f)
            text_rect = rect.adjusted(8, 3, -8, -3)
            if sub:
                p.drawText(text_rect, QtCore.Qt.AlignmentFlag.AlignLeft | QtCore.Qt.AlignmentFlag.AlignTop, title)
                f.setBold(False)
                f.setPointSizeF(8)
                p.setFont(f)
                p.setPen(QtGui.QColor("#555"))
                p.drawText(text_rect, QtCore.Qt.AlignmentFlag.AlignLeft | QtCore.Qt.AlignmentFlag.AlignBottom, sub)
            else:
                p.drawText(text_rect, QtCore.Qt.AlignmentFlag.AlignCenter, title)
            if r < len(rows) - 1:
                self._arrow(p, rect)
        p.end()

    def _arrow(self, p: QtGui.QPainter, rect: QtCore.QRectF) -> None:
        backward = self.active_kind == "backward"
        color = QtGui.QColor(PHASE_COLORS["backward"] if backward else "#888")
        p.setPen(QtGui.QPen(color, 1.5))
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
            if index >= 0:
                self.block_clicked.emit(index)
            elif self.clickable_ends:
                self.end_clicked.emit(role)
            return


if __name__ == "__main__":  # run alone with fake data
    app = QtWidgets.QApplication([])
    w = NetworkDiagram()
    w.set_blocks([{"label": "Dropout p=0.3", "kind": "dropout", "out_shape": (784,)},
                  {"label": "Dense 784→256 + relu", "kind": "dense", "n_params": 200960, "out_shape": (256,)},
                  {"label": "Dense 256→10", "kind": "dense", "n_params": 2570, "out_shape": (10,)}])
    w.set_state(1, "backward", 1)
    w.show()
    app.exec()
