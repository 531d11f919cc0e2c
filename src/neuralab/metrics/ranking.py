"""Binary ranking metrics in NumPy: the ROC and precision-recall curves of one score, the
areas under them (ROC AUC, average precision), the trapezoid area of a curve, and one-hot
labels.

Each function gives the same numbers as the scikit-learn function of the same name
(``sklearn.metrics.roc_curve``, ``roc_auc_score``, ``precision_recall_curve``,
``average_precision_score``, ``auc``, ``sklearn.preprocessing.label_binarize``) for
binary labels and finite scores, ties included; the tests compare them. neuralab
computes them itself so that computing metrics does not import scikit-learn and SciPy
(a second or more of every ``neuralab train`` and ``evaluate``).

A degenerate problem (no positives, or no negatives) gives an
:class:`~neuralab.metrics.UndefinedMetricWarning` where scikit-learn warns, and the same
value; malformed input raises :class:`~neuralab.NeuralabError`.
"""

from __future__ import annotations

import warnings

import numpy as np

from neuralab import NeuralabError
from neuralab.metrics.counts import UndefinedMetricWarning


def _check_binary_scores(y_true, y_score, pos_label) -> tuple[np.ndarray, np.ndarray]:
    """(is_positive as bool, scores as float64), both 1-D of one length, or NeuralabError."""
    s = np.asarray(y_score)
    if s.ndim != 1 or s.dtype.kind not in "biuf":
        raise NeuralabError(f"y_score must be a 1-D array of numbers, got shape {s.shape} and dtype {s.dtype}")
    y = np.asarray(y_true)
    if y.ndim != 1 or y.shape[0] != s.shape[0]:
        raise NeuralabError(f"y_true must have shape ({s.shape[0]},) to match y_score, got shape {y.shape}")
    s = s.astype(np.float64)
    if not np.all(np.isfinite(s)):
        raise NeuralabError("y_score must be finite, got NaN or infinity")
    return y == pos_label, s


