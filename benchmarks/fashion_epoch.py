"""Seconds per epoch of the 784-100-10 net on Fashion-MNIST: engine, PyTorch, scikit-learn, matmuls.

What is measured
----------------
One epoch is one pass over Fashion-MNIST's 60,000 training images (pixels in
[0, 1], float32, 784 per image) in shuffled minibatches of 128 (468 of 128 and one
of 96), training the lecture's 784-100-10 ReLU net with mean softmax cross-entropy,
the L2 penalty ``0.5 * reg * sum W^2`` (reg 1e-4) and plain SGD with step 0.1, all in
float32. Every implementation shuffles its data each epoch and gathers each batch
from the shuffled order, as a training loop does:

- **engine fit()**: ``make_engine_trainer([784, 100, 10], dtype="float32",
  optimizer="sgd", lr=0.1, reg=1e-4)`` and one call of ``fit(trainer, X, y, epochs=1,
  batch_size=128, log_every=10**9, progress=False)``, what ``neuralab train`` runs.
  Two numbers come from it: the **fit() call**, its wall time, which includes the
  single evaluation that fit makes at its end (loss and accuracy over all 60,000
  training images: a forward pass of the whole set); and the **fit() epoch**, fit's
  own timer (``FitResult.seconds``), which covers its loop only: shuffling, gathering
  the batches, the training steps and the NaN checks.
- **CLI path fit() epoch**: ``fit`` as ``neuralab train`` calls it, from the run's own
  recipe (``neuralab.lab.prepare`` with the command line's defaults and the net, step,
  reg, batch and dtype above): the pixels standardised (for a training split this
  large, a batch at a time as the rows are read, so that no standardised copy of the
  images is held beside them) and the test split (10,000 images) scored at the end of
  every epoch for the history's ``val_loss``. fit's own timer, as for the fit() epoch.
  Target: at most 10 % over the engine fit() epoch. Two more rows take it apart:
  **with a progress bar**, the bar drawn as on a terminal (rich's console is made a
  terminal that writes to ``os.devnull``; target: under 1 % of the epoch), and **with
  no history rows** (``log_every`` past the end), which saves the held-out scoring.
  Their differences are within the machine's noise, so the bar's updates and the
  history row are also timed inside their own calls (:func:`logging_costs`).
- **engine train_step loop**: the same trainer driven bare: ``rng.permutation``,
  then ``trainer.train_step(X[idx], y[idx])`` for each batch.
- **PyTorch**: the loop as the lecture writes it, eager on the CPU:
  ``nn.Sequential(nn.Linear(784, 100), nn.ReLU(), nn.Linear(100, 10))``,
  ``torch.optim.SGD(net.parameters(), lr=0.1)``, tensors ``Xt``, ``yt`` made once;
  each epoch ``perm = torch.randperm(n)``, and for each batch ``xb, yb = Xt[idx],
  yt[idx]``, ``optimizer.zero_grad()``, ``loss = F.cross_entropy(net(xb), yb) +
  0.5*reg*(W1**2).sum() + 0.5*reg*(W2**2).sum()``, ``loss.backward()``,
  ``optimizer.step()``, ``loss.item()`` (the engine reads its loss as a float too).
- **scikit-learn**: ``MLPClassifier(hidden_layer_sizes=(100,), solver="sgd",
  batch_size=128, max_iter=1, learning_rate_init=0.1, alpha=1e-4)`` and one
  ``partial_fit(X, y, classes)`` per epoch, on the float32 array. Its defaults add
  Nesterov momentum 0.9; scikit-learn keeps float32 input in float32 (its weights take
  the input's dtype), and the table's note says which dtype its weights had.
- **matmul bound**: the five matrix products of a training step and nothing else,
  in float32, over all 469 batches (contiguous slices of X, preallocated outputs):
  forward ``X_b @ W1`` and ``hidden @ W2``; backward ``dscores @ W2.T``,
  ``hidden.T @ dscores`` and ``X_b.T @ dz1``. No implementation can beat this with
  the same BLAS; the engine should stay within 2.5 times of it.

The implementations run in one process, interleaved: after a warm-up epoch each,
``--repeats`` rounds (default 7) each time one epoch of every implementation,
their order rotated from round to round so that drifts of the machine touch all
alike. The table shows the median seconds per epoch, and each one's ratio to
PyTorch and to the matmul bound. The targets: engine / PyTorch <= 0.7 (aiming at
0.5) and engine / bound <= 2.5, judged on the engine's fit() epoch; the fit() call
is judged too, to show what its closing evaluation costs when an epoch is all a
call trains.

After the timing, the engine's train_step is taken apart (its own modules
called one by one, as ``EngineTrainer.train_step`` calls them, with a timer
between the parts) for ``--repeats`` epochs; the table gives the median
milliseconds per epoch of each part: the batch gather, zeroing the gradients,
each layer's forward and backward, the loss, the L2 penalty and the update,
next to the matmul bound's time for each product.

Last, the peak resident memory of a whole ``neuralab train --dataset
fashion_mnist --hidden 100 --epochs 1 --batch-size 128 --dtype float32 --lr 0.1
--reg 0.0001 --quiet`` run (the step and reg of the timing runs: with the command
line's default step, 1.0, this net diverges in its first epoch and the run stops
before it writes its files), in a child process: loading, training, evaluating
and writing the run directory, report and figures included; from ``os.wait4``'s
``ru_maxrss``,
against the 1 GB target (10^9 bytes). ``--no-memory`` skips it.

How to run
----------
From the repository root::

    .venv/bin/python benchmarks/fashion_epoch.py              # the full measurement, about a minute
    .venv/bin/python benchmarks/fashion_epoch.py --quick      # 3 rounds on the first 6,000 images
    .venv/bin/python benchmarks/fashion_epoch.py --repeats 9 --json epoch.json

Timings depend on the machine, on the BLAS and its thread count
(``OPENBLAS_NUM_THREADS``; the header prints what threadpoolctl reports) and on
torch's thread count (``--torch-threads N``); compare ratios across machines, not
raw seconds, and run on an otherwise idle machine (the script notes a load average
at or above the CPU count). Needs /usr/share/datasets/fashion-mnist (Debian's
package ``dataset-fashion-mnist``).
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

import neuralab
from neuralab.runs import write_json

from _common import (add_torch_threads, apply_torch_threads, loadavg_before_timing, machine,
                     timed_child)
from neuralab.train import fit, make_engine_trainer

SIZES = [784, 100, 10]
BATCH = 128
LR = 0.1
REG = 1e-4
DTYPE = "float32"
QUICK_IMAGES = 6_000
#: epochs over which the bar's and the history rows' own time is measured
LOGGING_EPOCHS = 3
MEMORY_TARGET_BYTES = 10**9
IMPLEMENTATIONS = ("engine_fit", "cli_fit", "cli_fit_bar", "cli_fit_unlogged", "engine_step",
                   "torch", "sklearn", "bound")
#: the CLI path's variants, each timed by fit's own loop timer
CLI_VARIANTS = ("cli_fit", "cli_fit_bar", "cli_fit_unlogged")
LABELS = {
    "engine_fit": "engine fit() call",
    "engine_fit_epoch": "engine fit() epoch",
    "cli_fit_epoch": "CLI path fit() epoch",
    "cli_fit_bar_epoch": "  with a progress bar",
    "cli_fit_unlogged_epoch": "  with no history rows",
    "engine_step": "engine train_step loop",
    "torch": "PyTorch eager",
    "sklearn": "scikit-learn partial_fit",
    "bound": "matmul bound",
}
ROWS = ("engine_fit_epoch", "cli_fit_epoch", "cli_fit_bar_epoch", "cli_fit_unlogged_epoch",
        "engine_fit", "engine_step", "torch", "sklearn", "bound")
#: the CLI path's epoch (standardised rows, the test split scored every epoch) against the
#: bare fit() epoch on the same pixels: at most 10 % more
CLI_TARGET = 1.10
QUICK_TEST_IMAGES = 2_000
# the command line's default step (1.0) makes this net diverge within the first
# epoch, which would end the run before it writes its run directory: the same
# step and reg as the timing runs, which change nothing in the memory
MEMORY_COMMAND = ["train", "--dataset", "fashion_mnist", "--hidden", "100", "--epochs", "1",
                  "--batch-size", "128", "--dtype", "float32", "--lr", str(LR), "--reg", str(REG),
                  "--quiet"]


def load_fashion(limit: int | None):
    """(X, y) of the first ``limit`` training images, and the data set cut to the same rows
    (its test part to QUICK_TEST_IMAGES when limited) for the CLI path."""
    import dataclasses

    from neuralab.data import load
    from neuralab.data.real import FASHION_MNIST_DIR, FASHION_MNIST_PACKAGE

    if not FASHION_MNIST_DIR.is_dir():
        sys.exit(f"error: {FASHION_MNIST_DIR} is missing; install Debian's package "
                 f"{FASHION_MNIST_PACKAGE}")
    data = load("fashion_mnist")
    X = np.ascontiguousarray(data.X[:limit], dtype=np.float32)
    y = np.ascontiguousarray(data.y[:limit], dtype=np.int64)
    if limit is not None:
        test = data.test
        test = dataclasses.replace(test, X=test.X[:QUICK_TEST_IMAGES], y=test.y[:QUICK_TEST_IMAGES])
        data = dataclasses.replace(data, X=X, y=y, test=test)
    return X, y, data


def five_products(mm, X, batches, W1, W2, hidden, scores, dscores, dhidden, dz1, dW1, dW2) -> None:
    """The five matrix products of a training step, ``mm(a, b, out=...)``, over every batch
    ``X[a:b]``: the matmul bound's epoch (here and in wide.py)."""
    for a, b in batches:
        m = b - a
        xb = X[a:b]
        mm(xb, W1, out=hidden[:m])
        mm(hidden[:m], W2, out=scores[:m])
        mm(dscores[:m], W2.T, out=dhidden[:m])
        mm(hidden[:m].T, dscores[:m], out=dW2)
        mm(xb.T, dz1[:m], out=dW1)


