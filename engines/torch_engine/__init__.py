"""The PyTorch engine: building blocks only (a lab's torch trainer is engines/labs/<lab>_torch.py).

- staged.py      StagedRunner: a list of nn.Module blocks run one at a time, forward and backward
                 ("staged autograd": each block's input is a detached leaf; backward k is
                 out_k.backward(dL/dout_k)); StagedBlock.extra(kind, runner, k) adds per-block data.
- models.py      the labs' networks as blocks (MLP, CNN, BN / GN+WS CNN), Conv2dWS, GenDropout.
- resnet.py, lstm.py, gru.py  the residual, LSTM and GRU labs' networks (the torch labs train with torch.optim).
It never imports engines/labs (import-linter contract in pyproject.toml).
"""
