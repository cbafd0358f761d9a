"""The layer contracts in pyproject.toml ([tool.importlinter]) hold: `lint-imports` keeps every one.

bench > visualizer > widgets > engines; widgets import nothing of the engines; the engines import no
Qt and no app; inside engines, labs > shared modules > torch_engine > numpy_engine (a building
block never imports a lab), and the NumPy engine no torch. A second test breaks a copy of the
code on purpose and sees the contract break, so the first cannot pass by checking nothing.
"""
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("engines", "visualizer", "widgets", "bench")


def lint_imports(root: Path) -> subprocess.CompletedProcess:
    # the packages of `root`, not an installed copy of another checkout: root first on the path
    env = dict(os.environ, PYTHONPATH=str(root))
    script = Path(sys.executable).with_name("lint-imports")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "importlinter.cli"]
    return subprocess.run([*command, "--no-cache", "--config", str(root / "pyproject.toml")], cwd=root, env=env,
                          capture_output=True, text=True, timeout=120)


def test_every_import_contract_is_kept():
    out = lint_imports(ROOT)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "0 broken" in out.stdout, out.stdout


def test_an_upward_import_breaks_the_contract(tmp_path):
    for package in PACKAGES:
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    block = tmp_path / "engines" / "numpy_engine" / "layers.py"
    block.write_text(block.read_text() + "\nfrom ..labs import classifier  # a building block importing a lab\n")
    out = lint_imports(tmp_path)
    assert out.returncode != 0, out.stdout
    assert "engines.numpy_engine is not allowed to import engines.labs" in out.stdout, out.stdout