def batch_starts(n: int) -> list[tuple[int, int]]:
    return [(i, min(i + BATCH, n)) for i in range(0, n, BATCH)]


# ---------------------------------------------------------------------- implementations


class EngineFit:
    """One ``fit(epochs=1)`` call per epoch; remembers fit's own loop time."""

    def __init__(self, X, y, sizes=SIZES):
        self.X, self.y = X, y
        self.trainer = make_engine_trainer(sizes, dtype=DTYPE, optimizer="sgd", lr=LR, reg=REG)
        self.epoch = 0
        self.loop_seconds: list[float] = []

    def __call__(self) -> None:
        result = fit(self.trainer, self.X, self.y, epochs=1, batch_size=BATCH,
                     log_every=10**9, progress=False, seed=self.epoch)
        self.epoch += 1
        self.loop_seconds.append(result.seconds)


class CliFit:
    """``fit`` as ``neuralab train`` calls it, one epoch per call: the run's own recipe
    (:func:`neuralab.lab.prepare` with the command line's defaults and this benchmark's
    net, step, reg, batch and dtype), so the rows are standardised (a batch at a time as
    they are read, for a training split this large) and the test split is scored at the
    end of every epoch for the history's val_loss; remembers fit's own loop time."""

    def __init__(self, data, **fit_kwargs):
        from neuralab.config import TrainSettings
        from neuralab.lab import prepare

        settings = TrainSettings(hidden=[SIZES[1]], epochs=1, batch_size=BATCH, optimizer="sgd",
                                 lr=LR, reg=REG, dtype=DTYPE, seed=0)
        self.prep = prepare(data, settings)
        self.fit_kwargs = {"progress": False, **fit_kwargs}
        self.loop_seconds: list[float] = []

    def __call__(self) -> None:
        self.loop_seconds.append(self.prep.fit(**self.fit_kwargs).seconds)


