"""Classification metrics: accuracy, log-loss, confusion matrix, per-class rates, ROC and
precision-recall curves with their areas, and decision thresholds for a target FPR.

scikit-learn computes what it already does well (the confusion matrix, ROC and
precision-recall curves, their areas); neuralab adds what it lacks: the per-class
false positive rate, the row-normalised confusion matrix, per-class dictionaries keyed
by class name, and the threshold that keeps the false positive rate under a limit.
Degenerate but valid input (a class absent from ``y_true``) gives an
:class:`UndefinedMetricWarning` and NaN for what is undefined, never an exception;
malformed input (shapes that do not match, labels out of range) raises
:class:`~neuralab.NeuralabError`.

Conventions: ``probs`` has shape (n_samples, n_classes), one row of class
probabilities (or any scores) per example, and ``y_true`` holds class indices
0..n_classes-1. One-vs-rest results are per class; for a binary problem
(n_classes == 2) only the positive class 1 is reported, since class 0's curve is the
same one seen from the other side.

Examples
--------
The lecture's worked example, end to end: 12 patients, 8 with cancer (class 1). With
these scores and the threshold 0.5 the classifier finds 6 of the 8 cancers (2 false
negatives) and flags 1 of the 4 healthy patients (3 true negatives).

>>> y = np.array([1] * 8 + [0] * 4)
>>> s = np.array([.95, .9, .8, .75, .7, .6, .4, .3, .55, .2, .1, .05])
>>> r = rates_at_threshold(y, s, 0.5)
>>> (r.tp, r.fn, r.fp, r.tn), r.tpr, r.fpr
((6, 2, 1, 3), 0.75, 0.25)
>>> confusion_matrix(y, (s >= 0.5).astype(int), 2).tolist()
[[3, 1], [2, 6]]
>>> probs = np.c_[1 - s, s]
>>> roc_auc_scores(y, probs, class_names=["healthy", "cancer"])["per_class"]
{'cancer': 0.9375}

To raise no false alarm at all on these patients, the threshold must rise to 0.6; it
still finds 6 of the 8 cancers:

>>> op = threshold_for_fpr(y, s, max_fpr=0.0)
>>> op.threshold, op.fpr, op.tpr, op.precision
(0.6, 0.0, 0.75, 1.0)
"""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass

import numpy as np

from neuralab import NeuralabError
from neuralab.nn.losses import cross_entropy


class UndefinedMetricWarning(UserWarning):
    """A rate had a zero denominator (say, a class absent from y_true); it is NaN."""


def accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Share of predictions equal to the labels.

    >>> accuracy(np.array([0, 1, 1, 2]), np.array([0, 1, 2, 2]))
    0.75
    """
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    return float(np.mean(y_true == y_pred)) if y_true.size else float("nan")


def log_loss(y_true: np.ndarray, probs: np.ndarray) -> float:
    """Mean -log p(y): :func:`neuralab.nn.losses.cross_entropy`, whose floor of 1e-15 on
    p(y) keeps a confident error finite.

    >>> round(log_loss(np.array([0, 1]), np.array([[0.5, 0.5], [0.5, 0.5]])), 4)
    0.6931
    """
    return cross_entropy(probs, y_true)


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """Counts C[i, j] of examples of true class i predicted as j (rows = true class).

    >>> confusion_matrix([1] * 8 + [0] * 4, [1] * 6 + [0] * 2 + [1] + [0] * 3, 2).tolist()
    [[3, 1], [2, 6]]
    """
    from sklearn.metrics import confusion_matrix as sk_confusion

    return sk_confusion(np.asarray(y_true), np.asarray(y_pred), labels=np.arange(n_classes))


def _ratio(num: np.ndarray, den: np.ndarray, what: str, names: list[str]) -> np.ndarray:
    num = np.asarray(num, dtype=float)
    den = np.asarray(den, dtype=float)
    out = np.full_like(num, np.nan)
    ok = den > 0
    out[ok] = num[ok] / den[ok]
    if not ok.all():
        missing = [names[k] for k in np.flatnonzero(~ok)]
        warnings.warn(f"{what} is undefined (0/0) for class {', '.join(missing)}; reported as NaN",
                      UndefinedMetricWarning, stacklevel=3)
    return out


def per_class(cm: np.ndarray, class_names: list[str] | None = None) -> dict[str, dict[str, float]]:
    """Precision, recall (TPR), F1, FPR, TNR and support for each class, one-vs-rest.

    The lecture's worked example: 12 patients, 8 with cancer (class 1); 6 true
    positives, 2 false negatives, 1 false positive, 3 true negatives.

    >>> cm = np.array([[3, 1], [2, 6]])
    >>> r = per_class(cm, ["healthy", "cancer"])["cancer"]
    >>> r["precision"], r["recall"], r["fpr"], r["support"]
    (0.8571428571428571, 0.75, 0.25, 8)
    """
    cm = np.asarray(cm)
    K = cm.shape[0]
    names = class_names or [str(k) for k in range(K)]
    tp = np.diag(cm).astype(float)
    fn = cm.sum(axis=1) - tp
    fp = cm.sum(axis=0) - tp
    tn = cm.sum() - tp - fn - fp
    precision = _ratio(tp, tp + fp, "precision", names)
    recall = _ratio(tp, tp + fn, "recall", names)
    fpr = _ratio(fp, fp + tn, "false positive rate", names)
    # F1 = 2PR / (P + R) = 2TP / (2TP + FP + FN): still defined (0) for a class that is
    # present but never predicted, undefined only when the class is neither true nor predicted
    f1_den = 2 * tp + fp + fn
    f1 = np.full_like(tp, np.nan)
    f1[f1_den > 0] = 2 * tp[f1_den > 0] / f1_den[f1_den > 0]
    return {
        names[k]: {
            "precision": float(precision[k]),
            "recall": float(recall[k]),
            "f1": float(f1[k]),
            "fpr": float(fpr[k]),
            "tpr": float(recall[k]),
            "tnr": float(1 - fpr[k]),
            "support": int(tp[k] + fn[k]),
        }
        for k in range(K)
    }


def roc_auc(y_true: np.ndarray, probs: np.ndarray) -> float:
    """Area under the ROC curve: binary, or one-vs-rest macro over the classes present.

    NaN with a warning when fewer than two classes are present in ``y_true``.

    >>> roc_auc(np.array([0, 0, 1, 1]), np.array([[0.9, 0.1], [0.6, 0.4], [0.65, 0.35], [0.2, 0.8]]))
    0.75
    """
    from sklearn.metrics import roc_auc_score

    y_true = np.asarray(y_true)
    K = probs.shape[1]
    present = np.unique(y_true)
    if present.size < 2:
        warnings.warn("ROC AUC is undefined with fewer than two classes in y_true; reported as NaN",
                      UndefinedMetricWarning, stacklevel=2)
        return float("nan")
    if K == 2:
        return float(roc_auc_score(y_true, probs[:, 1]))
    aucs = [roc_auc_score(y_true == k, probs[:, k]) for k in present]
    if present.size < K:
        warnings.warn("ROC AUC is averaged over the classes present in y_true only",
                      UndefinedMetricWarning, stacklevel=2)
    return float(np.mean(aucs))


# --------------------------------------------------------------------------- input checks


def _check_probs(y_true, probs) -> tuple[np.ndarray, np.ndarray, int]:
    """y_true as int labels in 0..K-1 and probs as a float (n, K) array, or NeuralabError."""
    P = np.asarray(probs, dtype=float)
    if P.ndim != 2 or P.shape[1] < 2:
        raise NeuralabError(f"probs must have shape (n_samples, n_classes) with n_classes >= 2, "
                            f"got shape {P.shape}")
    K = P.shape[1]
    y = np.asarray(y_true)
    if y.ndim != 1 or y.shape[0] != P.shape[0]:
        raise NeuralabError(f"y_true must have shape ({P.shape[0]},) to match probs, got shape {y.shape}")
    if y.dtype.kind == "f" and np.all(y == np.round(y)):
        y = y.astype(int)
    if y.size and (y.dtype.kind not in "biu" or y.min() < 0 or y.max() >= K):
        bad = y[0] if y.dtype.kind not in "biu" else (y.min() if y.min() < 0 else y.max())
        bad = bad.item() if isinstance(bad, np.generic) else bad
        raise NeuralabError(f"y_true must hold class indices 0..{K - 1} for probs with {K} columns, "
                            f"got {bad!r}")
    if not np.all(np.isfinite(P)):
        raise NeuralabError("probs must be finite, got NaN or infinity")
    return y.astype(int), P, K


def _names(class_names, K: int) -> list:
    """Keys for per-class dictionaries: the class names when given, else the indices."""
    if class_names is None:
        return list(range(K))
    names = list(class_names)
    if len(names) != K:
        raise NeuralabError(f"class_names must name the {K} classes, got {len(names)}: {names}")
    return names


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


# --------------------------------------------------------------------------- normalised confusion


def normalized_confusion(cm: np.ndarray, *, class_names: list[str] | None = None) -> np.ndarray:
    """Confusion matrix with each row divided by its sum: C[i, j] / sum_j C[i, j].

    Row i then holds where the examples of true class i went; its diagonal entry is the
    recall of class i. A row of zeros (a class absent from ``y_true``) has no such
    fractions: it becomes a row of NaN, with an :class:`UndefinedMetricWarning`.
    This is scikit-learn's ``confusion_matrix(..., normalize="true")`` except that
    scikit-learn reports such a row as zeros.

    Parameters
    ----------
    cm : array-like of shape (n_classes, n_classes)
        Counts, rows = true class (as :func:`confusion_matrix` returns them).
    class_names : list of str of length n_classes, optional
        Names used in the warning; the indices by default.

    Returns
    -------
    ndarray of shape (n_classes, n_classes), float
        Rows sum to 1, or are NaN.

    Examples
    --------
    The lecture's 12 patients (rows healthy, cancer):

    >>> normalized_confusion(np.array([[3, 1], [2, 6]])).tolist()
    [[0.75, 0.25], [0.25, 0.75]]
    """
    cm = np.asarray(cm, dtype=float)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1]:
        raise NeuralabError(f"cm must be a square (n_classes, n_classes) matrix, got shape {cm.shape}")
    names = [str(n) for n in _names(class_names, cm.shape[0])]
    sums = cm.sum(axis=1)
    out = np.full_like(cm, np.nan)
    ok = sums > 0
    out[ok] = cm[ok] / sums[ok, None]
    empty = [names[k] for k in np.flatnonzero(~ok)]
    if empty:
        warnings.warn(f"confusion matrix row of class {', '.join(empty)} sums to 0 (absent from "
                      "y_true); its fractions are NaN", UndefinedMetricWarning, stacklevel=2)
    return out


# --------------------------------------------------------------------------- curves


def _curves(y_true, probs, curve, what: str, need_negatives: bool) -> dict[int, tuple]:
    y, P, K = _check_probs(y_true, probs)
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
    """One-vs-rest ROC curves, one per class: ``sklearn.metrics.roc_curve`` on (y == k, probs[:, k]).

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
        (nothing predicted positive, the point (0, 0)).

    Examples
    --------
    >>> y = np.array([0, 0, 1, 1])
    >>> probs = np.array([[0.9, 0.1], [0.6, 0.4], [0.65, 0.35], [0.2, 0.8]])
    >>> fpr, tpr, thresholds = roc_curves(y, probs)[1]
    >>> fpr.tolist(), tpr.tolist(), thresholds.tolist()
    ([0.0, 0.0, 0.5, 0.5, 1.0], [0.0, 0.5, 0.5, 1.0, 1.0], [inf, 0.8, 0.4, 0.35, 0.1])
    """
    from sklearn.metrics import roc_curve

    return _curves(y_true, probs, roc_curve, "ROC curve", need_negatives=True)


def pr_curves(y_true: np.ndarray, probs: np.ndarray) -> dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """One-vs-rest precision-recall curves: ``sklearn.metrics.precision_recall_curve`` per class.

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
    from sklearn.metrics import precision_recall_curve

    return _curves(y_true, probs, precision_recall_curve, "precision-recall curve",
                   need_negatives=False)


