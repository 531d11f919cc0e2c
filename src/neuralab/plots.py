"""Figures with matplotlib (Agg, no screen needed): boundaries, learning curves, confusion
matrices, ROC and precision-recall curves; for regression, predicted against true values
and the residuals.

Each function returns a ``matplotlib.figure.Figure`` (never through pyplot, so no
global state and no screen); :func:`save_figure` writes it atomically as PNG.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from neuralab.fileio import atomic_write

#: One colour per class (class k: ``CLASS_COLOURS[k % 10]``) in every figure, the report and
#: the playground alike.
CLASS_COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b",
                 "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]
#: Signed values (attributions, regression predictions): the playground's colours too.
VALUE_COLOURS = {"negative": CLASS_COLOURS[1], "positive": CLASS_COLOURS[0]}
#: The diverging colour map of signed images (weights, attributions): red below 0, blue above.
VALUE_CMAP = "RdBu"


def preload() -> None:
    """Import matplotlib's figure and Agg canvas now (about half a second, its font list
    included), for a caller that has other work to overlap it with."""
    import matplotlib.figure  # noqa: F401
    from matplotlib.backends import backend_agg  # noqa: F401


def new_figure(*args, **kwargs):
    from matplotlib.figure import Figure

    return Figure(*args, **kwargs)


#: zlib's level for the PNGs: the demo's 17 figures encode in 0.25 s at 3 against 0.45 s at
#: Pillow's default 6, for files 15 % larger (0.96 MB against 0.84 MB in all)
PNG_COMPRESS_LEVEL = 3


def save_figure(fig, path: str | Path, *, dpi: int = 110) -> Path:
    """The figure as a PNG (:data:`PNG_COMPRESS_LEVEL`), written atomically.

    Every figure lays itself out (``tight_layout`` or a constrained layout), so it is
    drawn once: ``bbox_inches="tight"`` would draw it twice, for the same margins.
    """
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, pil_kwargs={"compress_level": PNG_COMPRESS_LEVEL})
    return atomic_write(path, buf.getvalue())


#: the width of an average character of a 10-point label, in inches
CHAR_INCHES = 10 * 0.6 / 72


def fixed_margins(fig, *, left: float = 0.75, bottom: float = 0.6, top: float = 0.45,
                  right: float = 0.2, wspace: float | None = None):
    """Place the axes with margins given in inches (room for tick labels, axis labels and the
    title), without measuring any text: ``tight_layout`` draws every label to measure it,
    which costs as much as drawing the figure. Returns the figure."""
    width, height = fig.get_size_inches()
    fig.subplots_adjust(left=left / width, right=1 - right / width, bottom=bottom / height,
                        top=1 - top / height, wspace=wspace)
    return fig


def grid_over(X: np.ndarray, *, steps: int = 200, margin: float = 0.25):
    """A (steps x steps) grid covering X's two features with a margin."""
    lo, hi = X.min(axis=0), X.max(axis=0)
    pad = margin * np.maximum(hi - lo, 1e-9)
    xs = np.linspace(lo[0] - pad[0], hi[0] + pad[0], steps)
    ys = np.linspace(lo[1] - pad[1], hi[1] + pad[1], steps)
    xx, yy = np.meshgrid(xs, ys)
    return xx, yy, np.c_[xx.ravel(), yy.ravel()]


