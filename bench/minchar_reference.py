"""A min-char-rnn-faithful reference for `python -m bench text`.

Karpathy's min-char-rnn.py (https://gist.github.com/karpathy/d4dee566867f8291f086, BSD licence),
kept as it computes: a one-hot column vector per character, ``np.dot`` per time step for every
product, dictionaries of per-step arrays, per-step outer products for the weight gradients,
elementwise clipping to [−5, 5] and Adagrad on each parameter array. Changes, none of which
touch the per-iteration work: Python 3, a sorted vocabulary, a seeded Generator instead of the
global NumPy random state, and a class instead of module globals. Used only to time one training
iteration (lossFun + the Adagrad update) against the optimized NumPy char-RNN of the app.
"""
from __future__ import annotations

import numpy as np


class MinCharRNN:
    def __init__(self, data: str, hidden_size: int = 100, seq_length: int = 25, learning_rate: float = 1e-1,
                 seed: int = 0):
        rng = np.random.default_rng(seed)
        self.data = data
        chars = sorted(set(data))
        self.vocab_size = len(chars)
        self.char_to_ix = {ch: i for i, ch in enumerate(chars)}
        self.hidden_size, self.seq_length, self.learning_rate = hidden_size, seq_length, learning_rate
        vocab_size = self.vocab_size
        # model parameters
        self.Wxh = rng.standard_normal((hidden_size, vocab_size)) * 0.01  # input to hidden
        self.Whh = rng.standard_normal((hidden_size, hidden_size)) * 0.01  # hidden to hidden
        self.Why = rng.standard_normal((vocab_size, hidden_size)) * 0.01  # hidden to output
        self.bh = np.zeros((hidden_size, 1))  # hidden bias
        self.by = np.zeros((vocab_size, 1))  # output bias
        self.mWxh, self.mWhh, self.mWhy = np.zeros_like(self.Wxh), np.zeros_like(self.Whh), np.zeros_like(self.Why)
        self.mbh, self.mby = np.zeros_like(self.bh), np.zeros_like(self.by)  # memory variables for Adagrad
        self.n, self.p = 0, 0
        self.hprev = np.zeros((hidden_size, 1))

    def lossFun(self, inputs, targets, hprev):
        """inputs,targets are both list of integers. hprev is Hx1 array of initial hidden state.
        returns the loss, gradients on model parameters, and last hidden state"""
        Wxh, Whh, Why, bh, by, vocab_size = self.Wxh, self.Whh, self.Why, self.bh, self.by, self.vocab_size
        xs, hs, ys, ps = {}, {}, {}, {}
        hs[-1] = np.copy(hprev)
        loss = 0
        # forward pass
        for t in range(len(inputs)):
            xs[t] = np.zeros((vocab_size, 1))  # encode in 1-of-k representation
            xs[t][inputs[t]] = 1
            hs[t] = np.tanh(np.dot(Wxh, xs[t]) + np.dot(Whh, hs[t - 1]) + bh)  # hidden state
            ys[t] = np.dot(Why, hs[t]) + by  # unnormalized log probabilities for next chars
            ps[t] = np.exp(ys[t]) / np.sum(np.exp(ys[t]))  # probabilities for next chars
            loss += -np.log(ps[t][targets[t], 0])  # softmax (cross-entropy loss)
        # backward pass: compute gradients going backwards
        dWxh, dWhh, dWhy = np.zeros_like(Wxh), np.zeros_like(Whh), np.zeros_like(Why)
        dbh, dby = np.zeros_like(bh), np.zeros_like(by)
        dhnext = np.zeros_like(hs[0])
        for t in reversed(range(len(inputs))):
            dy = np.copy(ps[t])
            dy[targets[t]] -= 1  # backprop into y
            dWhy += np.dot(dy, hs[t].T)
            dby += dy
            dh = np.dot(Why.T, dy) + dhnext  # backprop into h
            dhraw = (1 - hs[t] * hs[t]) * dh  # backprop through tanh nonlinearity
            dbh += dhraw
            dWxh += np.dot(dhraw, xs[t].T)
            dWhh += np.dot(dhraw, hs[t - 1].T)
            dhnext = np.dot(Whh.T, dhraw)
        for dparam in [dWxh, dWhh, dWhy, dbh, dby]:
            np.clip(dparam, -5, 5, out=dparam)  # clip to mitigate exploding gradients
        return loss, dWxh, dWhh, dWhy, dbh, dby, hs[len(inputs) - 1]

    def iteration(self) -> float:
        """One pass of min-char-rnn's main loop, without its every-100-iterations sampling."""
        data, seq_length = self.data, self.seq_length
        if self.p + seq_length + 1 >= len(data) or self.n == 0:
            self.hprev = np.zeros((self.hidden_size, 1))  # reset RNN memory
            self.p = 0  # go from start of data
        inputs = [self.char_to_ix[ch] for ch in data[self.p:self.p + seq_length]]
        targets = [self.char_to_ix[ch] for ch in data[self.p + 1:self.p + seq_length + 1]]
        loss, dWxh, dWhh, dWhy, dbh, dby, self.hprev = self.lossFun(inputs, targets, self.hprev)
        # perform parameter update with Adagrad
        for param, dparam, mem in zip([self.Wxh, self.Whh, self.Why, self.bh, self.by],
                                      [dWxh, dWhh, dWhy, dbh, dby],
                                      [self.mWxh, self.mWhh, self.mWhy, self.mbh, self.mby]):
            mem += dparam * dparam
            param += -self.learning_rate * dparam / np.sqrt(mem + 1e-8)  # adagrad update
        self.p += seq_length  # move data pointer
        self.n += 1  # iteration counter
        return float(loss)
