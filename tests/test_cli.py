"""The command line, as a user (or a later check) scripts it."""
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run(*args, timeout=180):
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    return subprocess.run([sys.executable, "main.py", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, env=env)


def test_list_labs():
    r = run("--list-labs")
    assert r.returncode == 0
    labs = r.stdout.split()
    assert "mlp" in labs


def test_headless_prints_json_lines_and_a_summary():
    r = run("--lab", "mlp", "--hidden", "32", "--headless", "--steps", "60")
    assert r.returncode == 0, r.stderr
    lines = [json.loads(line) for line in r.stdout.splitlines()]
    assert all("step" in line and "loss" in line for line in lines[:-1])
    assert any("heldout_accuracy" in line for line in lines[:-1])
    summary = lines[-1]
    assert summary["summary"] is True and summary["steps"] == 60
    assert 0.0 <= summary["heldout_accuracy"] <= 1.0


def test_bad_input_exits_2_with_one_clear_message(tmp_path):
    for args, words in [(["--lab", "nope", "--headless"], "Unknown lab"),
                        (["--hidden", "0", "--headless", "--steps", "1"], "out of range"),
                        (["--hidden", "-5", "--headless", "--steps", "1"], "out of range"),
                        (["--hidden", "abc", "--headless", "--steps", "1"], "not a whole number"),
                        (["--load", str(tmp_path / "missing.npz"), "--headless", "--steps", "1"], "does not exist"),
                        (["--bogus-option"], "unrecognized arguments")]:
        r = run(*args)
        assert r.returncode == 2, (args, r.stderr)
        assert words in r.stderr, (args, r.stderr)
        assert "Traceback" not in r.stderr
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"this is not a model")
    r = run("--load", str(junk), "--headless", "--steps", "1")
    assert r.returncode == 2 and "not a Stepwise model" in r.stderr


def test_save_then_load_gives_identical_metrics(tmp_path):
    model = tmp_path / "mlp.npz"
    r = run("--hidden", "32", "--headless", "--steps", "50", "--save", str(model))
    assert r.returncode == 0, r.stderr
    trained = json.loads(r.stdout.splitlines()[-1])
    r = run("--hidden", "32", "--headless", "--steps", "0", "--load", str(model))
    assert r.returncode == 0, r.stderr
    loaded = json.loads(r.stdout.splitlines()[-1])
    assert loaded["heldout_accuracy"] == trained["heldout_accuracy"]
    assert loaded["heldout_loss"] == trained["heldout_loss"]


def test_screenshot_writes_a_png(tmp_path):
    shot = tmp_path / "mlp.png"
    r = run("--lab", "mlp", "--hidden", "32", "--steps", "30", "--screenshot", str(shot))
    assert r.returncode == 0, r.stderr
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert shot.stat().st_size > 20000


def test_optimizer_lab_prints_one_line_per_optimizer_and_takes_a_negative_start():
    r = run("--lab", "optimizers", "--headless", "--surface", "rosenbrock", "--steps", "20", "--start", "-1,1.5")
    assert r.returncode == 0, r.stderr
    lines = [json.loads(line) for line in r.stdout.splitlines()]
    names = [line["optimizer"] for line in lines if "optimizer" in line]
    assert names == ["sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adadelta", "adam", "adamax", "adamw"]
    assert all({"x", "y", "loss"} <= set(line) for line in lines if "optimizer" in line)
    assert lines[-1]["start"] == [-1.0, 1.5]
