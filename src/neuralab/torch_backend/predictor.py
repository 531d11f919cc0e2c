"""A checkpoint in the PyTorch twin: the probability function a Predictor wraps."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from neuralab.torch_backend.model import TorchMLP, load_lecture_state, resolve_device


def torch_proba(state: dict[str, np.ndarray], meta: dict, *,
                device: str = "cpu") -> Callable[[np.ndarray], np.ndarray]:
    """``proba(X)``: softmax of the twin loaded with ``state`` (lecture layout), as NumPy.

    For a regression model (``meta["task"] == "regression"``) it returns the
    one output (n, 1) instead.

    ``meta`` is a checked model.json (sizes, activation, dtype).
    """
    model = TorchMLP(meta["sizes"], activation=meta["activation"]).to(
        dtype=torch.float32 if meta["dtype"] == "float32" else torch.float64)
    load_lecture_state(model, state)
    dev = resolve_device(device)
    model.to(dev)
    dtype = model.linears[0].weight.dtype

    regression = meta.get("task") == "regression"

    @torch.no_grad()
    def proba(X: np.ndarray) -> np.ndarray:
        t = torch.as_tensor(np.ascontiguousarray(X), device=dev).to(dtype)
        if regression:  # the one linear output, in the standardised target's units
            return model(t).cpu().numpy()
        return torch.softmax(model(t), dim=1).cpu().numpy()

    return proba
