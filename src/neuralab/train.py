"""One training loop for every backend: full batch or minibatch, iterations or epochs.

A *trainer* wraps a model, its loss and its optimiser behind three calls:
``train_step(X, y)`` (one forward, backward and update; returns the loss and the
logits of that forward pass, before the update), ``evaluate(X, y)`` and
``predict_proba(X)``. :class:`EngineTrainer` is the engine's; the PyTorch twins have
their own. :func:`fit` drives any of them, reporting to ``callback(step, loss, metrics)``.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from neuralab import NeuralabError
from neuralab.nn.kernels import products_in_torch
from neuralab.data.preprocess import ScaledRows
from neuralab.nn.losses import L1Penalty, L2Penalty, MeanSquaredError, SoftmaxCrossEntropy
from neuralab.nn.models import MLP
from neuralab.optim import Optimizer, make_optimizer
from neuralab.prefetch import Prefetch, prefetching
from neuralab.threads import scoring_threads, side_by_side, training_threads
from neuralab.train_log import FitResult, History, PrintLogger, StopOnSignal, progress_bar

__all__ = [
    "Callback", "EngineTrainer", "FitResult", "History", "PrintLogger", "StopOnSignal",
    "TrainingDiverged", "balanced_class_weights", "fit", "lr_schedule", "make_engine_trainer",
]

Callback = Callable[[int, float, dict], None]


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; the message says when and what to try.

    The advice names settings (``lr``, ``reg``, ``optimizer``, listed in
    ``settings``); the command line shows them as its flags.
    """

    settings = ("lr", "reg", "optimizer")

    def __init__(self, step: int, loss: float, lr: float | None) -> None:
        self.step, self.loss, self.lr = step, loss, lr
        lr_text = f" (now {lr:g})" if lr is not None else ""
        super().__init__(
            f"training stopped: the loss became {loss} at iteration {step}, so the weights "
            f"diverged. Try a smaller learning rate lr{lr_text}, a smaller reg, or "
            "another optimizer such as adam with lr 0.01"
        )


