"""Every widget file runs alone with made-up data (``python -m widgets.cnn_view``), as pyqtgraph
tests its examples: each one in its own process, offscreen, saving a screenshot that must show
something (not one flat colour)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
# modules of widgets/ that hold no widget of their own (helpers, axes, the demo runner itself)
NOT_WIDGETS = {"__init__", "demo", "optimizer_common", "text_cells", "fake_data", "style"}
DEMOS = sorted(p.stem for p in (ROOT / "widgets").glob("*.py") if p.stem not in NOT_WIDGETS)
RUNS = [(name, []) for name in DEMOS] + [("optimizer_view", ["--network"])]


def test_every_widget_file_has_a_demo():
    missing = [name for name in DEMOS if "from .demo import" not in (ROOT / "widgets" / f"{name}.py").read_text()]
    assert not missing, f"these widget files cannot be run alone: {missing}"


@pytest.mark.parametrize("name, extra", RUNS, ids=[n + "".join(e) for n, e in RUNS])
def test_widget_runs_alone_and_draws(name, extra, tmp_path):
    png = tmp_path / f"{name}.png"
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    done = subprocess.run([sys.executable, "-m", f"widgets.{name}", *extra, "--screenshot", str(png)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    image = iio.imread(png)[..., :3]                                  # (H, W, 3)
    assert image.shape[0] >= 60 and image.shape[1] >= 200
    colours, counts = np.unique(image.reshape(-1, 3), axis=0, return_counts=True)
    assert len(colours) > 16 and counts.max() < 0.95 * counts.sum(), f"{name} drew (almost) nothing"
