"""The LSTM lab on the Torch engine (``cell: gru`` for the GRU): autograd through the hand-written
cells of engines/torch_engine/lstm.py and gru.py, trained as the NumPy lab (engines/labs/lstm.py)."""
from __future__ import annotations

import math

from ..loading import write_model
from .classifier_torch import load_optimizer_state, optimizer_state
from .lstm import GRUSettings, LSTMSettings, parse_cell
from .text_common import TextTrainer


class TorchLSTMTrainer(LSTMSettings, TextTrainer):
    engine = "torch"

    def build_model(self):
        import torch

        from ..torch_engine.gru import StagedGRU
        from ..torch_engine.lstm import StagedLSTM
        self.torch = torch
        torch.set_num_threads(self.options["threads"] or 1)   # one thread: the other core stays with the UI
        dtype = torch.float64 if self.config.get("dtype") == "float64" else torch.float32
        gen = torch.Generator().manual_seed(self.seed)            # weights; no global seeding
        staged = StagedGRU if self.cell == "gru" else StagedLSTM
        model = staged(self.data.vocab_size, self.hidden, self.depth, gen, dtype)
        self.optimizer = self.make_optimizer(model)
        return model

    def make_optimizer(self, model):
        """torch.optim.Adam, as every torch lab; ``updates`` keeps Δθ of the last step for the views."""
        self.updates = [self.torch.zeros_like(p) for p in model.parameters()]
        return self.torch.optim.Adam(model.parameters(), lr=self.lr)

    def apply_hyperparams(self) -> None:
        for group in self.optimizer.param_groups:
            group["lr"] = self.lr

    def current_lr(self) -> float:
        return float(self.optimizer.param_groups[0]["lr"])

    def apply_update(self) -> dict:
        torch = self.torch
        params = self.model.parameters()
        with torch.no_grad():
            sq = sum(float(torch.sum(p.grad.double() ** 2)) for p in params)
            norm = math.sqrt(sq)
            fired = norm > self.clip
            if fired:                                   # as clip_grad_norm_: g ← g · max_norm / (‖g‖ + 1e−6)
                for p in params:
                    p.grad.mul_(self.clip / (norm + 1e-6))
            for u, p in zip(self.updates, params):
                u.copy_(p)                              # θ before the step
        self.optimizer.step()
        with torch.no_grad():
            for u, p in zip(self.updates, params):
                torch.sub(p, u, out=u)                  # Δθ = θ_after − θ_before
        return {"grad_norm": norm, "clipped": bool(fired), "clipped_fraction": 1.0 if fired else 0.0}

    def last_output_grad_norm(self) -> float:
        g = self.model.top.grad
        return float("nan") if g is None else float(g.norm())

    def block_update_norms(self, block: int) -> dict:
        names = self.block_param_names(block)
        params = dict(self.model.model.named_parameters())
        index = {k: i for i, k in enumerate(params)}
        upd = math.sqrt(sum(float(self.updates[index[k]].double().pow(2).sum()) for k in names))
        par = math.sqrt(sum(float(params[k].detach().double().pow(2).sum()) for k in names))
        grad = math.sqrt(sum(float(params[k].grad.double().pow(2).sum()) for k in names if params[k].grad is not None))
        return {"update_norm": upd, "param_norm": par, "block_grad_norm": grad, "names": names}

    def model_state(self) -> dict:
        m = self.model
        carry = None if m.carry is None else [{k: x.clone() for k, x in zip(m.state_names, st)} for st in m.carry]
        return {"params": [p.detach().clone() for p in m.parameters()], "optimizer": optimizer_state(self.optimizer),
                "carry": carry}

    def set_model_state(self, state: dict) -> None:
        torch = self.torch
        m = self.model
        with torch.no_grad():
            for p, saved in zip(m.parameters(), state["params"]):
                p.copy_(torch.as_tensor(saved))
        load_optimizer_state(self.optimizer, self._torch_optim_state(state["optimizer"]))
        m.carry = None if state["carry"] is None else \
            [tuple(torch.as_tensor(c[k]).clone() for k in m.state_names) for c in state["carry"]]

    def save(self, path: str) -> None:
        write_model(path, self.model_meta(), self.model.model.state_dict())

    def _torch_optim_state(self, saved: dict) -> dict:
        """torch.optim's state dict; a state kept by the earlier hand-written Adam ({t, lr, m, v}, in
        sessions saved before) is turned into one."""
        if "m" not in saved:
            return saved
        out = self.optimizer.state_dict()
        out["param_groups"][0]["lr"] = float(saved["lr"])
        t = int(saved["t"])
        out["state"] = {} if t == 0 else {
            i: {"step": self.torch.tensor(float(t)), "exp_avg": self.torch.as_tensor(m),
                "exp_avg_sq": self.torch.as_tensor(v)} for i, (m, v) in enumerate(zip(saved["m"], saved["v"]))}
        return out

    def after_load(self) -> None:
        self.optimizer = self.make_optimizer(self.model)   # a loaded model starts a fresh optimizer memory


class TorchGRUTrainer(GRUSettings, TorchLSTMTrainer):
    pass


def make_trainer(config: dict) -> TorchLSTMTrainer:
    return TorchGRUTrainer(config) if parse_cell(config) == "gru" else TorchLSTMTrainer(config)
