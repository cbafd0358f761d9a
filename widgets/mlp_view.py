"""The MLP lab's view: the layer inspector, the held-out classification report, and the
loss landscape around the training path (computed in the engine process on request)."""
from __future__ import annotations

import numpy as np
from PySide6 import QtWidgets

from .common import explain_tabs
from .lab_view import LabView
from .landscape_view import LandscapeView
from .layer_inspector import InspectsEnds, LayerInspector
from .report_panel import ReportPanel, fake_report


class MLPView(InspectsEnds, LabView):
    block_data_tabs = ("Layer inspector",)
    def __init__(self, parent=None):
        super().__init__(parent)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.tabs = QtWidgets.QTabWidget()
        self.inspector = LayerInspector()
        self.inspector.wants_batch.connect(lambda: self.command.emit("batch", {}))
        self.report = ReportPanel()
        self.landscape = LandscapeView(title="Held-out loss around this run's training path")
        self.landscape.compute.connect(lambda args: self.command.emit("landscape", args))
        self.landscape.cancel.connect(lambda: self.cancel_task.emit("landscape"))
        self.tabs.addTab(self.inspector, "Layer inspector")
        self.tabs.addTab(self.report, "Classification report")
        self.tabs.addTab(self.landscape, "Loss landscape")
        explain_tabs(self.tabs)
        layout.addWidget(self.tabs)

    def set_snapshot(self, snap: dict) -> None:
        if self.inspector.isVisible():  # render only what is on screen
            self.inspector.set_snapshot(snap)
        else:
            self.inspector.pending = snap
        self.report.set_report(snap.get("view", {}).get("report"))
        self.landscape.set_cursor(snap.get("iteration", 0))

    def on_reply(self, name: str, reply: dict) -> None:
        self.batch_reply(name, reply)

    def on_task(self, name: str, progress: dict) -> None:
        if name != "landscape":
            return
        if progress.get("cancelled"):
            self.landscape.set_busy(False)
        elif progress.get("done"):
            self.landscape.set_result(progress, titles={"mlp": "training path", "cnn": "training path"})
        else:
            self.landscape.set_progress(float(progress.get("progress", 0.0)), progress.get("stage", ""))


def fake_digit() -> np.ndarray:
    """A made-up handwritten 7 (28, 28) in [0, 1], stroke blurred at the edges."""
    image = np.zeros((28, 28), np.float32)
    image[6:9, 7:21] = 1.0                                    # the bar
    for r in range(9, 23):                                    # the slanted stroke
        c = int(round(20 - (r - 9) * 0.55))
        image[r, c - 1:c + 2] = 1.0
    blurred = image.copy()
    blurred[1:-1, 1:-1] = np.maximum(image[1:-1, 1:-1], 0.5 * (image[:-2, 1:-1] + image[2:, 1:-1]))
    return blurred


def histogram(a: np.ndarray, bins: int = 40) -> dict:
    counts, edges = np.histogram(a, bins=bins)
    return {"counts": counts.astype(np.float64), "edges": edges}


def fake_snapshot(selected: int = 1, seed: int = 0) -> dict:
    """A snapshot as the MLP lab sends it after an iteration (784 → 32 → 16 → 10), made-up arrays."""
    rng = np.random.default_rng(seed)
    sizes = [784, 784, 32, 16, 10]            # dropout keeps 784; then dense1, dense2, output
    blocks = [{"name": "dropout", "label": "Dropout p=0.2", "kind": "dropout", "n_params": 0, "out_shape": (784,)},
              {"name": "dense1", "label": "Dense 784→32 + relu", "kind": "dense", "n_params": 25120, "out_shape": (32,)},
              {"name": "dense2", "label": "Dense 32→16 + relu", "kind": "dense", "n_params": 528, "out_shape": (16,)},
              {"name": "output", "label": "Dense 16→10", "kind": "dense", "n_params": 170, "out_shape": (10,)}]
    n_in, n_out = sizes[selected], sizes[selected + 1]
    act = rng.standard_normal(n_out).astype(np.float32)
    act = np.maximum(act, 0) if selected in (1, 2) else act
    grad = (rng.standard_normal(n_out) * 1e-2).astype(np.float32)
    w = (rng.standard_normal((n_in, n_out)) / np.sqrt(n_in)).astype(np.float32)
    weights = ({"weight_tiles": w.T.reshape(-1, 28, 28)} if n_in == 784 and selected
               else {"weight_matrix": w} if selected else {})
    probs = np.full(10, 0.03)
    probs[7] = 0.73
    data = {"forward": {"input_image": fake_digit(), "label": 7, "activation": {"vector": act},
                        "activation_hist": histogram(act), **weights},
            "loss": {"loss": float(-np.log(probs[7])), "probs": probs, "label": 7},
            "backward": {"grad_output": {"vector": grad}, "grad_hist": histogram(grad),
                         "grad_input": {"vector": (rng.standard_normal(n_in) * 1e-3).astype(np.float32)}}}
    if selected:
        dw = {k: v * 1e-2 for k, v in weights.items()}
        data["backward"].update(param_grad_norms=[0.4, 0.05], **{"grad_" + k: v for k, v in dw.items()})
        data["update"] = {"update_norms": [0.02, 0.003], "param_norms": [5.6, 0.4], "update_hist": histogram(w * 1e-3),
                          **{"update_" + k: -v * 0.05 for k, v in dw.items()}}
    history = [(it, {"loss": 2.3 * np.exp(-it / 150) + 0.2}) for it in range(1, 501)]
    return {"lab": "mlp", "engine": "numpy", "iteration": 500, "phase": 0, "phase_count": 10,
            "label": "update · SGD lr 0.05", "active_block": -1, "active_kind": "update", "playing": False,
            "ips": 0.0, "selected_block": selected, "blocks": blocks, "block_data": data,
            "view": {"hyperparams": {"lr": 0.05, "momentum": 0.9}, "report": fake_report()},
            "history": history, "history_reset": True, "keyframes": 3, "last_metrics": {"loss": 0.3}}


if __name__ == "__main__":  # python -m widgets.mlp_view [--screenshot PATH]
    from .demo import run_lab_view_demo
    run_lab_view_demo(MLPView, fake_snapshot())
