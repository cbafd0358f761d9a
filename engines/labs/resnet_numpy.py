"""The residual lab on the NumPy engine: a residual MLP (Dense stem, ResidualDense blocks with
hand-written backward, Dense head; depth 2n+2), with no normalization and no ResNet-50."""
from __future__ import annotations

import copy

import numpy as np

from ..loading import write_model
from ..numpy_engine.layers import Dense
from ..numpy_engine.losses import SoftmaxCrossEntropy
from ..numpy_engine.model import Model
from ..numpy_engine.optimizers import make_optimizer
from ..numpy_engine.residual import ResidualDense
from ..trainer import BlockInfo
from .resnet import ResNetTrainer, Run

WIDTH = 64  # every hidden layer


class NumpyRun(Run):
    """A NumPy Model: Dense stem, ResidualDense blocks, Dense head."""

    def __init__(self, layers: list, optimizer_name: str, lr: float, tag: str, title: str):
        self.model = Model(layers, SoftmaxCrossEntropy())
        self.tag, self.title, self.optimizer_name = tag, title, optimizer_name
        kwargs = {"lr": lr}
        if optimizer_name == "sgd":
            optimizer_name, kwargs["momentum"] = "momentum", 0.9
        self.optimizer = make_optimizer(optimizer_name, self.model.params(), **kwargs)
        self.residual = [i for i, layer in enumerate(layers) if isinstance(layer, ResidualDense)]
        self.skip = all(layers[i].skip for i in self.residual)
        self.clear()

    def clear(self) -> None:
        self.updates = None
        self.norms: list[dict | None] = [None] * len(self.residual)
        self.fresh = [False] * len(self.residual)
        self.x = self.grad = None
        for layer in self.model.layers:  # forget the caches of the last iteration
            for attr in ("output_grad", "input_grad"):
                if hasattr(layer, attr):
                    delattr(layer, attr)
            if hasattr(layer, "branch_grad"):
                layer.branch_grad = layer.skip_grad = None
        self._grads_valid = False

    def n_blocks(self) -> int:
        return len(self.model.layers)

    def block_infos(self) -> list[BlockInfo]:
        out = []
        for layer in self.model.layers:
            n_out = layer.width if hasattr(layer, "width") else layer.n_out
            out.append(BlockInfo(layer.name, layer.describe(), layer.kind, int(sum(p.size for p in layer.params())), (n_out,)))
        return out

    # ---- phases
    def begin(self, x: np.ndarray) -> None:
        self.x = x
        self.fresh = [False] * len(self.residual)

    def forward_block(self, k: int) -> None:
        layer = self.model.layers[k]
        layer.forward(self.x if k == 0 else self.model.layers[k - 1].output, training=True)

    def loss(self, y: np.ndarray) -> float:
        value = self.model.loss.forward(self.model.layers[-1].output, y)
        self.grad = self.model.loss.backward()  # dL/dlogits = (softmax(z) − onehot(y)) / N
        return float(value)

    def backward_block(self, k: int) -> None:
        layers = self.model.layers
        g = self.grad if k == len(layers) - 1 else layers[k + 1].input_grad
        layers[k].backward(g)
        self._grads_valid = True
        if k in self.residual:
            j = self.residual.index(k)
            self.norms[j] = layers[k].grad_norms()
            self.fresh[j] = True

    def update(self, keep_updates: bool = True) -> None:
        params = self.model.params()
        before = [p.copy() for p in params] if keep_updates else None
        self.optimizer.step(self.model.param_grads())
        self.updates = [p - b for p, b in zip(params, before)] if keep_updates else None

    # ---- reading (the layers' caches of the latest iteration)
    def batch_accuracy(self, y: np.ndarray) -> float:
        return float((self.model.layers[-1].output.argmax(axis=1) == y).mean())

    def output(self, k: int) -> np.ndarray | None:
        return self.model.layers[k].output

    def logits(self) -> np.ndarray | None:
        return self.model.layers[-1].output

    def gradients(self, k: int) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]] | None:
        layer = self.model.layers[k]
        if not hasattr(layer, "input_grad"):
            return None
        return layer.output_grad, layer.input_grad, layer.param_grads()

    def weight_ratios(self) -> tuple[list[tuple[int, str]], np.ndarray]:
        where, values = [], []
        for k, layer in enumerate(self.model.layers):
            for op in layer.param_ops():
                if op.param.ndim > 1:
                    where.append((k, "branch" if k in self.residual else ""))
                    ok = self._grads_valid and hasattr(layer, "input_grad")
                    values.append(float(np.linalg.norm(op.param_grad) / np.linalg.norm(op.param)) if ok else np.nan)
        return where, np.asarray(values)

    def predict(self, x: np.ndarray) -> np.ndarray:
        # evaluation must not overwrite the training caches the views read: run on shallow copies
        layers = [copy.copy(layer) for layer in self.model.layers]
        out = []
        for i in range(0, len(x), 1000):
            h = x[i:i + 1000]
            for layer in layers:
                h = _forward_copy(layer, h)
            out.append(h.astype(np.float64))
        return np.concatenate(out)

    def _param_index_range(self, k: int) -> range:
        start = sum(len(layer.params()) for layer in self.model.layers[:k])
        return range(start, start + len(self.model.layers[k].params()))

    def _first_weight_index(self, k: int) -> int | None:
        for i, p in zip(self._param_index_range(k), self.model.layers[k].params()):
            if p.ndim > 1:
                return i
        return None

    def first_weight(self, k: int) -> np.ndarray | None:
        i = self._first_weight_index(k)
        return None if i is None else self.model.params()[i]

    def block_update(self, k: int) -> tuple[list[np.ndarray], list[np.ndarray]] | None:
        if self.updates is None:
            return None
        return [self.updates[i] for i in self._param_index_range(k)], self.model.layers[k].params()

    def first_weight_step(self, k: int) -> np.ndarray | None:
        i = self._first_weight_index(k)
        return None if self.updates is None or i is None else self.updates[i]

    # ---- state
    def get_state(self) -> dict:
        return {"params": [p.copy() for p in self.model.params()], "optimizer": self.optimizer.state_dict(),
                "norms": [dict(n) if n else None for n in self.norms]}

    def set_state(self, state: dict) -> None:
        for p, saved in zip(self.model.params(), state["params"]):
            p[...] = saved
        self.optimizer.load_state_dict(state["optimizer"])
        self.clear()
        self.norms = [dict(n) if n else None for n in state["norms"]]

    def set_lr(self, lr: float) -> None:
        self.optimizer.lr = lr

    def get_lr(self) -> float:
        return float(self.optimizer.lr)

    # ---- files: .npz with the metadata as JSON, read back with allow_pickle=False (engines/loading.py)
    def save(self, path: str, meta: dict) -> None:
        write_model(path, meta, self.model.state_arrays())

    def own_arrays(self) -> dict:
        return self.model.state_arrays()

    def load_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        self.model.load_state_arrays(arrays)


