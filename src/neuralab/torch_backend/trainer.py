"""Training the PyTorch way, behind the same interface as the engine's trainer.

One step is the slides' ``optimizer.zero_grad()``, the loss (cross-entropy, or for
regression the mean squared error of the one output, plus the same
``0.5 * reg * sum W^2`` penalty), ``loss.backward()`` and
``optimizer.step()`` with ``torch.optim.SGD`` or ``Adam``; the ``manual``
optimiser is the slides' by-hand update ``p.data.sub_(p.grad * lr)``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from neuralab import NeuralabError
from neuralab.nn.models import MLP
from neuralab.optim import OPTIMIZERS
from neuralab.torch_backend.model import TORCH_DTYPES, TorchMLP, from_engine, lecture_state, load_lecture_state, resolve_device

TORCH_OPTIMIZERS = (*OPTIMIZERS, "manual")


class TorchTrainer:
    """Trains a :class:`TorchMLP` on ``CE + 0.5 reg sum W^2 + l1 sum |W|``; the engine's twin.

    Args:
        model: the network, already on ``device`` and in its dtype.
        optimizer: ``"sgd"``, ``"momentum"``, ``"nesterov"``, ``"adam"`` or
            ``"manual"`` (the by-hand ``p.data.sub_(p.grad * lr)``).
        lr, reg, l1, momentum, weight_decay: as for the engine.
        class_weight: optional per-class weights for the cross-entropy.
        task: ``"classification"`` or ``"regression"`` (``F.mse_loss`` of the one
            output: ``mean (u - y)^2``, the engine's :class:`~neuralab.nn.MeanSquaredError`).
    """

    backend = "torch"

    def __init__(self, model: TorchMLP, *, optimizer: str = "sgd", lr: float = 1.0,
                 reg: float = 0.0, l1: float = 0.0, momentum: float = 0.9,
                 weight_decay: float = 0.0, class_weight=None,
                 clip_norm: float | None = None, task: str = "classification") -> None:
        self.model = model
        self.task = task
        if task == "regression" and model.sizes[-1] != 1:
            raise NeuralabError(f"a regression model has one output, got sizes {model.sizes}")
        self.clip_norm = None if clip_norm is None else float(clip_norm)
        self.lr = float(lr)
        self.reg = float(reg)
        self.l1 = float(l1)
        self.optimizer_name = optimizer
        first = model.linears[0].weight
        self.device, self.dtype = first.device, first.dtype
        params = list(model.parameters())
        if optimizer == "sgd":
            self.optimizer = torch.optim.SGD(params, lr=lr, weight_decay=weight_decay)
        elif optimizer in ("momentum", "nesterov"):
            self.optimizer = torch.optim.SGD(params, lr=lr, momentum=momentum,
                                             nesterov=optimizer == "nesterov",
                                             weight_decay=weight_decay)
        elif optimizer == "adam":
            self.optimizer = torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
        else:  # manual: the slides' by-hand update, which has no weight decay (config refuses it)
            self.optimizer = None
        self.class_weight = (None if class_weight is None else
                             torch.as_tensor(class_weight, dtype=self.dtype, device=self.device))
        self._cache: tuple[int, torch.Tensor] | None = None

    @property
    def n_classes(self) -> int:
        return self.model.sizes[-1]

    def grad_norms(self) -> dict[str, float]:
        """The L2 norm of each parameter's gradient from the latest step, by the lecture's names."""
        out = {}
        for name, p, _ in self._named_params():
            out[name] = 0.0 if p.grad is None else float(torch.linalg.vector_norm(p.grad))
        return out

    def set_lr(self, lr: float) -> None:
        """Change the step size (learning-rate schedules call this before a step)."""
        self.lr = float(lr)
        if self.optimizer is not None:
            for group in self.optimizer.param_groups:
                group["lr"] = self.lr

    def _tensor(self, X: np.ndarray) -> torch.Tensor:
        # full-batch training passes the same array every step: convert it once
        if self._cache is not None and self._cache[0] is X:
            return self._cache[1]
        t = torch.as_tensor(np.ascontiguousarray(X), device=self.device).to(self.dtype)
        self._cache = (X, t)
        return t

    def _labels(self, y: np.ndarray) -> torch.Tensor:
        if self.task == "regression":  # the numeric targets, in the model's dtype
            return torch.as_tensor(np.asarray(y, dtype=np.float64), device=self.device).to(self.dtype)
        return torch.as_tensor(np.asarray(y, dtype=np.int64), device=self.device)

    def penalty(self):
        """The lecture's ``0.5 * reg * sum W^2`` plus ``l1 * sum |W|`` (0.0 when both are 0)."""
        out = 0.0
        if self.reg:
            out = out + 0.5 * self.reg * sum((W * W).sum() for W in self.model.weights())
        if self.l1:
            out = out + self.l1 * sum(W.abs().sum() for W in self.model.weights())
        return out

    def loss(self, scores: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Mean cross-entropy (regression: mean squared error) plus the penalties (:meth:`penalty`)."""
        if self.task == "regression":
            return F.mse_loss(scores[:, 0], y) + self.penalty()
        return F.cross_entropy(scores, y, weight=self.class_weight) + self.penalty()

    def train_step(self, X: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
        Xt, yt = self._tensor(X), self._labels(y)
        if self.optimizer is not None:
            self.optimizer.zero_grad()
            scores = self.model(Xt)
            loss = self.loss(scores, yt)
            loss.backward()
            if self.clip_norm is not None:
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.clip_norm)
            self.optimizer.step()
        else:
            self.model.zero_grad()
            scores = self.model(Xt)
            loss = self.loss(scores, yt)
            loss.backward()
            if self.clip_norm is not None:
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.clip_norm)
            with torch.no_grad():
                for p in self.model.parameters():
                    p.data.sub_(p.grad * self.lr)  # the slides' by-hand update
        return float(loss.detach()), scores.detach().cpu().numpy()

    @torch.no_grad()
    def evaluate(self, X: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
        scores = self.model(self._tensor(X))
        loss = self.loss(scores, self._labels(y))
        if self.task == "regression":
            return float(loss), scores.cpu().numpy()
        return float(loss), torch.softmax(scores, dim=1).cpu().numpy()

    @torch.no_grad()
    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        Xt = torch.as_tensor(np.ascontiguousarray(X), device=self.device).to(self.dtype)
        return torch.softmax(self.model(Xt), dim=1).cpu().numpy()

    @torch.no_grad()
    def predict_output(self, X: np.ndarray) -> np.ndarray:
        """What a Predictor wraps: probabilities (classification) or the outputs (n, 1)."""
        if self.task != "regression":
            return self.predict_proba(X)
        Xt = torch.as_tensor(np.ascontiguousarray(X), device=self.device).to(self.dtype)
        return self.model(Xt).cpu().numpy()

    def state_dict(self) -> dict[str, np.ndarray]:
        """W1, b1, ..., WL, bL in the lecture's layout."""
        return lecture_state(self.model)

    # torch's optimiser slots under the engine's names, W-shaped ones transposed to
    # the lecture's layout, so that a run can resume on either backend
    _SLOTS = {"momentum_buffer": "velocity", "exp_avg": "m", "exp_avg_sq": "v"}

    def _named_params(self):
        for i, linear in enumerate(self.model.linears, start=1):
            yield f"W{i}", linear.weight, True
            yield f"b{i}", linear.bias, False

    def optimizer_state(self) -> tuple[dict[str, np.ndarray], dict]:
        if self.optimizer is None:
            return {}, {}
        tensors, scalars = {}, {}
        for name, p, is_weight in self._named_params():
            for key, value in self.optimizer.state.get(p, {}).items():
                if key == "step":
                    scalars["t"] = int(float(value))
                elif key in self._SLOTS and value is not None:
                    a = value.detach().cpu().numpy()
                    tensors[f"{self._SLOTS[key]}.{name}"] = (a.T if is_weight else a).copy()
        return tensors, scalars

    def load_optimizer_state(self, tensors: dict[str, np.ndarray], scalars: dict) -> None:
        if self.optimizer is None:
            return
        is_adam = isinstance(self.optimizer, torch.optim.Adam)
        for name, p, is_weight in self._named_params():
            state = {}
            for key, slot in self._SLOTS.items():
                a = tensors.get(f"{slot}.{name}")
                if a is None:
                    continue
                a = a.T if is_weight else a
                if a.shape != tuple(p.shape):
                    raise NeuralabError(f"optimizer state {slot}.{name} has shape {a.T.shape if is_weight else a.shape}, "
                                        f"expected {tuple(p.shape)[::-1] if is_weight else tuple(p.shape)}")
                state[key] = torch.as_tensor(np.ascontiguousarray(a), dtype=self.dtype, device=self.device)
            if is_adam and {"exp_avg", "exp_avg_sq"} <= set(state):
                state["step"] = torch.tensor(float(scalars.get("t", 0)))
                self.optimizer.state[p] = state
            elif not is_adam and "momentum_buffer" in state:
                self.optimizer.state[p] = state

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        load_lecture_state(self.model, state)


def make_torch_trainer(sizes: Sequence[int], *, activation: str = "relu", init: str = "lecture",
                       seed: int = 0, dtype: str = "float64", device: str = "auto",
                       optimizer: str = "sgd", lr: float = 1.0, reg: float = 1e-3,
                       momentum: float = 0.9, weight_decay: float = 0.0, l1: float = 0.0,
                       class_weight=None, clip_norm: float | None = None,
                       task: str = "classification") -> TorchTrainer:
    """The torch twin of :func:`neuralab.train.make_engine_trainer`.

    The starting weights are drawn by the engine's seeded initialiser and copied
    over, so both backends start from the same numbers.
    """
    if dtype not in TORCH_DTYPES:
        raise NeuralabError(f"dtype must be one of float32, float64; got {dtype!r}")
    engine = MLP(sizes, activation=activation, init=init, seed=seed, dtype=dtype)
    model = from_engine(engine, device=resolve_device(device))
    return TorchTrainer(model, optimizer=optimizer, lr=lr, reg=reg, l1=l1, momentum=momentum,
                        weight_decay=weight_decay, class_weight=class_weight, clip_norm=clip_norm,
                        task=task)