class InsideCalls:
    """Seconds spent inside chosen methods during a block: each ``(cls, name)`` is wrapped
    on its class while the block runs, and its calls' times add up in ``seconds[name]``."""

    def __init__(self, *targets) -> None:
        self.targets = targets
        self.seconds = dict.fromkeys((name for _, name in targets), 0.0)
        self._saved: list = []

    def __enter__(self) -> InsideCalls:
        for cls, name in self.targets:
            method = getattr(cls, name)
            self._saved.append((cls, name, method))

            def timed(*args, _method=method, _name=name, **kwargs):
                start = time.perf_counter()
                try:
                    return _method(*args, **kwargs)
                finally:
                    self.seconds[_name] += time.perf_counter() - start
            setattr(cls, name, timed)
        return self

    def __exit__(self, *exc) -> None:
        for cls, name, method in reversed(self._saved):
            setattr(cls, name, method)
        self._saved = []


def logging_costs(data, epochs: int) -> dict:
    """What the CLI path's epoch spends on its progress bar and its history rows, measured
    inside their own calls over ``epochs`` epochs with the bar drawn as on a terminal:
    medians per epoch, in seconds and as shares of the epoch. A history row's held-out
    scoring is evaluation, not logging: it is left out of the rows' time and given apart."""
    from neuralab.train import _Loop
    from neuralab.train_log import _RichBar

    run = CliFit(data, progress=True)
    run()  # warm-up
    per_epoch = []
    for _ in range(epochs):
        with InsideCalls((_RichBar, "__enter__"), (_RichBar, "update"), (_RichBar, "__exit__"),
                         (_Loop, "log"), (_Loop, "observe_val")) as inside:
            run()
        t = inside.seconds
        # the bar's updates come every epoch; drawing it first and clearing it away, once a run
        per_epoch.append({"epoch": run.loop_seconds[-1], "bar": t["update"],
                          "bar_once": t["__enter__"] + t["__exit__"],
                          "rows": t["log"] - t["observe_val"], "held_out": t["observe_val"]})
    med = {k: statistics.median(e[k] for e in per_epoch) for k in per_epoch[0]}
    return {**{f"{k}_seconds": v for k, v in med.items()},
            "bar_share": med["bar"] / med["epoch"], "rows_share": med["rows"] / med["epoch"],
            "met": (med["bar"] + med["rows"]) / med["epoch"] < 0.01}


