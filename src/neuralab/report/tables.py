"""The page's tables as data (cells of plain text), and the one-line help of each metric.

Python decides what a cell says; the templates decide how it looks and escape it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

#: One line on each metric, shown on hover wherever the metric's name appears.
METRIC_HELP = {
    "n_samples": "Number of samples in the split.",
    "accuracy": "Share of samples whose most probable class is the true class.",
    "balanced_accuracy": "Mean of the per-class recalls: accuracy with every class counted equally.",
    "loss": "What training minimises: the mean cross-entropy −log p(true class) (a regression: "
            "the mean squared error on the standardised target) plus the penalties 0.5·reg·ΣW² "
            "and l1·Σ|W|.",
    "log_loss": "Mean cross-entropy −log p(true class), without the L2 penalty.",
    "precision": "Of the samples predicted as this class, the share that truly are: TP / (TP + FP).",
    "recall": "Of the samples truly of this class, the share predicted as it: TP / (TP + FN).",
    "f1": "Harmonic mean of precision and recall: 2·P·R / (P + R).",
    "fpr": "False positive rate: share of the other classes' samples predicted as this class, "
           "FP / (FP + TN).",
    "tpr": "True positive rate (sensitivity, recall): TP / (TP + FN).",
    "tnr": "True negative rate (specificity): TN / (TN + FP).",
    "support": "Number of samples of this class in the split.",
    "roc_auc": "Area under the ROC curve (TPR against FPR over every threshold): the chance that "
               "a random positive scores above a random negative; 0.5 is guessing, 1 is perfect. With more "
               "than two classes: each class against the rest, averaged.",
    "roc_auc_macro": "ROC AUC of each class against the rest, averaged over the classes.",
    "roc_auc_micro": "ROC AUC of every one-vs-rest decision pooled together.",
    "average_precision": "Area under the precision–recall curve: precision averaged over the "
                         "recall levels; the share of positives is what guessing gets.",
    "average_precision_macro": "Average precision of each class against the rest, averaged "
                               "over the classes.",
    "average_precision_micro": "Average precision of every one-vs-rest decision pooled together.",
    "threshold": "A sample is predicted positive when p(positive class) is at least this.",
    "max_fpr": "The largest false positive rate allowed when the threshold was chosen.",
    "chosen_on": "The split on which the threshold was chosen.",
    "positive_class": "The class the threshold is applied to; the other class is the negative.",
    "tp": "True positives: positive samples predicted positive.",
    "fp": "False positives: negative samples predicted positive.",
    "fn": "False negatives: positive samples predicted negative.",
    "tn": "True negatives: negative samples predicted negative.",
    "macro avg": "Unweighted mean over the classes.",
    "final loss": "The training loss with the L2 penalty after the last step.",
    "train accuracy": "Share of the training samples whose most probable class is the true class.",
    "test accuracy": "Share of the test samples whose most probable class is the true class.",
    "weighted avg": "Mean over the classes, each weighted by its support.",
    "n": "Number of samples in the split.",
    "mse": "Mean squared error (y_pred − y)², in the target's units squared.",
    "mae": "Mean absolute error |y_pred − y|, in the target's units.",
    "r2": "R²: 1 − Σ(y − y_pred)² / Σ(y − mean y)²; 1 is perfect, 0 is predicting the mean.",
}


#: One line on the settings the summary names.
SETTING_HELP = {
    "lr": "Learning rate: the step size of each update, W -= lr * dW.",
    "reg": "Strength of the L2 penalty 0.5·reg·ΣW² added to the loss (biases are not penalised).",
    "network": "Layer widths from the input features to the classes, d_0 -> ... -> d_L.",
    "activation": "The non-linearity after each hidden layer.",
    "optimiser": "How the gradients update the weights.",
    "steps": "Parameter updates made (one per batch).",
}


def help_for(key: str) -> str | None:
    """The help line of a metric or setting name, or None.

    >>> help_for("f1")[:13], help_for("lr")[:13], help_for("colour")
    ('Harmonic mean', 'Learning rate', None)
    """
    return METRIC_HELP.get(key) or SETTING_HELP.get(key)


@dataclass(frozen=True)
class Cell:
    """One table cell: its text, whether it is a number (right-aligned), and extras."""

    text: str
    num: bool = False
    title: str | None = None
    cls: str = ""
    style: str = ""
    code: bool = False
    href: str | None = None

    @property
    def classes(self) -> str:
        """The cell's CSS classes: ``num`` for numbers, then its own."""
        return " ".join(c for c in ("num" if self.num else "", self.cls) if c)


@dataclass
class Table:
    """A table: header cells, body rows, footer rows and a CSS class."""

    header: list[Cell] | None
    rows: list[list[Cell]]
    cls: str = ""
    foot: list[list[Cell]] = field(default_factory=list)
    row_heads: bool = False


def head(name: str, *, num: bool = False) -> Cell:
    """A header cell for a column named ``name``, with the metric's help as its tooltip."""
    return Cell(name, num=num, title=help_for(name))


def header(names: Iterable[str], *, num_from: int = 1) -> list[Cell]:
    """Header cells; columns from ``num_from`` on hold numbers."""
    return [head(n, num=i >= num_from) for i, n in enumerate(names)]


def kv_table(pairs: Iterable[tuple[str, str]], *, tips: bool = True) -> Table:
    """A two-column table of (key, value) rows; known metric names get their help on hover."""
    return Table(None, [[Cell(k, title=help_for(k) if tips else None), Cell(v)] for k, v in pairs],
                 cls="kv", row_heads=True)