def draw_boundary(ax, predict_proba: Callable[[np.ndarray], np.ndarray], X: np.ndarray,
                  y: np.ndarray, *, title: str = "", X_test: np.ndarray | None = None,
                  y_test: np.ndarray | None = None, class_names: Sequence[str] | None = None,
                  steps: int = 200) -> None:
    """Shade the plane by the predicted class, lighter where the model is less sure.

    Training points are filled circles; test points, when given, are crosses.
    """
    from matplotlib.colors import to_rgb

    xx, yy, grid = grid_over(X if X_test is None else np.vstack([X, X_test]), steps=steps)
    probs = predict_proba(grid)
    K = probs.shape[1]
    colours = np.array([to_rgb(CLASS_COLOURS[k % len(CLASS_COLOURS)]) for k in range(K)])
    pred = probs.argmax(axis=1)
    conf = probs.max(axis=1)
    # blend each class colour with white: the more confident, the stronger the colour
    strength = 0.15 + 0.45 * (conf - 1.0 / K) / (1 - 1.0 / K)
    rgb = 1 - strength[:, None] * (1 - colours[pred])
    ax.imshow(rgb.reshape(steps, steps, 3), origin="lower", interpolation="bilinear",
              extent=(xx.min(), xx.max(), yy.min(), yy.max()), aspect="auto")
    names = list(class_names) if class_names else [str(k) for k in range(K)]
    for k in range(K):
        c = CLASS_COLOURS[k % len(CLASS_COLOURS)]
        m = y == k
        ax.scatter(X[m, 0], X[m, 1], s=14, c=c, edgecolors="k", linewidths=0.4,
                   label=f"{names[k]} (train)" if X_test is not None else names[k])
        if X_test is not None and y_test is not None:
            mt = y_test == k
            ax.scatter(X_test[mt, 0], X_test[mt, 1], s=22, c=c, marker="x", linewidths=1.2,
                       label=f"{names[k]} (test)")
    ax.set_xlim(xx.min(), xx.max())
    ax.set_ylim(yy.min(), yy.max())
    ax.set_title(title)
    ax.set_xlabel("x1")
    ax.set_ylabel("x2")
    ax.legend(loc="upper right", fontsize=7, framealpha=0.8)


def boundary_figure(predict_proba, X, y, **kwargs):
    fig = new_figure(figsize=(5.5, 5))
    draw_boundary(fig.add_subplot(), predict_proba, X, y, **kwargs)
    return fixed_margins(fig, left=0.8, bottom=0.55, right=0.15)


def comparison_figure(panels: Sequence[tuple[str, Callable]], X: np.ndarray, y: np.ndarray):
    """Decision boundaries side by side: ``panels`` is a list of (title, predict_proba)."""
    fig = new_figure(figsize=(5.2 * len(panels), 5))
    for i, (title, predict_proba) in enumerate(panels, start=1):
        draw_boundary(fig.add_subplot(1, len(panels), i), predict_proba, X, y, title=title)
    return fixed_margins(fig, left=0.8, bottom=0.55, right=0.15, wspace=0.25)


def history_figure(history, *, title: str = "", val_label: str = "validation"):
    """Loss and accuracy against the step, training and (when logged) held-out data.

    ``val_label`` names the held-out split the history's val columns measured. A
    regression history (no accuracy column) draws the loss alone.
    """
    if "train_accuracy" not in history.columns:
        return _loss_figure(history, title=title, val_label=val_label)
    fig = new_figure(figsize=(10, 4))
    ax_loss, ax_acc = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    steps = history.column("step")
    ax_loss.plot(steps, history.column("loss"), label="train")
    ax_acc.plot(steps, history.column("train_accuracy"), label="train")
    if "val_loss" in history.columns:
        ax_loss.plot(steps, history.column("val_loss"), label=val_label)
        ax_acc.plot(steps, history.column("val_accuracy"), label=val_label)
    ax_loss.set_xlabel("iteration")
    ax_loss.set_ylabel("loss (cross-entropy + 0.5 reg sum W^2)")
    ax_acc.set_xlabel("iteration")
    ax_acc.set_ylabel("accuracy")
    ax_acc.set_ylim(0, 1.02)
    return _finish_curves(fig, (ax_loss, ax_acc), title)


def _finish_curves(fig, axes, title: str):
    """Grid and legend on each of the curves' axes, the title over them; the figure."""
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    return fixed_margins(fig, left=0.8, bottom=0.6, top=0.55 if title else 0.25, wspace=0.3)


def _loss_figure(history, *, title: str, val_label: str):
    """A regression run's learning curve: the objective on the standardised target."""
    fig = new_figure(figsize=(6, 4))
    ax = fig.add_subplot(1, 1, 1)
    steps = history.column("step")
    ax.plot(steps, history.column("loss"), label="train")
    if "val_loss" in history.columns:
        ax.plot(steps, history.column("val_loss"), label=val_label)
    ax.set_xlabel("iteration")
    ax.set_ylabel("loss (MSE of standardised target + penalties)")
    return _finish_curves(fig, (ax,), title)


