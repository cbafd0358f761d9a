"""The optimizer lab's view: optimizers racing on a contour plot, the loss of each on a log scale,
live hyperparameters, and — when paused — what each one's next update is made of.

Two pages: the race on a 2-D surface (optimizer_surface.py: race_plot.py, the update explainer,
the loss plot, hyper_table.py) and the race of real networks with their loss landscape
(optimizer_network.py). This class holds the header, switches the page by view_data["mode"] and
turns clicks into intents (select an optimizer, start a new race elsewhere, a live setting).
"""
from __future__ import annotations

import math

import numpy as np
from PySide6 import QtCore, QtWidgets

from .common import SteadyLabel
from .lab_view import LabView
from .optimizer_common import color_of
from .optimizer_network import NetworkRace
from .optimizer_surface import SurfaceRace


class OptimizerView(LabView):
    """The race (surface mode) or the network race with its landscape (network mode)."""

    owns_curves = True  # it draws every optimizer's loss on a log scale itself
    shows_network = False  # no layer stack: its blocks are the optimizers, picked in the view itself

    apply_settings = QtCore.Signal(dict)  # a new run with these settings (e.g. a start point clicked)

    def __init__(self, parent=None):
        super().__init__(parent)
        outer = QtWidgets.QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        self.header = SteadyLabel(rich=True, wrap=True, lines=2)
        outer.addWidget(self.header)
        self.stack = QtWidgets.QStackedWidget()
        outer.addWidget(self.stack, 1)
        self.surface = SurfaceRace()
        self.surface.race.clicked.connect(self._clicked)
        self.surface.table.set_hyperparam.connect(self.set_hyperparam)
        self.surface.table.visibility.connect(self._set_visible)
        self.stack.addWidget(self.surface)
        self.network = NetworkRace()
        self.network.landscape.compute.connect(lambda args: self.command.emit("landscape", args))
        self.network.landscape.cancel.connect(lambda: self.command.emit("landscape_cancel", {}))
        self.network.table.set_hyperparam.connect(self.set_hyperparam)
        self.network.table.visibility.connect(self._set_net_visible)
        self.stack.addWidget(self.network)
        # the parts the tests and the benches look at
        self.race, self.table, self.legend = self.surface.race, self.surface.table, self.surface.legend
        self.landscape = self.network.landscape
        self.hidden: set[str] = set()
        self.last_view: dict | None = None

    # ------------------------------------------------------------------ intents
    def _clicked(self, x: float, y: float) -> None:
        x0, x1, y0, y1 = self.surface.bounds
        if not (x0 <= x <= x1 and y0 <= y <= y1):
            return
        span = max(x1 - x0, y1 - y0)
        # a click near a current point selects that optimizer instead
        v = self.last_view or {}
        cur = np.asarray(v.get("current", np.zeros((0, 2))))
        if len(cur):
            d = np.hypot(cur[:, 0] - x, cur[:, 1] - y)
            k = int(np.argmin(d))
            if d[k] < 0.02 * span and v["optimizers"][k] not in self.hidden:
                self.select_block.emit(k)
                return
        decimals = max(0, 2 - math.floor(math.log10(span)))  # about 1/100 of the plot: a click is not finer
        values = {"start": f"{round(x, decimals):g},{round(y, decimals):g}"}
        if self.isSignalConnected(QtCore.QMetaMethod.fromSignal(self.apply_settings)):
            self.apply_settings.emit(values)
        else:  # until the window routes apply_settings itself: its settings' Apply path
            win = self.window()
            if hasattr(win, "_apply_settings"):
                win._apply_settings(values)

    def _set_visible(self, name: str, on: bool) -> None:
        (self.hidden.discard if on else self.hidden.add)(name)
        if self.last_view is not None:
            self._set_header(self.surface.render(self.last_view, self._last_snap, self.hidden))

    def _set_net_visible(self, name: str, on: bool) -> None:
        (self.hidden.discard if on else self.hidden.add)(name)
        self.network.set_visible(name, on)

    # ------------------------------------------------------------------ LabView
    def on_ready(self, info: dict) -> None:
        self.hidden.clear()

    def on_reply(self, name: str, reply: dict) -> None:
        pass

    def on_task(self, name: str, progress: dict) -> None:
        if name != "landscape":
            return
        if progress.get("done"):
            if "loss" in progress:
                v = self.last_view or {}
                self.landscape.set_result(progress, self._colors(v), self._titles(v))
            else:
                self.landscape.set_busy(False)
        elif progress.get("cancelled"):
            self.landscape.set_busy(False)
        else:
            self.landscape.set_progress(float(progress.get("progress", 0.0)), progress.get("stage", ""))

    @staticmethod
    def _colors(v: dict) -> dict[str, str]:
        return {n: color_of(n, i) for i, n in enumerate(v.get("optimizers", []))}

    @staticmethod
    def _titles(v: dict) -> dict[str, str]:
        return dict(zip(v.get("optimizers", []), v.get("titles", [])))

    def set_snapshot(self, snap: dict) -> None:
        v = snap["view"]   # engines/labs/optimizers.py SurfaceRaceView or NetworkRaceView
        self.last_view, self._last_snap = v, snap
        if v["mode"] == "network":
            self.stack.setCurrentIndex(1)
            self._set_header(self.network.render(v, snap, self._colors(v), self._titles(v)))
        else:
            self.stack.setCurrentIndex(0)
            self._set_header(self.surface.render(v, snap, self.hidden))

    def _set_header(self, text: str) -> None:
        if text != self.header.text():
            self.header.setText(text)


if __name__ == "__main__":  # python -m widgets.optimizer_view [--screenshot PATH] [--network]
    import sys

    from .demo import run_lab_view_demo
    from .optimizer_common import fake_view_data

    mode = "network" if "--network" in sys.argv else "surface"
    if mode == "network":
        sys.argv.remove("--network")
    run_lab_view_demo(OptimizerView, {"view": fake_view_data(mode), "iteration": 150, "playing": False,
                                      "selected_block": 2}, (980, 800))
