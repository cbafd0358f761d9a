"""What the char-RNN and LSTM labs share: data streams, phases through time, state, files; generation
is streamed by engines/labs/text_generation.py.

Data: the training text is cut into B parallel streams (stream b starts at b·N/B); every
iteration reads the next T characters of each stream and predicts the character after each
one. The recurrent state at the end of a sequence is carried into the next (truncated
backpropagation through time), and reset to zero when the streams wrap around, as
min-char-rnn does.

Phases of one iteration: forward through each recurrent layer (all T steps), the output layer,
the loss; backward through the output layer, then through time: for the top layer first, one
phase per time step from the last character to the first (``PhaseSpec.step`` is the step
reached; long sequences take a few steps per phase so no layer has more than 50), then the
update (gradient clipping and the optimizer).

A model (engines/numpy_engine/rnn.py RecurrentNet, numpy_engine/lstm.py NumpyLSTM,
torch_engine/lstm.py StagedLSTM) implements: begin, forward_layer, forward_output, loss,
backward_output, backward_steps, store_carry, reset_carry, layer_activations, probabilities,
step_gradients, param_arrays, set_param_arrays, eval_loss and sampler.
"""
from __future__ import annotations

import dataclasses
import math
import time
from typing import Any, Iterator, NotRequired, TypedDict

import numpy as np

from .. import StepwiseError
from ..loading import read_model, write_model
from ..numpy_engine.optimizers import Adagrad, Adam
from ..numpy_engine.rnn import RecurrentNet, clip_elementwise, clip_global_norm
from ..options import OptionSpec, read_value, settings
from ..text_data import TextData, load_text
from ..trainer import (BACKWARD, FORWARD, LOSS, UPDATE, BlockInfo, PhaseEvent, PhaseSpec, Trainer, attribute_set_to,
                       check_finite)
from .text_generation import TextGeneration

MAX_STEP_PHASES = 50        # backward phases per layer at most; longer sequences take several steps per phase
MODEL_FORMAT = "stepwise-text-model-1"
MAX_GENERATE = 100_000


# ---------------------------------------------------------------------- what the views are handed
# The text labs (char-RNN, LSTM, GRU; both engines) hand their view the same shapes, declared once
# here; tests/test_view_contracts.py checks real trainers against them.
class ParameterCounts(TypedDict):
    layers: list[int]                   # this network's parameters per recurrent layer
    total: int
    rnn_layers: list[int]               # a vanilla RNN layer of the same size: N·d + N² + N
    gru_layers: list[int]               # 3(N·d + N² + N) + N
    lstm_layers: list[int]              # 4(N·d + N² + N)


class TextSample(TypedDict):
    text: str
    iteration: int


class TextLabView(TypedDict):
    hyperparams: dict[str, float]
    cell: str                           # rnn, lstm or gru
    vocab: str                          # the sorted characters
    parameter_counts: ParameterCounts
    source: str
    depth: int
    hidden: int
    seq_len: int
    batch_size: int
    epoch: int
    clip_mode: str                      # norm (‖g‖ rescaled to the threshold) or value (each entry clipped)
    epoch_fraction: float
    sample: NotRequired[TextSample]     # written every few seconds while it trains


class TextPhaseBase(TypedDict):
    chars: str                          # the first sequence of the batch, T characters
    targets: str                        # the characters it should predict (shifted by one)
    cell: str
    layer: int
    depth: int


class TextForwardLayer(TextPhaseBase):
    acts: dict[str, np.ndarray]         # gate / state name -> (T, H): i f g o c h, r z n h, or h


class TextForwardOutput(TextPhaseBase):
    probs: np.ndarray                   # (T, V): softmax over the next character
    vocab: str


class TextLoss(TextPhaseBase):
    loss: float
    nll: np.ndarray                     # (T,): −log p(target) of each character


