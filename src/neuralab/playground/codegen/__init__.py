"""The playground's configuration as runnable Python: a plain PyTorch script and a plain NumPy one.

Each script is self-contained (it needs numpy, and torch for :func:`torch_code`;
never neuralab) and trains the session's model from scratch for ``STEPS``
steps (the first command-line argument, when given), printing the final
training loss and the training and test accuracy (a regression: the training
and test mean squared error, in the target's units). Both compute what the
session computes: the toy generated inline with the same seed (or the uploaded
points as literal arrays), the same seeded split (stratified by class; a
regression's at random), the points added by hand, the feature columns, the
standardisation (a regression's target too), neuralab's seeded starting weights
and the minibatches in the order :func:`neuralab.train.fit` draws them
(:mod:`neuralab.playground.codegen.data`). So a script's final loss equals the
playground's after the same steps to rounding.

- :func:`torch_code`: ``nn.Sequential`` in float64 and the lecture's loop,
  ``optimizer.zero_grad()``, ``scores = model(X)``, ``loss = cross_entropy +
  0.5 * REG * sum W^2`` (a regression: ``((u - t) ** 2).mean()`` plus the
  penalties, on the one linear output u and the target t), ``loss.backward()``,
  ``optimizer.step()``, with ``torch.optim``'s SGD (momentum, Nesterov) and
  Adam, which update as the engine does (:mod:`neuralab.optim`).
- :func:`numpy_code`: the lecture's hand-written NumPy loop, forward
  ``z = o W + b``, softmax, cross-entropy, backward from ``dscores = (probs -
  onehot(y)) / B`` (a regression: the squared error and ``dscores = 2 (u - t) /
  B``), and the update written out.

Every value enters a script as a Python literal (``repr``), never inside a
string, comment or docstring, so no class name or number can change the code
around it.
"""

from __future__ import annotations

import inspect

import numpy as np

from neuralab import NeuralabError
from neuralab.config import (
    LECTURE_ITERATIONS,
    REGRESSION_TOYS,
    TRAIN_NAMES,
    TrainSettings,
)
from neuralab.playground.codegen.data import (
    data_code,
    data_constants,
    init_code,
    regresses,
)
from neuralab.playground.settings import train_settings

__all__ = ["TORCH_ACTIVATIONS", "WRITTEN", "default_steps", "numpy_code", "torch_code"]

#: The engine's leaky_relu slope for z <= 0.
LEAKY_SLOPE = 0.01
#: Each activation as a torch.nn module.
TORCH_ACTIVATIONS = {
    "relu": "nn.ReLU()",
    "tanh": "nn.Tanh()",
    "sigmoid": "nn.Sigmoid()",
    "leaky_relu": f"nn.LeakyReLU({LEAKY_SLOPE!r})",
    "identity": "nn.Identity()",
}
#: Each activation in NumPy: (o = sigma(z), dL/dz from d = dL/do and the output o).
NUMPY_ACTIVATIONS = {
    "relu": ("np.maximum(0, z)",
             "d[o <= 0] = 0  # through the ReLU: no gradient where its output was <= 0"),
    "tanh": ("np.tanh(z)", "d = d * (1 - o * o)  # tanh' = 1 - o^2"),
    "sigmoid": ("0.5 * (1 + np.tanh(0.5 * z))  # the logistic function, with no overflow",
                "d = d * o * (1 - o)  # sigmoid' = o (1 - o)"),
    "leaky_relu": (f"np.where(z > 0, z, {LEAKY_SLOPE!r} * z)",
                   f"d = d * np.where(o > 0, 1.0, {LEAKY_SLOPE!r})"),
    "identity": ("z", None),
}
#: The training settings the scripts write out; any other must keep its default (the
#: playground shows none of them), or the scripts refuse to be written.
WRITTEN = ("activation", "batch_size", "backend", "device", "dtype", "features", "hidden",
           "init", "iterations", "l1", "log_every", "lr", "model", "momentum", "optimizer",
           "reg", "seed", "standardize", "task", "test_fraction", "weight_decay")