# --------------------------------------------------------------------------- areas


def _ovr_scores(y_true, probs, class_names, score, what: str, need_negatives: bool) -> dict:
    """Per-class one-vs-rest ``score``, its macro mean over the defined classes, and micro."""
    from sklearn.preprocessing import label_binarize

    y, P, K = _check_probs(y_true, probs)
    names = _names(class_names, K)
    per, skipped = {}, []
    for k in _positive_classes(K):
        reason = _undefined_reason(y, k, need_negatives)
        if reason:
            skipped.append((names[k], reason))
            per[names[k]] = float("nan")
        else:
            per[names[k]] = float(score(y == k, P[:, k]))
    defined = [v for v in per.values() if not math.isnan(v)]
    macro = float(np.mean(defined)) if defined else float("nan")
    consequence = "reported as NaN"
    if K > 2 and defined:
        consequence += " and left out of the macro average"
    _warn_undefined(what, skipped, consequence)
    if K == 2:
        return {"per_class": per, "binary": macro, "macro": macro, "micro": macro}
    # micro: one binary problem over all n * K (one-hot, score) pairs; defined for any
    # n >= 1, since every row has one positive and K - 1 >= 2 negatives
    micro = (float(score(label_binarize(y, classes=np.arange(K)), P, average="micro"))
             if y.size else float("nan"))
    return {"per_class": per, "macro": macro, "micro": micro}


