"""The numerics under the attributions: many rows' gradients in blocks, and path integrals.

A ``ValueGrad`` is any function ``(X_raw, target, output) -> (f, df/dx)`` that
computes, for a batch of raw inputs, f = u_c (``output="logit"``) or
f = softmax(u)_c (``output="probability"``) of each row's target class c and its
gradient with respect to the raw input. The engine's hand-written backward pass
(:class:`~neuralab.explain.attributions.Explainer`) and torch autograd
(:func:`neuralab.torch_backend.explain.autograd_value_grad`) both provide one;
the functions here run either the same way:

- :func:`blocked`: a ``ValueGrad`` over blocks of at most
  :data:`neuralab.explain.common.BLOCK_ROWS` rows;
- :func:`integrate`: integrated gradients along the straight path from a
  baseline to x, by the trapezoid rule, refined row by row to a tolerance;
- :func:`output_and_seed`: f and the ``dscores`` that seed the backward pass
  for it, from the logits.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from neuralab import NeuralabError
from neuralab.explain import common
from neuralab.nn.losses import softmax

OUTPUTS = ("logit", "probability")

# value_grad(X_raw (m, d), target (m,), output) -> (f (m,), df/dx (m, d))
ValueGrad = Callable[[np.ndarray, np.ndarray, str], tuple[np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class IntegratedGradients:
    """The result of :meth:`~neuralab.explain.attributions.Explainer.integrated_gradients`.

    Attributes
    ----------
    attributions : ndarray of shape (n_samples, n_features)
        ``(x - baseline) * mean gradient along the straight path``, raw units of f.
    gap : ndarray of shape (n_samples,)
        The completeness gap relative to the change of the output,
        ``(sum(attributions) - (f(x) - f(baseline))) / |f(x) - f(baseline)|``;
        NaN where ``f(x) == f(baseline)`` exactly (see ``residual`` there).
    residual : ndarray of shape (n_samples,)
        The same gap in absolute terms, ``sum(attributions) - (f(x) - f(baseline))``.
    outputs : ndarray of shape (n_samples,)
        f(x).
    baseline_outputs : ndarray of shape (n_samples,)
        f(baseline).
    baseline : ndarray of shape (n_samples, n_features)
        The baseline of each row, raw units.
    steps : ndarray of int of shape (n_samples,)
        Trapezoid intervals used for each row (its path has ``steps + 1`` points);
        all equal to the ``steps`` asked for unless ``rtol`` refined some rows.
    """

    attributions: np.ndarray
    gap: np.ndarray
    residual: np.ndarray
    outputs: np.ndarray
    baseline_outputs: np.ndarray
    baseline: np.ndarray
    steps: np.ndarray

    @property
    def max_gap(self) -> float:
        """The largest ``|gap|`` over the rows (NaN rows ignored; NaN if all are)."""
        finite = np.abs(self.gap[~np.isnan(self.gap)])
        return float(finite.max()) if finite.size else float("nan")


def check_output(output: str) -> str:
    """``output`` if it is one of :data:`OUTPUTS`, else a one-line error naming it."""
    if output not in OUTPUTS:
        raise NeuralabError(f"output must be one of {', '.join(OUTPUTS)}; got {output!r}")
    return output


def check_steps(steps, rtol=None, max_steps=16384) -> tuple[int, float | None, int]:
    """``(steps, rtol, max_steps)`` of :func:`integrate`, checked and converted."""
    for name, value in (("steps", steps), ("max_steps", max_steps)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
            raise NeuralabError(f"{name} must be a positive integer, got {value!r}")
    if rtol is not None and not (np.isfinite(rtol) and rtol > 0):
        raise NeuralabError(f"rtol must be a positive number or None, got {rtol!r}")
    return int(steps), None if rtol is None else float(rtol), int(max_steps)


def output_and_seed(u: np.ndarray, target: np.ndarray,
                    output: str) -> tuple[np.ndarray, np.ndarray]:
    """f = u_c or p_c per row, and dscores = df/du to seed the backward pass."""
    rows = np.arange(len(u))
    seed = np.zeros_like(u)
    if output == "logit":
        f = u[rows, target].astype(np.float64)
        seed[rows, target] = 1
    else:
        # d p_c / d u_k = p_c (1[k == c] - p_k)
        p = softmax(u)
        pc = p[rows, target]
        np.multiply(-pc[:, None], p, out=seed)
        seed[rows, target] += pc
        f = pc.astype(np.float64)
    return f, seed


def blocked(fn: ValueGrad, X: np.ndarray, target: np.ndarray,
            output: str) -> tuple[np.ndarray, np.ndarray]:
    """Run ``fn`` over blocks of rows so that no pass holds more than ``common.BLOCK_ROWS`` rows."""
    block = common.BLOCK_ROWS
    if len(X) <= block:
        return fn(X, target, output)
    f = np.empty(len(X))
    g = np.empty(X.shape)
    for s in range(0, len(X), block):
        f[s:s + block], g[s:s + block] = fn(X[s:s + block], target[s:s + block], output)
    return f, g


def _trapezoid_weights(steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Points alpha_k = k / steps and weights of the trapezoid rule on [0, 1]."""
    alphas = np.linspace(0.0, 1.0, steps + 1)
    weights = np.full(steps + 1, 1.0 / steps)
    weights[[0, -1]] = 0.5 / steps
    return alphas, weights


