"""One iteration of the backward pass, step by step, checked against torch autograd.

:func:`backprop_trace` runs a forward and a backward pass of an engine model on a
small batch and returns every intermediate under the slides' names, each paired
with the same quantity computed by PyTorch's autograd on a copy of the model.
For the lecture's 2-layer net the names read as on the slides: ``scores``,
``probs``, ``dscores``, ``dW2``, ``db2``, ``dhidden1`` (the slides' ``dhidden``),
``mask1`` (``hidden_layer > 0``), ``dz1`` (``dhidden`` after the ReLU zeroes it),
``dW1`` and ``db1`` (the slides' ``dW`` and ``db``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from neuralab.nn.losses import L2Penalty, SoftmaxCrossEntropy
from neuralab.nn.models import MLP

#: What each name means, in the lecture's words.
MEANINGS = {
    "X": "the input batch o_0",
    "z": "pre-activation z_i = o_{i-1} W_i + b_i",
    "hidden": "hidden output o_i = sigma(z_i)",
    "scores": "logits u = o_{L-1} W_L + b_L",
    "probs": "softmax(u)",
    "loss": "mean cross-entropy + 0.5 reg sum W^2",
    "dscores": "dL/du = (probs - onehot(y)) / B",
    "dhidden": "dL/do_i = dz_{i+1} W_{i+1}^T",
    "mask": "where the ReLU let the gradient through (o_i > 0)",
    "dz": "dL/dz_i: dhidden through the activation",
    "dW": "dL/dW_i = o_{i-1}^T dz_i + reg W_i",
    "db": "dL/db_i: column sums of dz_i",
}


@dataclass
class TraceEntry:
    """One intermediate: the engine's value, autograd's, and how far apart they are."""

    name: str
    meaning: str
    engine: np.ndarray
    torch: np.ndarray
    max_abs_diff: float

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(np.shape(self.engine))

    @property
    def max_rel_diff(self) -> float:
        scale = float(np.max(np.abs(self.torch), initial=0.0))
        return self.max_abs_diff / scale if scale > 0 else self.max_abs_diff

    def agrees(self, tol: float = 1e-10) -> bool:
        return self.max_rel_diff <= tol


def _meaning(name: str) -> str:
    stem = name.rstrip("0123456789")
    return MEANINGS.get(stem, "")


def engine_backprop(model: MLP, X: np.ndarray, y: np.ndarray, *,
                    reg: float = 0.0) -> dict[str, np.ndarray]:
    """One forward and backward pass of the engine; every intermediate in the slides' names.

    The loss is the mean cross-entropy plus ``0.5 * reg * sum W^2``; the
    parameters' ``.grad`` hold its gradient afterwards (the weights are unchanged).
    Returns copies of the model's intermediates (``z<i>``, ``hidden<i>``,
    ``mask<i>``, ``dhidden<i>``, ``dz<i>``, ``dW<i>``, ``db<i>``, ...) and
    ``probs``, ``dscores`` and ``loss``.
    """
    loss_fn, penalty = SoftmaxCrossEntropy(), L2Penalty(reg)
    model.zero_grad()
    scores = model.forward(X)
    loss = float(loss_fn.forward(scores, y)) + penalty.forward(model.weights())
    model.backward(loss_fn.backward())
    penalty.backward(model.weights())
    got = {k: np.array(v, copy=True) for k, v in model.intermediates().items()}
    got["probs"] = loss_fn.probs.copy()
    got["dscores"] = loss_fn.dscores.copy()
    got["loss"] = np.array(loss)
    return got


def trace_order(depth: int) -> list[str]:
    """The names in the order of the pass: forward up to the loss, then backward down to dW1."""
    order = ["X"]
    for i in range(1, depth):
        order += [f"z{i}", f"hidden{i}"]
    order += ["scores", "probs", "loss", "dscores"]
    for i in range(depth, 0, -1):
        order += [f"dW{i}", f"db{i}"]
        if i > 1:
            order += [f"dhidden{i - 1}", f"mask{i - 1}", f"dz{i - 1}"]
    return order


def backprop_trace(model: MLP, X: np.ndarray, y: np.ndarray, *, reg: float = 0.0) -> list[TraceEntry]:
    """Forward and backward once, in the engine and in torch autograd; every intermediate paired.

    The model is used as it is (its weights are not changed); X are the inputs the
    model sees (already standardised if the run standardises). The autograd side
    is :func:`neuralab.torch_backend.explain.autograd_backprop`, so this function
    imports torch.
    """
    from neuralab.torch_backend.explain import autograd_backprop

    X = np.asarray(X, dtype=model.dtype)
    y = np.asarray(y)
    got = engine_backprop(model, X, y, reg=reg)
    ref = {"X": X, **autograd_backprop(model, X, y, reg=reg)}
    entries = []
    for name in trace_order(model.depth):
        if name not in got or name not in ref:
            continue  # a non-ReLU activation has no mask
        a, b = np.asarray(got[name]), np.asarray(ref[name])
        diff = float(np.max(np.abs(a.astype(float) - b.astype(float)), initial=0.0))
        entries.append(TraceEntry(name, _meaning(name), a, b, diff))
    return entries


def format_values(a: np.ndarray, n: int = 4) -> str:
    """The first few values of an array, for a table cell."""
    flat = np.asarray(a).reshape(-1)
    if flat.dtype == bool:
        body = " ".join("T" if v else "F" for v in flat[:n])
    else:
        body = " ".join(f"{v + 0.0:.4g}" for v in flat[:n])  # + 0.0 prints -0.0 as 0
    return body + (" ..." if flat.size > n else "")