def counts_at_thresholds(y_true, y_score, pos_label=1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(fps, tps, thresholds): false and true positives when predicting positive for
    ``score >= t``, for each distinct score t in decreasing order."""
    pos, s = _check_binary_scores(y_true, y_score, pos_label)
    if s.size == 0:
        raise NeuralabError("y_true and y_score are empty; a curve needs at least one example")
    # the scores from high to low; the order within a run of equal scores does not matter
    # (only each run's last index is kept, where the counts hold the whole run), so the
    # default sort does, several times faster than a stable one
    order = np.argsort(-s)
    s, pos = s[order], pos[order]
    # the last index of each run of equal scores, and the last index overall
    last = np.r_[np.flatnonzero(np.diff(s)), s.size - 1]
    # counts as float64 (exact up to 2**53), as the rates divide them
    tps = np.cumsum(pos.astype(np.float64))[last]
    fps = 1 + last.astype(np.float64) - tps
    return fps, tps, s[last]


def roc_curve(y_true, y_score, *, pos_label=1, drop_intermediate: bool = True):
    """Receiver operating characteristic: FPR and TPR when predicting positive for ``score >= t``.

    Equals ``sklearn.metrics.roc_curve``. With ``drop_intermediate`` the points that lie
    on a straight line between their neighbours are dropped (they change neither the
    plot nor the area). Without negatives the FPR is NaN, without positives the TPR,
    each with an :class:`~neuralab.metrics.UndefinedMetricWarning`.

    Parameters
    ----------
    y_true : ndarray of shape (n_samples,)
        Labels; ``y_true == pos_label`` are the positives (bool labels: True).
    y_score : ndarray of shape (n_samples,)
        Scores, finite; larger means more likely positive.
    pos_label : int, bool or str, default=1
    drop_intermediate : bool, default=True

    Returns
    -------
    fpr, tpr, thresholds : ndarray of shape (n_thresholds,)
        ``thresholds`` decreases from ``inf`` (nothing predicted positive, the point (0, 0)).

    Examples
    --------
    >>> fpr, tpr, t = roc_curve(np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8]))
    >>> fpr.tolist(), tpr.tolist(), t.tolist()
    ([0.0, 0.0, 0.5, 0.5, 1.0], [0.0, 0.5, 0.5, 1.0, 1.0], [inf, 0.8, 0.4, 0.35, 0.1])
    """
    return _roc_points(*counts_at_thresholds(y_true, y_score, pos_label),
                       drop_intermediate=drop_intermediate)


def _roc_points(fps, tps, thresholds, *, drop_intermediate: bool = True):
    """:func:`roc_curve` from the counts of :func:`counts_at_thresholds`."""
    if drop_intermediate and fps.size > 2:
        # keep a point where the curve turns: a non-zero second difference in fps or tps
        keep = np.r_[True, np.logical_or(np.diff(fps, 2), np.diff(tps, 2)), True]
        fps, tps, thresholds = fps[keep], tps[keep], thresholds[keep]
    fps, tps = np.r_[0.0, fps], np.r_[0.0, tps]
    thresholds = np.r_[np.inf, thresholds]
    return (_rate(fps, "negatives", "false positive"), _rate(tps, "positives", "true positive"),
            thresholds)


def _rate(counts: np.ndarray, which: str, rate: str) -> np.ndarray:
    """Cumulative counts over their total; NaN with a warning when the total is 0."""
    if counts[-1] <= 0:
        warnings.warn(f"ROC curve: no {which} in y_true, the {rate} rate is undefined; "
                      "reported as NaN", UndefinedMetricWarning, stacklevel=4)
        return np.full(counts.shape, np.nan)
    return counts / counts[-1]


def auc(x, y) -> float:
    """Area under the curve through the points (x, y) by the trapezoidal rule.

    Equals ``sklearn.metrics.auc``: ``x`` must be monotonic (a decreasing ``x`` gives
    the area with the sign that makes it positive for positive ``y``).

    >>> auc(np.array([0.0, 0.5, 1.0]), np.array([0.0, 1.0, 1.0]))
    0.75
    """
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.ndim != 1 or x.shape != y.shape or x.size < 2:
        raise NeuralabError(f"x and y must be 1-D of one length >= 2, got shapes {x.shape} and {y.shape}")
    dx = np.diff(x)
    direction = 1.0
    if np.any(dx < 0):
        if not np.all(dx <= 0):
            raise NeuralabError("x must be increasing or decreasing, got both")
        direction = -1.0
    return float(direction * np.sum(dx * (y[1:] + y[:-1]) / 2.0))


def roc_auc_score(y_true, y_score, *, pos_label=1) -> float:
    """Area under the ROC curve of one binary problem; equals ``sklearn.metrics.roc_auc_score``.

    The probability that a random positive scores higher than a random negative (ties
    count one half). NaN with an :class:`~neuralab.metrics.UndefinedMetricWarning` when
    ``y_true`` holds only positives or only negatives.

    >>> roc_auc_score(np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8]))
    0.75
    """
    pos, s = _check_binary_scores(y_true, y_score, pos_label)
    if np.unique(pos).size != 2:
        warnings.warn("ROC AUC is undefined with only one class in y_true; reported as NaN",
                      UndefinedMetricWarning, stacklevel=2)
        return float("nan")
    return roc_auc_of_counts(counts_at_thresholds(pos, s, True))


def roc_auc_of_counts(counts: tuple[np.ndarray, np.ndarray, np.ndarray]) -> float:
    """:func:`roc_auc_score` from the counts of :func:`counts_at_thresholds` (which
    :func:`average_precision_of_counts` can share: one sort for both areas)."""
    fpr, tpr, _ = _roc_points(*counts)
    return auc(fpr, tpr)


def precision_recall_curve(y_true, y_score, *, pos_label=1):
    """Precision TP / (TP + FP) and recall TP / (TP + FN) when predicting positive for ``score >= t``.

    Equals ``sklearn.metrics.precision_recall_curve`` (every distinct score is a
    threshold). Without positives the recall is 1 everywhere, with an
    :class:`~neuralab.metrics.UndefinedMetricWarning`.

    Returns
    -------
    precision, recall : ndarray of shape (n_thresholds + 1,)
        Ending at the point (precision 1, recall 0).
    thresholds : ndarray of shape (n_thresholds,)
        The distinct scores, increasing.

    Examples
    --------
    >>> p, r, t = precision_recall_curve(np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8]))
    >>> p.round(3).tolist(), r.tolist(), t.tolist()
    ([0.5, 0.667, 0.5, 1.0, 1.0], [1.0, 1.0, 0.5, 0.5, 0.0], [0.1, 0.35, 0.4, 0.8])
    """
    return _pr_points(*counts_at_thresholds(y_true, y_score, pos_label))


def _pr_points(fps, tps, thresholds):
    """:func:`precision_recall_curve` from the counts of :func:`counts_at_thresholds`."""
    # tps + fps = number of examples at or above the threshold: at least 1
    precision = tps / (tps + fps)
    if tps[-1] == 0:
        warnings.warn("precision-recall curve: no positives in y_true; recall is set to 1 "
                      "for all thresholds", UndefinedMetricWarning, stacklevel=3)
        recall = np.ones_like(tps)
    else:
        recall = tps / tps[-1]
    return np.r_[precision[::-1], 1.0], np.r_[recall[::-1], 0.0], thresholds[::-1]


def average_precision_score(y_true, y_score, *, pos_label=1) -> float:
    """Average precision AP = sum_n (R_n - R_{n-1}) P_n over the thresholds (no interpolation).

    Equals ``sklearn.metrics.average_precision_score`` for one binary problem.

    >>> round(average_precision_score(np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8])), 4)
    0.8333
    """
    return average_precision_of_counts(counts_at_thresholds(y_true, y_score, pos_label))


def average_precision_of_counts(counts: tuple[np.ndarray, np.ndarray, np.ndarray]) -> float:
    """:func:`average_precision_score` from the counts of :func:`counts_at_thresholds`."""
    precision, recall, _ = _pr_points(*counts)
    # recall decreases along the curve, so -diff(recall) are the steps; clip a -0.0 to 0.0
    return float(max(0.0, -np.sum(np.diff(recall) * precision[:-1])))


def label_binarize(y, n_classes: int) -> np.ndarray:
    """One-hot rows: ``out[i, k] = 1`` where ``y[i] == k``; int, shape (n_samples, n_classes).

    Equals ``sklearn.preprocessing.label_binarize(y, classes=range(n_classes))`` for
    ``n_classes >= 3`` (scikit-learn gives a single column for two classes).

    >>> label_binarize(np.array([2, 0]), 3).tolist()
    [[0, 0, 1], [1, 0, 0]]
    """
    y = np.asarray(y)
    return (y[:, None] == np.arange(n_classes)).astype(int)
