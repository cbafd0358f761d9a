"""The one declaration of every lab setting: its type, default, range, unit, whether it is live,
and a one-sentence help text with the math where there is one.

Everything else is built from it: the CLI's flags and ``--help`` (main.py ``add_lab_flags``), the
settings form and its tooltips (visualizer/lab_views.py, widgets/lab_view.py; ``form=True``), the
live editors' tooltips (``live_help``), and the trainers' validation: every new run
(engines.labs.make_trainer) is checked by ``check_config``, and each trainer reads its values with
``settings(config, lab, engine)`` (the declared default where the config has none), so a bad value
gets the same sentence on the command line, in the form and from a test, and an option a lab does
not use is refused by name instead of being ignored. Qt-free.
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
    """A lab setting. ``form``: shown in the settings form (a change starts a new run);
    ``live``: also editable while training (Trainer.set_hyperparam, from the next iteration)."""
    key: str
    label: str
    kind: str                 # "int" | "float" | "text" | "choice" | "bool"
    default: object = None    # None: the lab chooses (e.g. a learning rate that suits the optimizer)
    choices: tuple = ()
    minimum: float = 0
    maximum: float = 1e9
    help: str = ""            # one sentence, with the math where there is one: the tooltip and the --help text
    unit: str = ""            # "pixels", "iterations", ... (shown in --help)
    live: bool = False
    engines: tuple = field(default=())   # used only by these engines (empty: all)
    form: bool = True
    above: bool = False       # True: the minimum itself is excluded (a learning rate must be above 0)
    step: int = 1             # whole numbers: only minimum + k·step (ResNet depth 6n + 2: 8, 14, 20, ...)
    sequence: bool = False    # text that may also come as a list (hidden sizes [256, 128], a start point)
    only_when: tuple = ()     # (other key, value): the form lets it be edited only while that setting has that value
    cli: bool = True          # False: a request's argument (e.g. a generation length), no command-line flag

    @property
    def flag(self) -> str:
        return "--" + self.key.replace("_", "-")

    @property
    def tooltip(self) -> str:
        return self.help

    @property
    def form_label(self) -> str:
        """The settings form's row label: "random shift (pixels)"."""
        return f"{self.label} ({self.unit})" if self.unit else self.label

    def _range(self) -> str:
        lo, hi = _number(self.minimum), _number(self.maximum)
        if self.step > 1:
            return f"from {lo} to {hi} in steps of {self.step} ({lo}, {_number(self.minimum + self.step)}, ...)"
        return f"above {lo} and at most {hi}" if self.above else f"from {lo} to {hi}"

    def describe(self) -> str:
        """What --help says: the help sentence, the range or choices, the unit and the default."""
        parts = [self.help.rstrip(".") if self.help else self.label]
        if self.kind in ("int", "float"):
            parts.append(self._range() + (f" {self.unit}" if self.unit else ""))
        elif self.kind == "choice":
            parts.append("one of " + ", ".join(map(str, self.choices)))
        if self.default not in (None, "") and self.kind != "bool":
            parts.append(f"default {_number(self.default) if self.kind in ('int', 'float') else self.default}")
        if self.live:
            parts.append("live")
        return "; ".join(parts)

    def check(self, value):
        """The value as the lab uses it; StepwiseError with one sentence when it is not allowed."""
        what = f"The {self.label} ({self.flag})" if self.cli else f"The {self.label}"
        if self.kind == "choice":
            if str(value) not in [str(c) for c in self.choices]:
                where = f" ({self.flag})" if self.cli else ""
                raise StepwiseError(f"Unknown {self.label} {value!r}{where}; choose one of: "
                                    f"{', '.join(map(str, self.choices))}.")
            return next(c for c in self.choices if str(c) == str(value))
        if self.kind == "bool":
            if not isinstance(value, bool):
                raise StepwiseError(f"{what} is on or off, not {value!r}.")
            return value
        if self.kind == "text":
            if not (isinstance(value, str) or (self.sequence and isinstance(value, (list, tuple)))):
                raise StepwiseError(f"{what} must be text, not {value!r}.")
            return value
        if self.kind == "int":
            number = _whole(value)
            if number is None:
                raise StepwiseError(f"{what} {value!r} is not a whole number; give one {self._range()}.")
        else:
            try:
                number = float(value.strip() if isinstance(value, str) else value)
            except (TypeError, ValueError, OverflowError):
                raise StepwiseError(f"{what} {value!r} is not a number; give one {self._range()}.") from None
            if isinstance(value, bool) or not math.isfinite(number):
                raise StepwiseError(f"{what} cannot be {value!r}; give a number {self._range()}.")
        low_ok = number > self.minimum if self.above else number >= self.minimum
        on_grid = self.step == 1 or (number - self.minimum) % self.step == 0
        if not (low_ok and number <= self.maximum and on_grid):
            raise StepwiseError(f"{what} {_number(number)} is out of range; give one {self._range()}.")
        return number


