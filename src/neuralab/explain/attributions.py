"""Attributions: why did the model give this answer, and how would it change?

:class:`Explainer` wraps an engine :class:`~neuralab.nn.MLP` and the
:class:`~neuralab.data.preprocess.Standardizer` it was trained with, and answers
both questions of the lecture's interpretability section in RAW input units (the
units of the data file, not the standardised ones the network sees):

- *why this answer*: the gradient of a class output with respect to the input
  (saliency), gradient x input, and integrated gradients, whose attributions add
  up to the change of the output between a baseline and the input (completeness);
- *how would it change*: the smallest step along the gradient that changes the
  predicted class (:meth:`Explainer.flip_step`), partial dependence of the
  probabilities on one feature, and the probability surface of a 2-D model.

The model sees ``z = (x - mean) / scale``, so by the chain rule
``df/dx = df/dz / scale``. Every gradient comes from the engine's own
hand-written backward pass, ``MLP.backward(dscores, input_grad=True)``, seeded
with ``dscores = onehot(c)`` for the logit u_c and ``dscores = p_c (onehot(c) - p)``
for the probability p_c = softmax(u)_c. :func:`torch_input_gradient` and
:func:`torch_integrated_gradients` compute the same quantities with PyTorch's
autograd on a :class:`~neuralab.torch_backend.TorchMLP` copy of the model, as a
check.

Example:
    >>> from neuralab.nn import MLP
    >>> model = MLP([2, 3], seed=0)            # a linear softmax classifier
    >>> ex = Explainer(model)                  # no scaling: raw units = model units
    >>> X = np.array([[0.5, -1.0], [2.0, 0.0]])
    >>> bool(np.allclose(ex.input_gradient(X, target=1), model.linears[0].W.data[:, 1]))
    True
    >>> ig = ex.integrated_gradients(X, target=[0, 2], output="probability")
    >>> ig.attributions.shape, bool(np.all(np.abs(ig.gap) < 0.01))
    ((2, 2), True)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np

from neuralab import NeuralabError
from neuralab.data.preprocess import Standardizer
from neuralab.nn.losses import softmax
from neuralab.nn.models import MLP

OUTPUTS = ("logit", "probability")

#: Rows per forward/backward pass; integrated gradients and partial dependence
#: split their (points x inputs) batches into blocks of about this many rows.
BLOCK_ROWS = 8192

# value_grad(X_raw (m, d), target (m,), output) -> (f (m,), df/dx (m, d))
ValueGrad = Callable[[np.ndarray, np.ndarray, str], tuple[np.ndarray, np.ndarray]]


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class IntegratedGradients:
    """The result of :meth:`Explainer.integrated_gradients`.

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


