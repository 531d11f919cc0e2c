"""Regression metrics: mean squared error, mean absolute error and R^2, in the target's units.

Degenerate but valid input (fewer than two examples, or a constant target, where
R^2 has no denominator) gives an :class:`~neuralab.metrics.UndefinedMetricWarning`
and NaN; shapes that do not match raise :class:`~neuralab.NeuralabError`.

Examples
--------
>>> m = regression_metrics(np.array([1.0, 2.0, 3.0]), np.array([1.5, 2.0, 2.5]))
>>> round(m["mse"], 4), round(m["mae"], 4), round(m["r2"], 4), m["n"]
(0.1667, 0.3333, 0.75, 3)
"""

from __future__ import annotations

import warnings

import numpy as np

from neuralab import NeuralabError
from neuralab.metrics.counts import UndefinedMetricWarning


def _check(y_true, y_pred) -> tuple[np.ndarray, np.ndarray]:
    y_true = np.asarray(y_true, dtype=np.float64).reshape(-1)
    y_pred = np.asarray(y_pred, dtype=np.float64)
    if y_pred.ndim == 2 and y_pred.shape[1] == 1:
        y_pred = y_pred[:, 0]
    if y_pred.shape != y_true.shape:
        raise NeuralabError(f"y_true and y_pred must both be (n_samples,); got {y_true.shape} "
                            f"and {y_pred.shape}")
    return y_true, y_pred


def r2_score(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """1 - sum (y - y_pred)^2 / sum (y - mean y)^2; NaN (with a warning) for a constant target.

    >>> r2_score(np.array([1.0, 2.0, 3.0]), np.array([2.0, 2.0, 2.0]))
    0.0
    """
    y_true, y_pred = _check(y_true, y_pred)
    total = float(np.sum((y_true - y_true.mean()) ** 2)) if y_true.size else 0.0
    if y_true.size < 2 or total == 0.0:
        warnings.warn("R^2 is undefined for fewer than two examples or a constant target; "
                      "it is NaN", UndefinedMetricWarning, stacklevel=2)
        return float("nan")
    return 1.0 - float(np.sum((y_true - y_pred) ** 2)) / total


def regression_metrics(y_true: np.ndarray, y_pred: np.ndarray, *,
                       loss: float | None = None) -> dict:
    """What metrics.json holds for one split of a regression run.

    Parameters
    ----------
    y_true : ndarray of shape (n_samples,)
        The target, in its own units.
    y_pred : ndarray of shape (n_samples,) or (n_samples, 1)
        The predictions, in the same units.
    loss : float, optional
        The training objective to report as ``loss`` (MSE on the standardised
        target plus the penalties); the MSE by default.

    Returns
    -------
    dict
        ``mse``, ``mae``, ``r2``, ``loss``, ``n``. Undefined values are NaN.
    """
    y_true, y_pred = _check(y_true, y_pred)
    err = y_pred - y_true
    nan = float("nan")
    mse = float(np.mean(err ** 2)) if err.size else nan
    return {
        "mse": mse,
        "mae": float(np.mean(np.abs(err))) if err.size else nan,
        "r2": r2_score(y_true, y_pred),
        "loss": float(loss) if loss is not None else mse,
        "n": int(y_true.size),
    }