def format_logging_costs(c: dict) -> str:
    return (f"measured inside their calls (median of {LOGGING_EPOCHS} epochs with the bar): "
            f"the bar's updates {1e3 * c['bar_seconds']:.3f} ms and the history row "
            f"{1e3 * c['rows_seconds']:.3f} ms of a {c['epoch_seconds']:.4f} s epoch: "
            f"{100 * (c['bar_share'] + c['rows_share']):.2f} % (target < 1 %) "
            f"{'met' if c['met'] else 'MISSED'}; once a run, drawing the bar and clearing it "
            f"{1e3 * c['bar_once_seconds']:.1f} ms; the row's held-out scoring (evaluation, "
            f"not logging) {1e3 * c['held_out_seconds']:.1f} ms")


def bar_to_nowhere() -> None:
    """Make rich's console (the progress bar's) a terminal that writes to os.devnull, so
    that the bar is drawn, refreshed and written as on a terminal, with nothing shown."""
    import rich

    rich.reconfigure(file=open(os.devnull, "w", encoding="utf-8"), force_terminal=True,  # noqa: SIM115
                     width=100)


class EngineStep:
    """The engine's train_step in a bare loop over shuffled batches."""

    def __init__(self, X, y):
        self.X, self.y = X, y
        self.trainer = make_engine_trainer(SIZES, dtype=DTYPE, optimizer="sgd", lr=LR, reg=REG)
        self.rng = np.random.default_rng(0)

    def __call__(self) -> None:
        X, y, step = self.X, self.y, self.trainer.train_step
        n = len(y)
        order = self.rng.permutation(n)
        for i in range(0, n, BATCH):
            idx = order[i:i + BATCH]
            step(X[idx], y[idx])


class TorchLoop:
    """The lecture's eager PyTorch loop, batches gathered from tensors made once."""

    def __init__(self, X, y, sizes=SIZES):
        torch.manual_seed(0)
        self.net = nn.Sequential(nn.Linear(sizes[0], sizes[1]), nn.ReLU(),
                                 nn.Linear(sizes[1], sizes[2]))
        self.optimizer = torch.optim.SGD(self.net.parameters(), lr=LR)
        self.Xt = torch.from_numpy(X)
        self.yt = torch.from_numpy(y)

    def __call__(self) -> None:
        net, optimizer, Xt, yt = self.net, self.optimizer, self.Xt, self.yt
        W1, W2 = net[0].weight, net[2].weight
        n = len(yt)
        perm = torch.randperm(n)
        for i in range(0, n, BATCH):
            idx = perm[i:i + BATCH]
            xb, yb = Xt[idx], yt[idx]
            optimizer.zero_grad()
            scores = net(xb)
            loss = (F.cross_entropy(scores, yb) + 0.5 * REG * (W1**2).sum()
                    + 0.5 * REG * (W2**2).sum())
            loss.backward()
            optimizer.step()
            loss.item()


class SklearnEpoch:
    """One ``MLPClassifier.partial_fit`` (one epoch of its minibatch SGD) per call."""

    def __init__(self, X, y):
        from sklearn.neural_network import MLPClassifier

        self.X, self.y = X, y
        self.classes = np.arange(SIZES[-1])
        self.clf = MLPClassifier(hidden_layer_sizes=(SIZES[1],), solver="sgd", batch_size=BATCH,
                                 max_iter=1, learning_rate_init=LR, alpha=REG, random_state=0)

    def __call__(self) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.clf.partial_fit(self.X, self.y, classes=self.classes)

    @property
    def dtype(self) -> str:
        coefs = getattr(self.clf, "coefs_", None)
        return "?" if coefs is None else str(coefs[0].dtype)


