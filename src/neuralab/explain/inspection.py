"""Inspect a trained network: its weights, its hidden units and its gradients.

The lecture asks whether one can look inside a model and understand it. The
functions here answer with tables (lists of dicts, a small dataclass) and
matplotlib Figures (built with :func:`neuralab.plots._figure`, never pyplot; save
them with :func:`neuralab.plots.save_figure`):

- :func:`linear_weights`: a linear model's weight per feature and class, as stored
  and converted to raw input units.
- :func:`class_weight_images_figure`: each class's weights drawn as an image.
- :func:`layer_statistics` and :func:`layer_statistics_figure`: weight and
  activation statistics per layer, dead ReLU units.
- :func:`gradient_norm_figure`: per-layer gradient norms over training.
- :func:`hidden_unit_maps_figure`: what each hidden unit computes over the plane.
- :func:`probability_surface_figure` (with :func:`probability_gradient`): the
  predicted class's probability and its gradient field.
- :func:`partial_dependence_figure`: one curve per class against one feature.

The model sees standardised inputs ``(x - mean) / scale``; every function that
takes a ``scaler`` works in raw input units and applies the scaler itself.
``scaler`` is a :class:`neuralab.data.preprocess.Standardizer` (anything with
``mean``, ``scale`` and ``transform``), or None for no scaling. Functions that
run the model overwrite its forward buffers (what :meth:`MLP.intermediates`
returns) but never its weights or its parameters' gradients.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from neuralab import NeuralabError
from neuralab import plots
from neuralab.nn.activations import ReLU
from neuralab.nn.models import MLP

__all__ = [
    "LinearWeights",
    "class_weight_images_figure",
    "gradient_norm_figure",
    "hidden_unit_maps_figure",
    "layer_statistics",
    "layer_statistics_figure",
    "linear_weights",
    "partial_dependence_figure",
    "probability_gradient",
    "probability_surface_figure",
]

# rows of X forwarded at a time, so a large data set never has all its activations in memory
_BLOCK = 8192


def _arch(model: MLP) -> str:
    return " -> ".join(str(s) for s in model.sizes)


def _check_model(model) -> MLP:
    if not isinstance(model, MLP):
        raise NeuralabError(
            f"model must be a neuralab.nn.MLP (the NumPy engine's model), got {type(model).__name__}"
        )
    return model


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


def _transform(scaler, X: np.ndarray) -> np.ndarray:
    return X if scaler is None else scaler.transform(X)


def _raw_inputs(model: MLP, X, *, name: str = "X_raw", two_d: str | None = None) -> np.ndarray:
    """X as a float array of shape (n, d_0), n >= 1; ``two_d`` names the caller if 2-D is required."""
    X = np.asarray(X)
    if not np.issubdtype(X.dtype, np.floating):
        X = X.astype(np.float64)
    d = model.n_inputs
    if two_d is not None and d != 2:
        raise NeuralabError(
            f"{two_d} needs a model with 2 inputs (a point in the plane); this one is {_arch(model)}"
        )
    if X.ndim != 2 or X.shape[1] != d or X.shape[0] == 0:
        raise NeuralabError(f"{name} must have shape (n, {d}) with n >= 1, got {X.shape}")
    return X


def _labels(names, n: int, what: str, default: str) -> list[str]:
    if names is None:
        return [f"{default}{k}" for k in range(n)]
    names = [str(v) for v in names]
    if len(names) != n:
        raise NeuralabError(f"{what} must have {n} names, got {len(names)}")
    return names


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
    model = _check_model(model)
    if model.depth != 1:
        raise NeuralabError(
            f"linear_weights needs a model without hidden layers; this one is {_arch(model)}"
        )
    d, K = model.sizes
    names = (_labels(feature_names, d, "feature_names", "")
             if feature_names is not None else [f"x{i + 1}" for i in range(d)])
    labels = _labels(classes, K, "classes", "")
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
                               cmap: str = "RdBu_r"):
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
        A diverging colormap (default ``"RdBu_r"``).

    Returns
    -------
    matplotlib.figure.Figure
        One image axis per panel, 5 panels a row (2 x 5 for 10 classes), and a
        colour bar.
    """
    model = _check_model(model)
    if image_shape is None or len(tuple(image_shape)) != 2:
        raise NeuralabError(f"image_shape must be (rows, cols), got {image_shape!r}")
    h, w = (int(s) for s in image_shape)
    if h * w != model.n_inputs:
        raise NeuralabError(
            f"image_shape {h}x{w} has {h * w} pixels, but the model takes {model.n_inputs} inputs"
        )
    W = np.asarray(model.linears[0].W.data, dtype=np.float64)
    if model.depth == 1:
        titles = _labels(classes, model.n_classes, "classes", "")
        columns = list(range(model.n_classes))
        heading = f"weights per class ({_arch(model)}), on standardised pixels"
    else:
        if not isinstance(units, (int, np.integer)) or units < 1:
            raise NeuralabError(f"units must be a positive integer, got {units!r}")
        n = min(int(units), W.shape[1])
        columns = list(range(n))
        titles = [f"unit {j}" for j in columns]
        heading = (f"first layer: incoming weights of units 0..{n - 1} of {W.shape[1]} "
                   f"({_arch(model)})")
    limit = float(np.max(np.abs(W[:, columns]), initial=0.0)) or 1.0
    nrows, ncols = _grid_shape(len(columns))
    fig = plots._figure(figsize=(1.9 * ncols + 1.0, 2.0 * nrows + 0.6))
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


