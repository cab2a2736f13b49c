"""Plausible wrong answers for source/05_dl_basics/dl_basics.ipynb (see docs/authoring.md)."""

WRONG_ANSWERS = [
    dict(
        solution="activations",
        test="test-activations",
        why="sign error in the sigmoid: 1 / (1 + exp(z)) decreases with z",
        code=(
            "def sigmoid(z):\n    return 1.0 / (1.0 + np.exp(np.asarray(z, dtype=float)))\n\n"
            "def relu(z):\n    return np.maximum(np.asarray(z, dtype=float), 0.0)\n"
        ),
    ),
    dict(
        solution="activations",
        test="test-activations",
        why="relu zeroes the negative values in place, changing the caller's array",
        code=(
            "def sigmoid(z):\n    return 1.0 / (1.0 + np.exp(-np.asarray(z, dtype=float)))\n\n"
            "def relu(z):\n    z[z < 0] = 0\n    return z\n"
        ),
    ),
    dict(
        solution="activations",
        test="test-activations",
        why="the library call where the formula is asked: SciPy's expit (the course's own fallback)",
        code=(
            "import scipy.special\n\n"
            "def sigmoid(z):\n    return scipy.special.expit(np.asarray(z, dtype=float))\n\n"
            "def relu(z):\n    return np.maximum(np.asarray(z, dtype=float), 0.0)\n"
        ),
    ),
    dict(
        solution="activations",
        test="test-activations",
        why="the library call where the formula is asked: torch.sigmoid and torch.relu",
        code=(
            "def sigmoid(z):\n    return torch.sigmoid(torch.as_tensor(np.asarray(z, dtype=float))).numpy()\n\n"
            "def relu(z):\n    return torch.relu(torch.as_tensor(np.asarray(z, dtype=float))).numpy()\n"
        ),
    ),
    dict(
        solution="mlp-forward",
        test="test-mlp-forward",
        why="puts the ReLU on the output layer too",
        code="def mlp_forward(X, W1, b1, W2, b2):\n    return relu(relu(X @ W1 + b1) @ W2 + b2)\n",
    ),
    dict(
        solution="mlp-forward",
        test="test-mlp-forward",
        why="forgets the hidden-layer nonlinearity",
        code="def mlp_forward(X, W1, b1, W2, b2):\n    return (X @ W1 + b1) @ W2 + b2\n",
    ),
    dict(
        solution="losses",
        test="test-losses",
        why="naive softmax overflows for large logits (no max subtraction)",
        code=(
            "def mse(y_pred, y_true):\n    return float(np.mean((np.asarray(y_pred) - np.asarray(y_true)) ** 2))\n\n"
            "def cross_entropy(logits, labels):\n"
            "    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)\n"
            "    return float(-np.mean(np.log(p[np.arange(len(labels)), labels])))\n"
        ),
    ),
    dict(
        solution="losses",
        test="test-losses",
        why="softmax over the wrong axis (over samples instead of classes)",
        code=(
            "def mse(y_pred, y_true):\n    return float(np.mean((np.asarray(y_pred) - np.asarray(y_true)) ** 2))\n\n"
            "def cross_entropy(logits, labels):\n"
            "    z = logits - logits.max(axis=0, keepdims=True)\n"
            "    logp = z - np.log(np.exp(z).sum(axis=0, keepdims=True))\n"
            "    return float(-np.mean(logp[np.arange(len(labels)), labels]))\n"
        ),
    ),
    dict(
        solution="losses",
        test="test-losses",
        why="sums the squared errors instead of averaging them",
        code=(
            "def mse(y_pred, y_true):\n    return float(np.sum((np.asarray(y_pred) - np.asarray(y_true)) ** 2))\n\n"
            "def cross_entropy(logits, labels):\n"
            "    m = logits.max(axis=1, keepdims=True)\n"
            "    lse = m[:, 0] + np.log(np.exp(logits - m).sum(axis=1))\n"
            "    return float(np.mean(lse - logits[np.arange(len(labels)), labels]))\n"
        ),
    ),
    dict(
        solution="gradient-step",
        test="test-gradient-step",
        why="sign error: moves WITH the gradient (gradient ascent)",
        code=(
            "def gradient_step(w, b, x, y, lr):\n    p = sigmoid(w * x + b)\n"
            "    return w + lr * np.mean((p - y) * x), b + lr * np.mean(p - y)\n"
        ),
    ),
    dict(
        solution="gradient-step",
        test="test-gradient-step",
        why="sums the gradient over samples instead of averaging it",
        code=(
            "def gradient_step(w, b, x, y, lr):\n    p = sigmoid(w * x + b)\n"
            "    return w - lr * np.sum((p - y) * x), b - lr * np.sum(p - y)\n"
        ),
    ),
    dict(
        solution="fit-autograd",
        test="test-fit-autograd",
        why="forgets to zero the gradients, which accumulate across steps",
        code=(
            "def fit_logistic_autograd(x, y, n_steps, lr):\n"
            "    w = torch.zeros((), dtype=torch.float64, requires_grad=True)\n"
            "    b = torch.zeros((), dtype=torch.float64, requires_grad=True)\n"
            "    for _ in range(n_steps):\n"
            "        loss = F.binary_cross_entropy(torch.sigmoid(w * x + b), y)\n"
            "        loss.backward()\n"
            "        with torch.no_grad():\n"
            "            w -= lr * w.grad\n"
            "            b -= lr * b.grad\n"
            "    return w.item(), b.item()\n"
        ),
    ),
    dict(
        solution="conv1d",
        test="test-conv1d",
        why="uses np.convolve, which flips the kernel (not what PyTorch's conv layers compute)",
        code="def conv1d_valid(signal, kernel):\n    return np.convolve(signal, kernel, mode='valid')\n",
    ),
    dict(
        solution="conv1d",
        test="test-conv1d",
        why="returns the 'same'-length output with zero padding instead of the valid positions",
        code="def conv1d_valid(signal, kernel):\n    return np.correlate(signal, kernel, mode='same')\n",
    ),
    dict(
        solution="conv1d",
        test="test-conv1d",
        why="the library call where own code is asked: np.correlate (the course's own fallback)",
        code="def conv1d_valid(signal, kernel):\n    return np.correlate(signal, kernel, mode='valid')\n",
    ),
    dict(
        solution="conv1d",
        test="test-conv1d",
        why="the library call where own code is asked: torch's conv1d on tensors",
        code=(
            "def conv1d_valid(signal, kernel):\n"
            "    s = torch.as_tensor(np.asarray(signal, dtype=float)).view(1, 1, -1)\n"
            "    k = torch.as_tensor(np.asarray(kernel, dtype=float)).view(1, 1, -1)\n"
            "    return F.conv1d(s, k).view(-1).numpy()\n"
        ),
    ),
    dict(
        solution="rnn",
        test="test-rnn",
        why="forgets the recurrence: each state depends on the current input only",
        code=(
            "def rnn_forward(x_seq, W_xh, W_hh, b):\n"
            "    return np.array([np.tanh(W_xh @ x_t + b) for x_t in x_seq])\n"
        ),
    ),
    dict(
        solution="rnn",
        test="test-rnn",
        why="multiplies the state by the transposed recurrent matrix (h @ W_hh instead of W_hh @ h)",
        code=(
            "def rnn_forward(x_seq, W_xh, W_hh, b):\n"
            "    h = np.zeros(W_hh.shape[0])\n    out = []\n"
            "    for x_t in x_seq:\n"
            "        h = np.tanh(W_xh @ x_t + h @ W_hh + b)\n        out.append(h)\n"
            "    return np.array(out)\n"
        ),
    ),
    dict(
        solution="train-regressor",
        test="test-train-regressor",
        why="forgets optimizer.zero_grad(): gradients accumulate",
        code=(
            "def train_regressor(model, x, y, n_steps, lr):\n"
            "    optimizer = torch.optim.Adam(model.parameters(), lr=lr)\n"
            "    losses = []\n"
            "    for _ in range(n_steps):\n"
            "        loss = nn.MSELoss()(model(x), y)\n"
            "        loss.backward()\n"
            "        optimizer.step()\n"
            "        losses.append(loss.item())\n"
            "    return losses\n"
        ),
    ),
    dict(
        solution="train-regressor",
        test="test-train-regressor",
        why="creates the optimizer inside the loop (Adam's running averages are reset every step)",
        code=(
            "def train_regressor(model, x, y, n_steps, lr):\n"
            "    losses = []\n"
            "    for _ in range(n_steps):\n"
            "        optimizer = torch.optim.Adam(model.parameters(), lr=lr)\n"
            "        optimizer.zero_grad()\n"
            "        loss = nn.MSELoss()(model(x), y)\n"
            "        loss.backward()\n"
            "        optimizer.step()\n"
            "        losses.append(loss.item())\n"
            "    return losses\n"
        ),
    ),
    dict(
        solution="fit-autograd",
        test="test-fit-autograd",
        why="skips autograd: a NumPy loop with the gradient formulas written out, returning the same numbers",
        code=(
            "def fit_logistic_autograd(x, y, n_steps, lr):\n"
            "    x, y = x.numpy(), y.numpy()\n"
            "    w, b = 0.0, 0.0\n"
            "    for _ in range(n_steps):\n"
            "        p = 1 / (1 + np.exp(-(w * x + b)))\n"
            "        w, b = w - lr * np.mean((p - y) * x), b - lr * np.mean(p - y)\n"
            "    return float(w), float(b)\n"
        ),
    ),
    dict(
        solution="fit-autograd",
        test="test-fit-autograd",
        why="calls backward once and reuses that first gradient for every step",
        code=(
            "def fit_logistic_autograd(x, y, n_steps, lr):\n"
            "    w = torch.zeros((), dtype=torch.float64, requires_grad=True)\n"
            "    b = torch.zeros((), dtype=torch.float64, requires_grad=True)\n"
            "    F.binary_cross_entropy(torch.sigmoid(w * x + b), y).backward()\n"
            "    gw, gb = w.grad.item(), b.grad.item()\n"
            "    return -lr * n_steps * gw, -lr * n_steps * gb\n"
        ),
    ),
    dict(
        solution="model-class",
        test="test-model-class",
        why="stores plain tensors instead of nn.Parameter, so model.parameters() finds nothing to train",
        code=(
            "class PsychometricNeuron(nn.Module):\n"
            "    def __init__(self):\n"
            "        super().__init__()\n"
            "        self.w = torch.zeros((), requires_grad=True)\n"
            "        self.b = torch.zeros((), requires_grad=True)\n\n"
            "    def forward(self, x):\n"
            "        return torch.sigmoid(self.w * x + self.b)\n"
        ),
    ),
    dict(
        solution="model-class",
        test="test-model-class",
        why="forgets the sigmoid: forward returns w * x + b",
        code=(
            "class PsychometricNeuron(nn.Module):\n"
            "    def __init__(self):\n"
            "        super().__init__()\n"
            "        self.w = nn.Parameter(torch.zeros(()))\n"
            "        self.b = nn.Parameter(torch.zeros(()))\n\n"
            "    def forward(self, x):\n"
            "        return self.w * x + self.b\n"
        ),
    ),
    dict(
        solution="model-class",
        test="test-model-class",
        why="forgets super().__init__(), so nn.Module cannot register the parameters",
        code=(
            "class PsychometricNeuron(nn.Module):\n"
            "    def __init__(self):\n"
            "        self.w = nn.Parameter(torch.zeros(()))\n"
            "        self.b = nn.Parameter(torch.zeros(()))\n\n"
            "    def forward(self, x):\n"
            "        return torch.sigmoid(self.w * x + self.b)\n"
        ),
    ),
    dict(
        solution="model-class",
        test="test-model-class",
        why="a plain class with the same methods, not a subclass of nn.Module",
        code=(
            "class PsychometricNeuron:\n"
            "    def __init__(self):\n"
            "        self.w = nn.Parameter(torch.zeros(()))\n"
            "        self.b = nn.Parameter(torch.zeros(()))\n\n"
            "    def __call__(self, x):\n"
            "        return torch.sigmoid(self.w * x + self.b)\n\n"
            "    def parameters(self):\n"
            "        return [self.w, self.b]\n"
        ),
    ),
]
