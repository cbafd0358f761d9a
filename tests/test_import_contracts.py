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


CIRCLE_PROBE = r"""
import json, sys
import grimp
graph = grimp.build_graph("engines", "visualizer", "widgets", "bench")
modules = sorted(graph.modules)
index = {m: i for i, m in enumerate(modules)}
edges = {m: sorted(graph.find_modules_directly_imported_by(m) & graph.modules) for m in modules}
# Tarjan's strongly connected components: a component of more than one module is an import circle
counter, stack, on_stack, low, order, circles = [0], [], set(), {}, {}, []
sys.setrecursionlimit(10000)
def visit(v):
    order[v] = low[v] = counter[0]; counter[0] += 1
    stack.append(v); on_stack.add(v)
    for w in edges[v]:
        if w not in order:
            visit(w); low[v] = min(low[v], low[w])
        elif w in on_stack:
            low[v] = min(low[v], order[w])
    if low[v] == order[v]:
        comp = []
        while True:
            w = stack.pop(); on_stack.discard(w); comp.append(w)
            if w == v:
                break
        if len(comp) > 1:
            circles.append(sorted(comp))
for m in modules:
    if m not in order:
        visit(m)
print(json.dumps(circles))
"""


def find_circles(root: Path) -> list:
    env = dict(os.environ, PYTHONPATH=str(root))
    out = subprocess.run([sys.executable, "-c", CIRCLE_PROBE], cwd=root, env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    return __import__("json").loads(out.stdout.strip().splitlines()[-1])


def test_no_import_circle_anywhere():
    """No module imports, directly or not, a module that imports it back (function-level imports
    count too, e.g. a widget's demo block)."""
    assert find_circles(ROOT) == []


def test_a_circle_is_found(tmp_path):
    for package in PACKAGES:
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    common = tmp_path / "widgets" / "common.py"
    common.write_text(common.read_text() + "\n\ndef _demo():\n    from .mlp_view import MLPView  # a circle\n")
    assert any("widgets.common" in c for c in find_circles(tmp_path))
