"""Counts and the rates made of them: accuracy, log-loss, the confusion matrix (plain and
row-normalised) and the per-class one-vs-rest rates; and the input checks the other
metrics modules share.

Degenerate but valid input gives an :class:`UndefinedMetricWarning` and NaN; malformed
input raises :class:`~neuralab.NeuralabError`.
"""

from __future__ import annotations

import warnings

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

    Equals ``sklearn.metrics.confusion_matrix(y_true, y_pred, labels=range(n_classes))``:
    int64 counts, and a pair with a label outside 0..n_classes-1 is not counted.
    Labels may be ints, bools or whole-number floats; empty input, other labels, or a
    ``y_true`` with no label in 0..n_classes-1 raise :class:`~neuralab.NeuralabError`.

    >>> confusion_matrix([1] * 8 + [0] * 4, [1] * 6 + [0] * 2 + [1] + [0] * 3, 2).tolist()
    [[3, 1], [2, 6]]
    """
    if (isinstance(n_classes, bool) or not isinstance(n_classes, (int, np.integer, float, np.floating))
            or n_classes != int(n_classes) or n_classes < 1):
        raise NeuralabError(f"n_classes must be a positive integer, got {n_classes!r}")
    K = int(n_classes)
    t, p = _class_indices(y_true, "y_true"), _class_indices(y_pred, "y_pred")
    if t.shape != p.shape:
        raise NeuralabError(f"y_pred must have shape {t.shape} to match y_true, got shape {p.shape}")
    if t.size == 0:
        raise NeuralabError("y_true and y_pred are empty; a confusion matrix needs at least one example")
    t_in, p_in = (t >= 0) & (t < K), (p >= 0) & (p < K)
    if not t_in.any():
        raise NeuralabError(f"y_true must hold at least one class index in 0..{K - 1}, "
                            f"got only {np.unique(t)[:10].tolist()}")
    keep = t_in & p_in
    # one bin per (true, predicted) pair, row-major: bin i * K + j counts C[i, j]
    pairs = t[keep].astype(np.int64) * K + p[keep].astype(np.int64)
    return np.bincount(pairs, minlength=K * K).astype(np.int64).reshape(K, K)


def _class_indices(y, what: str) -> np.ndarray:
    """``y`` as a 1-D array of integer labels (bools and whole-number floats accepted)."""
    y = np.asarray(y)
    if y.ndim != 1:
        raise NeuralabError(f"{what} must be a 1-D array of class indices, got shape {y.shape}")
    if y.dtype.kind == "f":
        whole = y == np.round(y)
        if not whole.all():
            raise NeuralabError(f"{what} must hold class indices (integers), got {y[~whole][0].item()!r}")
    elif y.dtype.kind not in "biu" and y.size:
        raise NeuralabError(f"{what} must hold class indices (integers), got dtype {y.dtype}")
    return y


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


# --------------------------------------------------------------------------- input checks


def check_probs(y_true, probs) -> tuple[np.ndarray, np.ndarray, int]:
    """Check a (labels, probabilities) pair as every metric of probabilities takes it.

    Returns ``(y, P, K)``: ``y_true`` as int labels in 0..K-1 (float labels that are
    whole numbers are accepted), ``probs`` as a float (n, K) array with K >= 2, and K.
    Raises :class:`~neuralab.NeuralabError` for shapes that do not match, labels out
    of range, or probabilities that are not finite.

    >>> check_probs([1.0, 0.0], [[0.2, 0.8], [0.6, 0.4]])[0].tolist()
    [1, 0]
    """
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


def class_keys(class_names, K: int) -> list:
    """Keys for per-class dictionaries: the class names when given, else the indices."""
    if class_names is None:
        return list(range(K))
    names = list(class_names)
    if len(names) != K:
        raise NeuralabError(f"class_names must name the {K} classes, got {len(names)}: {names}")
    return names


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
    names = [str(n) for n in class_keys(class_names, cm.shape[0])]
    sums = cm.sum(axis=1)
    out = np.full_like(cm, np.nan)
    ok = sums > 0
    out[ok] = cm[ok] / sums[ok, None]
    empty = [names[k] for k in np.flatnonzero(~ok)]
    if empty:
        warnings.warn(f"confusion matrix row of class {', '.join(empty)} sums to 0 (absent from "
                      "y_true); its fractions are NaN", UndefinedMetricWarning, stacklevel=2)
    return out
