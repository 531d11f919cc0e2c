"""What the report reads from a run directory, and the few facts it derives from it.

Only ``config.json`` and ``metrics.json`` are required; every other file is optional
and the page says why when one is absent or unreadable. Files are read through
:mod:`neuralab.fileio`; nothing here imports the rest of neuralab.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from neuralab import NeuralabError
from neuralab.fileio import read_csv, read_json
from neuralab.report.formatting import parse_cell

#: Splits in the order a reader expects them; any others follow alphabetically.
SPLIT_ORDER = ("train", "val", "validation", "test", "eval")


def read_required(path: Path) -> dict:
    """The JSON object at ``path``; a missing or malformed file is a one-line error."""
    try:
        obj = read_json(path)
    except NeuralabError as exc:
        raise NeuralabError(f"cannot build a report: {exc}") from None
    if not isinstance(obj, dict):
        raise NeuralabError(f"cannot build a report: {path} must hold a JSON object, "
                            f"got {type(obj).__name__}")
    return obj


def read_optional(path: Path) -> tuple[dict | None, str | None]:
    """(object, None), or (None, why not) for a missing or unreadable JSON file."""
    if not path.is_file():
        return None, f"No {path.name} in this run."
    try:
        obj = read_json(path)
    except NeuralabError as exc:
        return None, str(exc)
    if not isinstance(obj, dict):
        return None, f"{path.name} does not hold a JSON object."
    return obj, None


@dataclass
class History:
    """``history.csv`` as columns and rows of parsed cells, or why there is none."""

    columns: list[str]
    rows: list[dict]
    why: str | None = None


def read_history(path: Path) -> History:
    """The rows of a ``history.csv``; empty cells become None, numbers numbers."""
    if not path.is_file():
        return History([], [], f"No {path.name} in this run.")
    try:
        columns, cells = read_csv(path)
    except NeuralabError as exc:
        return History([], [], str(exc))
    rows = [{c: parse_cell(row[i] if i < len(row) else None) for i, c in enumerate(columns)}
            for row in cells]
    return History(columns, rows, None if rows else f"{path.name} has no rows.")


def dict_at(obj, key: str) -> dict:
    """``obj[key]`` when it is a dict, else an empty dict.

    >>> dict_at({"a": {"b": 1}}, "a"), dict_at({"a": [1]}, "a"), dict_at(None, "a")
    ({'b': 1}, {}, {})
    """
    value = obj.get(key) if isinstance(obj, dict) else None
    return value if isinstance(value, dict) else {}


def split_names(metrics: dict) -> list[str]:
    """The splits of a metrics.json in reading order.

    >>> split_names({"test": {}, "zeta": {}, "train": {}, "note": "x"})
    ['train', 'test', 'zeta']
    """
    splits = [k for k, v in metrics.items() if isinstance(v, dict)]
    known = [s for s in SPLIT_ORDER if s in splits]
    return known + sorted(s for s in splits if s not in SPLIT_ORDER)


def class_names(metrics: dict, config: dict, model: dict | None, k: int) -> list[str]:
    """The names of ``k`` classes: from a per-class table, model.json, config.json or 0..k-1."""
    for split in split_names(metrics):
        per_class = metrics[split].get("per_class")
        if isinstance(per_class, dict) and len(per_class) == k:
            return [str(c) for c in per_class]
    for classes in ((model or {}).get("classes"), dict_at(config, "data").get("classes")):
        if isinstance(classes, list) and len(classes) == k:
            return [str(c) for c in classes]
    return [str(i) for i in range(k)]


def n_classes(split: dict) -> int | None:
    """How many classes a split's metrics speak of (per-class table or confusion matrix)."""
    per_class = split.get("per_class")
    if isinstance(per_class, dict) and per_class:
        return len(per_class)
    cm = split.get("confusion_matrix")
    return len(cm) if isinstance(cm, list) and cm else None
