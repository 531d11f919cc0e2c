"""The metrics of every split as the page shows them, and the headline numbers of the summary.

For each split of ``metrics.json``: the scalar metrics (one ROC AUC line for a binary
problem, where macro, micro and the positive class's area are the same number), the
per-class table with its macro and weighted averages (as scikit-learn's
``classification_report`` computes them), the confusion matrix, the operating point
of ``--max-fpr``, and any other flat dict or text the file holds.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from neuralab.report.formatting import (
    anchor, finite, format_metric, format_number, format_percent, format_value, humanise,
    is_number)
from neuralab.report.reading import class_names, n_classes, split_names
from neuralab.report.tables import Cell, Table, head, header, help_for, kv_table

#: The per-class columns in the order they are shown; any others follow.
PER_CLASS_ORDER = ("precision", "recall", "f1", "fpr", "tpr", "tnr", "support")
#: The per-class columns that get a macro and a weighted average under the table.
AVERAGED = ("precision", "recall", "f1")
#: Per-class dicts at split level (``roc_auc_per_class: {name: auc}``) join the per-class
#: table as a column named without the suffix.
PER_CLASS_SUFFIX = "_per_class"
#: Split-level keys that the metrics section shows in its own way (or not at all).
SPLIT_SPECIAL = ("per_class", "confusion_matrix", "confusion_matrix_normalized", "operating_point")
#: Scalar metrics in the order they are shown; any other scalar keys follow alphabetically.
SCALAR_ORDER = ("n_samples", "n", "accuracy", "balanced_accuracy", "mse", "mae", "r2", "loss", "log_loss", "roc_auc",
                "roc_auc_macro", "roc_auc_micro", "average_precision", "average_precision_macro",
                "average_precision_micro")
#: For a binary problem each group is one line, named by its first key, holding the value of
#: the first key the split has.
BINARY_ONE_LINE = {
    "roc_auc": ("roc_auc", "roc_auc_macro", "roc_auc_micro"),
    "average_precision": ("average_precision", "average_precision_macro", "average_precision_micro"),
}


def scalar(value) -> bool:
    return value is None or is_number(value)


def scalar_rows(m: dict, *, binary: bool) -> list[tuple[str, str]]:
    """(name, formatted value) of a split's scalar metrics, in :data:`SCALAR_ORDER`.

    >>> scalar_rows({"roc_auc": 0.9, "roc_auc_macro": 0.9, "roc_auc_micro": 0.9}, binary=True)
    [('roc_auc', '0.9000')]
    >>> rows = scalar_rows({"roc_auc": 0.9, "roc_auc_macro": 0.9, "roc_auc_micro": 0.8}, binary=False)
    >>> [k for k, _ in rows]
    ['roc_auc', 'roc_auc_micro']
    """
    values = {k: v for k, v in m.items() if scalar(v)}
    if "roc_auc" in values and values.get("roc_auc_macro") == values["roc_auc"]:
        del values["roc_auc_macro"]  # roc_auc is the macro average: one line says it
    if binary:
        for name, keys in BINARY_ONE_LINE.items():
            present = [k for k in keys if k in values]
            if present:
                first = values[present[0]]
                for k in present:
                    del values[k]
                values[name] = first
    ordered = [k for k in SCALAR_ORDER if k in values] + sorted(
        k for k in values if k not in SCALAR_ORDER)
    return [(k, format_metric(k, values[k])) for k in ordered]


def per_class_extras(m: dict) -> dict[str, dict]:
    """``{"roc_auc": {name: auc}, ...}`` from the split's ``*_per_class`` dicts."""
    return {k[:-len(PER_CLASS_SUFFIX)]: v for k, v in m.items()
            if k.endswith(PER_CLASS_SUFFIX) and k != "per_class" and isinstance(v, dict)
            and all(scalar(x) for x in v.values())}


def class_averages(per_class: dict, key: str) -> tuple[float | None, float | None]:
    """(macro, weighted) average of ``key`` over the classes, as classification_report has them.

    Classes whose value is missing are left out of both; the weights are the supports.

    >>> class_averages({"a": {"f1": 1.0, "support": 3}, "b": {"f1": 0.5, "support": 1}}, "f1")
    (0.75, 0.875)
    >>> class_averages({"a": {"f1": None, "support": 3}}, "f1")
    (None, None)
    """
    rows = [r for r in per_class.values() if isinstance(r, dict) and finite(r.get(key))]
    if not rows:
        return None, None
    macro = sum(r[key] for r in rows) / len(rows)
    weights = [r.get("support") for r in rows]
    if not all(finite(w) for w in weights) or sum(weights) <= 0:
        return macro, None
    return macro, sum(w * r[key] for w, r in zip(weights, rows)) / sum(weights)


