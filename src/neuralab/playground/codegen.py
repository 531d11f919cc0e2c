"""The playground's configuration as runnable Python: a PyTorch script and a NumPy-engine one.

Both scripts make the same data (``neuralab.data.load`` with the toy's options,
or the uploaded points as literal arrays), the same stratified seeded split, add
the points added by hand to the training set, and train the same model with the
same optimiser, learning rate, L2 penalty and batch size for ``STEPS`` steps
(the first command-line argument, when given). Both print the final training and
test accuracy.

- :func:`numpy_code` uses neuralab's engine (``make_engine_trainer`` and
  ``fit``), in chunks of ``steps_per_frame`` steps as the playground trains, so
  its numbers equal the playground's after the same number of steps.
- :func:`torch_code` is written the PyTorch way (``nn.Sequential``,
  ``torch.optim``, ``loss.backward()``, ``optimizer.step()``) in float64; its
  starting weights are neuralab's seeded draw, copied in, and its minibatches
  are drawn in the order ``fit`` draws them, so it follows the same path up to
  floating-point rounding.
"""

from __future__ import annotations

import numpy as np

from neuralab.config import LECTURE_ITERATIONS

__all__ = ["numpy_code", "torch_code"]

_TORCH_ACTIVATIONS = {
    "relu": "nn.ReLU()",
    "tanh": "nn.Tanh()",
    "sigmoid": "nn.Sigmoid()",
    "leaky_relu": "nn.LeakyReLU(0.01)",
    "identity": "nn.Identity()",
}
_TORCH_OPTIMIZERS = {
    "sgd": "torch.optim.SGD(model.parameters(), lr=LR)",
    "momentum": "torch.optim.SGD(model.parameters(), lr=LR, momentum=0.9)",
    "adam": "torch.optim.Adam(model.parameters(), lr=LR)",
}


