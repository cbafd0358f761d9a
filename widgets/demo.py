"""Run one widget alone with made-up data: every widget file ends with

    if __name__ == "__main__":
        run_demo(build)        # build() -> the widget, filled with plausible arrays of the right shapes

so ``python -m widgets.cnn_view`` opens the CNN view without an engine, and
``python -m widgets.cnn_view --screenshot out.png`` draws it once and saves it instead of opening a
window (tests/test_widget_demos.py runs every widget file so, offscreen, in its own process).
"""
from __future__ import annotations

import argparse
import sys
from typing import Callable

from PySide6 import QtWidgets

from .style import configure_pyqtgraph


def run_demo(build: Callable[[], QtWidgets.QWidget], size: tuple[int, int] = (1000, 760)) -> None:
    parser = argparse.ArgumentParser(description="Show this widget alone, with made-up data.")
    parser.add_argument("--screenshot", metavar="PATH", help="draw it once, save a PNG there and exit")
    args = parser.parse_args()
    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication(sys.argv)
    configure_pyqtgraph()
    widget = build()
    widget.resize(*size)
    widget.show()
    if args.screenshot:
        for _ in range(3):          # layouts settle and pyqtgraph items paint over a few passes
            app.processEvents()
        if not widget.grab().save(args.screenshot):
            sys.exit(f"Could not write the screenshot {args.screenshot}; check that its folder exists.")
        return
    app.exec()


def run_lab_view_demo(view_class: type, snapshot: dict, size: tuple[int, int] = (1000, 760)) -> None:
    """run_demo for a lab's view: shown first (views render only what is on screen), then handed
    the made-up snapshot."""
    def build() -> QtWidgets.QWidget:
        view = view_class()
        view.show()
        view.set_snapshot(snapshot)
        return view

    run_demo(build, size)
