"""Runs that show themselves in a Jupyter notebook.

- :func:`fit_html` and :func:`run_html` are what ``FitResult._repr_html_`` and
  ``RunResult._repr_html_`` return: a table of the headline metrics and the loss
  curve, drawn as inline SVG (no image files, nothing fetched). Every text in them
  is escaped, so a run or split name can not inject markup.
- :class:`LivePlot` is a callback for :func:`neuralab.train.fit` that redraws the
  loss curve in place while training runs in a notebook; elsewhere it only records.
- :func:`show` displays neuralab's matplotlib figures (built without pyplot) as PNG.

IPython is imported only when something is displayed; torch is never imported.
"""

from __future__ import annotations

import html
import io
import math
import time
from collections.abc import Iterable, Sequence

from neuralab import NeuralabError

__all__ = ["LivePlot", "fit_html", "loss_curve_svg", "run_html", "show"]

#: matplotlib's first two default line colours, as in the history figures of the report
SERIES_COLOURS = ("#1f77b4", "#ff7f0e")
_MAX_POINTS = 400  # a longer curve is thinned to about this many points before drawing
_STYLE = ("font-family: sans-serif; font-size: 12px; border-collapse: collapse; "
          "margin: 4px 0")


def _e(value) -> str:
    """Any value as escaped HTML text (quotes too, so it is safe inside attributes)."""
    return html.escape(str(value), quote=True)


def _number(value, kind: str = "float") -> str:
    """A metric for a table cell: percent for accuracies, 4 decimals for losses, n/a for none."""
    if value is None:
        return "n/a"
    numeric = isinstance(value, (int, float)) or hasattr(value, "dtype")
    if isinstance(value, bool) or not numeric:
        return str(value)
    v = float(value)
    if not math.isfinite(v):
        return str(v)
    if kind == "percent":
        return f"{100 * v:.1f} %"
    if kind == "int":
        return f"{int(v):,}"
    return f"{v:.4f}"


def _finite_points(steps: Sequence[float], values: Sequence[float]) -> list[tuple[float, float]]:
    out = []
    for s, v in zip(steps, values):
        if v is not None and math.isfinite(float(v)) and math.isfinite(float(s)):
            out.append((float(s), float(v)))
    if len(out) > _MAX_POINTS:  # thin evenly, keeping the last point
        every = math.ceil(len(out) / _MAX_POINTS)
        out = out[::every] + ([out[-1]] if (len(out) - 1) % every else [])
    return out


def loss_curve_svg(steps: Sequence[float], series: dict[str, Sequence[float]], *,
                   width: int = 420, height: int = 220, title: str = "loss") -> str:
    """An inline SVG line chart of one or more loss series against the step.

    Parameters
    ----------
    steps : sequence of float
        The x values, shared by every series.
    series : dict of str to sequence of float
        Label to values (same length as ``steps``); NaN, infinite and None values
        are left out. The first series is drawn in blue, the second in orange.
    width, height : int
        The size of the drawing in pixels.
    title : str
        The y axis's label.

    Returns
    -------
    str
        ``<svg ...>...</svg>``, every text escaped.

    Examples
    --------
    >>> svg = loss_curve_svg([0, 10, 20], {"train": [1.1, 0.8, 0.5]})
    >>> svg.startswith("<svg") and svg.count("<polyline") == 1
    True
    >>> "no logged steps" in loss_curve_svg([], {"train": []})
    True
    """
    left, right, top, bottom = 56, 12, 22, 30
    pw, ph = width - left - right, height - top - bottom
    curves = {label: _finite_points(steps, values) for label, values in series.items()}
    points = [p for pts in curves.values() for p in pts]
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img" aria-label="{_e(title)}">',
             f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="white" '
             'stroke="#999" stroke-width="1"/>']
    text = 'font-family="sans-serif" font-size="11" fill="#333"'
    if not points:
        parts.append(f'<text x="{left + pw / 2}" y="{top + ph / 2}" text-anchor="middle" '
                     f'{text}>no logged steps yet</text></svg>')
        return "".join(parts)
    x0, x1 = min(p[0] for p in points), max(p[0] for p in points)
    y0, y1 = min(p[1] for p in points), max(p[1] for p in points)
    if x1 == x0:
        x0, x1 = x0 - 1, x1 + 1
    if y1 == y0:
        pad = abs(y0) * 0.05 or 1.0
        y0, y1 = y0 - pad, y1 + pad

    def xy(s: float, v: float) -> str:
        return f"{left + pw * (s - x0) / (x1 - x0):.1f},{top + ph * (1 - (v - y0) / (y1 - y0)):.1f}"

    for k, (label, pts) in enumerate(curves.items()):
        colour = SERIES_COLOURS[k % len(SERIES_COLOURS)]
        if len(pts) == 1:
            cx, cy = xy(*pts[0]).split(",")
            parts.append(f'<circle cx="{cx}" cy="{cy}" r="3" fill="{colour}"/>')
        elif pts:
            parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="1.6" '
                         f'points="{" ".join(xy(s, v) for s, v in pts)}"/>')
        ly = top + 12 + 14 * k
        parts.append(f'<line x1="{left + pw - 96}" y1="{ly - 4}" x2="{left + pw - 78}" '
                     f'y2="{ly - 4}" stroke="{colour}" stroke-width="2"/>'
                     f'<text x="{left + pw - 72}" y="{ly}" {text}>{_e(label)}</text>')
    parts += [
        f'<text x="{left - 4}" y="{top + 4}" text-anchor="end" {text}>{y1:.4g}</text>',
        f'<text x="{left - 4}" y="{top + ph}" text-anchor="end" {text}>{y0:.4g}</text>',
        f'<text x="{left}" y="{height - 14}" text-anchor="start" {text}>{x0:g}</text>',
        f'<text x="{left + pw}" y="{height - 14}" text-anchor="end" {text}>{x1:g}</text>',
        f'<text x="{left + pw / 2}" y="{height - 4}" text-anchor="middle" {text}>iteration</text>',
        f'<text x="12" y="{top + ph / 2}" text-anchor="middle" {text} '
        f'transform="rotate(-90 12 {top + ph / 2})">{_e(title)}</text>',
        "</svg>",
    ]
    return "".join(parts)


