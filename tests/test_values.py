"""Every value checked against its one declaration (engines/options.py): the CLI and the settings
form give the same sentence, an option a lab does not use is refused, bad numbers fail at once."""
import pytest

import main
from engines import StepwiseError
from engines.labs import make_trainer
from engines.options import LAB_OPTIONS, check_config, form_options
from tests.corpus import BAD_VALUES, CLI_REFUSED, one_sentence
from visualizer.lab_views import lab_ui
from visualizer.host import SessionHost


@pytest.mark.parametrize("config, words", BAD_VALUES)
def test_bad_values_are_one_sentence(config, words):
    with pytest.raises(StepwiseError) as e:
        make_trainer(dict(config))
    assert words in str(e.value) and one_sentence(str(e.value))


@pytest.mark.parametrize("argv, words", CLI_REFUSED)
def test_the_cli_refuses_at_once_with_status_2(argv, words, capsys):
    assert main.main(argv) == 2
    err = capsys.readouterr().err
    assert words in err and one_sentence(err.removeprefix("stepwise: ")), err
    assert "Traceback" not in err


def test_the_form_and_the_cli_give_the_same_sentence(capsys):
    sent = []
    host = SessionHost(lambda kind, payload: sent.append((kind, payload)))
    host.configure({"lab": "batch1", "groups": 99})       # what the form's Apply sends
    form_error = next(p for k, p in sent if k == "error")
    assert main.main(["--lab", "batch1", "--groups", "99", "--headless"]) == 2
    assert capsys.readouterr().err.strip() == f"stepwise: {form_error}"
    assert "GroupNorm groups (--groups) 99 is out of range; give one from 1 to 64" in form_error


def test_the_form_shows_the_declared_options():
    for lab in LAB_OPTIONS:
        for engine in ("numpy", "torch"):
            declared = [o for o in form_options(lab, engine)]
            shown = [o for o in lab_ui(lab).options if not o.engines or engine in o.engines]
            assert shown == declared
    assert [o.key for o in form_options("resnet", "numpy") if o.key == "depth"][0] == "depth"


def test_the_window_may_carry_settings_the_lab_does_not_use():
    # switching labs keeps the seed and the data: not strict, so no refusal (the CLI is strict)
    assert check_config({"lab": "char-rnn", "data": "shipped", "seed": 3})["seed"] == 3
    with pytest.raises(StepwiseError, match="does not use --data"):
        check_config({"lab": "char-rnn", "data": "shipped"}, strict=True)


def test_resnet_batch_size_zero_is_not_turned_into_32():
    with pytest.raises(StepwiseError, match="batch size"):
        make_trainer({"lab": "resnet", "batch_size": 0})


def test_the_apps_own_settings_are_taken_by_every_lab():
    from engines.labs import LABS
    for lab, info in LABS.items():
        for engine in info.engines:
            checked = check_config({"lab": lab, "engine": engine, "keyframe_disk_gb": 1, "keyframe_interval": 8},
                                   strict=True)
            assert checked["keyframe_disk_gb"] == 1.0 and checked["keyframe_interval"] == 8
