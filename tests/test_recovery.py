"""After the engine process dies, nothing is lost for good: the window restarts it, from the last
autosave if there is one; a crashed window's autosave is offered on the next start."""
import os
import signal

import pytest
from PySide6 import QtWidgets

from engines import StepwiseError
from engines.labs import make_trainer
from engines.state_io import load_tree
from visualizer.main_window import MainWindow
from visualizer.session import Session
from visualizer.host import SessionHost, autosave_path, leftover_autosaves
from widgets.style import configure_pyqtgraph

CONFIG = {"lab": "mlp", "seed": 0, "hidden": "16"}


@pytest.fixture
def autosave_folder(tmp_path, monkeypatch):
    folder = tmp_path / "autosave"
    monkeypatch.setenv("STEPWISE_AUTOSAVE", str(folder))
    monkeypatch.setenv("STEPWISE_AUTOSAVE_EVERY", "0.2")
    return folder


def wait_for(qtbot, window, predicate, timeout=30000):
    qtbot.waitUntil(lambda: window.last_snapshot is not None and predicate(window.last_snapshot), timeout=timeout)


def autosaved_iteration(path) -> int | None:
    try:
        return load_tree(path)["iteration"] if path.is_file() else None
    except StepwiseError:
        return None


def button(box: QtWidgets.QMessageBox, text: str) -> QtWidgets.QAbstractButton:
    return next(b for b in box.buttons() if b.text() == text)


def test_killed_engine_restarts_from_the_last_autosave(qtbot, autosave_folder):
    configure_pyqtgraph()
    w = MainWindow(dict(CONFIG))
    qtbot.addWidget(w)
    w.show()
    wait_for(qtbot, w, lambda s: True)
    w.client.send("run_to", 30)
    wait_for(qtbot, w, lambda s: s["iteration"] == 30 and not s["playing"])
    own = autosave_path()
    qtbot.waitUntil(lambda: autosaved_iteration(own) == 30, timeout=20000)  # written every 0.2 s of new history
    os.kill(w.client.process.pid, signal.SIGKILL)
    qtbot.waitUntil(lambda: w.restart_box is not None and w.restart_box.isVisible(), timeout=10000)
    assert "stopped unexpectedly" in w.restart_box.text()
    w.last_snapshot = None
    button(w.restart_box, "Restart from the last autosave").click()
    wait_for(qtbot, w, lambda s: s["iteration"] == 30)  # replayed from its keyframes to where it was
    assert w.last_snapshot["furthest"] == 30
    # the restarted engine is a new process that takes commands
    w.client.send("step_iteration")
    wait_for(qtbot, w, lambda s: s["iteration"] == 31)
    w.close()
    assert not own.exists()  # a clean close leaves nothing to recover


def test_after_a_death_the_lab_menu_restart_and_open_session_work(qtbot, autosave_folder, tmp_path):
    configure_pyqtgraph()
    w = MainWindow(dict(CONFIG), offer_recovery=False)
    qtbot.addWidget(w)
    w.show()
    wait_for(qtbot, w, lambda s: True)
    os.kill(w.client.process.pid, signal.SIGKILL)
    qtbot.waitUntil(lambda: w.client.dead, timeout=10000)
    w.switch_lab("optimizers")  # Lab → a lab: a new engine process
    qtbot.waitUntil(lambda: w.lab == "optimizers", timeout=30000)
    os.kill(w.client.process.pid, signal.SIGKILL)
    qtbot.waitUntil(lambda: w.restart_box is not None and w.restart_box.isVisible() and w.client.dead,
                    timeout=10000)
    w.last_snapshot = None
    button(w.restart_box, "Restart").click()
    wait_for(qtbot, w, lambda s: s["lab"] == "optimizers" and s["iteration"] == 0)
    session = Session(make_trainer(dict(CONFIG)))   # File → Open session after a death
    session.run(4)
    saved = tmp_path / "run.stepwise.npz"
    session.save(str(saved), dict(CONFIG))
    os.kill(w.client.process.pid, signal.SIGKILL)
    qtbot.waitUntil(lambda: w.client.dead, timeout=10000)
    w.client.send("open_session", str(saved))
    wait_for(qtbot, w, lambda s: s["lab"] == "mlp" and s["iteration"] == 4)
    w.close()


def test_a_crashed_windows_autosave_is_offered_and_reopened(qtbot, autosave_folder, tmp_path):
    session = Session(make_trainer(dict(CONFIG)))
    session.run(7)
    autosave_folder.mkdir()
    dead_pid = 2**22 + 12345  # above any pid this machine hands out
    left = autosave_path(dead_pid)
    session.save(str(left), dict(CONFIG))
    assert leftover_autosaves() == [left]
    configure_pyqtgraph()
    w = MainWindow({"lab": "optimizers"})
    qtbot.addWidget(w)
    w.show()
    qtbot.waitUntil(lambda: w.recovery_box is not None and w.recovery_box.isVisible(), timeout=10000)
    button(w.recovery_box, "Reopen").click()
    wait_for(qtbot, w, lambda s: s["lab"] == "mlp" and s["iteration"] == 7)
    assert not left.exists() and leftover_autosaves() == []
    w.close()


def test_host_autosaves_in_the_background_only_with_new_history(tmp_path):
    sent = []
    path = tmp_path / "auto.stepwise.npz"
    host = SessionHost(lambda kind, payload: sent.append((kind, payload)), autosave=path, autosave_every=0.0)
    assert host.configure(dict(CONFIG))
    host.handle("run_to", 5)
    while host.playing:
        host.tick()
    host.wait_autosave()
    assert path.is_file()
    first = path.stat().st_mtime_ns
    assert not host.maybe_autosave()  # nothing new: no write
    host.handle("step_phase")
    assert not host.maybe_autosave()  # mid-iteration: waits for the boundary
    host.handle("step_iteration")
    assert host.maybe_autosave()
    host.wait_autosave()
    assert path.stat().st_mtime_ns >= first
    opened, _ = Session.open(str(path), make_trainer)
    assert opened.iteration == 6
    host.discard_autosave()
    assert not path.exists()


def test_a_failed_autosave_says_so_once_and_play_goes_on(tmp_path):
    sent = []
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    host = SessionHost(lambda kind, payload: sent.append((kind, payload)), autosave=blocker / "auto.npz",
                       autosave_every=0.0)
    host.configure(dict(CONFIG))
    for _ in range(3):
        host.handle("step_iteration")
        host.maybe_autosave()
        host.wait_autosave()
    failures = [p for k, p in sent if k == "info" and "Autosave failed" in p]
    assert len(failures) == 1 and "Traceback" not in failures[0]
    assert host.session.iteration == 3
