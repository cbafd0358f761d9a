"""The CNN lab on the Torch engine: the NumPy lab's network (engines/labs/cnn.py) as staged torch blocks,
the same settings, data order and initial weights (the lab's common part is ``CNNLab``)."""
from __future__ import annotations

from typing import Any

import numpy as np

from ..numpy_engine.losses import softmax
from ..torch_engine.models import cnn_blocks, main_weight, to_numpy_layout
from .classifier_torch import TorchClassifierTrainer
from .cnn import CNNLab, CNNModel, numpy_cnn_layers, weight_view_of


class TorchCNNTrainer(CNNLab, TorchClassifierTrainer):
    input_shape = (1, 28, 28)

    def __init__(self, config: dict):
        self._read_config(config)
        super().__init__(config)
        self.base_lr = float(self.optimizer.param_groups[0]["lr"])
        self._finish_setup()

    def set_optimizer_lr(self, lr: float) -> None:
        for group in self.optimizer.param_groups:
            group["lr"] = lr

    def optimizer_lr(self) -> float:
        return float(self.optimizer.param_groups[0]["lr"])

    def build_blocks(self, rng: np.random.Generator):
        return cnn_blocks(self.channels, rng, activation=self.activation)

    def block_param_arrays(self, block: int) -> list[np.ndarray]:
        return [to_numpy_layout(p).copy() for p in self.runner.block_params(block)]

    def set_block_params(self, block: int, arrays: list[np.ndarray]) -> None:
        import torch
        with torch.no_grad():
            for p, a in zip(self.runner.block_params(block), arrays):
                p.copy_(torch.from_numpy(np.ascontiguousarray(a.T if a.ndim == 2 else a)))

    def next_batch(self) -> tuple[np.ndarray, np.ndarray]:
        return self.augmented_batch()

    def weight_view(self, k: int, weights: np.ndarray | None = None) -> dict[str, Any]:
        w = main_weight(self.runner.blocks[k].module)
        if w is None:
            return {}
        return weight_view_of(to_numpy_layout(w) if weights is None else weights)

    twin_model_class = CNNModel

    def numpy_twin_layers(self) -> list:
        return numpy_cnn_layers(self.channels, np.random.default_rng(0), activation=self.activation)

    def block_weights(self, block: int) -> np.ndarray | None:
        if not 0 <= block < len(self.runner):
            return None
        w = main_weight(self.runner.blocks[block].module)
        return None if w is None else to_numpy_layout(w)

    def forward_backward_one(self, image: np.ndarray, target: int | None) -> dict[str, Any]:
        """One example in evaluation mode; torch.autograd.grad leaves the parameters' .grad alone."""
        import torch
        import torch.nn.functional as F
        x = self.prepare(image.reshape(1, 28, 28)).requires_grad_(True)
        net = self.runner.net
        was = net.training
        net.eval()
        try:
            with torch.enable_grad():
                outs, h = [], x
                for b in self.runner.blocks:
                    h = b.module(h)
                    outs.append(h)
                probs = softmax(outs[-1].detach().to(torch.float64).numpy())[0]
                target = int(probs.argmax()) if target is None else int(target)
                loss = F.cross_entropy(outs[-1], torch.tensor([target]))
                grads = torch.autograd.grad(loss, [x, *outs])  # dL/dx and dL/d(each block's output)
        finally:
            net.train(was)
        return {"loss": float(loss.detach()), "probs": probs, "prediction": int(probs.argmax()), "target": target,
                "activations": [self.layer_view(o[0]) for o in outs],
                "grads": [self.layer_view(g[0]) for g in grads[1:]],
                "input_grad": grads[0][0, 0].detach().to(torch.float32).numpy().copy()}