def _whole(value) -> int | None:
    """12, 12.0, "12", " 12 ", "12.0" -> 12; anything else (True, 1.5, "x", inf) -> None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        text = value.strip()
        try:
            return int(text)
        except ValueError:
            try:
                value = float(text)
            except ValueError:
                return None
    if isinstance(value, float):
        return int(value) if value.is_integer() else None
    try:
        return int(value) if int(value) == value else None
    except (TypeError, ValueError, OverflowError):
        return None


def _number(x: float) -> str:
    """2147483647, not 2.14748e+09; 0.95, not 0.950000."""
    return str(int(x)) if float(x).is_integer() and abs(x) < 1e15 else f"{x:g}"


# ---- settings several labs share: declared once here, with their help
def _seed() -> OptionSpec:
    return OptionSpec("seed", "seed", "int", 0, maximum=SEED_MAX,
                      help="Seeds every random draw (initial weights, batch order, dropout): the same seed gives the "
                           "same run.")


LR_HELP = ("Learning rate η: θ ← θ − η·∇L (scaled by the optimizer's own terms); too large and the loss explodes; "
           "when not given, the lab starts at a rate that suits the optimizer.")


def _lr(default: float | None = None, maximum: float = 1e6, minimum: float = 0.0) -> OptionSpec:
    # large on purpose: a student may push the rate until the loss explodes (the run stops with one sentence)
    return OptionSpec("lr", "learning rate", "float", default, minimum=minimum, maximum=maximum, above=True,
                      form=False, live=True, help=LR_HELP)


def _momentum(default: float | None = 0.9, maximum: float = 0.9999) -> OptionSpec:
    return OptionSpec("momentum", "momentum", "float", default, maximum=maximum, form=False, live=True,
                      help="Momentum μ: v ← μ·v + ∇L, θ ← θ − η·v; the velocity keeps 90% of itself each step at "
                           "μ = 0.9.")


def _data() -> OptionSpec:
    return OptionSpec("data", "MNIST data", "choice", "shipped", ("shipped", "full"), form=False,
                      help="shipped: the 10,000 MNIST test images in assets/ (8,000 train, 2,000 held out); full: the "
                           "70,000, downloaded once and checked against known checksums.")


def _threads(engines: tuple = ("torch",)) -> OptionSpec:
    return OptionSpec("threads", "torch threads", "int", None, minimum=1, maximum=MAX_THREADS, engines=engines,
                      form=False, help="torch's intra-op threads in the engine process; empty: 1 in the app (the "
                                       "other core stays with the window), torch's own choice headless.")


def _decay(default: int) -> OptionSpec:
    return OptionSpec("decay", "lr halves after", "int", int(default), maximum=10**7, unit="iterations",
                      help="Learning-rate schedule η_t = η / (1 + t / decay): the rate halves after this many "
                           "iterations; 0 keeps it constant.")


def _shift(default: int) -> OptionSpec:
    return OptionSpec("shift", "random shift", "int", default, maximum=4, unit="pixels",
                      help="Each training image is moved by up to this many pixels at random: more variety from the "
                           "same 8,000 images.")


def _batch(default: int | None = 64, maximum: int = 4096, form: bool = True, help: str = "") -> OptionSpec:
    return OptionSpec("batch_size", "batch size", "int", default, minimum=1, maximum=maximum, form=form,
                      help=help or "Examples B per iteration; the loss is their mean L = (1/B) Σ ℓ_i, and so is its "
                                   "gradient.")


def _optimizer(default: str | None = "momentum", form: bool = True) -> OptionSpec:
    return OptionSpec("optimizer", "optimizer", "choice", default, NUMPY_OPTIMIZERS, form=form,
                      help="The NumPy engine's own optimizers (SGD θ ← θ − η·g; momentum v ← μv + g, θ ← θ − η·v; "
                           "Adam with moment estimates m, v: θ ← θ − η·m̂ / (√v̂ + ε); ...); each starts at a rate "
                           "that suits it.")


def _activation(help: str) -> OptionSpec:
    return OptionSpec("activation", "activation", "choice", "relu", ACTIVATIONS, help=help)


def text_options(hidden: int, max_depth: int, seq_len: int, batch: int, lr: float, clip_help: str
                 ) -> tuple[OptionSpec, ...]:
    """The text labs' settings; the first ones are the form's, a change starts a new run."""
    return (
        OptionSpec("hidden", "hidden size", "int", hidden, minimum=1, maximum=2048,
                   help="Units H per layer: the hidden state h_t has H numbers (h_t = tanh(W_xh·x_t + W_hh·h_{t−1} "
                        "+ b) in the RNN; four gates of H in the LSTM)."),
        OptionSpec("depth", "number of layers", "int", 2, minimum=1, maximum=max_depth,
                   help="Stacked recurrent layers: layer l reads layer l−1's h_t as its input."),
        OptionSpec("seq_len", "sequence length", "int", seq_len, minimum=2, maximum=1000, unit="characters",
                   help="Characters T per training sequence: backpropagation through time walks them back one phase "
                        "per character (several per phase above 50)."),
        OptionSpec("batch_size", "parallel sequences", "int", batch, minimum=1, maximum=1024,
                   help="Sequences B trained side by side; the loss is their mean over B·T characters."),
        OptionSpec("text", "text file", "text", "",
                   help="A UTF-8 text file to train on; empty: Tiny Shakespeare (shipped in assets/)."),
        _seed(),
        _lr(lr, minimum=1e-7),
        OptionSpec("clip", "gradient clip", "float", 5.0, minimum=1e-6, maximum=1e6, form=False, live=True,
                   help=clip_help),
        OptionSpec("eval_chars", "held-out characters per evaluation", "int", 32_000, minimum=100, maximum=10**8,
                   form=False, unit="characters",
                   help="How many held-out characters each evaluation reads for its loss per character."),
    )


LAB_OPTIONS: dict[str, tuple[OptionSpec, ...]] = {
    "mlp": (
        OptionSpec("hidden", "hidden sizes", "text", "256,128,64", sequence=True,
                   help="Units of each hidden Dense layer, comma-separated (e.g. 256,128,64; 1 to 8 layers of 1 to "
                        "4096): h = act(x·W + b)."),
        _activation("The nonlinearity after each hidden layer: relu(z) = max(0, z); tanh; sigmoid(z) = 1 / (1 + e^−z)."),
        OptionSpec("dropout", "dropout before layer 1", "float", 0.3, maximum=0.95,
                   help="Probability p of zeroing each input pixel while training; kept ones are scaled by 1/(1 − p)."),
        _optimizer(), _batch(), _seed(), _lr(), _momentum(), _data(), _threads(),
    ),
    "cnn": (
        # 8,16 plateaus near 98 % held-out; 12,24 reaches 98.2–98.6 % (seeds 0–3)
        OptionSpec("channels", "channels (conv1, conv2)", "text", "12,24", sequence=True,
                   help="Feature maps of the two 3×3 convolutions, e.g. 12,24 (each 1 to 64): y[c] = Σ_k W[c,k] ⋆ "
                        "x[k] + b[c]."),
        _activation("The nonlinearity after each convolution: relu(z) = max(0, z); tanh; sigmoid(z) = 1 / (1 + e^−z), "
                    "whose vanishing gradients show in the gradient maps."),
        OptionSpec("digits", "digits", "text", "0-9", sequence=True,
                   help="Train and hold out only these classes, e.g. 0-4 or 5,6,7: the softmax has one output per "
                        "chosen digit."),
        OptionSpec("init", "start from model file", "text", "",
                   help="A model saved in this lab (File → Save model, .npz or .pt) to start from; empty: from "
                        "scratch; trained on other digits, its head is replaced by a new one."),
        OptionSpec("freeze", "frozen blocks", "text", "", sequence=True,
                   help="Blocks that take no update, e.g. conv1,conv2 (or click a lock in the diagram): dL/dx still "
                        "flows through them, dL/dθ is not computed."),
        OptionSpec("normalize", "standardize inputs", "bool", False,
                   help="z = (x − μ) / σ with the training split's pixel mean and standard deviation."),
        OptionSpec("augment", "augmentations", "text", "shift", sequence=True,
                   help="Comma-separated training augmentations: shift, rotate, scale, elastic, blur, contrast, "
                        "noise; or none."),
        _shift(2), _decay(1000), _optimizer(), _batch(), _seed(), _lr(), _momentum(), _data(), _threads(),
    ),
    "batch1": (
        _batch(1, maximum=512, help="1: the point of the lab (BatchNorm's mean and variance of one example are that "
                                    "example); try 32 to see BatchNorm work again."),
        OptionSpec("groups", "GroupNorm groups", "int", 4, minimum=1, maximum=64,
                   help="GroupNorm normalises each example over groups of channels: x̂ = (x − μ_g) / √(σ²_g + ε), "
                        "with no dependence on the batch; the groups must divide both channel counts."),
        _decay(2000), _shift(1),   # ±1 px: +1 % held-out for GN+WS
        OptionSpec("router", "routing net (3 experts)", "bool", False,
                   help="A router sends each digit to one of three expert sub-networks (round 0 6 8 9, straight 1 4 "
                        "7, the rest); only the chosen expert runs and learns; batch size 1."),
        _seed(),
        OptionSpec("channels", "channels (conv1, conv2)", "text", "8,16", form=False, sequence=True,
                   help="Feature maps of the two 3×3 convolutions of both nets, e.g. 8,16 (each 1 to 64)."),
        _lr(0.05), _momentum(0.0, maximum=0.999), _data(), _threads(),
    ),
    "optimizers": (
        OptionSpec("surface", "surface", "choice", "rosenbrock",
                   ("rosenbrock", "beale", "himmelblau", "saddle", "quadratic", "network"),
                   help="The function f(x, y) every optimizer descends, e.g. Rosenbrock (1 − x)² + 100(y − x²)²; "
                        "network: one small MLP on MNIST per optimizer, and its loss landscape."),
        OptionSpec("start", "start X,Y", "text", "", sequence=True,
                   help="Where every optimizer starts, as x,y; empty: the surface's usual start; or click the plot."),
        OptionSpec("condition", "condition number κ (quadratic)", "float", 50.0, minimum=1.0, maximum=10000.0,
                   help="f = ½(x² + κ·y²): κ = the ratio of the largest to the smallest curvature; large κ makes a "
                        "narrow valley that plain SGD zig-zags across."),
        OptionSpec("angle", "axes turned (quadratic)", "float", 0.0, minimum=-90.0, maximum=90.0, unit="degrees",
                   help="Rotates the quadratic's valley away from the x, y axes: per-coordinate methods (Adagrad, "
                        "RMSprop, Adam) lose their advantage."),
        OptionSpec("optimizers", "optimizers", "text", "all", sequence=True,
                   help="all, or some of: sgd,momentum,nesterov,adagrad,rmsprop,adadelta,adam,adamax,adamw."),
        _seed(),
        _optimizer(None, form=False),
        _lr(maximum=100.0), _momentum(None),
        _batch(64, form=False, help="Examples B per iteration of each racing network (network surface only); the "
                                    "loss is their mean."),
        _data(),
    ),
    "resnet": (
        OptionSpec("arch", "network", "choice", "small", ("small", "resnet50"), engines=("torch",),
                   help="small: a ResNet for MNIST of the chosen depth; resnet50: ResNet-50 stepped on one 224×224 "
                        "input."),
        OptionSpec("depth", "weight layers (6n + 2)", "int", 20, minimum=8, maximum=110, step=6, engines=("torch",),
                   only_when=("arch", "small"),
                   help="Weight layers of the small net: 6n + 2 = 8, 14, 20, 26, 32, 44, 56, ... (3 stages of n "
                        "blocks); ResNet-50's depth is fixed."),
        OptionSpec("depth", "weight layers (2n + 2)", "int", 10, minimum=4, maximum=60, step=2, engines=("numpy",),
                   help="Weight layers, an even number 2n + 2: n residual Dense blocks y = x + F(x)."),
        OptionSpec("norm", "normalization", "choice", "auto", ("auto", "none", "bn", "gnws"), engines=("torch",),
                   help="auto: none for the small net, BatchNorm for ResNet-50; bn: BatchNorm; gnws: GroupNorm + "
                        "weight-standardized convolutions (Ŵ = (W − mean) / std per filter)."),
        OptionSpec("compare", "compare with", "choice", "plain", ("plain", "optimizer", "none"),
                   help="plain: the same net without skips (y = F(x) instead of x + F(x)); optimizer: the same net "
                        "with the other optimizer."),
        OptionSpec("plain", "first run is plain (no skips)", "bool", False,
                   help="Removes the skip connections of the first (inspected) run: y = F(x); a new run from the "
                        "same init."),
        OptionSpec("optimizer", "optimizer", "choice", "adam", ("adam", "adamax", "sgd"),
                   help="Adam: θ ← θ − η·m̂ / (√v̂ + ε); AdaMax: the ∞-norm u ← max(β2·u, |g|) in place of √v̂; "
                        "SGD: θ ← θ − η·g."),
        _seed(),
        _batch(None, form=False, help="Examples B per iteration; empty: 32 for the small net, 1 for ResNet-50 (at "
                                      "most 16 there, on a CPU)."),
        _lr(), _data(),
    ),
    # lr 0.01, not min-char-rnn's 0.1: Adagrad's first steps move every weight by about ±lr, and at 0.1 a 2- or
    # 3-layer stack saturates its tanh and predicts only character frequencies (engines/labs/char_rnn.py)
    "char-rnn": text_options(128, 3, 25, 1, 0.01, "Gradient clipping before the update, entry by entry: g ← "
                             "min(max(g, −clip), clip), as min-char-rnn; tames exploding gradients through time.") + (
        OptionSpec("lr_decay", "learning-rate decay", "float", 1e-5, maximum=1.0, form=False, live=True,
                   help="Adagrad's rate decay: η_t = η / (1 + (t − 1)·lr_decay)."),),
    "lstm": (OptionSpec("cell", "cell", "choice", "lstm", ("lstm", "gru"),
                        help="lstm: gates i, f, o, candidate c̃, cell state c; gru: reset r, update z, candidate h̃ "
                             "(3 gate blocks instead of 4: a quarter fewer parameters); same text, size and seed for "
                             "both, to compare."),) + text_options(
        256, 4, 50, 32, 2e-3, "Gradient clipping before the update, by the global norm: g ← g·clip/‖g‖ when ‖g‖ > clip; "
                              "tames exploding gradients through time.") + (_threads(),),
}

# The optimizer lab's per-optimizer live hyperparameters ("adam.beta1"; a bare "beta1" sets every
# optimizer that has it); lr and momentum are the lab's own options above.
OPTIMIZER_HYPERPARAMS: tuple[OptionSpec, ...] = tuple(
    OptionSpec(key, key, "float", None, maximum=hi, live=True, form=False, cli=False, help=text)
    for key, hi, text in (
        ("beta1", 0.9999, "β1: the first-moment average m ← β1·m + (1 − β1)·g."),
        ("beta2", 0.99999, "β2: the second-moment average v ← β2·v + (1 − β2)·g²."),
        ("rho", 0.9999, "ρ: the running average of squared gradients E[g²] ← ρ·E[g²] + (1 − ρ)·g²."),
        ("alpha", 0.9999, "α: RMSprop's smoothing of squared gradients E[g²] ← α·E[g²] + (1 − α)·g²."),
        ("eps", 1e6, "ε: added to the denominator, θ ← θ − η·m / (√v + ε), so a tiny v cannot blow the step up."),
        ("weight_decay", 10.0, "Weight decay λ: θ ← θ − η·λ·θ each step, on top of the gradient step (AdamW: "
                               "decoupled)."),
    ))


def live_spec(lab: str, name: str) -> OptionSpec:
    """The declaration of live hyperparameter ``name`` of ``lab``, labelled by the name: "lr", "plain_lr"
    (a second run's lr), "adam.beta1" (the optimizer lab's, per optimizer)."""
    key = name.split(".")[-1]
    key = "lr" if key.endswith("_lr") else key
    extra = OPTIMIZER_HYPERPARAMS if lab == "optimizers" else ()
    specs = {o.key: o for o in LAB_OPTIONS.get(lab, ()) + extra if o.live}
    spec = specs.get(key) or OptionSpec(key, key, "float", None, maximum=1e6)
    return dataclasses.replace(spec, label=name, cli=False)


def live_help(lab: str | None = None) -> dict[str, str]:
    """name -> tooltip of each live hyperparameter of ``lab`` (every lab's when None)."""
    labs = [lab] if lab else list(LAB_OPTIONS)
    out: dict[str, str] = {}
    for name in labs:
        for o in LAB_OPTIONS.get(name, ()) + (OPTIMIZER_HYPERPARAMS if name == "optimizers" or lab is None else ()):
            if o.live:
                out.setdefault(o.key, o.help)
    return out


# settings of the app that every lab takes (the engine process's keyframe budgets, read by
# visualizer/worker.py session_budgets; File → Preferences is built from the first)
APP_OPTIONS: tuple[OptionSpec, ...] = (
    OptionSpec("keyframe_disk_gb", "disk space for going back (GB)", "float", 8.0, maximum=1024.0, form=False,
               unit="GB", help="Keyframes that do not fit in memory (512 MB) go to a cache folder on disk (at most half "
                       "its free space), removed when the app closes. More space keeps them closer together, so a jump back replays less; 0 "
                       "keeps them in memory only. Takes effect with the next run."),
    OptionSpec("keyframe_interval", "iterations between keyframes", "int", None, minimum=1, maximum=1 << 20,
               form=False, unit="iterations", help="Fixed spacing of keyframes (default: sized from what an iteration costs)."),
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


def read_value(mapping: dict, spec: OptionSpec):
    """One value as ``spec`` declares it: the declared default when absent (None, or "" for a
    number), else checked (StepwiseError with one sentence). The one validating helper."""
    value = mapping.get(spec.key)
    if value is None or (value == "" and spec.kind in ("int", "float")):
        return spec.default
    return spec.check(value)


def settings(config: dict, lab: str, engine: str | None = None) -> dict:
    """Every setting ``lab`` declares for ``engine``, as the trainer uses it: the config's value checked
    against its declaration (one clear sentence otherwise), or the declared default (None: the lab
    chooses). The one place a trainer reads its settings from."""
    return {spec.key: read_value(config, spec) for spec in lab_options(lab, engine)}


def lab_default(lab: str, key: str, engine: str | None = None):
    """The declared default of one setting (e.g. the CNN's channels, for a model file's check)."""
    return next(o.default for o in lab_options(lab, engine) if o.key == key)


def cli_options() -> dict[str, list[tuple[str, OptionSpec]]]:
    """key -> [(lab, its declaration)] for every setting with a command-line flag, in declaration order
    (main.py builds the flags and --help from it)."""
    out: dict[str, list[tuple[str, OptionSpec]]] = {}
    for lab, specs in list(LAB_OPTIONS.items()) + [("every lab", APP_OPTIONS)]:
        for spec in specs:
            if spec.cli:
                out.setdefault(spec.key, []).append((lab, spec))
    return out
