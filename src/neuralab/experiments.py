"""The library behind ``neuralab train`` and ``neuralab demo``: train, evaluate, write a run.

The command line only parses options and prints; everything here is usable from
Python and notebooks as well.
"""

from __future__ import annotations

import platform
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from neuralab import NeuralabError
from neuralab.data import Dataset, load, load_file, spiral
from neuralab.data.preprocess import Standardizer
from neuralab.data.splits import three_way_split
from neuralab.metrics import UndefinedMetricWarning, evaluate_predictions
from neuralab.nn.models import check_sizes
from neuralab.optim import OPTIMIZERS
from neuralab.runs import (
    Predictor,
    atomic_write,
    prepare_run_dir,
    save_checkpoint,
    save_optimizer_state,
    versions,
    write_json,
)
from neuralab.data.augment import jitter, oversample_indices, shift_images
from neuralab.train import FitResult, balanced_class_weights, fit, lr_schedule, make_engine_trainer

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
    val_fraction: float | None = None
    standardize: bool = True
    max_fpr: float | None = None
    lr_schedule: str = "constant"
    lr_step: int | None = None
    lr_gamma: float = 0.1
    early_stopping: int | None = None
    clip_norm: float | None = None
    class_weight: str | None = None
    oversample: bool = False
    augment: bool = False
    augment_noise: float = 0.1
    augment_shift: int = 2

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
        for name in ("test_fraction", "val_fraction"):
            v = getattr(self, name)
            if v is not None and not (0 < v < 1):
                raise NeuralabError(f"{name} must lie strictly between 0 and 1, got {v!r}")
        if (self.test_fraction or 0) + (self.val_fraction or 0) >= 1:
            raise NeuralabError(f"test_fraction + val_fraction must be below 1, got "
                                f"{self.test_fraction} + {self.val_fraction}")
        if self.max_fpr is not None and not (0 <= self.max_fpr <= 1):
            raise NeuralabError(f"max_fpr must lie between 0 and 1, got {self.max_fpr!r}")
        if self.lr_schedule not in ("constant", "step", "cosine"):
            raise NeuralabError(f"lr_schedule must be one of constant, step, cosine; "
                                f"got {self.lr_schedule!r}")
        if self.lr_step is not None and self.lr_step < 1:
            raise NeuralabError(f"lr_step must be a positive integer, got {self.lr_step!r}")
        if not (0 < self.lr_gamma <= 1):
            raise NeuralabError(f"lr_gamma must lie in (0, 1], got {self.lr_gamma!r}")
        if self.early_stopping is not None and self.early_stopping < 1:
            raise NeuralabError(f"early_stopping patience must be a positive integer, "
                                f"got {self.early_stopping!r}")
        if self.clip_norm is not None and not (np.isfinite(self.clip_norm) and self.clip_norm > 0):
            raise NeuralabError(f"clip_norm must be a finite number > 0, got {self.clip_norm!r}")
        if self.class_weight not in (None, "balanced"):
            raise NeuralabError(f"class_weight must be balanced (or left out), got {self.class_weight!r}")
        if not (np.isfinite(self.augment_noise) and self.augment_noise > 0):
            raise NeuralabError(f"augment_noise must be a finite number > 0, got {self.augment_noise!r}")
        if self.augment_shift < 1:
            raise NeuralabError(f"augment_shift must be a positive integer, got {self.augment_shift!r}")
        return self

    def sizes(self, n_features: int, n_classes: int) -> list[int]:
        return check_sizes([n_features, *(self.hidden if self.model == "mlp" else []), n_classes])


