"""Nothing lost, nothing unexplained: every bad model or session file is one sentence naming the
cause, every save is all-or-nothing (a full disk keeps the earlier file), no pickle ever runs."""
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from engines import StepwiseError
from engines.atomic import atomic_write, check_writable
from engines.labs import make_trainer
from engines.loading import check_session_tree
from engines.state_io import load_tree, save_tree
from tests.corpus import (EXPECT, LABS, SESSION_CHANGES, bad_model_files, current_line, forge_declared_size,
                          one_sentence, suffix, valid_saves)
from visualizer.session import Session

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def saves(tmp_path_factory):
    return valid_saves(tmp_path_factory.mktemp("saves"))


@pytest.mark.parametrize("name", [name for name, _ in LABS])
def test_every_bad_model_file_is_one_sentence_naming_the_cause(name, saves, tmp_path):
    config, valid = saves[name]
    other = saves["mlp-numpy" if name.startswith("char") else "char-rnn"][1]
    make_trainer(dict(config)).load(str(valid))  # the valid file loads
    broken = []
    for kind, path in bad_model_files(valid, other, tmp_path).items():
        try:
            make_trainer(dict(config)).load(str(path))
            broken.append(f"{kind}: loaded")
        except StepwiseError as e:
            if not (one_sentence(str(e)) and any(w in str(e) for w in EXPECT[kind])):
                broken.append(f"{kind}: {e}")
    assert not broken, broken


def test_no_pickle_or_torch_payload_ever_runs(saves, tmp_path, capfd):
    config, valid = saves["mlp-torch"]
    files = bad_model_files(valid, valid, tmp_path)
    for kind in ("pickle", "object-array", "torch-code"):
        with pytest.raises(StepwiseError):
            make_trainer(dict(config)).load(str(files[kind]))
    assert "this-should-never-run" not in capfd.readouterr().out


def test_an_unreadable_file_is_named_as_unreadable(saves, monkeypatch):
    import engines.loading
    config, valid = saves["mlp-numpy"]
    real_open = open

    def no_permission(path, *args, **kwargs):
        if Path(path) == valid:
            raise PermissionError(13, "Permission denied")
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(engines.loading, "open", no_permission, raising=False)  # as root, chmod 000 still reads
    with pytest.raises(StepwiseError, match="cannot be read \\(permission denied\\); check its permissions"):
        make_trainer(dict(config)).load(str(valid))


def test_a_declared_gigabyte_is_refused_from_the_headers_alone(tmp_path, monkeypatch):
    path = tmp_path / "forged.npz"
    with open(path, "wb") as f:
        np.savez_compressed(f, w=np.zeros(1 << 16, np.float32))
    forge_declared_size(path, 1 << 30)
    opened = []
    real_open = zipfile.ZipFile.open
    monkeypatch.setattr(zipfile.ZipFile, "open", lambda self, *a, **k: opened.append(a) or real_open(self, *a, **k))
    with pytest.raises(StepwiseError, match="declares 1.0 GB"):
        make_trainer({"lab": "mlp", "hidden": "16"}).load(str(path))
    assert not opened  # refused from the central directory: no entry was opened, nothing inflated


def test_generate_from_a_model_with_nan_weights_is_refused(saves, tmp_path):
    config, valid = saves["lstm-torch"]
    nan = bad_model_files(valid, valid, tmp_path)["nan"]
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    r = subprocess.run([sys.executable, "main.py", "--lab", "lstm", "--hidden", "16", "--load", str(nan),
                        "--generate", "20"], cwd=ROOT, capture_output=True, text=True, timeout=120, env=env)
    assert r.returncode == 2 and "NaN" in r.stderr and "Traceback" not in r.stderr
    assert r.stdout == ""


# ---------------------------------------------------------------------------- sessions
@pytest.fixture(scope="module")
def session_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("session") / "run.stepwise.npz"
    s = Session(make_trainer({"lab": "mlp", "hidden": "16"}))
    s.run(6)
    s.save(str(path), {"lab": "mlp", "hidden": "16", "seed": 0})
    return path


def rewritten_session(session_file, out, change):
    tree = load_tree(session_file)
    change(tree)
    save_tree(out, tree)
    return out


@pytest.mark.parametrize("change, words", SESSION_CHANGES)
def test_a_session_tree_of_the_wrong_shape_is_one_sentence(session_file, tmp_path, change, words):
    path = rewritten_session(session_file, tmp_path / "bad.stepwise.npz", change)
    with pytest.raises(StepwiseError) as e:
        check_session_tree(load_tree(path), path)
    assert words in str(e.value) and one_sentence(str(e.value))