@dataclass(frozen=True)
class FlipStep:
    """The result of :meth:`Explainer.flip_step`: the nearest class change along the gradient.

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
        which is why :meth:`Explainer.flip_step` searches along the line instead.
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


# --------------------------------------------------------------------------- helpers


def _check_output(output: str) -> str:
    if output not in OUTPUTS:
        raise NeuralabError(f"output must be one of {', '.join(OUTPUTS)}; got {output!r}")
    return output


def _output_and_seed(u: np.ndarray, target: np.ndarray,
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


def _blocked(fn: ValueGrad, X: np.ndarray, target: np.ndarray,
             output: str) -> tuple[np.ndarray, np.ndarray]:
    """Run ``fn`` over blocks of rows so that no pass holds more than ``BLOCK_ROWS`` rows."""
    block = BLOCK_ROWS
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
    (points-major), with as many inputs per group as fit in ``BLOCK_ROWS`` rows.
    """
    n, d = X.shape
    alphas, weights = _trapezoid_weights(steps)
    attributions = np.empty((n, d))
    f_x = np.empty(n)
    f_b = np.empty(n)
    per_group = max(1, BLOCK_ROWS // (steps + 1))
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


def _integrate(value_grad: ValueGrad, X: np.ndarray, target: np.ndarray, output: str,
               baseline: np.ndarray, steps: int, rtol: float | None = None,
               max_steps: int = 16384) -> IntegratedGradients:
    """Integrated gradients along the straight path baseline -> x (see the method's docs).

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


# --------------------------------------------------------------------------- Explainer


class Explainer:
    """Gradients, attributions and what-if probes of an engine MLP, in raw input units.

    Parameters
    ----------
    model : MLP
        The engine model. The explainer runs forward and backward passes on it, so
        its ``intermediates()`` afterwards describe the explainer's last batch; the
        parameters' ``.grad`` are restored after every call.
    scaler : Standardizer or None
        The preprocessing the model was trained with, ``z = (x - mean) / scale``;
        None means no scaling (the lecture's setting).
    classes : sequence of str, optional
        Class names, ``classes[k]`` for output k.
    feature_names : sequence of str, optional
        Input column names; :meth:`partial_dependence` accepts them for ``feature``.

    Notes
    -----
    ``X`` is always raw inputs of shape (n_samples, n_features). ``target`` is a
    class index per row, one int for every row, or None for the predicted class of
    each row. ``output`` is ``"logit"`` (default: the class score u_c) or
    ``"probability"`` (p_c = softmax(u)_c).

    Examples
    --------
    >>> from neuralab.nn import MLP
    >>> ex = Explainer(MLP([2, 8, 3], activation="tanh", seed=0))
    >>> ex
    Explainer(MLP(2 -> 8 -> 3, activation=tanh), scaler=identity)
    >>> ex.outputs(np.zeros((4, 2)), target=0, output="probability").shape
    (4,)
    """

    def __init__(self, model: MLP, scaler: Standardizer | None = None, *,
                 classes: Sequence[str] | None = None,
                 feature_names: Sequence[str] | None = None) -> None:
        if not isinstance(model, MLP):
            raise NeuralabError(f"model must be a neuralab.nn.MLP, got {type(model).__name__}")
        d, K = model.n_inputs, model.n_classes
        scaler = Standardizer.identity(d) if scaler is None else scaler
        mean = np.asarray(scaler.mean, dtype=np.float64)
        scale = np.asarray(scaler.scale, dtype=np.float64)
        if mean.shape != (d,) or scale.shape != (d,) or not np.all(scale > 0):
            raise NeuralabError(
                f"scaler must have {d} means and {d} positive scales for the model's {d} "
                f"inputs, got mean {mean.shape} and scale {scale.shape}"
            )
        self.model = model
        self.scaler = scaler
        self.classes = [str(k) for k in range(K)] if classes is None else [str(c) for c in classes]
        self.feature_names = ([f"x{i + 1}" for i in range(d)] if feature_names is None
                              else [str(f) for f in feature_names])
        if len(self.classes) != K or len(self.feature_names) != d:
            raise NeuralabError(
                f"the model has {K} classes and {d} features, got {len(self.classes)} class "
                f"names and {len(self.feature_names)} feature names"
            )
        self._scale = scale

    @classmethod
    def from_run(cls, run_dir: str | Path, *, dtype: str = "float64") -> Explainer:
        """The explainer of a run directory's checkpoint and preprocessing.

        Parameters
        ----------
        run_dir : str or Path
            A run directory written by ``neuralab train`` (``model.safetensors``
            and ``model.json``).
        dtype : {"float64", "float32"}
            The engine's dtype for the explanations; float64 by default, so that a
            float32 run's weights are widened and its gradients are accurate.

        Returns
        -------
        Explainer
        """
        from neuralab.runs import load_checkpoint

        run_dir = Path(run_dir)
        if not run_dir.is_dir():
            raise NeuralabError(f"run directory {run_dir} does not exist")
        state, meta = load_checkpoint(run_dir)
        sizes = meta["sizes"]
        model = MLP(sizes, activation=meta.get("activation") or "relu", dtype=dtype)
        model.load_state_dict(state)
        return cls(model, Standardizer.from_meta(meta, sizes[0]),
                   classes=meta.get("classes"), feature_names=meta.get("feature_names"))

    def __repr__(self) -> str:
        scaler = "identity" if self.scaler.is_identity else "standard"
        return f"Explainer({self.model!r}, scaler={scaler})"

    # ----------------------------------------------------------------- checks

    @property
    def n_features(self) -> int:
        return self.model.n_inputs

    @property
    def n_classes(self) -> int:
        return self.model.n_classes

    def _check_X(self, X, name: str = "X") -> np.ndarray:
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != self.n_features:
            raise NeuralabError(
                f"{name} must have shape (n, {self.n_features}) in raw units, got {X.shape}"
            )
        return X

    def _targets(self, target, X: np.ndarray) -> np.ndarray:
        n, K = len(X), self.n_classes
        if target is None:
            return self.predict(X)
        t = np.asarray(target)
        if t.ndim == 0:
            t = np.full(n, t)
        if (t.shape != (n,) or not np.issubdtype(t.dtype, np.integer)
                or (n and (t.min() < 0 or t.max() >= K))):
            raise NeuralabError(
                f"target must be a class index in 0..{K - 1} or one per row ({n}), "
                f"got {np.asarray(target).tolist()!r}"
            )
        return t.astype(np.intp)

    def default_baseline(self) -> np.ndarray:
        """The baseline used when none is given: the training mean, or zeros.

        For standardised (tabular) data the training mean ``scaler.mean`` is the
        neutral input (it maps to z = 0); without scaling it is the raw zero vector
        (a black image; the spiral's centre).

        Returns
        -------
        ndarray of shape (n_features,)
        """
        if self.scaler.is_identity:
            return np.zeros(self.n_features)
        return np.asarray(self.scaler.mean, dtype=np.float64).copy()

    def _baseline(self, baseline, X: np.ndarray) -> np.ndarray:
        b = self.default_baseline() if baseline is None else np.asarray(baseline, dtype=np.float64)
        try:
            return np.broadcast_to(b, X.shape).copy()
        except ValueError:
            raise NeuralabError(
                f"baseline must be a number, shape ({self.n_features},) or {X.shape}; "
                f"got shape {b.shape}"
            ) from None

    # ----------------------------------------------------------------- engine passes

    @contextmanager
    def _grads_kept(self) -> Iterator[None]:
        """Restore the parameters' ``.grad`` afterwards: backward adds into them."""
        saved = [p.grad.copy() for p in self.model.parameters()]
        try:
            yield
        finally:
            for p, g in zip(self.model.parameters(), saved):
                p.grad[...] = g

    def _logits(self, X: np.ndarray) -> np.ndarray:
        """u for raw X (n, d), float64, in blocks of rows."""
        block = BLOCK_ROWS
        parts = [np.array(self.model.forward(self.scaler.transform(X[s:s + block])),
                          dtype=np.float64)
                 for s in range(0, len(X), block)]
        return np.concatenate(parts) if parts else np.empty((0, self.n_classes))

    def _backprop(self, X: np.ndarray, seed_fn) -> tuple[np.ndarray, np.ndarray]:
        """One forward and backward pass: f and df/dx for raw X, ``seed_fn(u) -> (f, dscores)``.

        The caller holds :meth:`_grads_kept`.
        """
        u = self.model.forward(self.scaler.transform(X))
        f, dscores = seed_fn(u)
        dz = self.model.backward(dscores, input_grad=True)
        # chain rule through z = (x - mean) / scale: df/dx = df/dz / scale
        return f, np.asarray(dz, dtype=np.float64) / self._scale

    def _engine_block(self, X: np.ndarray, target: np.ndarray, output: str):
        return self._backprop(X, lambda u: _output_and_seed(u, target, output))

    def _value_grad(self, X: np.ndarray, target: np.ndarray, output: str):
        """The engine's ``ValueGrad``: f and df/dx of many rows, in blocks."""
        return _blocked(self._engine_block, X, target, output)

    # ----------------------------------------------------------------- predictions

    def predict_proba(self, X) -> np.ndarray:
        """Softmax probabilities for raw inputs.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
        """
        return softmax(self._logits(self._check_X(X)))

    def predict(self, X) -> np.ndarray:
        """The predicted class (argmax of the logits), ndarray of shape (n_samples,)."""
        return self._logits(self._check_X(X)).argmax(axis=1)

    def outputs(self, X, target=None, output: str = "logit") -> np.ndarray:
        """f(x): the logit u_c or the probability p_c of the target class.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        target : int, array-like of shape (n_samples,) or None
            The class c of each row; None for the predicted class.
        output : {"logit", "probability"}

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        _check_output(output)
        X = self._check_X(X)
        t = self._targets(target, X)
        u = self._logits(X)
        rows = np.arange(len(X))
        return u[rows, t] if output == "logit" else softmax(u)[rows, t]

    # ----------------------------------------------------------------- why this answer

    def input_gradient(self, X, target=None, output: str = "logit") -> np.ndarray:
        """df/dx through the engine's hand-written backward pass, in raw units.

        The backward pass is seeded with ``dscores = onehot(c)`` for the logit and
        ``dscores = p_c (onehot(c) - p)`` for the probability, and
        ``MLP.backward(dscores, input_grad=True)`` returns df/dz; dividing by
        ``scaler.scale`` gives df/dx.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        target : int, array-like of shape (n_samples,) or None
        output : {"logit", "probability"}

        Returns
        -------
        ndarray of shape (n_samples, n_features)
        """
        _check_output(output)
        X = self._check_X(X)
        t = self._targets(target, X)
        with self._grads_kept():
            return self._value_grad(X, t, output)[1]

    def saliency(self, X, target=None, output: str = "logit", *,
                 signed: bool = False) -> np.ndarray:
        """The saliency map ``|df/dx|``, or the signed gradient with ``signed=True``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        target : int, array-like of shape (n_samples,) or None
        output : {"logit", "probability"}
        signed : bool
            Return df/dx itself (which way each feature pushes) instead of its size.

        Returns
        -------
        ndarray of shape (n_samples, n_features)
        """
        g = self.input_gradient(X, target, output)
        return g if signed else np.abs(g)

    def gradient_x_input(self, X, target=None, output: str = "logit", baseline=None) -> np.ndarray:
        """``(x - baseline) * df/dx``: the first-order share of each feature in f(x) - f(baseline).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        target : int, array-like of shape (n_samples,) or None
        output : {"logit", "probability"}
        baseline : float, array-like of shape (n_features,) or (n_samples, n_features), optional
            Raw units. Default :meth:`default_baseline`: the training mean
            ``scaler.mean`` when the model standardises its inputs (for tabular data,
            the average input), else zeros (for images, black).

        Returns
        -------
        ndarray of shape (n_samples, n_features)
        """
        X = self._check_X(X)
        b = self._baseline(baseline, X)
        return (X - b) * self.input_gradient(X, target, output)

    def integrated_gradients(self, X, target=None, output: str = "logit", baseline=None,
                             steps: int = 128, *, rtol: float | None = None,
                             max_steps: int = 16384) -> IntegratedGradients:
        """Integrated gradients: ``(x - b) * integral_0^1 df/dx(b + a (x - b)) da``.

        The integral is the trapezoid rule over ``steps + 1`` evenly spaced points of
        the straight path; all points go through batched forward and backward
        passes of at most about ``BLOCK_ROWS`` rows. The attributions add up to
        f(x) - f(baseline) up to the rule's error (completeness), which
        ``result.gap`` reports relative to ``|f(x) - f(baseline)|``. For a ReLU net
        the gradient jumps where the path crosses a kink, and the error shrinks like
        1 / steps; it matters most, relative to f(x) - f(baseline), where the output
        goes up and down along the path and ends near where it started. Raise
        ``steps``, or pass ``rtol`` to double the steps of just the rows whose gap is
        larger, up to ``max_steps``. (A ReLU net with zero
        first-layer biases, as freshly initialised, has every unit on its kink at
        the training-mean baseline, where the gradient is taken as 0, as autograd
        takes it; the first point's half weight then costs a gap of 1 / (2 steps).)

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        target : int, array-like of shape (n_samples,) or None
        output : {"logit", "probability"}
        baseline : float, array-like of shape (n_features,) or (n_samples, n_features), optional
            Raw units; default :meth:`default_baseline` (see :meth:`gradient_x_input`).
        steps : int
            Number of trapezoid intervals (>= 1).
        rtol : float, optional
            Refine (double the steps of) every row whose ``|gap|`` exceeds ``rtol``
            until it does not or ``max_steps`` is reached; None (default): no refinement.
        max_steps : int
            The most steps refinement may use.

        Returns
        -------
        IntegratedGradients
            ``attributions`` (n_samples, n_features), ``gap`` (n_samples,), f(x),
            f(baseline) and the steps used per row.

        Examples
        --------
        A fresh ReLU net has zero biases, so the baseline 0 sits on every kink and
        the gap is exactly 1 / (2 steps); ``rtol`` doubles the steps until it is small:

        >>> from neuralab.nn import MLP
        >>> ex = Explainer(MLP([2, 16, 3], init="he", seed=0))
        >>> x = np.array([[1.0, -0.5]])
        >>> round(float(ex.integrated_gradients(x, target=2).gap[0]) * 2 * 128, 9)
        -1.0
        >>> res = ex.integrated_gradients(x, target=2, rtol=1e-3)
        >>> res.steps.tolist(), bool(abs(res.gap[0]) <= 1e-3)
        ([512], True)
        """
        _check_output(output)
        X = self._check_X(X)
        t = self._targets(target, X)
        b = self._baseline(baseline, X)
        steps, rtol, max_steps = _check_steps(steps, rtol, max_steps)
        with self._grads_kept():
            return _integrate(self._value_grad, X, t, output, b, steps, rtol, max_steps)

    # ----------------------------------------------------------------- how would it change

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
        x = np.asarray(x, dtype=np.float64)
        if x.shape not in ((self.n_features,), (1, self.n_features)):
            raise NeuralabError(f"x must be one input of shape ({self.n_features},), got {x.shape}")
        x = x.reshape(-1)
        if self.n_classes < 2:
            raise NeuralabError("flip_step needs a model with at least 2 classes")
        if max_distance is None:
            max_distance = 10.0 * float(np.linalg.norm(self._scale))
        if not np.isfinite(max_distance) or max_distance <= 0:
            raise NeuralabError(f"max_distance must be a positive number, got {max_distance!r}")
        if not 0 < rtol < 1:
            raise NeuralabError(f"rtol must lie in (0, 1), got {rtol!r}")
        if n_grid < 1:
            raise NeuralabError(f"n_grid must be a positive integer, got {n_grid!r}")

        u = self._logits(x[None])[0]
        order = np.argsort(-u, kind="stable")
        c, r = int(order[0]), int(order[1])
        margin = float(u[c] - u[r])

        def margin_and_seed(scores):
            seed = np.zeros_like(scores)
            seed[:, c], seed[:, r] = 1, -1
            return (scores[:, c] - scores[:, r]).astype(np.float64), seed

        with self._grads_kept():
            _, grad = self._backprop(x[None], margin_and_seed)
        grad = grad[0]
        gnorm = float(np.linalg.norm(grad))
        result = dict(original_class=c, runner_up=r, margin=margin, gradient_norm=gnorm,
                      max_distance=float(max_distance))
        if not (gnorm > 0 and np.isfinite(gnorm)):
            return FlipStep(direction=np.zeros_like(x), distance=None, new_class=None,
                            point=None, **result)
        direction = -grad / gnorm

        def classes_at(ts: np.ndarray) -> np.ndarray:
            return self._logits(x[None] + ts[:, None] * direction[None]).argmax(axis=1)

        # bracket: scan (lo, T] on a grid, doubling T until the class changes
        estimate = margin / gnorm
        lo, T = 0.0, min(2 * estimate if estimate > 0 else max_distance / 1024, max_distance)
        while True:
            ts = np.linspace(lo, T, n_grid + 1)[1:]
            # a grid point can sit on the boundary itself (for a linear piece, the
            # estimate is exact and is a grid point), where a one-row pass may round
            # the other way than the batch: keep the first change a one-row pass confirms
            i = next((i for i in np.flatnonzero(classes_at(ts) != c)
                      if classes_at(ts[i:i + 1])[0] != c), None)
            if i is not None:
                lo, hi = (ts[i - 1] if i > 0 else lo), ts[i]
                break
            if T >= max_distance:
                return FlipStep(direction=direction, distance=None, new_class=None,
                                point=None, **result)
            lo, T = T, min(2 * T, max_distance)
        # bisection: lo keeps the original class, hi does not
        tiny = 1e-15 * max_distance
        while hi - lo > max(rtol * lo, tiny):
            mid = 0.5 * (lo + hi)
            if classes_at(np.array([mid]))[0] == c:
                lo = mid
            else:
                hi = mid
        point = x + hi * direction
        new_class = int(classes_at(np.array([hi]))[0])
        return FlipStep(direction=direction, distance=float(hi), new_class=new_class,
                        point=point, **result)

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
        per_block = max(1, BLOCK_ROWS // max(n, 1))
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


def _check_steps(steps, rtol=None, max_steps=16384) -> tuple[int, float | None, int]:
    for name, value in (("steps", steps), ("max_steps", max_steps)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
            raise NeuralabError(f"{name} must be a positive integer, got {value!r}")
    if rtol is not None and not (np.isfinite(rtol) and rtol > 0):
        raise NeuralabError(f"rtol must be a positive number or None, got {rtol!r}")
    return int(steps), None if rtol is None else float(rtol), int(max_steps)


# --------------------------------------------------------------------------- torch parity


def _torch_value_grad(explainer: Explainer) -> ValueGrad:
    """A ``ValueGrad`` by torch autograd on ``from_engine(model)`` in float64.

    The standardisation is part of the autograd graph, so the chain rule through
    ``(x - mean) / scale`` is checked too, not reused.
    """
    import torch

    from neuralab.torch_backend.model import from_engine

    tmodel = from_engine(explainer.model).to(torch.float64)
    mean = torch.as_tensor(np.asarray(explainer.scaler.mean, dtype=np.float64))
    scale = torch.as_tensor(np.asarray(explainer.scaler.scale, dtype=np.float64))

    def value_grad(X: np.ndarray, target: np.ndarray, output: str):
        x = torch.tensor(X, dtype=torch.float64, requires_grad=True)
        u = tmodel((x - mean) / scale)
        if output == "probability":
            u = torch.softmax(u, dim=1)
        f = u.gather(1, torch.as_tensor(target, dtype=torch.long)[:, None])[:, 0]
        (g,) = torch.autograd.grad(f.sum(), x)
        return f.detach().numpy(), g.numpy()

    return lambda X, target, output: _blocked(value_grad, X, target, output)


def torch_input_gradient(explainer: Explainer, X, target=None, output: str = "logit") -> np.ndarray:
    """:meth:`Explainer.input_gradient` computed by PyTorch autograd instead (float64).

    Parameters
    ----------
    explainer : Explainer
    X : array-like of shape (n_samples, n_features)
    target : int, array-like of shape (n_samples,) or None
    output : {"logit", "probability"}

    Returns
    -------
    ndarray of shape (n_samples, n_features)
    """
    _check_output(output)
    X = explainer._check_X(X)
    t = explainer._targets(target, X)
    return _torch_value_grad(explainer)(X, t, output)[1]


def torch_integrated_gradients(explainer: Explainer, X, target=None, output: str = "logit",
                               baseline=None, steps: int = 128, *, rtol: float | None = None,
                               max_steps: int = 16384) -> IntegratedGradients:
    """:meth:`Explainer.integrated_gradients` with autograd gradients on the same path points.

    Parameters
    ----------
    explainer : Explainer
    X : array-like of shape (n_samples, n_features)
    target : int, array-like of shape (n_samples,) or None
    output : {"logit", "probability"}
    baseline : float, array-like of shape (n_features,) or (n_samples, n_features), optional
    steps : int
    rtol : float, optional
    max_steps : int

    Returns
    -------
    IntegratedGradients
    """
    _check_output(output)
    X = explainer._check_X(X)
    t = explainer._targets(target, X)
    b = explainer._baseline(baseline, X)
    return _integrate(_torch_value_grad(explainer), X, t, output, b,
                      *_check_steps(steps, rtol, max_steps))


__all__ = [
    "OUTPUTS",
    "Explainer",
    "FlipStep",
    "IntegratedGradients",
    "PartialDependence",
    "ProbabilitySurface",
    "torch_input_gradient",
    "torch_integrated_gradients",
]