def default_steps(config: dict) -> int:
    """The lecture's step count for the model (200 linear, 10,000 mlp), whole frames.

    >>> default_steps({"model": "linear", "steps_per_frame": 30})
    210
    """
    spf = int(config["steps_per_frame"])
    total = LECTURE_ITERATIONS[config["model"]]
    return -(-total // spf) * spf


def _settings(config: dict):
    """The config's TrainSettings, refusing any unwritten setting that is not at its default."""
    settings = train_settings(config)
    defaults = TrainSettings()
    for name in TRAIN_NAMES:
        if name not in WRITTEN and getattr(settings, name) != getattr(defaults, name):
            raise NeuralabError(f"the generated scripts do not write the setting {name}; "
                                f"got {getattr(settings, name)!r}")
    if settings.dtype != "float64":
        raise NeuralabError(f"the generated scripts train in float64; got dtype {settings.dtype!r}")
    return settings


def _optim_constants(settings) -> list[str]:
    from neuralab.optim import Adam

    lines = []
    if settings.optimizer in ("momentum", "nesterov"):
        lines.append(f"MOMENTUM = {settings.momentum!r}")
    if settings.optimizer == "adam":
        p = inspect.signature(Adam).parameters
        lines.append(f"BETA1, BETA2 = {p['betas'].default!r}  # Adam's decay rates")
        lines.append(f"EPS = {p['eps'].default!r}")
    if settings.weight_decay:
        lines.append(f"WEIGHT_DECAY = {settings.weight_decay!r}  # adds WEIGHT_DECAY * p to "
                     "each gradient")
    return lines


def _opening(title: str, needs: str, config: dict, settings, steps, extra, uploaded) -> str:
    """Docstring, imports, constants, data and starting weights: what both scripts share."""
    steps = default_steps(config) if steps is None else int(steps)
    doc = (f'"""{title}\n\n'
           f"Generated by the neuralab playground; it needs only {needs}. The settings are the\n"
           "constants below, under neuralab's names for them. The data, the split, the starting\n"
           "weights and the minibatches are computed as neuralab computes them, so the numbers\n"
           "it prints are the playground's after the same number of steps.\n"
           "Run: python this_script.py [STEPS]\n"
           '"""\n\n')
    imports = ["import sys", "", "import numpy as np"]
    if needs != "numpy":  # a regression's squared error needs no torch.nn.functional
        imports += ["import torch"] + ([] if regresses(config) else [
            "import torch.nn.functional as F"]) + ["from torch import nn"]
    consts = [f"SEED = {settings.seed!r}", f"LR = {settings.lr!r}  # the learning rate",
              f"REG = {settings.reg!r}  # the L2 penalty 0.5 * REG * sum of W squared"]
    if settings.l1:
        consts.append(f"L1 = {settings.l1!r}  # the L1 penalty L1 * sum of |W|")
    consts += _optim_constants(settings)
    consts.append(f"BATCH_SIZE = {settings.batch_size!r}  # None: full batch")
    if config["test_fraction"]:
        consts.append(f"TEST_FRACTION = {config['test_fraction']!r}  # held out as the test split")
    consts += data_constants(config, uploaded)
    consts += [f"STEPS = int(sys.argv[1]) if len(sys.argv) > 1 else {steps!r}",
               "if STEPS < 1:",
               '    sys.exit(f"STEPS must be a positive integer, got {STEPS}")']
    n_inputs = len(config.get("features") or ["x1", "x2"])
    if regresses(config):
        if config["dataset"] not in REGRESSION_TOYS:
            raise NeuralabError(f"task regression needs a regression data set "
                                f"({', '.join(REGRESSION_TOYS)}); got dataset {config['dataset']!r}")
        if extra:
            raise NeuralabError("points are added by hand to a classification data set; "
                                f"got {len(extra)} added to the regression set {config['dataset']}")
        labels, sizes, outputs = None, settings.sizes(n_inputs, 1), "the one output"
    else:
        labels = uploaded.y if uploaded is not None else np.repeat(
            np.arange(int(config["classes"])), int(config["n_points"]))
        K = uploaded.n_classes if uploaded is not None else int(config["classes"])
        sizes, outputs = settings.sizes(n_inputs, K), "the classes"
    return (doc + "\n".join(imports) + "\n\n" + "\n".join(consts) + "\n\n"
            + data_code(config, list(extra or []), uploaded, labels)
            + init_code(sizes, settings.init, outputs))


#: The minibatch of each step, as neuralab.train.fit draws it (both scripts' loop head), over
#: what the network learns: {y}, the labels y_train or a regression's (scaled) target t_train.
_BATCHES = '''

n = len(X_train)
batch = BATCH_SIZE if BATCH_SIZE is not None and BATCH_SIZE < n else None  # None: every point
per_epoch = 1 if batch is None else -(-n // batch)
for step in range(STEPS):
    if batch is None:
        xb, {yb} = X_train, {y}
    else:
        # minibatches as neuralab draws them: each epoch shuffles the points with a generator
        # seeded by (SEED, the epoch's number), and its steps take the slices in turn
        epoch, k = divmod(step, per_epoch)
        if k == 0:
            order = np.random.default_rng([SEED, epoch]).permutation(n)
        rows = order[k * batch:(k + 1) * batch]
        xb, {yb} = X_train[rows], {y}[rows]
'''

_CHECK = '''    if not np.isfinite(loss):
        sys.exit(f"the loss became {loss} at step {step}: the weights diverged; "
                 "try a smaller learning rate")
    if step % 1000 == 0:  # the loss of this step's forward pass, as the lecture prints it
        print(f"iteration {step}: loss {loss:f}")
'''


def _batches(regression: bool) -> str:
    return _BATCHES.format(y="t_train", yb="tb") if regression else _BATCHES.format(
        y="y_train", yb="yb")


def _report(test: bool, regression: bool) -> str:
    """The closing prints: the final loss, then each split's accuracy (a regression: its mean
    squared error in the target's units)."""
    score = "mse" if regression else "accuracy"
    out = ('\nprint(f"final loss: {final_loss!r} after {STEPS} steps")\n'
           f'print(f"train {score}: {{train_{score}!r}}")\n')
    if test:
        return out + f'print(f"test {score}: {{test_{score}!r}}")\n'
    return out + f'print("test {score}: none (no test split)")\n'


def _torch_optimizer(settings) -> str:
    """torch.optim's SGD (momentum, Nesterov) and Adam compute the engine's updates."""
    kwargs = ["lr=LR"]
    if settings.optimizer in ("momentum", "nesterov"):
        kwargs.append("momentum=MOMENTUM")
    if settings.optimizer == "nesterov":
        kwargs.append("nesterov=True")
    if settings.optimizer == "adam":
        kwargs += ["betas=(BETA1, BETA2)", "eps=EPS"]
    if settings.weight_decay:
        kwargs.append("weight_decay=WEIGHT_DECAY")
    name = "Adam" if settings.optimizer == "adam" else "SGD"
    return f"torch.optim.{name}(model.parameters(), {', '.join(kwargs)})"


def _torch_loss(settings, regression: bool) -> str:
    """loss_fn: the data loss plus the penalties on the weight matrices (not the biases)."""
    penalty = "0.5 * REG * squares" + (" + L1 * absolutes" if settings.l1 else "")
    absolutes = ("    absolutes = sum(layer.weight.abs().sum() for layer in linears)\n"
                 if settings.l1 else "")
    if regression:
        head = ("def loss_fn(u, t):\n"
                '    """Mean squared error of the one output u (B, 1) against the target t, plus the\n'
                '    penalties on the weight matrices (not the biases)."""\n')
        data = "((u[:, 0] - t) ** 2).mean()"
    else:
        head = ("def loss_fn(scores, targets):\n"
                '    """Mean cross-entropy plus the penalties on the weight matrices (not the biases)."""\n')
        data = "F.cross_entropy(scores, targets)"
    return (head + "    squares = sum((layer.weight ** 2).sum() for layer in linears)\n"
            + absolutes + f"    return {data} + {penalty}\n")


def _torch_step_and_scores(test: bool, regression: bool) -> str:
    """The loop's body (the lecture's five lines) and the final scores."""
    if regression:
        return ("    optimizer.zero_grad()\n"
                "    u = model(torch.from_numpy(xb))\n"
                "    loss = loss_fn(u, torch.from_numpy(tb))\n"
                "    loss.backward()\n"
                "    optimizer.step()\n"
                "    loss = loss.item()\n"
                + _CHECK
                + "\n\ndef predict(X):\n"
                '    """The predictions in the target\'s units: u * t_scale + t_mean."""\n'
                "    with torch.no_grad():\n"
                "        return model(torch.from_numpy(X))[:, 0].numpy() * t_scale + t_mean\n\n\n"
                "with torch.no_grad():\n"
                "    final_loss = loss_fn(model(torch.from_numpy(X_train)), "
                "torch.from_numpy(t_train)).item()\n"
                "train_mse = float(np.mean((predict(X_train) - y_train) ** 2))\n"
                + ("test_mse = float(np.mean((predict(X_test) - y_test) ** 2))\n" if test else ""))
    return ("    optimizer.zero_grad()\n"
            "    scores = model(torch.from_numpy(xb))\n"
            "    loss = loss_fn(scores, torch.from_numpy(yb))\n"
            "    loss.backward()\n"
            "    optimizer.step()\n"
            "    loss = loss.item()\n"
            + _CHECK
            + "\nwith torch.no_grad():\n"
            "    scores = model(torch.from_numpy(X_train))\n"
            "    final_loss = loss_fn(scores, torch.from_numpy(y_train)).item()\n"
            "    train_accuracy = float(np.mean(scores.argmax(dim=1).numpy() == y_train))\n"
            + ("    test_scores = model(torch.from_numpy(X_test))\n"
               "    test_accuracy = float(np.mean(test_scores.argmax(dim=1).numpy() == y_test))\n"
               if test else ""))


def torch_code(config: dict, extra_points=None, *, uploaded=None, steps: int | None = None) -> str:
    """A script that trains ``config`` the PyTorch way, needing only numpy and torch.

    Args:
        config: a normalised playground config.
        extra_points: ``[(x1, x2, label), ...]`` added to the training set.
        uploaded: the uploaded :class:`~neuralab.data.Dataset` when ``dataset`` is
            ``"upload"``; written into the script as literal arrays.
        steps: the default step count (the lecture's, by :func:`default_steps`).

    The model is an ``nn.Sequential`` in float64 whose starting weights are
    neuralab's draw (the lecture's (d_in, d_out) matrices, copied in transposed),
    the loss ``F.cross_entropy`` (a regression: ``((u - t) ** 2).mean()`` on the
    one output) plus ``0.5 * REG * sum W^2`` (and ``L1 * sum |W|`` when l1 > 0)
    over the weight matrices.
    """
    settings = _settings(config)
    regression = regresses(config)
    sizes_layers = []
    n_layers = len(settings.hidden) + 1
    for i in range(n_layers):
        sizes_layers.append(f"    nn.Linear(SIZES[{i}], SIZES[{i + 1}]),")
        if i < n_layers - 1:
            sizes_layers.append(f"    {TORCH_ACTIVATIONS[settings.activation]},")
    test = bool(config["test_fraction"])
    return (_opening("Train the playground's model with PyTorch: the lecture's loop, in float64.",
                     "numpy and torch", config, settings, steps, extra_points, uploaded)
            + "\n\n# the model: torch.nn in float64, as the playground computes\n"
            "model = nn.Sequential(\n" + "\n".join(sizes_layers) + "\n).double()\n"
            "linears = [m for m in model if isinstance(m, nn.Linear)]\n"
            "with torch.no_grad():  # neuralab's starting weights; torch keeps W_i as (d_i, d_{i-1})\n"
            "    for layer, W, b in zip(linears, Ws, bs):\n"
            "        layer.weight.copy_(torch.from_numpy(W.T))\n"
            "        layer.bias.copy_(torch.from_numpy(b))\n"
            f"optimizer = {_torch_optimizer(settings)}\n\n\n"
            + _torch_loss(settings, regression)
            + _batches(regression)
            + _torch_step_and_scores(test, regression)
            + _report(test, regression))


def _numpy_forward(settings, regression: bool) -> str:
    """forward(X): the layers' inputs and the last layer's output, as the lecture writes it."""
    act = settings.activation
    forward = NUMPY_ACTIVATIONS[act][0]
    out = "the one output u (the prediction)" if regression else "the logits (the scores)"
    if settings.hidden:
        return ("\n\n# the network: z_i = o_{i-1} W_i + b_i, o_i = " + act + "(z_i) for the hidden "
                f"layers, o_0 = X;\n# the last layer gives {out}\n"
                "def act(z):\n"
                f"    return {forward}\n\n\n"
                "def forward(X):\n"
                f'    """The layers\' inputs [o_0, ..., o_{{L-1}}] and {out.partition(" (")[0]}."""\n'
                "    outs = [X]\n"
                "    for W, b in zip(Ws[:-1], bs[:-1]):\n"
                "        outs.append(act(outs[-1] @ W + b))\n"
                "    return outs, outs[-1] @ Ws[-1] + bs[-1]\n")
    if regression:
        return ("\n\n# linear regression: the output is u = X W + b\n"
                "def forward(X):\n"
                '    """The layer\'s input [X] and the output u."""\n'
                "    return [X], X @ Ws[0] + bs[0]\n")
    return ("\n\n# the linear softmax classifier: the scores are X W + b\n"
            "def forward(X):\n"
            '    """The layer\'s input [X] and the scores."""\n'
            "    return [X], X @ Ws[0] + bs[0]\n")


def _numpy_model(settings, regression: bool) -> str:
    """forward, the loss and backward, as the lecture writes them."""
    back = NUMPY_ACTIVATIONS[settings.activation][1]
    reg_loss = ("    reg_loss = 0.5 * REG * sum(np.sum(W * W) for W in Ws)"
                + (" + L1 * sum(np.sum(np.abs(W)) for W in Ws)" if settings.l1 else "") + "\n")
    l1_grad = " + L1 * np.sign(Ws[i])" if settings.l1 else ""
    through = ""
    if settings.hidden:
        through = "        if i > 0:\n            d = d @ Ws[i].T  # dL/do_i\n"
        if back:
            through += f"            o = outs[i]\n            {back}\n"
    if regression:
        loss = ("def loss_of(u, t):\n"
                '    """Mean squared error of the one output u (B, 1) against the target t, plus the\n'
                '    penalties on the weight matrices (not the biases)."""\n'
                "    data_loss = np.mean((u[:, 0] - t) ** 2)\n"
                + reg_loss + "    return float(data_loss + reg_loss)\n\n\n"
                "def backward(outs, u, t):\n"
                '    """The gradients [dW_1, db_1, ..., dW_L, db_L] of the loss."""\n'
                "    d = 2 * (u - t[:, None]) / len(t)  # dscores = 2 (u - t) / B\n")
    else:
        loss = ("def loss_and_probs(scores, y):\n"
                '    """Mean cross-entropy plus the penalties on the weight matrices (not the biases),\n'
                '    and the class probabilities softmax(scores)."""\n'
                "    shifted = scores - scores.max(axis=1, keepdims=True)  # exp cannot overflow\n"
                "    exp = np.exp(shifted)\n"
                "    sums = exp.sum(axis=1, keepdims=True)\n"
                "    data_loss = np.mean(np.log(sums[:, 0]) - shifted[np.arange(len(y)), y])  # -log p_y\n"
                + reg_loss + "    return float(data_loss + reg_loss), exp / sums\n\n\n"
                "def backward(outs, probs, y):\n"
                '    """The gradients [dW_1, db_1, ..., dW_L, db_L] of the loss."""\n'
                "    d = probs.copy()\n"
                "    d[np.arange(len(y)), y] -= 1\n"
                "    d /= len(y)  # dscores = (probs - onehot(y)) / B\n")
    return (_numpy_forward(settings, regression) + "\n\n" + loss
            + "    grads = []\n"
            "    for i in reversed(range(len(Ws))):\n"
            f"        dW = outs[i].T @ d + REG * Ws[i]{l1_grad}  # the L2 term's gradient is REG * W\n"
            "        grads = [dW, d.sum(axis=0)] + grads\n"
            + through
            + "    return grads\n")


def _numpy_update(settings) -> tuple[str, str]:
    """(the optimiser's state, made before the loop; the update of one step) as neuralab.optim."""
    decay = ("        g = g + WEIGHT_DECAY * p\n" if settings.weight_decay else "")
    if settings.optimizer == "sgd":
        return "", ("    for p, g in zip(params, grads):  # the lecture's update\n" + decay
                    + "        p -= LR * g\n")
    if settings.optimizer in ("momentum", "nesterov"):
        step = ("p -= LR * (g + MOMENTUM * v)  # Nesterov's look-ahead"
                if settings.optimizer == "nesterov" else "p -= LR * v")
        return ("velocity = [np.zeros_like(p) for p in params]\n",
                "    for p, g, v in zip(params, grads, velocity):\n" + decay
                + "        v *= MOMENTUM\n        v += g  # v = MOMENTUM * v + g\n"
                f"        {step}\n")
    return ("moments = [(np.zeros_like(p), np.zeros_like(p)) for p in params]  # Adam's m, v\n",
            "    t = step + 1\n"
            "    for p, g, (m, v) in zip(params, grads, moments):\n" + decay
            + "        m += (1 - BETA1) * (g - m)  # m = BETA1 * m + (1 - BETA1) * g\n"
            "        v *= BETA2\n"
            "        v += (1 - BETA2) * (g * g)\n"
            "        p -= LR / (1 - BETA1 ** t) * m / (np.sqrt(v / (1 - BETA2 ** t)) + EPS)\n")


def _numpy_step_and_scores(test: bool, regression: bool) -> tuple[str, str]:
    """(the loop's forward, loss and backward; the final scores, after the loop)."""
    if regression:
        step = ("    outs, u = forward(xb)\n"
                "    loss = loss_of(u, tb)\n"
                "    grads = backward(outs, u, tb)\n")
        scores = ("\n\ndef predict(X):\n"
                  '    """The predictions in the target\'s units: u * t_scale + t_mean."""\n'
                  "    return forward(X)[1][:, 0] * t_scale + t_mean\n\n\n"
                  "final_loss = loss_of(forward(X_train)[1], t_train)\n"
                  "train_mse = float(np.mean((predict(X_train) - y_train) ** 2))\n"
                  + ("test_mse = float(np.mean((predict(X_test) - y_test) ** 2))\n" if test else ""))
        return step, scores
    step = ("    outs, scores = forward(xb)\n"
            "    loss, probs = loss_and_probs(scores, yb)\n"
            "    grads = backward(outs, probs, yb)\n")
    scores = ("\n_, scores = forward(X_train)\n"
              "final_loss, _ = loss_and_probs(scores, y_train)\n"
              "train_accuracy = float(np.mean(scores.argmax(axis=1) == y_train))\n"
              + ("test_accuracy = float(np.mean(forward(X_test)[1].argmax(axis=1) == y_test))\n"
                 if test else ""))
    return step, scores


def numpy_code(config: dict, extra_points=None, *, uploaded=None, steps: int | None = None) -> str:
    """A script that trains ``config`` with the lecture's hand-written NumPy loop (numpy only).

    Args: as :func:`torch_code`.

    Forward ``z = o W + b`` and the activation, softmax, cross-entropy plus the
    penalties, backward from ``dscores = (probs - onehot(y)) / B`` (a regression:
    the squared error of the one output u against the target t, and
    ``dscores = 2 (u - t) / B``) with ``dW = o^T dscores + REG * W``, and the
    optimiser's update written out.
    """
    settings = _settings(config)
    regression = regresses(config)
    state, update = _numpy_update(settings)
    test = bool(config["test_fraction"])
    step, scores = _numpy_step_and_scores(test, regression)
    return (_opening("Train the playground's model with the lecture's hand-written NumPy loop.",
                     "numpy", config, settings, steps, extra_points, uploaded)
            + _numpy_model(settings, regression)
            + "\n\nparams = [p for W, b in zip(Ws, bs) for p in (W, b)]  # updated in place\n"
            + state
            + _batches(regression)
            + step + update + _CHECK + scores
            + _report(test, regression))
