"""Each layer's gradient norm over training, from the history's ``grad_norm_*`` columns.

Vanishing gradients show as the first layers' curves lying decades below the
last's; exploding ones as curves that climb.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

import numpy as np

from neuralab import NeuralabError
from neuralab import plots


_GRAD_COLUMN = re.compile(r"^grad_norm_([Wb])(\d+)$")


def _history_rows(history_rows) -> list[dict]:
    rows = getattr(history_rows, "rows", history_rows)
    if isinstance(rows, dict) or not isinstance(rows, Sequence):
        try:
            rows = list(rows)
        except TypeError:
            raise NeuralabError(
                "history_rows must be a list of dict rows or a neuralab.train.History, "
                f"got {type(history_rows).__name__}"
            ) from None
    if not all(isinstance(r, dict) for r in rows):
        raise NeuralabError("history_rows must be a list of dict rows or a neuralab.train.History")
    return list(rows)


def _as_float(value, column: str, i: int) -> float:
    if value is None or (isinstance(value, str) and not value.strip()):
        return math.nan
    try:
        return float(value)
    except (TypeError, ValueError):
        raise NeuralabError(f"history row {i}: {column} must be a number, got {value!r}") from None


def gradient_norm_figure(history_rows, *, biases: bool = False, title: str = ""):
    """Each layer's gradient norm ``||dW_i||`` against the training step, on a log scale.

    Vanishing gradients show as the first layers' curves lying decades below the
    last's; exploding ones as curves that climb.

    Parameters
    ----------
    history_rows : list of dict, or neuralab.train.History
        Rows as ``csv.DictReader`` reads ``history.csv`` (values may be strings)
        or as the training loop keeps them, with columns ``grad_norm_W1``,
        ``grad_norm_W2``, ... (and ``grad_norm_b1``, ...) and ``step``. Without
        ``step`` the row number is the x-axis. Empty cells are gaps.
    biases : bool
        Also draw the biases' norms, dashed (default False).
    title : str

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    NeuralabError
        When no row has a ``grad_norm_W<i>`` column; the message lists the
        columns that are there.
    """
    rows = _history_rows(history_rows)
    columns: list[str] = []
    for r in rows:
        columns += [c for c in r if c not in columns]
    found = {}
    for c in columns:
        m = _GRAD_COLUMN.match(str(c))
        if m:
            found[(m.group(1), int(m.group(2)))] = c
    layers = sorted(i for kind, i in found if kind == "W")
    if not layers:
        raise NeuralabError(
            "history has no per-layer gradient norm columns grad_norm_W1, grad_norm_W2, ...; "
            f"columns present: {', '.join(map(str, columns)) or 'none (no rows)'}"
        )
    if "step" in columns:
        steps = np.array([_as_float(r.get("step"), "step", i) for i, r in enumerate(rows)])
        xlabel = "step"
    else:
        steps, xlabel = np.arange(len(rows), dtype=float), "history row"
    fig = plots.new_figure(figsize=(6.5, 4.2))
    ax = fig.add_subplot()
    for n, i in enumerate(layers):
        colour = plots.CLASS_COLOURS[n % len(plots.CLASS_COLOURS)]
        kinds = ["W", "b"] if biases and ("b", i) in found else ["W"]
        for kind in kinds:
            col = found[(kind, i)]
            values = np.array([_as_float(r.get(col), col, j) for j, r in enumerate(rows)])
            values[~(values > 0)] = np.nan  # a log axis cannot show 0; leave a gap
            ax.plot(steps, values, color=colour, ls="-" if kind == "W" else "--",
                    lw=1.5 if kind == "W" else 1.0, label=f"||d{kind}{i}||")
    ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("gradient norm (Frobenius)")
    ax.set_title(title or "gradient norm per layer")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


__all__ = ["gradient_norm_figure"]
