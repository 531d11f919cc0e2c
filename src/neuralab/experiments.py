"""The library behind ``neuralab train`` and ``neuralab demo``: train, evaluate, write a run.

The command line only parses options and prints; everything here is usable from
Python and notebooks as well.
"""

from __future__ import annotations

import platform
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from neuralab import NeuralabError
from neuralab.data import Dataset, spiral, train_test_split
from neuralab.metrics import evaluate_predictions
from neuralab.nn.models import check_sizes
from neuralab.optim import OPTIMIZERS
from neuralab.runs import prepare_run_dir, save_checkpoint, versions, write_json, atomic_write
from neuralab.train import FitResult, PrintLogger, fit, make_engine_trainer

MODELS = ("linear", "mlp")
BACKENDS = ("numpy", "torch")
DEVICES = ("auto", "cpu", "cuda")
#: The lecture's iteration counts: 200 for the linear classifier, 10,000 for the 2-layer net.
LECTURE_ITERATIONS = {"linear": 200, "mlp": 10_000}


@dataclass
class TrainSettings:
    """Every setting of a training run; ``config.json`` stores them all."""

    model: str = "mlp"
    hidden: list[int] = field(default_factory=lambda: [100])
    activation: str = "relu"
    init: str = "lecture"
    lr: float = 1.0
    reg: float = 1e-3
    optimizer: str = "sgd"
    momentum: float = 0.9
    weight_decay: float = 0.0
    iterations: int | None = None
    epochs: int | None = None
    batch_size: int | None = None
    seed: int = 0
    backend: str = "numpy"
    dtype: str = "float64"
    device: str = "auto"
    log_every: int = 10
    test_fraction: float | None = None

    def validate(self) -> TrainSettings:
        """Check every value; raise NeuralabError naming the first bad one."""
        from neuralab.nn.activations import get_activation
        from neuralab.nn.init import get_init
        from neuralab.nn.module import as_dtype

        if self.model not in MODELS:
            raise NeuralabError(f"model must be one of {', '.join(MODELS)}; got {self.model!r}")
        if self.model == "linear" and self.hidden:
            self.hidden = []
        if self.model == "mlp":
            if not self.hidden or any(not isinstance(h, int) or h < 1 for h in self.hidden):
                raise NeuralabError(f"hidden sizes must be positive integers, got {self.hidden}")
        get_activation(self.activation)
        get_init(self.init)
        as_dtype(self.dtype)
        if self.backend not in BACKENDS:
            raise NeuralabError(f"backend must be one of {', '.join(BACKENDS)}; got {self.backend!r}")
        optimizers = OPTIMIZERS + (("manual",) if self.backend == "torch" else ())
        if self.optimizer not in optimizers:
            raise NeuralabError(
                f"optimizer must be one of {', '.join(optimizers)}; got {self.optimizer!r}"
                + (" (manual is the torch backend's by-hand update)" if self.optimizer == "manual" else "")
            )
        if self.device not in DEVICES:
            raise NeuralabError(f"device must be one of {', '.join(DEVICES)}; got {self.device!r}")
        if self.backend == "numpy" and self.device == "cuda":
            raise NeuralabError("device 'cuda' needs --backend torch; the numpy engine runs on the CPU")
        for name in ("lr",):
            v = getattr(self, name)
            if not np.isfinite(v) or v <= 0:
                raise NeuralabError(f"{name} must be a finite number > 0, got {v!r}")
        for name in ("reg", "weight_decay"):
            v = getattr(self, name)
            if not np.isfinite(v) or v < 0:
                raise NeuralabError(f"{name} must be a finite number >= 0, got {v!r}")
        if not (0 <= self.momentum < 1):
            raise NeuralabError(f"momentum must lie in [0, 1), got {self.momentum!r}")
        for name in ("iterations", "epochs", "batch_size"):
            v = getattr(self, name)
            if v is not None and v < 1:
                raise NeuralabError(f"{name} must be a positive integer, got {v!r}")
        if self.iterations is not None and self.epochs is not None:
            raise NeuralabError("give --iterations or --epochs, not both")
        if self.iterations is None and self.epochs is None:
            self.iterations = LECTURE_ITERATIONS[self.model]
        if self.seed < 0:
            raise NeuralabError(f"seed must be a non-negative integer, got {self.seed!r}")
        if self.log_every < 1:
            raise NeuralabError(f"log_every must be a positive integer, got {self.log_every!r}")
        if self.test_fraction is not None and not (0 < self.test_fraction < 1):
            raise NeuralabError(
                f"test_fraction must lie strictly between 0 and 1, got {self.test_fraction!r}"
            )
        return self

    def sizes(self, n_features: int, n_classes: int) -> list[int]:
        return check_sizes([n_features, *(self.hidden if self.model == "mlp" else []), n_classes])