def test_bad_session_files_name_the_cause(session_file, saves, tmp_path):
    check_session_tree(load_tree(session_file), session_file)   # the valid one passes
    _, model = saves["mlp-numpy"]
    (tmp_path / "empty.npz").write_bytes(b"")
    (tmp_path / "cut.npz").write_bytes(session_file.read_bytes()[:1000])
    (tmp_path / "folder.npz").mkdir()
    with open(tmp_path / "bomb.npz", "wb") as f:
        np.savez_compressed(f, __skeleton__=np.array("{}"), a0=np.zeros(1 << 22, np.float32))
    cases = {tmp_path / "bomb.npz": "zip bomb", tmp_path / "empty.npz": "empty",
             tmp_path / "cut.npz": "not a Stepwise session",
             tmp_path / "folder.npz": "is a folder", tmp_path / "missing.npz": "does not exist",
             model: "not a saved Stepwise session"}
    for path, words in cases.items():
        with pytest.raises(StepwiseError, match=words):
            load_tree(path)
    # a session whose text has gone: named as a missing text, not as a session of another version
    tree = load_tree(session_file)
    tree["config"] = {"lab": "char-rnn", "text": str(tmp_path / "gone.txt")}
    save_tree(tmp_path / "text-gone.stepwise.npz", tree)
    with pytest.raises(StepwiseError, match="text file .* does not exist"):
        Session.open(str(tmp_path / "text-gone.stepwise.npz"), make_trainer)


def test_the_cli_refuses_a_session_whose_cursor_is_past_its_record_at_once(session_file, tmp_path):
    path = rewritten_session(session_file, tmp_path / "far.stepwise.npz", lambda t: t.update(iteration=10**9))
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    for args in (["--headless", "--steps", "1"], ["--screenshot", str(tmp_path / "x.png")]):
        r = subprocess.run([sys.executable, "main.py", "--session", str(path), *args], cwd=ROOT,
                           capture_output=True, text=True, timeout=120, env=env)
        assert r.returncode == 2 and "beyond what it recorded" in r.stderr, r.stderr


def test_headless_session_goes_on_from_where_it_was(session_file):
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    r = subprocess.run([sys.executable, "main.py", "--headless", "--session", str(session_file), "--steps", "3"],
                       cwd=ROOT, capture_output=True, text=True, timeout=120, env=env)
    assert r.returncode == 0, r.stderr
    import json
    lines = [json.loads(line) for line in r.stdout.splitlines()]
    assert lines[-2]["step"] == 9   # 6 saved + 3 more, not a fresh run
    assert lines[-1]["steps"] == 3


# ---------------------------------------------------------------------------- writes
def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "model.npz"
    target.write_bytes(b"the earlier good file")

    def half_then_fail(f):
        f.write(b"half of the new")
        raise OSError(28, "No space left on device")

    with pytest.raises(StepwiseError, match="no space left on device \\(the earlier file there is unchanged\\)"):
        atomic_write(target, half_then_fail, "the model")
    assert target.read_bytes() == b"the earlier good file"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.npz"]


def test_writable_checks_name_the_cause(tmp_path):
    with pytest.raises(StepwiseError, match="folder .* does not exist"):
        check_writable(tmp_path / "nope" / "m.npz", "the model")
    with pytest.raises(StepwiseError, match="is a folder; give a file name"):
        check_writable(tmp_path, "the model")
    (tmp_path / "plain").write_text("x")
    with pytest.raises(StepwiseError, match="is a file, not a folder"):
        check_writable(tmp_path / "plain" / "m.npz", "the model")


def test_save_into_a_missing_folder_fails_before_training(tmp_path):
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    r = subprocess.run([sys.executable, "main.py", "--lab", "mlp", "--headless", "--steps", "100000",
                        "--save", str(tmp_path / "missing" / "m.npz")], cwd=ROOT, capture_output=True, text=True,
                       timeout=60, env=env)
    assert r.returncode == 2 and "does not exist; create it" in r.stderr
    assert r.stdout == ""  # not one iteration ran


FULL_DISK_SAVERS = [name for name, _ in LABS if name in ("mlp-numpy", "mlp-torch", "batch1", "resnet-torch",
                                                         "char-rnn", "lstm-torch")]


@pytest.fixture
def small_disk(tmp_path):
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("a small tmpfs needs root")
    mnt = tmp_path / "disk"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mnt)]).returncode:
        pytest.skip("tmpfs cannot be mounted here")
    yield mnt
    subprocess.run(["umount", str(mnt)])


