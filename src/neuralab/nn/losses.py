"""Softmax cross-entropy on logits, cross-entropy of probabilities, mean squared error, penalties.

The lecture's loss is the mean cross-entropy over the batch plus
``0.5 * reg * sum(W_i ** 2)`` over the weight matrices (not the biases), whose
gradient is ``reg * W_i``. Other texts write ``reg * sum W^2``; neuralab keeps the
lecture's one-half so that the gradient is exactly ``reg * W``.
"""

from __future__ import annotations

import copy

import numpy as np

from neuralab import NeuralabError
from neuralab.nn.kernels import add_scaled, sum_of_squares
from neuralab.nn.module import Parameter, work_buffer

REDUCTIONS = ("mean", "sum", "none")

#: The smallest probability :func:`cross_entropy` takes the log of: a true class given
#: probability 0 (or one that underflowed to 0) costs -log(1e-15) = 34.5, not infinity.
#: 1e-15 is the clipping constant scikit-learn's ``log_loss`` long used.
PROB_FLOOR = 1e-15


def _row_reduce(ufunc, a: np.ndarray, out: np.ndarray) -> np.ndarray:
    """``ufunc.reduce(a, axis=1)`` into ``out``, column by column when rows are short.

    numpy's reduction along short rows costs several times more than a few
    whole-column operations, and logits have only K columns.
    """
    if a.shape[1] > 16:
        return ufunc.reduce(a, axis=1, out=out)
    np.copyto(out, a[:, 0])
    for k in range(1, a.shape[1]):
        ufunc(out, a[:, k], out=out)
    return out


def softmax(scores: np.ndarray) -> np.ndarray:
    """Row-wise softmax of logits, stable for any finite input.

    >>> softmax(np.array([[1000.0, 1000.0]]))
    array([[0.5, 0.5]])
    """
    # subtract the row max before exp so large logits cannot overflow
    shifted = scores - scores.max(axis=1, keepdims=True)
    e = np.exp(shifted)
    return e / e.sum(axis=1, keepdims=True)


def _check_reduction(reduction: str) -> None:
    if reduction not in REDUCTIONS:
        raise NeuralabError(f"reduction must be one of {', '.join(REDUCTIONS)}; got {reduction!r}")


def cross_entropy(probs: np.ndarray, y: np.ndarray, *, sample_weight=None,
                  reduction: str = "mean"):
    """Cross-entropy of predicted probabilities: -log p_y, with p_y floored at :data:`PROB_FLOOR`.

    The one place neuralab takes the log of a probability; the training loss works
    on logits instead (:class:`SoftmaxCrossEntropy`, which needs no floor).

    Parameters
    ----------
    probs : ndarray of shape (n_samples, n_classes)
        Class probabilities; values above 1 count as 1.
    y : ndarray of shape (n_samples,)
        Class indices in 0..n_classes-1.
    sample_weight : ndarray of shape (n_samples,), optional
        With weights the mean is ``sum(w * L) / sum(w)``.
    reduction : {"mean", "sum", "none"}, default="mean"
        ``"none"`` returns the loss of each sample.

    Returns
    -------
    float, or ndarray of shape (n_samples,) for ``reduction="none"``

    Examples
    --------
    >>> round(cross_entropy(np.array([[0.5, 0.5], [0.25, 0.75]]), np.array([0, 1])), 4)
    0.4904
    >>> cross_entropy(np.array([[1.0, 0.0]]), np.array([1]), reduction="none").round(4)
    array([34.5388])
    """
    _check_reduction(reduction)
    y = np.asarray(y)
    p = np.clip(np.asarray(probs)[np.arange(len(y)), y], PROB_FLOOR, 1.0)
    losses = -np.log(p)
    if reduction == "none":
        return losses
    if sample_weight is not None:
        w = np.asarray(sample_weight, dtype=np.float64)
        total = float(np.dot(w, losses))
        return total / float(w.sum()) if reduction == "mean" else total
    return float(np.mean(losses)) if reduction == "mean" else float(np.sum(losses))