def _caption(text: str) -> str:
    return f'<caption style="text-align:left;font-weight:bold">{_e(text)}</caption>' if text else ""


def _table(rows: Iterable[tuple[str, str]], *, caption: str = "") -> str:
    body = "".join(f'<tr><th style="text-align:left;padding:1px 10px 1px 0">{_e(k)}</th>'
                   f'<td style="text-align:left;padding:1px 0">{_e(v)}</td></tr>'
                   for k, v in rows)
    return f'<table style="{_STYLE}">{_caption(caption)}{body}</table>'


def _history_curve(history, val_label: str) -> str:
    steps = history.column("step")
    series = {"train": history.column("loss")}
    if "val_loss" in history.columns:
        series[val_label] = history.column("val_loss")
    return loss_curve_svg(steps, series)


def _fit_rows(result) -> list[tuple[str, str]]:
    rows = [("iterations", _number(result.steps, "int")),
            ("seconds", f"{result.seconds:.2f}"),
            ("final loss", _number(result.final_loss))]
    if result.final_train_accuracy is not None:
        rows.append(("train accuracy", _number(result.final_train_accuracy, "percent")))
    if result.final_val_loss is not None:
        rows.append(("validation loss", _number(result.final_val_loss)))
    if result.final_val_accuracy is not None:
        rows.append(("validation accuracy", _number(result.final_val_accuracy, "percent")))
    if result.interrupted:
        rows.append(("stopped", "interrupted"))
    if result.stopped_early:
        rows.append(("stopped", f"early; weights of step {result.best_step}"))
    return rows


def _side_by_side(*cells: str) -> str:
    return ('<div style="display:flex;flex-wrap:wrap;gap:16px;align-items:flex-start">'
            + "".join(f"<div>{c}</div>" for c in cells) + "</div>")


def fit_html(result) -> str:
    """The HTML of a :class:`~neuralab.train_log.FitResult`: headline metrics and the loss curve."""
    table = _table(_fit_rows(result), caption="fit")
    curve = _history_curve(result.history, "validation")
    return f'<div class="neuralab-fit">{_side_by_side(table, curve)}</div>'


#: per split: (metrics key, column title, kind), classification and regression
_SPLIT_COLUMNS = {
    "classification": [("n_samples", "n", "int"), ("accuracy", "accuracy", "percent"),
                       ("loss", "loss", "float"), ("roc_auc", "ROC AUC", "float")],
    "regression": [("n", "n", "int"), ("mse", "MSE", "float"), ("mae", "MAE", "float"),
                   ("r2", "R^2", "float"), ("loss", "loss", "float")],
}


def _splits_table(metrics: dict, task: str) -> str:
    columns = _SPLIT_COLUMNS["regression" if task == "regression" else "classification"]
    head = "".join(f'<th style="padding:1px 8px">{_e(title)}</th>' for _, title, _ in columns)
    rows = []
    for split, m in metrics.items():
        if not isinstance(m, dict):
            continue
        cells = "".join(f'<td style="text-align:right;padding:1px 8px">'
                        f'{_e(_number(m.get(key), kind))}</td>' for key, _, kind in columns)
        rows.append(f'<tr><th style="text-align:left;padding:1px 8px">{_e(split)}</th>{cells}</tr>')
    return (f'<table style="{_STYLE}">{_caption("metrics")}<tr><th></th>{head}</tr>'
            f'{"".join(rows)}</table>')


def _model_text(settings) -> str:
    if getattr(settings, "model", "mlp") == "linear" or not getattr(settings, "hidden", None):
        return "linear"
    hidden = " -> ".join(str(h) for h in settings.hidden)
    return f"mlp, hidden {hidden}, {settings.activation}"