class TextBackwardLayer(TextPhaseBase):
    step: int                           # time steps backpropagation through time has not reached yet
    dh: np.ndarray                      # (T, H): dL/dh_t so far (0 where not reached)
    dh_norm: np.ndarray                 # (T,): ‖dL/dh_t‖ over the batch (NaN where not reached)
    dc: NotRequired[np.ndarray]         # LSTM: dL/dc_t
    dc_norm: NotRequired[np.ndarray]


class TextBackwardOutput(TextPhaseBase):
    output_grad_norm: float


class TextUpdate(TextPhaseBase):
    grad_norm: float                    # ‖g‖ before clipping
    clipped: bool
    clipped_fraction: float
    lr: float
    update_norm: float
    param_norm: float
    block_grad_norm: float
    names: list[str]                    # the block's parameters


class TextPhaseData(TypedDict, total=False):
    forward: TextForwardLayer | TextForwardOutput
    loss: TextLoss
    backward: TextBackwardLayer | TextBackwardOutput
    update: TextUpdate


# ---------------------------------------------------------------------------- request arguments
# what the view's "generate" / "sample" requests may ask, declared as the settings are (engines/options.py)
GENERATE_ARGS = {
    "length": OptionSpec("length", "generation length", "int", 500, maximum=MAX_GENERATE, cli=False),
    "temperature": OptionSpec("temperature", "temperature", "float", 1.0, maximum=100.0, cli=False),
    "top_k": OptionSpec("top_k", "top-k", "int", 0, cli=False),   # maximum: the vocabulary's size
    "chunk": OptionSpec("chunk", "chunk size", "int", 8, minimum=1, maximum=MAX_GENERATE, cli=False),
}
SAMPLE_LENGTH = OptionSpec("length", "sample length", "int", 240, minimum=1, maximum=MAX_GENERATE, cli=False)
SAMPLE_EVERY = OptionSpec("sample_every", "sample interval (seconds)", "float", 3.0, minimum=0.1, maximum=3600.0,
                          cli=False)


def step_chunks(T: int, max_phases: int = MAX_STEP_PHASES) -> list[tuple[int, int]]:
    """(t_hi, t_lo) per backward phase of one layer, from the last step to the first."""
    per = math.ceil(T / max_phases)
    return [(hi, max(hi - per + 1, 0)) for hi in range(T - 1, -1, -per)]