# --------------------------------------------------------------------------- layer statistics


def _summary(a: np.ndarray, prefix: str) -> dict:
    a = np.asarray(a, dtype=np.float64)
    return {f"{prefix}_mean": float(a.mean()), f"{prefix}_std": float(a.std()),
            f"{prefix}_min": float(a.min()), f"{prefix}_max": float(a.max()),
            f"{prefix}_norm": float(np.sqrt(np.sum(a * a)))}


def _hidden_outputs(model: MLP, X: np.ndarray):
    """For each block of rows of X, the hidden layers' outputs ``[o_1, ..., o_{L-1}]``.

    The arrays are the engine's buffers: use them before asking for the next block.
    """
    L = model.depth
    for start in range(0, X.shape[0], _BLOCK):
        model.forward(X[start:start + _BLOCK])
        inter = model.intermediates()
        yield [inter[f"hidden{i}"] for i in range(1, L)]


def layer_statistics(model: MLP, X_scaled: np.ndarray, *, bins: int = 50) -> list[dict]:
    """Weight statistics per Linear layer and activation statistics per hidden layer.

    Parameters
    ----------
    model : MLP
    X_scaled : ndarray of shape (n, d_0)
        Inputs as the model sees them (already standardised). The activation
        statistics are over all of them (forwarded a block of rows at a time).
    bins : int
        Bins of the histograms kept for :func:`layer_statistics_figure`.

    Returns
    -------
    list of dict
        One dict per Linear layer i = 1..L, in order, with the keys

        - ``layer`` (i), ``name`` (``"W1: 2 -> 100"``), ``d_in``, ``d_out``;
        - ``weight_mean``, ``weight_std``, ``weight_min``, ``weight_max``,
          ``weight_norm`` (Frobenius), and the same five ``bias_*``;
        - ``activation``: the activation's name after a hidden layer, None after
          the output layer (whose logits have no activation; the remaining keys
          are then None);
        - ``activation_mean``, ``activation_std``: over every value ``o_i`` takes
          (all units, all inputs), after the activation;
        - ``zero_share``: the fraction of those values that are exactly 0;
        - ``dead_units``, ``dead_unit_indices``: for ReLU, the units whose output
          is 0 for every input (they pass no gradient, so training cannot revive
          them); None for other activations, whose output is rarely exactly 0;
        - ``weight_histogram``, ``activation_histogram``: ``(counts, edges)``.

    Examples
    --------
    >>> from neuralab.nn import MLP
    >>> model = MLP([2, 3, 2], seed=0)
    >>> model.linears[0].W.data[:, 1] = 0.0
    >>> model.linears[0].b.data[1] = -1.0      # unit 1 never fires
    >>> stats = layer_statistics(model, np.random.default_rng(0).normal(size=(50, 2)))
    >>> stats[0]["dead_units"], stats[0]["dead_unit_indices"], stats[1]["activation"]
    (1, [1], None)
    """
    model = _check_model(model)
    X = _raw_inputs(model, X_scaled, name="X_scaled")
    if not isinstance(bins, (int, np.integer)) or bins < 1:
        raise NeuralabError(f"bins must be a positive integer, got {bins!r}")
    L = model.depth
    widths = model.sizes[1:-1]
    # pass 1: moments (Chan's pairwise combination of block means and squared
    # deviations, which keeps the variance accurate), zeros, alive units, range
    count = 0
    means = [0.0] * (L - 1)
    m2 = [0.0] * (L - 1)
    zeros = [0] * (L - 1)
    lo = [np.inf] * (L - 1)
    hi = [-np.inf] * (L - 1)
    alive = [np.zeros(w, dtype=bool) for w in widths]
    for outs in _hidden_outputs(model, X):
        for i, o in enumerate(outs):
            n_b = o.size
            mean_b = float(o.mean(dtype=np.float64))
            m2_b = float(np.sum((o.astype(np.float64) - mean_b) ** 2))
            total = count * widths[i] + n_b
            delta = mean_b - means[i]
            means[i] += delta * n_b / total
            m2[i] += m2_b + delta * delta * (count * widths[i]) * n_b / total
            nz = o != 0
            zeros[i] += int(n_b - np.count_nonzero(nz))
            alive[i] |= nz.any(axis=0)
            lo[i] = min(lo[i], float(o.min()))
            hi[i] = max(hi[i], float(o.max()))
        count += outs[0].shape[0] if outs else X.shape[0]
    # pass 2: histograms on the range pass 1 found
    edges = [np.histogram_bin_edges([lo[i], hi[i]], bins=int(bins)) for i in range(L - 1)]
    counts = [np.zeros(int(bins), dtype=np.int64) for _ in range(L - 1)]
    if L > 1:
        for outs in _hidden_outputs(model, X):
            for i, o in enumerate(outs):
                counts[i] += np.histogram(o, bins=edges[i])[0]
    stats = []
    for i, linear in enumerate(model.linears, start=1):
        W, b = linear.W.data, linear.b.data
        row = {"layer": i, "name": f"W{i}: {linear.d_in} -> {linear.d_out}",
               "d_in": linear.d_in, "d_out": linear.d_out}
        row.update(_summary(W, "weight"))
        row.update(_summary(b, "bias"))
        row.update({"activation": None, "activation_mean": None, "activation_std": None,
                    "zero_share": None, "dead_units": None, "dead_unit_indices": None,
                    "weight_histogram": np.histogram(np.asarray(W, np.float64), bins=int(bins)),
                    "activation_histogram": None})
        if i < L:
            j = i - 1
            act = model.activations[j]
            total = count * widths[j]
            row.update({"activation": getattr(act, "name", type(act).__name__.lower()),
                        "activation_mean": means[j],
                        "activation_std": math.sqrt(max(m2[j] / total, 0.0)),
                        "zero_share": zeros[j] / total,
                        "activation_histogram": (counts[j], edges[j])})
            if isinstance(act, ReLU):
                dead = np.flatnonzero(~alive[j])
                row["dead_units"] = int(dead.size)
                row["dead_unit_indices"] = dead.tolist()
        stats.append(row)
    return stats


