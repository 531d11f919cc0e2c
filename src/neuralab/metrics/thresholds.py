"""Decision thresholds on a binary classifier's positive-class score: the rates at a
given threshold, and the threshold that keeps the false positive rate under a limit.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass

import numpy as np

from neuralab import NeuralabError
from neuralab.metrics.counts import UndefinedMetricWarning
from neuralab.metrics.ranking import roc_curve


class TooFewNegativesWarning(UndefinedMetricWarning):
    """Too few negatives to estimate the false positive rate asked for (fewer than 1 / max_fpr)."""


@dataclass(frozen=True)
class OperatingPoint:
    """A decision threshold on the positive-class score and what it gives on one data set.

    Predict positive when ``score >= threshold``; ``threshold = inf`` never predicts
    positive.

    Attributes
    ----------
    threshold : float
    fpr, tpr, precision : float
        FP / (FP + TN), TP / (TP + FN), TP / (TP + FP); NaN where the denominator is 0.
    tp, fp, fn, tn : int
        Confusion counts at this threshold.
    max_fpr : float or None
        The limit the threshold was chosen for (:func:`threshold_for_fpr`), else None.
    """

    threshold: float
    fpr: float
    tpr: float
    precision: float
    tp: int
    fp: int
    fn: int
    tn: int
    max_fpr: float | None = None

    def as_dict(self) -> dict:
        return asdict(self)


def _check_binary(y_true, scores, pos_label) -> tuple[np.ndarray, np.ndarray]:
    """(is_positive, scores) as 1-D arrays, or NeuralabError."""
    s = np.asarray(scores)
    if s.ndim != 1 or s.dtype.kind not in "biuf":
        raise NeuralabError(f"scores must be a 1-D array of positive-class scores, got shape {s.shape} "
                            f"and dtype {s.dtype}")
    s = s.astype(float)
    y = np.asarray(y_true)
    if y.ndim != 1 or y.shape[0] != s.shape[0]:
        raise NeuralabError(f"y_true must have shape ({s.shape[0]},) to match scores, got shape {y.shape}")
    if y.size == 0:
        raise NeuralabError("y_true and scores are empty; a threshold needs at least one example")
    if not np.all(np.isfinite(s)):
        raise NeuralabError("scores must be finite, got NaN or infinity")
    labels = np.unique(y)
    if labels.size > 2:
        raise NeuralabError(f"y_true must hold at most two classes for a binary threshold, "
                            f"got {labels.size}: {labels.tolist()}")
    return y == pos_label, s


def _operating_point(pos, s, threshold: float, *, warn: bool, max_fpr=None) -> OperatingPoint:
    pred = s >= threshold
    tp = int(np.count_nonzero(pred & pos))
    fp = int(np.count_nonzero(pred & ~pos))
    fn = int(np.count_nonzero(~pred & pos))
    tn = int(np.count_nonzero(~pred & ~pos))
    undefined = []

    def rate(num, den, what):
        if den:
            return num / den
        undefined.append(what)
        return float("nan")

    fpr = rate(fp, fp + tn, "false positive rate (no negatives)")
    tpr = rate(tp, tp + fn, "true positive rate (no positives)")
    precision = rate(tp, tp + fp, "precision (nothing predicted positive)")
    if warn and undefined:
        warnings.warn(f"{', '.join(undefined)} undefined (0/0) at threshold {threshold}; "
                      "reported as NaN", UndefinedMetricWarning, stacklevel=3)
    return OperatingPoint(float(threshold), fpr, tpr, precision, tp, fp, fn, tn, max_fpr)


def rates_at_threshold(y_true: np.ndarray, scores: np.ndarray, threshold: float, *,
                       pos_label=1) -> OperatingPoint:
    """FPR, TPR, precision and confusion counts when predicting positive for ``score >= threshold``.

    Use it to score a threshold chosen on one split (say, by :func:`threshold_for_fpr`
    on validation data) on another split. A rate with a zero denominator is NaN, with
    an :class:`UndefinedMetricWarning`.

    Parameters
    ----------
    y_true : ndarray of shape (n_samples,)
        Labels of at most two classes; ``pos_label`` is the positive one.
    scores : ndarray of shape (n_samples,)
        Positive-class scores (``probs[:, 1]`` for a binary classifier).
    threshold : float
        Predict positive when ``score >= threshold``; ``inf`` never does.
    pos_label : int or str, default=1
        The label of the positive class.

    Returns
    -------
    OperatingPoint
        ``threshold, fpr, tpr, precision, tp, fp, fn, tn`` (``max_fpr`` is None).

    Examples
    --------
    >>> r = rates_at_threshold(np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8]), 0.4)
    >>> r.fpr, r.tpr, r.precision, (r.tp, r.fp, r.fn, r.tn)
    (0.5, 0.5, 0.5, (1, 1, 1, 1))
    """
    pos, s = _check_binary(y_true, scores, pos_label)
    if not isinstance(threshold, (int, float, np.integer, np.floating)) or math.isnan(threshold):
        raise NeuralabError(f"threshold must be a number (inf allowed), got {threshold!r}")
    return _operating_point(pos, s, float(threshold), warn=True)


def _warn_if_few_negatives(n_neg: int, max_fpr: float, where: str) -> None:
    """With fewer than 1 / max_fpr negatives one false positive already breaks the limit:
    the rate cannot be estimated, and a :class:`TooFewNegativesWarning` says so."""
    if 0 < n_neg and max_fpr > 0 and n_neg * max_fpr < 1:
        needed = 1 / max_fpr  # inf for a max_fpr as small as 5e-324
        needed = (f"at least {math.ceil(needed):,}" if needed < 1e15 else
                  f"at least {needed:.3g}" if math.isfinite(needed) else "more than can be counted")
        warnings.warn(f"{where} has only {n_neg} negatives, too few to estimate a false positive "
                      f"rate of {max_fpr:g} (that needs {needed}): the "
                      "threshold's rates on other data may differ widely", TooFewNegativesWarning,
                      stacklevel=3)


def threshold_for_fpr(y_true: np.ndarray, scores: np.ndarray, *, max_fpr: float,
                      pos_label=1, where: str = "y_true") -> OperatingPoint:
    """The threshold with the highest true positive rate whose false positive rate is <= ``max_fpr``.

    The lecture's spam filter: "keep false positives under 1 %" is
    ``threshold_for_fpr(y, scores, max_fpr=0.01)``. The candidates are the points of
    :func:`~neuralab.metrics.ranking.roc_curve` (every distinct score, and ``inf``; equal to
    ``sklearn.metrics.roc_curve(..., drop_intermediate=False)``); among those with
    FPR <= ``max_fpr`` the one with the highest TPR wins, and of equal TPR the one with
    the lower FPR (the higher threshold). The rates hold on (y_true, scores), the data
    the threshold was chosen on; check them on held-out data with
    :func:`rates_at_threshold`.

    When only "never predict positive" keeps the FPR under the limit, the threshold is
    ``inf`` with FPR 0 and TPR 0, and an :class:`UndefinedMetricWarning` says so.
    Without positives in ``y_true`` the TPR is undefined: ``inf``, TPR NaN, a warning.
    Without negatives no threshold can give a false positive: the lowest score, FPR
    NaN, a warning.

    Parameters
    ----------
    y_true : ndarray of shape (n_samples,)
        Labels of at most two classes; ``pos_label`` is the positive one.
    scores : ndarray of shape (n_samples,)
        Positive-class scores (``probs[:, 1]`` for a binary classifier), finite.
    max_fpr : float in [0, 1]
        The largest false positive rate allowed.
    pos_label : int or str, default=1
        The label of the positive class.
    where : str, default="y_true"
        What the labels are, for a :class:`TooFewNegativesWarning` ("the val split").

    Returns
    -------
    OperatingPoint
        ``threshold, fpr, tpr, precision, tp, fp, fn, tn`` and ``max_fpr``.

    Examples
    --------
    >>> y = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    >>> s = np.array([0.1, 0.2, 0.3, 0.7, 0.4, 0.6, 0.8, 0.9])
    >>> op = threshold_for_fpr(y, s, max_fpr=0.25)
    >>> op.threshold, op.fpr, op.tpr
    (0.4, 0.25, 1.0)
    >>> threshold_for_fpr(y, s, max_fpr=0.0).threshold
    0.8
    """
    if (isinstance(max_fpr, bool) or not isinstance(max_fpr, (int, float, np.integer, np.floating))
            or not 0.0 <= max_fpr <= 1.0):
        raise NeuralabError(f"max_fpr must be a number in [0, 1], got {max_fpr!r}")
    max_fpr = float(max_fpr)
    pos, s = _check_binary(y_true, scores, pos_label)
    n_pos = int(np.count_nonzero(pos))
    _warn_if_few_negatives(pos.size - n_pos, max_fpr, where)
    if n_pos == 0 or n_pos == pos.size:
        if n_pos == 0:
            threshold = math.inf
            why = f"no positive ({pos_label!r}) in y_true: the TPR is undefined; threshold = inf"
        else:
            threshold = float(s.min())
            why = "no negative in y_true: the FPR is undefined; threshold = the lowest score"
        warnings.warn(why, UndefinedMetricWarning, stacklevel=2)
        return _operating_point(pos, s, threshold, warn=False, max_fpr=max_fpr)
    # every distinct score is a candidate; fpr and tpr never decrease along the curve,
    # so the feasible points (fpr <= max_fpr) are a prefix that starts at (0, 0), t = inf
    fpr, tpr, thresholds = roc_curve(pos, s, drop_intermediate=False)
    feasible = fpr <= max_fpr
    best = int(np.flatnonzero(feasible & (tpr == tpr[feasible].max()))[0])
    if tpr[best] == 0:
        warnings.warn(f"only never predicting positive keeps the FPR <= max_fpr={max_fpr}; "
                      "threshold = inf (TPR 0)", UndefinedMetricWarning, stacklevel=2)
        return _operating_point(pos, s, math.inf, warn=False, max_fpr=max_fpr)
    return _operating_point(pos, s, float(thresholds[best]), warn=False, max_fpr=max_fpr)
