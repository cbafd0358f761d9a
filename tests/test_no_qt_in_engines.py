"""engines/ is the math: importing it (every submodule, every lab) must load no Qt and no app code."""
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

FORBIDDEN = ("PySide6", "shiboken6", "pyqtgraph", "superqt", "visualizer", "widgets", "PyQt5", "PyQt6", "qtpy")

PROBE = r"""
import importlib, json, pkgutil, sys
import engines
imported = ["engines"]
failed = {}
for info in pkgutil.walk_packages(engines.__path__, "engines.", onerror=lambda name: failed.setdefault(name, "walk")):
    try:
        importlib.import_module(info.name)
        imported.append(info.name)
    except Exception as e:  # reported, and the test fails on it
        failed[info.name] = f"{type(e).__name__}: {e}"
print(json.dumps({"imported": imported, "failed": failed, "modules": sorted(sys.modules)}))
"""


def test_engines_import_no_qt():
    out = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert not result["failed"], f"engines submodules failed to import: {result['failed']}"
    imported = set(result["imported"])
    # the core and every lab listed in the registry were really imported
    from engines.labs import LABS
    expected = {"engines.trainer", "engines.data", "engines.numpy_engine.ops", "engines.labs"}
    expected |= {module for info in LABS.values() for module in info.modules}
    assert expected <= imported, f"not imported: {sorted(expected - imported)}"
    bad = [m for m in result["modules"] if m.split(".")[0] in FORBIDDEN]
    assert not bad, f"importing engines loaded {bad}"
