"""The residual lab on the Torch engine: the CIFAR-style ResNet of He et al. (depth 6n+2) for MNIST,
or ResNet-50 on digits upsampled to 3×224×224, each stepped by the staged-autograd runner."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ..loading import write_model
from ..torch_engine.resnet import mnist_resnet, resnet50
from ..torch_engine.staged import StagedBlock, StagedRunner
from ..trainer import BlockInfo
from .classifier_torch import load_optimizer_state, optimizer_state
from .resnet import ResNetTrainer, Run

MNIST_MEAN, MNIST_STD = 0.1307, 0.3081


class TorchRun(Run):
    """A BlockNet stepped by the shared staged-autograd runner (engines/torch_engine/staged.py)."""

    def __init__(self, net, optimizer_name: str, lr: float, tag: str, title: str):
        self.net, self.tag, self.title = net, tag, title
        self.optimizer_name = optimizer_name
        self.skip = all(net.blocks[i].skip for i in net.residual_indices())
        self.runner = StagedRunner([StagedBlock(f"block{i}", b.describe(), b.kind, b) for i, b in enumerate(net.blocks)],
                                   input_grad=True)
        params = list(net.parameters())  # the same tensors, in the same order, as self.runner.parameters()
        if optimizer_name == "adam":
            self.optimizer = torch.optim.Adam(params, lr=lr)
        elif optimizer_name == "adamax":
            self.optimizer = torch.optim.Adamax(params, lr=lr)
        else:
            self.optimizer = torch.optim.SGD(params, lr=lr, momentum=0.9)
        self.residual = net.residual_indices()
        self.weights = [(n, p) for n, p in net.named_parameters() if p.dim() > 1]  # conv and linear weights
        self.clear()

    def clear(self) -> None:
        self.runner.clear()
        self.updates: list[torch.Tensor] | None = None
        self.norms: list[dict | None] = [None] * len(self.residual)  # per residual block, latest measured
        self.fresh = [False] * len(self.residual)                     # measured in this iteration
        self.net.release()

    def n_blocks(self) -> int:
        return len(self.net.blocks)

    def block_infos(self) -> list[BlockInfo]:
        net, out = self.net, []
        x = torch.zeros(1, *net.input_shape)
        net.eval()
        with torch.no_grad():
            for i, block in enumerate(net.blocks):
                x = block(x)
                out.append(BlockInfo(f"block{i}", block.describe(), block.kind,
                                     int(sum(p.numel() for p in block.parameters())), tuple(x.shape[1:])))
        net.train()
        return out

    # ---- phases
    def begin(self, x: torch.Tensor) -> None:
        self.runner.begin(x, training=True)
        self.fresh = [False] * len(self.residual)

    def forward_block(self, k: int) -> None:
        self.runner.forward_block(k)  # x_k = out_{k−1} detached as a leaf; out_k = block_k(x_k)

    def loss(self, y: torch.Tensor) -> float:
        # dL/dlogits = (softmax(z) − onehot(y)) / N; the parameters' gradients are zeroed for backward
        return self.runner.loss(F.cross_entropy, y)

    def backward_block(self, k: int) -> None:
        self.runner.backward_block(k)  # out_k.backward(dL/dout_k): dL/dx_k and dL/dθ_k
        if k in self.residual:
            j = self.residual.index(k)
            self.norms[j] = self.net.blocks[k].grad_norms()
            self.fresh[j] = True

    def update(self, keep_updates: bool = True) -> None:
        params = [p for p in self.net.parameters()]
        before = [p.detach().clone() for p in params] if keep_updates else None
        self.optimizer.step()
        self.updates = [p.detach() - b for p, b in zip(params, before)] if keep_updates else None

    # ---- reading (what the phases of the latest iteration computed: the runner's caches)
    @property
    def outputs(self) -> list:
        return self.runner.outputs  # each block's output tensor (None before it ran)

    def batch_accuracy(self, y: torch.Tensor) -> float:
        return float((self.runner.logits.detach().argmax(dim=1) == y).double().mean())

    def output(self, k: int) -> np.ndarray | None:
        out = self.outputs[k]
        return None if out is None else out.detach().numpy()

    def logits(self) -> np.ndarray | None:
        logits = self.runner.logits
        return None if logits is None else logits.detach().numpy()

    def gradients(self, k: int) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]] | None:
        g_out, g_in = self.runner.grad_outputs[k], self.runner.grad_inputs[k]  # dL/d(out_k), dL/d(x_k)
        if g_out is None or g_in is None:
            return None
        return g_out.numpy(), g_in.numpy(), [p.grad.numpy() for p in self._block_params(k) if p.grad is not None]

    def weight_ratios(self) -> tuple[list[tuple[int, str]], np.ndarray]:
        where, values = [], []
        for name, p in self.weights:
            parts = name.split(".")  # blocks.<k>.branch.<j>.weight, blocks.<k>.shortcut.0.weight, ...
            where.append((int(parts[1]), parts[2] if parts[2] in ("branch", "shortcut") else ""))
            values.append(float(p.grad.norm() / p.detach().norm()) if p.grad is not None else np.nan)
        return where, np.asarray(values)

    def predict(self, x: torch.Tensor) -> np.ndarray:
        return self.runner.predict(x).double().numpy()  # evaluation mode, in chunks; caches untouched

    def _block_params(self, k: int) -> list[torch.Tensor]:
        return list(self.net.blocks[k].parameters())

    def _param_index_range(self, k: int) -> range:
        start = sum(len(list(b.parameters())) for b in self.net.blocks[:k])
        return range(start, start + len(self._block_params(k)))

    def _first_weight(self, k: int) -> torch.Tensor | None:
        weights = [p for p in self.net.blocks[k].parameters() if p.dim() > 1]
        spatial = [p for p in weights if p.dim() == 4 and p.shape[-1] > 1]
        return (spatial or weights or [None])[0]

    def first_weight(self, k: int) -> np.ndarray | None:
        w = self._first_weight(k)
        if w is None:
            return None
        w = w.detach().numpy()
        return w.T if w.ndim == 2 else w  # nn.Linear's (out, in) -> (in, out)

    def block_update(self, k: int) -> tuple[list[np.ndarray], list[np.ndarray]] | None:
        if self.updates is None:
            return None
        return ([self.updates[i].detach().numpy() for i in self._param_index_range(k)],
                [p.detach().numpy() for p in self._block_params(k)])

    def first_weight_step(self, k: int) -> np.ndarray | None:
        if self.updates is None:
            return None
        w = self._first_weight(k)
        i = next(i for i, p in zip(self._param_index_range(k), self._block_params(k)) if p is w)
        return self.updates[i].detach().numpy()

    # ---- state
    def get_state(self) -> dict:
        return {"net": {k: v.detach().clone() for k, v in self.net.state_dict().items()},
                "optimizer": optimizer_state(self.optimizer),
                "norms": [dict(n) if n else None for n in self.norms]}

    def set_state(self, state: dict) -> None:
        self.net.load_state_dict(state["net"])
        load_optimizer_state(self.optimizer, state["optimizer"])
        for p in self.net.parameters():
            p.grad = None
        self.clear()
        self.norms = [dict(n) if n else None for n in state["norms"]]

    def set_lr(self, lr: float) -> None:
        for group in self.optimizer.param_groups:
            group["lr"] = lr

    def get_lr(self) -> float:
        return float(self.optimizer.param_groups[0]["lr"])

    # ---- files: state_dict + torch.save, read back with weights_only=True (engines/loading.py)
    def save(self, path: str, meta: dict) -> None:
        write_model(path, meta, self.net.state_dict())

    def own_arrays(self) -> dict:
        return self.net.state_dict()

    def load_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        self.net.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in arrays.items()})


class TorchResNetTrainer(ResNetTrainer):
    engine = "torch"

    def build_run(self, skip: bool, optimizer: str, lr: float, tag: str, optimizer_title: str) -> TorchRun:
        gen = torch.Generator().manual_seed(self.seed)  # weights: the same for every run
        if self.arch == "resnet50":
            net = resnet50(n_classes=10, norm=self.norm, skip=skip, generator=gen)
        else:
            net = mnist_resnet(self.depth, norm=self.norm, skip=skip, generator=gen)
        return TorchRun(net, optimizer, lr, tag, f"{net.name} · {optimizer_title}")

    def prepare(self, images: np.ndarray) -> torch.Tensor:
        x = torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32)).unsqueeze(1)  # (N, 1, 28, 28)
        if self.arch == "resnet50":
            x = F.interpolate(x, size=(224, 224), mode="bilinear", align_corners=False)   # (N, 1, 224, 224)
            x = ((x - MNIST_MEAN) / MNIST_STD).expand(-1, 3, -1, -1).contiguous()          # (N, 3, 224, 224)
        return x

    def prepare_labels(self, labels: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(labels)

    def input_image(self, image: np.ndarray) -> np.ndarray:
        if self.arch != "resnet50":
            return image.copy()
        t = torch.from_numpy(image)[None, None]  # (1, 1, 28, 28)
        return F.interpolate(t, size=(224, 224), mode="bilinear", align_corners=False)[0, 0].clamp(0, 1).numpy().copy()
