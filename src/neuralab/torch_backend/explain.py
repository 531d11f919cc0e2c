"""Autograd twins of the explain package: the same gradients, computed by PyTorch.

The engine computes every input gradient and every step of the backward pass by
hand (:mod:`neuralab.explain`); these functions compute the same quantities with
torch autograd on a :func:`~neuralab.torch_backend.from_engine` copy of the
model, so that the explain package can check itself against them:

- :func:`autograd_value_grad`: f = u_c or p_c and df/dx in raw input units, the
  standardisation ``(x - mean) / scale`` being part of the autograd graph (so the
  chain rule through it is checked too, not reused);
- :func:`autograd_backprop`: one forward and backward pass of the mean
  cross-entropy plus the L2 penalty ``0.5 * reg * sum W^2``, every intermediate
  under the slides' names.

Both return NumPy arrays; nothing here keeps a tensor.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F

from neuralab.nn.models import MLP
from neuralab.torch_backend.model import from_engine


def autograd_value_grad(model: MLP, mean, scale) -> Callable[[np.ndarray, np.ndarray, str],
                                                             tuple[np.ndarray, np.ndarray]]:
    """A function ``(X_raw, target, output) -> (f, df/dx)`` by autograd, in float64.

    Parameters
    ----------
    model : MLP
        The engine model; autograd runs on a float64 torch copy of it.
    mean, scale : array-like of shape (n_features,)
        The standardisation the model was trained with, ``z = (x - mean) / scale``.

    Returns
    -------
    callable
        ``value_grad(X, target, output)`` with X of shape (m, n_features) in raw
        units, ``target`` the class index of each row and ``output`` ``"logit"``
        (f = u_c) or ``"probability"`` (f = softmax(u)_c); it returns f of shape
        (m,) and df/dx of shape (m, n_features), one batch in one pass.
    """
    tmodel = from_engine(model).to(torch.float64)
    mean_t = torch.as_tensor(np.asarray(mean, dtype=np.float64))
    scale_t = torch.as_tensor(np.asarray(scale, dtype=np.float64))

    def value_grad(X: np.ndarray, target: np.ndarray, output: str):
        x = torch.tensor(X, dtype=torch.float64, requires_grad=True)
        u = tmodel((x - mean_t) / scale_t)
        if output == "probability":
            u = torch.softmax(u, dim=1)
        f = u.gather(1, torch.as_tensor(target, dtype=torch.long)[:, None])[:, 0]
        (g,) = torch.autograd.grad(f.sum(), x)
        return f.detach().numpy(), g.numpy()

    return value_grad


def autograd_backprop(model: MLP, X: np.ndarray, y: np.ndarray, *,
                      reg: float = 0.0) -> dict[str, np.ndarray]:
    """One forward and backward pass by autograd; every intermediate in the slides' names.

    Parameters
    ----------
    model : MLP
        The engine model; autograd runs on a torch copy of it (same dtype).
    X : ndarray of shape (B, d_0)
        The inputs the model sees, in the model's dtype.
    y : ndarray of int of shape (B,)
    reg : float
        L2 strength; the loss is mean cross-entropy + ``0.5 * reg * sum W^2``.

    Returns
    -------
    dict of str to ndarray
        ``scores``, ``probs``, ``loss``, ``dscores``; for each hidden layer i
        ``z<i>``, ``hidden<i>``, ``dhidden<i>``, ``dz<i>``, ``mask<i>``
        (``hidden<i> > 0``); for each layer ``dW<i>`` (lecture layout,
        (d_{i-1}, d_i)) and ``db<i>``.
    """
    tm = from_engine(model)
    zs, hs = [], []
    h = torch.from_numpy(X)
    L = len(tm.linears)
    for i, linear in enumerate(tm.linears):
        z = linear(h)
        z.retain_grad()
        zs.append(z)
        if i < L - 1:
            h = tm.acts[i](z)
            h.retain_grad()
            hs.append(h)
    loss = F.cross_entropy(zs[-1], torch.from_numpy(y.astype(np.int64)))
    if reg:
        loss = loss + 0.5 * reg * sum((lin.weight * lin.weight).sum() for lin in tm.linears)
    loss.backward()
    ref = {"scores": zs[-1].detach().numpy(),
           "probs": torch.softmax(zs[-1], dim=1).detach().numpy(),
           "loss": np.array(loss.item()), "dscores": zs[-1].grad.numpy()}
    for i in range(1, L):
        ref[f"z{i}"] = zs[i - 1].detach().numpy()
        ref[f"hidden{i}"] = hs[i - 1].detach().numpy()
        ref[f"dhidden{i}"] = hs[i - 1].grad.numpy()
        ref[f"dz{i}"] = zs[i - 1].grad.numpy()
        ref[f"mask{i}"] = hs[i - 1].detach().numpy() > 0
    for i, linear in enumerate(tm.linears, start=1):
        ref[f"dW{i}"] = linear.weight.grad.numpy().T
        ref[f"db{i}"] = linear.bias.grad.numpy()
    return ref


__all__ = ["autograd_backprop", "autograd_value_grad"]