def layer_statistics_figure(stats: Sequence[dict]):
    """Histograms of each layer's weights (top row) and hidden activations (bottom row).

    Parameters
    ----------
    stats : list of dict
        What :func:`layer_statistics` returns.

    Returns
    -------
    matplotlib.figure.Figure
        One column per Linear layer; a weight histogram in the top row, and for
        each hidden layer its activation histogram (log counts, since a ReLU
        layer's exact zeros would flatten the rest) below it, titled with the
        share of zeros and the dead units.
    """
    stats = list(stats)
    if not stats or any("weight_histogram" not in s for s in stats):
        raise NeuralabError("stats must be the non-empty list that layer_statistics returns")
    L = len(stats)
    has_act = any(s.get("activation_histogram") is not None for s in stats)
    nrows = 2 if has_act else 1
    fig = plots._figure(figsize=(3.2 * L + 0.4, 2.7 * nrows + 0.4))
    for c, s in enumerate(stats):
        ax = fig.add_subplot(nrows, L, c + 1)
        counts, edges = s["weight_histogram"]
        ax.stairs(counts, edges, fill=True, color="#1f77b4", alpha=0.8)
        ax.set_title(f"{s['name']}\nnorm {s['weight_norm']:.3g}, std {s['weight_std']:.3g}",
                     fontsize=8)
        ax.set_xlabel("weight", fontsize=8)
        ax.tick_params(labelsize=7)
        if s.get("activation_histogram") is None:
            continue
        ax = fig.add_subplot(nrows, L, L + c + 1)
        counts, edges = s["activation_histogram"]
        ax.stairs(counts, edges, fill=True, color="#2ca02c", alpha=0.8)
        ax.set_yscale("log")
        note = f"{100 * s['zero_share']:.0f}% zeros"
        if s.get("dead_units") is not None:
            note += f", {s['dead_units']} dead"
        ax.set_title(f"hidden{s['layer']} ({s['activation']}): {note}", fontsize=8)
        ax.set_xlabel("activation o_i", fontsize=8)
        ax.tick_params(labelsize=7)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- gradient norms

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
    fig = plots._figure(figsize=(6.5, 4.2))
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


