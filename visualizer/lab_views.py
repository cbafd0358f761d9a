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


SEED_HELP = "Seeds every random draw (initial weights, batch order, dropout): the same seed gives the same run."
DECAY_HELP = "Learning-rate schedule η_t = η / (1 + t / decay): the rate halves after this many iterations; 0 keeps it constant."
SHIFT_HELP = "Each training image is moved by up to this many pixels at random: more variety from the same 8,000 images."
BATCH_HELP = "Examples B per iteration; the loss is their mean L = (1/B) Σ ℓ_i, and so is its gradient."
OPTIMIZER_HELP = ("The NumPy engine's own optimizers (SGD θ ← θ − η·g; momentum v ← μv + g, θ ← θ − η·v; Adam with "
                  "moment estimates m, v: θ ← θ − η·m̂ / (√v̂ + ε); ...); each starts at a rate that suits it.")

# Live hyperparameters (changed from the next iteration on), by name; "plain_lr" etc. use "lr".
LIVE_HELP = {
    "lr": "Learning rate η: θ ← θ − η·∇L (scaled by the optimizer's own terms); too large and the loss explodes.",
    "momentum": "Momentum μ: v ← μ·v + ∇L, θ ← θ − η·v; the velocity keeps 90% of itself each step at μ = 0.9.",
    "clip": "Gradient clipping before the update: entries to [−clip, clip] (char-RNN), or the whole gradient's "
            "norm to at most clip (g ← g·clip/‖g‖, LSTM); tames exploding gradients through time.",
    "lr_decay": "Adagrad's rate decay: η_t = η / (1 + (t − 1)·lr_decay).",
    "beta1": "β1: the first-moment average m ← β1·m + (1 − β1)·g.",
    "beta2": "β2: the second-moment average v ← β2·v + (1 − β2)·g².",
    "rho": "ρ: the running average of squared gradients E[g²] ← ρ·E[g²] + (1 − ρ)·g².",
    "eps": "ε: added to the denominator, θ ← θ − η·m / (√v + ε), so a tiny v cannot blow the step up.",
    "weight_decay": "Weight decay λ: θ ← θ − η·λ·θ each step, on top of the gradient step (AdamW: decoupled).",
}


