"""The one option schema (engines/options.py): every declared setting reaches its trainer, every bad
value gets one clear sentence (a StepwiseError; on the CLI exit status 2), and the CLI, --help and the
live editors are built from the declarations."""
import numpy as np
import pytest
import torch

import main
from engines import StepwiseError
from engines.labs import LABS, make_trainer
from engines.numpy_engine.optimizers import OPTIMIZERS
from engines.options import APP_OPTIONS, LAB_OPTIONS, OptionSpec, lab_options, live_help, settings
from tests.corpus import one_sentence
from visualizer.host import session_budgets

SHAKESPEARE = "assets/text/tinyshakespeare.txt"


@pytest.fixture(scope="module")
def text_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("text") / "excerpt.txt"
    path.write_text(open(SHAKESPEARE, encoding="utf-8").read()[:30_000], encoding="utf-8")
    return str(path)


@pytest.fixture(scope="module")
def cnn_model(tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "cnn.npz"
    make_trainer({"lab": "cnn", "channels": "4,8", "batch_size": 8}).save(str(path))
    return str(path)


def torch_group(t, key):
    return float(t.optimizer.param_groups[0][key])


# (lab, engine): every setting that engine declares, at a value that is not its default, and how the
# trainer shows it uses the value. "data": "full" downloads 70,000 images, so it is left out (and only it).
def cases(text_file, cnn_model):
    classifier = {
        "batch_size": (8, lambda t: t.batch_size == 8 and len(t.next_batch()[1]) == 8),
        "seed": (5, lambda t: t.seed == 5),
    }
    mlp = {"hidden": ("16,8", lambda t: [b.out_shape for b in t.blocks()][-3:] == [(16,), (8,), (10,)]),
           "activation": ("tanh", lambda t: t.activation == "tanh"),
           "dropout": (0.1, lambda t: t.dropout == 0.1),
           **classifier}
    cnn = {"channels": ("4,8", lambda t: t.blocks()[0].out_shape == (4, 28, 28)),
           "activation": ("sigmoid", lambda t: t.activation == "sigmoid"),
           "digits": ("0-4", lambda t: t.digits == (0, 1, 2, 3, 4) and set(np.unique(t.data.train_y)) == {0, 1, 2, 3, 4}),
           "init": (cnn_model, lambda t: t.init_report is not None and "conv1" in t.init_report["loaded"]),
           "freeze": ("conv1", lambda t: t.frozen == {"conv1"} and t.hyperparams()["freeze:conv1"] == 1.0),
           "normalize": (True, lambda t: t.normalize and 0.05 < t.input_mean < 0.3),
           "augment": ("shift,rotate", lambda t: tuple(t.augment) == ("shift", "rotate")),
           "shift": (1, lambda t: t.shift == 1),
           "decay": (500, lambda t: t.decay == 500 and t.current_lr(500) == pytest.approx(t.base_lr / 2)),
           **classifier}
    for lab in (mlp, cnn):
        lab["lr"] = (0.03, lambda t: t.hyperparams()["lr"] == 0.03)
    numpy_opt = {"optimizer": ("nesterov", lambda t: type(t.optimizer) is OPTIMIZERS["nesterov"]),
                 "momentum": (0.8, lambda t: t.optimizer.momentum == 0.8)}
    torch_opt = {"optimizer": ("nesterov", lambda t: t.optimizer_name == "nesterov"
                               and t.optimizer.param_groups[0]["nesterov"]),
                 "momentum": (0.8, lambda t: torch_group(t, "momentum") == 0.8),
                 "threads": (2, lambda t: torch.get_num_threads() == 2)}
    batch1 = {"batch_size": (2, lambda t: t.batch_size == 2),
              "groups": (2, lambda t: t.groups == 2 and "GroupNorm(2" in repr(t.runners["gnws"].net)),
              "decay": (100, lambda t: t.decay == 100),
              "shift": (2, lambda t: t.shift == 2),
              "seed": (5, lambda t: t.seed == 5),
              "channels": ("4,8", lambda t: t.channels == (4, 8)),
              "lr": (0.02, lambda t: t.base_lr == 0.02 and float(t.optimizers["bn"].param_groups[0]["lr"]) == 0.02),
              "momentum": (0.5, lambda t: float(t.optimizers["gnws"].param_groups[0]["momentum"]) == 0.5),
              "threads": (2, lambda t: torch.get_num_threads() == 2)}
    surface = {"surface": ("quadratic", lambda t: t.surface.id == "quadratic"),
               "start": ("-1,0.5", lambda t: tuple(t.start) == (-1.0, 0.5)),
               "condition": (20.0, lambda t: t.surface.condition == 20.0),
               "angle": (30.0, lambda t: t.surface.angle == 30.0),
               "optimizers": ("sgd,momentum", lambda t: t.names == ("sgd", "momentum")),
               "seed": (5, lambda t: t.seed == 5),
               "lr": (0.01, lambda t: all(o.lr == 0.01 for o in t.optimizers)),
               "momentum": (0.5, lambda t: t.optimizers[1].momentum == 0.5)}
    network = {"surface": ("network", lambda t: type(t).__name__ == "NetworkRace"),
               "optimizer": ("adam", lambda t: t.names == ("adam",)),
               "batch_size": (8, lambda t: t.batch_size == 8)}
    resnet = {"compare": ("optimizer", lambda t: [r.optimizer_name for r in t.runs] == ["sgd", "adam"]),
              "plain": (True, lambda t: t.plain and not t.runs[0].skip),
              "optimizer": ("sgd", lambda t: t.optimizer_name == "sgd"),
              "seed": (5, lambda t: t.seed == 5),
              "batch_size": (4, lambda t: t.batch_size == 4),
              "lr": (0.005, lambda t: t.hyperparams()["lr"] == 0.005)}
    resnet_torch = {**resnet, "depth": (14, lambda t: t.depth == 14), "norm": ("gnws", lambda t: t.norm == "gnws")}
    resnet_numpy = {**resnet, "depth": (6, lambda t: t.depth == 6 and len(t.blocks()) == 4)}
    text = {"hidden": (8, lambda t: t.hidden == 8),
            "depth": (1, lambda t: t.depth == 1),
            "seq_len": (10, lambda t: t.seq_len == 10 and len(t.chunks) == 10),   # one backward phase per step
            "batch_size": (3, lambda t: t.batch_size == 3 and t.streams.shape[0] == 3),
            "text": (text_file, lambda t: len(t.data.train) < 30_000),
            "seed": (5, lambda t: t.seed == 5),
            "lr": (0.004, lambda t: t.hyperparams()["lr"] == 0.004),
            "clip": (2.0, lambda t: t.hyperparams()["clip"] == 2.0),
            "eval_chars": (500, lambda t: t.eval_chars == 500)}
    return {
        ("mlp", "numpy"): {**mlp, **numpy_opt},
        ("mlp", "torch"): {**mlp, **torch_opt},
        ("cnn", "numpy"): {**cnn, **numpy_opt},
        ("cnn", "torch"): {**cnn, **torch_opt},
        ("batch1", "torch"): batch1,
        ("batch1+router", "torch"): {"router": (True, lambda t: type(t).__name__ == "RouterTrainer")},
        ("optimizers", "numpy"): surface,
        ("optimizers+network", "numpy"): network,
        ("resnet", "torch"): resnet_torch,
        ("resnet+50", "torch"): {"arch": ("resnet50", lambda t: t.arch == "resnet50" and t.depth == 50
                                          and "depth" not in t.settings()),   # the form keeps the small net's
                                 "compare": ("none", lambda t: len(t.runs) == 1)},
        ("resnet", "numpy"): resnet_numpy,
        ("char-rnn", "numpy"): {**text, "lr_decay": (1e-3, lambda t: t.hyperparams()["lr_decay"] == 1e-3)},
        ("lstm", "torch"): {**text, "cell": ("gru", lambda t: t.cell == "gru"),
                            "threads": (2, lambda t: torch.get_num_threads() == 2)},
        ("lstm", "numpy"): {**text, "cell": ("gru", lambda t: t.cell == "gru")},
    }


LEFT_OUT = {"data"}   # "full": a 70,000-image download


def test_every_declared_option_has_a_case():
    table = cases("x", "y")
    for lab, info in LABS.items():
        for engine in info.engines:
            declared = {o.key for o in lab_options(lab, engine)} - {o.key for o in APP_OPTIONS} - LEFT_OUT
            covered = set().union(*(set(c) for (name, e), c in table.items() if name.split("+")[0] == lab
                                    and e == engine))
            assert declared == covered, (lab, engine, declared ^ covered)


@pytest.mark.parametrize("case", list(cases("x", "y")), ids=lambda c: "-".join(c))
def test_every_option_reaches_the_trainer(case, text_file, cnn_model):
    lab, engine = case[0].split("+")[0], case[1]
    options = cases(text_file, cnn_model)[case]
    config = {"lab": lab, "engine": engine, **{k: v for k, (v, _) in options.items()}}
    config.setdefault("hidden", "16" if lab == "mlp" else config.get("hidden"))
    if lab == "cnn" and "init" in options:
        config["channels"] = "4,8"    # the saved model's
    for key, (value, _) in options.items():
        spec = next(o for o in lab_options(lab, engine) if o.key == key)
        assert str(value) != str(spec.default), (case, key, "not a non-default value")
    threads = torch.get_num_threads()
    try:
        t = make_trainer({k: v for k, v in config.items() if v is not None})
        for key, (value, uses) in options.items():
            assert uses(t), (case, key, value)
    finally:
        torch.set_num_threads(threads)


def test_the_apps_options_reach_the_session():
    assert session_budgets({"keyframe_disk_gb": 0.5, "keyframe_interval": 16}) == {
        "disk_budget_bytes": 1 << 29, "interval": 16}


# ---- bad values: one sentence, from the trainer and from the CLI (status 2)
def bad_values(spec: OptionSpec):
    """Values the declaration refuses: out of range on each side, the wrong type."""
    if spec.kind in ("int", "float"):
        out = [spec.maximum * 2 + 1, "many"]
        if spec.minimum > -1e9:
            out.append(spec.minimum - 1 if not spec.above else spec.minimum)
        if spec.kind == "int":
            out.append(spec.minimum + 0.5)
        if spec.step > 1:
            out.append(spec.minimum + 1)
        return out
    if spec.kind == "choice":
        return ["no-such-" + spec.key]
    if spec.kind == "bool":
        return ["yes"]
    return [3.5]   # text: a number where text belongs


every_spec = [(lab, spec) for lab, specs in LAB_OPTIONS.items() for spec in specs]


@pytest.mark.parametrize("lab, spec", every_spec, ids=[f"{lab}-{s.key}-{s.engines}" for lab, s in every_spec])
def test_every_bad_value_is_one_clear_sentence(lab, spec):
    engine = spec.engines[0] if spec.engines else LABS[lab].engines[0]
    for value in bad_values(spec):
        with pytest.raises(StepwiseError) as e:
            settings({spec.key: value}, lab, engine)
        message = str(e.value)
        assert one_sentence(message) and spec.label in message and spec.flag in message, message


@pytest.mark.parametrize("argv, words", [
    (["--lab", "cnn", "--shift", "9"], "random shift (--shift) 9 is out of range; give one from 0 to 4"),
    (["--lab", "cnn", "--decay", "ten"], "lr halves after (--decay) 'ten' is not a whole number"),
    (["--lab", "resnet", "--depth", "21"], "give one from 8 to 110 in steps of 6"),
    (["--lab", "resnet", "--engine", "numpy", "--depth", "7"], "from 4 to 60 in steps of 2"),
    (["--lab", "char-rnn", "--lr-decay", "2"], "learning-rate decay (--lr-decay) 2 is out of range"),
    (["--lab", "mlp", "--activation", "cube"], "Unknown activation 'cube' (--activation)"),
    (["--lab", "mlp", "--data", "some"], "Unknown MNIST data 'some' (--data)"),
    (["--lab", "lstm", "--cell", "rnn"], "Unknown cell 'rnn' (--cell)"),
    (["--lab", "batch1", "--groups", "0"], "GroupNorm groups (--groups) 0 is out of range; give one from 1 to 64"),
])
def test_bad_values_on_the_cli_exit_with_status_2(argv, words, capsys):
    assert main.main(argv + ["--headless", "--steps", "1"]) == 2
    err = capsys.readouterr().err
    assert words in err and one_sentence(err.removeprefix("stepwise: ").strip()), err


def test_cli_values_arrive_as_the_lab_reads_them(capsys):
    # text on the command line, converted by the lab's own declaration: --hidden is sizes for the MLP ...
    assert main.main(["--lab", "mlp", "--hidden", "12", "--batch-size", "4", "--headless", "--steps", "1"]) == 0
    assert '"steps": 1' in capsys.readouterr().out
    # ... and one whole number for the text labs; "--decay 1000.0" still means 1000 iterations
    args = main.build_parser(list(LABS)).parse_args(["--lab", "cnn", "--decay", "1000.0", "--seed", "3"])
    config = main.check_args(args, main.config_from_args(args), [])
    assert config["decay"] == 1000 and isinstance(config["decay"], int) and config["seed"] == 3


def test_help_is_built_from_the_declarations(capsys):
    with pytest.raises(SystemExit):
        main.main(["--help"])
    out = " ".join(capsys.readouterr().out.split())
    for lab, specs in LAB_OPTIONS.items():
        for spec in specs:
            assert spec.flag in out
    assert "Learning-rate schedule η_t = η / (1 + t / decay)" in out
    assert "from 8 to 110 in steps of 6" in out and "default 20" in out
    assert set(main.CONFIG_KEYS) == {"lab", "engine"} | {o.key for specs in LAB_OPTIONS.values() for o in specs} | {
        o.key for o in APP_OPTIONS}


def test_every_setting_has_one_sentence_of_help_and_live_ones_are_declared():
    for lab, specs in LAB_OPTIONS.items():
        for spec in specs:
            assert len(spec.help) > 20 and spec.help.endswith("."), (lab, spec.key)
    for lab in LAB_OPTIONS:   # every live hyperparameter a trainer offers has its declaration's help
        t_live = {"mlp": ["lr", "momentum"], "cnn": ["lr", "momentum"], "batch1": ["lr"], "resnet": ["lr"],
                  "char-rnn": ["lr", "lr_decay", "clip"], "lstm": ["lr", "clip"],
                  "optimizers": ["lr", "momentum", "beta1", "beta2", "rho", "eps", "weight_decay"]}[lab]
        assert set(t_live) <= set(live_help(lab)), lab
    assert "‖g‖" in live_help("lstm")["clip"] and "‖g‖" not in live_help("char-rnn")["clip"]


@pytest.mark.parametrize("config, name, bad", [
    ({"lab": "mlp", "hidden": "8"}, "lr", -1.0),
    ({"lab": "mlp", "engine": "torch", "hidden": "8"}, "momentum", 1.5),
    ({"lab": "cnn", "channels": "4,8"}, "lr", float("nan")),
    ({"lab": "batch1"}, "lr", 0.0),
    ({"lab": "resnet", "depth": 8}, "plain_lr", -2.0),
    ({"lab": "char-rnn", "hidden": 8}, "lr_decay", 2.0),
    ({"lab": "lstm", "hidden": 8}, "clip", 0.0),
    ({"lab": "optimizers"}, "adam.beta1", 1.0),
])
def test_live_values_are_checked_by_their_declaration(config, name, bad):
    t = make_trainer(config)
    before = t.hyperparams()
    with pytest.raises(StepwiseError) as e:
        t.set_hyperparam(name, bad)
    message = str(e.value)
    assert one_sentence(message) and message.startswith(f"The {name} ") and ("range" in message or "cannot be" in
                                                                          message), message
    assert t.hyperparams() == before or all(v == before[k] or v != v for k, v in t.hyperparams().items())