def per_class_columns(per_class: dict, extra: dict[str, dict]) -> list[str]:
    keys = []
    for row in per_class.values():
        if isinstance(row, dict):
            keys += [k for k in row if k not in keys]
    cols = [k for k in PER_CLASS_ORDER if k in keys] + [k for k in keys if k not in PER_CLASS_ORDER]
    return cols + [k for k in extra if k not in cols]


def average_rows(per_class: dict, cols: list[str]) -> list[list[Cell]]:
    """The "macro avg" and "weighted avg" rows under a per-class table."""
    averages = {c: class_averages(per_class, c) for c in AVERAGED if c in cols}
    supports = [r.get("support") for r in per_class.values() if isinstance(r, dict)]
    total = sum(supports) if supports and all(finite(s) for s in supports) else None
    rows = []
    for i, label in enumerate(("macro avg", "weighted avg")):
        cells = [Cell(label, title=help_for(label))]
        for c in cols:
            if c in averages:
                cells.append(Cell(format_number(averages[c][i], decimals=3), num=True))
            else:
                cells.append(Cell(format_number(total) if c == "support" else "", num=True))
        rows.append(cells)
    return rows


def per_class_table(per_class: dict, extra: dict[str, dict]) -> Table:
    """Precision, recall, F1, rates and support of each class, with their averages."""
    cols = per_class_columns(per_class, extra)
    rows = []
    for name, row in per_class.items():
        row = {**(row if isinstance(row, dict) else {}),
               **{k: v.get(name) for k, v in extra.items() if k not in (row or {})}}
        rows.append([Cell(str(name))] + [
            Cell(format_number(row.get(c), decimals=3), num=True) for c in cols])
    foot = average_rows(per_class, cols) if any(c in cols for c in AVERAGED) else []
    return Table(header(["class", *cols]), rows, foot=foot)


def confusion_table(cm, classes: list[str]) -> Table | None:
    """The confusion matrix with rows tinted by their share; None when it is not square."""
    if not (isinstance(cm, list) and cm and all(isinstance(r, list) and len(r) == len(cm) for r in cm)):
        return None
    top = [Cell("true ↓ · predicted →", cls="corner")] + [
        Cell(c, num=True) for c in classes] + [Cell("total", num=True)]
    rows = []
    for i, row in enumerate(cm):
        total = sum(v for v in row if is_number(v))
        cells = [Cell(classes[i], cls="rowhead")]
        for j, v in enumerate(row):
            share = v / total if total and is_number(v) else 0
            tint = (f"rgba(46, 139, 87, {0.1 + 0.5 * share:.2f})" if i == j
                    else f"rgba(214, 39, 40, {0.6 * share:.2f})")
            tip = f"{format_percent(share)} of true {classes[i]}" if total else None
            cells.append(Cell(format_number(v), num=True, title=tip, cls="diag" if i == j else "",
                              style=f"background: {tint}"))
        cells.append(Cell(format_number(total), num=True))
        rows.append(cells)
    return Table(top, rows, cls="cm", row_heads=True)


def operating_point(op: dict) -> dict:
    """The ``--max-fpr`` operating point: a sentence and its table."""
    text = None
    if finite(op.get("threshold")):
        text = (f"Predict {op.get('positive_class', 'the positive class')} when its probability is "
                f"at least {format_number(op['threshold'])}")
        if finite(op.get("max_fpr")):
            text += f", the threshold that keeps FPR ≤ {format_number(op['max_fpr'])}"
        if op.get("chosen_on"):
            text += f" on the {op['chosen_on']} split"
        text += "."
    return {"text": text, "table": kv_table((k, format_value(k, v)) for k, v in op.items())}


@dataclass
class SplitView:
    """One split's part of the Metrics section."""

    name: str
    anchor: str
    scalars: Table | None
    per_class: Table | None = None
    confusion: Table | None = None
    confusion_why: str | None = None
    operating_point: dict | None = None
    others: list[tuple[str, Table]] = field(default_factory=list)
    texts: list[tuple[str, str]] = field(default_factory=list)


