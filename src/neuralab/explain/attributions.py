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
check (:mod:`neuralab.torch_backend.explain`; torch is loaded only when they run).

The what-if half of :class:`Explainer` (flip step, partial dependence,
probability surface) is :class:`~neuralab.explain.whatif.WhatIfMixin`; the path
integrals and the blocking are :mod:`neuralab.explain.gradients`.

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

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from neuralab import NeuralabError
from neuralab.data.preprocess import Standardizer
from neuralab.explain import common
from neuralab.explain.gradients import (
    OUTPUTS,
    IntegratedGradients,
    ValueGrad,
    blocked,
    check_output,
    check_steps,
    integrate,
    output_and_seed,
)
from neuralab.explain.whatif import FlipStep, PartialDependence, ProbabilitySurface, WhatIfMixin
from neuralab.nn.losses import softmax
from neuralab.nn.models import MLP


class Explainer(WhatIfMixin):
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
        #: A run with feature inputs is explained over them: ``expansion`` names them
        #: (None: the model's inputs are the data's columns, ``raw_names``).
        self.expansion: tuple[str, ...] | None = None
        self.raw_names = self.feature_names

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
        from neuralab.runs import read_model

        state, meta, scaler = read_model(run_dir)  # every part of the checkpoint checked
        model = MLP(meta["sizes"], activation=meta["activation"], dtype=dtype)
        model.load_state_dict(state)
        expansion = scaler.features
        if expansion is not None:  # explained over the feature inputs (x1^2, sin(x1), ...)
            scaler = Standardizer(mean=scaler.mean, scale=scaler.scale)
        # a regression model's one output is named by its target
        out = cls(model, scaler, classes=meta["classes"] or [meta.get("target") or "y"],
                  feature_names=meta["feature_names"] if expansion is None else expansion)
        out.expansion, out.raw_names = expansion, list(meta["feature_names"])
        return out

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
        block = common.BLOCK_ROWS
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
        return self._backprop(X, lambda u: output_and_seed(u, target, output))

    def _value_grad(self, X: np.ndarray, target: np.ndarray, output: str):
        """The engine's ``ValueGrad``: f and df/dx of many rows, in blocks."""
        return blocked(self._engine_block, X, target, output)

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
        check_output(output)
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
        return self._input_gradient(self._value_grad, X, target, output)

    def _input_gradient(self, value_grad: ValueGrad, X, target, output: str) -> np.ndarray:
        """:meth:`input_gradient` by any ``ValueGrad`` (the engine's, or autograd's)."""
        check_output(output)
        X = self._check_X(X)
        t = self._targets(target, X)
        with self._grads_kept():
            return value_grad(X, t, output)[1]

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
        passes of at most about :data:`~neuralab.explain.common.BLOCK_ROWS` rows. The attributions add up to
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
        return self._integrated_gradients(self._value_grad, X, target, output, baseline,
                                          steps, rtol, max_steps)

    def _integrated_gradients(self, value_grad: ValueGrad, X, target, output, baseline,
                              steps, rtol, max_steps) -> IntegratedGradients:
        """:meth:`integrated_gradients` by any ``ValueGrad`` (the engine's, or autograd's)."""
        check_output(output)
        X = self._check_X(X)
        t = self._targets(target, X)
        b = self._baseline(baseline, X)
        steps, rtol, max_steps = check_steps(steps, rtol, max_steps)
        with self._grads_kept():
            return integrate(value_grad, X, t, output, b, steps, rtol, max_steps)


# --------------------------------------------------------------------------- torch parity


def _torch_value_grad(explainer: Explainer) -> ValueGrad:
    """A ``ValueGrad`` by torch autograd on ``from_engine(model)`` in float64, in blocks.

    The standardisation is part of the autograd graph, so the chain rule through
    ``(x - mean) / scale`` is checked too, not reused. Importing
    :mod:`neuralab.torch_backend.explain` imports torch, so it happens here only.
    """
    from neuralab.torch_backend.explain import autograd_value_grad

    value_grad = autograd_value_grad(explainer.model, explainer.scaler.mean, explainer.scaler.scale)
    return lambda X, target, output: blocked(value_grad, X, target, output)


def torch_input_gradient(explainer: Explainer, X, target=None, output: str = "logit") -> np.ndarray:
    """:meth:`Explainer.input_gradient` computed by PyTorch autograd instead (float64).

    Parameters
    ----------
    explainer : Explainer
    X, target, output
        As for :meth:`Explainer.input_gradient`.

    Returns
    -------
    ndarray of shape (n_samples, n_features)
    """
    return explainer._input_gradient(_torch_value_grad(explainer), X, target, output)


def torch_integrated_gradients(explainer: Explainer, X, target=None, output: str = "logit",
                               baseline=None, steps: int = 128, *, rtol: float | None = None,
                               max_steps: int = 16384) -> IntegratedGradients:
    """:meth:`Explainer.integrated_gradients` with autograd gradients on the same path points.

    Parameters
    ----------
    explainer : Explainer
    X, target, output, baseline, steps, rtol, max_steps
        As for :meth:`Explainer.integrated_gradients`.

    Returns
    -------
    IntegratedGradients
    """
    return explainer._integrated_gradients(_torch_value_grad(explainer), X, target, output,
                                           baseline, steps, rtol, max_steps)


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
