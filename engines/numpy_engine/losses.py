"""Losses: a scalar from predictions and targets, and its gradient w.r.t. the predictions."""
from __future__ import annotations

import numpy as np


class Loss:
    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    def forward(self, prediction: np.ndarray, target: np.ndarray) -> float:
        self.prediction = prediction
        self.target = target
        return float(self._output())

    def backward(self) -> np.ndarray:
        grad = self._input_grad()
        assert grad.shape == self.prediction.shape
        return grad


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)  # shift for stability: softmax(z) = softmax(z − max)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


class SoftmaxCrossEntropy(Loss):
    """L = −(1/N) Σ_n log softmax(z_n)[y_n], fused with the softmax. target: int labels (N,)."""

    def _output(self):
        z = self.prediction - self.prediction.max(axis=1, keepdims=True)  # (N, K)
        log_norm = np.log(np.exp(z).sum(axis=1, keepdims=True))
        self.log_probs = z - log_norm  # log-softmax, never log(0)
        n = z.shape[0]
        return -self.log_probs[np.arange(n), self.target].mean()

    def _input_grad(self):
        n = self.prediction.shape[0]
        grad = np.exp(self.log_probs)  # softmax(z)
        grad[np.arange(n), self.target] -= 1.0
        return grad / n  # dL/dz = (softmax(z) − onehot(y)) / N


class MeanSquaredError(Loss):
    """L = (1/(N·K)) Σ (ŷ − y)², the mean over every element (as torch's MSELoss)."""

    def _output(self):
        d = self.prediction - self.target
        return (d * d).mean()

    def _input_grad(self):
        return 2.0 * (self.prediction - self.target) / self.prediction.size  # dL/dŷ = 2(ŷ − y)/size
