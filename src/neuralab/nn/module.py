"""Module and Parameter: the engine's building blocks.

A :class:`Parameter` holds a value (``data``) and the gradient of the loss with
respect to it (``grad``), as micrograd and the lecture's ``W.grad`` do. A
:class:`Module` owns parameters and submodules; ``forward`` keeps what
``backward`` needs, and ``backward(grad_out)`` adds into each parameter's
``grad`` (gradients accumulate with ``+=``) and returns the gradient for the
module's input.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator

import numpy as np

from neuralab import NeuralabError

DTYPES = {"float64": np.float64, "float32": np.float32}


def as_dtype(dtype) -> np.dtype:
    """Return the numpy dtype for ``"float32"``/``"float64"`` or a numpy dtype.

    >>> as_dtype("float32")
    dtype('float32')
    """
    try:
        resolved = np.dtype(DTYPES.get(dtype, dtype))
    except TypeError:
        resolved = None
    if resolved not in (np.dtype(np.float64), np.dtype(np.float32)):
        raise NeuralabError(f"dtype must be one of float32, float64; got {dtype!r}")
    return resolved


def work_buffer(store: dict, key, shape: tuple[int, ...], dtype) -> np.ndarray:
    """``store[key]``, an uninitialised array kept between calls; new only when shape or dtype change."""
    buf = store.get(key)
    if buf is None or buf.shape != shape or buf.dtype != dtype:
        buf = store[key] = np.empty(shape, dtype=dtype)
    return buf


class Parameter:
    """A trainable array and its gradient.

    Attributes:
        data: the value, an ndarray updated in place by the optimisers.
        grad: same shape and dtype as ``data``; filled by ``backward`` with ``+=``
            and reset by ``zero_grad()``.
        name: the lecture's name, such as ``"W1"`` or ``"b2"``.
    """

    __slots__ = ("data", "grad", "name")

    def __init__(self, data: np.ndarray, name: str = "") -> None:
        self.data = data
        self.grad = np.zeros_like(data)
        self.name = name

    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    def zero_grad(self) -> None:
        self.grad.fill(0)

    def __repr__(self) -> str:
        return f"Parameter({self.name or '?'}, shape={self.data.shape}, dtype={self.data.dtype})"


class Module:
    """Base class of every layer, activation and model of the engine.

    Subclasses implement ``forward(x)`` and ``backward(grad_out)``. Calling a
    module, ``module(x)``, runs ``forward`` and returns an independent copy; the
    array that ``forward`` itself returns belongs to the module and is reused by
    the next forward pass of the same batch size (that is what makes the engine
    fast), so keep a copy if you need it later.
    """

    def __init__(self) -> None:
        self._buffers: dict[str, np.ndarray] = {}

    def _buffer(self, key: str, shape: tuple[int, ...], dtype) -> np.ndarray:
        """A work array owned by this module, reallocated only when the shape changes."""
        return work_buffer(self._buffers, key, shape, dtype)

    def forward(self, x: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__} does not implement forward")

    def backward(self, grad_out: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__} does not implement backward")

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return np.array(self.forward(x), copy=True)

    def twin(self) -> Module:
        """A copy that computes with this module's parameters (the same arrays) and has work
        arrays of its own: its forward passes leave this module's buffers and kept inputs
        alone. Threads that score blocks of a data set side by side each take one."""
        twin = copy.copy(self)
        twin._buffers = {}
        return twin

    def children(self) -> list[Module]:
        return []

    def own_parameters(self) -> list[Parameter]:
        return []

    def parameters(self) -> list[Parameter]:
        """Every parameter of this module and its children, in forward order."""
        return [p for _, p in self.named_parameters()]

    def named_parameters(self) -> Iterator[tuple[str, Parameter]]:
        for p in self.own_parameters():
            yield p.name, p
        for child in self.children():
            yield from child.named_parameters()

    def zero_grad(self) -> None:
        for p in self.parameters():
            p.zero_grad()

    def state_dict(self) -> dict[str, np.ndarray]:
        """The parameters by name (``W1, b1, ...``), as copies."""
        return {name: p.data.copy() for name, p in self.named_parameters()}

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        """Copy arrays into the parameters; names and shapes must match exactly."""
        own = dict(self.named_parameters())
        missing = sorted(set(own) - set(state))
        extra = sorted(set(state) - set(own))
        if missing or extra:
            raise NeuralabError(
                f"state must hold exactly the tensors {sorted(own)}; "
                f"missing {missing}, unexpected {extra}"
            )
        for name, p in own.items():
            value = np.asarray(state[name])
            if value.shape != p.data.shape:
                raise NeuralabError(
                    f"tensor {name} must have shape {p.data.shape}, got {value.shape}"
                )
            p.data[...] = value
