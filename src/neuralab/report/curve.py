"""The training curve drawn from ``history.csv`` as inline SVG, on a linear or a log step axis.

Each panel (loss, accuracy) is drawn twice, once per step axis; the page shows one of the
two and a pair of radio buttons switches between them with CSS alone. On the log axis
the x position of step ``s`` is ``log10(1 + s)``, so step 0 has a place and the first
hundreds of steps, where the loss falls fastest, get as much room as the rest.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from neuralab.report.formatting import finite, format_number, format_percent
from neuralab.report.reading import History

#: The SVG's size in user units, and the margins around the plot area.
WIDTH, HEIGHT = 760, 250
LEFT, RIGHT, TOP, BOTTOM = 76, 30, 14, 50
#: Line colours of the series, in column order (matplotlib's first colours).
COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b")
#: The x position of a step on each axis.
SCALES: dict[str, Callable[[float], float]] = {"lin": float, "log": lambda s: math.log10(1 + max(s, 0))}


def nice_ticks(lo: float, hi: float, *, most: int = 6) -> list[float]:
    """Round tick values that cover [lo, hi], at most about ``most`` of them.

    >>> nice_ticks(0.21, 0.69)
    [0.2, 0.3, 0.4, 0.5, 0.6, 0.7]
    >>> nice_ticks(0, 300)
    [0, 100, 200, 300]
    >>> nice_ticks(1.0, 1.0)
    [0.4, 0.6, 0.8, 1.0, 1.2, 1.4, 1.6]
    """
    if hi <= lo:
        pad = abs(lo) * 0.5 or 1.0
        lo, hi = lo - pad, hi + pad
    raw = (hi - lo) / max(most - 1, 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    first, last = math.floor(lo / step + 1e-9), math.ceil(hi / step - 1e-9)
    return [round(k * step, 12) for k in range(first, last + 1)]


def log_ticks(hi: float) -> list[float]:
    """Steps 0, 1, 10, 100, ... up to the last step (the log axis's ticks).

    >>> log_ticks(300), log_ticks(0)
    ([0, 1, 10, 100], [0])
    """
    ticks, s = [0], 1
    while s <= hi:
        ticks.append(s)
        s *= 10
    return ticks


def scaler(lo: float, hi: float, a: float, b: float) -> Callable[[float], float]:
    """The linear map from [lo, hi] to [a, b]."""
    span = (hi - lo) or 1.0
    return lambda v: round(a + (v - lo) * (b - a) / span, 1)


def segments(points: list[tuple[float, float | None]]) -> list[list[tuple[float, float]]]:
    """Runs of consecutive points with a value; a missing value breaks the line.

    >>> segments([(0, 1.0), (1, None), (2, 3.0), (3, 4.0)])
    [[(0, 1.0)], [(2, 3.0), (3, 4.0)]]
    """
    out, run = [], []
    for x, y in points:
        if y is None:
            if run:
                out.append(run)
            run = []
        else:
            run.append((x, y))
    return out + ([run] if run else [])


def x_axis(scale: str, steps: list[float]) -> tuple[Callable, list[dict]]:
    """The pixel map of one step axis and its ticks."""
    f = SCALES[scale]
    lo, hi = min(steps), max(steps)
    to_px = scaler(f(lo), f(hi), LEFT, WIDTH - RIGHT)
    if scale == "lin":
        ticks = [t for t in nice_ticks(lo, hi, most=8) if lo <= t <= hi]
    else:
        ticks = [t for t in log_ticks(hi) if t >= lo]
    return (lambda s: to_px(f(s))), [{"x": to_px(f(t)), "label": format_number(int(t))}
                                     for t in ticks]


def panel(title: str, columns: list[str], steps: list[float], history: History,
          fmt: Callable[[float], str]) -> dict | None:
    """One chart: the columns' lines over the steps, on both step axes."""
    values = {c: [r.get(c) if finite(r.get(c)) else None for r in history.rows] for c in columns}
    found = [v for c in columns for v in values[c] if v is not None]
    if not found:
        return None
    yticks = nice_ticks(min(min(found), 0) if title == "loss" else min(found), max(found))
    to_y = scaler(yticks[0], yticks[-1], HEIGHT - BOTTOM, TOP)
    out = {"title": title, "yticks": [{"y": to_y(t), "label": fmt(t)} for t in yticks],
           "series": [{"name": c, "colour": COLOURS[i % len(COLOURS)]} for i, c in enumerate(columns)],
           "scales": {}}
    for scale in SCALES:
        to_x, xticks = x_axis(scale, steps)
        lines = []
        for i, c in enumerate(columns):
            for run in segments(list(zip(steps, values[c]))):
                pts = [(to_x(s), to_y(v)) for s, v in run]
                lines.append({"colour": COLOURS[i % len(COLOURS)], "name": c,
                              "points": " ".join(f"{x},{y}" for x, y in pts),
                              "dot": pts[0] if len(pts) == 1 else None})
        out["scales"][scale] = {"xticks": xticks, "lines": lines}
    return out


def curve(history: History) -> dict | None:
    """The loss and accuracy panels of a history, or None when it has nothing to draw."""
    if history.why:
        return None
    rows = history.rows
    steps = [r.get("step") if finite(r.get("step")) else i for i, r in enumerate(rows)]
    losses = [c for c in history.columns if c == "loss" or c.endswith("_loss")]
    accuracies = [c for c in history.columns if c.endswith("accuracy")]
    panels = [p for p in (panel("loss", losses, steps, history, lambda v: format_number(v, decimals=2)),
                          panel("accuracy", accuracies, steps, history, format_percent)) if p]
    if not panels:
        return None
    return {"panels": panels, "width": WIDTH, "height": HEIGHT, "left": LEFT,
            "right": WIDTH - RIGHT, "top": TOP, "bottom": HEIGHT - BOTTOM}
