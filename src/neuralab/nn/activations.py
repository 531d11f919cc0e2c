"""Activation functions o = sigma(z), each with its backward pass.

Every activation keeps its output (or input) from ``forward`` and turns the
gradient with respect to its output into the gradient with respect to its input.
They are elementwise: Input (B, d), Output (B, d).
"""

from __future__ import annotations

import numpy as np

from neuralab import NeuralabError
from neuralab.nn.module import Module


class ReLU(Module):
    """o = max(0, z).

    Backward zeroes the gradient where the output was <= 0, as the lecture's
    ``dhidden[hidden_layer <= 0] = 0``.

    Attributes:
        out: the output of the last forward pass (the lecture's ``hidden_layer``).
        mask: after backward, the boolean array ``out > 0`` that let the gradient through.

    Example:
        >>> ReLU().forward(np.array([[-1.0, 2.0]]))
        array([[0., 2.]])
    """

    name = "relu"

    def forward(self, z: np.ndarray) -> np.ndarray:
        out = self._buffer("out", z.shape, z.dtype)
        # (z + |z|) / 2 is max(0, z) exactly (2z and its half are exact in binary
        # floating point, and z + |z| is +0.0 for z <= 0), in three fast passes
        # where np.maximum's NaN handling makes one slow pass (only -inf, which
        # nothing but a diverged network produces, comes out NaN instead of 0)
        np.abs(z, out=out)
        out += z
        out *= 0.5
        self.out = out
        return out

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        mask = self._buffer("mask", self.out.shape, np.bool_)
        np.greater(self.out, 0, out=mask)
        self.mask = mask
        dz = self._buffer("dz", grad_out.shape, grad_out.dtype)
        np.multiply(grad_out, mask, out=dz)
        return dz

    def __repr__(self) -> str:
        return "ReLU()"


class LeakyReLU(Module):
    """o = z where z > 0, else negative_slope * z.

    Args:
        negative_slope: the slope for z <= 0 (default 0.01).
    """

    name = "leaky_relu"

    def __init__(self, negative_slope: float = 0.01) -> None:
        super().__init__()
        if not np.isfinite(negative_slope) or negative_slope < 0:
            raise NeuralabError(
                f"negative_slope must be a finite number >= 0, got {negative_slope!r}"
            )
        self.negative_slope = float(negative_slope)

    def forward(self, z: np.ndarray) -> np.ndarray:
        self.z = z
        out = self._buffer("out", z.shape, z.dtype)
        np.copyto(out, np.where(z > 0, z, self.negative_slope * z))
        self.out = out
        return out

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        slope = np.where(self.z > 0, 1.0, self.negative_slope).astype(grad_out.dtype)
        return grad_out * slope

    def __repr__(self) -> str:
        return f"LeakyReLU(negative_slope={self.negative_slope})"


class Sigmoid(Module):
    """o = 1 / (1 + exp(-z)); do/dz = o (1 - o)."""

    name = "sigmoid"

    def forward(self, z: np.ndarray) -> np.ndarray:
        out = self._buffer("out", z.shape, z.dtype)
        # 0.5 * (1 + tanh(z / 2)) equals the logistic function and never overflows.
        np.multiply(z, 0.5, out=out)
        np.tanh(out, out=out)
        out += 1
        out *= 0.5
        self.out = out
        return out

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        return grad_out * self.out * (1 - self.out)

    def __repr__(self) -> str:
        return "Sigmoid()"


class Tanh(Module):
    """o = tanh(z); do/dz = 1 - o^2."""

    name = "tanh"

    def forward(self, z: np.ndarray) -> np.ndarray:
        out = self._buffer("out", z.shape, z.dtype)
        np.tanh(z, out=out)
        self.out = out
        return out

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        return grad_out * (1 - self.out * self.out)

    def __repr__(self) -> str:
        return "Tanh()"


class Identity(Module):
    """o = z (a linear network, useful to compare with ReLU)."""

    name = "identity"

    def forward(self, z: np.ndarray) -> np.ndarray:
        self.out = z
        return z

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        return grad_out

    def __repr__(self) -> str:
        return "Identity()"


ACTIVATIONS: dict[str, type[Module]] = {
    cls.name: cls for cls in (ReLU, Tanh, Sigmoid, LeakyReLU, Identity)
}


def get_activation(name: str) -> Module:
    """A new activation module by name.

    >>> get_activation("tanh")
    Tanh()
    >>> get_activation("rellu")
    Traceback (most recent call last):
    ...
    neuralab.NeuralabError: activation must be one of relu, tanh, sigmoid, leaky_relu, identity; got 'rellu'
    """
    try:
        return ACTIVATIONS[name]()
    except (KeyError, TypeError):
        raise NeuralabError(
            f"activation must be one of {', '.join(ACTIVATIONS)}; got {name!r}"
        ) from None