def make_trainer(settings: TrainSettings, n_features: int, n_classes: int):
    """The trainer of the settings' backend, model and optimiser.

    Both backends draw the starting weights with the engine's seeded
    initialiser, so the same settings start from the same numbers.
    """
    common = dict(
        activation=settings.activation, init=settings.init, seed=settings.seed,
        dtype=settings.dtype, optimizer=settings.optimizer, lr=settings.lr, reg=settings.reg,
        momentum=settings.momentum, weight_decay=settings.weight_decay,
    )
    sizes = settings.sizes(n_features, n_classes)
    if settings.backend == "torch":
        from neuralab.torch_backend import make_torch_trainer

        return make_torch_trainer(sizes, device=settings.device, **common)
    return make_engine_trainer(sizes, **common)


def trainer_device(trainer) -> str:
    """Where a trainer computes: 'cpu' for the engine, the torch device otherwise."""
    return str(getattr(trainer, "device", "cpu"))


@dataclass
class RunResult:
    """What a finished training run reports back."""

    name: str
    settings: TrainSettings
    fit: FitResult
    metrics: dict
    run_dir: Path | None
    trainer: object

    @property
    def final_loss(self) -> float:
        return self.fit.final_loss

    @property
    def train_accuracy(self) -> float:
        return self.metrics["train"]["accuracy"]

    @property
    def test_accuracy(self) -> float | None:
        test = self.metrics.get("test")
        return None if test is None else test["accuracy"]


def split_data(train: Dataset, test: Dataset | None, settings: TrainSettings):
    """(X, y, X_test, y_test, test source) from the data and the settings."""
    if test is not None:
        if test.X.shape[1] != train.X.shape[1]:
            raise NeuralabError(
                f"--test-data has {test.X.shape[1]} features, the training data {train.X.shape[1]}"
            )
        return train.X, train.y, test.X, test.y, test.source
    if settings.test_fraction:
        X, Xt, y, yt, _, _ = train_test_split(train.X, train.y,
                                              test_fraction=settings.test_fraction,
                                              seed=settings.seed)
        return X, y, Xt, yt, f"{settings.test_fraction:g} of {train.name}, stratified, seed {settings.seed}"
    return train.X, train.y, None, None, None