def fill(folder: Path) -> None:
    """Take all the space that is left."""
    # unbuffered: a buffered writer keeps the bytes that did not fit and fails again when it closes
    # (whether it does depends on how the free space divides by the chunk, i.e. on the saved files' sizes)
    with open(folder / "filler", "wb", buffering=0) as f:
        try:
            while f.write(bytes(1 << 16)):
                pass
        except OSError:
            pass


def test_on_a_full_disk_every_save_keeps_the_earlier_file(small_disk):
    kept = []
    for name in FULL_DISK_SAVERS:
        config = dict(LABS)[name]
        t = make_trainer(dict(config))
        path = small_disk / f"{name}{suffix(config)}"
        t.save(str(path))
        before = path.read_bytes()
        fill(small_disk)
        Session(t).run(1)
        with pytest.raises(StepwiseError) as e:
            t.save(str(path))
        assert one_sentence(str(e.value)) and "no space left" in str(e.value), str(e.value)
        assert path.read_bytes() == before
        make_trainer(dict(config)).load(str(path))   # still loads
        (small_disk / "filler").unlink()
        kept.append(name)
    # a session, through save_tree
    s = Session(make_trainer({"lab": "mlp", "hidden": "16"}))
    path = small_disk / "run.stepwise.npz"
    s.save(str(path), {"lab": "mlp", "hidden": "16"})
    before = path.read_bytes()
    fill(small_disk)
    s.run(2)
    with pytest.raises(StepwiseError, match="no space left"):
        s.save(str(path), {"lab": "mlp", "hidden": "16"})
    assert path.read_bytes() == before and load_tree(path)["iteration"] == 0
    assert not [p for p in small_disk.iterdir() if p.name.endswith(".part")]
    assert kept == FULL_DISK_SAVERS


def test_the_engine_host_answers_bad_files_at_start_up_with_a_sentence(saves, tmp_path):
    from visualizer.host import SessionHost
    config, valid = saves["resnet-torch"]
    for kind, path in bad_model_files(valid, saves["char-rnn"][1], tmp_path).items():
        sent = []
        host = SessionHost(lambda k, p: sent.append((k, p)))
        assert not host.configure(dict(config, load=str(path)))   # as `--load` in the window starts it
        errors = [p for k, p in sent if k == "error"]
        assert len(errors) == 1 and one_sentence(errors[0]) and "Internal error" not in errors[0], (kind, errors)


def test_an_in_app_save_on_a_full_disk_is_a_sentence_and_keeps_the_run(small_disk):
    from visualizer.host import SessionHost
    sent = []
    host = SessionHost(lambda k, p: sent.append((k, p)))
    host.configure({"lab": "mlp", "engine": "torch", "hidden": "16"})
    path = small_disk / "model.pt"
    host.handle("save", str(path))
    before = path.read_bytes()
    fill(small_disk)
    host.handle("step_iteration")
    host.handle("save", str(path))
    errors = [p for k, p in sent if k == "error"]
    assert len(errors) == 1 and "no space left" in errors[0] and "Internal error" not in errors[0]
    assert path.read_bytes() == before and host.session.iteration == 1


def test_save_into_a_read_only_folder_fails_before_training_even_as_root(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("a read-only tmpfs needs root")
    mnt = tmp_path / "ro"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,ro", "tmpfs", str(mnt)]).returncode:
        pytest.skip("tmpfs cannot be mounted here")
    try:
        env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
        r = subprocess.run([sys.executable, "main.py", "--lab", "mlp", "--headless", "--steps", "100000",
                            "--save", str(mnt / "m.npz")], cwd=ROOT, capture_output=True, text=True, timeout=60,
                           env=env)
        assert r.returncode == 2 and "read-only file system" in r.stderr and r.stdout == ""
    finally:
        subprocess.run(["umount", str(mnt)])


def test_opening_a_session_past_its_record_in_the_window_is_refused_at_once(session_file, tmp_path):
    from visualizer.host import SessionHost

    def far(t):
        t.update(iteration=10**9)
        current_line(t).update(furthest=10**9)

    path = rewritten_session(session_file, tmp_path / "far.stepwise.npz", far)
    sent = []
    host = SessionHost(lambda k, p: sent.append((k, p)))
    assert host.configure({"lab": "mlp", "hidden": "16"})
    host.handle("open_session", str(path))
    errors = [p for k, p in sent if k == "error"]
    assert len(errors) == 1 and "beyond what it recorded" in errors[0]
    assert host.session.trainer.lab == "mlp" and host.replay is None   # the run before is kept, nothing replays
