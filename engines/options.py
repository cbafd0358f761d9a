"""The one declaration of every lab setting: its default, range, help text, and where it shows.

The settings form (visualizer/lab_views.py, widgets/lab_view.py) is built from the specs with
``form=True``; the CLI (main.py) and every new run (engines.labs.make_trainer) check the values
with ``check_config``, so a bad value gets the same sentence on the command line and in the form,
and an option a lab does not use is refused by name instead of being ignored. Qt-free.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

from . import StepwiseError

ACTIVATIONS = ("relu", "tanh", "sigmoid")
NUMPY_OPTIMIZERS = ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adadelta", "adam", "adamax", "adamw")
SEED_MAX = 2**31 - 1
MAX_THREADS = 64


@dataclass(frozen=True)
class OptionSpec:
    """A lab setting. ``form``: shown in the settings form (a change starts a new run)."""
    key: str
    label: str
    kind: str                 # "int" | "float" | "text" | "choice" | "bool"
    default: object = None    # None: the lab chooses (e.g. a learning rate that suits the optimizer)
    choices: tuple = ()
    minimum: float = 0
    maximum: float = 1e9
    tooltip: str = ""
    engines: tuple = field(default=())   # used only by these engines (empty: all)
    form: bool = True
    above: bool = False       # True: the minimum itself is excluded (a learning rate must be above 0)
    sequence: bool = False    # text that may also come as a list (hidden sizes [256, 128], a start point)
    only_when: tuple = ()     # (other key, value): the form lets it be edited only while that setting has that value

    @property
    def flag(self) -> str:
        return "--" + self.key.replace("_", "-")

    def _range(self) -> str:
        lo, hi = _number(self.minimum), _number(self.maximum)
        return f"above {lo} and at most {hi}" if self.above else f"from {lo} to {hi}"

    def check(self, value):
        """The value as the lab uses it; StepwiseError with one sentence when it is not allowed."""
        what = f"The {self.label} ({self.flag})"
        if self.kind == "choice":
            if str(value) not in [str(c) for c in self.choices]:
                raise StepwiseError(f"Unknown {self.label} {value!r} ({self.flag}); choose one of: "
                                    f"{', '.join(map(str, self.choices))}.")
            return value
        if self.kind == "bool":
            if not isinstance(value, bool):
                raise StepwiseError(f"{what} is on or off, not {value!r}.")
            return value
        if self.kind == "text":
            if not (isinstance(value, str) or (self.sequence and isinstance(value, (list, tuple)))):
                raise StepwiseError(f"{what} must be text, not {value!r}.")
            return value
        if self.kind == "int":
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise StepwiseError(f"{what} {value!r} is not a whole number; give one {self._range()}.")
            try:
                number = int(value)
            except (TypeError, ValueError, OverflowError):
                raise StepwiseError(f"{what} {value!r} is not a whole number; give one {self._range()}.") from None
        else:
            try:
                number = float(value)
            except (TypeError, ValueError, OverflowError):
                raise StepwiseError(f"{what} {value!r} is not a number; give one {self._range()}.") from None
            if not math.isfinite(number):
                raise StepwiseError(f"{what} cannot be {number}; give a number {self._range()}.")
        low_ok = number > self.minimum if self.above else number >= self.minimum
        if not (low_ok and number <= self.maximum):
            raise StepwiseError(f"{what} {_number(number)} is out of range; give one {self._range()}.")
        return number


def _number(x: float) -> str:
    """2147483647, not 2.14748e+09; 0.95, not 0.950000."""
    return str(int(x)) if float(x).is_integer() and abs(x) < 1e15 else f"{x:g}"


def _seed() -> OptionSpec:
    return OptionSpec("seed", "seed", "int", 0, maximum=SEED_MAX)


def _lr(maximum: float = 10.0) -> OptionSpec:
    return OptionSpec("lr", "learning rate", "float", None, minimum=0.0, maximum=maximum, above=True, form=False)


def _momentum() -> OptionSpec:
    return OptionSpec("momentum", "momentum", "float", None, maximum=0.9999, form=False)


def _data() -> OptionSpec:
    return OptionSpec("data", "MNIST data", "choice", "shipped", ("shipped", "full"), form=False)


def _threads(engines: tuple = ("torch",)) -> OptionSpec:
    return OptionSpec("threads", "torch threads", "int", None, minimum=1, maximum=MAX_THREADS, engines=engines,
                      form=False)


def _decay(default: int) -> OptionSpec:
    return OptionSpec("decay", "lr halves after (iterations)", "int", int(default), maximum=10**7,
                      tooltip="Learning-rate schedule η_t = η / (1 + t / decay): the rate halves after this many "
                              "iterations; 0 keeps it constant.")


def text_options(hidden: int, max_depth: int, seq_len: int, batch: int) -> tuple[OptionSpec, ...]:
    """The text labs' settings; the first ones are the form's, a change starts a new run."""
    return (
        OptionSpec("hidden", "hidden size", "int", hidden, minimum=1, maximum=2048),
        OptionSpec("depth", "number of layers", "int", 2, minimum=1, maximum=max_depth),
        OptionSpec("seq_len", "sequence length", "int", seq_len, minimum=2, maximum=1000,
                   tooltip="characters per training sequence: backpropagation through time walks them back one "
                           "phase per character (several per phase above 50)"),
        OptionSpec("batch_size", "parallel sequences", "int", batch, minimum=1, maximum=1024),
        OptionSpec("text", "text file", "text", "", tooltip="a UTF-8 text file to train on; empty: Tiny Shakespeare"),
        _seed(),
        OptionSpec("lr", "learning rate", "float", None, minimum=1e-7, maximum=10.0, form=False),
        OptionSpec("clip", "gradient clip", "float", None, minimum=1e-6, maximum=1e6, form=False),
        OptionSpec("eval_chars", "held-out characters per evaluation", "int", None, minimum=100, maximum=10**8,
                   form=False),
    )


LAB_OPTIONS: dict[str, tuple[OptionSpec, ...]] = {
    "mlp": (
        OptionSpec("hidden", "hidden sizes", "text", "256,128,64", tooltip="comma-separated, e.g. 256,128,64",
                   sequence=True),
        OptionSpec("activation", "activation", "choice", "relu", ACTIVATIONS),
        OptionSpec("dropout", "dropout before layer 1", "float", 0.3, maximum=0.95),
        OptionSpec("optimizer", "optimizer", "choice", "momentum", NUMPY_OPTIMIZERS,
                   tooltip="the NumPy engine's own optimizers; each starts at a learning rate that suits it"),
        OptionSpec("batch_size", "batch size", "int", 64, minimum=1, maximum=4096),
        _seed(), _lr(), _momentum(), _data(), _threads(),
    ),
    "cnn": (
        OptionSpec("channels", "channels (conv1, conv2)", "text", "12,24", tooltip="two numbers, e.g. 12,24 or 8,16",
                   sequence=True),
        OptionSpec("activation", "activation", "choice", "relu", ACTIVATIONS,
                   tooltip="after each convolution; sigmoid shows vanishing gradients in the gradient maps"),
        OptionSpec("digits", "digits", "text", "0-9", sequence=True,
                   tooltip="train and hold out only these classes, e.g. 0-4 or 5,6,7"),
        OptionSpec("init", "start from model file", "text", "",
                   tooltip="a model saved in this lab (File → Save model, .npz or .pt); empty: from scratch. "
                           "Trained on other digits: its head is replaced by a new one"),
        OptionSpec("freeze", "frozen blocks", "text", "", sequence=True,
                   tooltip="e.g. conv1,conv2: no update for these blocks (or click a lock in the diagram)"),
        OptionSpec("normalize", "standardize inputs", "bool", False,
                   tooltip="z = (x − μ) / σ with the training split's pixel mean and standard deviation"),
        OptionSpec("augment", "augmentations", "text", "shift", sequence=True,
                   tooltip="comma-separated: shift, rotate, scale, elastic, blur, contrast, noise; or none"),
        OptionSpec("shift", "random shift (pixels)", "int", 2, maximum=4,
                   tooltip="training images moved by up to this many pixels: more variety from 8,000 images"),
        _decay(1000.0),
        OptionSpec("optimizer", "optimizer", "choice", "momentum", NUMPY_OPTIMIZERS),
        OptionSpec("batch_size", "batch size", "int", 64, minimum=1, maximum=4096),
        _seed(), _lr(), _momentum(), _data(), _threads(),
    ),
    "batch1": (
        OptionSpec("batch_size", "batch size", "int", 1, minimum=1, maximum=512,
                   tooltip="1: the point of the lab; try 32 to see BatchNorm work again"),
        OptionSpec("groups", "GroupNorm groups", "int", 4, minimum=1, maximum=16),
        _decay(2000.0),
        OptionSpec("shift", "random shift (pixels)", "int", 1, maximum=4),
        OptionSpec("router", "routing net (3 experts)", "bool", False,
                   tooltip="a router sends each digit to one of three expert sub-networks (round 0 6 8 9, "
                           "straight 1 4 7, the rest); only the chosen expert runs and learns; batch size 1"),
        _seed(),
        OptionSpec("channels", "channels (conv1, conv2)", "text", None, form=False, sequence=True),
        _lr(), OptionSpec("momentum", "momentum", "float", None, maximum=0.999, form=False), _data(), _threads(),
    ),
    "optimizers": (
        OptionSpec("surface", "surface", "choice", "rosenbrock",
                   ("rosenbrock", "beale", "himmelblau", "saddle", "quadratic", "network"),
                   tooltip="network: one small MLP on MNIST per optimizer, and its loss landscape"),
        OptionSpec("start", "start X,Y", "text", "", tooltip="empty: the surface's usual start; or click the plot",
                   sequence=True),
        OptionSpec("condition", "condition number κ (quadratic)", "float", 50.0, minimum=1.0, maximum=10000.0),
        OptionSpec("angle", "axes turned by ° (quadratic)", "float", 0.0, minimum=-90.0, maximum=90.0),
        OptionSpec("optimizers", "optimizers", "text", "all",
                   tooltip="all, or some of: sgd,momentum,nesterov,adagrad,rmsprop,adadelta,adam,adamax,adamw",
                   sequence=True),
        _seed(),
        OptionSpec("optimizer", "optimizer", "choice", None, NUMPY_OPTIMIZERS, form=False),
        _lr(100.0), _momentum(),
        OptionSpec("batch_size", "batch size (network surface)", "int", None, minimum=1, maximum=4096, form=False),
        _data(),
    ),
    "resnet": (
        OptionSpec("arch", "network", "choice", "small", ("small", "resnet50"), engines=("torch",),
                   tooltip="small: a ResNet for MNIST of the chosen depth; resnet50: ResNet-50 on one 224×224 input"),
        OptionSpec("depth", "depth (6n+2)", "int", 20, minimum=8, maximum=110, engines=("torch",),
                   only_when=("arch", "small"), tooltip="small net: weight layers 8, 14, 20, 26, 32, 44, 56, ... (3 stages of n blocks); "
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
        _seed(),
        OptionSpec("batch_size", "batch size", "int", None, minimum=1, maximum=4096, form=False),
        _lr(), _data(),
    ),
    "char-rnn": text_options(128, 3, 25, 1) + (
        OptionSpec("lr_decay", "learning-rate decay", "float", None, maximum=1.0, form=False),),
    "lstm": (OptionSpec("cell", "cell", "choice", "lstm", ("lstm", "gru"),
                        tooltip="lstm: gates i, f, o, candidate c̃, cell state c; gru: reset r, update z, candidate "
                                "h̃ (3 gate blocks instead of 4: a quarter fewer parameters). Same text, size and "
                                "seed for both, to compare"),) + text_options(256, 4, 50, 32) + (_threads(),),
}


# ---- the settings form's tooltips: one sentence each, with the math where there is one
SEED_HELP = "Seeds every random draw (initial weights, batch order, dropout): the same seed gives the same run."
DECAY_HELP = "Learning-rate schedule η_t = η / (1 + t / decay): the rate halves after this many iterations; 0 keeps it constant."
SHIFT_HELP = "Each training image is moved by up to this many pixels at random: more variety from the same 8,000 images."
BATCH_HELP = "Examples B per iteration; the loss is their mean L = (1/B) Σ ℓ_i, and so is its gradient."
OPTIMIZER_HELP = ("The NumPy engine's own optimizers (SGD θ ← θ − η·g; momentum v ← μv + g, θ ← θ − η·v; Adam with "
                  "moment estimates m, v: θ ← θ − η·m̂ / (√v̂ + ε); ...); each starts at a rate that suits it.")

# The form's tooltip of each setting: one sentence, with the math where there is one. By (lab, key),
# or (lab, key, engine) where one key has two meanings; then by key; else the declaration's own.
COMMON_HELP = {"seed": SEED_HELP, "shift": SHIFT_HELP, "batch_size": BATCH_HELP, "optimizer": OPTIMIZER_HELP,
               "decay": DECAY_HELP}
TEXT_HELP = {
    "hidden": "Units H per layer: the hidden state h_t has H numbers (h_t = tanh(W_xh·x_t + W_hh·h_{t−1} + b) in the "
              "RNN; four gates of H in the LSTM).",
    "depth": "Stacked recurrent layers: layer l reads layer l−1's h_t as its input.",
    "seq_len": "Characters T per training sequence: backpropagation through time walks them back one phase per "
               "character (several per phase above 50).",
    "batch_size": "Sequences B trained side by side; the loss is their mean over B·T characters.",
    "text": "A UTF-8 text file to train on; empty: Tiny Shakespeare (shipped in assets/).",
}
LAB_HELP = {
    ("mlp", "hidden"): "Units of each hidden Dense layer, comma-separated (e.g. 256,128,64): h = act(x·W + b).",
    ("mlp", "activation"): "The nonlinearity after each hidden layer: relu(z) = max(0, z); tanh; "
                           "sigmoid(z) = 1 / (1 + e^−z).",
    ("mlp", "dropout"): "Probability p of zeroing each input pixel while training; kept ones are scaled by 1/(1 − p).",
    ("cnn", "channels"): "Feature maps of the two 3×3 convolutions, e.g. 12,24: y[c] = Σ_k W[c,k] ⋆ x[k] + b[c].",
    ("batch1", "batch_size"): "1: the point of the lab (BatchNorm's mean and variance of one example are that "
                              "example); try 32 to see BatchNorm work again.",
    ("batch1", "groups"): "GroupNorm normalises each example over groups of channels: x̂ = (x − μ_g) / √(σ²_g + ε), "
                          "with no dependence on the batch.",
    ("optimizers", "surface"): "The function f(x, y) every optimizer descends, e.g. Rosenbrock (1 − x)² + "
                               "100(y − x²)²; network: one small MLP on MNIST per optimizer, and its loss landscape.",
    ("optimizers", "start"): "Where every optimizer starts, as x,y; empty: the surface's usual start; or click the plot.",
    ("optimizers", "condition"): "f = ½(x² + κ·y²): κ = the ratio of the largest to the smallest curvature; large κ "
                                 "makes a narrow valley that plain SGD zig-zags across.",
    ("optimizers", "angle"): "Rotates the quadratic's valley away from the x, y axes: per-coordinate methods "
                             "(Adagrad, RMSprop, Adam) lose their advantage.",
    ("optimizers", "optimizers"): "all, or some of: sgd,momentum,nesterov,adagrad,rmsprop,adadelta,adam,adamax,adamw.",
    ("resnet", "arch"): "small: a ResNet for MNIST of the chosen depth; resnet50: ResNet-50 stepped on one "
                        "224×224 input.",
    ("resnet", "depth", "torch"): "Weight layers of the small net: 6n + 2 = 8, 14, 20, 26, 32, 44, 56, ... "
                                  "(3 stages of n blocks); ResNet-50's depth is fixed.",
    ("resnet", "depth", "numpy"): "Weight layers, an even number 2n + 2: n residual Dense blocks y = x + F(x).",
    ("resnet", "norm"): "auto: none for the small net, BatchNorm for ResNet-50; bn: BatchNorm; gnws: GroupNorm + "
                        "weight-standardized convolutions (Ŵ = (W − mean) / std per filter).",
    ("resnet", "compare"): "plain: the same net without skips (y = F(x) instead of x + F(x)); optimizer: the same net "
                           "with the other optimizer.",
    ("resnet", "plain"): "Removes the skip connections of the first (inspected) run: y = F(x); a new run from the "
                         "same init.",
    ("resnet", "optimizer"): "Adam: θ ← θ − η·m̂ / (√v̂ + ε); AdaMax: the ∞-norm u ← max(β2·u, |g|) in place of √v̂; "
                             "SGD: θ ← θ − η·g.",
}
TEXT_LABS = ("char-rnn", "lstm")


def with_help(lab: str, spec: OptionSpec) -> OptionSpec:
    """The declaration with the form's tooltip (see LAB_HELP)."""
    engine = spec.engines[0] if spec.engines else ""
    text = (LAB_HELP.get((lab, spec.key, engine)) or LAB_HELP.get((lab, spec.key))
            or (TEXT_HELP.get(spec.key) if lab in TEXT_LABS else None) or COMMON_HELP.get(spec.key) or spec.tooltip)
    return dataclasses.replace(spec, tooltip=text)