def run_training(
    data: Dataset,
    settings: TrainSettings,
    *,
    test: Dataset | None = None,
    out: str | Path | None = None,
    overwrite: bool = False,
    print_every: int | None = None,
    echo: Callable[[str], None] | None = print,
    progress: bool | None = None,
    name: str = "train",
) -> RunResult:
    """Train on ``data`` with ``settings``; evaluate; write a run directory to ``out``.

    ``print_every`` prints ``iteration N: loss X`` lines (None: no lines).
    """
    settings.validate()
    X, y, X_test, y_test, test_source = split_data(data, test, settings)
    if test is not None and test.n_classes > data.n_classes:
        raise NeuralabError(
            f"--test-data has classes {test.classes}, more than the training data's {data.classes}"
        )
    run_dir = prepare_run_dir(out, overwrite=overwrite) if out is not None else None
    trainer = make_trainer(settings, X.shape[1], data.n_classes)
    dtype = np.dtype(settings.dtype)
    X = X.astype(dtype)
    X_test = None if X_test is None else X_test.astype(dtype)
    callbacks = []
    if print_every and echo is not None:
        callbacks.append(lambda step, loss, m: None if m.get("final") or step % print_every
                         else echo(f"iteration {step}: loss {loss:f}"))
    result = fit(trainer, X, y, iterations=settings.iterations, epochs=settings.epochs,
                 batch_size=settings.batch_size, seed=settings.seed,
                 log_every=settings.log_every, callbacks=callbacks, X_val=X_test, y_val=y_test,
                 progress=progress, description=name)
    metrics = {"train": evaluate_predictions(y, trainer.predict_proba(X), loss=result.final_loss,
                                             class_names=data.classes)}
    if X_test is not None:
        test_loss, _ = trainer.evaluate(X_test, y_test)
        metrics["test"] = evaluate_predictions(y_test, trainer.predict_proba(X_test),
                                               loss=test_loss, class_names=data.classes)
    run = RunResult(name=name, settings=settings, fit=result, metrics=metrics,
                    run_dir=run_dir, trainer=trainer)
    if run_dir is not None:
        write_run(run, data, X, y, X_test, y_test, test_source)
    return run


def model_meta(settings: TrainSettings, sizes: list[int], data: Dataset) -> dict:
    """model.json: everything needed to rebuild the model and recompute a prediction by hand."""
    d = sizes[0]
    return {
        "format": "neuralab-mlp",
        "format_version": 1,
        "sizes": sizes,
        "activation": settings.activation if len(sizes) > 2 else None,
        "dtype": settings.dtype,
        "classes": list(data.classes),
        "feature_names": list(data.feature_names),
        "preprocessing": {"mean": [0.0] * d, "scale": [1.0] * d},
        "tensors": [f"{k}{i}" for i in range(1, len(sizes)) for k in ("W", "b")],
        "layout": "W_i has shape (d_{i-1}, d_i); z_i = o_{i-1} W_i + b_i; "
                  "x is first standardised as (x - mean) / scale",
    }