class MatmulBound:
    """The five matrix products of each batch's training step, and nothing else."""

    def __init__(self, X, y):
        rng = np.random.default_rng(0)
        d, h, k = SIZES
        f32 = np.float32
        self.X = X
        self.batches = batch_starts(len(y))
        self.W1 = (0.01 * rng.standard_normal((d, h))).astype(f32)
        self.W2 = (0.01 * rng.standard_normal((h, k))).astype(f32)
        self.hidden = rng.random((BATCH, h), dtype=f32)
        self.scores = np.empty((BATCH, k), f32)
        self.dscores = (0.01 * rng.standard_normal((BATCH, k))).astype(f32)
        self.dhidden = np.empty((BATCH, h), f32)
        self.dz1 = (0.01 * rng.standard_normal((BATCH, h))).astype(f32)
        self.dW1 = np.empty((d, h), f32)
        self.dW2 = np.empty((h, k), f32)

    def __call__(self) -> None:
        five_products(np.matmul, self.X, self.batches, self.W1, self.W2, self.hidden,
                      self.scores, self.dscores, self.dhidden, self.dz1, self.dW1, self.dW2)

    def parts(self) -> dict[str, float]:
        """Seconds of one epoch of each product, each timed on its own."""
        X, W1, W2 = self.X, self.W1, self.W2
        h, s, ds, dh, dz1 = self.hidden, self.scores, self.dscores, self.dhidden, self.dz1
        out = dict.fromkeys(MATMUL_PARTS, 0.0)
        pc = time.perf_counter
        for a, b in self.batches:
            m = b - a
            xb = X[a:b]
            t0 = pc(); np.matmul(xb, W1, out=h[:m])
            t1 = pc(); np.matmul(h[:m], W2, out=s[:m])
            t2 = pc(); np.matmul(ds[:m], W2.T, out=dh[:m])
            t3 = pc(); np.matmul(h[:m].T, ds[:m], out=self.dW2)
            t4 = pc(); np.matmul(xb.T, dz1[:m], out=self.dW1)
            t5 = pc()
            for key, dt in zip(MATMUL_PARTS, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4)):
                out[key] += dt
        return out


MATMUL_PARTS = ("X@W1", "hidden@W2", "dscores@W2.T", "hidden.T@dscores", "X.T@dz1")


# ---------------------------------------------------------------------- profile


def profile_engine_epoch(X, y, trainer) -> dict[str, float]:
    """Seconds of one epoch of each part of the engine's train_step, the parts called one by one.

    Mirrors ``EngineTrainer.train_step``: zero the gradients, forward through each
    layer, the loss and the L2 penalty, backward through each layer (the first one
    without its input's gradient), the penalty's gradient, the optimiser's step.
    """
    model = trainer.model
    layers = getattr(model, "_layers", None)
    if layers is None:  # build the same order from the public attributes
        layers = []
        for lin, act in zip(model.linears, list(model.activations) + [None]):
            layers += [lin] + ([act] if act is not None else [])
    params, weights = model.parameters(), model.weights()
    loss_fn, penalty, optimizer = trainer.loss_fn, trainer.penalty, trainer.optimizer
    names_fwd = [_layer_name(layer, layers) for layer in layers]
    times: dict[str, float] = {}

    def add(key, dt):
        times[key] = times.get(key, 0.0) + dt

    pc = time.perf_counter
    n = len(y)
    rng = np.random.default_rng(1)
    t = pc()
    order = rng.permutation(n)
    add("shuffle (permutation)", pc() - t)
    for i in range(0, n, BATCH):
        t = pc()
        idx = order[i:i + BATCH]
        xb, yb = X[idx], y[idx]
        add("gather X[idx], y[idx]", pc() - t)
        t = pc()
        for p in params:
            p.grad.fill(0)
        add("zero grads", pc() - t)
        out = xb
        for layer, name in zip(layers, names_fwd):
            t = pc()
            out = layer.forward(out)
            add(f"forward {name}", pc() - t)
        t = pc()
        loss = float(loss_fn.forward(out, yb))
        add("loss forward (softmax, CE)", pc() - t)
        t = pc()
        loss += penalty.forward(weights)
        add("L2 penalty forward", pc() - t)
        t = pc()
        grad = loss_fn.backward()
        add("loss backward (dscores)", pc() - t)
        for layer, name in zip(reversed(layers), reversed(names_fwd)):
            t = pc()
            if layer is layers[0]:
                grad = layer.backward(grad, input_grad=False)
            else:
                grad = layer.backward(grad)
            add(f"backward {name}", pc() - t)
        t = pc()
        penalty.backward(weights)
        add("L2 penalty backward (reg*W)", pc() - t)
        t = pc()
        optimizer.step()
        add("optimizer step", pc() - t)
    return times


