"""The optimizer lab's network mode: one real MLP per optimizer on the same batches; their training
losses, their live hyperparameters, and the held-out loss landscape around their paths.

Reads view_data: optimizers, titles, iterations (L,), losses (n, L), recorded, optimizer_hyperparams,
and (once computed) landscape.
"""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6 import QtWidgets

from .hyper_table import HyperTable
from .landscape_view import LandscapeView
from .optimizer_common import LOSS_FLOOR, Log10Axis, color_of, thin_curve


class NetworkRace(QtWidgets.QWidget):
    """The network-mode page: the landscape on top, the losses and the table below."""

    def __init__(self, parent=None):
        super().__init__(parent)
        nv = QtWidgets.QVBoxLayout(self)
        nv.setContentsMargins(0, 0, 0, 0)
        self.landscape = LandscapeView(title="Held-out loss around the networks' training paths")
        self.loss_plot = pg.PlotWidget(axisItems={"left": Log10Axis("left")})
        self.loss_plot.setToolTip("Each optimizer's network: the training loss L = −(1/B) Σ log p(true) on the "
                                  "same batches, log scale.")
        self.loss_item = self.loss_plot.getPlotItem()
        self.loss_item.setTitle("training loss (each network, same batches) vs iteration", size="9pt")
        self.loss_item.setLabel("left", "loss (log scale)")
        self.loss_item.showGrid(x=True, y=True, alpha=0.25)
        self.curves: dict[str, pg.PlotDataItem] = {}
        self.table = HyperTable()
        bottom = QtWidgets.QHBoxLayout()
        bottom.addWidget(self.loss_plot, 3)
        bottom.addWidget(self.table, 2)
        nv.addWidget(self.landscape, 3)
        nv.addLayout(bottom, 2)

    def set_visible(self, name: str, on: bool) -> None:
        if name in self.curves:
            self.curves[name].setVisible(on)

    def render(self, v: dict, snap: dict, colors: dict[str, str], titles_of: dict[str, str]) -> str:
        """Draw the losses (and the landscape when it came with the view); returns the header line."""
        names, titles = v["optimizers"], v["titles"]
        its, losses = np.asarray(v["iterations"]), np.asarray(v["losses"])
        for k, name in enumerate(names):
            curve = self.curves.get(name)
            if curve is None:
                curve = self.curves[name] = self.loss_item.plot(
                    [], [], pen=pg.mkPen(color_of(name, k), width=1.5), name=titles[k])
            if losses.size:
                curve.setData(*thin_curve(its, np.log10(np.maximum(losses[k], LOSS_FLOOR))))
        self.table.set_values(names, titles, v["optimizer_hyperparams"])
        if "landscape" in v:
            self.landscape.set_result(v["landscape"], colors, titles_of)
        recorded = int(v["recorded"])
        return (f"<b>Iteration {snap.get('iteration', 0)}</b> · one MLP 784→32→10 per optimizer, "
                f"the same initial weights and the same batches · {recorded} point"
                f"{'' if recorded == 1 else 's'} of each path recorded · compute the landscape to see "
                "the paths on the loss surface")


if __name__ == "__main__":  # python -m widgets.optimizer_network [--screenshot PATH]
    from .demo import run_demo
    from .landscape_view import fake_result
    from .optimizer_common import fake_view_data

    def build() -> NetworkRace:
        page = NetworkRace()
        v = dict(fake_view_data("network"), landscape=fake_result())
        colors = {n: color_of(n, i) for i, n in enumerate(v["optimizers"])}
        page.render(v, {"iteration": 150}, colors, dict(zip(v["optimizers"], v["titles"])))
        return page

    run_demo(build, (900, 760))
