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


def backprop_trace(model: MLP, X: np.ndarray, y: np.ndarray, *, reg: float = 0.0) -> list[TraceEntry]:
    """Forward and backward once, in the engine and in torch autograd; every intermediate paired.

    The model is used as it is (its weights are not changed); X are the inputs the
    model sees (already standardised if the run standardises).
    """
    import torch
    import torch.nn.functional as F

    from neuralab.torch_backend import from_engine

    X = np.asarray(X, dtype=model.dtype)
    y = np.asarray(y)
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

    tm = from_engine(model)
    xt = torch.from_numpy(X)
    zs, hs = [], []
    h = xt
    L = len(tm.linears)
    for i, linear in enumerate(tm.linears):
        z = linear(h)
        z.retain_grad()
        zs.append(z)
        if i < L - 1:
            h = tm.acts[i](z)
            h.retain_grad()
            hs.append(h)
    tloss = F.cross_entropy(zs[-1], torch.from_numpy(y.astype(np.int64)))
    if reg:
        tloss = tloss + 0.5 * reg * sum((lin.weight * lin.weight).sum() for lin in tm.linears)
    tloss.backward()
    ref = {"X": X, "scores": zs[-1].detach().numpy(),
           "probs": torch.softmax(zs[-1], dim=1).detach().numpy(),
           "loss": np.array(tloss.item()), "dscores": zs[-1].grad.numpy()}
    for i in range(1, L):
        ref[f"z{i}"] = zs[i - 1].detach().numpy()
        ref[f"hidden{i}"] = hs[i - 1].detach().numpy()
        ref[f"dhidden{i}"] = hs[i - 1].grad.numpy()
        ref[f"dz{i}"] = zs[i - 1].grad.numpy()
        ref[f"mask{i}"] = hs[i - 1].detach().numpy() > 0
    for i, linear in enumerate(tm.linears, start=1):
        ref[f"dW{i}"] = linear.weight.grad.numpy().T
        ref[f"db{i}"] = linear.bias.grad.numpy()

    order = ["X"]
    for i in range(1, L):
        order += [f"z{i}", f"hidden{i}"]
    order += ["scores", "probs", "loss", "dscores"]
    for i in range(L, 0, -1):
        order += [f"dW{i}", f"db{i}"]
        if i > 1:
            order += [f"dhidden{i - 1}", f"mask{i - 1}", f"dz{i - 1}"]
    entries = []
    for name in order:
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