def _layer_name(layer, layers) -> str:
    same = [l for l in layers if type(l) is type(layer)]
    kind = type(layer).__name__
    return f"{kind}{same.index(layer) + 1}" if len(same) > 1 else kind


# ---------------------------------------------------------------------- memory


def neuralab_command() -> list[str]:
    script = Path(sys.executable).with_name("neuralab")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "import sys; from neuralab.cli import main; sys.exit(main())"]


def measure_memory() -> dict:
    """Peak RSS of a whole ``neuralab train`` run on Fashion-MNIST, one epoch (a child process)."""
    out_dir = Path(tempfile.mkdtemp(prefix="neuralab-mem-"))
    child = timed_child(neuralab_command() + MEMORY_COMMAND + ["--out", str(out_dir / "run")])
    shutil.rmtree(out_dir, ignore_errors=True)
    return {
        "command": " ".join(["neuralab"] + MEMORY_COMMAND + ["--out", "DIR"]),
        "returncode": child.returncode,
        "peak_rss_bytes": child.peak_rss,
        "peak_rss_mb": child.peak_rss / 1e6,
        "target_bytes": MEMORY_TARGET_BYTES,
        "met": child.returncode == 0 and child.peak_rss <= MEMORY_TARGET_BYTES,
        "seconds": child.wall,
        "stdout_tail": child.stdout[-500:],
        "stderr_tail": child.stderr[-2000:],
    }


# ---------------------------------------------------------------------- measurement


def measure(X, y, data, *, repeats: int) -> tuple[dict, dict]:
    runners = {
        "engine_fit": EngineFit(X, y),
        "cli_fit": CliFit(data),
        # the bar as on a terminal; and with no history rows (so no held-out scoring)
        "cli_fit_bar": CliFit(data, progress=True),
        "cli_fit_unlogged": CliFit(data, log_every=10**9),
        "engine_step": EngineStep(X, y),
        "torch": TorchLoop(X, y),
        "sklearn": SklearnEpoch(X, y),
        "bound": MatmulBound(X, y),
    }
    for run in runners.values():  # warm-up: buffers, allocator, BLAS and OpenMP threads
        run()
    for name in ("engine_fit", *CLI_VARIANTS):
        runners[name].loop_seconds.clear()
    samples = {name: [] for name in IMPLEMENTATIONS}
    k = len(IMPLEMENTATIONS)
    for r in range(repeats):
        order = IMPLEMENTATIONS[r % k:] + IMPLEMENTATIONS[:r % k]
        for name in order:
            start = time.perf_counter()
            runners[name]()
            samples[name].append(time.perf_counter() - start)
    samples["engine_fit_epoch"] = list(runners["engine_fit"].loop_seconds)
    for name in CLI_VARIANTS:  # fit's loop time: their wall time adds its closing evaluation
        samples[f"{name}_epoch"] = list(runners[name].loop_seconds)
        del samples[name]
    return samples, runners


def summarise(samples: dict) -> dict:
    med = {name: statistics.median(v) for name, v in samples.items()}
    out = {}
    for name in ROWS:
        out[name] = {
            "seconds": med[name],
            "over_torch": med[name] / med["torch"],
            "over_bound": med[name] / med["bound"],
            "samples": samples[name],
        }
    return out


def format_table(results: dict, n: int, torch_threads: int) -> str:
    title = (f"median seconds per epoch, {n:,} images, batches of {BATCH}, float32; "
             f"torch {torch.__version__} eager on the CPU, {torch_threads} threads")
    header = f"{'implementation':<26} {'s/epoch':>9} {'/PyTorch':>9} {'/bound':>8}"
    lines = [title, header, "-" * len(header)]
    for name in ROWS:
        r = results[name]
        lines.append(f"{LABELS[name]:<26} {r['seconds']:>9.4f} {r['over_torch']:>9.3f} "
                     f"{r['over_bound']:>8.3f}")
    return "\n".join(lines)


