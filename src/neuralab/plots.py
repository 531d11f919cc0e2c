"""Figures with matplotlib (Agg, no screen needed): boundaries, learning curves.

Each function returns a ``matplotlib.figure.Figure``; :func:`save_figure` writes it
atomically as PNG.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from neuralab.runs import atomic_write

CLASS_COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b",
                 "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]


def _figure(*args, **kwargs):
    from matplotlib.figure import Figure

    return Figure(*args, **kwargs)


def save_figure(fig, path: str | Path, *, dpi: int = 110) -> Path:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    return atomic_write(path, buf.getvalue())


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
    fig = _figure(figsize=(5.5, 5))
    draw_boundary(fig.add_subplot(), predict_proba, X, y, **kwargs)
    return fig


def comparison_figure(panels: Sequence[tuple[str, Callable]], X: np.ndarray, y: np.ndarray):
    """Decision boundaries side by side: ``panels`` is a list of (title, predict_proba)."""
    fig = _figure(figsize=(5.2 * len(panels), 5))
    for i, (title, predict_proba) in enumerate(panels, start=1):
        draw_boundary(fig.add_subplot(1, len(panels), i), predict_proba, X, y, title=title)
    fig.tight_layout()
    return fig


def history_figure(history, *, title: str = ""):
    """Loss and accuracy against the step, training and (when logged) validation."""
    fig = _figure(figsize=(10, 4))
    ax_loss, ax_acc = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    steps = history.column("step")
    ax_loss.plot(steps, history.column("loss"), label="train")
    ax_acc.plot(steps, history.column("train_accuracy"), label="train")
    if "val_loss" in history.columns:
        ax_loss.plot(steps, history.column("val_loss"), label="test")
        ax_acc.plot(steps, history.column("val_accuracy"), label="test")
    ax_loss.set_xlabel("iteration")
    ax_loss.set_ylabel("loss (cross-entropy + 0.5 reg sum W^2)")
    ax_acc.set_xlabel("iteration")
    ax_acc.set_ylabel("accuracy")
    ax_acc.set_ylim(0, 1.02)
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def confusion_figure(cm: np.ndarray, class_names: Sequence[str], *, title: str = "confusion matrix"):
    """Counts, rows = true class, with the count written in each cell."""
    cm = np.asarray(cm)
    K = cm.shape[0]
    fig = _figure(figsize=(1.2 + 0.6 * K + 2, 1.0 + 0.6 * K + 1.5))
    ax = fig.add_subplot()
    im = ax.imshow(cm, cmap="Blues")
    fig.colorbar(im, ax=ax)
    ax.set_xticks(range(K), list(class_names), rotation=45, ha="right")
    ax.set_yticks(range(K), list(class_names))
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    half = cm.max() / 2 if cm.size else 0
    for i in range(K):
        for j in range(K):
            ax.text(j, i, str(cm[i, j]), ha="center", va="center",
                    color="white" if cm[i, j] > half else "black", fontsize=8)
    ax.set_title(title)
    fig.tight_layout()
    return fig