class EngineTrainer:
    """Trains an engine :class:`~neuralab.nn.MLP` on ``CE + 0.5 reg sum W^2 (+ l1 sum |W|)``.

    With ``task="regression"`` the loss is the mean squared error of the single
    linear output (:class:`~neuralab.nn.losses.MeanSquaredError`) plus the same
    penalties; ``evaluate`` then returns the outputs (n, 1) instead of probabilities.

    Args:
        model: the network.
        optimizer: an :class:`~neuralab.optim.Optimizer` over ``model.parameters()``.
        reg: the L2 strength of the lecture's penalty ``0.5 * reg * sum W^2``.
        l1: the L1 strength of the penalty ``l1 * sum |W|`` (0: none).
        class_weight: optional per-class weights for the cross-entropy.
        task: ``"classification"`` (default) or ``"regression"``.
        clip_norm: the largest joint L2 norm of the gradients (> 0), or None for
            no clipping. Like every setting, it is checked where settings enter
            (the command line, the sweep, the playground), not here.
    """

    backend = "numpy"

    def __init__(self, model: MLP, optimizer: Optimizer, *, reg: float = 0.0, l1: float = 0.0,
                 class_weight=None, clip_norm: float | None = None,
                 task: str = "classification") -> None:
        self.model = model
        self.optimizer = optimizer
        self.task = task
        if task == "regression":
            if model.sizes[-1] != 1:
                raise NeuralabError(f"a regression model has one output, got sizes {model.sizes}")
            self.loss_fn = MeanSquaredError()
        else:
            self.loss_fn = SoftmaxCrossEntropy(class_weight=class_weight)
        self.penalty = L2Penalty(reg)
        self.l1_penalty = L1Penalty(l1)
        self.clip_norm = None if clip_norm is None else float(clip_norm)
        self._weights = model.weights()
        self._params = model.parameters()

    @property
    def lr(self) -> float:
        return self.optimizer.lr

    def set_lr(self, lr: float) -> None:
        """Change the step size (learning-rate schedules call this before a step)."""
        self.optimizer.lr = float(lr)

    def products_in_torch(self, rows: int) -> bool:
        """Whether the model's wide layers compute in torch's BLAS (see
        :mod:`neuralab.nn.kernels`; per layer, so for any ``rows``): fit's thread choice
        then gives torch the threads."""
        return products_in_torch(self.model.sizes, self.model.dtype)

    def grad_norms(self) -> dict[str, float]:
        """The L2 norm of each parameter's gradient from the latest step, by name."""
        return {p.name: float(np.sqrt(np.vdot(p.grad, p.grad))) for p in self._params}

    def clip_gradients(self) -> float:
        """Scale all gradients so that their joint L2 norm is at most ``clip_norm``.

        The same rule as ``torch.nn.utils.clip_grad_norm_``: the factor is
        ``clip_norm / (norm + 1e-6)``, applied only when it is below 1. Returns the
        norm before clipping.
        """
        norm = float(np.sqrt(sum(np.vdot(p.grad, p.grad) for p in self._params)))
        coef = self.clip_norm / (norm + 1e-6)
        if coef < 1:
            for p in self._params:
                p.grad *= coef
        return norm

    n_classes = property(lambda self: self.model.n_classes)

    def train_step(self, X: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
        """zero_grad, forward, loss, backward, update; returns (loss, scores before the update).

        The backward pass writes the gradients instead of adding them to zeroed ones
        (``accumulate=False``): the same numbers without two passes over each array.
        """
        scores = self.model.forward(X)
        loss = float(self.loss_fn.forward(scores, y)) + self._penalties()
        self.model.backward(self.loss_fn.backward(), accumulate=False)
        for penalty in (self.penalty, self.l1_penalty):
            penalty.backward(self._weights)
        if self.clip_norm is not None:
            self.clip_gradients()
        self.optimizer.step()
        return loss, scores

    def evaluate(self, X: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
        """(loss with the penalties, probabilities) at the current weights; for regression
        the outputs (n, 1) take the probabilities' place.

        The rows go through in the model's blocks (sized by bytes, see
        :meth:`MLP.blocks`), so that a wide network never holds work arrays for
        every row; the loss, reduced over the examples' losses of all blocks
        together, is the one-batch loss (class weights included).
        """
        # rows standardised as they are read (ScaledRows) are read a block at a time too
        X = X if isinstance(X, (np.ndarray, ScaledRows)) else np.asarray(X)
        y = np.asarray(y)
        n = len(y)
        regression = self.task == "regression"
        out = np.empty((n, self.model.sizes[-1]), self.model.dtype)
        losses = np.empty(n, self.model.dtype)

        def make_work(model: MLP):
            loss_fn = self.loss_fn if model is self.model else self.loss_fn.twin()

            def work(a: int, b: int) -> None:
                loss_fn.forward(model.forward(X[a:b]), y[a:b])
                losses[a:b] = loss_fn.losses
                out[a:b] = loss_fn.outputs if regression else loss_fn.probs
            return work

        # large passes take their blocks in threads, one BLAS thread each (threads.side_by_side)
        self.model.over_blocks(n, make_work, side_by_side(self.model, n))
        return float(self.loss_fn.reduce(losses, y)) + self._penalties(), out

    def _penalties(self) -> float:
        return sum(p.forward(self._weights) for p in (self.penalty, self.l1_penalty))

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        return self.model.predict_proba(X, side_by_side(self.model, len(X)))

    def predict_output(self, X: np.ndarray) -> np.ndarray:
        """What a Predictor wraps: probabilities (classification) or the outputs (n, 1)."""
        if self.task == "regression":
            return self.model.outputs(X, side_by_side(self.model, len(X)))
        return self.predict_proba(X)

    def state_dict(self) -> dict[str, np.ndarray]:
        """W1, b1, ..., WL, bL in the lecture's layout."""
        return self.model.state_dict()

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        self.model.load_state_dict(state)

    def optimizer_state(self) -> tuple[dict[str, np.ndarray], dict]:
        """The optimiser's slots (velocity, Adam's m and v) by ``slot.param`` name, and scalars."""
        return self.optimizer.state_dict()

    def load_optimizer_state(self, tensors: dict[str, np.ndarray], scalars: dict) -> None:
        self.optimizer.load_state_dict(tensors, scalars)


def make_engine_trainer(sizes: Sequence[int], *, activation: str = "relu", init: str = "lecture",
                        seed: int = 0, dtype: str = "float64", optimizer: str = "sgd",
                        lr: float = 1.0, reg: float = 1e-3, l1: float = 0.0,
                        momentum: float = 0.9, weight_decay: float = 0.0, class_weight=None,
                        clip_norm: float | None = None,
                        task: str = "classification") -> EngineTrainer:
    """Build model, optimiser and trainer from plain settings (what the CLI passes)."""
    model = MLP(sizes, activation=activation, init=init, seed=seed, dtype=dtype)
    opt = make_optimizer(optimizer, model.parameters(), lr=lr, momentum=momentum,
                         weight_decay=weight_decay)
    return EngineTrainer(model, opt, reg=reg, l1=l1, class_weight=class_weight,
                         clip_norm=clip_norm, task=task)


def balanced_class_weights(y: np.ndarray, n_classes: int) -> np.ndarray:
    """``n / (K * n_k)`` per class, scikit-learn's "balanced" weights.

    >>> balanced_class_weights(np.array([0, 0, 0, 1]), 2).tolist()
    [0.6666666666666666, 2.0]
    """
    counts = np.bincount(y, minlength=n_classes).astype(float)
    if np.any(counts == 0):
        raise NeuralabError(f"balanced class weights need every class in the training data; "
                            f"counts are {counts.astype(int).tolist()}")
    return len(y) / (n_classes * counts)


def lr_schedule(kind: str, lr: float, total: int, *, step_size: int | None = None,
                gamma: float = 0.1, min_lr: float = 0.0) -> Callable[[int], float] | None:
    """The learning rate for each step (counted from 0 over ``total`` steps), or None.

    ``constant``: lr throughout (returns None: nothing to change). ``step``: lr
    times gamma every ``step_size`` steps (default: a third of the run).
    ``cosine``: from lr down to min_lr along half a cosine. The numbers are taken as
    given (gamma in (0, 1], step_size >= 1): they are checked where settings enter.

    >>> f = lr_schedule("step", 1.0, 90, gamma=0.5)
    >>> f(0), f(29), f(30), f(89)
    (1.0, 1.0, 0.5, 0.25)
    >>> g = lr_schedule("cosine", 1.0, 101)
    >>> g(0), round(g(50), 6), g(100)
    (1.0, 0.5, 0.0)
    """
    if kind == "constant":
        return None
    if kind == "step":
        size = step_size or max(1, total // 3)
        return lambda step: lr * gamma ** (step // size)
    if kind == "cosine":
        span = max(total - 1, 1)
        return lambda step: min_lr + 0.5 * (lr - min_lr) * (1 + math.cos(math.pi * min(step, span) / span))
    raise NeuralabError(f"lr schedule must be one of constant, step, cosine; got {kind!r}")


def _accuracy(scores_or_probs: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(np.argmax(scores_or_probs, axis=1) == y))


def _positive_int(name: str, value) -> int:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
        raise NeuralabError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


@dataclass(frozen=True)
class _Plan:
    """The loop arguments of one :func:`fit` call, checked and resolved."""

    total: int  # updates in this call
    batch_size: int | None  # None: full batch
    per_epoch: int | None  # updates an epoch when the call counts epochs, else None
    log_every: int
    patience: int | None  # early stopping's, in logged validation scores
    has_val: bool


def _plan(n: int, *, iterations, epochs, batch_size, log_every, start_step: int,
          early_stopping, has_val: bool) -> _Plan:
    """Resolve fit's loop arguments; NeuralabError for what cannot be run.

    Settings from the command line, the sweep and the playground arrive validated;
    these checks guard direct calls of :func:`fit`, where a count of 0 or less would
    otherwise train nothing, or log every step, without a word.
    """
    if (iterations is None) == (epochs is None):
        raise NeuralabError("give exactly one of iterations and epochs, "
                            f"got iterations={iterations!r}, epochs={epochs!r}")
    if n == 0:
        raise NeuralabError("the training data is empty")
    log_every = _positive_int("log_every", log_every)
    if batch_size is not None:
        batch_size = _positive_int("batch_size", batch_size)
        if batch_size >= n:
            batch_size = None  # one batch holds everything: that is full-batch training
    per_epoch = None
    if epochs is not None:
        per_epoch = 1 if batch_size is None else math.ceil(n / batch_size)
        total = _positive_int("epochs", epochs) * per_epoch
        if start_step % per_epoch:
            raise NeuralabError(f"a resumed minibatch run must start at an epoch boundary; "
                                f"{start_step} steps is not a multiple of {per_epoch}")
    else:
        total = _positive_int("iterations", iterations)
    if early_stopping is not None:
        early_stopping = _positive_int("early_stopping patience", early_stopping)
        if not has_val:
            raise NeuralabError("early stopping needs validation data; "
                                "give --val-fraction (or --test-fraction, --test-data)")
    return _Plan(total, batch_size, per_epoch, log_every, early_stopping, has_val)


class _Loop:
    """What one :func:`fit` call keeps between its steps, and the steps themselves.

    The history, the best validation loss so far with its step and weights (early
    stopping), and the current epoch's shuffled order (minibatches). Draws depend on
    the seed and the step alone: epoch ``e``'s order is ``default_rng([seed, e])``'s
    permutation, step ``t``'s augmentation draws from ``default_rng([seed, t])``; so
    training in chunks (playground frames, a resume) takes the path of one call.
    """

    def __init__(self, trainer, X, y, X_val, y_val, plan: _Plan, *, callbacks, augment,
                 seed: int) -> None:
        self.trainer, self.plan, self.callbacks = trainer, plan, callbacks
        self.X, self.y, self.X_val, self.y_val = X, y, X_val, y_val
        self.augment, self.seed = augment, int(seed)
        self.history = History()
        self.grad_norms = getattr(trainer, "grad_norms", None)
        self.best_loss, self.best_step, self.best_state, self.waited = math.inf, None, None, 0
        self.batch_rows = None if plan.batch_size is None else self.row_finder()
        self.batches: Prefetch | None = None  # the rows gathered ahead, while run() runs
        self.seen, self.loss_sum, self.correct = 0, 0.0, 0  # the batches since the last row
        self.final_outputs = None  # the closing evaluation's probabilities (regression: outputs)
        # the threads of a pass over the held-out rows: fit sets it (neuralab.threads)
        self.scoring_threads: Callable[[int], contextlib.AbstractContextManager] = \
            lambda rows: contextlib.nullcontext()
        self.stopped = False  # fit's stop() ended the loop
        # regression logs no accuracy: its rows hold step, loss (val_loss) and gradient norms
        self.classify = getattr(trainer, "task", "classification") != "regression"

    def accuracy(self, scores_or_probs: np.ndarray, y: np.ndarray) -> float | None:
        return _accuracy(scores_or_probs, y) if self.classify else None

    def check(self, step: int, loss: float) -> None:
        if not math.isfinite(loss):
            raise TrainingDiverged(step, loss, getattr(self.trainer, "lr", None))

    def observe_val(self, step: int) -> tuple[float, float]:
        """Score the held-out data at the current weights; track the best for early stopping.

        The pass takes the thread count its rows call for, not the steps': a held-out
        split of thousands of rows is a large product between small ones."""
        with self.scoring_threads(len(self.y_val)):
            val_loss, val_probs = self.trainer.evaluate(self.X_val, self.y_val)
        if self.plan.patience is not None:
            if val_loss < self.best_loss:
                self.best_loss, self.best_step, self.waited = val_loss, step, 0
                self.best_state = self.trainer.state_dict()
            else:
                self.waited += 1
        return val_loss, self.accuracy(val_probs, self.y_val)

    @property
    def patience_ran_out(self) -> bool:
        return self.plan.patience is not None and self.waited >= self.plan.patience

    def log(self, step: int, loss: float, train_acc: float | None, val=None,
            final: bool = False) -> None:
        """Append a history row and pass it to the callbacks (without step and loss)."""
        row = {"step": step, "loss": loss}
        if train_acc is not None:
            row["train_accuracy"] = train_acc
        if self.plan.has_val:
            row["val_loss"], val_acc = val if val is not None else self.observe_val(step)
            if val_acc is not None:
                row["val_accuracy"] = val_acc
        if self.grad_norms is not None:
            # the gradients of the latest step (its batch), per parameter
            row.update({f"grad_norm_{k}": v for k, v in self.grad_norms().items()})
        self.history.rows.append(row)
        metrics = {k: v for k, v in row.items() if k not in ("step", "loss")}
        if final:
            metrics["final"] = True
        for cb in self.callbacks:
            cb(step, loss, metrics)

    def full_batch_step(self, step: int) -> float:
        """One update on all the data; a logged row holds that step's forward pass and the
        validation scores at the same weights, before the update, as the lecture prints them."""
        logging = step % self.plan.log_every == 0
        val = self.observe_val(step) if logging and self.plan.has_val else None
        X = self.X if self.augment is None else self.augment(self.X, self.step_rng(step))
        loss, scores = self.trainer.train_step(X, self.y)
        self.check(step, loss)
        if logging:
            self.log(step, loss, self.accuracy(scores, self.y), val)
        return loss

    def step_rng(self, step: int) -> np.random.Generator:  # step ``step``'s augmentation
        return np.random.default_rng([self.seed, step])

    def row_finder(self) -> Callable[[int], np.ndarray]:
        """``rows(step)``: the rows of step ``step``'s minibatch, its place in its epoch's
        permutation. Each finder keeps its own epoch's order, so that the thread that
        gathers batches ahead (:class:`~neuralab.prefetch.Prefetch`) has one of its own."""
        n, size, seed = len(self.y), self.plan.batch_size, self.seed
        per_epoch, held = -(-n // size), {"epoch": None}

        def rows(step: int) -> np.ndarray:
            epoch, k = divmod(step, per_epoch)
            if held["epoch"] != epoch:
                held["order"] = np.random.default_rng([seed, epoch]).permutation(n)
                held["epoch"] = epoch
            return held["order"][k * size:(k + 1) * size]

        return rows

    def minibatch_step(self, step: int) -> float:
        """One update on the step's minibatch. A logged row, every log_every epochs (or
        updates, without epochs), holds the mean loss and accuracy of the batches since the
        previous row, each taken in its step's forward pass before the update, as a
        full-batch row is: logging costs the step nothing, where scoring the whole
        training set would cost a third of an epoch each time."""
        idx = self.batch_rows(step)
        yb = self.y[idx]
        Xb = self.X[idx] if self.batches is None else self.batches.get(step)
        if self.augment is not None:
            Xb = self.augment(Xb, self.step_rng(step))
        loss, scores = self.trainer.train_step(Xb, yb)
        self.check(step, loss)
        rows = len(idx)
        self.seen += rows
        self.loss_sum += loss * rows
        if self.classify:
            self.correct += int(np.count_nonzero(scores.argmax(axis=1) == yb))
        done, per_epoch, every = step + 1, self.plan.per_epoch, self.plan.log_every
        if per_epoch:
            logged = done % per_epoch == 0 and (done // per_epoch) % every == 0
        else:
            logged = done % every == 0
        if logged:
            accuracy = self.correct / self.seen if self.classify else None
            self.log(done, self.loss_sum / self.seen, accuracy)
            self.seen, self.loss_sum, self.correct = 0, 0.0, 0
        return loss

    def run(self, start_step: int, schedule, stopper: StopOnSignal, task,
            stop: Callable[[], bool] | None = None) -> tuple[int, bool]:
        """The one loop, either backend: returns (updates done, whether early stopping ended it).
        Minibatches are gathered ahead in a second thread where that can pay
        (:mod:`neuralab.prefetch`); it has ended when this returns."""
        total = self.plan.total
        if not prefetching(self.plan.batch_size, total):
            return self._steps(start_step, schedule, stopper, task, stop)
        rows, X = self.row_finder(), self.X
        with Prefetch(lambda step: X[rows(step)], start_step, start_step + total) as self.batches:
            try:
                return self._steps(start_step, schedule, stopper, task, stop)
            finally:
                self.batches = None

    def _steps(self, start_step: int, schedule, stopper: StopOnSignal, task,
               stop: Callable[[], bool] | None) -> tuple[int, bool]:
        total = self.plan.total
        step_once = self.full_batch_step if self.plan.batch_size is None else self.minibatch_step
        update_every = max(1, total // 200)
        agree = getattr(self.trainer, "agree", None)  # data-parallel ranks stop together
        for local in range(total):
            # read once: data-parallel ranks act on what they agreed, so a signal that comes
            # after this (even while they agree) stops them together at the next step
            requested = stopper.requested
            halted = not requested and stop is not None and stop()
            if agree is not None and agree(requested or halted) and not halted:
                requested = True
            if requested:
                stopper.requested = True
                return local, False
            if halted:
                self.stopped = True
                return local, False
            if schedule is not None:
                self.trainer.set_lr(schedule(local))
            loss = step_once(start_step + local)
            if task is not None and (local + 1) % update_every == 0:
                task.update(local + 1, loss)
            if self.patience_ran_out:
                return local + 1, True
        return total, False

    def close(self, end: int) -> tuple[float, float, bool]:
        """The closing evaluation at step ``end``: restore early stopping's best weights,
        score the training data, and log the final row or tell the callbacks it is final.
        Returns (loss, accuracy, whether weights were restored)."""
        restored = self.plan.patience is not None and self.best_state is not None
        if restored:
            self.trainer.load_state_dict(self.best_state)
        final_loss, probs = self.trainer.evaluate(self.X, self.y)
        self.final_outputs = probs
        self.check(end, final_loss)
        final_acc = self.accuracy(probs, self.y)
        rows = self.history.rows
        if restored:
            acc = {} if final_acc is None else {"train_accuracy": final_acc}
            for cb in self.callbacks:
                cb(end, final_loss, {**acc, "final": True, "restored_step": self.best_step})
        elif not rows or rows[-1]["step"] != end:
            self.log(end, final_loss, final_acc, final=True)
        else:
            for cb in self.callbacks:
                cb(end, final_loss, {**rows[-1], "final": True})
        return final_loss, final_acc, restored

    def final_val(self, restored: bool) -> tuple[float, float]:
        """Validation loss and accuracy at the final weights."""
        if restored:
            val_loss, val_probs = self.trainer.evaluate(self.X_val, self.y_val)
            return val_loss, self.accuracy(val_probs, self.y_val)
        return self.history.rows[-1]["val_loss"], self.history.rows[-1].get("val_accuracy")


def fit(trainer, X: np.ndarray, y: np.ndarray, *, iterations: int | None = None,
        epochs: int | None = None, batch_size: int | None = None, seed: int = 0,
        log_every: int = 10, callbacks: Sequence[Callback] = (),
        X_val: np.ndarray | None = None, y_val: np.ndarray | None = None,
        progress: bool | None = None, description: str = "training", start_step: int = 0,
        stop_on_signal: bool = True, schedule: Callable[[int], float] | None = None,
        early_stopping: int | None = None,
        augment: Callable[[np.ndarray, np.random.Generator], np.ndarray] | None = None,
        stop: Callable[[], bool] | None = None,
        ) -> FitResult:
    """Train ``trainer`` on (X, y).

    Args:
        iterations: number of updates; or
        epochs: passes over the data (with ``batch_size``, shuffled each epoch).
        batch_size: None for full batch (the lecture's), else minibatches.
        seed: seeds each epoch's shuffle and each step's augmentation (see ``_Loop``).
        log_every: a history row and a callback call every this many steps
            (epochs, when minibatch training counts epochs), and one at the end
            with ``metrics["final"] = True``. In full-batch mode the logged loss
            and accuracy are those of the step's forward pass and the validation
            scores are taken at the same weights, before the step's update, as
            the lecture prints them; with minibatches they are the means over the
            batches since the previous row, each batch's taken in its forward pass
            (loss weighted by the batch's rows). The closing call's loss and
            accuracy are measured on the whole training set at the final weights
            (``FitResult.final_loss``; ``final_outputs`` keeps its probabilities).
        callbacks: functions ``(step, loss, metrics)``.
        X_val, y_val: optional held-out data, scored at every logged step.
        progress: show a rich progress bar; None shows one only on a terminal.
        start_step: the number of updates the model has already had (when a
            run is resumed); steps are numbered on from it.
        stop_on_signal: Ctrl-C or SIGTERM stops the loop after the current step
            and returns what was done, with ``interrupted=True``.
        schedule: the learning rate for each step of this call, counted from 0
            (see :func:`lr_schedule`); None keeps the trainer's.
        early_stopping: stop when the validation loss has not improved for this
            many logged evaluations, and restore the weights of its best one.
        augment: ``augment(X_batch, rng)`` returns a changed copy of each batch
            before its step (training data only).
        stop: asked before each step; when it returns True the loop ends there, as
            on a signal (``interrupted=True``): a time budget or a cancel flag.

    Raises:
        TrainingDiverged: when the loss becomes NaN or infinite.
    """
    plan = _plan(len(y), iterations=iterations, epochs=epochs, batch_size=batch_size,
                 log_every=log_every, start_step=start_step, early_stopping=early_stopping,
                 has_val=X_val is not None and y_val is not None and len(y_val) > 0)
    loop = _Loop(trainer, X, y, X_val, y_val, plan, callbacks=callbacks, augment=augment,
                 seed=seed)
    bar = progress_bar(progress, plan.total, description)
    stopper = StopOnSignal(stop_on_signal)
    start = time.perf_counter()
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"), bar as task, stopper:
        # BLAS and torch threads by problem size (neuralab.threads): one for small steps,
        # and as many as they call for, up to the caller's, for the held-out passes
        loop.scoring_threads = scoring_threads(trainer)
        with training_threads(trainer, plan.batch_size or len(y)):
            done, stopped_early = loop.run(start_step, schedule, stopper, task, stop)
        seconds = time.perf_counter() - start
        end = start_step + done
        with training_threads(trainer, len(y)):  # the closing pass over every row
            final_loss, final_acc, restored = loop.close(end)
    result = FitResult(history=loop.history, steps=end, seconds=seconds, final_loss=final_loss,
                       final_train_accuracy=final_acc, interrupted=stopper.requested or loop.stopped,
                       stopped_early=stopped_early, best_step=loop.best_step if restored else None,
                       final_outputs=loop.final_outputs)
    if plan.has_val:
        result.final_val_loss, result.final_val_accuracy = loop.final_val(restored)
    return result