def _split_scatter(ax, parts: dict, xy, xlabel: str, ylabel: str) -> None:
    """One scatter per split (its own colour, its size in the legend) of ``xy(y_true, y_pred)``."""
    for k, (name, (y_true, y_pred)) in enumerate(parts.items()):
        x, y = xy(np.asarray(y_true), np.asarray(y_pred))
        ax.scatter(x, y, s=12, alpha=0.6, color=CLASS_COLOURS[k % len(CLASS_COLOURS)],
                   label=f"{name} ({len(y_true)})")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)


def predicted_figure(parts: dict[str, tuple[np.ndarray, np.ndarray]], *, title: str = "",
                     target: str = "y"):
    """Predicted against true values, one colour per split, with the line y = x.

    ``parts`` maps a split's name to ``(y_true, y_pred)``, both in the target's units.
    """
    fig = new_figure(figsize=(5.5, 5))
    ax = fig.add_subplot(1, 1, 1)
    _split_scatter(ax, parts, lambda t, p: (t, p), f"true {target}", f"predicted {target}")
    values = [np.asarray(v) for pair in parts.values() for v in pair if len(v)]
    if values:
        lo = min(float(np.min(v)) for v in values)
        hi = max(float(np.max(v)) for v in values)
        if np.isfinite(lo) and np.isfinite(hi):
            ax.plot([lo, hi], [lo, hi], color="black", linewidth=1, label="y = x")
    ax.legend()
    ax.set_title(title or "predicted against true")
    fig.tight_layout()
    return fig


def residual_figure(parts: dict[str, tuple[np.ndarray, np.ndarray]], *, title: str = "",
                    target: str = "y"):
    """Residuals (true - predicted) against the prediction, one colour per split, with 0."""
    fig = new_figure(figsize=(6, 4.5))
    ax = fig.add_subplot(1, 1, 1)
    _split_scatter(ax, parts, lambda t, p: (p, t - p), f"predicted {target}",
                   f"residual: true - predicted {target}")
    ax.axhline(0.0, color="black", linewidth=1)
    ax.legend()
    ax.set_title(title or "residuals")
    fig.tight_layout()
    return fig


def confusion_figure(cm: np.ndarray, class_names: Sequence[str], *, title: str = "confusion matrix",
                     normalized: bool = False):
    """Confusion matrix, rows = true class, with each cell's value written in it.

    ``cm`` holds counts. With ``normalized=True`` each row is divided by its sum
    (:func:`neuralab.metrics.normalized_confusion`): the cells show fractions of the
    true class with 2 decimals, coloured on a fixed 0..1 scale, and the diagonal reads
    as each class's recall. A class absent from y_true has a row of "n/a" (and an
    UndefinedMetricWarning).
    """
    counts = np.asarray(cm)
    K = counts.shape[0]
    fig = new_figure(figsize=(1.2 + 0.6 * K + 2, 1.0 + 0.6 * K + 1.5))
    ax = fig.add_subplot()
    if normalized:
        from neuralab.metrics import normalized_confusion

        values = normalized_confusion(counts, class_names=[str(n) for n in class_names])
        im = ax.imshow(values, cmap="Blues", vmin=0.0, vmax=1.0)
        fig.colorbar(im, ax=ax, label="fraction of the true class")
        half = 0.5
    else:
        values = counts
        im = ax.imshow(values, cmap="Blues")
        fig.colorbar(im, ax=ax)
        half = counts.max() / 2 if counts.size else 0
    ax.set_xticks(range(K), list(class_names), rotation=45, ha="right")
    ax.set_yticks(range(K), list(class_names))
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    for i in range(K):
        for j in range(K):
            v = values[i, j]
            if not normalized:
                text = str(v)
            else:
                text = "n/a" if np.isnan(v) else f"{v:.2f}"
            ax.text(j, i, text, ha="center", va="center",
                    color="white" if v > half else "black", fontsize=8)
    ax.set_title(title)
    # room for the longest class name: beside the rows, and below the columns at 45 degrees
    label = CHAR_INCHES * max((len(str(n)) for n in class_names), default=1)
    return fixed_margins(fig, left=0.55 + label, bottom=0.55 + 0.75 * label, top=0.45,
                         right=0.55 if normalized else 0.15)  # the colour bar's label


def _class_labels(class_names: Sequence[str] | None, K: int) -> list[str]:
    return [str(n) for n in class_names] if class_names is not None else [str(k) for k in range(K)]


