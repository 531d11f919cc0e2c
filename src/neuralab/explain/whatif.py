"""How would the answer change? The what-if probes of :class:`~neuralab.explain.attributions.Explainer`.

- :meth:`WhatIfMixin.flip_step`: the smallest step along the gradient that changes
  the predicted class;
- :meth:`WhatIfMixin.partial_dependence`: the mean predicted probabilities with
  one feature set to each value of a grid;
- :meth:`WhatIfMixin.probability_surface`: the probabilities of a 2-D model over
  a grid, with the gradient of the predicted class's probability.

:class:`WhatIfMixin` is one half of :class:`~neuralab.explain.attributions.Explainer`,
which mixes it in; it runs the explainer's engine passes (``_logits``,
``_backprop`` inside ``_grads_kept``) and its input checks (``_check_X``), and
works in raw input units throughout.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from neuralab import NeuralabError
from neuralab.explain import common
from neuralab.nn.losses import softmax


@dataclass(frozen=True)
class FlipStep:
    """The nearest class change along the gradient: what :meth:`WhatIfMixin.flip_step` returns.

    Attributes
    ----------
    original_class : int
        The predicted class at x.
    runner_up : int
        The class with the second-largest logit at x.
    margin : float
        ``u_original - u_runner_up`` at x (>= 0).
    gradient_norm : float
        L2 norm of d margin / dx in raw units; 0 where the margin's gradient vanishes.
    direction : ndarray of shape (n_features,)
        The unit step ``-grad / |grad|`` (raw units); zeros where the gradient vanishes.
    distance : float or None
        The smallest t (raw units, L2) found where ``x + t * direction`` is predicted
        as another class, to ``rtol`` relative; None when the gradient vanishes or
        the class does not change within ``max_distance``.
    new_class : int or None
        The predicted class at ``point``.
    point : ndarray of shape (n_features,) or None
        ``x + distance * direction``, the first point found with another class.
    max_distance : float
        How far the line search looked.
    """

    original_class: int
    runner_up: int
    margin: float
    gradient_norm: float
    direction: np.ndarray
    distance: float | None
    new_class: int | None
    point: np.ndarray | None
    max_distance: float

    @property
    def found(self) -> bool:
        """Whether a class change was found within ``max_distance``."""
        return self.distance is not None

    @property
    def first_order_distance(self) -> float:
        """``margin / |grad|``, the linear model's answer (inf where the gradient vanishes).

        Exact for a linear model; for a network the class may change before or after it,
        which is why :meth:`WhatIfMixin.flip_step` searches along the line instead.
        """
        return self.margin / self.gradient_norm if self.gradient_norm > 0 else float("inf")


class PartialDependence(NamedTuple):
    """``(grid, probs)``: mean predicted probabilities with one feature set to each grid value.

    grid : ndarray of shape (n_grid,), raw units of the feature.
    probs : ndarray of shape (n_grid, n_classes), each row sums to 1.
    """

    grid: np.ndarray
    probs: np.ndarray


class ProbabilitySurface(NamedTuple):
    """``(xx, yy, probs, gradient)`` of a 2-D model over a (steps x steps) grid.

    xx, yy : ndarray of shape (steps, steps), the grid (``numpy.meshgrid`` layout).
    probs : ndarray of shape (steps, steps, n_classes), softmax probabilities.
    gradient : ndarray of shape (steps, steps, 2), d p_c / d(x, y) in raw units, where
        c is the predicted class at each grid point.
    """

    xx: np.ndarray
    yy: np.ndarray
    probs: np.ndarray
    gradient: np.ndarray


def _flip_arguments(x, n_features: int, n_classes: int, scale: np.ndarray, max_distance,
                    rtol: float, n_grid: int) -> tuple[np.ndarray, float]:
    """x as a float64 vector, and the search range (default ``10 * |scale|``), checked."""
    x = np.asarray(x, dtype=np.float64)
    if x.shape not in ((n_features,), (1, n_features)):
        raise NeuralabError(f"x must be one input of shape ({n_features},), got {x.shape}")
    x = x.reshape(-1)
    if n_classes < 2:
        raise NeuralabError("flip_step needs a model with at least 2 classes")
    if max_distance is None:
        max_distance = 10.0 * float(np.linalg.norm(scale))
    if not np.isfinite(max_distance) or max_distance <= 0:
        raise NeuralabError(f"max_distance must be a positive number, got {max_distance!r}")
    if not 0 < rtol < 1:
        raise NeuralabError(f"rtol must lie in (0, 1), got {rtol!r}")
    if n_grid < 1:
        raise NeuralabError(f"n_grid must be a positive integer, got {n_grid!r}")
    return x, max_distance


def _bracket(classes_at: Callable[[np.ndarray], np.ndarray], c: int, estimate: float,
             max_distance: float, n_grid: int) -> tuple[float, float] | None:
    """(lo, hi) with class c at lo and another at hi; None if the class holds to ``max_distance``.

    The line is scanned on ``n_grid`` points over (lo, T], T doubling from twice the
    first-order ``estimate`` until the class changes or T reaches ``max_distance``.
    """
    lo, T = 0.0, min(2 * estimate if estimate > 0 else max_distance / 1024, max_distance)
    while True:
        ts = np.linspace(lo, T, n_grid + 1)[1:]
        # a grid point can sit on the boundary itself (for a linear piece, the
        # estimate is exact and is a grid point), where a one-row pass may round
        # the other way than the batch: keep the first change a one-row pass confirms
        i = next((i for i in np.flatnonzero(classes_at(ts) != c)
                  if classes_at(ts[i:i + 1])[0] != c), None)
        if i is not None:
            return (ts[i - 1] if i > 0 else lo), ts[i]
        if T >= max_distance:
            return None
        lo, T = T, min(2 * T, max_distance)


def _bisect(classes_at: Callable[[np.ndarray], np.ndarray], c: int, lo: float, hi: float,
            rtol: float, tiny: float) -> float:
    """Shrink (lo, hi] (class c at lo, another at hi) to ``rtol`` relative; the new hi."""
    while hi - lo > max(rtol * lo, tiny):
        mid = 0.5 * (lo + hi)
        if classes_at(np.array([mid]))[0] == c:
            lo = mid
        else:
            hi = mid
    return hi


class WhatIfMixin:
    """The what-if probes of :class:`~neuralab.explain.attributions.Explainer` (see the module)."""

    def flip_step(self, x, *, max_distance: float | None = None, rtol: float = 1e-6,
                  n_grid: int = 256) -> FlipStep:
        """The smallest step along the margin's gradient that changes the predicted class.

        The margin is ``u_pred - u_runner_up`` at x; the step goes along
        ``-grad / |grad|`` (raw units). The first-order estimate margin / |grad| is
        exact only for a linear model: along a straight line through a piecewise
        linear ReLU net the class may change earlier or later. So the line is
        scanned on ``n_grid`` points over (0, T], T doubling from twice the estimate
        up to ``max_distance``, and the first change found is bisected until the
        bracket is within ``rtol`` relative.

        Parameters
        ----------
        x : array-like of shape (n_features,) or (1, n_features)
            One raw input.
        max_distance : float, optional
            How far to look, in raw units (L2). Default ``10 * |scaler.scale|``, ten
            times the data's scale (10 * sqrt(n_features) without scaling).
        rtol : float
            Relative width of the final bracket.
        n_grid : int
            Points per scan of the line.

        Returns
        -------
        FlipStep
            ``distance``, ``new_class`` and ``point`` are None where the margin's
            gradient vanishes or no change is found within ``max_distance``.
        """
        x, max_distance = _flip_arguments(x, self.n_features, self.n_classes, self._scale,
                                          max_distance, rtol, n_grid)
        u = self._logits(x[None])[0]
        order = np.argsort(-u, kind="stable")
        c, r = int(order[0]), int(order[1])
        grad = self._margin_gradient(x, c, r)
        gnorm = float(np.linalg.norm(grad))
        result = dict(original_class=c, runner_up=r, margin=float(u[c] - u[r]),
                      gradient_norm=gnorm, max_distance=float(max_distance))
        if not (gnorm > 0 and np.isfinite(gnorm)):
            return FlipStep(direction=np.zeros_like(x), distance=None, new_class=None,
                            point=None, **result)
        direction = -grad / gnorm

        def classes_at(ts: np.ndarray) -> np.ndarray:
            return self._logits(x[None] + ts[:, None] * direction[None]).argmax(axis=1)

        bracket = _bracket(classes_at, c, result["margin"] / gnorm, max_distance, n_grid)
        if bracket is None:
            return FlipStep(direction=direction, distance=None, new_class=None,
                            point=None, **result)
        # bisection: lo keeps the original class, hi does not
        hi = _bisect(classes_at, c, *bracket, rtol, 1e-15 * max_distance)
        return FlipStep(direction=direction, distance=float(hi),
                        new_class=int(classes_at(np.array([hi]))[0]),
                        point=x + hi * direction, **result)

    def _margin_gradient(self, x: np.ndarray, c: int, r: int) -> np.ndarray:
        """d(u_c - u_r)/dx at one raw input x, by one backward pass, shape (n_features,)."""

        def margin_and_seed(scores):
            seed = np.zeros_like(scores)
            seed[:, c], seed[:, r] = 1, -1
            return (scores[:, c] - scores[:, r]).astype(np.float64), seed

        with self._grads_kept():
            _, grad = self._backprop(x[None], margin_and_seed)
        return grad[0]

    def partial_dependence(self, X, feature: int | str, grid=None,
                           n_grid: int = 50) -> PartialDependence:
        """Mean predicted probabilities with feature j set to each grid value in every row.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The rows to average over (raw units), typically the training data.
        feature : int or str
            The feature's index or name.
        grid : array-like of shape (n_grid,), optional
            Raw values of the feature; default ``n_grid`` evenly spaced values from
            the 2.5 % to the 97.5 % quantile of ``X[:, feature]``.
        n_grid : int
            Number of grid values when ``grid`` is None.

        Returns
        -------
        PartialDependence
            ``(grid, probs)``, probs of shape (n_grid, n_classes).
        """
        X = self._check_X(X)
        j = self._feature_index(feature)
        if grid is None:
            if n_grid < 1 or len(X) == 0:
                raise NeuralabError(f"n_grid must be >= 1 and X non-empty, got n_grid={n_grid!r} "
                                    f"and {len(X)} rows")
            lo, hi = np.quantile(X[:, j], [0.025, 0.975])
            grid = np.linspace(lo, hi, n_grid)
        grid = np.asarray(grid, dtype=np.float64)
        if grid.ndim != 1 or not np.all(np.isfinite(grid)):
            raise NeuralabError(
                f"grid must be a 1-D array of finite numbers, got shape {grid.shape}")
        n, K = len(X), self.n_classes
        probs = np.empty((len(grid), K))
        per_block = max(1, common.BLOCK_ROWS // max(n, 1))
        for s in range(0, len(grid), per_block):
            values = grid[s:s + per_block]
            Xv = np.repeat(X[None], len(values), axis=0)  # (m, n, d)
            Xv[:, :, j] = values[:, None]
            p = softmax(self._logits(Xv.reshape(-1, X.shape[1])))
            probs[s:s + len(values)] = p.reshape(len(values), n, K).mean(axis=1)
        return PartialDependence(grid, probs)

    def _feature_index(self, feature) -> int:
        if isinstance(feature, str):
            if feature not in self.feature_names:
                raise NeuralabError(
                    f"feature must be one of {', '.join(self.feature_names)}; got {feature!r}"
                )
            return self.feature_names.index(feature)
        if (not isinstance(feature, (int, np.integer)) or isinstance(feature, bool)
                or not 0 <= feature < self.n_features):
            raise NeuralabError(
                f"feature must be an index in 0..{self.n_features - 1} or a name, got {feature!r}"
            )
        return int(feature)

    def probability_surface(self, X_ref, steps: int = 150, *,
                            margin: float = 0.25) -> ProbabilitySurface:
        """Class probabilities and the gradient field of a 2-D model over a grid.

        Parameters
        ----------
        X_ref : array-like of shape (n_samples, 2)
            Raw points whose bounding box, widened by ``margin`` of its size on each
            side, the grid covers (as the boundary figures do).
        steps : int
            Grid points per axis.
        margin : float
            Padding on each side, as a fraction of the data's range.

        Returns
        -------
        ProbabilitySurface
            ``xx, yy`` (steps, steps); ``probs`` (steps, steps, n_classes);
            ``gradient`` (steps, steps, 2), d p_c / d(x, y) in raw units for the
            predicted class c at each grid point.
        """
        if self.n_features != 2:
            raise NeuralabError(f"probability_surface needs a model with 2 inputs, "
                                f"this one has {self.n_features}")
        X_ref = self._check_X(X_ref, "X_ref")
        if len(X_ref) == 0 or steps < 2:
            raise NeuralabError(f"probability_surface needs points in X_ref and steps >= 2, "
                                f"got {len(X_ref)} points and steps={steps!r}")
        lo, hi = X_ref.min(axis=0), X_ref.max(axis=0)
        pad = margin * np.maximum(hi - lo, 1e-9)
        xx, yy = np.meshgrid(np.linspace(lo[0] - pad[0], hi[0] + pad[0], steps),
                             np.linspace(lo[1] - pad[1], hi[1] + pad[1], steps))
        points = np.c_[xx.ravel(), yy.ravel()]
        probs = softmax(self._logits(points))
        gradient = self.input_gradient(points, probs.argmax(axis=1), "probability")
        return ProbabilitySurface(xx, yy, probs.reshape(steps, steps, -1),
                                  gradient.reshape(steps, steps, 2))


__all__ = ["FlipStep", "PartialDependence", "ProbabilitySurface", "WhatIfMixin"]
