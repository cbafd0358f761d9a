"""Streamed generation from a character-level model (the char-RNN and LSTM labs, either engine).

The model reads a primer (the opening of the training text, not shown) and the prompt, then
samples one character at a time: p = softmax(z / T) over the top-k logits z, c ~ p (T = 0: argmax),
fed back as the next input. ``stream`` yields the text in chunks with, per character, each layer's
activations after reading it, so a view can show the gates while the text appears (a task: the
worker pumps it between training slices, and stopping is stopping the pumping).
"""
from __future__ import annotations

from typing import Iterator

import numpy as np

from ..numpy_engine.rnn import sample_from_logits
from ..text_data import TextData


class TextGeneration:
    """Sampling from a model of ``depth`` layers of ``hidden`` units over ``data``'s vocabulary. The
    model (its ``sampler(1)`` and ``activation_names``) is given per call: loading a file replaces it."""

    def __init__(self, data: TextData, depth: int, hidden: int):
        self.data, self.depth, self.hidden = data, depth, hidden

    def __repr__(self) -> str:
        return f"TextGeneration(vocab={self.data.vocab_size}, depth={self.depth}, hidden={self.hidden})"

    def primer(self) -> np.ndarray:
        """The opening of the training text, up to its last blank line within 400 characters.

        Generation reads it first (not shown): training carries the state from one sequence to the
        next and starts from zero only once per pass over the text, so a zero state is unusual for
        the model, and its first characters from there are often garbled; after the primer it
        starts from a state like those it was trained in, at the start of a new paragraph."""
        head = self.data.train[:400]
        text = self.data.decode(head)
        cut = text.rfind("\n\n")
        return head[: cut + 2] if cut > 0 else head

    def stream(self, model, prompt: str, length: int, temperature: float, top_k: int, chunk: int,
               rng: np.random.Generator, record: bool = True, warmup: bool = True,
               read_chunk: int = 0) -> Iterator[dict]:
        """Read the primer (unless ``warmup`` is False) and the prompt, then sample ``length`` characters;
        yields chunks of text with, per character, each layer's activations after reading it
        ({name: (n, L, H)}), then {"done": True}. ``read_chunk`` > 0: also yields {"read": k} every
        ``read_chunk`` characters of the primer (a caller that works in slices; the text is the same)."""
        chars = self.data.chars
        names = model.activation_names
        L, H = self.depth, self.hidden
        sampler = model.sampler(1)

        def new_buffer(n):
            return {k: np.zeros((n, L, H), dtype=np.float32) for k in names} if record else None

        prompt_ids = self.data.encode(prompt) if prompt else None
        logits = None
        if warmup:
            for k, c in enumerate(self.primer()):
                logits = sampler.step(np.array([c]))
                if read_chunk and (k + 1) % read_chunk == 0:
                    yield {"read": k + 1}
        if prompt_ids is None:
            if logits is None:
                start = chars.index("\n") if "\n" in chars else int(np.argmax(np.bincount(self.data.train[:10000])))
                logits = sampler.step(np.array([start]))    # a neutral first input, not shown
        else:
            acts = new_buffer(len(prompt_ids))
            for k, c in enumerate(prompt_ids):
                logits = sampler.step(np.array([c]), {n: acts[n][k] for n in names} if record else None)
            yield {"text": prompt, "activations": acts, "prompt": True, "start": 0}
        pos = len(prompt)
        done = 0
        x = np.zeros(1, dtype=np.int64)
        while done < length:
            n = min(chunk, length - done)
            acts = new_buffer(n)
            ids = []
            for k in range(n):
                c = sample_from_logits(logits[:, 0], temperature, top_k, rng.random())
                ids.append(c)
                x[0] = c
                logits = sampler.step(x, {name: acts[name][k] for name in names} if record else None)
            text = "".join(chars[c] for c in ids)
            yield {"text": text, "activations": acts, "prompt": False, "start": pos}
            pos += n
            done += n
        yield {"done": True, "length": done}
