"""Gradient check: central differences against the engine's analytic gradients.

For every parameter entry w, the numeric gradient is
``(f(w + eps) - f(w - eps)) / (2 eps)``; the relative error of an entry is
``|analytic - numeric| / max(|analytic| + |numeric|, floor)``, and each
parameter reports its largest. The floor is ``1e-3 * max(|f|, 1)``: in float64
the difference quotient carries a round-off of about ``1e-16 * |f| / eps``
(1e-10 for eps = 1e-6), so a gradient entry smaller than the floor (a dead ReLU
unit's, say, which is exactly 0) cannot be resolved to 1e-6 relative; it is
judged against the floor instead, which still demands an absolute error below
1e-9 * max(|f|, 1). A correct backward pass then gives errors far below 1e-6,
unless a ReLU kink lies within eps of a pre-activation: with the lecture's
0.01 * N(0, 1) weights, a net with two or more hidden layers has pre-activations
of that size, so check deep nets with ``init="he"``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from neuralab import NeuralabError
from neuralab.nn.losses import L1Penalty, L2Penalty, MeanSquaredError, SoftmaxCrossEntropy
from neuralab.nn.models import MLP
from neuralab.nn.module import Parameter

TOLERANCE = 1e-6
TINY = 1e-12


@dataclass(frozen=True)
class ParamCheck:
    """The result for one parameter (or input): its largest relative error."""

    name: str
    shape: tuple[int, ...]
    max_rel_error: float
    max_abs_error: float

    def passed(self, tol: float = TOLERANCE) -> bool:
        return self.max_rel_error < tol


def relative_error(analytic: np.ndarray, numeric: np.ndarray, floor: float = TINY) -> np.ndarray:
    """Entrywise ``|a - n| / max(|a| + |n|, floor)``.

    >>> float(relative_error(np.array([1.0]), np.array([1.0 + 1e-9]))[0]) < 1e-9
    True
    >>> float(relative_error(np.array([0.0]), np.array([1e-11]), floor=1e-3)[0]) < 1.1e-8
    True
    """
    return np.abs(analytic - numeric) / np.maximum(np.abs(analytic) + np.abs(numeric), floor)


def numeric_gradient(f: Callable[[], float], array: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Central differences of the scalar ``f()`` with respect to ``array``, changed in place."""
    grad = np.zeros_like(array, dtype=np.float64)
    flat = array.reshape(-1)
    gflat = grad.reshape(-1)
    for k in range(flat.size):
        old = flat[k]
        flat[k] = old + eps
        plus = float(f())
        flat[k] = old - eps
        minus = float(f())
        flat[k] = old
        gflat[k] = (plus - minus) / (2 * eps)
    return grad


def check_function(f: Callable[[], float], analytic: dict[str, np.ndarray],
                   arrays: dict[str, np.ndarray], eps: float = 1e-6) -> list[ParamCheck]:
    """Compare ``analytic[name]`` with the central differences of ``f`` over ``arrays[name]``."""
    results = []
    floor = 1e-3 * max(abs(float(f())), 1.0)
    for name, array in arrays.items():
        num = numeric_gradient(f, array, eps)
        a = np.asarray(analytic[name], dtype=np.float64)
        err = relative_error(a, num, floor)
        results.append(ParamCheck(name, array.shape, float(err.max(initial=0.0)),
                                  float(np.abs(a - num).max(initial=0.0))))
    return results


def check_model(model: MLP, X: np.ndarray, y: np.ndarray, *, reg: float = 0.0, l1: float = 0.0,
                class_weight=None, eps: float = 1e-6,
                task: str = "classification") -> list[ParamCheck]:
    """Gradient-check every parameter of ``model`` on ``CE(X, y) + 0.5 reg sum W^2 + l1 sum |W|``.

    With ``task="regression"`` the loss is the mean squared error of the
    model's single output against the numbers ``y`` (:class:`MeanSquaredError`).

    The L1 term's subgradient ``l1 * sign(W)`` is its gradient wherever no weight is
    within ``eps`` of zero (seeded random weights never are).

    Example:
        >>> from neuralab.data import spiral
        >>> X, y = spiral(n_per_class=5, seed=0)
        >>> net = MLP([2, 8, 3], init="he", seed=1)
        >>> all(r.passed() for r in check_model(net, X, y, reg=1e-3))
        True
    """
    if model.dtype != np.float64:
        raise NeuralabError(
            f"gradient checks need dtype float64 (float32 cannot resolve eps={eps}), got {model.dtype.name}"
        )
    X = np.asarray(X, dtype=np.float64)
    if task == "regression":
        if model.sizes[-1] != 1:
            raise NeuralabError(f"a regression model has one output, got sizes {model.sizes}")
        loss = MeanSquaredError()
    else:
        loss = SoftmaxCrossEntropy(class_weight=class_weight)
    penalties = (L2Penalty(reg), L1Penalty(l1))
    weights = model.weights()

    def f() -> float:
        return float(loss.forward(model.forward(X), y)) + sum(p.forward(weights) for p in penalties)

    model.zero_grad()
    f()
    model.backward(loss.backward())
    for p in penalties:
        p.backward(weights)
    params: dict[str, Parameter] = dict(model.named_parameters())
    analytic = {name: p.grad.copy() for name, p in params.items()}
    return check_function(f, analytic, {name: p.data for name, p in params.items()}, eps)