def format_targets(results: dict) -> tuple[str, dict]:
    verdicts = {}
    lines = []
    for name in ("engine_fit_epoch", "engine_fit"):
        r = results[name]
        torch_ok = r["over_torch"] <= 0.7
        bound_ok = r["over_bound"] <= 2.5
        verdicts[name] = {"over_torch_met": torch_ok, "over_bound_met": bound_ok,
                          "over_torch_aim_met": r["over_torch"] <= 0.5}
        lines.append(
            f"target {LABELS[name]}: engine/PyTorch {r['over_torch']:.3f} <= 0.7 "
            f"{'met' if torch_ok else 'MISSED'} (aim 0.5: "
            f"{'met' if r['over_torch'] <= 0.5 else 'not yet'}); engine/bound "
            f"{r['over_bound']:.3f} <= 2.5 {'met' if bound_ok else 'MISSED'}")
    cli = results["cli_fit_epoch"]["seconds"] / results["engine_fit_epoch"]["seconds"]
    verdicts["cli_fit_epoch"] = {"over_engine_fit_epoch": cli, "met": cli <= CLI_TARGET}
    lines.append(f"target {LABELS['cli_fit_epoch']}: over the engine fit() epoch {cli:.3f} <= "
                 f"{CLI_TARGET:.2f} {'met' if cli <= CLI_TARGET else 'MISSED'}")
    # the share of an epoch that the bar costs, and the history's rows (the held-out scoring)
    bar = results["cli_fit_bar_epoch"]["seconds"] / results["cli_fit_epoch"]["seconds"] - 1
    rows = 1 - results["cli_fit_unlogged_epoch"]["seconds"] / results["cli_fit_epoch"]["seconds"]
    verdicts["progress_bar_share"], verdicts["history_rows_share"] = bar, rows
    lines.append(f"progress bar: {100 * bar:+.1f} % of the CLI path's epoch (target < 1 %); "
                 f"history rows: {100 * rows:+.1f} % (the held-out split scored at each)")
    return "\n".join(lines), verdicts


def format_profile(parts: dict, bound_parts: dict, step_seconds: float, bound_seconds: float) -> str:
    total = sum(parts.values())
    lines = ["where the engine's train_step loop spends an epoch (median ms per epoch of "
             "each part, called one by one):",
             f"  {'part':<34} {'ms/epoch':>9} {'share':>7}"]
    for key, v in sorted(parts.items(), key=lambda kv: -kv[1]):
        lines.append(f"  {key:<34} {1e3 * v:>9.2f} {100 * v / total:>6.1f}%")
    lines.append(f"  {'sum of the parts':<34} {1e3 * total:>9.2f}  (the train_step loop "
                 f"measured whole: {1e3 * step_seconds:.2f})")
    lines.append("matmul bound, each product timed on its own (ms per epoch):")
    for key, v in bound_parts.items():
        lines.append(f"  {key:<34} {1e3 * v:>9.2f}")
    lines.append(f"  {'sum':<34} {1e3 * sum(bound_parts.values()):>9.2f}  (timed as one "
                 f"loop: {1e3 * bound_seconds:.2f})")
    return "\n".join(lines)


