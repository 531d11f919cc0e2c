"""A checkpoint in the PyTorch twin: the probability function a Predictor wraps."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from neuralab.torch_backend.model import TorchMLP, load_lecture_state, resolve_device


def torch_proba(state: dict[str, np.ndarray], meta: dict, *,
                device: str = "cpu") -> Callable[[np.ndarray], np.ndarray]:
    """``proba(X)``: softmax of the twin loaded with ``state`` (lecture layout), as NumPy.

    ``meta`` is a checked model.json (sizes, activation, dtype).
    """
    model = TorchMLP(meta["sizes"], activation=meta["activation"]).to(
        dtype=torch.float32 if meta["dtype"] == "float32" else torch.float64)
    load_lecture_state(model, state)
    dev = resolve_device(device)
    model.to(dev)
    dtype = model.linears[0].weight.dtype

    @torch.no_grad()
    def proba(X: np.ndarray) -> np.ndarray:
        t = torch.as_tensor(np.ascontiguousarray(X), device=dev).to(dtype)
        return torch.softmax(model(t), dim=1).cpu().numpy()

    return proba
