"""Everything metrics.json holds for one split, in one call."""

from __future__ import annotations

import numpy as np

from neuralab.metrics.counts import (
    accuracy,
    check_probs,
    confusion_matrix,
    log_loss,
    normalized_confusion,
    per_class,
)
from neuralab.metrics.curves import ovr_areas


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
    y_true, probs, K = check_probs(y_true, probs)
    names = list(class_names) if class_names else [str(k) for k in range(K)]
    y_pred = np.argmax(probs, axis=1)
    cm = confusion_matrix(y_true, y_pred, K)
    areas = ovr_areas(y_true, probs, class_names=names)  # one sort per class for both
    auc, ap = areas["roc_auc"], areas["average_precision"]
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