LAB_OPTIONS = {lab: tuple(with_help(lab, o) for o in options) for lab, options in LAB_OPTIONS.items()}


# settings of the app that every lab takes (the engine process's keyframe budgets, read by
# visualizer/worker.py session_budgets; File → Preferences is built from the first)
APP_OPTIONS: tuple[OptionSpec, ...] = (
    OptionSpec("keyframe_disk_gb", "disk space for going back (GB)", "float", 8.0, maximum=1024.0, form=False,
               tooltip="Keyframes that do not fit in memory (512 MB) go to a cache folder on disk (at most half "
                       "its free space), removed when the app closes. More space keeps them closer together, so a jump back replays less; 0 "
                       "keeps them in memory only. Takes effect with the next run."),
    OptionSpec("keyframe_interval", "iterations between keyframes", "int", None, minimum=1, maximum=1 << 20,
               form=False, tooltip="Fixed spacing of keyframes (default: sized from what an iteration costs)."),
)


def app_option(key: str) -> OptionSpec:
    return next(o for o in APP_OPTIONS if o.key == key)

# keys of the config that are not lab options (the lab, the engine, the app's own entries)
NOT_OPTIONS = frozenset({"lab", "engine", "notify", "dtype", "load", "session", "record_every", "sample_every"})


def lab_options(lab: str, engine: str | None = None) -> list[OptionSpec]:
    """Every setting of ``lab`` that ``engine`` uses (all engines when None), the app's included."""
    return [o for o in LAB_OPTIONS.get(lab, ()) + APP_OPTIONS
            if engine is None or not o.engines or engine in o.engines]