def split_view(split: str, m: dict, names: list[str]) -> SplitView:
    """Everything the page shows about one split of metrics.json."""
    binary = n_classes(m) == 2
    rows = scalar_rows(m, binary=binary)
    view = SplitView(split, f"metrics-{anchor(split)}", kv_table(rows) if rows else None)
    per_class = m.get("per_class")
    extra = per_class_extras(m)
    if isinstance(per_class, dict) and per_class:
        view.per_class = per_class_table(per_class, extra)
    if m.get("confusion_matrix") is not None:
        view.confusion = confusion_table(m["confusion_matrix"], names)
        view.confusion_why = None if view.confusion else "confusion_matrix is not a square table."
    if isinstance(m.get("operating_point"), dict) and m["operating_point"]:
        view.operating_point = operating_point(m["operating_point"])
    for key, value in m.items():
        if key in SPLIT_SPECIAL or scalar(value) or (
                key[:-len(PER_CLASS_SUFFIX)] in extra and view.per_class is not None):
            continue
        if isinstance(value, dict) and value and all(scalar(v) or isinstance(v, str)
                                                    for v in value.values()):
            view.others.append((humanise(key), kv_table((k, format_value(k, v))
                                                        for k, v in value.items())))
        elif isinstance(value, str):
            view.texts.append((key, value))
    return view


def metrics_views(metrics: dict, config: dict, model: dict | None) -> list[SplitView]:
    """One :class:`SplitView` per split, in reading order."""
    views = []
    for split in split_names(metrics):
        m = metrics[split]
        cm = m.get("confusion_matrix")
        names = class_names(metrics, config, model, len(cm) if isinstance(cm, list) else 0)
        views.append(split_view(split, m, names))
    return views


def auc_of(m: dict):
    """The split's one ROC AUC: the binary area, or the one-vs-rest macro average."""
    for key in ("roc_auc", "roc_auc_macro"):
        if key in m:
            return m[key]
    return None


def regression(metrics: dict) -> bool:
    """Whether metrics.json is a regression run's (its splits hold r2)."""
    return any(isinstance(m, dict) and "r2" in m for m in metrics.values())


def headline_header(task: str = "classification") -> list[Cell]:
    """The headline table's header (regression: samples, MSE, MAE, R², loss)."""
    if task == "regression":
        return [Cell("split"), head("n", num=True), head("mse", num=True),
                head("mae", num=True), Cell("R²", num=True, title=help_for("r2")),
                head("loss", num=True)]
    return [Cell("split"), head("n_samples", num=True), head("accuracy", num=True),
            head("loss", num=True), Cell("ROC AUC", num=True, title=help_for("roc_auc"))]


def headline_row(split: str, m: dict, *, link: bool = True) -> list[Cell]:
    """A split's samples, accuracy, loss and ROC AUC; ``link`` leads to its metrics.

    A regression split (it holds r2) shows its samples, MSE, MAE, R² and loss.
    """
    if "r2" in m:
        return [Cell(split, href=f"#metrics-{anchor(split)}" if link else None),
                Cell(format_number(m.get("n")), num=True),
                Cell(format_number(m.get("mse")), num=True),
                Cell(format_number(m.get("mae")), num=True),
                Cell(format_number(m.get("r2")), num=True, cls="big"),
                Cell(format_metric("loss", m.get("loss")), num=True)]
    return [Cell(split, href=f"#metrics-{anchor(split)}" if link else None),
            Cell(format_number(m.get("n_samples")), num=True),
            Cell(format_percent(m.get("accuracy")), num=True, cls="big"),
            Cell(format_metric("loss", m.get("loss")), num=True),
            Cell(format_number(auc_of(m)), num=True)]


def headline(metrics: dict) -> Table | None:
    """The summary's table: samples, accuracy, loss and ROC AUC of every split."""
    splits = split_names(metrics)
    if not splits:
        return None
    task = "regression" if regression(metrics) else "classification"
    return Table(headline_header(task),
                 [headline_row(s, metrics[s]) for s in splits], cls="headline")


__all__ = ["SplitView", "class_averages", "headline", "headline_header", "headline_row",
           "metrics_views", "scalar_rows"]
