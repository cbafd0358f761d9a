"""One module owns processes and threads (visualizer/worker.py); the host it runs is Qt-free."""
import ast
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OWNER = ROOT / "visualizer" / "worker.py"
# what starts a thread or a process
STARTERS = {"Thread", "Process", "Pool", "Pipe", "ThreadPoolExecutor", "ProcessPoolExecutor", "QThread",
            "QThreadPool", "Popen", "get_context"}


def starters_in(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Call):
            f = node.func
            name = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", "")
            if name in STARTERS:
                found.append(f"{path.relative_to(ROOT)}:{node.lineno} {name}")
    return found


def test_only_worker_starts_threads_or_processes():
    files = [p for d in ("engines", "visualizer", "widgets") for p in (ROOT / d).rglob("*.py")] + [ROOT / "main.py"]
    assert starters_in(OWNER), "the owner itself must be recognised"
    bad = [hit for p in files if p != OWNER for hit in starters_in(p)]
    assert not bad, f"threads or processes started outside visualizer/worker.py: {bad}"


def test_host_and_worker_load_no_qt():
    probe = "import sys, json, visualizer.host, visualizer.worker; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    modules = json.loads(out.stdout.strip().splitlines()[-1])
    assert not [m for m in modules if m.split(".")[0] in ("PySide6", "shiboken6", "pyqtgraph")]