# --------------------------------------------------------------------------- the plane (2-D inputs)


def _hidden_layer_index(model: MLP, layer) -> int:
    L = model.depth
    if L < 2:
        raise NeuralabError(
            f"hidden_unit_maps_figure needs a model with hidden layers; this one is {_arch(model)}"
        )
    if layer == "first":
        return 1
    if layer == "last":
        return L - 1
    if isinstance(layer, (int, np.integer)) and not isinstance(layer, bool) and 1 <= layer <= L - 1:
        return int(layer)
    raise NeuralabError(f"layer must be 'first', 'last' or an int in 1..{L - 1}; got {layer!r}")


def _overlay(ax, X: np.ndarray, y, *, alpha: float, size: float) -> None:
    if y is None:
        ax.scatter(X[:, 0], X[:, 1], s=size, c="k", alpha=alpha, linewidths=0)
        return
    y = np.asarray(y)
    for k in np.unique(y):
        m = y == k
        ax.scatter(X[m, 0], X[m, 1], s=size, alpha=alpha, linewidths=0,
                   c=plots.CLASS_COLOURS[int(k) % len(plots.CLASS_COLOURS)])


def hidden_unit_maps_figure(model: MLP, scaler, X_raw: np.ndarray, y=None, layer="first", *,
                            max_units: int = 64, steps: int = 100, cmap: str = "viridis"):
    """What each hidden unit computes: its output ``o_i[:, j]`` over the input plane.

    The plane is :func:`neuralab.plots.grid_over` of ``X_raw`` (raw units),
    standardised with ``scaler`` and forwarded through the model; panel j shows
    ``model.intermediates()[f"hidden{i}"][:, j]`` on the grid, each panel with its
    own colour scale, and the training points faintly on top. For the first
    layer of a ReLU net every map is a half-plane ramp ``max(0, z_j)``; deeper
    layers combine them into folded regions.

    Parameters
    ----------
    model : MLP
        With 2 inputs and at least one hidden layer.
    scaler : Standardizer or None
    X_raw : ndarray of shape (n, 2)
        The training inputs, in raw units: they set the plane's extent.
    y : ndarray of shape (n,), optional
        Their classes (the points' colours); grey-black when None.
    layer : "first", "last" or int
        Which hidden layer: 1..L-1.
    max_units : int
        At most this many units are drawn, the first ones (default 64); the
        title says how many were left out.
    steps : int
        Grid points per axis (default 100).
    cmap : str

    Returns
    -------
    matplotlib.figure.Figure
        One axis per unit drawn, each holding one image of shape (steps, steps),
        row r being the grid's r-th y value (``origin="lower"``).
    """
    model = _check_model(model)
    i = _hidden_layer_index(model, layer)
    X = _raw_inputs(model, X_raw, two_d="hidden_unit_maps_figure")
    if not isinstance(max_units, (int, np.integer)) or max_units < 1:
        raise NeuralabError(f"max_units must be a positive integer, got {max_units!r}")
    xx, yy, grid = plots.grid_over(X, steps=steps)
    H = np.empty((grid.shape[0], model.sizes[i]))
    for start in range(0, grid.shape[0], _BLOCK):
        model.forward(_transform(scaler, grid[start:start + _BLOCK]))
        H[start:start + _BLOCK] = model.intermediates()[f"hidden{i}"]
    width = model.sizes[i]
    n = min(width, int(max_units))
    ncols = math.ceil(math.sqrt(n))
    nrows = math.ceil(n / ncols)
    fig = plots._figure(figsize=(1.55 * ncols + 0.3, 1.55 * nrows + 0.7))
    extent = (xx.min(), xx.max(), yy.min(), yy.max())
    for j in range(n):
        ax = fig.add_subplot(nrows, ncols, j + 1)
        values = H[:, j].reshape(steps, steps)
        ax.imshow(values, origin="lower", extent=extent, aspect="auto", cmap=cmap,
                  interpolation="nearest")
        _overlay(ax, X, y, alpha=0.2, size=1.5)
        ax.set_xlim(extent[0], extent[1])
        ax.set_ylim(extent[2], extent[3])
        ax.set_xticks([])
        ax.set_yticks([])
        flat = " (constant)" if np.ptp(values) == 0 else ""
        ax.set_title(f"unit {j}{flat}", fontsize=7)
    act = model.activations[i - 1]
    shown = f"all {width} units" if n == width else f"units 0..{n - 1} of {width}, {width - n} left out"
    fig.suptitle(f"hidden layer {i} ({getattr(act, 'name', act)}) of {_arch(model)}: {shown}",
                 fontsize=9)
    fig.tight_layout()
    return fig