def default_steps(config: dict) -> int:
    """The lecture's step count for the model (200 linear, 10,000 mlp), whole frames.

    >>> default_steps({"model": "linear", "steps_per_frame": 30})
    210
    """
    spf = int(config["steps_per_frame"])
    total = LECTURE_ITERATIONS[config["model"]]
    return -(-total // spf) * spf


def _sizes(config: dict, n_classes: int) -> list[int]:
    return [2, *config["hidden"], n_classes]


def _rows(a, per_line: int = 4) -> str:
    """Literal rows of a 2-D array (exact: repr of each float)."""
    lines = []
    items = [f"[{', '.join(repr(float(v)) for v in row)}]" for row in np.asarray(a)]
    for i in range(0, len(items), per_line):
        lines.append("    " + ", ".join(items[i:i + per_line]) + ",")
    return "\n".join(lines)


def _ints(a, per_line: int = 30) -> str:
    items = [str(int(v)) for v in np.asarray(a)]
    return "\n".join("    " + ", ".join(items[i:i + per_line]) + ","
                     for i in range(0, len(items), per_line))


def _describe(config: dict, uploaded, extra, n_classes: int) -> str:
    sizes = " -> ".join(map(str, _sizes(config, n_classes)))
    act = f" ({config['activation']})" if config["hidden"] else ""
    if uploaded is not None:
        data = f"the uploaded CSV ({len(uploaded.y)} points, classes {list(uploaded.classes)})"
    else:
        data = (f"{config['dataset']}, {config['n_points']} points per class, {n_classes} classes, "
                f"noise {config['noise']:g}")
    added = f", plus {len(extra)} points added by hand" if extra else ""
    batch = "full batch" if not config["batch_size"] else f"batch size {config['batch_size']}"
    test = f"test ratio {config['test_ratio']:g}" if config["test_ratio"] else "no test split"
    scale = ", standardised inputs" if config["standardize"] else ""
    return (f"Data: {data}{added}; {test}; seed {config['seed']}{scale}.\n"
            f"Model: {sizes}{act}. Optimiser: {config['optimizer']}, lr {config['lr']:g}, "
            f"reg {config['reg']:g} (L2 penalty 0.5 * reg * sum of W squared), {batch}.")


def _data_section(config: dict, extra, uploaded) -> str:
    """The shared part: data, split, added points and scaling (as the playground does them)."""
    from neuralab.playground.session import TWO_CLASS

    out = []
    if uploaded is not None:
        out.append(f"# the data: the points uploaded to the playground; labels 0..K-1 stand for "
                   f"the classes {list(uploaded.classes)}")
        out.append(f"X = np.array([\n{_rows(uploaded.X)}\n])")
        out.append(f"y = np.array([\n{_ints(uploaded.y)}\n], dtype=np.int64)")
    else:
        opts = f"n_per_class={config['n_points']}, "
        if config["dataset"] not in TWO_CLASS:
            opts += f"n_classes={config['classes']}, "
        opts += f"noise={config['noise']!r}"
        out.append(f"# the data: neuralab's seeded {config['dataset']} generator")
        out.append(f"data = load({config['dataset']!r}, seed=SEED, {opts})")
        out.append("X, y = data.X, data.y")
    if config["test_ratio"]:
        out.append("\n# the split: stratified and seeded, as the playground and "
                   "`neuralab train --test-fraction` make it")
        out.append(f"X_train, X_test, y_train, y_test, _, _ = train_test_split(\n"
                   f"    X, y, test_fraction={config['test_ratio']!r}, seed=SEED)")
    else:
        out.append("\n# no test split: every point trains")
        out.append("X_train, y_train = X, y\nX_test = y_test = None")
    if extra:
        out.append("\n# the points added by hand in the playground (x1, x2, label): training points")
        out.append(f"added = np.array([\n{_rows(extra)}\n])")
        out.append("X_train = np.vstack([X_train, added[:, :2]])")
        out.append("y_train = np.concatenate([y_train, added[:, 2].astype(np.int64)])")
    if config["standardize"]:
        out.append("\n# standardise with the training split's mean and standard deviation")
        out.append("scaler = Standardizer.fit(X_train)")
        out.append("X_train = scaler.transform(X_train)")
        out.append("X_test = None if X_test is None else scaler.transform(X_test)")
    return "\n".join(out)


def _header(title: str, config: dict, extra, uploaded, steps: int, n_classes: int) -> str:
    return (f'"""{title}\n\n'
            f"Generated by the neuralab playground.\n"
            f"{_describe(config, uploaded, extra, n_classes)}\n\n"
            f"Run: python this_script.py [STEPS]   (default {steps})\n"
            f'"""\n')


def _imports(config: dict, uploaded, torch: bool) -> str:
    lines = ["import sys", "", "import numpy as np"]
    if torch:
        lines += ["import torch", "import torch.nn.functional as F", "from torch import nn"]
    lines.append("")
    if uploaded is None:
        lines.append("from neuralab.data import load, train_test_split" if config["test_ratio"]
                     else "from neuralab.data import load")
    elif config["test_ratio"]:
        lines.append("from neuralab.data import train_test_split")
    if config["standardize"]:
        lines.append("from neuralab.data.preprocess import Standardizer")
    if torch:
        lines.append("from neuralab.nn import MLP")
    else:
        lines.append("from neuralab.train import fit, make_engine_trainer")
    return "\n".join(lines) + "\n"


def _constants(config: dict, steps: int) -> str:
    return (f"\nSEED = {config['seed']}\n"
            f"STEPS = int(sys.argv[1]) if len(sys.argv) > 1 else {steps}\n"
            f"# the playground trains STEPS_PER_FRAME steps per frame (one call of fit each)\n"
            f"STEPS_PER_FRAME = {config['steps_per_frame']}\n"
            f"LR = {config['lr']!r}\n"
            f"REG = {config['reg']!r}  # the L2 penalty 0.5 * REG * sum of W squared\n"
            f"BATCH_SIZE = {config['batch_size'] or None!r}  # None: full batch\n"
            f"if STEPS < 1:\n"
            f"    sys.exit(f\"STEPS must be a positive integer, got {{STEPS}}\")\n\n")


def _n_classes(config: dict, uploaded) -> int:
    return uploaded.n_classes if uploaded is not None else int(config["classes"])


def numpy_code(config: dict, extra_points=None, *, uploaded=None, steps: int | None = None) -> str:
    """A script that trains ``config`` with neuralab's NumPy engine and prints its accuracies.

    Args:
        config: a normalised playground config.
        extra_points: ``[(x1, x2, label), ...]`` added to the training set.
        uploaded: the uploaded :class:`~neuralab.data.Dataset` when ``dataset`` is
            ``"upload"``; written into the script as literal arrays.
        steps: the default step count (the lecture's, by :func:`default_steps`).

    Training calls ``fit`` once per ``steps_per_frame`` steps with ``start_step``,
    as the playground does, so the script's final numbers equal the playground's
    after the same number of steps (minibatches are reshuffled at each call).
    """
    steps = default_steps(config) if steps is None else int(steps)
    K = _n_classes(config, uploaded)
    sizes = _sizes(config, K)
    extra = list(extra_points or [])
    return (
        _header("Train the playground's model with neuralab's NumPy engine.",
                config, extra, uploaded, steps, K)
        + "\n" + _imports(config, uploaded, torch=False)
        + _constants(config, steps)
        + _data_section(config, extra, uploaded)
        + "\n\n# the model and its trainer: forward, backward and update written by hand in the engine;"
        + "\n# the starting weights are the lecture's 0.01 * N(0, 1), drawn with SEED\n"
        + f"trainer = make_engine_trainer({sizes}, activation={config['activation']!r}, seed=SEED,\n"
        + f"                              optimizer={config['optimizer']!r}, lr=LR, reg=REG)\n"
        + "print(trainer.model)\n\n"
        + "done = 0\n"
        + "while done < STEPS:\n"
        + "    n = min(STEPS_PER_FRAME, STEPS - done)\n"
        + "    result = fit(trainer, X_train, y_train, iterations=n, batch_size=BATCH_SIZE, seed=SEED,\n"
        + "                 start_step=done, log_every=n, X_val=X_test, y_val=y_test,\n"
        + "                 stop_on_signal=False, progress=False)\n"
        + "    if (done + n) // 1000 > done // 1000:\n"
        + "        print(f\"iteration {result.steps}: loss {result.final_loss:f}\")\n"
        + "    done = result.steps\n\n"
        + "print(f\"final loss: {result.final_loss:f} after {done} steps\")\n"
        + "print(f\"train accuracy: {result.final_train_accuracy!r}\")\n"
        + "if X_test is None:\n"
        + "    print(\"test accuracy: none (no test split)\")\n"
        + "else:\n"
        + "    print(f\"test accuracy: {result.final_val_accuracy!r}\")\n"
    )


def torch_code(config: dict, extra_points=None, *, uploaded=None, steps: int | None = None) -> str:
    """A script that trains ``config`` the PyTorch way and prints its accuracies.

    Args: as :func:`numpy_code`.

    The model is an ``nn.Sequential`` in float64 whose starting weights are copied
    from neuralab's seeded engine (the lecture's 0.01 * N(0, 1)), the loss is
    ``F.cross_entropy`` plus ``0.5 * REG * sum W^2`` over the weight matrices,
    and each step is ``zero_grad``, ``backward``, ``optimizer.step()``.
    Minibatches follow ``fit``'s order (a NumPy generator seeded with
    ``SEED + first step`` at each frame), so the run matches the playground's
    up to floating-point rounding.
    """
    steps = default_steps(config) if steps is None else int(steps)
    K = _n_classes(config, uploaded)
    sizes = _sizes(config, K)
    extra = list(extra_points or [])
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(f"    nn.Linear({a}, {b}),")
        if i < len(sizes) - 2:
            layers.append(f"    {_TORCH_ACTIVATIONS[config['activation']]},")
    if config["batch_size"]:
        loop = (
            "n = len(yt)\n"
            "batch = BATCH_SIZE if BATCH_SIZE is not None and BATCH_SIZE < n else None\n"
            "for frame_start in range(0, STEPS, STEPS_PER_FRAME):\n"
            "    # minibatches in the order neuralab.train.fit draws them: each frame's call of fit\n"
            "    # seeds a generator with SEED + its first step and shuffles at every epoch\n"
            "    rng = np.random.default_rng(SEED + frame_start)\n"
            "    pos = n\n"
            "    for step in range(frame_start, min(frame_start + STEPS_PER_FRAME, STEPS)):\n"
            "        if batch is None:\n"
            "            xb, yb = Xt, yt\n"
            "        else:\n"
            "            if pos >= n:\n"
            "                order = torch.from_numpy(rng.permutation(n))\n"
            "                pos = 0\n"
            "            idx = order[pos:pos + batch]\n"
            "            pos += batch\n"
            "            xb, yb = Xt[idx], yt[idx]\n"
            "        loss = train_step(xb, yb, step)\n"
        )
    else:
        loop = (
            "for step in range(STEPS):\n"
            "    loss = train_step(Xt, yt, step)  # full batch: every point in every step\n"
        )
    return (
        _header("Train the playground's model the PyTorch way.", config, extra, uploaded, steps, K)
        + "\n" + _imports(config, uploaded, torch=True)
        + _constants(config, steps)
        + _data_section(config, extra, uploaded)
        + "\n\n# the model: torch.nn, in float64 as the playground computes\n"
        + "model = nn.Sequential(\n" + "\n".join(layers) + "\n).double()\n"
        + "linears = [m for m in model if isinstance(m, nn.Linear)]\n"
        + "# the starting weights: the lecture's 0.01 * N(0, 1), drawn by neuralab's engine with SEED\n"
        + "# (W_i of shape (d_in, d_out)) and copied in transposed, torch's (d_out, d_in) layout\n"
        + f"start = MLP({sizes}, activation={config['activation']!r}, seed=SEED).state_dict()\n"
        + "with torch.no_grad():\n"
        + "    for i, layer in enumerate(linears, start=1):\n"
        + "        layer.weight.copy_(torch.from_numpy(start[f\"W{i}\"].T))\n"
        + "        layer.bias.copy_(torch.from_numpy(start[f\"b{i}\"]))\n\n"
        + f"optimizer = {_TORCH_OPTIMIZERS[config['optimizer']]}\n\n\n"
        + "def loss_fn(scores, targets):\n"
        + "    \"\"\"Mean cross-entropy plus the L2 penalty 0.5 * REG * sum of W squared (not the biases).\"\"\"\n"
        + "    penalty = sum((layer.weight ** 2).sum() for layer in linears)\n"
        + "    return F.cross_entropy(scores, targets) + 0.5 * REG * penalty\n\n\n"
        + "def train_step(xb, yb, step):\n"
        + "    optimizer.zero_grad()\n"
        + "    loss = loss_fn(model(xb), yb)\n"
        + "    loss.backward()\n"
        + "    optimizer.step()\n"
        + "    if not torch.isfinite(loss):\n"
        + "        sys.exit(f\"the loss became {loss.item()} at iteration {step}: the weights diverged; \"\n"
        + "                 \"try a smaller learning rate\")\n"
        + "    if step % 1000 == 0:  # the loss of this step's forward pass, as the lecture prints it\n"
        + "        print(f\"iteration {step}: loss {loss.item():f}\")\n"
        + "    return loss\n\n\n"
        + "Xt, yt = torch.from_numpy(X_train).double(), torch.from_numpy(y_train)\n"
        + loop
        + "\n\n@torch.no_grad()\n"
        + "def accuracy(X, y):\n"
        + "    return (model(torch.from_numpy(X).double()).argmax(dim=1) == torch.from_numpy(y)).double().mean().item()\n\n\n"
        + "with torch.no_grad():\n"
        + "    print(f\"final loss: {loss_fn(model(Xt), yt).item():f} after {STEPS} steps\")\n"
        + "print(f\"train accuracy: {accuracy(X_train, y_train)!r}\")\n"
        + "if X_test is None:\n"
        + "    print(\"test accuracy: none (no test split)\")\n"
        + "else:\n"
        + "    print(f\"test accuracy: {accuracy(X_test, y_test)!r}\")\n"
    )