class SoftmaxCrossEntropy:
    """L = -log softmax(u)_y, reduced over the batch.

    Args:
        reduction: ``"mean"`` (default, the lecture's), ``"sum"`` or ``"none"``.
        class_weight: optional weights per class, shape (K,). With weights the
            mean is ``sum(w_y * L) / sum(w_y)``, as ``torch.nn.CrossEntropyLoss``.

    Shape:
        scores: (B, K) logits. y: (B,) integer labels in 0..K-1.
        Output: a float (mean, sum) or (B,) (none).

    Attributes (after forward and backward):
        scores: the logits u.
        probs: softmax(u), (B, K).
        losses: -log probs[y] per example, (B,).
        dscores: dL/du, (B, K); for the mean, ``(probs - onehot(y)) / B``.

    Example:
        >>> loss = SoftmaxCrossEntropy()
        >>> round(float(loss.forward(np.zeros((4, 3)), np.array([0, 1, 2, 0]))), 4)
        1.0986
    """

    def __init__(self, *, reduction: str = "mean", class_weight=None) -> None:
        _check_reduction(reduction)
        self.reduction = reduction
        if class_weight is not None:
            class_weight = np.asarray(class_weight, dtype=np.float64)
            if class_weight.ndim != 1 or not np.all(np.isfinite(class_weight)) or np.any(
                class_weight < 0
            ):
                raise NeuralabError(
                    "class_weight must be a 1-D array of finite non-negative numbers, "
                    f"got {class_weight.tolist()!r}"
                )
        self.class_weight = class_weight
        self._bufs: dict[str, np.ndarray] = {}

    def _buffer(self, key: str, shape, dtype) -> np.ndarray:
        return work_buffer(self._bufs, key, shape, dtype)

    def twin(self) -> SoftmaxCrossEntropy:
        """The same loss with work arrays of its own (see :meth:`Module.twin`)."""
        twin = copy.copy(self)
        twin._bufs = {}
        return twin

    def _check(self, scores: np.ndarray, y: np.ndarray) -> None:
        if scores.ndim != 2 or y.shape != (scores.shape[0],):
            raise NeuralabError(
                f"scores must be (B, K) and y (B,); got scores {scores.shape} and y {y.shape}"
            )
        K = scores.shape[1]
        if y.size and (y.min() < 0 or y.max() >= K):
            raise NeuralabError(f"labels y must lie in 0..{K - 1}, got values {np.unique(y).tolist()}")
        if self.class_weight is not None and self.class_weight.shape != (K,):
            raise NeuralabError(
                f"class_weight must have one weight per class ({K}), got {self.class_weight.shape[0]}"
            )

    def forward(self, scores: np.ndarray, y: np.ndarray):
        y = np.asarray(y)
        self._check(scores, y)
        B, K = scores.shape
        dtype = scores.dtype
        self.scores, self.y = scores, y
        # subtract the row max before exp so large logits cannot overflow
        rowmax = _row_reduce(np.maximum, scores, self._buffer("rowmax", (B,), dtype))
        shifted = self._buffer("shifted", (B, K), dtype)
        np.subtract(scores, rowmax[:, None], out=shifted)
        probs = self._buffer("probs", (B, K), dtype)
        np.exp(shifted, out=probs)
        sums = _row_reduce(np.add, probs, self._buffer("sums", (B,), dtype))
        probs /= sums[:, None]
        self.probs = probs
        self._flat = np.arange(B) * K + y
        # -log softmax(u)_y = log(sum exp(shifted)) - shifted_y: no log(0) for tiny probs
        losses = np.log(sums) - shifted.reshape(-1)[self._flat]
        self.losses = losses
        self._w = None if self.class_weight is None else self.class_weight.astype(dtype)[y]
        return self._reduce(losses, self._w)

    def reduce(self, losses: np.ndarray, y: np.ndarray):
        """The loss of a batch from its examples' losses, as :meth:`forward` returns it.

        For a data set scored in blocks of rows: the losses of all blocks, side by
        side, give the same number as one forward pass over the whole set.
        """
        w = None if self.class_weight is None else self.class_weight.astype(losses.dtype)[y]
        return self._reduce(losses, w)

    def _reduce(self, losses: np.ndarray, w: np.ndarray | None):
        if self.reduction == "none":
            return losses
        if w is not None:
            total = np.dot(w, losses)
            return total / w.sum() if self.reduction == "mean" else total
        total = losses.sum()
        return total / len(losses) if self.reduction == "mean" else total

    def backward(self, grad_out=None) -> np.ndarray:
        """dL/dscores; ``grad_out`` (shape (B,)) is needed only for reduction ``none``."""
        B, K = self.probs.shape
        dscores = self._buffer("dscores", (B, K), self.probs.dtype)
        np.copyto(dscores, self.probs)
        flat = dscores.reshape(-1)
        flat[self._flat] -= 1
        if self.reduction == "none":
            if grad_out is None:
                raise NeuralabError("backward of reduction 'none' needs grad_out of shape (B,)")
            scale = np.asarray(grad_out, dtype=dscores.dtype)
            if self.class_weight is not None:
                scale = scale * self._w
            dscores *= scale[:, None]
        elif self.class_weight is not None:
            w = self._w / self._w.sum() if self.reduction == "mean" else self._w
            dscores *= w[:, None]
        elif self.reduction == "mean":
            dscores *= 1.0 / B
        self.dscores = dscores
        return dscores

    def __repr__(self) -> str:
        w = "" if self.class_weight is None else f", class_weight={self.class_weight.tolist()}"
        return f"SoftmaxCrossEntropy(reduction={self.reduction}{w})"