def make_trainer(settings: TrainSettings, n_features: int, n_classes: int, *,
                 class_weight=None):
    """The trainer of the settings' backend, model and optimiser.

    Both backends draw the starting weights with the engine's seeded
    initialiser, so the same settings start from the same numbers.
    ``class_weight`` is the per-class weight array (``settings.class_weight``
    names the rule; the caller computes it from the training labels).
    """
    common = dict(
        activation=settings.activation, init=settings.init, seed=settings.seed,
        dtype=settings.dtype, optimizer=settings.optimizer, lr=settings.lr, reg=settings.reg,
        momentum=settings.momentum, weight_decay=settings.weight_decay,
        class_weight=class_weight, clip_norm=settings.clip_norm,
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
class Split:
    """One part of the data: raw features, labels, and their rows in the source."""

    X: np.ndarray
    y: np.ndarray
    index: np.ndarray
    source: str


@dataclass
class RunResult:
    """What a finished (or interrupted) training run reports back."""

    name: str
    settings: TrainSettings
    fit: FitResult
    metrics: dict
    run_dir: Path | None
    trainer: object
    predictor: Predictor
    splits: dict[str, Split]
    #: each split's probabilities at the final weights, computed once for the metrics
    #: and reused by the files that show them
    probs: dict[str, np.ndarray] = field(default_factory=dict)

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

    @property
    def interrupted(self) -> bool:
        return self.fit.interrupted


def make_splits(data: Dataset, test: Dataset | None, settings: TrainSettings) -> dict[str, Split]:
    """train, and val and test where asked for: stratified and seeded, or a separate test file."""
    if test is not None:
        if settings.test_fraction:
            raise NeuralabError("give --test-data or --test-fraction, not both")
        if test.X.shape[1] != data.X.shape[1]:
            raise NeuralabError(
                f"--test-data has {test.X.shape[1]} features, the training data {data.X.shape[1]}"
            )
        unseen = sorted(set(test.classes) - set(data.classes))
        if unseen:
            raise NeuralabError(f"--test-data has labels not seen in training: {unseen}")
    builtin_test = getattr(data, "test", None)
    if test is None and builtin_test is not None and not settings.test_fraction:
        test = builtin_test  # the data set's own test part (Fashion-MNIST's 10,000)
    parts = three_way_split(data.X, data.y, val_fraction=settings.val_fraction,
                            test_fraction=settings.test_fraction, seed=settings.seed)
    splits = {}
    for name in ("train", "val", "test"):
        if name in parts:
            idx = parts[name]
            how = "" if len(parts) == 1 else f", stratified, seed {settings.seed}"
            whole = len(idx) == len(data.y)  # no copy of a large data set used whole
            splits[name] = Split(data.X if whole else data.X[idx], data.y if whole else data.y[idx],
                                 idx, f"{data.name}: {len(idx)} rows{how}")
    if test is not None:
        y = remap_labels(test, data.classes)
        splits["test"] = Split(test.X, y, np.arange(len(y)), test.source)
    counts = np.bincount(splits["train"].y, minlength=data.n_classes)
    if np.any(counts == 0):
        missing = [data.classes[k] for k in np.flatnonzero(counts == 0)]
        raise NeuralabError(f"the training split has no examples of class {missing}; "
                            "use a smaller --test-fraction or --val-fraction")
    return splits


def remap_labels(data: Dataset, classes: list[str]) -> np.ndarray:
    """``data``'s labels as indices into ``classes`` (by name); unseen labels are an error."""
    index = {c: k for k, c in enumerate(classes)}
    unseen = sorted(set(data.classes) - set(index))
    if unseen:
        raise NeuralabError(f"{data.name} has labels not seen in training: {unseen}; "
                            f"the model knows {classes}")
    mapping = np.array([index[c] for c in data.classes], dtype=np.int64)
    return mapping[data.y]


@dataclass
class Resume:
    """Where a resumed run starts: weights, optimiser state, earlier history and steps."""

    state: dict[str, np.ndarray]
    optimizer_tensors: dict[str, np.ndarray]
    optimizer_scalars: dict
    history_rows: list[dict]
    start_step: int
    scaler: Standardizer
    seconds: float


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
    data_spec: dict | None = None,
    test_spec: dict | None = None,
    resume: Resume | None = None,
) -> RunResult:
    """Train on ``data`` with ``settings``; evaluate every split; write a run directory to ``out``.

    Standardisation (``settings.standardize``) is fitted on the training split only.
    ``print_every`` prints ``iteration N: loss X`` lines (None: no lines). Ctrl-C or
    SIGTERM stops training after the current step; the run directory is still
    written, with ``interrupted`` set, and the result says so.
    """
    settings.validate()
    splits = make_splits(data, test, settings)
    run_dir = prepare_run_dir(out, overwrite=overwrite) if out is not None else None
    train = splits["train"]
    if resume is not None:
        scaler = resume.scaler
    elif settings.standardize:
        scaler = Standardizer.fit(train.X)
    else:
        scaler = Standardizer.identity(train.X.shape[1])
    dtype = np.dtype(settings.dtype)
    scaled = {k: scaler.transform(sp.X).astype(dtype, copy=False) for k, sp in splits.items()}
    warn_if_unbalanced(train.y, data.classes)
    monitor = "val" if "val" in splits else ("test" if "test" in splits else None)
    callbacks = []
    if print_every and echo is not None:
        callbacks.append(lambda step, loss, m: None if m.get("final") or step % print_every
                         else echo(f"iteration {step}: loss {loss:f}"))

    def restore(trainer) -> None:
        trainer.load_state_dict(resume.state)
        trainer.load_optimizer_state(resume.optimizer_tensors, resume.optimizer_scalars)

    trainer, result = train_model(
        settings, scaled["train"], train.y, data.n_classes, scaler=scaler,
        image_shape=getattr(data, "image_shape", None),
        before_fit=None if resume is None else restore,
        log_every=settings.log_every, callbacks=callbacks,
        X_val=scaled.get(monitor), y_val=None if monitor is None else splits[monitor].y,
        progress=progress, description=name,
        start_step=0 if resume is None else resume.start_step)
    if resume is not None:
        earlier = [r for r in resume.history_rows if r["step"] < resume.start_step]
        result.history.rows[:0] = earlier
        result.seconds += resume.seconds
    meta = model_meta(settings, settings.sizes(train.X.shape[1], data.n_classes), data, scaler)
    predictor = Predictor(trainer.predict_proba, scaler, data.classes, data.feature_names, meta)
    metrics, probs = {}, {}
    for key, sp in splits.items():
        loss, probs[key] = trainer.evaluate(scaled[key], sp.y)
        metrics[key] = evaluate_predictions(sp.y, probs[key], loss=loss, class_names=data.classes)
    if settings.max_fpr is not None:
        add_operating_point(metrics, splits, probs, settings.max_fpr, data.classes)
    run = RunResult(name=name, settings=settings, fit=result, metrics=metrics,
                    run_dir=run_dir, trainer=trainer, predictor=predictor, splits=splits,
                    probs=probs)
    if run_dir is not None:
        write_run(run, data, data_spec=data_spec, test_spec=test_spec)
    return run


