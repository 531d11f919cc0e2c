"""Regression runs: the task's checks, model.json's entries, and scores in the target's units.

A regression run trains on the standardised target (:class:`~neuralab.data.target.TargetScaler`,
fitted on the training split) and writes everything in the target's own units:
metrics.json per split ``mse, mae, r2, loss, n`` (``loss`` is the training objective,
MSE on the standardised target plus the penalties), predictions.csv
``split,index,y_true,y_pred``, and the figures ``predicted.png`` (predicted against
true, with y = x) and ``residuals.png`` (residual against predicted).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from neuralab import ArgumentError
from neuralab.data.splits import Split
from neuralab.data.target import TargetScaler
from neuralab.fileio import write_columns, write_json
from neuralab.metrics import regression_metrics

#: settings that only a classifier takes: they are refused with task regression
CLASSIFICATION_ONLY = ("class_weight", "oversample", "max_fpr")


def check_task(data, settings) -> None:
    """Refuse a data set of the other task, and settings that need classes, with one line."""
    task, kind = settings.task, getattr(data, "task", "classification")
    if kind != task:
        if kind == "regression":
            raise ArgumentError("task", f"task {task}: data set {data.name} is a regression data "
                                        "set (a numeric target); set task regression", hint="task")
        raise ArgumentError("task", f"task {task}: data set {data.name} is a classification data "
                                    "set (class labels); set task classification, or use a "
                                    "regression set (diabetes, friedman1, a CSV with a numeric "
                                    "target)", hint="task")
    if task == "regression":
        for name in CLASSIFICATION_ONLY:
            if getattr(settings, name, None):
                raise ArgumentError(name, f"{name} applies to classification only; "
                                          "task regression has no classes")


def regression_meta(meta: dict, data, target: TargetScaler) -> dict:
    """model.json for a regression model: ``task``, ``target`` and the target's scaling, no classes."""
    out = {k: v for k, v in meta.items() if k != "classes"}
    out["task"] = "regression"
    out["target"] = data.target or "y"
    out["preprocessing"] = {**meta.get("preprocessing", {}), **target.to_meta()}
    out["layout"] = meta.get("layout", "") + ("; the one output u is a standardised "
                                              "prediction: y = u * target_scale + target_mean")
    return out


def score_splits(predictor, splits: dict[str, Split],
                 losses: dict[str, float] | None = None) -> tuple[dict, dict[str, np.ndarray]]:
    """(metrics, predictions) of every split, in the target's units."""
    preds = {key: predictor.predict_values(sp.X) for key, sp in splits.items()}
    metrics = {key: regression_metrics(sp.y, preds[key], loss=(losses or {}).get(key))
               for key, sp in splits.items()}
    return metrics, preds


def write_regression_scores(out: Path, title: str, history, metrics: dict, predictor,
                            splits: dict[str, Split], preds: dict[str, np.ndarray] | None) -> None:
    """metrics.json, predictions.csv and the figures of a regression run or evaluation."""
    from neuralab import plots

    preds = {key: (preds or {}).get(key) if (preds or {}).get(key) is not None
             else predictor.predict_values(sp.X) for key, sp in splits.items()}
    write_json(out / "metrics.json", metrics)

    write_columns(out / "predictions.csv", ["split", "index", "y_true", "y_pred"],
                  ((key, (sp.index,), (sp.y, np.ravel(preds[key]))) for key, sp in splits.items()))
    figures = out / "figures"
    target = predictor.meta.get("target") or "y"
    if history is not None:
        held_out = "validation" if "val" in splits else "test"
        plots.save_figure(plots.history_figure(history, title=title, val_label=held_out),
                          figures / "loss.png")
    parts = {key: (np.asarray(sp.y, dtype=float), preds[key]) for key, sp in splits.items()}
    plots.save_figure(plots.predicted_figure(parts, title=f"{title}: predicted against true",
                                             target=target), figures / "predicted.png")
    plots.save_figure(plots.residual_figure(parts, title=f"{title}: residuals", target=target),
                      figures / "residuals.png")


def fit_targets(settings, splits: dict[str, Split], resume=None
                ) -> tuple[TargetScaler | None, dict[str, np.ndarray]]:
    """(the target's scaling or None, the y each split is trained and scored on).

    Classification keeps the labels. Regression standardises the target by the
    training split's mean and standard deviation when ``settings.standardize`` is on
    (a resumed run keeps its own scaling), in the settings' dtype.
    """
    if settings.task != "regression":
        return None, {k: sp.y for k, sp in splits.items()}
    target = getattr(resume, "target", None)
    if target is None:
        target = TargetScaler.fit(splits["train"].y, settings.standardize)
    dtype = np.dtype(settings.dtype)
    return target, {k: target.transform(sp.y).astype(dtype) for k, sp in splits.items()}


def evaluate_targets(scored, splits: dict[str, Split], target: TargetScaler) -> tuple[dict, dict]:
    """(metrics, predictions in the target's units) of every split at the trainer's weights;
    ``scored(key)`` gives a split's (loss, outputs) on the standardised target."""
    metrics, preds = {}, {}
    for key, sp in splits.items():
        loss, outputs = scored(key)
        preds[key] = target.inverse(outputs)
        metrics[key] = regression_metrics(sp.y, preds[key], loss=loss)
    return metrics, preds


def run_task(run_dir: str | Path) -> str:
    """The task of a run's model (model.json's ``task``, checked); what reads its data needs it."""
    from neuralab.runs.predictor import read_model

    _, meta, _ = read_model(run_dir)
    return meta.get("task", "classification")