class L2Penalty:
    """0.5 * reg * sum over the weight matrices of W^2; its gradient is reg * W.

    Example:
        >>> W = Parameter(np.ones((2, 2)), "W1")
        >>> L2Penalty(0.1).forward([W])
        0.2
    """

    def __init__(self, reg: float) -> None:
        if not np.isfinite(reg) or reg < 0:
            raise NeuralabError(f"reg must be a finite number >= 0, got {reg!r}")
        self.reg = float(reg)
        self._tmp: dict[int, np.ndarray] = {}

    def forward(self, weights: list[Parameter]) -> float:
        if self.reg == 0:
            return 0.0
        return 0.5 * self.reg * float(sum(sum_of_squares(w.data) for w in weights))

    def backward(self, weights: list[Parameter]) -> None:
        """Add reg * W to each weight's gradient (the lecture's ``dW += reg * W``)."""
        if self.reg == 0:
            return
        for w in weights:
            # reg * W through a kept buffer: no new array each step (784 x 100 is 313 KB);
            # a wide layer's weights in one pass (see neuralab.nn.kernels)
            tmp = work_buffer(self._tmp, id(w), w.data.shape, w.data.dtype)
            add_scaled(w.grad, self.reg, w.data, tmp)

    def __repr__(self) -> str:
        return f"L2Penalty(reg={self.reg})"