def write_run(run: RunResult, data: Dataset, X, y, X_test, y_test, test_source) -> None:
    from neuralab import plots

    run_dir = run.run_dir
    s = run.settings
    trainer = run.trainer
    sizes = s.sizes(X.shape[1], data.n_classes)
    config = {
        "name": run.name,
        "settings": asdict(s),
        "seed": s.seed,
        "data": {
            **data.describe(),
            "train_shape": list(X.shape),
            "test_shape": None if X_test is None else list(X_test.shape),
            "test_source": test_source,
        },
        "model": {"sizes": sizes, "repr": repr(getattr(trainer, "model", ""))},
        "backend": s.backend,
        "device": trainer_device(trainer),
        "versions": versions(),
        "python": platform.python_version(),
        "steps": run.fit.steps,
        "train_seconds": run.fit.seconds,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    write_json(run_dir / "config.json", config)
    atomic_write(run_dir / "history.csv", run.fit.history.to_csv())
    write_json(run_dir / "metrics.json", run.metrics)
    K = data.n_classes
    lines = ["split,index,y_true,y_pred," + ",".join(f"p_{k}" for k in range(K))]
    for split, Xs, ys in (("train", X, y), ("test", X_test, y_test)):
        if Xs is None:
            continue
        probs = trainer.predict_proba(Xs)
        pred = probs.argmax(axis=1)
        for i in range(len(ys)):
            lines.append(f"{split},{i},{int(ys[i])},{int(pred[i])}," +
                         ",".join(f"{p:.10g}" for p in probs[i]))
    atomic_write(run_dir / "predictions.csv", "\n".join(lines) + "\n")
    save_checkpoint(run_dir, trainer.state_dict(), model_meta(s, sizes, data))
    figures = run_dir / "figures"
    plots.save_figure(plots.history_figure(run.fit.history, title=run.name), figures / "loss.png")
    cm = np.array(run.metrics["train"]["confusion_matrix"])
    plots.save_figure(plots.confusion_figure(cm, data.classes, title="confusion matrix (train)"),
                      figures / "confusion_train.png")
    if "test" in run.metrics:
        cm = np.array(run.metrics["test"]["confusion_matrix"])
        plots.save_figure(plots.confusion_figure(cm, data.classes, title="confusion matrix (test)"),
                          figures / "confusion_test.png")
    if X.shape[1] == 2:
        fig = plots.boundary_figure(trainer.predict_proba, X, y, X_test=X_test, y_test=y_test,
                                    class_names=data.classes, title=run.name)
        plots.save_figure(fig, figures / "boundary.png")


# --- the lecture's experiment -------------------------------------------------------------

DEMO_MODELS = (
    ("linear", "linear softmax classifier", 10),
    ("mlp", "2-layer ReLU net (hidden 100)", 1000),
)


@dataclass
class DemoResult:
    runs: list[RunResult]
    out: Path | None

    def table(self) -> list[dict]:
        return [
            {
                "model": r.name,
                "final_loss": r.final_loss,
                "train_accuracy": r.train_accuracy,
                "test_accuracy": r.test_accuracy,
                "seconds": r.fit.seconds,
                "iterations": r.fit.steps,
            }
            for r in self.runs
        ]


def run_demo(*, out: str | Path | None = None, seed: int = 0, backend: str = "numpy",
             dtype: str = "float64", device: str = "auto", overwrite: bool = False,
             echo: Callable[[str], None] | None = print, progress: bool | None = None) -> DemoResult:
    """The lecture's experiment: linear softmax against the 2-layer ReLU net on the spiral.

    Both train full batch with step 1.0 and reg 1e-3 on the seeded spiral (N=100,
    K=3): the linear classifier 200 iterations, the net 10,000. Each is scored on
    its training data and on a second spiral drawn with seed + 1. With ``out``,
    writes ``out/linear/`` and ``out/mlp/`` (run directories) and
    ``out/comparison.png``.
    """
    from neuralab import plots

    X, y = spiral(n_per_class=100, n_classes=3, seed=seed)
    Xt, yt = spiral(n_per_class=100, n_classes=3, seed=seed + 1)
    classes = ["0", "1", "2"]
    train = Dataset(X, y, classes, "spiral", f"the lecture's spiral, N=100, K=3, seed {seed}")
    test = Dataset(Xt, yt, classes, "spiral",
                   f"a second spiral, N=100, K=3, seed {seed + 1}")
    out = Path(out) if out is not None else None
    if out is not None:
        prepare_run_dir(out, overwrite=overwrite, figures=False)
    runs = []
    for model, title, every in DEMO_MODELS:
        if echo is not None:
            echo(f"\n== {title}: step 1.0, reg 1e-3, "
                 f"{LECTURE_ITERATIONS[model]:,} iterations, full batch ==")
        settings = TrainSettings(model=model, hidden=[100] if model == "mlp" else [],
                                 lr=1.0, reg=1e-3, seed=seed, backend=backend, dtype=dtype,
                                 device=device)
        runs.append(run_training(train, settings, test=test,
                                 out=None if out is None else out / model, overwrite=True,
                                 print_every=every, echo=echo, progress=progress, name=model))
    if out is not None:
        fig = plots.comparison_figure(
            [(f"{title}: train accuracy {r.train_accuracy:.0%}", r.trainer.predict_proba)
             for (_, title, _), r in zip(DEMO_MODELS, runs)], X, y)
        plots.save_figure(fig, out / "comparison.png")
        write_json(out / "comparison.json", DemoResult(runs, out).table())
    return DemoResult(runs, out)