# ---------------------------------------------------------------------------- the trainer
class TextTrainer(Trainer):
    """A character-level recurrent language model, trained phase by phase."""

    cell = "rnn"                 # "rnn", "lstm" or "gru"
    cell_title = "RNN"
    clip_mode = "value"          # "value": each entry into [−clip, clip]; "norm": the global norm to clip
    optimizer_name = "adagrad"
    eval_every = 500
    keyframe_every = 50
    eval_streams = 32

    def __init__(self, config: dict):
        super().__init__(config)
        self.options = opts = settings(config, self.lab, self.engine)   # declared in engines/options.py
        self.hidden, self.depth, self.seq_len = opts["hidden"], opts["depth"], opts["seq_len"]
        self.batch_size, self.lr, self.clip = opts["batch_size"], opts["lr"], opts["clip"]
        self.eval_chars = opts["eval_chars"]
        self.sample_every_s = read_value(config, SAMPLE_EVERY)
        self.data: TextData = load_text(opts["text"] or None, notify=config.get("notify"))
        n_stream = len(self.data.train) // self.batch_size
        if n_stream < self.seq_len + 1:
            raise StepwiseError(
                f"The text is too short for {self.batch_size} streams of {self.seq_len} characters "
                f"({len(self.data.train):,} training characters); use a longer text, a smaller batch or a "
                "shorter sequence.")
        # (B, N/B): stream b is the b-th slice of the training text
        self.streams = self.data.train[: n_stream * self.batch_size].reshape(self.batch_size, n_stream)
        self.cursor = 0
        self.epoch = 0
        self.chunks = step_chunks(self.seq_len)
        self.model = self.build_model()
        self._specs = self._build_specs()
        self._batch: tuple[np.ndarray, np.ndarray] | None = None
        self._reached = 0
        self._clip_info: dict = {}
        self._updates: dict[str, float] = {}
        self._sample: dict | None = None
        self._sample_time = -1e9
        self._sample_job: tuple[int, Iterator[dict], list[str]] | None = None   # (iteration, stream, text so far)
        self._generations = 0
        self.generation = TextGeneration(self.data, self.depth, self.hidden)

    # ------------------------------------------------------------------ engine-specific
    def build_model(self):
        raise NotImplementedError

    def apply_update(self) -> dict:
        """Clip the gradients and take an optimizer step; returns the clip report."""
        raise NotImplementedError

    def model_state(self) -> dict:
        raise NotImplementedError

    def set_model_state(self, state: dict) -> None:
        raise NotImplementedError

    def current_lr(self) -> float:
        raise NotImplementedError

    # ------------------------------------------------------------------ structure
    def layer_label(self, l: int) -> str:
        n_in = self.data.vocab_size if l == 0 else self.hidden
        return f"{self.cell_title} {l + 1} · {n_in}→{self.hidden}"

    def layer_param_names(self, l: int) -> list[str]:
        """The parameters of recurrent layer l (the GRU's b_hn too)."""
        names = (["embed"] if l == 0 else [f"W_ih{l}"]) + [f"W_hh{l}", f"b{l}"]
        return names + [f"b_hn{l}"] if self.cell == "gru" else names

    def block_param_names(self, block: int) -> list[str]:
        return ["W_out", "b_out"] if block == self.depth else self.layer_param_names(block)

    def parameter_counts(self) -> dict[str, int]:
        """This network's parameters per recurrent layer, and in all; with the textbook counts of a
        layer of N units reading d inputs: RNN N·d + N² + N, GRU 3(…) (+ N: b_hn), LSTM 4(…). Counted once: the
        sizes never change (copying every parameter out to count them was 40 % of each snapshot's view_data)."""
        counted = getattr(self, "_parameter_counts", None)
        if counted is None:
            counted = self._parameter_counts = self._count_parameters()
        return counted

    def _count_parameters(self) -> dict[str, int]:
        arrays = self.model.param_arrays()
        layers = [int(sum(arrays[k].size for k in self.layer_param_names(l))) for l in range(self.depth)]
        N, V = self.hidden, self.data.vocab_size
        simple = [N * (V if l == 0 else N) + N * N + N for l in range(self.depth)]
        return {"layers": layers, "total": int(sum(a.size for a in arrays.values())),
                "rnn_layers": simple, "gru_layers": [3 * s + N for s in simple], "lstm_layers": [4 * s for s in simple]}

    def blocks(self) -> list[BlockInfo]:
        arrays = self.model.param_arrays()
        out = []
        for l in range(self.depth):
            names = self.layer_param_names(l)
            out.append(BlockInfo(f"{self.cell}{l + 1}", self.layer_label(l), self.cell,
                                 int(sum(arrays[k].size for k in names)), (self.hidden,)))
        out.append(BlockInfo("output", f"Output {self.hidden}→{self.data.vocab_size} + softmax", "dense",
                             int(arrays["W_out"].size + arrays["b_out"].size), (self.data.vocab_size,)))
        return out

    def _build_specs(self) -> list[PhaseSpec]:
        L, T = self.depth, self.seq_len
        specs = [PhaseSpec(FORWARD, l, f"forward · {self.layer_label(l)} · {T} steps") for l in range(L)]
        specs.append(PhaseSpec(FORWARD, L, f"forward · output layer · softmax over {self.data.vocab_size} characters"))
        specs.append(PhaseSpec(LOSS, -1, "loss · cross-entropy per character"))
        specs.append(PhaseSpec(BACKWARD, L, "backward · output layer"))
        for l in reversed(range(L)):
            for hi, lo in self.chunks:
                when = f"t={hi}" if hi == lo else f"t={hi}…{lo}"
                specs.append(PhaseSpec(BACKWARD, l, f"backward through time · {self.cell_title} {l + 1} · {when}", lo))
        clip = f"clip entries to ±{self.clip:g}" if self.clip_mode == "value" else f"clip norm to {self.clip:g}"
        specs.append(PhaseSpec(UPDATE, -1, f"update · {clip}, {self.optimizer_label()}"))
        return specs

    def optimizer_label(self) -> str:
        return "Adagrad, decaying lr" if self.optimizer_name == "adagrad" else "Adam"

    def phase_specs(self) -> list[PhaseSpec]:
        return list(self._specs)

    # ------------------------------------------------------------------ running
    def next_batch(self) -> tuple[np.ndarray, np.ndarray, bool]:
        """(inputs (T, B), targets (T, B), whether the streams start over)."""
        T = self.seq_len
        if self.cursor + T + 1 > self.streams.shape[1]:
            self.cursor = 0
            self.epoch += 1
        fresh = self.cursor == 0
        chunk = self.streams[:, self.cursor:self.cursor + T + 1].T       # (T+1, B)
        self.cursor += T
        return np.ascontiguousarray(chunk[:-1]), np.ascontiguousarray(chunk[1:]), fresh

    def run_iteration(self, detail: bool = True) -> Iterator[PhaseEvent]:
        it = self.iteration
        specs = self._specs
        index = 0

        def event() -> PhaseEvent:
            nonlocal index
            ev = PhaseEvent(it, index, specs[index])
            index += 1
            self._reached = index
            return ev

        m = self.model
        ids, targets, fresh = self.next_batch()
        if fresh:
            m.reset_carry()       # a new pass over the text starts from a zero state
        self._reached = 0
        self._batch = (ids, targets)
        m.begin(ids, targets, stepwise=detail)
        if not detail:
            # fast play: the same computations in the same order, each layer's steps in one call, each
            # phase's event as soon as its work is done (played phase by phase, a 2 × 256 LSTM answers a
            # pause between layers: 75 ms at most, not after the whole iteration's 260 ms)
            for l in range(self.depth):
                m.forward_layer(l)
                yield event()
            m.forward_output()
            yield event()
            loss = m.loss()
            check_finite(loss, it)
            self._loss = loss
            yield event()
            m.backward_output()
            yield event()
            for l in reversed(range(self.depth)):
                m.backward_steps(l, self.seq_len - 1, 0)
                for _ in self.chunks:   # this layer's chunks of steps, all done in the one call
                    yield event()
            self._finish_iteration(loss)
            yield event()
            return
        for l in range(self.depth):
            m.forward_layer(l)
            yield event()
        m.forward_output()
        yield event()
        loss = m.loss()
        check_finite(loss, it)
        self._loss = loss
        yield event()
        m.backward_output()
        yield event()
        for l in reversed(range(self.depth)):
            for hi, lo in self.chunks:
                m.backward_steps(l, hi, lo)
                yield event()
        self._finish_iteration(loss)
        yield event()

    def _finish_iteration(self, loss: float) -> None:
        """The update phase: clip, optimizer step, carry the state to the next sequence."""
        lr = self.current_lr()
        self._clip_info = self.apply_update()
        self.model.store_carry()
        self.last_metrics = {"loss": loss, "grad_norm": self._clip_info["grad_norm"],
                             "clipped": float(self._clip_info["clipped"]), "lr": lr}
        self.iteration += 1

    def evaluate(self) -> dict[str, float]:
        ids = self.data.heldout[: self.eval_chars + 1]
        return {"heldout_loss_per_char": float(self.model.eval_loss(ids, streams=self.eval_streams))}

    # ------------------------------------------------------------------ views
    def _text_of(self, ids) -> str:
        return self.data.decode(ids)

    def _last_backward_index(self, block: int) -> int:
        """The latest phase reached in this iteration that ran backward through ``block``."""
        reached = min(self._reached, len(self._specs))
        memo = getattr(self, "_last_backward_memo", None)
        if memo is None or memo[0] != reached:
            last: dict[int, int] = {}
            for i in range(reached):
                s = self._specs[i]
                if s.kind == BACKWARD:
                    last[s.block] = i
            memo = self._last_backward_memo = (reached, last)
        return memo[1].get(block, -1)

    def phase_data(self, index: int, block: int) -> dict[str, Any]:
        if self._batch is None or index >= self._reached or not 0 <= block <= self.depth:
            return {}
        spec = self._specs[index]
        ids, targets = self._batch
        base = {"chars": self._text_of(ids[:, 0]), "targets": self._text_of(targets[:, 0]), "cell": self.cell,
                "layer": block, "depth": self.depth}
        m = self.model
        if spec.kind == FORWARD and spec.block == block:
            if block < self.depth:
                return dict(base, acts={k: v.astype(np.float32) for k, v in m.layer_activations(block).items()})
            probs = m.probabilities(0).astype(np.float32)                  # (T, V)
            return dict(base, probs=probs, vocab=self.data.chars)
        if spec.kind == LOSS:
            nll = self._nll_example()
            return dict(base, loss=float(self._loss), nll=nll)
        if spec.kind == BACKWARD and spec.block == block:
            if index != self._last_backward_index(block):
                return {}   # a later phase of this block supersedes it
            if block == self.depth:
                return dict(base, output_grad_norm=float(self.last_output_grad_norm()))
            grads = m.step_gradients(block, 0)
            reached = spec.step if spec.step is not None else 0
            out = dict(base, step=int(reached))
            for k, v in grads.items():
                v = np.array(v, dtype=np.float32 if v.ndim == 2 else np.float64)
                if v.ndim == 1:
                    v[:reached] = np.nan            # steps the backward has not reached yet
                else:
                    v[:reached] = 0.0
                out[k] = v
            return out
        if spec.kind == UPDATE and self._clip_info and self._reached == len(self._specs):
            out = dict(base, **{k: v for k, v in self._clip_info.items()}, lr=float(self.last_metrics.get("lr", 0)))
            out.update(self.block_update_norms(block))
            return out
        return {}

    def shows_from_caches(self, phase: int) -> bool:
        """Inside backpropagation through time, before the update: a later chunk of steps writes only the
        steps below it, and the forward caches and the output's backward stay as they were. In the forward
        phases: a later layer's forward leaves the layers below as they were. (Not across the loss or the
        output's backward: the numpy engine's loss and output backward rewrite the probabilities the output's
        forward and the loss phase show.) Checked at such phases, for each cell and engine, bit for bit
        against stepping there (test_text_labs)."""
        first = getattr(self, "_first_bptt", None)
        if first is None:
            first = self._first_bptt = min(i for i, spec in enumerate(self._specs)
                                           if spec.kind == BACKWARD and spec.block < self.depth)
            self._loss_phase = next(i for i, spec in enumerate(self._specs) if spec.kind == LOSS)
        if self._batch is None:
            return False
        return first <= phase < self._reached < len(self._specs) or 1 <= phase < self._reached <= self._loss_phase

    def reached_at(self, phase: int):
        return attribute_set_to(self, "_reached", phase)

    def _nll_example(self) -> np.ndarray:
        probs = self.model.probabilities(0).astype(np.float64)            # (T, V)
        targets = self._batch[1][:, 0]
        return -np.log(np.maximum(probs[np.arange(len(targets)), targets], 1e-30))

    def last_output_grad_norm(self) -> float:
        return float("nan")

    def block_update_norms(self, block: int) -> dict:
        return {}

    def view_data(self, selected_block: int) -> dict[str, Any]:
        out: dict[str, Any] = {"hyperparams": self.hyperparams(), "cell": self.cell, "vocab": self.data.chars,
                               "parameter_counts": self.parameter_counts(),
                               "source": self.data.source, "depth": self.depth, "hidden": self.hidden,
                               "seq_len": self.seq_len, "batch_size": self.batch_size, "epoch": self.epoch,
                               "clip_mode": self.clip_mode,
                               "epoch_fraction": self.cursor / max(self.streams.shape[1], 1)}
        if (self._sample_job is None and self.iteration > 0
                and time.monotonic() - self._sample_time >= self.sample_every_s
                and (self._sample is None or self._sample["iteration"] != self.iteration)):
            # the sampler copies the weights at its first step (below): the sample is this iteration's
            # however many calls it takes (240 characters after a 366-character primer: 200 ms)
            rng = np.random.default_rng([self.seed, 3, self.iteration])
            stream = self.generation.stream(self.model, "", 240, 0.8, 0, 24, rng, record=False, read_chunk=32)
            self._sample_job = (self.iteration, stream, [])
        if self._sample_job is not None:
            self._advance_sample(self.view_slice_s)
        if self._sample is not None:
            out["sample"] = dict(self._sample)
        return out

    def _advance_sample(self, seconds: float | None) -> bool:
        """Sample on for up to ``seconds`` (None: to the end); True when the sample is complete."""
        iteration, stream, parts = self._sample_job
        deadline = None if seconds is None else time.perf_counter() + seconds
        for chunk in stream:
            if "text" in chunk:
                parts.append(chunk["text"])
            if deadline is not None and time.perf_counter() >= deadline:
                return False
        self._sample = {"text": "".join(parts), "iteration": iteration}
        self._sample_job = None
        self._sample_time = time.monotonic()
        return True

    def advance_view(self, seconds: float) -> bool:
        return self._sample_job is not None and self._advance_sample(seconds)

    # ------------------------------------------------------------------ generation
    def _check_generate_args(self, args: dict) -> tuple[str, int, float, int, int]:
        prompt = str(args.get("prompt") or "")
        length, temperature, chunk = (read_value(args, GENERATE_ARGS[k]) for k in ("length", "temperature", "chunk"))
        top_k = read_value(args, dataclasses.replace(GENERATE_ARGS["top_k"], maximum=self.data.vocab_size))
        self.data.encode(prompt)            # characters outside the vocabulary: one clear sentence, now
        return prompt, length, temperature, top_k, chunk

    def primer(self) -> np.ndarray:
        """The characters generation reads first (engines/labs/text_generation.py primer)."""
        return self.generation.primer()

    def generate(self, prompt: str = "", length: int = 500, temperature: float = 1.0, top_k: int = 0,
                 seed: int | None = None) -> str:
        """The prompt followed by ``length`` generated characters."""
        prompt, length, temperature, top_k, _ = self._check_generate_args(
            {"prompt": prompt, "length": length, "temperature": temperature, "top_k": top_k})
        rng = self._generation_rng(seed)
        chunks = self.generation.stream(self.model, prompt, length, temperature, top_k, max(length, 1), rng, False)
        parts = [c["text"] for c in chunks if "text" in c]
        return "".join(parts)

    def _generation_rng(self, seed=None) -> np.random.Generator:
        self._generations += 1
        return np.random.default_rng([self.seed, 2, self._generations] if seed is None else [int(seed)])

    PARAMETERS_ONLY = ("generate", "generate_stream", "generate_task", "sample", "vocab")

    def reads_caches(self, command: str) -> bool:
        return command not in self.PARAMETERS_ONLY  # generation reads the weights alone

    def command(self, name: str, args: dict) -> dict[str, Any]:
        if name == "generate":
            text = self.generate(args.get("prompt") or "", args.get("length", 500), args.get("temperature", 1.0),
                                 args.get("top_k") or 0, args.get("seed"))
            prompt = str(args.get("prompt") or "")
            return {"text": text, "prompt": prompt, "generated": text[len(prompt):]}
        if name in ("generate_stream", "generate_task"):
            prompt, length, temperature, top_k, chunk = self._check_generate_args(args)
            rng = self._generation_rng(args.get("seed"))
            return {"task": self.generation.stream(self.model, prompt, length, temperature, top_k, chunk, rng,
                                                   record=True)}
        if name == "sample":
            length = read_value(args, SAMPLE_LENGTH)
            return {"text": self.generate("", length, float(args.get("temperature", 0.8)), 0, args.get("seed")),
                    "iteration": self.iteration}
        if name == "vocab":
            return {"chars": self.data.chars, "source": self.data.source}
        return super().command(name, args)

    def summary(self) -> dict[str, Any]:
        rng = np.random.default_rng([self.seed, 4, self.iteration])
        chunks = self.generation.stream(self.model, "", 300, 0.8, 0, 300, rng, record=False)
        sample = "".join(c["text"] for c in chunks if "text" in c)
        return {"cell": self.cell, "parameters": self.parameter_counts()["total"], "sample": sample,
                "vocab_size": self.data.vocab_size, "text": self.data.source,
                "chars_per_iteration": self.seq_len * self.batch_size}

    # ------------------------------------------------------------------ hyperparameters
    def hyperparams(self) -> dict[str, float]:
        return {"lr": float(self.lr), "clip": float(self.clip)}

    def set_hyperparam(self, name: str, value: float) -> None:
        if name not in self.hyperparams():
            return super().set_hyperparam(name, value)
        setattr(self, name, self.check_live(name, value))
        self.apply_hyperparams()

    def apply_hyperparams(self) -> None:
        pass

    # ------------------------------------------------------------------ state
    def get_state(self) -> dict:
        return {"iteration": self.iteration, "cursor": self.cursor, "epoch": self.epoch,
                "hyper": self.hyperparams(), "last_metrics": dict(self.last_metrics), "model": self.model_state()}

    def set_state(self, state: dict) -> None:
        self.iteration = int(state["iteration"])
        self.cursor = int(state["cursor"])
        self.epoch = int(state["epoch"])
        for k, v in state["hyper"].items():
            setattr(self, k, float(v))
        self.apply_hyperparams()
        self.last_metrics = dict(state["last_metrics"])
        self.set_model_state(state["model"])
        self._batch = None
        self._reached = 0
        self._clip_info = {}

    # ------------------------------------------------------------------ files
    def architecture(self) -> dict:
        return {"lab": self.lab, "cell": self.cell, "depth": self.depth, "hidden": self.hidden,
                "chars": self.data.chars}

    def model_meta(self) -> dict:
        return {"format": MODEL_FORMAT, **self.architecture(), "engine": self.engine, "iteration": self.iteration}

    def load(self, path: str) -> None:
        """A model saved by either engine (.npz or torch.save), checked by the one loader."""
        meta, arrays = read_model(path, self.lab, self.model.param_arrays(), (MODEL_FORMAT,), what="model file",
                                  check=self._check_architecture(path))
        self.model.set_param_arrays(arrays)
        self.model.reset_carry()
        self.after_load()

    def _check_architecture(self, path: str):
        mine = self.architecture()

        def check(meta: dict) -> None:
            self._compare_architecture(meta, mine, path)
        return check

    def _compare_architecture(self, meta: dict, mine: dict, path: str) -> None:
        if meta.get("cell") != self.cell:
            kinds = {"lstm": ("an LSTM", "the LSTM lab"), "gru": ("a GRU", "the LSTM lab with --cell gru"),
                     "rnn": ("a vanilla RNN", "the char-RNN lab")}
            theirs, where = kinds.get(meta.get("cell"), ("another kind of", "the matching lab"))
            raise StepwiseError(f"The model in {path} is {theirs} network, not {kinds[self.cell][0]}; "
                                f"open it in {where}.")
        if (meta.get("depth"), meta.get("hidden")) != (mine["depth"], mine["hidden"]):
            raise StepwiseError(f"The model in {path} has {meta.get('depth')} layers of {meta.get('hidden')} units; "
                                f"set --depth {meta.get('depth')} --hidden {meta.get('hidden')} to load it.")
        if meta.get("chars") != mine["chars"]:
            raise StepwiseError(f"The model in {path} was trained on a text with a different set of characters "
                                f"({len(meta.get('chars') or '')} instead of {len(mine['chars'])}); open the same "
                                "text (--text) to load it.")

    def after_load(self) -> None:
        pass


