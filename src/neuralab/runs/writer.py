"""Writing a run directory from a training result: the files of the run directory contract.

Every file is written atomically; the report is built by the caller
(:mod:`neuralab.lab`) once these files exist, since the report layer sits above
this one.
"""

from __future__ import annotations

import functools
import platform
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from neuralab.config import TrainSettings
from neuralab.data import Dataset
from neuralab.data.preprocess import Standardizer
from neuralab.data.splits import Split
from neuralab.fileio import write_columns, write_csv, write_json
from neuralab.metrics import UndefinedMetricWarning
from neuralab.runs.parallel import Beside, side_by_side
from neuralab.runs.predictor import Predictor
from neuralab.runs.reader import CONFIG
from neuralab.runs.store import HISTORY, save_checkpoint, save_optimizer_state, versions
from neuralab.train import FitResult


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
    #: a signal (Ctrl-C, SIGTERM) came after training, while the run was written;
    #: the write was finished first
    stopped_while_writing: bool = False

    @property
    def final_loss(self) -> float:
        return self.fit.final_loss

    @property
    def train_accuracy(self) -> float | None:
        return self.metrics["train"].get("accuracy")  # None for regression

    @property
    def test_accuracy(self) -> float | None:
        test = self.metrics.get("test")
        return None if test is None else test.get("accuracy")

    @property
    def interrupted(self) -> bool:
        """A signal stopped the run: training early, or the command after the write."""
        return self.fit.interrupted or self.stopped_while_writing

    @property
    def device(self) -> str:
        """Where the trainer computed: 'cpu' for the engine, the torch device otherwise."""
        return str(getattr(self.trainer, "device", "cpu"))

    def _repr_html_(self) -> str:
        """A notebook shows the run as its settings, every split's scores and the loss curve."""
        from neuralab.notebook import run_html

        return run_html(self)


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
                  "x is first standardised as (x - mean) / scale"
                  + ("" if scaler.features is None else
                     ", after its columns x1, x2 are expanded into preprocessing.features"),
    }


def split_probs(predictor: Predictor, splits: dict[str, Split], probs: dict | None,
                key: str) -> np.ndarray:
    """A split's probabilities: the ones already computed, else the model's."""
    known = (probs or {}).get(key)
    return known if known is not None else predictor.predict_proba(splits[key].X)


def write_predictions(path: Path, predictor: Predictor, splits: dict[str, Split],
                      probs: dict[str, np.ndarray] | None = None) -> None:
    """predictions.csv: ``split,index,y_true,y_pred,p_0,...,p_{K-1}`` (index = row in the source)."""
    write_known_predictions(path, len(predictor.classes), splits,
                            lambda key: split_probs(predictor, splits, probs, key))


def write_known_predictions(path: Path, K: int, splits: dict[str, Split],
                            probs_of: Callable[[str], np.ndarray]) -> None:
    """predictions.csv from each split's probabilities, ``probs_of(key)``, over K classes."""
    def blocks():
        for key, sp in splits.items():
            probs_k = probs_of(key)
            yield key, (sp.index, sp.y, probs_k.argmax(axis=1)), probs_k.T

    write_columns(path, ["split", "index", "y_true", "y_pred", *(f"p_{k}" for k in range(K))],
                  blocks())


def _figure_job(figures: Path, make, name: str, *args, **kwargs):
    """A job that draws ``make(*args, **kwargs)`` and writes it to ``figures / name``."""
    from neuralab import plots

    def draw():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UndefinedMetricWarning)
            plots.save_figure(make(*args, **kwargs), figures / name)
    return draw


def confusion_jobs(figures: Path, classes: list[str], confusions: dict[str, np.ndarray]) -> list:
    """Each split's two confusion figures (counts; rows normalised) as jobs, from its
    confusion matrix."""
    from neuralab import plots

    jobs = []
    for key, cm in confusions.items():
        jobs.append(_figure_job(figures, plots.confusion_figure, f"confusion_{key}.png", cm,
                                classes, title=f"confusion matrix ({key})"))
        jobs.append(_figure_job(figures, plots.confusion_figure, f"confusion_{key}_normalized.png",
                                cm, classes, normalized=True,
                                title=f"confusion matrix ({key}), rows normalised"))
    return jobs


def early_jobs(out: Path, classes: list[str], splits: dict[str, Split],
               probs: dict[str, np.ndarray], confusions: dict[str, np.ndarray]) -> list:
    """What a classifier's run can write once every split's probabilities are known, before
    its metrics, as jobs, the longest first: predictions.csv, then the confusion figures
    (:func:`confusion_jobs`). A run starts them in a forked child
    (:class:`~neuralab.runs.parallel.Beside`) and hands them to :func:`write_scores`."""
    predictions = functools.partial(write_known_predictions, out / "predictions.csv",
                                    len(classes), splits, probs.__getitem__)
    return [predictions, *confusion_jobs(out / "figures", classes, confusions)]