def roc_auc_scores(y_true: np.ndarray, probs: np.ndarray, *,
                   class_names: list[str] | None = None) -> dict:
    """Area under each one-vs-rest ROC curve, and its macro and micro averages.

    ``per_class`` uses ``sklearn.metrics.roc_auc_score`` on (y == k, probs[:, k]);
    ``macro`` is their mean over the classes where it is defined; ``micro`` is the AUC
    of the flattened one-hot labels against the flattened probabilities
    (``roc_auc_score(label_binarize(y), probs, average="micro")``). A class absent
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
    from sklearn.metrics import roc_auc_score

    return _ovr_scores(y_true, probs, class_names, roc_auc_score, "ROC AUC", need_negatives=True)


def average_precision(y_true: np.ndarray, probs: np.ndarray, *,
                      class_names: list[str] | None = None) -> dict:
    """Average precision (area under the step precision-recall curve) per class, macro and micro.

    AP = sum_n (R_n - R_{n-1}) P_n over the thresholds, as
    ``sklearn.metrics.average_precision_score`` computes it on (y == k, probs[:, k]);
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
    from sklearn.metrics import average_precision_score

    return _ovr_scores(y_true, probs, class_names, average_precision_score, "average precision",
                       need_negatives=False)


# --------------------------------------------------------------------------- thresholds


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