def run_html(run) -> str:
    """The HTML of a :class:`~neuralab.runs.RunResult`: the run, every split's scores, the curve."""
    s = run.settings
    length = f"{s.epochs} epochs" if getattr(s, "epochs", None) else f"{run.fit.steps:,} iterations"
    about = [("name", run.name), ("model", _model_text(s)),
             ("optimizer", f"{s.optimizer}, lr {s.lr:g}, reg {s.reg:g}"),
             ("training", f"{length}, {run.fit.seconds:.2f} s, {s.backend} on {run.device}"),
             ("final loss", _number(run.fit.final_loss))]
    if run.run_dir is not None:
        about.append(("run directory", str(run.run_dir)))
    if run.interrupted:
        about.append(("stopped", "interrupted"))
    val_label = "val" if "val" in run.splits else ("test" if "test" in run.splits else "held out")
    tables = _table(about, caption="run") + _splits_table(run.metrics, getattr(s, "task", ""))
    curve = _history_curve(run.fit.history, val_label)
    return f'<div class="neuralab-run">{_side_by_side(tables, curve)}</div>'


def _notebook_display():
    """(display, HTML) of IPython when this process is a notebook's kernel, else None."""
    try:
        from IPython import get_ipython
        from IPython.display import HTML, display
    except ImportError:
        return None
    shell = get_ipython()
    if shell is None or not hasattr(shell, "kernel"):
        return None
    return display, HTML


class LivePlot:
    """A :func:`~neuralab.train.fit` callback that redraws the loss curve in place.

    In a notebook the first call displays the curve and later calls update that
    same output (IPython's ``display_id``), at most once every ``min_interval``
    seconds and always at the final step. Outside a notebook (no IPython kernel)
    it draws nothing and only records the points; display the object afterwards
    (it has a ``_repr_html_``) to see them. Use one LivePlot per ``fit`` call.

    Args:
        title: the y axis's label.
        min_interval: the least time in seconds between two redraws (0: every call).

    Attributes:
        steps, losses, val_losses: the recorded points (val_losses holds None
            where no validation loss was logged).
        redraws: how many times the output was drawn or updated.

    Example:
        >>> from neuralab.data import spiral
        >>> from neuralab.train import fit, make_engine_trainer
        >>> X, y = spiral(n_per_class=20, seed=0)
        >>> live = LivePlot()
        >>> _ = fit(make_engine_trainer([2, 3]), X, y, iterations=30, callbacks=[live])
        >>> live.steps[-1], live.redraws   # outside a notebook nothing is drawn
        (30, 0)
    """

    def __init__(self, *, title: str = "loss", min_interval: float = 0.5) -> None:
        if not isinstance(min_interval, (int, float)) or not min_interval >= 0:
            raise NeuralabError(
                f"min_interval must be a number of seconds >= 0, got {min_interval!r}")
        self.title = str(title)
        self.min_interval = float(min_interval)
        self.steps: list[int] = []
        self.losses: list[float] = []
        self.val_losses: list[float | None] = []
        self.redraws = 0
        self._handle = None
        self._last_draw = -math.inf
        self._display = _notebook_display()

    def __call__(self, step: int, loss: float, metrics: dict) -> None:
        final = bool(metrics.get("final"))
        val = metrics.get("val_loss")
        if final and self.steps and self.steps[-1] == step:
            self.losses[-1] = float(loss)  # the final call repeats the last logged step
            self.val_losses[-1] = val if val is not None else self.val_losses[-1]
        else:
            self.steps.append(int(step))
            self.losses.append(float(loss))
            self.val_losses.append(None if val is None else float(val))
        now = time.monotonic()
        if self._display is not None and (final or now - self._last_draw >= self.min_interval):
            self._draw()
            self._last_draw = now

    def _repr_html_(self) -> str:
        series = {"train": self.losses}
        if any(v is not None for v in self.val_losses):
            series["validation"] = [math.nan if v is None else v for v in self.val_losses]
        status = "no logged steps yet"
        if self.steps:
            status = f"iteration {self.steps[-1]:,}: loss {self.losses[-1]:.4f}"
            if self.val_losses[-1] is not None:
                status += f", validation loss {self.val_losses[-1]:.4f}"
        curve = loss_curve_svg(self.steps, series, title=self.title)
        return (f'<div class="neuralab-live">{curve}'
                f'<div style="font-family:sans-serif;font-size:12px">{_e(status)}</div></div>')

    def _draw(self) -> None:
        display, HTML = self._display
        page = HTML(self._repr_html_())
        if self._handle is None:
            self._handle = display(page, display_id=True)
        else:
            self._handle.update(page)
        self.redraws += 1


def show(*figures, dpi: int = 100) -> None:
    """Display matplotlib figures in a notebook, each as a PNG image.

    neuralab's figures (:mod:`neuralab.plots`) are built without pyplot, so a
    notebook does not show them by itself; ``show(fig)`` does.
    """
    try:
        from IPython.display import Image, display
    except ImportError:
        raise NeuralabError("show needs IPython to display figures; run it in a Jupyter notebook, "
                            "or save the figure with neuralab.plots.save_figure") from None
    for fig in figures:
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
        display(Image(data=buf.getvalue(), format="png"))
