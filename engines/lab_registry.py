"""The labs registry: lab id -> title and, per engine, the trainer that runs it (plain data, no lab imported).

A trainer is named "module:attribute", a class or a function ``(config: dict) -> Trainer`` that
validates the config and raises StepwiseError with one clear sentence for bad values. The first
engine listed is the lab's default. ``engines.labs.make_trainer`` imports the named module lazily,
so a lab's torch trainer loads PyTorch only when it runs.
"""
from __future__ import annotations

from dataclasses import dataclass

from . import StepwiseError


@dataclass(frozen=True)
class LabInfo:
    id: str
    title: str
    trainers: dict[str, str]   # engine -> "engines.labs.<module>:<class or factory>", default engine first

    @property
    def engines(self) -> tuple[str, ...]:
        return tuple(self.trainers)

    @property
    def modules(self) -> set[str]:
        return {target.split(":")[0] for target in self.trainers.values()}


LABS: dict[str, LabInfo] = {
    info.id: info for info in [
        LabInfo("mlp", "MLP on MNIST", {"numpy": "engines.labs.mlp:MLPTrainer",
                                        "torch": "engines.labs.mlp_torch:TorchMLPTrainer"}),
        LabInfo("cnn", "CNN on MNIST", {"numpy": "engines.labs.cnn:NumpyCNNTrainer",
                                        "torch": "engines.labs.cnn_torch:TorchCNNTrainer"}),
        # --router: the routed experts (router.py) instead of the two networks side by side (batch1.py)
        LabInfo("batch1", "Batch size 1: GN+WS vs BatchNorm", {"torch": "engines.labs.router:make_trainer"}),
        LabInfo("optimizers", "Optimizers race", {"numpy": "engines.labs.optimizers:make_trainer"}),
        LabInfo("resnet", "Residual vs plain (ResNet)", {"torch": "engines.labs.resnet_torch:TorchResNetTrainer",
                                                         "numpy": "engines.labs.resnet_numpy:NumpyResNetTrainer"}),
        LabInfo("char-rnn", "char-RNN on Shakespeare", {"numpy": "engines.labs.char_rnn:CharRNNTrainer"}),
        LabInfo("lstm", "LSTM on Shakespeare", {"torch": "engines.labs.lstm_torch:make_trainer",
                                                "numpy": "engines.labs.lstm:make_trainer"}),
    ]
}


def lab_ids() -> list[str]:
    return list(LABS)


def lab_info(lab: str) -> LabInfo:
    if lab not in LABS:
        raise StepwiseError(f"Unknown lab {lab!r}; choose one of: {', '.join(LABS)}.")
    return LABS[lab]