def _path_integral(value_grad: ValueGrad, X: np.ndarray, target: np.ndarray, output: str,
                   baseline: np.ndarray, steps: int):
    """Trapezoid-rule attributions, f(x) and f(baseline) at a fixed number of steps.

    The ``steps + 1`` path points of a group of inputs go through one batched pass
    (points-major), with as many inputs per group as fit in ``common.BLOCK_ROWS`` rows.
    """
    n, d = X.shape
    alphas, weights = _trapezoid_weights(steps)
    attributions = np.empty((n, d))
    f_x = np.empty(n)
    f_b = np.empty(n)
    per_group = max(1, common.BLOCK_ROWS // (steps + 1))
    for s in range(0, n, per_group):
        x, b = X[s:s + per_group], baseline[s:s + per_group]
        m = len(x)
        path = b[None] + alphas[:, None, None] * (x - b)[None]  # (steps + 1, m, d)
        path[0], path[-1] = b, x  # the end points exactly, not up to rounding
        f, g = value_grad(path.reshape(-1, d), np.tile(target[s:s + m], steps + 1), output)
        g = g.reshape(steps + 1, m, d)
        attributions[s:s + m] = (x - b) * np.tensordot(weights, g, axes=1)
        f = f.reshape(steps + 1, m)
        f_b[s:s + m], f_x[s:s + m] = f[0], f[-1]
    return attributions, f_x, f_b


def _gaps(attributions: np.ndarray, f_x: np.ndarray, f_b: np.ndarray):
    delta = f_x - f_b
    residual = attributions.sum(axis=1) - delta
    with np.errstate(divide="ignore", invalid="ignore"):
        gap = np.where(delta != 0, residual / np.abs(delta), np.nan)
    return gap, residual


def integrate(value_grad: ValueGrad, X: np.ndarray, target: np.ndarray, output: str,
              baseline: np.ndarray, steps: int, rtol: float | None = None,
              max_steps: int = 16384) -> IntegratedGradients:
    """Integrated gradients along the straight path baseline -> x, for any ``ValueGrad``.

    See :meth:`neuralab.explain.attributions.Explainer.integrated_gradients`.

    With ``rtol``, the rows whose ``|gap|`` exceeds it are integrated again with twice
    the steps, and again, up to ``max_steps``.
    """
    attributions, f_x, f_b = _path_integral(value_grad, X, target, output, baseline, steps)
    gap, residual = _gaps(attributions, f_x, f_b)
    used = np.full(len(X), steps)
    if rtol is not None:
        s = steps
        todo = np.flatnonzero(np.abs(gap) > rtol)  # NaN (f(x) == f(baseline)) is never refined
        while todo.size and 2 * s <= max_steps:
            s *= 2
            attributions[todo], f_x[todo], f_b[todo] = _path_integral(
                value_grad, X[todo], target[todo], output, baseline[todo], s)
            used[todo] = s
            gap, residual = _gaps(attributions, f_x, f_b)
            todo = todo[np.abs(gap[todo]) > rtol]
    return IntegratedGradients(attributions, gap, residual, f_x, f_b, baseline, used)


__all__ = [
    "OUTPUTS",
    "IntegratedGradients",
    "ValueGrad",
    "blocked",
    "check_output",
    "check_steps",
    "integrate",
    "output_and_seed",
]
