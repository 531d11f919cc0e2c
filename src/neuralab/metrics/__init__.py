"""Classification metrics: accuracy, log-loss, confusion matrix, per-class rates, ROC and
precision-recall curves with their areas, and decision thresholds for a target FPR; and
regression metrics (:mod:`~neuralab.metrics.regression`: MSE, MAE, R^2).

The confusion matrix, the ROC and precision-recall curves and their areas equal
scikit-learn's (:mod:`~neuralab.metrics.ranking` computes them in NumPy, so that metrics
do not import scikit-learn); neuralab adds what scikit-learn lacks: the per-class
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

>>> import numpy as np
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

from neuralab.metrics.counts import (
    UndefinedMetricWarning,
    accuracy,
    confusion_matrix,
    log_loss,
    normalized_confusion,
    per_class,
)
from neuralab.metrics.curves import (
    average_precision,
    pr_curves,
    roc_auc,
    roc_auc_scores,
    roc_curves,
)
from neuralab.metrics.evaluation import evaluate_predictions
from neuralab.metrics.regression import r2_score, regression_metrics
from neuralab.metrics.thresholds import (
    OperatingPoint,
    rates_at_threshold,
    threshold_for_fpr,
)

__all__ = [
    "OperatingPoint",
    "UndefinedMetricWarning",
    "accuracy",
    "average_precision",
    "confusion_matrix",
    "evaluate_predictions",
    "log_loss",
    "normalized_confusion",
    "per_class",
    "pr_curves",
    "r2_score",
    "rates_at_threshold",
    "regression_metrics",
    "roc_auc",
    "roc_auc_scores",
    "roc_curves",
    "threshold_for_fpr",
]
