"""Made-up data shaped like the engine's, for the widgets' demos and tests (python -m widgets.X):
the MLP lab's snapshot (a drawn 7) and the text labs' snapshot and streamed generation. It imports
no view, so a view's demo can use another view's data without an import circle."""
from __future__ import annotations

import numpy as np

from .report_panel import fake_report


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


def fake_text_snapshot(cell: str = "lstm", T: int = 30, H: int = 24, depth: int = 2, phase_step: int | None = 10) -> dict:
    """A synthetic snapshot shaped like the engine's (used by the tests and the demo)."""
    rng = np.random.default_rng(0)
    chars = ("First Citizen:\nBefore we proceed any further" * 3)[:T]
    sig = lambda x: 1 / (1 + np.exp(-x))  # noqa: E731
    acts = {"h": np.tanh(rng.standard_normal((T, H))).astype(np.float32)}
    if cell == "lstm":
        acts.update({k: sig(rng.standard_normal((T, H))).astype(np.float32) for k in ("i", "f", "o")})
        acts["g"] = np.tanh(rng.standard_normal((T, H))).astype(np.float32)
        acts["c"] = (rng.standard_normal((T, H)) * 2).astype(np.float32)
    if cell == "gru":
        acts.update({k: sig(rng.standard_normal((T, H))).astype(np.float32) for k in ("r", "z")})
        acts["n"] = np.tanh(rng.standard_normal((T, H))).astype(np.float32)
    dh_norm = np.exp(-np.linspace(0, 4, T))[::-1].copy()
    dh = rng.standard_normal((T, H)).astype(np.float32) * dh_norm[:, None].astype(np.float32)
    if phase_step is not None:
        dh_norm[:phase_step] = np.nan
        dh[:phase_step] = 0
    vocab = "".join(sorted(set(chars + "ROMEO")))
    base = {"chars": chars, "targets": chars[1:] + "e", "cell": cell, "layer": 0, "depth": depth}
    back = dict(base, dh=dh, dh_norm=dh_norm, step=phase_step or 0)
    if cell == "lstm":
        back["dc"] = dh * 2
        back["dc_norm"] = dh_norm * 2
    # parameters per layer of N units reading d inputs: RNN N·d + N² + N, GRU 3(…) + N, LSTM 4(…)
    simple = [H * (len(vocab) if l == 0 else H) + H * H + H for l in range(depth)]
    counts = {"rnn": simple, "gru": [3 * n + H for n in simple], "lstm": [4 * n for n in simple]}
    return {
        "iteration": 12, "phase": 20, "selected_block": 0, "active_kind": "backward", "active_block": 0,
        "history_reset": False, "last_metrics": {"loss": 2.1, "clipped": 1.0, "grad_norm": 7.5},
        "history": [(k, {"loss": 4.0 - k / 10, "grad_norm": 3.0 + k % 4}) for k in range(1, 13)]
        + [(10, {"loss": 3.0, "grad_norm": 4.0, "heldout_loss_per_char": 3.2})],
        "block_data": {"forward": dict(base, acts=acts),
                       "loss": dict(base, nll=rng.uniform(0.1, 4.0, T), loss=2.0),
                       "backward": back},
        "view": {"cell": cell, "depth": depth, "hidden": H, "vocab": vocab,
                 "source": "Tiny Shakespeare (1,115,394 characters)", "seq_len": T, "batch_size": 32, "epoch": 0,
                 "epoch_fraction": 0.25, "sample": {"text": "ROMEO:\nWhat say you?", "iteration": 12},
                 "hyperparams": {"lr": 0.002, "clip": 5.0}, "clip_mode": "norm",
                 "parameter_counts": {"layers": counts[cell], "total": sum(counts[cell]) + len(vocab) * (H + 1),
                                      "rnn_layers": simple, "gru_layers": counts["gru"],
                                      "lstm_layers": counts["lstm"]}},
    }

def fake_stream(cell: str = "lstm", depth: int = 2, H: int = 24, prompt: str = "ROMEO:",
                text: str = "\nWhat say you to this?") -> list[dict]:
    """Task progress of "generate_stream" as the engine sends it: the prompt, then chunks of text,
    each character with every layer's gates (depth, H) when the model read it; then done."""
    rng = np.random.default_rng(1)
    names = {"lstm": ("i", "f", "g", "o", "c", "h"), "gru": ("r", "z", "n", "h"), "rnn": ("h",)}[cell]

    def acts(n):
        out = {}
        for name in names:
            a = rng.standard_normal((n, depth, H))
            out[name] = (1 / (1 + np.exp(-a)) if name in "ifozr" else np.tanh(a)).astype(np.float32)
        return out
    chunks = [{"text": prompt, "activations": acts(len(prompt)), "prompt": True, "start": 0}]
    for k in range(0, len(text), 4):
        piece = text[k:k + 4]
        chunks.append({"text": piece, "activations": acts(len(piece)), "prompt": False, "start": len(prompt) + k})
    return chunks + [{"done": True, "length": len(text)}]
