"""The labs registry (UI side): lab id -> view class and the settings shown for it.

The engine side (lab id -> trainer) is engines/labs/__init__.py. Views are imported lazily.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field

from widgets.lab_view import LabView, OptionSpec
from widgets.text_view import text_options

ACTIVATIONS = ("relu", "tanh", "sigmoid")
NUMPY_OPTIMIZERS = ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adadelta", "adam", "adamax", "adamw")


@dataclass(frozen=True)
class LabUI:
    view: str                                   # "module:Class"
    options: tuple[OptionSpec, ...] = field(default=())


LAB_UIS: dict[str, LabUI] = {
    "mlp": LabUI("widgets.mlp_view:MLPView", (
        OptionSpec("hidden", "hidden sizes", "text", "256,128,64", tooltip="comma-separated, e.g. 256,128,64"),
        OptionSpec("activation", "activation", "choice", "relu", ACTIVATIONS),
        OptionSpec("dropout", "dropout before layer 1", "float", 0.3, maximum=0.95),
        OptionSpec("optimizer", "optimizer", "choice", "momentum", NUMPY_OPTIMIZERS,
                   tooltip="the NumPy engine's own optimizers; each starts at a learning rate that suits it"),
        OptionSpec("batch_size", "batch size", "int", 64, minimum=1, maximum=4096),
        OptionSpec("seed", "seed", "int", 0, maximum=2**31 - 1),
    )),
    "cnn": LabUI("widgets.cnn_view:CNNView", (
        OptionSpec("channels", "channels (conv1, conv2)", "text", "12,24", tooltip="two numbers, e.g. 12,24 or 8,16"),
        OptionSpec("activation", "activation", "choice", "relu", ACTIVATIONS,
                   tooltip="after each convolution; sigmoid shows vanishing gradients in the gradient maps"),
        OptionSpec("digits", "digits", "text", "0-9",
                   tooltip="train and hold out only these classes, e.g. 0-4 or 5,6,7"),
        OptionSpec("init", "start from model file", "text", "",
                   tooltip="a model saved in this lab (File → Save model, .npz or .pt); empty: from scratch. "
                           "Trained on other digits: its head is replaced by a new one"),
        OptionSpec("freeze", "frozen blocks", "text", "",
                   tooltip="e.g. conv1,conv2: no update for these blocks (or click a lock in the diagram)"),
        OptionSpec("normalize", "standardize inputs", "bool", False,
                   tooltip="x̂ = (x − μ) / σ with the training split's pixel mean and standard deviation"),
        OptionSpec("augment", "augmentations", "text", "shift",
                   tooltip="comma-separated: shift, rotate, scale, elastic, blur, contrast, noise; or none"),
        OptionSpec("shift", "random shift (pixels)", "int", 2, maximum=4,
                   tooltip="training images moved by up to this many pixels: more variety from 8,000 images"),
        OptionSpec("decay", "lr halves after (iterations)", "float", 1000.0, maximum=1e7,
                   tooltip="learning rate = lr / (1 + t / decay); 0: constant"),
        OptionSpec("optimizer", "optimizer", "choice", "momentum", NUMPY_OPTIMIZERS),
        OptionSpec("batch_size", "batch size", "int", 64, minimum=1, maximum=4096),
        OptionSpec("seed", "seed", "int", 0, maximum=2**31 - 1),
    )),
    "batch1": LabUI("widgets.batch1_view:Batch1View", (
        OptionSpec("batch_size", "batch size", "int", 1, minimum=1, maximum=512,
                   tooltip="1: the point of the lab; try 32 to see BatchNorm work again"),
        OptionSpec("groups", "GroupNorm groups", "int", 4, minimum=1, maximum=16),
        OptionSpec("decay", "lr halves after (iterations)", "float", 2000.0, maximum=1e7,
                   tooltip="learning rate = lr / (1 + t / decay); 0: constant"),
        OptionSpec("shift", "random shift (pixels)", "int", 1, maximum=4),
        OptionSpec("seed", "seed", "int", 0, maximum=2**31 - 1),
    )),
    "optimizers": LabUI("widgets.optimizer_view:OptimizerView", (
        OptionSpec("surface", "surface", "choice", "rosenbrock",
                   ("rosenbrock", "beale", "himmelblau", "saddle", "quadratic", "network"),
                   tooltip="network: one small MLP on MNIST per optimizer, and its loss landscape"),
        OptionSpec("start", "start X,Y", "text", "", tooltip="empty: the surface's usual start; or click the plot"),
        OptionSpec("condition", "condition number κ (quadratic)", "float", 50.0, minimum=1.0, maximum=10000.0),
        OptionSpec("angle", "axes turned by ° (quadratic)", "float", 0.0, minimum=-90.0, maximum=90.0),
        OptionSpec("optimizers", "optimizers", "text", "all",
                   tooltip="all, or some of: sgd,momentum,nesterov,adagrad,rmsprop,adadelta,adam,adamax,adamw"),
        OptionSpec("seed", "seed", "int", 0, maximum=2**31 - 1),
    )),
    "resnet": LabUI("widgets.resnet_view:ResNetView", (
        OptionSpec("arch", "network", "choice", "small", ("small", "resnet50"), engines=("torch",),
                   tooltip="small: a ResNet for MNIST of the chosen depth; resnet50: ResNet-50 on one 224×224 input"),
        OptionSpec("depth", "depth (6n+2)", "int", 20, minimum=8, maximum=110, engines=("torch",),
                   tooltip="small net: weight layers 8, 14, 20, 26, 32, 44, 56, ... (3 stages of n blocks); "
                           "ResNet-50 ignores it"),
        OptionSpec("depth", "depth (2n+2)", "int", 10, minimum=4, maximum=60, engines=("numpy",),
                   tooltip="weight layers: an even number; n residual Dense blocks"),
        OptionSpec("norm", "normalization", "choice", "auto", ("auto", "none", "bn", "gnws"), engines=("torch",),
                   tooltip="auto: none for the small net, BatchNorm for ResNet-50; or BatchNorm, or GroupNorm + "
                           "weight-standardized convolutions"),
        OptionSpec("compare", "compare with", "choice", "plain", ("plain", "optimizer", "none"),
                   tooltip="plain: the same net without skips; optimizer: the same net with the other optimizer"),
        OptionSpec("plain", "first run is plain (no skips)", "bool", False,
                   tooltip="remove the skip connections of the first (inspected) run: a new run from the same init"),
        OptionSpec("optimizer", "optimizer", "choice", "adam", ("adam", "adamax", "sgd")),
        OptionSpec("seed", "seed", "int", 0, maximum=2**31 - 1),
    )),
    "char-rnn": LabUI("widgets.text_view:TextView", text_options(128, 3, 25, 1)),
    "lstm": LabUI("widgets.text_view:TextView", text_options(256, 4, 50, 32)),
}


def lab_ui(lab: str) -> LabUI:
    return LAB_UIS.get(lab, LabUI("widgets.mlp_view:MLPView"))


def make_view(lab: str) -> LabView:
    module, cls = lab_ui(lab).view.split(":")
    return getattr(importlib.import_module(module), cls)()