def form_options(lab: str, engine: str) -> list[OptionSpec]:
    return [o for o in lab_options(lab, engine) if o.form]


def check_config(config: dict, strict: bool = False) -> dict:
    """The config with every lab option checked against its declaration (StepwiseError otherwise).

    ``strict`` (the command line): an option the lab or engine does not use is refused. The window
    carries settings across labs (the seed, the data), so there unused keys are left for the lab
    to ignore."""
    lab, engine = config.get("lab", ""), config.get("engine")
    specs = {o.key: o for o in lab_options(lab, engine)}
    out = dict(config)
    for key, value in config.items():
        if key in NOT_OPTIONS or (isinstance(key, str) and "." in key):
            continue  # "adam.lr": a per-optimizer setting, checked by the optimizer lab
        if value is None:
            del out[key]  # None: the lab's default, as if absent
            continue
        spec = specs.get(key)
        if spec is None:
            if strict:
                users = [name for name, opts in LAB_OPTIONS.items() if any(o.key == key for o in opts)]
                flag = "--" + str(key).replace("_", "-")
                where = "with the " + (engine or "chosen") + " engine " if any(
                    o.key == key for o in lab_options(lab)) else ""
                raise StepwiseError(f"The {lab} lab {where}does not use {flag}; leave it out"
                                    + (f" (it is a setting of: {', '.join(users)})." if users else "."))
            continue
        out[key] = spec.check(value)
    return out
