"""What the text views show of each recurrent cell (LSTM, GRU, vanilla RNN), shared by their panels:
the rows of the heatmaps, their titles and colour levels, and the axes that label time steps with
characters and log10 values with decades.
"""
from __future__ import annotations

import math

import numpy as np
import numpy.ma  # noqa: F401  (np.percentile imports it at its first call: 60 ms in the first frame of play)
import pyqtgraph as pg

from .common import DIVERGING, SEQUENTIAL

GATE_ROWS = {  # name -> (title, short label, levels or None for symmetric)
    "i": ("input gate i", "i", (0.0, 1.0)),
    "f": ("forget gate f", "f", (0.0, 1.0)),
    "g": ("candidate c̃", "c̃", (-1.0, 1.0)),
    "o": ("output gate o", "o", (0.0, 1.0)),
    "c": ("cell state c", "c", None),
    "h": ("hidden state h", "h", (-1.0, 1.0)),
    "r": ("reset gate r", "r", (0.0, 1.0)),
    "z": ("update gate z", "z", (0.0, 1.0)),
    "n": ("candidate h̃", "h̃", (-1.0, 1.0)),
}
LSTM_ORDER = ("i", "f", "g", "o", "c", "h")
CELL_ROWS = {"lstm": LSTM_ORDER, "gru": ("r", "z", "n", "h"), "rnn": ("h",)}   # heatmap rows, top to bottom
CELL_COLOUR_BY = {"lstm": ("c", "h", "i", "f", "g", "o"), "gru": ("h", "z", "r", "n"), "rnn": ("h",)}
SIGMOID_GATES = ("i", "f", "o", "r", "z")
CELL_TITLES = {"lstm": "LSTM", "gru": "GRU", "rnn": "RNN"}
ROW_LEGENDS = {
    "lstm": "<b>i</b> input gate · <b>f</b> forget gate · <b>c̃</b> candidate · <b>o</b> output gate · "
            "<b>c</b> cell state · <b>h</b> hidden state",
    "gru": "<b>r</b> reset gate · <b>z</b> update gate (h = (1−z)·h̃ + z·h<sub>t−1</sub>) · <b>h̃</b> candidate · "
           "<b>h</b> hidden state",
    "rnn": "<b>h</b> hidden state",
}


def show_char(c: str) -> str:
    """A character as it can be read on an axis: newline ⏎, space ␣, tab ⇥."""
    return {"\n": "⏎", " ": "␣", "\t": "⇥", "\r": "␍"}.get(c, c)


def describe_char(c: str) -> str:
    return {"\n": "newline", " ": "space", "\t": "tab"}.get(c, repr(c))


class CharAxis(pg.AxisItem):
    """A bottom axis that labels time step t with the character read at t."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.chars = ""

    def set_chars(self, chars: str) -> None:
        if chars != self.chars:
            self.chars = chars
            self.picture = None
            self.update()

    def tickValues(self, minVal, maxVal, size):
        n = len(self.chars)
        if not n:
            return []
        step = max(1, math.ceil(n * 11 / max(size, 1)))   # ~11 px per label at least
        return [(float(step), [t + 0.5 for t in range(0, n, step)])]

    def tickStrings(self, values, scale, spacing):
        out = []
        for v in values:
            t = int(v)
            out.append(show_char(self.chars[t]) if 0 <= t < len(self.chars) else "")
        return out


class DecadeAxis(pg.AxisItem):
    """A left axis for log10 data: a label at each power of ten only."""

    def tickValues(self, minVal, maxVal, size):
        lo, hi = math.ceil(minVal - 1e-9), math.floor(maxVal + 1e-9)
        if hi - lo >= 1:
            step = max(1, math.ceil((hi - lo + 1) / max(2, size / 18)))
            return [(float(step), [float(v) for v in range(lo, hi + 1, step)])]
        # less than a decade in view: 1, 2 and 5 times powers of ten, as many as fit (a label needs ~18 px:
        # the BPTT strip's ‖dL/dh_t‖ plot, 30 px tall, crowded three into it)
        values = [math.log10(m) + e for e in range(math.floor(minVal) - 1, math.ceil(maxVal) + 1)
                  for m in (1, 2, 5) if minVal <= math.log10(m) + e <= maxVal]
        room = max(1, int(size // 18))
        if len(values) > room:
            values = values[::math.ceil(len(values) / room)]
        return [(1.0, values)]

    def tickStrings(self, values, scale, spacing):
        return [decade_label(v) for v in values]


def decade_label(v: float) -> str:
    """The label of log10 value ``v``: 0.02, 300, 1e-5, 2e-5 (2e-5 was "1e-5", its exponent rounded: two
    labels alike on a plot spanning less than a decade)."""
    if -3 <= v <= 4:
        return f"{float(f'{10.0 ** v:.2g}'):g}"   # two significant digits, never "3e+02"
    e = math.floor(v + 1e-9)
    m = round(10.0 ** (v - e))
    return f"1e{e}" if m == 1 else f"{m}e{e}"


def robust_max(a: np.ndarray) -> float:
    """The 99th percentile of |a| (a few extreme entries would wash out the rest), never 0."""
    v = np.abs(np.asarray(a, dtype=np.float64))
    v = v[np.isfinite(v)]
    m = float(np.percentile(v, 99)) if v.size else 0.0
    return m if m > 0 else (float(v.max()) if v.size and v.max() > 0 else 1e-12)


def colormap_lut(diverging: bool) -> np.ndarray:
    return (DIVERGING if diverging else SEQUENTIAL).getLookupTable(0.0, 1.0, 256)
