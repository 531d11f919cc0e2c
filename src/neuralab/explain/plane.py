"""A 2-D model over the plane: what each hidden unit computes, and the probability's gradient.

- :func:`hidden_unit_maps_figure`: what each hidden unit computes over the plane;
- :func:`probability_surface_figure` (with :func:`probability_gradient`): the
  predicted class's probability and its gradient field.

``scaler`` is a :class:`neuralab.data.preprocess.Standardizer` (anything with
``mean``, ``scale`` and ``transform``), or None for no scaling; the functions
work in raw input units and apply it themselves. They overwrite the model's
forward buffers but never its weights or its parameters' gradients.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from neuralab import NeuralabError
from neuralab import plots
from neuralab.explain import common
from neuralab.explain.attributions import Explainer
from neuralab.explain.common import architecture, check_model, check_names, raw_inputs
from neuralab.nn.models import MLP


def _transform(scaler, X: np.ndarray) -> np.ndarray:
    return X if scaler is None else scaler.transform(X)


def _hidden_layer_index(model: MLP, layer) -> int:
    L = model.depth
    if L < 2:
        raise NeuralabError(
            f"hidden_unit_maps_figure needs a model with hidden layers; this one is {architecture(model)}"
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
    model = check_model(model)
    i = _hidden_layer_index(model, layer)
    X = raw_inputs(model, X_raw, two_d="hidden_unit_maps_figure")
    if not isinstance(max_units, (int, np.integer)) or max_units < 1:
        raise NeuralabError(f"max_units must be a positive integer, got {max_units!r}")
    xx, yy, grid = plots.grid_over(X, steps=steps)
    H = np.empty((grid.shape[0], model.sizes[i]))
    block = common.BLOCK_ROWS
    for start in range(0, grid.shape[0], block):
        model.forward(_transform(scaler, grid[start:start + block]))
        H[start:start + block] = model.intermediates()[f"hidden{i}"]
    width = model.sizes[i]
    n = min(width, int(max_units))
    ncols = math.ceil(math.sqrt(n))
    nrows = math.ceil(n / ncols)
    fig = plots.new_figure(figsize=(1.55 * ncols + 0.3, 1.55 * nrows + 0.7))
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
    fig.suptitle(f"hidden layer {i} ({getattr(act, 'name', act)}) of {architecture(model)}: {shown}",
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
    model = check_model(model)
    X = raw_inputs(model, X_raw)
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
    model = check_model(model)
    X = raw_inputs(model, X_raw, two_d="probability_surface_figure")
    y = np.asarray(y)
    if y.shape != (X.shape[0],):
        raise NeuralabError(f"y must have shape ({X.shape[0]},), got {y.shape}")
    names = check_names(classes, model.n_classes, "classes", "")

    def proba(G):
        return np.asarray(model.predict_proba(_transform(scaler, G)), dtype=np.float64)

    fig = plots.new_figure(figsize=(6, 5.5))
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


__all__ = ["hidden_unit_maps_figure", "probability_gradient", "probability_surface_figure"]