LAB_UIS: dict[str, LabUI] = {
    "mlp": LabUI("widgets.mlp_view:MLPView", (
        OptionSpec("hidden", "hidden sizes", "text", "256,128,64",
                   help="Units of each hidden Dense layer, comma-separated (e.g. 256,128,64): h = act(x·W + b)."),
        OptionSpec("activation", "activation", "choice", "relu", ACTIVATIONS,
                   help="The nonlinearity after each hidden layer: relu(z) = max(0, z); tanh; sigmoid(z) = 1 / (1 + e^−z)."),
        OptionSpec("dropout", "dropout before layer 1", "float", 0.3, maximum=0.95,
                   help="Probability p of zeroing each input pixel while training; kept ones are scaled by 1/(1 − p)."),
        OptionSpec("optimizer", "optimizer", "choice", "momentum", NUMPY_OPTIMIZERS, help=OPTIMIZER_HELP),
        OptionSpec("batch_size", "batch size", "int", 64, minimum=1, maximum=4096, help=BATCH_HELP),
        OptionSpec("seed", "seed", "int", 0, maximum=2**31 - 1, help=SEED_HELP),
    )),
    "cnn": LabUI("widgets.cnn_view:CNNView", (
        OptionSpec("channels", "channels (conv1, conv2)", "text", "12,24",
                   help="Feature maps of the two 3×3 convolutions, e.g. 12,24: y[c] = Σ_k W[c,k] ⋆ x[k] + b[c]."),
        OptionSpec("shift", "random shift (pixels)", "int", 2, maximum=4, help=SHIFT_HELP),
        OptionSpec("decay", "lr halves after (iterations)", "int", 1000, maximum=10**7, help=DECAY_HELP),
        OptionSpec("optimizer", "optimizer", "choice", "momentum", NUMPY_OPTIMIZERS, help=OPTIMIZER_HELP),
        OptionSpec("batch_size", "batch size", "int", 64, minimum=1, maximum=4096, help=BATCH_HELP),
        OptionSpec("seed", "seed", "int", 0, maximum=2**31 - 1, help=SEED_HELP),
    )),
    "batch1": LabUI("widgets.batch1_view:Batch1View", (
        OptionSpec("batch_size", "batch size", "int", 1, minimum=1, maximum=512,
                   help="1: the point of the lab (BatchNorm's mean and variance of one example are that example); "
                        "try 32 to see BatchNorm work again."),
        OptionSpec("groups", "GroupNorm groups", "int", 4, minimum=1, maximum=16,
                   help="GroupNorm normalises each example over groups of channels: x̂ = (x − μ_g) / √(σ²_g + ε), "
                        "with no dependence on the batch."),
        OptionSpec("decay", "lr halves after (iterations)", "int", 2000, maximum=10**7, help=DECAY_HELP),
        OptionSpec("shift", "random shift (pixels)", "int", 1, maximum=4, help=SHIFT_HELP),
        OptionSpec("seed", "seed", "int", 0, maximum=2**31 - 1, help=SEED_HELP),
    )),
    "optimizers": LabUI("widgets.optimizer_view:OptimizerView", (
        OptionSpec("surface", "surface", "choice", "rosenbrock",
                   ("rosenbrock", "beale", "himmelblau", "saddle", "quadratic", "network"),
                   help="The function f(x, y) every optimizer descends, e.g. Rosenbrock (1 − x)² + 100(y − x²)²; "
                        "network: one small MLP on MNIST per optimizer, and its loss landscape."),
        OptionSpec("start", "start X,Y", "text", "",
                   help="Where every optimizer starts, as x,y; empty: the surface's usual start; or click the plot."),
        OptionSpec("condition", "condition number κ (quadratic)", "float", 50.0, minimum=1.0, maximum=10000.0,
                   help="f = ½(x² + κ·y²): κ = the ratio of the largest to the smallest curvature; large κ makes a "
                        "narrow valley that plain SGD zig-zags across."),
        OptionSpec("angle", "axes turned by ° (quadratic)", "float", 0.0, minimum=-90.0, maximum=90.0,
                   help="Rotates the quadratic's valley away from the x, y axes: per-coordinate methods (Adagrad, "
                        "RMSprop, Adam) lose their advantage."),
        OptionSpec("optimizers", "optimizers", "text", "all",
                   help="all, or some of: sgd,momentum,nesterov,adagrad,rmsprop,adadelta,adam,adamax,adamw."),
        OptionSpec("seed", "seed", "int", 0, maximum=2**31 - 1, help=SEED_HELP),
    )),
    "resnet": LabUI("widgets.resnet_view:ResNetView", (
        OptionSpec("arch", "network", "choice", "small", ("small", "resnet50"), engines=("torch",),
                   help="small: a ResNet for MNIST of the chosen depth; resnet50: ResNet-50 stepped on one 224×224 input."),
        OptionSpec("depth", "depth (6n+2)", "int", 20, minimum=8, maximum=110, engines=("torch",),
                   only_when=("arch", "small"),
                   help="Weight layers of the small net: 6n + 2 = 8, 14, 20, 26, 32, 44, 56, ... "
                        "(3 stages of n blocks); ResNet-50's depth is fixed."),
        OptionSpec("depth", "depth (2n+2)", "int", 10, minimum=4, maximum=60, engines=("numpy",),
                   help="Weight layers, an even number 2n + 2: n residual Dense blocks y = x + F(x)."),
        OptionSpec("norm", "normalization", "choice", "auto", ("auto", "none", "bn", "gnws"), engines=("torch",),
                   help="auto: none for the small net, BatchNorm for ResNet-50; bn: BatchNorm; gnws: GroupNorm + "
                        "weight-standardized convolutions (Ŵ = (W − mean) / std per filter)."),
        OptionSpec("compare", "compare with", "choice", "plain", ("plain", "optimizer", "none"),
                   help="plain: the same net without skips (y = F(x) instead of x + F(x)); optimizer: the same net "
                        "with the other optimizer."),
        OptionSpec("plain", "first run is plain (no skips)", "bool", False,
                   help="Removes the skip connections of the first (inspected) run: y = F(x); a new run from the same init."),
        OptionSpec("optimizer", "optimizer", "choice", "adam", ("adam", "adamax", "sgd"),
                   help="Adam: θ ← θ − η·m̂ / (√v̂ + ε); AdaMax: the ∞-norm u ← max(β2·u, |g|) in place of √v̂; "
                        "SGD: θ ← θ − η·g."),
        OptionSpec("seed", "seed", "int", 0, maximum=2**31 - 1, help=SEED_HELP),
    )),
    "char-rnn": LabUI("widgets.text_view:TextView", text_options(128, 3, 25, 1)),
    "lstm": LabUI("widgets.text_view:TextView", text_options(256, 4, 50, 32)),
}


def lab_ui(lab: str) -> LabUI:
    return LAB_UIS.get(lab, LabUI("widgets.mlp_view:MLPView"))


def make_view(lab: str) -> LabView:
    module, cls = lab_ui(lab).view.split(":")
    return getattr(importlib.import_module(module), cls)()