def threshold_for_fpr(y_true: np.ndarray, scores: np.ndarray, *, max_fpr: float,
                      pos_label=1) -> OperatingPoint:
    """The threshold with the highest true positive rate whose false positive rate is <= ``max_fpr``.

    The lecture's spam filter: "keep false positives under 1 %" is
    ``threshold_for_fpr(y, scores, max_fpr=0.01)``. The candidates are the points of
    ``sklearn.metrics.roc_curve`` (every distinct score, and ``inf``); among those with
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
    from sklearn.metrics import roc_curve

    if (isinstance(max_fpr, bool) or not isinstance(max_fpr, (int, float, np.integer, np.floating))
            or not 0.0 <= max_fpr <= 1.0):
        raise NeuralabError(f"max_fpr must be a number in [0, 1], got {max_fpr!r}")
    max_fpr = float(max_fpr)
    pos, s = _check_binary(y_true, scores, pos_label)
    n_pos = int(np.count_nonzero(pos))
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


# --------------------------------------------------------------------------- one split


def evaluate_predictions(y_true: np.ndarray, probs: np.ndarray, *, loss: float | None = None,
                         class_names: list[str] | None = None) -> dict:
    """Everything metrics.json holds for one split.

    Parameters
    ----------
    y_true : ndarray of shape (n_samples,)
        Class indices in 0..n_classes-1.
    probs : ndarray of shape (n_samples, n_classes)
        Predicted class probabilities; the prediction is their argmax.
    loss : float, optional
        The training objective to report as ``loss`` (say, with the L2 penalty);
        the log-loss by default.
    class_names : list of str of length n_classes, optional
        Keys of the per-class dictionaries; ``"0", "1", ...`` by default.

    Returns
    -------
    dict
        ``n_samples, accuracy, loss, log_loss``; ``confusion_matrix`` (rows = true
        class) and ``confusion_matrix_normalized`` (rows divided by their sums);
        ``per_class`` {name: precision, recall, f1, fpr, tpr, tnr, support};
        ``roc_auc`` (binary AUC, or the one-vs-rest macro average), ``roc_auc_macro``,
        ``roc_auc_micro``, ``roc_auc_per_class`` {name: auc};
        ``average_precision_macro``, ``average_precision_micro`` and
        ``average_precision_per_class`` {name: ap}. Binary problems report class 1
        only in the ``*_per_class`` areas. Undefined values are NaN.

    Examples
    --------
    >>> out = evaluate_predictions(np.array([0, 0, 1, 1]),
    ...                            np.array([[.9, .1], [.6, .4], [.65, .35], [.2, .8]]),
    ...                            class_names=["healthy", "cancer"])
    >>> out["accuracy"], out["roc_auc"], out["roc_auc_per_class"]
    (0.75, 0.75, {'cancer': 0.75})
    >>> out["confusion_matrix"], out["confusion_matrix_normalized"]
    ([[2, 0], [1, 1]], [[1.0, 0.0], [0.5, 0.5]])
    """
    y_true, probs, K = _check_probs(y_true, probs)
    names = list(class_names) if class_names else [str(k) for k in range(K)]
    y_pred = np.argmax(probs, axis=1)
    cm = confusion_matrix(y_true, y_pred, K)
    auc = roc_auc_scores(y_true, probs, class_names=names)
    ap = average_precision(y_true, probs, class_names=names)
    return {
        "n_samples": int(len(y_true)),
        "accuracy": accuracy(y_true, y_pred),
        "loss": float(loss) if loss is not None else log_loss(y_true, probs),
        "log_loss": log_loss(y_true, probs),
        "confusion_matrix": cm.tolist(),
        "confusion_matrix_normalized": normalized_confusion(cm, class_names=names).tolist(),
        "per_class": per_class(cm, names),
        # the binary AUC, or the one-vs-rest macro average over the classes present: what
        # roc_auc() returns, taken from the per-class areas so that they are computed once
        "roc_auc": auc["macro"],
        "roc_auc_macro": auc["macro"],
        "roc_auc_micro": auc["micro"],
        "roc_auc_per_class": auc["per_class"],
        "average_precision_macro": ap["macro"],
        "average_precision_micro": ap["micro"],
        "average_precision_per_class": ap["per_class"],
    }
