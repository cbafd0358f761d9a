"""The PyTorch engine.

- staged.py      StagedRunner: a list of nn.Module blocks run one at a time, forward and backward
                 ("staged autograd": each block's input is a detached leaf; backward k is
                 out_k.backward(dL/dout_k)); StagedBlock.extra(kind, runner, k) adds per-block data.
- classifier.py  TorchClassifierTrainer: the torch twin of engines/labs/classifier.py (same data
                 order, same initial weights, same phase_data keys); staged_phase_data().
- models.py      the labs' networks as blocks (MLP, CNN, BN / GN+WS CNN), Conv2dWS, GenDropout.
- mlp.py         the MLP lab on torch.
- resnet.py, lstm.py  the residual and LSTM labs' networks.
Threads: configure_threads() (classifier.py) — config "threads", else 1 in the app's engine process.
"""
