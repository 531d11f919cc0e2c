"""Classification metrics: accuracy, log-loss, confusion matrix, per-class rates, ROC AUC.

scikit-learn computes what it already does well (the confusion matrix, ROC AUC);
neuralab adds what it lacks, the per-class false positive rate among them.
Degenerate but valid input (a class absent from ``y_true``) gives a warning and
NaN for the rates that are undefined, never an exception.
"""

from __future__ import annotations

import warnings

import numpy as np


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
    """Mean -log p(y), with probabilities clipped at 1e-15 so a confident error stays finite.

    >>> round(log_loss(np.array([0, 1]), np.array([[0.5, 0.5], [0.5, 0.5]])), 4)
    0.6931
    """
    y_true = np.asarray(y_true)
    p = np.clip(probs[np.arange(len(y_true)), y_true], 1e-15, 1.0)
    return float(-np.mean(np.log(p)))


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


def evaluate_predictions(y_true: np.ndarray, probs: np.ndarray, *, loss: float | None = None,
                         class_names: list[str] | None = None) -> dict:
    """Everything metrics.json holds for one split."""
    y_true = np.asarray(y_true)
    K = probs.shape[1]
    names = class_names or [str(k) for k in range(K)]
    y_pred = np.argmax(probs, axis=1)
    cm = confusion_matrix(y_true, y_pred, K)
    return {
        "n_samples": int(len(y_true)),
        "accuracy": accuracy(y_true, y_pred),
        "loss": float(loss) if loss is not None else log_loss(y_true, probs),
        "log_loss": log_loss(y_true, probs),
        "confusion_matrix": cm.tolist(),
        "per_class": per_class(cm, names),
        "roc_auc": roc_auc(y_true, probs),
    }