class L1Penalty:
    """l1 * sum over the weight matrices of |W|; its subgradient is l1 * sign(W) (0 at 0).

    Beside the lecture's L2 penalty: where L2 shrinks every weight in proportion,
    L1 pulls each by the same amount, so that weights with little use reach zero.

    Example:
        >>> W = Parameter(np.array([[1.0, -2.0], [0.0, 0.5]]), "W1")
        >>> L1Penalty(0.5).forward([W])
        1.75
    """

    def __init__(self, l1: float) -> None:
        if not np.isfinite(l1) or l1 < 0:
            raise NeuralabError(f"l1 must be a finite number >= 0, got {l1!r}")
        self.l1 = float(l1)
        self._tmp: dict[int, np.ndarray] = {}

    def forward(self, weights: list[Parameter]) -> float:
        if self.l1 == 0:
            return 0.0
        return self.l1 * float(sum(np.abs(w.data).sum() for w in weights))

    def backward(self, weights: list[Parameter]) -> None:
        """Add l1 * sign(W) to each weight's gradient (torch's subgradient of |W|: 0 at 0)."""
        if self.l1 == 0:
            return
        for w in weights:
            tmp = work_buffer(self._tmp, id(w), w.data.shape, w.data.dtype)
            np.sign(w.data, out=tmp)
            tmp *= self.l1
            w.grad += tmp

    def __repr__(self) -> str:
        return f"L1Penalty(l1={self.l1})"


class MeanSquaredError:
    """L = mean over the batch of (u - y)^2: the regression loss, on one linear output.

    Regression in neuralab has one numeric target per example and a network whose
    last layer is linear with width 1 (no softmax): its output u is the prediction.
    The training objective adds the same penalties as classification,
    ``0.5 * reg * sum W^2`` and ``l1 * sum |W|``. For the mean,
    ``dL/du = 2 (u - y) / B``.

    Args:
        reduction: ``"mean"`` (default), ``"sum"`` or ``"none"``.

    Shape:
        outputs: (B, 1) (or (B,)). y: (B,) numbers (or (B, 1)).
        Output: a float (mean, sum) or (B,) (none).

    Attributes (after forward and backward):
        outputs: u, (B, 1).
        losses: (u - y)^2 per example, (B,).
        dscores: dL/du, (B, 1).

    Example:
        >>> loss = MeanSquaredError()
        >>> float(loss.forward(np.array([[1.0], [3.0]]), np.array([0.0, 1.0])))
        2.5
        >>> loss.backward().ravel().tolist()
        [1.0, 2.0]
    """

    def __init__(self, *, reduction: str = "mean") -> None:
        _check_reduction(reduction)
        self.reduction = reduction

    def forward(self, outputs: np.ndarray, y: np.ndarray):
        outputs = np.asarray(outputs)
        y = np.asarray(y)
        B = outputs.shape[0]
        if outputs.reshape(B, -1).shape[1] != 1 or y.size != B:
            raise NeuralabError(f"outputs must be (B, 1) and y (B,); got outputs {outputs.shape} "
                                f"and y {y.shape}")
        self.outputs = outputs.reshape(B, 1)
        self.diff = self.outputs[:, 0] - y.reshape(B).astype(outputs.dtype, copy=False)
        self.losses = self.diff * self.diff
        return self.reduce(self.losses)

    def twin(self) -> MeanSquaredError:
        """The same loss, to keep its own last pass (see :meth:`Module.twin`)."""
        return copy.copy(self)

    def reduce(self, losses: np.ndarray, y=None):
        """The loss of a batch from its examples' losses, as :meth:`forward` returns it
        (``y`` is not needed; it is there to match :meth:`SoftmaxCrossEntropy.reduce`)."""
        if self.reduction == "none":
            return losses
        total = losses.sum()
        return total / max(len(losses), 1) if self.reduction == "mean" else total

    def backward(self, grad_out=None) -> np.ndarray:
        """dL/du, (B, 1): ``2 (u - y) / B`` for the mean; ``grad_out`` (B,) for ``none``."""
        B = self.diff.shape[0]
        d = 2.0 * self.diff
        if self.reduction == "none":
            if grad_out is None:
                raise NeuralabError("backward of reduction 'none' needs grad_out of shape (B,)")
            d = d * np.asarray(grad_out, dtype=d.dtype)
        elif self.reduction == "mean":
            d = d / max(B, 1)
        self.dscores = d.reshape(B, 1).astype(self.outputs.dtype, copy=False)
        return self.dscores

    def __repr__(self) -> str:
        return f"MeanSquaredError(reduction={self.reduction})"
