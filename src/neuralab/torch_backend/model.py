"""``TorchMLP``: the engine's MLP as a ``torch.nn.Module``, and weight conversion."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from neuralab import NeuralabError
from neuralab.config import SettingError, check
from neuralab.nn.activations import ACTIVATIONS, LeakyReLU
from neuralab.nn.models import MLP, check_sizes

TORCH_DTYPES = {"float64": torch.float64, "float32": torch.float32}


def resolve_device(device: str = "auto") -> torch.device:
    """``auto`` picks CUDA where there is a GPU, else the CPU; ``cuda`` without one is an error."""
    check("device", device)  # a direct call; settings that came through config are already checked
    if device == "cuda" and not torch.cuda.is_available():
        raise SettingError("device", "device 'cuda' was asked for but no CUDA GPU is available; "
                                     "use device auto or cpu", device)
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def gpu_count() -> int:
    """How many CUDA GPUs torch sees (0 without CUDA)."""
    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def _activation(name: str) -> nn.Module:
    if name not in ACTIVATIONS:
        raise NeuralabError(f"activation must be one of {', '.join(ACTIVATIONS)}; got {name!r}")
    return {
        "relu": nn.ReLU,
        "tanh": nn.Tanh,
        "sigmoid": nn.Sigmoid,
        "leaky_relu": lambda: nn.LeakyReLU(LeakyReLU().negative_slope),
        "identity": nn.Identity,
    }[name]()


class TorchMLP(nn.Module):
    """The engine's MLP in ``torch.nn``: Linear layers with an activation after each hidden one.

    Args:
        sizes: widths ``[d_0, ..., d_L]``, as for :class:`neuralab.nn.MLP`.
        activation: the same names as the engine's.

    Shape:
        Input: (B, d_0). Output: (B, d_L) logits.

    Attributes:
        linears: the ``nn.Linear`` layers; ``linears[i - 1].weight`` is W_i
            transposed, torch's (d_out, d_in) layout.

    Example:
        >>> TorchMLP([2, 100, 3])
        TorchMLP(2 -> 100 -> 3, activation=relu)
    """

    def __init__(self, sizes: Sequence[int], *, activation: str = "relu") -> None:
        super().__init__()
        self.sizes = check_sizes(sizes)
        self.activation = activation
        self.linears = nn.ModuleList(
            nn.Linear(a, b) for a, b in zip(self.sizes[:-1], self.sizes[1:])
        )
        self.acts = nn.ModuleList(_activation(activation) for _ in self.linears[:-1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for linear, act in zip(self.linears, self.acts):
            x = act(linear(x))
        return self.linears[-1](x)

    def weights(self) -> list[torch.Tensor]:
        """W1..WL (what the L2 penalty covers; not the biases)."""
        return [linear.weight for linear in self.linears]

    def __repr__(self) -> str:
        return f"TorchMLP({' -> '.join(map(str, self.sizes))}, activation={self.activation})"


def lecture_state(model: TorchMLP) -> dict[str, np.ndarray]:
    """W1, b1, ..., WL, bL as numpy arrays in the lecture's layout (W_i of shape (d_in, d_out))."""
    state = {}
    for i, linear in enumerate(model.linears, start=1):
        state[f"W{i}"] = linear.weight.detach().cpu().numpy().T.copy()
        state[f"b{i}"] = linear.bias.detach().cpu().numpy().copy()
    return state


def load_lecture_state(model: TorchMLP, state: dict[str, np.ndarray]) -> None:
    """Copy lecture-layout arrays into the torch model (transposing each W)."""
    expected = {f"{k}{i}" for i in range(1, len(model.linears) + 1) for k in "Wb"}
    if set(state) != expected:
        raise NeuralabError(f"state must hold exactly the tensors {sorted(expected)}, "
                            f"got {sorted(state)}")
    with torch.no_grad():
        for i, linear in enumerate(model.linears, start=1):
            W, b = np.asarray(state[f"W{i}"]), np.asarray(state[f"b{i}"])
            if W.shape != (linear.in_features, linear.out_features) or b.shape != (linear.out_features,):
                raise NeuralabError(
                    f"tensor W{i} must have shape {(linear.in_features, linear.out_features)} and "
                    f"b{i} {(linear.out_features,)}; got {W.shape} and {b.shape}"
                )
            linear.weight.copy_(torch.from_numpy(np.ascontiguousarray(W.T)))
            linear.bias.copy_(torch.from_numpy(b))


def from_engine(mlp: MLP, *, device: str | torch.device = "cpu") -> TorchMLP:
    """A TorchMLP with the engine model's sizes, activation, dtype and weights."""
    model = TorchMLP(mlp.sizes, activation=mlp.activation)
    model.to(dtype=TORCH_DTYPES[mlp.dtype.name])
    load_lecture_state(model, mlp.state_dict())
    return model.to(device)


def to_engine(model: TorchMLP, *, dtype: str | None = None) -> MLP:
    """An engine MLP with the torch model's sizes, activation and weights."""
    if dtype is None:
        dtype = "float32" if model.linears[0].weight.dtype == torch.float32 else "float64"
    mlp = MLP(model.sizes, activation=model.activation, dtype=dtype)
    mlp.load_state_dict(lecture_state(model))
    return mlp