# ---------------------------------------------------------------------------- the NumPy engine
class NumpyTextTrainer(TextTrainer):
    engine = "numpy"
    net_class = RecurrentNet
    loss_reduction = "mean"

    def build_model(self):
        self.dtype = np.float64 if self.config.get("dtype") == "float64" else np.float32
        init_rng = np.random.default_rng([self.seed, 1])          # weights
        net = self.net_class(self.data.vocab_size, self.hidden, self.depth, init_rng, self.dtype, self.loss_reduction)
        self.optimizer = self.make_optimizer(net)
        return net

    def make_optimizer(self, net):
        """The NumPy engine's one Adagrad / Adam (numpy_engine/optimizers.py) on the flat parameter buffer."""
        if self.optimizer_name == "adagrad":
            return Adagrad([net.flat.data], lr=self.lr, lr_decay=getattr(self, "lr_decay", 0.0), eps=1e-8)
        return Adam([net.flat.data], lr=self.lr)

    def apply_hyperparams(self) -> None:
        self.optimizer.lr = self.lr
        if hasattr(self.optimizer, "lr_decay"):
            self.optimizer.lr_decay = getattr(self, "lr_decay", 0.0)

    def current_lr(self) -> float:
        return float(self.optimizer.current_lr())

    def apply_update(self) -> dict:
        g = self.model.flat.grad
        info = clip_elementwise(g, self.clip) if self.clip_mode == "value" else clip_global_norm(g, self.clip)
        self.optimizer.step([g])
        return info

    def last_output_grad_norm(self) -> float:
        return float(np.linalg.norm(self.model.dZ))

    def block_update_norms(self, block: int) -> dict:
        flat = self.model.flat
        names = self.block_param_names(block)
        u = self.optimizer.updates[0]   # Δθ of the last step (None before the first)
        upd = 0.0 if u is None else math.sqrt(sum(float(np.sum(u[flat.slices[k]].astype(np.float64) ** 2))
                                                  for k in names))
        par = math.sqrt(sum(float(np.sum(flat.p[k].astype(np.float64) ** 2)) for k in names))
        grad = math.sqrt(sum(float(np.sum(flat.g[k].astype(np.float64) ** 2)) for k in names))
        return {"update_norm": upd, "param_norm": par, "block_grad_norm": grad, "names": names}

    def model_state(self) -> dict:
        m = self.model
        carry = None if m.carry is None else [{k: v.copy() for k, v in c.items()} for c in m.carry]
        return {"params": m.flat.data.copy(), "optimizer": self.optimizer.state_dict(), "carry": carry}

    def set_model_state(self, state: dict) -> None:
        m = self.model
        m.flat.data[...] = state["params"]
        self.optimizer.load_state_dict(state["optimizer"])
        m.carry = None if state["carry"] is None else [{k: np.array(v) for k, v in c.items()} for c in state["carry"]]

    def save(self, path: str) -> None:
        write_model(path, self.model_meta(), self.model.param_arrays())

    def after_load(self) -> None:
        self.optimizer = self.make_optimizer(self.model)   # a loaded model starts a fresh optimizer memory
