"""The LSTM lab (seed 000): a 2-layer character-level LSTM written from its gate equations.

    i, f, o = σ(W x_t + U h_{t−1} + b) (three gates), g = tanh(…) (the candidate c̃)
    c_t = f ⊙ c_{t−1} + i ⊙ g,   h_t = o ⊙ tanh(c_t)

or, with ``cell: gru``, a GRU (torch's equations, engines/numpy_engine/gru.py, torch_engine/gru.py):

    r, z = σ(W x_t + U h_{t−1} + b) (reset, update),   n = tanh(W_n x_t + b_n + r ⊙ (U_n h_{t−1} + b_hn))
    h_t = (1 − z) ⊙ n + z ⊙ h_{t−1}

3(N·d + N² + N) + N parameters per layer against the LSTM's 4(N·d + N² + N): the same text, hidden
size and seed compare them (bench/gru.py).

Engines: torch (autograd through a hand-written cell, one fused matrix product for the four
gates, a Python loop over time, no nn.LSTM; engines/torch_engine/lstm.py) and numpy (manual
backpropagation through time; engines/numpy_engine/lstm.py). Training: batches of 32 parallel
streams of 50 characters, the mean loss per character, gradients clipped to a global norm of 5,
Adam. The view shows the gates of every layer over the current sequence, and generates text.
"""
from __future__ import annotations

from ..numpy_engine.gru import NumpyGRU
from ..numpy_engine.lstm import NumpyLSTM
from ..options import settings
from .text_common import NumpyTextTrainer, TextLabView, TextPhaseData

VIEW_DATA = TextLabView                  # view_data(), both engines and both cells (engines/labs/text_common.py)
PHASE_DATA = TextPhaseData              # Session.block_phase_data(block)


class LSTMSettings:
    lab = "lstm"
    cell = "lstm"
    cell_title = "LSTM"
    clip_mode = "norm"
    optimizer_name = "adam"
    eval_every = 100
    keyframe_every = 10


class GRUSettings(LSTMSettings):
    cell = "gru"
    cell_title = "GRU"


class NumpyLSTMTrainer(LSTMSettings, NumpyTextTrainer):
    net_class = NumpyLSTM
    loss_reduction = "mean"


class NumpyGRUTrainer(GRUSettings, NumpyLSTMTrainer):
    net_class = NumpyGRU




def parse_cell(config: dict) -> str:
    """The recurrent cell, "lstm" (the default) or "gru" (declared in engines/options.py)."""
    return settings(config, "lstm")["cell"]


def make_trainer(config: dict) -> NumpyLSTMTrainer:
    return NumpyGRUTrainer(config) if parse_cell(config) == "gru" else NumpyLSTMTrainer(config)