def figure_jobs(figures: Path, run_name: str, history, metrics: dict, predictor: Predictor,
                splits: dict[str, Split], probs: dict[str, np.ndarray] | None = None
                ) -> tuple[list, list]:
    """The figures as jobs that each draw and write one: (curves, ROC, PR and the boundary
    of 2-D data; the confusion matrices), two halves of about equal work."""
    from neuralab import plots

    job = functools.partial(_figure_job, figures)
    classes = predictor.classes
    first = []
    if history is not None:
        held_out = "validation" if "val" in splits else "test"
        first.append(job(plots.history_figure, "loss.png", history, title=run_name,
                         val_label=held_out))
    confusions = confusion_jobs(figures, classes, {key: np.array(m["confusion_matrix"])
                                                   for key, m in metrics.items()})
    curve_split = next(k for k in ("test", "eval", "val", "train") if k in splits)
    sp = splits[curve_split]
    curve_probs = split_probs(predictor, splits, probs, curve_split)
    op = metrics[curve_split].get("operating_point")
    point = None if op is None else (op.get("fpr"), op.get("tpr"))
    first.append(job(plots.roc_figure, "roc.png", sp.y, curve_probs, classes,
                     title=f"ROC ({curve_split})", operating_point=point))
    first.append(job(plots.pr_figure, "pr.png", sp.y, curve_probs, classes,
                     title=f"precision-recall ({curve_split})"))
    train = splits.get("train") or sp
    if train.X.shape[1] == 2:
        held = splits.get("test") or splits.get("val")
        held = None if held is train else held
        first.append(job(plots.boundary_figure, "boundary.png",
                         predictor.predict_proba, train.X, train.y,
                         X_test=None if held is None else held.X,
                         y_test=None if held is None else held.y,
                         class_names=classes, title=run_name))
    return first, confusions


def write_figures(figures: Path, run_name: str, history, metrics: dict, predictor: Predictor,
                  splits: dict[str, Split], probs: dict[str, np.ndarray] | None = None) -> None:
    """Curves, confusion matrices, ROC and PR curves, and the boundary for 2-D data."""
    first, confusions = figure_jobs(figures, run_name, history, metrics, predictor, splits, probs)
    for draw in (*first, *confusions):
        draw()


def write_scores(out: Path, title: str, history, metrics: dict, predictor: Predictor,
                 splits: dict[str, Split], probs: dict[str, np.ndarray] | None = None, *,
                 early: Beside | None = None) -> None:
    """metrics.json, predictions.csv and the figures: what a run and an evaluation both write.

    predictions.csv and the confusion matrices are written in a forked child while this
    process writes the rest, and this process then takes what the child has not yet
    begun (:func:`~neuralab.runs.parallel.side_by_side`), where that can be done;
    ``early``: those jobs (:func:`early_jobs`) started earlier (a run starts them as
    soon as its probabilities are known, before its metrics), finished here. For a
    regression model, ``probs`` holds each split's predictions in the target's units
    (:func:`~neuralab.runs.regression.write_regression_scores`).
    """
    if predictor.task == "regression":
        from neuralab.runs.regression import write_regression_scores

        return write_regression_scores(out, title, history, metrics, predictor, splits, probs)
    write_json(out / "metrics.json", metrics)
    first, drawn = figure_jobs(out / "figures", title, history, metrics, predictor,
                               splits, probs)
    if early is None:
        predictions = functools.partial(write_predictions, out / "predictions.csv", predictor,
                                        splits, probs)
        side_by_side(first, [predictions, *drawn])
        return
    for job in first:
        job()
    early.finish()


def run_config(run: RunResult, data: Dataset, *, data_spec: dict | None,
               test_spec: dict | None) -> dict:
    """config.json: every setting, the seed, the data's source and shape, the versions."""
    s = run.settings
    train = run.splits["train"]
    test = run.splits.get("test")
    return {
        "name": run.name,
        "settings": s.to_dict(),
        "seed": s.seed,
        "data": {
            **data.describe(),
            "spec": data_spec,
            "test_spec": test_spec,
            "feature_names": list(data.feature_names),
            "splits": {k: {"shape": list(sp.X.shape), "source": sp.source}
                       for k, sp in run.splits.items()},
            "train_shape": list(train.X.shape),
            "test_shape": list(test.X.shape) if test is not None else None,
            "test_source": test.source if test is not None else None,
        },
        "model": {"sizes": s.sizes(train.X.shape[1], data.n_outputs),
                  "repr": repr(getattr(run.trainer, "model", ""))},
        "backend": s.backend,
        "device": run.device,
        "versions": versions(),
        "python": platform.python_version(),
        "steps": run.fit.steps,
        "train_seconds": run.fit.seconds,
        "interrupted": run.fit.interrupted,
        "stopped_early": run.fit.stopped_early,
        "restored_best_step": run.fit.best_step,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def write_run(run: RunResult, data: Dataset, *, data_spec: dict | None = None,
              test_spec: dict | None = None, folder: Path | None = None,
              early: Beside | None = None) -> None:
    """Every file of the run directory contract but the report, each written atomically.

    ``folder`` is where they go (default ``run.run_dir``): the new state's folder
    of a :class:`~neuralab.runs.state.NewState`, swapped in once it is whole.
    """
    run_dir = Path(folder if folder is not None else run.run_dir)
    save_checkpoint(run_dir, run.trainer.state_dict(), run.predictor.meta)
    tensors, scalars = run.trainer.optimizer_state()
    save_optimizer_state(run_dir, tensors, scalars, optimizer=run.settings.optimizer)
    write_json(run_dir / CONFIG, run_config(run, data, data_spec=data_spec, test_spec=test_spec))
    history = run.fit.history
    write_csv(run_dir / HISTORY, history.columns,
              ([row.get(c) for c in history.columns] for row in history.rows))
    write_scores(run_dir, run.name, history, run.metrics, run.predictor, run.splits, run.probs,
                 early=early)