def probability_gradient(model: MLP, scaler, X_raw: np.ndarray, *, target=None):
    """The gradient of one class's probability with respect to the raw inputs.

    Analytic, by backpropagation: with p = softmax(u) and c the target class,
    dp_c/du = p_c (onehot(c) - p); :meth:`MLP.backward` with ``input_grad=True``
    carries it to the standardised inputs, and the chain rule through
    ``x_scaled = (x - mean) / scale`` divides by ``scale``. The parameters'
    gradients are restored afterwards, so a training step in progress is not
    disturbed.

    Parameters
    ----------
    model : MLP
    scaler : Standardizer or None
    X_raw : ndarray of shape (n, d)
    target : int or ndarray of shape (n,), optional
        The class per point; the predicted class (argmax) when None.

    Returns
    -------
    target : ndarray of int of shape (n,)
    p : ndarray of shape (n,)
        The target class's probability at each point.
    grad : ndarray of shape (n, d)
        dp / dx in raw units (per unit of each raw feature).
    """
    from neuralab.explain.attributions import Explainer

    model = _check_model(model)
    X = _raw_inputs(model, X_raw)
    explainer = Explainer(model, scaler)
    cls = explainer.predict(X) if target is None else np.broadcast_to(
        np.asarray(target), (X.shape[0],)).astype(np.int64)
    if cls.size and (cls.min() < 0 or cls.max() >= model.n_classes):
        raise NeuralabError(
            f"target must be class indices in 0..{model.n_classes - 1}, got {np.unique(cls).tolist()}"
        )
    # one backward pass, the explainer's: dp_c/du = p_c (onehot(c) - p), then / scale
    grad = explainer.input_gradient(X, cls, output="probability")
    p = explainer.outputs(X, cls, output="probability")
    return cls, p, grad