def blas_info() -> str:
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "threadpoolctl not installed"
    return "; ".join(f"{i.get('internal_api')} {i.get('version')} "
                     f"({i.get('num_threads')} threads, {i.get('architecture')}, "
                     f"{Path(i.get('filepath', '')).name})" for i in threadpool_info())


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Seconds per epoch of the 784-100-10 net on Fashion-MNIST (float32, "
        "batches of 128): the neuralab engine against eager PyTorch, scikit-learn and the "
        "matmul bound; and the peak memory of a one-epoch `neuralab train`.")
    parser.add_argument("--repeats", type=int, default=7,
                        help="timed epochs per implementation, interleaved (default 7, at least 3)")
    parser.add_argument("--quick", action="store_true",
                        help=f"3 rounds on the first {QUICK_IMAGES:,} images, for smoke tests "
                        "(the memory run still trains on all 60,000)")
    add_torch_threads(parser)
    parser.add_argument("--no-memory", action="store_true",
                        help="skip the peak-memory run of `neuralab train`")
    parser.add_argument("--no-profile", action="store_true",
                        help="skip taking the engine's train_step apart")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON to PATH")
    args = parser.parse_args(argv)
    if args.quick:
        args.repeats = 3
    if args.repeats < 3:
        parser.error(f"--repeats must be at least 3 (medians of >= 3 epochs), got {args.repeats}")
    args.threads_in_force = apply_torch_threads(args, parser)
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    torch_threads = torch.get_num_threads()
    X, y, data = load_fashion(QUICK_IMAGES if args.quick else None)
    n = len(y)
    print(f"Fashion-MNIST {n:,} x {X.shape[1]} float32 -> {SIZES[1]} ReLU -> {SIZES[2]}, "
          f"batches of {BATCH} ({len(batch_starts(n))} per epoch), SGD lr {LR}, reg {REG}")
    print(f"numpy {np.__version__}, torch {torch.__version__} ({torch_threads} threads), "
          f"neuralab {neuralab.__version__}, python {platform.python_version()}, "
          f"{os.cpu_count()} CPUs")
    print(f"BLAS: {blas_info()}")
    load_before = loadavg_before_timing()
    print(f"timing: {args.repeats} interleaved rounds of one epoch each (after one warm-up "
          f"epoch each), medians", flush=True)
    bar_to_nowhere()
    samples, runners = measure(X, y, data, repeats=args.repeats)
    load_after = os.getloadavg()
    results = summarise(samples)
    print(format_table(results, n, torch_threads))
    print(f"scikit-learn's weights are {runners['sklearn'].dtype} (float32 input kept as float32)"
          if runners["sklearn"].dtype == "float32" else
          f"scikit-learn's weights are {runners['sklearn'].dtype}: it converted the float32 input")
    targets_text, verdicts = format_targets(results)
    print(targets_text)
    verdicts["logging_costs"] = logging_costs(data, LOGGING_EPOCHS)
    print(format_logging_costs(verdicts["logging_costs"]))

    profile = None
    if not args.no_profile:
        trainer = make_engine_trainer(SIZES, dtype=DTYPE, optimizer="sgd", lr=LR, reg=REG)
        profile_engine_epoch(X, y, trainer)  # warm-up
        runs = [profile_engine_epoch(X, y, trainer) for _ in range(args.repeats)]
        parts = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
        bound = runners["bound"]
        bound_runs = [bound.parts() for _ in range(args.repeats)]
        bound_parts = {k: statistics.median(r[k] for r in bound_runs) for k in MATMUL_PARTS}
        print(format_profile(parts, bound_parts, results["engine_step"]["seconds"],
                             results["bound"]["seconds"]))
        fit_extra = results["engine_fit"]["seconds"] - results["engine_fit_epoch"]["seconds"]
        loop_extra = results["engine_fit_epoch"]["seconds"] - results["engine_step"]["seconds"]
        print(f"fit() over the bare train_step loop: {1e3 * loop_extra:+.2f} ms per epoch in its "
              f"loop; {1e3 * fit_extra:+.2f} ms more for its closing evaluation of all "
              f"{n:,} training images")
        profile = {"parts_seconds": parts, "bound_parts_seconds": bound_parts,
                   "fit_loop_over_step_loop_seconds": loop_extra,
                   "fit_closing_evaluation_seconds": fit_extra}

    memory = None
    if not args.no_memory:
        print("peak memory: running `neuralab train` on Fashion-MNIST, one epoch ...", flush=True)
        memory = measure_memory()
        if memory["returncode"] != 0:
            print(f"peak memory: the run failed with status {memory['returncode']}:\n"
                  f"{memory['stderr_tail']}")
        print(f"peak memory of `{memory['command']}`: {memory['peak_rss_mb']:.0f} MB "
              f"(ru_maxrss; {memory['seconds']:.1f} s); target <= 1000 MB "
              f"{'met' if memory['met'] else 'MISSED'}")

    if args.json:
        payload = {
            "benchmark": "fashion_epoch",
            "model": SIZES,
            "batch_size": BATCH,
            "lr": LR,
            "reg": REG,
            "dtype": DTYPE,
            "images": n,
            "quick": args.quick,
            "repeats": args.repeats,
            **machine(),
            "torch": torch.__version__,
            "torch_num_threads": torch_threads,
            "blas": blas_info(),
            "sklearn_weights_dtype": runners["sklearn"].dtype,
            "loadavg_before": list(load_before),
            "loadavg_after": list(load_after),
            "results": results,
            "targets": verdicts,
            "profile": profile,
            "memory": memory,
        }
        write_json(args.json, payload)  # atomic, strict JSON
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
