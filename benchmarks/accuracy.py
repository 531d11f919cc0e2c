"""Test-set accuracy of neuralab's models on real data sets, against stated targets.

What is measured
----------------
Each task trains one model through :func:`neuralab.lab.run_training`, the
function behind ``neuralab train`` (same splits, same standardisation fitted on the
training part, same schedule), and scores it on the data set's test part. The
table prints, for each task, the model, the metric, its value, the target, whether
the target is met, the seconds the task took (loading, training and evaluating) and
the ``neuralab train`` command line that does the same (without ``--quiet`` and
``--out`` it also writes a run directory; the numbers are the same).

- **fashion_mlp**: Fashion-MNIST (60,000 training images, scored on the data set's
  own 10,000 test images), the lecture's 784-100-10 ReLU net on the NumPy engine in
  float32, minibatches of 128. Target: test accuracy >= 89 %
  (scikit-learn's MLPClassifier with 100 hidden units scores 87.1 % in
  Fashion-MNIST's published benchmark).
- **fashion_linear**: the same data, the linear softmax classifier
  (``--model linear``). Target: >= 84 %.
- **digits**: scikit-learn's 8 x 8 digits (1,797 images), a stratified, seeded test
  split of 25 % (``--test-fraction 0.25``), a 64-100-10 ReLU net. Target: >= 97 %.
- **breast_cancer**: scikit-learn's Wisconsin breast cancer set (569 patients),
  a stratified 25 % test split, the linear softmax classifier (logistic
  regression). Target: ROC AUC >= 0.99 on the test split.
- **diabetes**, **friedman1** (regression): scikit-learn's bundled diabetes set (442
  patients) and ``make_friedman1`` (1,000 points, noise 1.0, seed 0), a seeded random
  25 % test split, a one-hidden-layer ReLU net trained with Adam on the standardised
  inputs and target (``--task regression``). Each is set side by side with
  scikit-learn's ``MLPRegressor`` given the same split, the same standardisation
  (inputs and target, fitted on the training part), the same hidden layer, Adam
  learning rate, batch size and number of epochs (``max_iter``; its L2 ``alpha`` left
  at its default). Target: neuralab's test R^2 at least as high as MLPRegressor's.
- **sklearn_mlp** (a reference, no target): scikit-learn's
  ``MLPClassifier(hidden_layer_sizes=(100,))`` with its defaults (Adam, lr 1e-3,
  batches of 200, alpha 1e-4), ``early_stopping=False``, a fixed number of epochs
  (``max_iter``), on the same 60,000 training and 10,000 test images, standardised as
  neuralab standardises them (mean and scale per pixel from the training images).

How to run
----------
From the repository root::

    .venv/bin/python benchmarks/accuracy.py                 # every task, about a minute or two
    .venv/bin/python benchmarks/accuracy.py --only digits   # one task (comma-separate several)
    .venv/bin/python benchmarks/accuracy.py --quick         # few epochs: a smoke test, targets may miss
    .venv/bin/python benchmarks/accuracy.py --json acc.json --strict

``--strict`` makes the exit status 1 when a target is missed (never with
``--quick``, whose short runs are not meant to reach them). The Fashion-MNIST tasks
need the IDX files in /usr/share/datasets/fashion-mnist (Debian's package
``dataset-fashion-mnist``); without them they are reported as skipped.
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import sys
import time
import warnings
from dataclasses import dataclass, field, fields

import numpy as np

import neuralab
from neuralab.runs import write_json

from _common import machine
from neuralab.config import TrainSettings
from neuralab.lab import run_training

# ---------------------------------------------------------------------------- the tasks


@dataclass
class Task:
    """One trained model, its metric and target; ``quick`` overrides settings for --quick."""

    name: str
    dataset: str
    model_label: str
    metric: str  # "accuracy" or "roc_auc"
    target: float
    settings: dict
    quick: dict = field(default_factory=dict)
    note: str = ""


# The lecture's 784-100-10 net: SGD with momentum 0.9, step 0.05 along a cosine
# down to 0 over 40 epochs, the lecture's 0.01 N(0, 1) initial weights, L2 reg 1e-3
# (0.5 * reg * sum W^2), standardised pixels, float32, batches of 128.
FASHION_MLP = dict(model="mlp", hidden=[100], optimizer="momentum", momentum=0.9, lr=0.05,
                   lr_schedule="cosine", reg=1e-3, epochs=40, batch_size=128, dtype="float32")
FASHION_LINEAR = dict(model="linear", optimizer="momentum", momentum=0.9, lr=0.01,
                      lr_schedule="cosine", reg=1e-4, epochs=20, batch_size=128, dtype="float32")
DIGITS_MLP = dict(model="mlp", hidden=[100], init="he", optimizer="momentum", momentum=0.9,
                  lr=0.05, lr_schedule="cosine", reg=1e-3, epochs=100, batch_size=32,
                  test_fraction=0.25)
CANCER_LINEAR = dict(model="linear", optimizer="momentum", momentum=0.9, lr=0.01,
                     lr_schedule="cosine", reg=1e-3, epochs=100, batch_size=32,
                     test_fraction=0.25)

TASKS = [
    Task("fashion_mlp", "fashion_mnist", "784-100-10 ReLU, numpy float32", "accuracy", 0.89,
         FASHION_MLP, quick={"epochs": 2}),
    Task("fashion_linear", "fashion_mnist", "784-10 linear softmax, numpy float32", "accuracy",
         0.84, FASHION_LINEAR, quick={"epochs": 1}),
    Task("digits", "digits", "64-100-10 ReLU, numpy float64", "accuracy", 0.97, DIGITS_MLP,
         quick={"epochs": 30}),
    Task("breast_cancer", "breast_cancer", "30-2 linear softmax, numpy float64", "roc_auc", 0.99,
         CANCER_LINEAR, quick={"epochs": 30}),
]
# Regression: adam on the standardised inputs and target, seeded random 25 % test split.
DIABETES_MLP = dict(task="regression", model="mlp", hidden=[16], init="he", optimizer="adam",
                    lr=1e-3, reg=0.1, epochs=100, batch_size=32, test_fraction=0.25)
FRIEDMAN_MLP = dict(task="regression", model="mlp", hidden=[32], init="he", optimizer="adam",
                    lr=3e-3, reg=1e-2, epochs=100, batch_size=32, test_fraction=0.25)
REGRESSION_TASKS = [
    Task("diabetes", "diabetes", "10-16-1 ReLU, adam, numpy float64", "r2", float("nan"),
         DIABETES_MLP, quick={"epochs": 10}),
    Task("friedman1", "friedman1", "10-32-1 ReLU, adam, numpy float64", "r2", float("nan"),
         FRIEDMAN_MLP, quick={"epochs": 10}),
]
SKLEARN_TASK = "sklearn_mlp"
SKLEARN_EPOCHS = 30
SKLEARN_QUICK_EPOCHS = 2
NAMES = [t.name for t in TASKS] + [t.name for t in REGRESSION_TASKS] + [SKLEARN_TASK]

# ------------------------------------------------------------- the equivalent command line

_FLAGS = {  # TrainSettings field -> neuralab train option
    "model": "--model", "hidden": "--hidden", "activation": "--activation", "init": "--init",
    "lr": "--lr", "reg": "--reg", "optimizer": "--optimizer", "momentum": "--momentum",
    "weight_decay": "--weight-decay", "iterations": "--iterations", "epochs": "--epochs",
    "batch_size": "--batch-size", "seed": "--seed", "backend": "--backend", "dtype": "--dtype",
    "device": "--device", "log_every": "--log-every", "test_fraction": "--test-fraction",
    "val_fraction": "--val-fraction", "max_fpr": "--max-fpr", "lr_schedule": "--lr-schedule",
    "lr_step": "--lr-step", "lr_gamma": "--lr-gamma", "early_stopping": "--early-stopping",
    "clip_norm": "--clip-norm", "class_weight": "--class-weight", "task": "--task",
    "augment_noise": "--augment-noise", "augment_shift": "--augment-shift",
}
_SWITCHES = {"standardize": ("--standardize", "--no-standardize"),
             "oversample": ("--oversample", None), "augment": ("--augment", None)}
# always written out, even where they equal the defaults (which the command line
# and TrainSettings share), so that the line reads as the recipe it is
_ALWAYS = ("model", "lr", "reg", "optimizer", "epochs", "batch_size", "dtype", "seed")
_SKIP = ("features",)  # settings the benchmark never sets


def command_line(dataset: str, settings: TrainSettings) -> str:
    """The ``neuralab train`` command that trains what ``run_training(data, settings)`` does."""
    defaults = TrainSettings()
    parts = ["neuralab", "train", "--dataset", dataset]
    for f in fields(TrainSettings):
        value, default = getattr(settings, f.name), getattr(defaults, f.name)
        if f.name in _SWITCHES:
            on, off = _SWITCHES[f.name]
            if value != default:
                parts.append(on if value else off)
            continue
        if f.name == "hidden":
            if settings.model == "mlp":
                for h in value:
                    parts += ["--hidden", str(h)]
            continue
        if (f.name == "iterations" and settings.epochs is not None) or f.name in _SKIP:
            continue
        if value is None or (value == default and f.name not in _ALWAYS):
            continue
        parts += [_FLAGS[f.name], f"{value:g}" if isinstance(value, float) else str(value)]
    return shlex.join(parts)


# ---------------------------------------------------------------------------- running


def fashion_available() -> str | None:
    """None when Fashion-MNIST can be loaded, else why not."""
    from neuralab.data.real import FASHION_MNIST_DIR, FASHION_MNIST_PACKAGE

    if not FASHION_MNIST_DIR.is_dir():
        return (f"{FASHION_MNIST_DIR} is missing: install Debian's package "
                f"{FASHION_MNIST_PACKAGE}")
    return None


_DATA_CACHE: dict[str, object] = {}


def load_data(name: str):
    from neuralab.data import load

    if name not in _DATA_CACHE:
        _DATA_CACHE[name] = load(name, seed=0)
    return _DATA_CACHE[name]


def run_task(task: Task, quick: bool) -> dict:
    settings = TrainSettings(**{**task.settings, **(task.quick if quick else {})})
    start = time.perf_counter()
    data = load_data(task.dataset)
    load_seconds = time.perf_counter() - start
    run = run_training(data, settings, echo=None, progress=False, name=task.name)
    seconds = time.perf_counter() - start
    test = run.metrics["test"]
    value = float(test[task.metric])
    return {
        "task": task.name,
        "dataset": task.dataset,
        "model": task.model_label,
        "metric": task.metric,
        "split": "test",
        "n_test": int(test.get("n_samples", len(run.splits["test"].y))),
        "value": value,
        "target": task.target,
        "met": bool(value >= task.target),
        "seconds": seconds,
        "load_seconds": load_seconds,
        "train_seconds": run.fit.seconds,
        "train_accuracy": float(run.metrics["train"]["accuracy"]),
        "test_accuracy": float(test["accuracy"]),
        "test_roc_auc": float(test.get("roc_auc", float("nan"))),
        "steps": run.fit.steps,
        "settings": {f.name: getattr(settings, f.name) for f in fields(TrainSettings)},
        "command": command_line(task.dataset, settings),
    }


def run_regression(task: Task, quick: bool) -> list[dict]:
    """neuralab's regression net and MLPRegressor with the same split, scaling and schedule:
    two rows, neuralab's with MLPRegressor's test R^2 as its target."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPRegressor

    from neuralab.data.preprocess import Standardizer
    from neuralab.metrics import r2_score

    settings = TrainSettings(**{**task.settings, **(task.quick if quick else {})})
    start = time.perf_counter()
    data = load_data(task.dataset)
    run = run_training(data, settings, echo=None, progress=False, name=task.name)
    seconds = time.perf_counter() - start
    train, test = run.splits["train"], run.splits["test"]  # the very rows neuralab used
    start = time.perf_counter()
    scaler = Standardizer.fit(train.X)
    mean, scale = float(train.y.mean()), float(train.y.std())
    reg = MLPRegressor(hidden_layer_sizes=tuple(settings.hidden), solver="adam",
                       learning_rate_init=settings.lr, batch_size=settings.batch_size,
                       max_iter=settings.epochs, early_stopping=False, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        reg.fit(scaler.transform(train.X), (train.y - mean) / scale)
    sk_r2 = r2_score(test.y, reg.predict(scaler.transform(test.X)) * scale + mean)
    sk_seconds = time.perf_counter() - start
    value = float(run.metrics["test"]["r2"])
    common = {"dataset": task.dataset, "metric": "r2", "split": "test", "n_test": len(test.y)}
    call = (f"MLPRegressor(hidden_layer_sizes={tuple(settings.hidden)}, learning_rate_init="
            f"{settings.lr:g}, batch_size={settings.batch_size}, max_iter={settings.epochs}, "
            f"random_state=0) on the same standardised split")
    return [
        {"task": task.name, "model": task.model_label, **common, "value": value,
         "target": sk_r2, "met": bool(value >= sk_r2), "seconds": seconds,
         "test_mse": float(run.metrics["test"]["mse"]), "sklearn_r2": sk_r2,
         "r2_difference": value - sk_r2, "r2_ratio": value / sk_r2 if sk_r2 else float("nan"),
         "settings": {f.name: getattr(settings, f.name) for f in fields(TrainSettings)},
         "command": command_line(task.dataset, settings)},
        {"task": f"{task.name}_sklearn", "model": "sklearn MLPRegressor, adam", **common,
         "value": sk_r2, "target": None, "met": None, "seconds": sk_seconds, "command": call},
    ]


def run_sklearn(quick: bool) -> dict:
    """scikit-learn's MLPClassifier(hidden_layer_sizes=(100,)) on the same Fashion-MNIST split."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    from neuralab.data.preprocess import Standardizer

    epochs = SKLEARN_QUICK_EPOCHS if quick else SKLEARN_EPOCHS
    start = time.perf_counter()
    data = load_data("fashion_mnist")
    scaler = Standardizer.fit(data.X)
    X, Xt = scaler.transform(data.X), scaler.transform(data.test.X)
    clf = MLPClassifier(hidden_layer_sizes=(100,), max_iter=epochs, early_stopping=False,
                        random_state=0)
    fit_start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, data.y)
    fit_seconds = time.perf_counter() - fit_start
    acc = float(np.mean(clf.predict(Xt) == data.test.y))
    seconds = time.perf_counter() - start
    call = (f"MLPClassifier(hidden_layer_sizes=(100,), max_iter={epochs}, early_stopping=False, "
            f"random_state=0).fit(X_standardised, y)")
    return {
        "task": SKLEARN_TASK,
        "dataset": "fashion_mnist",
        "model": f"sklearn MLPClassifier 100 ReLU, adam, {X.dtype.name}",
        "metric": "accuracy",
        "split": "test",
        "n_test": int(len(data.test.y)),
        "value": acc,
        "target": None,
        "met": None,
        "seconds": seconds,
        "train_seconds": fit_seconds,
        "train_accuracy": float(np.mean(clf.predict(X) == data.y)),
        "test_accuracy": acc,
        "epochs": int(clf.n_iter_),
        "sklearn_dtype": str(clf.coefs_[0].dtype),
        "command": call,
    }


# ---------------------------------------------------------------------------- output

COLUMNS = ("task", "model", "metric", "value", "target", "met?", "seconds", "command")


def format_table(rows: list[dict]) -> str:
    cells = []
    for r in rows:
        if r.get("skipped"):
            cells.append((r["task"], "-", r["metric"], "skipped", _target(r), "-", "-",
                          r["skipped"]))
            continue
        cells.append((
            r["task"], r["model"], r["metric"], f"{r['value']:.4f}", _target(r),
            "-" if r["met"] is None else ("yes" if r["met"] else "NO"),
            f"{r['seconds']:.2f}", r["command"],
        ))
    widths = [max(len(COLUMNS[i]), *(len(c[i]) for c in cells)) if cells else len(COLUMNS[i])
              for i in range(len(COLUMNS))]
    def line(values):
        return "  ".join(v.ljust(w) for v, w in zip(values, widths)).rstrip()
    out = [line(COLUMNS), line(["-" * w for w in widths[:-1]] + ["-" * len(COLUMNS[-1])])]
    out += [line(c) for c in cells]
    return "\n".join(out)


def _target(r: dict) -> str:
    if r.get("target") is None:
        return "-"
    return f">= {r['target']:.4f}" if r.get("metric") == "r2" else f">= {r['target']:g}"


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Test-set accuracy of neuralab's models on Fashion-MNIST, digits and "
        "breast cancer against stated targets, with scikit-learn's MLPClassifier as reference.")
    parser.add_argument("--quick", action="store_true",
                        help="few epochs, for a smoke test (the targets are not expected to be met)")
    parser.add_argument("--only", metavar="NAME[,NAME...]",
                        help=f"run only these tasks, of: {', '.join(NAMES)}")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON to PATH")
    parser.add_argument("--strict", action="store_true",
                        help="exit with status 1 when a target is missed (ignored with --quick)")
    args = parser.parse_args(argv)
    if args.only:
        chosen = [n.strip() for n in args.only.split(",") if n.strip()]
        unknown = [n for n in chosen if n not in NAMES]
        if unknown or not chosen:
            parser.error(f"--only takes names from {', '.join(NAMES)}; got {args.only!r}")
        args.only = chosen
    else:
        args.only = NAMES
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    print(f"neuralab {neuralab.__version__}, numpy {np.__version__}, python "
          f"{platform.python_version()}, {os.cpu_count()} CPUs"
          + (", --quick: short runs, targets not expected to be met" if args.quick else ""))
    rows = []
    missing_fashion = fashion_available()
    for task in TASKS:
        if task.name not in args.only:
            continue
        if task.dataset == "fashion_mnist" and missing_fashion:
            rows.append({"task": task.name, "metric": task.metric, "target": task.target,
                         "skipped": missing_fashion})
            continue
        print(f"running {task.name} ...", flush=True)
        rows.append(run_task(task, args.quick))
    for task in REGRESSION_TASKS:
        if task.name in args.only:
            print(f"running {task.name} and MLPRegressor ...", flush=True)
            rows += run_regression(task, args.quick)
    if SKLEARN_TASK in args.only:
        if missing_fashion:
            rows.append({"task": SKLEARN_TASK, "metric": "accuracy", "target": None,
                         "skipped": missing_fashion})
        else:
            print(f"running {SKLEARN_TASK} ...", flush=True)
            rows.append(run_sklearn(args.quick))
    print()
    print("test-set scores (the data set's own test part for Fashion-MNIST, a stratified "
          "25 % split, seed 0, otherwise; regression: a random 25 % split, seed 0)")
    print(format_table(rows))
    ref = next((r for r in rows if r["task"] == SKLEARN_TASK and not r.get("skipped")), None)
    mlp = next((r for r in rows if r["task"] == "fashion_mlp" and not r.get("skipped")), None)
    if ref and mlp:
        print(f"fashion_mlp - sklearn_mlp: {100 * (mlp['value'] - ref['value']):+.2f} points "
              f"(Fashion-MNIST's published benchmark: MLPClassifier, 100 hidden, 87.1 %)")
    for r in rows:
        if "sklearn_r2" in r:
            print(f"{r['task']}: test R^2 neuralab {r['value']:.4f}, MLPRegressor "
                  f"{r['sklearn_r2']:.4f}: difference {r['r2_difference']:+.4f}, ratio "
                  f"{r['r2_ratio']:.3f}")
    missed = [r["task"] for r in rows if r.get("met") is False]
    print("targets: " + ("all met" if not missed else f"missed by {', '.join(missed)}")
          + (" (--quick)" if args.quick else ""))
    if args.json:
        payload = {
            "benchmark": "accuracy",
            "quick": args.quick,
            **machine(),
            "results": rows,
        }
        write_json(args.json, payload)  # atomic, strict JSON
        print(f"wrote {args.json}")
    return 1 if (args.strict and not args.quick and missed) else 0


if __name__ == "__main__":
    sys.exit(main())
