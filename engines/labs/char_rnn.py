"""The char-RNN lab (seed 000): Karpathy's min-char-rnn with a second layer, NumPy only.

A vanilla tanh RNN, 1–3 layers (default 2), reads Tiny Shakespeare (or any UTF-8 text) one
character at a time and learns to predict the next one. As in min-char-rnn: the loss of a
sequence is summed over its time steps, backpropagation through time is written by hand, each
gradient entry is clipped to [−5, 5], and Adagrad keeps its own memory of squared gradients.
Changes: more than one layer, an embedding lookup instead of one-hot matrix products, a sorted
(stable) vocabulary, batches of parallel streams (default 1, as min-char-rnn), and a learning
rate that decays as training goes on: lr_t = lr / (1 + (t − 1) · lr_decay).

The default learning rate is 0.01, not min-char-rnn's 0.1: Adagrad's first steps move every
weight by about ±lr, and at 0.1 that knocks a 2- or 3-layer stack (weights ~ ±1/√H) into
tanh saturation, where it predicts only character frequencies for tens of thousands of
iterations (measured: 2 × 128 stays at 3.3 nats/char for 4,000 iterations at 0.1, reaches
2.14 at 0.01).
"""
from __future__ import annotations

from ..numpy_engine.rnn import RecurrentNet
from ..options import settings
from .text_common import NumpyTextTrainer, TextLabView, TextPhaseData

VIEW_DATA = TextLabView                  # view_data(), as every text lab's (engines/labs/text_common.py)
PHASE_DATA = TextPhaseData              # Session.block_phase_data(block)


class CharRNNTrainer(NumpyTextTrainer):
    lab = "char-rnn"
    cell = "rnn"
    cell_title = "RNN"
    net_class = RecurrentNet
    loss_reduction = "sum_time"        # min-char-rnn: the loss of a sequence is the sum over its characters
    clip_mode = "value"
    optimizer_name = "adagrad"
    eval_every = 1000
    keyframe_every = 50

    def __init__(self, config: dict):
        self.lr_decay = settings(config, self.lab, self.engine)["lr_decay"]
        super().__init__(config)

    def layer_label(self, l: int) -> str:
        n_in = self.data.vocab_size if l == 0 else self.hidden
        return f"RNN {l + 1} · tanh · {n_in}→{self.hidden}"

    def hyperparams(self) -> dict[str, float]:
        return {"lr": float(self.lr), "lr_decay": float(self.lr_decay), "clip": float(self.clip)}

    def set_hyperparam(self, name: str, value: float) -> None:
        if name == "lr_decay":
            self.lr_decay = self.check_live(name, value)
            self.apply_hyperparams()
            return
        super().set_hyperparam(name, value)