def _forward_copy(layer, h: np.ndarray) -> np.ndarray:
    """Evaluation forward of a NumPy layer whose operations are copied, so the originals keep their caches."""
    if isinstance(layer, ResidualDense):
        f = h
        for op in layer.branch:
            f = copy.copy(op).forward(f, training=False)
        z = h + f if layer.skip else f
        return np.maximum(z, 0)  # relu(x + F(x)), or relu(F(x)) without the skip
    for op in layer.operations:
        h = copy.copy(op).forward(h, training=False)
    return h


class NumpyResNetTrainer(ResNetTrainer):
    engine = "numpy"
    archs = ("small",)
    arch_note = "ResNet-50 runs on the torch engine only; the NumPy engine trains its small residual MLP."
    norms = ("none",)
    norm_note = "The NumPy residual blocks have no normalization; {norm} applies to the torch engine only."

    def build_run(self, skip: bool, optimizer: str, lr: float, tag: str, optimizer_title: str) -> NumpyRun:
        rng = np.random.default_rng([self.seed, 1])  # weights: the same for every run
        n = (self.depth - 2) // 2
        layers = [Dense("stem", 784, WIDTH, "relu", rng)]
        layers += [ResidualDense(f"block{i + 1}", WIDTH, rng, skip=skip) for i in range(n)]
        layers.append(Dense("head", WIDTH, 10, "linear", rng))
        title = f"{'Residual' if skip else 'Plain'} MLP-{self.depth} · {optimizer_title}"
        return NumpyRun(layers, optimizer, lr, tag, title)

    def prepare(self, images: np.ndarray) -> np.ndarray:
        return images.reshape(len(images), 784).astype(np.float32)  # (N, 28, 28) -> (N, 784)

    def prepare_labels(self, labels: np.ndarray) -> np.ndarray:
        return labels
