"""Figures of the attributions and of the partial dependence.

- :func:`attribution_figure`: gradient, gradient x input and integrated
  gradients of one input, as heatmaps over an image or bars per feature;
- :func:`partial_dependence_figure`: one curve per class against one feature.

Figures are built with :func:`neuralab.plots.new_figure`, never pyplot; save them
with :func:`neuralab.plots.save_figure`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from neuralab import NeuralabError
from neuralab import plots
from neuralab.explain.common import check_names


def attribution_figure(x, attributions: dict, feature_names, image_shape, title: str):
    """The attributions of one input, side by side: heatmaps over an image, or bars per feature.

    Parameters
    ----------
    x : ndarray of shape (n_features,)
        The explained input (drawn first when it is an image).
    attributions : dict of str to ndarray of shape (n_features,)
        One panel per entry, titled with its key.
    feature_names : list of str
        The bars' labels; the bars show at most 20 features, those with the
        largest absolute value in the last entry.
    image_shape : (rows, cols) or None
        Draw each attribution as an image of this shape, on a diverging scale
        centred at 0; None for bars.
    title : str

    Returns
    -------
    matplotlib.figure.Figure
    """
    names = list(attributions)
    if image_shape is not None:
        fig = plots.new_figure(figsize=(3.2 * (len(names) + 1), 3.4))
        ax = fig.add_subplot(1, len(names) + 1, 1)
        ax.imshow(np.asarray(x).reshape(image_shape), cmap="gray_r")
        ax.set_title("input")
        ax.axis("off")
        for i, name in enumerate(names, start=2):
            a = np.asarray(attributions[name]).reshape(image_shape)
            lim = float(np.max(np.abs(a))) or 1.0
            ax = fig.add_subplot(1, len(names) + 1, i)
            im = ax.imshow(a, cmap=plots.VALUE_CMAP, vmin=-lim, vmax=lim)
            ax.set_title(name)
            ax.axis("off")
            fig.colorbar(im, ax=ax, fraction=0.046)
    else:
        d = len(feature_names)
        shown = min(d, 20)
        order = np.argsort(-np.abs(attributions[names[-1]]))[:shown][::-1]
        fig = plots.new_figure(figsize=(4.2 * len(names), 1.2 + 0.32 * shown))
        for i, name in enumerate(names, start=1):
            ax = fig.add_subplot(1, len(names), i)
            vals = np.asarray(attributions[name])[order]
            ax.barh(range(shown), vals, color=np.where(vals >= 0, plots.VALUE_COLOURS["positive"],
                                                    plots.VALUE_COLOURS["negative"]))
            ax.set_yticks(range(shown), [feature_names[j] for j in order] if i == 1 else [])
            ax.axvline(0, color="k", lw=0.6)
            ax.set_title(name)
        if shown < d:
            title += f" (the {shown} largest of {d} features)"
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def partial_dependence_figure(grid: np.ndarray, probs: np.ndarray, feature_name: str,
                              classes: Sequence[str] | None = None, *, title: str = ""):
    """Partial dependence: each class's mean predicted probability against one feature.

    Parameters
    ----------
    grid : ndarray of shape (m,)
        The feature's values, in raw units.
    probs : ndarray of shape (m, K)
        The mean predicted probability of each class with the feature set to each
        grid value (the other features kept as in the data).
    feature_name : str
        The x-axis label.
    classes : sequence of str, optional
        The legend names; ``0, 1, ...`` when None.
    title : str

    Returns
    -------
    matplotlib.figure.Figure
        One axis with K curves, coloured with :data:`neuralab.plots.CLASS_COLOURS`.
    """
    grid = np.asarray(grid, dtype=np.float64).reshape(-1)
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim != 2 or probs.shape[0] != grid.shape[0] or grid.shape[0] == 0:
        raise NeuralabError(
            f"probs must have shape ({grid.shape[0]}, K) to match grid's {grid.shape[0]} values, "
            f"got {probs.shape}"
        )
    names = check_names(classes, probs.shape[1], "classes", "")
    fig = plots.new_figure(figsize=(6, 4))
    ax = fig.add_subplot()
    for k, name in enumerate(names):
        ax.plot(grid, probs[:, k], color=plots.CLASS_COLOURS[k % len(plots.CLASS_COLOURS)],
                lw=1.8, label=name)
    ax.set_xlabel(str(feature_name))
    ax.set_ylabel("mean predicted probability")
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(title or f"partial dependence on {feature_name}")
    fig.tight_layout()
    return fig


__all__ = ["attribution_figure", "partial_dependence_figure"]
