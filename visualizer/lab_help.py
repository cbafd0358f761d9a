"""Help → This lab: one page per lab, for a student meeting it for the first time.

Plain HTML strings (shown in a message box); no Qt here, so a test can read every page.
"""
from __future__ import annotations

KEYS_HELP = ("Space: play / pause · →: step one phase · Shift+→: step one iteration · "
             "←: step back one phase · Shift+←: step back one iteration · drag the timeline to go back. "
             "The keys work wherever the focus is, except while you type in a field: Enter (or Escape) "
             "commits the field and hands the keys back.")

STEPPING = ("<p><b>Stepping.</b> One iteration is: the forward phase of each block (top to bottom), the loss, "
            "the backward phase of each block (bottom to top: dL/d(input) = dL/d(output) · d(output)/d(input)), "
            "then the <b>update</b> phase, where the optimizer changes every weight (θ ← θ − η·∇L for plain SGD). "
            "→ runs one phase, Shift+→ the rest of the iteration, Space plays. ← and the timeline go back exactly: "
            "the weights are restored from a keyframe and training is replayed, bit for bit.</p>")

CLASSIFIER = ("<p><b>Curves.</b> Training loss L = −(1/B) Σ log p(true class) of each batch (light) and its moving "
              "average (dark); held-out loss, accuracy (fraction right, 0–1) and macro F1 (the mean of the ten "
              "per-class F1 = 2PR/(P+R)) on 2,000 images never trained on. Hover a curve to read it; tick "
              "<i>log loss axis</i> when the loss has exploded.</p>"
              "<p><b>Layer inspector.</b> Click a block: its output for the first example of the batch, the same "
              "over the whole batch, dL/d(output), its weights and dL/dW, and after the update the step Δθ it "
              "received and ‖Δθ‖/‖θ‖ (about 1e-3 is healthy: much larger, the rate is too high; much smaller, "
              "it barely learns). Click <i>input</i> for the batch, <i>loss</i> for each example's loss and softmax.</p>"
              "<p><b>Classification report.</b> Per digit: precision TP/(TP+FP), recall TP/(TP+FN), F1, and the "
              "confusion matrix (rows true, columns predicted). It follows the timeline: the report of the last "
              "evaluation at or before the current iteration.</p>")

PAGES = {
    "mlp": ("MLP on MNIST",
            "<p>A multilayer perceptron: each Dense layer computes h = act(x·W + b) on the 784 pixels of a "
            "28×28 digit; the last layer's 10 outputs go through softmax p_k = e^{z_k} / Σ_j e^{z_j}, and the "
            "loss is the cross-entropy −log p_true. Dropout zeroes each input pixel with probability p while "
            "training. The first layer's weights are shown as 28×28 tiles: the pattern each unit looks for.</p>"
            + CLASSIFIER +
            "<p><b>Loss landscape.</b> The held-out loss on a plane through the recorded weights of this run "
            "(the top two principal directions of the path, or two random filter-normalised directions); the "
            "dot follows the timeline.</p>" + STEPPING),
    "cnn": ("CNN on MNIST",
            "<p>Two 3×3 convolutions (y[c] = Σ_k W[c,k] ⋆ x[k] + b[c], then ReLU and 2×2 max-pooling) and a "
            "Dense head. Feature maps show what each channel responds to; kernels are the 3×3 weights; gradient "
            "maps show dL/d(map): where changing the map would change the loss. Draw a digit to see the network "
            "classify it live. <i>Measure both engines</i> runs the same step in NumPy and PyTorch on the same "
            "weights and batch and compares the gradients (max |a − b|) and the time per step.</p>" + CLASSIFIER
            + STEPPING),
    "batch1": ("Batch size 1: GroupNorm + WS vs BatchNorm",
               "<p>Two CNNs trained side by side on one image per step. BatchNorm normalises each channel by the "
               "mean and variance over the batch: with one image that is the image itself, so training sees a "
               "different function than evaluation (which uses running averages). GroupNorm normalises each "
               "example over groups of channels (x̂ = (x − μ_g)/√(σ²_g + ε)) and weight standardisation rescales "
               "each filter (Ŵ = (W − mean)/std): no dependence on the batch, so it trains at batch size 1.</p>"
               "<p>The curves show both nets' held-out accuracy as a fraction (0–1); BatchNorm is evaluated both "
               "with its running statistics and with each image's own statistics.</p>" + STEPPING),
    "resnet": ("Residual vs plain",
               "<p>A residual block computes y = x + F(x): in the backward pass dL/dx = dL/dy + dL/dy · dF/dx, "
               "so the gradient reaches early blocks through the skip even when dF/dx is small. The plain net "
               "(y = F(x)) has only the second path, and its gradient shrinks block by block (vanishing "
               "gradients). The bar chart splits the gradient reaching each block into the skip and the branch; "
               "‖∇W‖/‖W‖ is each layer's relative gradient. ResNet-50 (network: resnet50) is stepped on one "
               "224×224 input: inspect its bottleneck blocks (1×1, 3×3, 1×1 convolutions).</p>" + STEPPING),
    "char-rnn": ("char-RNN on Shakespeare",
                 "<p>A two-layer vanilla RNN reads the text one character at a time: "
                 "h_t = tanh(W_xh·x_t + W_hh·h_{t−1} + b), and predicts the next character with softmax. Backward "
                 "is backpropagation through time, one phase per character, walking back from the last "
                 "character to the first; gradients are clipped entrywise and the update is Adagrad "
                 "(θ ← θ − η·g/√(Σg² + ε)). The heatmaps show each hidden unit (rows) under each character "
                 "(columns); hover a character for its values. Generate writes from the model live; the "
                 "temperature T divides the logits (p ∝ e^{z/T}): low T is safe and repetitive, high T "
                 "adventurous.</p>" + STEPPING),
    "lstm": ("LSTM on Shakespeare",
             "<p>A hand-written LSTM (no nn.LSTM). Each step computes the gates i = σ(·), f = σ(·), o = σ(·) and "
             "the candidate c̃ = tanh(·) from x_t and h_{t−1}; the cell keeps c_t = f ⊙ c_{t−1} + i ⊙ c̃ and "
             "shows h_t = o ⊙ tanh(c_t). The heatmaps are the gates i, f, c̃, o and the states c, h of each unit "
             "(rows) under each character (columns): a forget gate f near 1 keeps a memory, near 0 drops it. "
             "Backward walks through time; the gradient's norm per step shows how far back it reaches.</p>"
             + STEPPING),
    "optimizers": ("Optimizers racing",
                   "<p>Every optimizer starts at the same point of the same surface and takes one step per "
                   "iteration, with its own rule: SGD θ ← θ − η·g; momentum v ← μv + g, θ ← θ − η·v; Nesterov "
                   "looks ahead before taking the gradient; Adagrad divides by √(Σg²); RMSprop by a running "
                   "√E[g²]; Adadelta also rescales by the running size of past steps; Adam uses bias-corrected "
                   "averages m̂ and v̂: θ ← θ − η·m̂/(√v̂ + ε); AdaMax replaces √v̂ by a running max of |g|; "
                   "AdamW decays the weights apart from the gradient. Click the contour plot to start from "
                   "there; the arrows of the selected optimizer show its step split into its parts. "
                   "Surface <i>network</i> races real small MLPs on MNIST and draws their paths on the loss "
                   "landscape.</p>"),
}


def lab_help_html(lab: str) -> str:
    title, body = PAGES.get(lab, ("Stepwise", STEPPING))
    return f"<h3>{title}</h3>{body}<p><b>Keys.</b> {KEYS_HELP}</p>"