def roc_figure(y_true: np.ndarray, probs: np.ndarray, class_names: Sequence[str] | None, *,
               title: str = "ROC", operating_point=None, operating_label: str | None = None):
    """One-vs-rest ROC curves with each class's AUC in the legend, and the chance diagonal.

    A binary problem draws one curve, for the positive class 1. A class absent from
    ``y_true`` has no curve: it is left out, with an UndefinedMetricWarning.

    Parameters
    ----------
    y_true : ndarray of shape (n_samples,)
        Class indices.
    probs : ndarray of shape (n_samples, n_classes)
        Class probabilities or scores.
    class_names : sequence of str of length n_classes, or None
        Legend names ("cancer (AUC 0.94)"); the indices when None.
    title : str
    operating_point : (fpr, tpr) or OperatingPoint, optional
        A point to mark on the curve, such as the result of
        :func:`neuralab.metrics.threshold_for_fpr`.
    operating_label : str, optional
        Its legend entry; by default "operating point (FPR 0.01, TPR 0.80)", with the
        threshold added when ``operating_point`` has one.
    """
    from neuralab.metrics import roc_curves
    from neuralab.metrics.ranking import auc

    K = np.shape(probs)[1]
    names = _class_labels(class_names, K)
    curves = roc_curves(y_true, probs)
    fig = new_figure(figsize=(5.5, 5))
    ax = fig.add_subplot()
    for k, (fpr, tpr, _) in curves.items():
        # the area under the very curve drawn: roc_auc_score computes it the same way
        ax.plot(fpr, tpr, color=CLASS_COLOURS[k % len(CLASS_COLOURS)], lw=1.8,
                label=f"{names[k]} (AUC {auc(fpr, tpr):.2f})")
    ax.plot([0, 1], [0, 1], color="grey", ls="--", lw=1, label="chance (AUC 0.50)")
    if operating_point is not None:
        threshold = getattr(operating_point, "threshold", None)
        if hasattr(operating_point, "fpr"):
            op_fpr, op_tpr = operating_point.fpr, operating_point.tpr
        else:
            op_fpr, op_tpr = operating_point
        if operating_label is None:
            operating_label = f"operating point (FPR {op_fpr:.2f}, TPR {op_tpr:.2f}"
            operating_label += f", threshold {threshold:.3g})" if threshold is not None else ")"
        ax.plot([op_fpr], [op_tpr], ls="none", marker="o", ms=8, mfc="none", mec="k", mew=1.5,
                label=operating_label)
    ax.set_xlim(-0.01, 1.01)
    ax.set_ylim(-0.01, 1.02)
    ax.set_aspect("equal")
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    return fixed_margins(fig)


def pr_figure(y_true: np.ndarray, probs: np.ndarray, class_names: Sequence[str] | None, *,
              title: str = "precision-recall"):
    """One-vs-rest precision-recall curves with each class's average precision in the legend.

    A binary problem draws one curve, for the positive class 1. A class absent from
    ``y_true`` has no curve: it is left out, with an UndefinedMetricWarning.

    Parameters
    ----------
    y_true : ndarray of shape (n_samples,)
        Class indices.
    probs : ndarray of shape (n_samples, n_classes)
        Class probabilities or scores.
    class_names : sequence of str of length n_classes, or None
        Legend names ("cancer (AP 0.97)"); the indices when None.
    title : str
    """
    from neuralab.metrics import pr_curves
    from neuralab.metrics.ranking import average_precision_score

    y = np.asarray(y_true)
    P = np.asarray(probs, dtype=float)
    names = _class_labels(class_names, P.shape[1])
    curves = pr_curves(y, P)  # checks the input; warns about and skips absent classes
    fig = new_figure(figsize=(5.5, 5))
    ax = fig.add_subplot()
    for k, (precision, recall, _) in curves.items():
        ap = average_precision_score(y == k, P[:, k])
        # AP sums rectangles (R_n - R_{n-1}) P_n: draw the curve as those steps
        ax.plot(recall, precision, color=CLASS_COLOURS[k % len(CLASS_COLOURS)], lw=1.8,
                drawstyle="steps-post", label=f"{names[k]} (AP {ap:.2f})")
    ax.set_xlim(-0.01, 1.01)
    ax.set_ylim(-0.01, 1.02)
    ax.set_aspect("equal")
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    if curves:
        ax.legend(loc="lower left", fontsize=8)
    return fixed_margins(fig)