class ImbalanceWarning(UserWarning):
    """The rarest class has under 10 % of the most common class's examples."""


def warn_if_unbalanced(y: np.ndarray, classes: list[str], *, ratio: float = 0.1) -> None:
    """Warn when the rarest class has fewer than ``ratio`` times the most common's examples."""
    counts = np.bincount(y, minlength=len(classes))
    rare, common = int(np.argmin(counts)), int(np.argmax(counts))
    if counts[rare] < ratio * counts[common]:
        warnings.warn(
            f"class {classes[rare]!r} has {counts[rare]} training examples, under "
            f"{ratio:.0%} of class {classes[common]!r}'s {counts[common]}; consider "
            "--class-weight balanced or --oversample", ImbalanceWarning, stacklevel=3)


def steps_planned(settings: TrainSettings, n: int) -> int:
    """How many updates the settings ask for on n training examples."""
    if settings.iterations is not None:
        return settings.iterations
    batch = settings.batch_size
    per_epoch = 1 if batch is None or batch >= n else -(-n // batch)
    return settings.epochs * per_epoch


def make_augment(settings: TrainSettings, image_shape, scaler: Standardizer):
    """The augmentation the settings switch on: image shifts for images, jitter otherwise."""
    if not settings.augment:
        return None
    shape = image_shape
    if shape is not None:
        return shift_images(tuple(shape), max_shift=settings.augment_shift,
                            mean=None if scaler.is_identity else scaler.mean,
                            scale=None if scaler.is_identity else scaler.scale)
    return jitter(settings.augment_noise)


def train_model(settings: TrainSettings, X: np.ndarray, y: np.ndarray, n_classes: int, *,
                scaler: Standardizer, image_shape=None, before_fit=None, **fit_kwargs):
    """Build the settings' trainer and train it on scaled inputs X: one recipe for every caller.

    Applies what the settings ask around :func:`neuralab.train.fit`: balanced
    class weights and oversampling (from y), the learning-rate schedule,
    augmentation and early stopping. ``before_fit(trainer)`` runs once the trainer
    exists (a resumed run loads its weights there). ``fit_kwargs`` go to ``fit``
    (validation data, logging, callbacks). Returns (trainer, FitResult).
    """
    class_weight = (balanced_class_weights(y, n_classes)
                    if settings.class_weight == "balanced" else None)
    trainer = make_trainer(settings, X.shape[1], n_classes, class_weight=class_weight)
    if before_fit is not None:
        before_fit(trainer)
    X_fit, y_fit = X, y
    if settings.oversample:
        idx = oversample_indices(y, np.random.default_rng(settings.seed))
        X_fit, y_fit = X[idx], y[idx]
    schedule = lr_schedule(settings.lr_schedule, settings.lr, steps_planned(settings, len(y_fit)),
                           step_size=settings.lr_step, gamma=settings.lr_gamma)
    result = fit(trainer, X_fit, y_fit, iterations=settings.iterations, epochs=settings.epochs,
                 batch_size=settings.batch_size, seed=settings.seed, schedule=schedule,
                 early_stopping=settings.early_stopping,
                 augment=make_augment(settings, image_shape, scaler), **fit_kwargs)
    return trainer, result


def add_operating_point(metrics: dict, splits: dict[str, Split], probs: dict[str, np.ndarray],
                        max_fpr: float, classes: list[str]) -> None:
    """For a binary problem, the threshold that keeps FPR <= max_fpr, and its rates per split.

    The threshold is chosen on the validation split when there is one (else on the
    training split) and then applied unchanged to every split.
    """
    from neuralab.metrics import rates_at_threshold, threshold_for_fpr

    if len(classes) != 2:
        raise NeuralabError(f"--max-fpr needs a binary problem, this one has {len(classes)} classes")
    chosen_on = "val" if "val" in splits else "train"
    sp = splits[chosen_on]
    point = threshold_for_fpr(sp.y, probs[chosen_on][:, 1], max_fpr=max_fpr)
    for key, spl in splits.items():
        rates = rates_at_threshold(spl.y, probs[key][:, 1], point.threshold)
        metrics[key]["operating_point"] = {
            **rates.as_dict(), "max_fpr": max_fpr, "chosen_on": chosen_on,
            "positive_class": classes[1],
        }


def model_meta(settings: TrainSettings, sizes: list[int], data: Dataset,
               scaler: Standardizer) -> dict:
    """model.json: everything needed to rebuild the model and recompute a prediction by hand."""
    return {
        "format": "neuralab-mlp",
        "format_version": 1,
        "sizes": sizes,
        "activation": settings.activation if len(sizes) > 2 else None,
        "dtype": settings.dtype,
        "classes": list(data.classes),
        "feature_names": list(data.feature_names),
        "preprocessing": scaler.to_meta(),
        "tensors": [f"{k}{i}" for i in range(1, len(sizes)) for k in ("W", "b")],
        "layout": "W_i has shape (d_{i-1}, d_i); z_i = o_{i-1} W_i + b_i; "
                  "x is first standardised as (x - mean) / scale",
    }


def _split_probs(predictor: Predictor, splits: dict[str, Split], probs: dict | None,
                 key: str) -> np.ndarray:
    """A split's probabilities: the ones already computed, else the model's."""
    known = (probs or {}).get(key)
    return known if known is not None else predictor.predict_proba(splits[key].X)


def write_predictions(path: Path, predictor: Predictor, splits: dict[str, Split],
                      probs: dict[str, np.ndarray] | None = None) -> None:
    """predictions.csv: ``split,index,y_true,y_pred,p_0,...,p_{K-1}`` (index = row in the source)."""
    K = len(predictor.classes)
    lines = ["split,index,y_true,y_pred," + ",".join(f"p_{k}" for k in range(K))]
    for key, sp in splits.items():
        probs_k = _split_probs(predictor, splits, probs, key)
        pred = probs_k.argmax(axis=1)
        for i in range(len(sp.y)):
            lines.append(f"{key},{int(sp.index[i])},{int(sp.y[i])},{int(pred[i])}," +
                         ",".join(f"{p:.10g}" for p in probs_k[i]))
    atomic_write(path, "\n".join(lines) + "\n")


def write_figures(figures: Path, run_name: str, history, metrics: dict, predictor: Predictor,
                  splits: dict[str, Split], probs: dict[str, np.ndarray] | None = None) -> None:
    """Curves, confusion matrices, ROC and PR curves, and the boundary for 2-D data."""
    from neuralab import plots

    classes = predictor.classes
    if history is not None:
        held_out = "validation" if "val" in splits else "test"
        plots.save_figure(plots.history_figure(history, title=run_name, val_label=held_out),
                          figures / "loss.png")
    for key, m in metrics.items():
        cm = np.array(m["confusion_matrix"])
        plots.save_figure(plots.confusion_figure(cm, classes, title=f"confusion matrix ({key})"),
                          figures / f"confusion_{key}.png")
        plots.save_figure(plots.confusion_figure(cm, classes, normalized=True,
                                                 title=f"confusion matrix ({key}), rows normalised"),
                          figures / f"confusion_{key}_normalized.png")
    curve_split = next(k for k in ("test", "eval", "val", "train") if k in splits)
    sp = splits[curve_split]
    curve_probs = _split_probs(predictor, splits, probs, curve_split)
    op = metrics[curve_split].get("operating_point")
    point = None if op is None else (op.get("fpr"), op.get("tpr"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        plots.save_figure(plots.roc_figure(sp.y, curve_probs, classes, title=f"ROC ({curve_split})",
                                           operating_point=point), figures / "roc.png")
        plots.save_figure(plots.pr_figure(sp.y, curve_probs, classes,
                                          title=f"precision-recall ({curve_split})"),
                          figures / "pr.png")
    first = splits.get("train") or sp
    if first.X.shape[1] == 2:
        held = splits.get("test") or splits.get("val")
        if held is first:
            held = None
        fig = plots.boundary_figure(predictor.predict_proba, first.X, first.y,
                                    X_test=None if held is None else held.X,
                                    y_test=None if held is None else held.y,
                                    class_names=classes, title=run_name)
        plots.save_figure(fig, figures / "boundary.png")


def write_run(run: RunResult, data: Dataset, *, data_spec: dict | None = None,
              test_spec: dict | None = None) -> None:
    """Every file of the run directory contract, each written atomically, report last."""
    from neuralab.report import build_report

    run_dir = run.run_dir
    s = run.settings
    trainer = run.trainer
    train = run.splits["train"]
    sizes = s.sizes(train.X.shape[1], data.n_classes)
    config = {
        "name": run.name,
        "settings": asdict(s),
        "seed": s.seed,
        "data": {
            **data.describe(),
            "spec": data_spec,
            "test_spec": test_spec,
            "feature_names": list(data.feature_names),
            "splits": {k: {"shape": list(sp.X.shape), "source": sp.source}
                       for k, sp in run.splits.items()},
            "train_shape": list(train.X.shape),
            "test_shape": list(run.splits["test"].X.shape) if "test" in run.splits else None,
            "test_source": run.splits["test"].source if "test" in run.splits else None,
        },
        "model": {"sizes": sizes, "repr": repr(getattr(trainer, "model", ""))},
        "backend": s.backend,
        "device": trainer_device(trainer),
        "versions": versions(),
        "python": platform.python_version(),
        "steps": run.fit.steps,
        "train_seconds": run.fit.seconds,
        "interrupted": run.fit.interrupted,
        "stopped_early": run.fit.stopped_early,
        "restored_best_step": run.fit.best_step,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    save_checkpoint(run_dir, trainer.state_dict(), run.predictor.meta)
    tensors, scalars = trainer.optimizer_state()
    save_optimizer_state(run_dir, tensors, scalars, optimizer=s.optimizer)
    write_json(run_dir / "config.json", config)
    atomic_write(run_dir / "history.csv", run.fit.history.to_csv())
    write_json(run_dir / "metrics.json", run.metrics)
    write_predictions(run_dir / "predictions.csv", run.predictor, run.splits, run.probs)
    write_figures(run_dir / "figures", run.name, run.fit.history, run.metrics, run.predictor,
                  run.splits, run.probs)
    build_report(run_dir)


def _settings_from_config(config: dict) -> TrainSettings:
    known = set(TrainSettings.__dataclass_fields__)
    return TrainSettings(**{k: v for k, v in config.get("settings", {}).items() if k in known})


def load_data_spec(spec: dict | None) -> Dataset:
    """Load the data a run was trained on, from config.json's ``data.spec``."""
    if not isinstance(spec, dict) or spec.get("kind") not in ("registry", "file"):
        raise NeuralabError("config.json does not say where the run's data came from; "
                            "give the data with --data FILE")
    if spec["kind"] == "registry":
        return load(spec["name"], seed=int(spec.get("seed", 0)), **spec.get("options", {}))
    return load_file(spec["path"], target=spec.get("target"))


@dataclass
class RunData:
    """Where a run's data came from, loaded again: settings, data sets and their specs."""

    config: dict
    settings: TrainSettings
    data: Dataset
    test: Dataset | None
    data_spec: dict | None
    test_spec: dict | None

    def splits(self) -> dict[str, Split]:
        """The run's train (and val, test) splits, exactly as it made them."""
        return make_splits(self.data, self.test, self.settings)


def load_run_data(run_dir: str | Path) -> RunData:
    """Read a run's config.json and load its training (and test) data again."""
    from neuralab.runs import read_json

    run_dir = Path(run_dir)
    if not (run_dir / "config.json").is_file():
        raise NeuralabError(f"{run_dir} is not a run directory (no config.json)")
    config = read_json(run_dir / "config.json")
    data_cfg = config.get("data", {})
    data_spec, test_spec = data_cfg.get("spec"), data_cfg.get("test_spec")
    return RunData(config=config, settings=_settings_from_config(config),
                   data=load_data_spec(data_spec),
                   test=load_data_spec(test_spec) if test_spec else None,
                   data_spec=data_spec, test_spec=test_spec)


def resume_training(run_dir: str | Path, *, iterations: int | None = None,
                    epochs: int | None = None, print_every: int | None = None,
                    echo: Callable[[str], None] | None = print,
                    progress: bool | None = None) -> RunResult:
    """Continue a run from its checkpoint and optimiser state, in the same directory.

    Trains ``iterations`` (or ``epochs``) more, by default as many as the run
    was set to; history rows are appended and every file is rewritten atomically.
    """
    from neuralab.runs import load_checkpoint, load_optimizer_state

    run_dir = Path(run_dir)
    if not (run_dir / "config.json").is_file():
        raise NeuralabError(f"--resume {run_dir} is not a run directory (no config.json)")
    source = load_run_data(run_dir)
    config, settings = source.config, source.settings
    if iterations is not None or epochs is not None:
        settings.iterations, settings.epochs = iterations, epochs
    state, meta = load_checkpoint(run_dir)
    tensors, scalars = load_optimizer_state(run_dir)
    if scalars.pop("optimizer", settings.optimizer) != settings.optimizer:
        tensors, scalars = {}, {}
    resume = Resume(state=state, optimizer_tensors=tensors, optimizer_scalars=scalars,
                    history_rows=_read_history(run_dir / "history.csv"),
                    start_step=int(config.get("steps", 0)),
                    scaler=Standardizer.from_meta(meta, meta["sizes"][0]),
                    seconds=float(config.get("train_seconds", 0.0)))
    return run_training(source.data, settings, test=source.test, out=run_dir, overwrite=True,
                        print_every=print_every, echo=echo, progress=progress,
                        name=config.get("name", "train"), data_spec=source.data_spec,
                        test_spec=source.test_spec, resume=resume)


def _read_history(path: Path) -> list[dict]:
    import csv

    if not path.exists():
        return []
    rows = []
    with path.open(newline="") as fh:
        for raw in csv.DictReader(fh):
            row = {"step": int(raw["step"])}
            for k, v in raw.items():
                if k != "step":
                    row[k] = float(v) if v else float("nan")
            rows.append(row)
    return rows


def evaluate_run(run_dir: str | Path, data: Dataset | None = None, *,
                 out: str | Path | None = None, backend: str = "numpy") -> tuple[dict, Path]:
    """Score a saved model on new data (or again on its own splits); write the results.

    Writes ``metrics.json``, ``predictions.csv`` and figures to ``out`` (default
    ``RUN_DIR/evaluations/<time>-<data>/``), never over the run's own files.
    Returns (metrics by split, the folder written).
    """
    from neuralab.runs import load_model

    run_dir = Path(run_dir)
    predictor = load_model(run_dir, backend=backend)
    if data is None:
        splits = load_run_data(run_dir).splits()
        label = "own-splits"
    else:
        _check_features(data, predictor)
        y = remap_labels(data, predictor.classes)
        splits = {"eval": Split(data.X, y, np.arange(len(y)), data.source)}
        label = Path(data.name).stem
    for key, sp in splits.items():
        predictor.check_width(sp.X, where=f"the {key} data")
    if out is None:
        out = run_dir / "evaluations" / f"{time.strftime('%Y%m%d-%H%M%S')}-{label}"
    out = prepare_run_dir(out)
    probs = {key: predictor.predict_proba(sp.X) for key, sp in splits.items()}
    metrics = {key: evaluate_predictions(sp.y, probs[key], class_names=predictor.classes)
               for key, sp in splits.items()}
    write_json(out / "metrics.json", metrics)
    write_predictions(out / "predictions.csv", predictor, splits, probs)
    write_figures(out / "figures", f"{run_dir.name}: evaluation", None, metrics, predictor, splits,
                  probs)
    return metrics, out


def _check_features(data: Dataset, predictor: Predictor) -> None:
    """Reorder a CSV's feature columns to the model's; refuse a wrong width."""
    names = list(data.feature_names)
    if set(names) == set(predictor.feature_names) and names != predictor.feature_names:
        order = [names.index(c) for c in predictor.feature_names]
        data.X = data.X[:, order]
        data.feature_names = list(predictor.feature_names)
    predictor.check_width(data.X, where=f"data {data.name}")


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

    train = load("spiral", seed=seed)
    train.source = f"the lecture's spiral, N=100, K=3, seed {seed}"
    test = load("spiral", seed=seed + 1)
    test.source = f"a second spiral, N=100, K=3, seed {seed + 1}"
    spec = {"kind": "registry", "name": "spiral", "seed": seed}
    test_spec = {**spec, "seed": seed + 1}
    out = Path(out) if out is not None else None
    if out is not None:
        prepare_run_dir(out, overwrite=overwrite, figures=False)
    runs = []
    for model, title, every in DEMO_MODELS:
        if echo is not None:
            echo(f"\n== {title}: step 1.0, reg 1e-3, "
                 f"{LECTURE_ITERATIONS[model]:,} iterations, full batch ==")
        # the lecture feeds the spiral to the network as it is: no standardisation
        settings = TrainSettings(model=model, hidden=[100] if model == "mlp" else [],
                                 lr=1.0, reg=1e-3, seed=seed, backend=backend, dtype=dtype,
                                 device=device, standardize=False)
        run = run_training(train, settings, test=test,
                           out=None if out is None else out / model, overwrite=True,
                           print_every=every, echo=echo, progress=progress, name=model,
                           data_spec=spec, test_spec=test_spec)
        runs.append(run)
        if run.interrupted:
            break
    if out is not None:
        from neuralab.report import build_comparison_report

        fig = plots.comparison_figure(
            [(f"{title}: train accuracy {r.train_accuracy:.0%}", r.predictor.predict_proba)
             for (_, title, _), r in zip(DEMO_MODELS, runs)], train.X, train.y)
        plots.save_figure(fig, out / "comparison.png")
        write_json(out / "comparison.json", DemoResult(runs, out).table())
        build_comparison_report(out, [r.name for r in runs])
    return DemoResult(runs, out)