def probability_surface_figure(model: MLP, scaler, X_raw: np.ndarray, y: np.ndarray,
                               classes: Sequence[str] | None = None, *, steps: int = 200,
                               arrows: int = 20, title: str = ""):
    """The predicted class's probability over the plane, with its gradient as arrows.

    The background is :func:`neuralab.plots.draw_boundary`: each point is shaded
    with its predicted class's colour, stronger where the probability is higher.
    On a coarse ``arrows x arrows`` sub-grid of the same extent, arrows show the
    gradient of the predicted class's probability with respect to the raw inputs,
    computed analytically (:func:`probability_gradient`: backpropagation through
    the model and the chain rule through the scaler). They point where the model
    grows surer, and are longest near the decision boundaries, where the
    probability changes fastest; in a saturated region they shrink to dots. The
    arrows share one scale, the longest spanning 0.9 of a sub-grid cell.

    Parameters
    ----------
    model : MLP
        With 2 inputs.
    scaler : Standardizer or None
    X_raw : ndarray of shape (n, 2)
    y : ndarray of shape (n,)
    classes : sequence of str, optional
    steps : int
        Resolution of the shading (default 200).
    arrows : int
        Arrows per axis (default 20).
    title : str

    Returns
    -------
    matplotlib.figure.Figure
        One axis with the shaded image, the training points and a quiver.
    """
    model = _check_model(model)
    X = _raw_inputs(model, X_raw, two_d="probability_surface_figure")
    y = np.asarray(y)
    if y.shape != (X.shape[0],):
        raise NeuralabError(f"y must have shape ({X.shape[0]},), got {y.shape}")
    names = _labels(classes, model.n_classes, "classes", "")

    def proba(G):
        return np.asarray(model.predict_proba(_transform(scaler, G)), dtype=np.float64)

    fig = plots._figure(figsize=(6, 5.5))
    ax = fig.add_subplot()
    plots.draw_boundary(ax, proba, X, y, class_names=names, steps=steps,
                        title=title or "predicted-class probability and its gradient")
    gx, gy, coarse = plots.grid_over(X, steps=arrows)
    _, _, grad = probability_gradient(model, scaler, coarse)
    # arrows in data units, the longest reaching 0.9 of a sub-grid cell in x or y,
    # so that they never overlap and their lengths compare across the plane
    cell = np.array([np.ptp(gx) / max(arrows - 1, 1), np.ptp(gy) / max(arrows - 1, 1)])
    reach = float(np.max(np.abs(grad) / np.where(cell > 0, cell, 1.0), initial=0.0))
    ax.quiver(coarse[:, 0], coarse[:, 1], grad[:, 0], grad[:, 1], angles="xy",
              scale_units="xy", scale=reach / 0.9 if reach > 0 else 1.0,
              color="k", alpha=0.75, width=0.003, zorder=3)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- partial dependence


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
    names = _labels(classes, probs.shape[1], "classes", "")
    fig = plots._figure(figsize=(6, 4))
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
