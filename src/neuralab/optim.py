"""Optimisers for the engine, with the same update rules as ``torch.optim``.

Plain SGD is the lecture's update ``W -= lr * dW``. Momentum, Nesterov, weight
decay and Adam follow ``torch.optim.SGD`` and ``torch.optim.Adam`` operation by
operation, so the PyTorch twin can match the engine to float64 precision.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from neuralab import NeuralabError
from neuralab.nn.kernels import add_scaled
from neuralab.nn.module import Parameter


class Optimizer:
    """Base class: holds the parameters and the learning rate.

    The settings (lr > 0, momentum in [0, 1), weight_decay >= 0) are taken as given:
    they are checked once, where settings enter (the command line, the sweep, the
    playground), and an optimiser trusts them.
    """

    def __init__(self, params: Sequence[Parameter], lr: float) -> None:
        self.params = list(params)
        if not self.params:
            raise NeuralabError("optimizer got an empty parameter list")
        self.lr = float(lr)

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad.fill(0)

    def step(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def state_dict(self) -> tuple[dict[str, np.ndarray], dict]:
        """(tensors by ``slot.param_name``, scalars): what ``--resume`` restores."""
        return {}, {}

    def load_state_dict(self, tensors: dict[str, np.ndarray], scalars: dict) -> None:
        return None

    def _slot_tensors(self, slot: str, arrays) -> dict[str, np.ndarray]:
        return {f"{slot}.{p.name}": a.copy() for p, a in zip(self.params, arrays) if a is not None}

    def _load_slot(self, slot: str, tensors: dict[str, np.ndarray]) -> list[np.ndarray | None]:
        out = []
        for p in self.params:
            a = tensors.get(f"{slot}.{p.name}")
            if a is not None and a.shape != p.data.shape:
                raise NeuralabError(
                    f"optimizer state {slot}.{p.name} must have shape {p.data.shape}, got {a.shape}"
                )
            out.append(None if a is None else a.astype(p.data.dtype))
        return out


class SGD(Optimizer):
    """Stochastic gradient descent: p -= lr * d, with optional momentum and weight decay.

    With weight decay wd, g = grad + wd * p. With momentum mu, the velocity is
    v = g on the first step and v = mu * v + g after; the step uses d = v, or
    d = g + mu * v with Nesterov. Without momentum d = g: the lecture's update.

    Example:
        >>> p = Parameter(np.array([1.0]), "w"); p.grad[:] = 0.5
        >>> SGD([p], lr=0.1).step(); p.data
        array([0.95])
    """

    def __init__(self, params, lr: float = 1.0, *, momentum: float = 0.0,
                 nesterov: bool = False, weight_decay: float = 0.0) -> None:
        super().__init__(params, lr)
        self.momentum = float(momentum)
        self.weight_decay = float(weight_decay)
        if nesterov and self.momentum == 0:
            raise NeuralabError("nesterov needs momentum > 0, got momentum 0")
        self.nesterov = bool(nesterov)
        self.velocity: list[np.ndarray | None] = [None] * len(self.params)
        self._tmp = [np.empty_like(p.data) for p in self.params]

    def step(self) -> None:
        lr, mu, wd = self.lr, self.momentum, self.weight_decay
        for i, p in enumerate(self.params):
            g = p.grad
            if wd:
                g = g + wd * p.data
            if mu:
                v = self.velocity[i]
                if v is None:
                    v = self.velocity[i] = g.copy()
                else:
                    v *= mu
                    v += g
                g = g + mu * v if self.nesterov else v
            # p + (-lr * g), bit for bit p - lr * g; large float32 arrays in one pass
            add_scaled(p.data, -lr, g, self._tmp[i])

    def state_dict(self) -> tuple[dict[str, np.ndarray], dict]:
        return self._slot_tensors("velocity", self.velocity), {}

    def load_state_dict(self, tensors: dict[str, np.ndarray], scalars: dict) -> None:
        if self.momentum:
            self.velocity = self._load_slot("velocity", tensors)

    def __repr__(self) -> str:
        return (f"SGD(lr={self.lr}, momentum={self.momentum}, nesterov={self.nesterov}, "
                f"weight_decay={self.weight_decay})")


class Adam(Optimizer):
    """Adam (Kingma and Ba), as ``torch.optim.Adam``.

    m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2;
    p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps).
    Weight decay adds wd * p to g first (L2, not AdamW). betas and eps are no
    settings of a run, so they are checked here, where they enter.
    """

    def __init__(self, params, lr: float = 1e-3, *, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0) -> None:
        super().__init__(params, lr)
        if len(betas) != 2 or not all(0 <= b < 1 for b in betas):
            raise NeuralabError(f"betas must be two numbers in [0, 1), got {betas!r}")
        if not 0 < eps < math.inf:
            raise NeuralabError(f"eps must be a finite number > 0, got {eps!r}")
        self.beta1, self.beta2 = (float(b) for b in betas)
        self.eps = float(eps)
        self.weight_decay = float(weight_decay)
        self.t = 0
        self.m = [np.zeros_like(p.data) for p in self.params]
        self.v = [np.zeros_like(p.data) for p in self.params]

    def step(self) -> None:
        self.t += 1
        b1, b2, wd = self.beta1, self.beta2, self.weight_decay
        bias1 = 1 - b1 ** self.t
        bias2_sqrt = np.sqrt(1 - b2 ** self.t)
        step_size = self.lr / bias1
        for p, m, v in zip(self.params, self.m, self.v):
            g = p.grad
            if wd:
                g = g + wd * p.data
            m += (1 - b1) * (g - m)  # torch's lerp form of b1 m + (1 - b1) g
            v *= b2
            v += (1 - b2) * (g * g)
            denom = np.sqrt(v) / bias2_sqrt + self.eps
            p.data -= step_size * (m / denom)

    def state_dict(self) -> tuple[dict[str, np.ndarray], dict]:
        return {**self._slot_tensors("m", self.m), **self._slot_tensors("v", self.v)}, {"t": self.t}

    def load_state_dict(self, tensors: dict[str, np.ndarray], scalars: dict) -> None:
        m, v = self._load_slot("m", tensors), self._load_slot("v", tensors)
        if any(a is None for a in m + v):
            return  # no Adam state saved (another optimiser): start Adam afresh
        self.m, self.v, self.t = m, v, int(scalars.get("t", 0))

    def __repr__(self) -> str:
        return (f"Adam(lr={self.lr}, betas=({self.beta1}, {self.beta2}), eps={self.eps}, "
                f"weight_decay={self.weight_decay})")


OPTIMIZERS = ("sgd", "momentum", "nesterov", "adam")


def make_optimizer(name: str, params, *, lr: float, momentum: float = 0.9,
                   weight_decay: float = 0.0) -> Optimizer:
    """Build an optimiser by the command line's name.

    ``sgd`` is the lecture's plain update; ``momentum`` and ``nesterov`` are SGD
    with momentum; ``adam`` is Adam.
    """
    if name == "sgd":
        return SGD(params, lr, weight_decay=weight_decay)
    if name in ("momentum", "nesterov"):
        return SGD(params, lr, momentum=momentum, nesterov=name == "nesterov",
                   weight_decay=weight_decay)
    if name == "adam":
        return Adam(params, lr, weight_decay=weight_decay)
    raise NeuralabError(f"optimizer must be one of {', '.join(OPTIMIZERS)}; got {name!r}")
