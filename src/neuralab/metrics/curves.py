"""One-vs-rest ROC and precision-recall curves, and the areas under them (ROC AUC,
average precision) per class with their macro and micro averages.

The curves and areas are neuralab's NumPy ones (:mod:`~neuralab.metrics.ranking`), equal
to scikit-learn's; this module adds the one-vs-rest problems, the per-class dictionaries
keyed by class name and a warning with NaN where a class makes a curve undefined.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from neuralab import NeuralabError
from neuralab.metrics.counts import UndefinedMetricWarning, check_probs, class_keys
from neuralab.metrics.ranking import (
    average_precision_of_counts,
    counts_at_thresholds,
    label_binarize,
    precision_recall_curve,
    roc_auc_of_counts,
    roc_auc_score,
    roc_curve,
)


def roc_auc(y_true: np.ndarray, probs: np.ndarray) -> float:
    """Area under the ROC curve: binary, or one-vs-rest macro over the classes present.

    NaN with a warning when fewer than two classes are present in ``y_true``. Equals
    ``sklearn.metrics.roc_auc_score`` on (y_true, probs[:, 1]) for two columns, else the
    mean of its one-vs-rest areas over the classes present.

    >>> roc_auc(np.array([0, 0, 1, 1]), np.array([[0.9, 0.1], [0.6, 0.4], [0.65, 0.35], [0.2, 0.8]]))
    0.75
    """
    y_true = np.asarray(y_true)
    K = probs.shape[1]
    present = np.unique(y_true)
    if present.size < 2:
        warnings.warn("ROC AUC is undefined with fewer than two classes in y_true; reported as NaN",
                      UndefinedMetricWarning, stacklevel=2)
        return float("nan")
    if K == 2:
        if present.size > 2:
            raise NeuralabError(f"y_true must hold at most two classes for probs with 2 columns, "
                                f"got {present.size}: {present.tolist()}")
        # the larger of the two labels is the positive class
        return float(roc_auc_score(y_true == present[-1], probs[:, 1]))
    aucs = [roc_auc_score(y_true == k, probs[:, k]) for k in present]
    if present.size < K:
        warnings.warn("ROC AUC is averaged over the classes present in y_true only",
                      UndefinedMetricWarning, stacklevel=2)
    return float(np.mean(aucs))


def _positive_classes(K: int) -> range:
    # binary: class 1 only (class 0's one-vs-rest curve is the same curve mirrored)
    return range(1, 2) if K == 2 else range(K)


def _undefined_reason(y: np.ndarray, k: int, need_negatives: bool) -> str | None:
    """Why the one-vs-rest problem 'class k against the rest' has no curve, or None."""
    positives = np.count_nonzero(y == k)
    if positives == 0:
        return "absent from y_true"
    if need_negatives and positives == y.size:
        return "the only class in y_true"
    return None


def _warn_undefined(what: str, skipped: list[tuple], consequence: str) -> None:
    """One warning for all the (class name, reason) pairs in ``skipped``, grouped by reason."""
    if skipped:
        by_reason: dict[str, list[str]] = {}
        for name, reason in skipped:
            by_reason.setdefault(reason, []).append(str(name))
        which = " and ".join(f"class {', '.join(names)} ({reason})" for reason, names in by_reason.items())
        warnings.warn(f"{what} is undefined for {which}; {consequence}",
                      UndefinedMetricWarning, stacklevel=4)


# --------------------------------------------------------------------------- curves


def _curves(y_true, probs, curve, what: str, need_negatives: bool) -> dict[int, tuple]:
    y, P, K = check_probs(y_true, probs)
    out, skipped = {}, []
    for k in _positive_classes(K):
        reason = _undefined_reason(y, k, need_negatives)
        if reason:
            skipped.append((k, reason))
        else:
            out[k] = curve(y == k, P[:, k])
    _warn_undefined(what, skipped, "skipped")
    return out


def roc_curves(y_true: np.ndarray, probs: np.ndarray) -> dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """One-vs-rest ROC curves, one per class: :func:`~neuralab.metrics.ranking.roc_curve` on (y == k, probs[:, k]).

    Each point is one decision threshold t (predict class k when probs[:, k] >= t):
    its false positive rate FP / (FP + TN) and true positive rate TP / (TP + FN).
    A class absent from ``y_true`` (no positives) or the only class in it (no
    negatives) has no curve: it is skipped with an :class:`UndefinedMetricWarning`.

    Parameters
    ----------
    y_true : ndarray of shape (n_samples,)
        Class indices in 0..n_classes-1.
    probs : ndarray of shape (n_samples, n_classes)
        Class probabilities or scores; larger means more likely.

    Returns
    -------
    dict of int to (fpr, tpr, thresholds)
        Keyed by class index; binary problems give the positive class 1 only. Each
        array has shape (n_thresholds,); ``thresholds`` decreases from ``inf``
        (nothing predicted positive, the point (0, 0)). They equal
        ``sklearn.metrics.roc_curve`` (``drop_intermediate=True``).

    Examples
    --------
    >>> y = np.array([0, 0, 1, 1])
    >>> probs = np.array([[0.9, 0.1], [0.6, 0.4], [0.65, 0.35], [0.2, 0.8]])
    >>> fpr, tpr, thresholds = roc_curves(y, probs)[1]
    >>> fpr.tolist(), tpr.tolist(), thresholds.tolist()
    ([0.0, 0.0, 0.5, 0.5, 1.0], [0.0, 0.5, 0.5, 1.0, 1.0], [inf, 0.8, 0.4, 0.35, 0.1])
    """
    return _curves(y_true, probs, roc_curve, "ROC curve", need_negatives=True)


def pr_curves(y_true: np.ndarray, probs: np.ndarray) -> dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """One-vs-rest precision-recall curves, equal to ``sklearn.metrics.precision_recall_curve`` per class.

    Precision TP / (TP + FP) against recall TP / (TP + FN) as the threshold on
    probs[:, k] moves. A class absent from ``y_true`` has no recall: it is skipped
    with an :class:`UndefinedMetricWarning` (a class with no negatives is fine here).

    Parameters
    ----------
    y_true : ndarray of shape (n_samples,)
        Class indices in 0..n_classes-1.
    probs : ndarray of shape (n_samples, n_classes)
        Class probabilities or scores.

    Returns
    -------
    dict of int to (precision, recall, thresholds)
        Keyed by class index; binary problems give class 1 only. ``precision`` and
        ``recall`` have shape (n_thresholds + 1,), ending at (1, 0); ``thresholds``
        has shape (n_thresholds,) and increases.

    Examples
    --------
    >>> y = np.array([0, 0, 1, 1])
    >>> probs = np.array([[0.9, 0.1], [0.6, 0.4], [0.65, 0.35], [0.2, 0.8]])
    >>> precision, recall, thresholds = pr_curves(y, probs)[1]
    >>> precision.round(3).tolist(), recall.tolist(), thresholds.tolist()
    ([0.5, 0.667, 0.5, 1.0, 1.0], [1.0, 1.0, 0.5, 0.5, 0.0], [0.1, 0.35, 0.4, 0.8])
    """
    return _curves(y_true, probs, precision_recall_curve, "precision-recall curve",
                   need_negatives=False)


# --------------------------------------------------------------------------- areas


#: the areas :func:`ovr_areas` computes: name -> (area of counts, what it is, whether a class
#: needs negatives too for it to be defined)
AREAS = {"roc_auc": (roc_auc_of_counts, "ROC AUC", True),
         "average_precision": (average_precision_of_counts, "average precision", False)}


def ovr_areas(y_true: np.ndarray, probs: np.ndarray, *, class_names: list[str] | None = None,
              areas: tuple[str, ...] = tuple(AREAS)) -> dict[str, dict]:
    """Each of ``areas`` (:data:`AREAS`) as :func:`roc_auc_scores` and
    :func:`average_precision` give it, from one sort of the scores per one-vs-rest problem.

    ``{area: {"per_class": {name: value}, "macro": float, "micro": float}}``; each area
    warns once for the classes where it is undefined.
    """
    y, P, K = check_probs(y_true, probs)
    names = class_keys(class_names, K)
    per: dict[str, dict] = {a: {} for a in areas}
    skipped: dict[str, list] = {a: [] for a in areas}
    for k in _positive_classes(K):
        counts = None
        for a in areas:
            reason = _undefined_reason(y, k, AREAS[a][2])
            if reason:
                skipped[a].append((names[k], reason))
                per[a][names[k]] = float("nan")
                continue
            counts = counts or counts_at_thresholds(y == k, P[:, k])
            per[a][names[k]] = float(AREAS[a][0](counts))
    # micro: one binary problem over all n * K (one-hot, score) pairs; defined for any
    # n >= 1, since every row has one positive and K - 1 >= 2 negatives
    micro = (counts_at_thresholds(label_binarize(y, K).ravel(), P.ravel())
             if K > 2 and y.size else None)
    out = {}
    for a in areas:
        defined = [v for v in per[a].values() if not math.isnan(v)]
        macro = float(np.mean(defined)) if defined else float("nan")
        consequence = "reported as NaN"
        if K > 2 and defined:
            consequence += " and left out of the macro average"
        _warn_undefined(AREAS[a][1], skipped[a], consequence)
        if K == 2:
            out[a] = {"per_class": per[a], "binary": macro, "macro": macro, "micro": macro}
        else:
            out[a] = {"per_class": per[a], "macro": macro,
                      "micro": float("nan") if micro is None else float(AREAS[a][0](micro))}
    return out


def roc_auc_scores(y_true: np.ndarray, probs: np.ndarray, *,
                   class_names: list[str] | None = None) -> dict:
    """Area under each one-vs-rest ROC curve, and its macro and micro averages.

    ``per_class`` is the area under :func:`roc_curves`' curve of each class (equal to
    ``sklearn.metrics.roc_auc_score`` on (y == k, probs[:, k]));
    ``macro`` is their mean over the classes where it is defined; ``micro`` is the AUC
    of the flattened one-hot labels against the flattened probabilities
    (equal to ``roc_auc_score(label_binarize(y), probs, average="micro")`` in
    scikit-learn). A class absent
    from ``y_true`` or alone in it has AUC NaN, with an :class:`UndefinedMetricWarning`.

    Parameters
    ----------
    y_true : ndarray of shape (n_samples,)
        Class indices in 0..n_classes-1.
    probs : ndarray of shape (n_samples, n_classes)
        Class probabilities or scores.
    class_names : list of str of length n_classes, optional
        Keys of ``per_class``; the class indices by default.

    Returns
    -------
    dict
        ``{"per_class": {name: auc}, "macro": float, "micro": float}``. Binary
        problems: ``per_class`` holds class 1 only, and a ``"binary"`` key holds its
        AUC, which ``macro`` and ``micro`` repeat.

    Examples
    --------
    >>> y = np.array([0, 1, 2, 2])
    >>> probs = np.array([[.6, .3, .1], [.2, .5, .3], [.1, .2, .7], [.3, .4, .3]])
    >>> s = roc_auc_scores(y, probs, class_names=["a", "b", "c"])
    >>> s["per_class"], s["macro"]
    ({'a': 1.0, 'b': 1.0, 'c': 0.875}, 0.9583333333333334)
    >>> roc_auc_scores(np.array([0, 1]), np.array([[.7, .3], [.4, .6]]))
    {'per_class': {1: 1.0}, 'binary': 1.0, 'macro': 1.0, 'micro': 1.0}
    """
    return ovr_areas(y_true, probs, class_names=class_names, areas=("roc_auc",))["roc_auc"]


def average_precision(y_true: np.ndarray, probs: np.ndarray, *,
                      class_names: list[str] | None = None) -> dict:
    """Average precision (area under the step precision-recall curve) per class, macro and micro.

    AP = sum_n (R_n - R_{n-1}) P_n over the thresholds, equal to
    ``sklearn.metrics.average_precision_score`` on (y == k, probs[:, k]);
    ``macro`` is the mean over the classes where it is defined, ``micro`` the AP of the
    flattened one-hot labels against the flattened probabilities. A class absent from
    ``y_true`` has AP NaN, with an :class:`UndefinedMetricWarning`.

    Parameters
    ----------
    y_true : ndarray of shape (n_samples,)
        Class indices in 0..n_classes-1.
    probs : ndarray of shape (n_samples, n_classes)
        Class probabilities or scores.
    class_names : list of str of length n_classes, optional
        Keys of ``per_class``; the class indices by default.

    Returns
    -------
    dict
        ``{"per_class": {name: ap}, "macro": float, "micro": float}``; binary problems
        hold class 1 only and add ``"binary"``, which ``macro`` and ``micro`` repeat.

    Examples
    --------
    >>> y = np.array([0, 0, 1, 1])
    >>> probs = np.array([[0.9, 0.1], [0.6, 0.4], [0.65, 0.35], [0.2, 0.8]])
    >>> round(average_precision(y, probs)["binary"], 4)
    0.8333
    """
    return ovr_areas(y_true, probs, class_names=class_names,
                     areas=("average_precision",))["average_precision"]
