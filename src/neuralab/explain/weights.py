"""A model's weights: per feature and class in raw input units, and drawn as images.

- :func:`linear_weights`: a linear model's weight per feature and class, as stored
  and converted to raw input units;
- :func:`class_weight_images_figure`: each class's (or first-layer unit's)
  weights drawn as an image.

Figures are built with :func:`neuralab.plots.new_figure`, never pyplot; save them
with :func:`neuralab.plots.save_figure`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from neuralab import NeuralabError
from neuralab import plots
from neuralab.explain.common import architecture, check_model, check_names
from neuralab.nn.models import MLP


def _scaler_arrays(scaler, d: int) -> tuple[np.ndarray, np.ndarray]:
    """(mean, scale) as float64 arrays of shape (d,); zeros and ones for ``scaler=None``."""
    if scaler is None:
        return np.zeros(d), np.ones(d)
    mean = np.asarray(scaler.mean, dtype=np.float64).reshape(-1)
    scale = np.asarray(scaler.scale, dtype=np.float64).reshape(-1)
    if mean.shape != (d,) or scale.shape != (d,):
        raise NeuralabError(
            f"scaler must have {d} means and scales (one per input), "
            f"got {mean.shape[0]} and {scale.shape[0]}"
        )
    return mean, scale


# --------------------------------------------------------------------------- linear weights


@dataclass
class LinearWeights:
    """A linear model's weights, as stored and in raw input units.

    The model computes ``u = ((x - mean) / scale) @ W + b``, which is the same as
    ``u = x @ W_raw + b_raw`` with ``W_raw = W / scale[:, None]`` and
    ``b_raw = b - (mean / scale) @ W``.

    Attributes
    ----------
    feature_names : list of str, length d
    classes : list of str, length K
    W : ndarray of shape (d, K)
        The weights as stored, acting on standardised inputs: comparable across
        features, since every standardised feature has unit variance.
    b : ndarray of shape (K,)
    W_raw : ndarray of shape (d, K)
        The weights per raw unit of each feature (what a change of 1 in the raw
        feature adds to each class's logit).
    b_raw : ndarray of shape (K,)
        The effective bias in raw units: the logits at x = 0.
    rows : list of dict
        One row per (feature, class): ``feature``, ``class``, ``weight`` (stored),
        ``weight_raw``, ``feature_index``, ``class_index``; sorted by the absolute
        stored weight, largest first (ties in feature, then class, order).
    """

    feature_names: list[str]
    classes: list[str]
    W: np.ndarray
    b: np.ndarray
    W_raw: np.ndarray
    b_raw: np.ndarray
    rows: list[dict] = field(default_factory=list)

    def logits(self, X_raw: np.ndarray) -> np.ndarray:
        """``X_raw @ W_raw + b_raw``: the model's logits computed from raw inputs, (n, K)."""
        return np.asarray(X_raw, dtype=np.float64) @ self.W_raw + self.b_raw

    def top(self, n: int = 10, *, cls: str | int | None = None) -> list[dict]:
        """The ``n`` largest rows by absolute stored weight, for one class (name or index) or all."""
        rows = self.rows
        if cls is not None:
            k = cls if isinstance(cls, (int, np.integer)) else self.classes.index(str(cls))
            rows = [r for r in rows if r["class_index"] == k]
        return rows[:n]


def linear_weights(model: MLP, scaler, feature_names: Sequence[str] | None = None,
                   classes: Sequence[str] | None = None) -> LinearWeights:
    """Each feature's weight for each class, for a model with no hidden layer.

    Parameters
    ----------
    model : MLP
        A linear softmax classifier, ``MLP([d, K])``.
    scaler : Standardizer or None
        The preprocessing the model was trained with (mean and scale of the
        training split); None when the model sees raw inputs.
    feature_names : sequence of str of length d, optional
        ``x1, x2, ...`` when None.
    classes : sequence of str of length K, optional
        ``0, 1, ...`` when None.

    Returns
    -------
    LinearWeights
        The stored and raw-unit weights and biases, and the table ``rows`` sorted
        by the largest absolute stored weight.

    Raises
    ------
    NeuralabError
        For a model with hidden layers, or names of the wrong length.

    Examples
    --------
    >>> from neuralab.nn import MLP
    >>> from neuralab.data.preprocess import Standardizer
    >>> model = MLP([2, 2])
    >>> model.linears[0].W.data[...] = [[1.0, -2.0], [0.5, 0.0]]
    >>> model.linears[0].b.data[...] = [0.1, 0.2]
    >>> scaler = Standardizer(mean=np.array([1.0, 0.0]), scale=np.array([2.0, 1.0]))
    >>> lw = linear_weights(model, scaler, ["age", "dose"], ["healthy", "ill"])
    >>> [(r["feature"], r["class"], r["weight"], r["weight_raw"]) for r in lw.rows[:2]]
    [('age', 'ill', -2.0, -1.0), ('age', 'healthy', 1.0, 0.5)]
    >>> lw.b_raw.tolist()
    [-0.4, 1.2]
    >>> linear_weights(MLP([2, 100, 3]), None)
    Traceback (most recent call last):
    ...
    neuralab.NeuralabError: linear_weights needs a model without hidden layers; this one is 2 -> 100 -> 3
    """
    model = check_model(model)
    if model.depth != 1:
        raise NeuralabError(
            f"linear_weights needs a model without hidden layers; this one is {architecture(model)}"
        )
    d, K = model.sizes
    names = (check_names(feature_names, d, "feature_names", "")
             if feature_names is not None else [f"x{i + 1}" for i in range(d)])
    labels = check_names(classes, K, "classes", "")
    mean, scale = _scaler_arrays(scaler, d)
    W = np.array(model.linears[0].W.data, dtype=np.float64)
    b = np.array(model.linears[0].b.data, dtype=np.float64)
    W_raw = W / scale[:, None]
    b_raw = b - (mean / scale) @ W
    # flattened row-major, so a stable sort breaks ties in feature, then class, order
    order = np.argsort(-np.abs(W).reshape(-1), kind="stable")
    rows = []
    for flat in order:
        i, k = divmod(int(flat), K)
        rows.append({"feature": names[i], "class": labels[k], "weight": float(W[i, k]),
                     "weight_raw": float(W_raw[i, k]), "feature_index": i, "class_index": k})
    return LinearWeights(names, labels, W, b, W_raw, b_raw, rows)


# --------------------------------------------------------------------------- weight images


def _grid_shape(n: int, max_cols: int = 5) -> tuple[int, int]:
    """(rows, cols) for n panels: at most ``max_cols`` columns, as few rows as that allows."""
    cols = min(n, max_cols)
    return math.ceil(n / cols), cols


def class_weight_images_figure(model: MLP, image_shape: Sequence[int],
                               classes: Sequence[str] | None = None, *, units: int = 16,
                               cmap: str = "RdBu"):
    """Weights drawn as images: what each class (or first-layer unit) looks for.

    For a linear model (``MLP([rows * cols, K])``) panel k is class k's weight
    column ``W[:, k]`` reshaped to ``image_shape``, titled with the class name:
    pixels in red raise the class's logit, pixels in blue lower it.

    For a model with hidden layers there is no weight per class; the figure then
    shows the first layer's first ``units`` hidden units instead, panel j being
    unit j's incoming weights ``W1[:, j]``, titled ``unit j``.

    The weights are drawn as stored, on standardised pixels (raw-unit weights,
    ``W / scale``, blow up on pixels that hardly vary). All panels share one
    diverging colour scale centred at 0, shown in a colour bar.

    Parameters
    ----------
    model : MLP
        With ``model.n_inputs == rows * cols``.
    image_shape : (rows, cols)
        E.g. ``(28, 28)`` for Fashion-MNIST, ``(8, 8)`` for the digits
        (:attr:`neuralab.data.registry.Dataset.image_shape`).
    classes : sequence of str, optional
        The class names (panel titles of a linear model).
    units : int
        How many hidden units to draw for a model with hidden layers (default 16).
    cmap : str
        A diverging colormap (default ``"RdBu"``, :data:`neuralab.plots.VALUE_CMAP`: negative red, positive blue, as in the playground).

    Returns
    -------
    matplotlib.figure.Figure
        One image axis per panel, 5 panels a row (2 x 5 for 10 classes), and a
        colour bar.
    """
    model = check_model(model)
    if image_shape is None or len(tuple(image_shape)) != 2:
        raise NeuralabError(f"image_shape must be (rows, cols), got {image_shape!r}")
    h, w = (int(s) for s in image_shape)
    if h * w != model.n_inputs:
        raise NeuralabError(
            f"image_shape {h}x{w} has {h * w} pixels, but the model takes {model.n_inputs} inputs"
        )
    W = np.asarray(model.linears[0].W.data, dtype=np.float64)
    if model.depth == 1:
        titles = check_names(classes, model.n_classes, "classes", "")
        columns = list(range(model.n_classes))
        heading = f"weights per class ({architecture(model)}), on standardised pixels"
    else:
        if not isinstance(units, (int, np.integer)) or units < 1:
            raise NeuralabError(f"units must be a positive integer, got {units!r}")
        n = min(int(units), W.shape[1])
        columns = list(range(n))
        titles = [f"unit {j}" for j in columns]
        heading = (f"first layer: incoming weights of units 0..{n - 1} of {W.shape[1]} "
                   f"({architecture(model)})")
    limit = float(np.max(np.abs(W[:, columns]), initial=0.0)) or 1.0
    nrows, ncols = _grid_shape(len(columns))
    fig = plots.new_figure(figsize=(1.9 * ncols + 1.0, 2.0 * nrows + 0.6), layout="constrained")
    image = None
    for p, (j, title) in enumerate(zip(columns, titles), start=1):
        ax = fig.add_subplot(nrows, ncols, p)
        image = ax.imshow(W[:, j].reshape(h, w), cmap=cmap, vmin=-limit, vmax=limit,
                          interpolation="nearest")
        ax.set_title(title, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(heading, fontsize=10)
    fig.colorbar(image, ax=fig.axes, shrink=0.8, label="weight")
    return fig


__all__ = ["LinearWeights", "class_weight_images_figure", "linear_weights"]
