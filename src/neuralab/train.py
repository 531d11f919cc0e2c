"""One training loop for every backend: full batch or minibatch, iterations or epochs.

A *trainer* wraps a model, its loss and its optimiser behind three calls:
``train_step(X, y)`` (one forward, backward and update; returns the loss and the
logits of that forward pass, before the update), ``evaluate(X, y)`` (loss and
probabilities, no update) and ``predict_proba(X)``. :class:`EngineTrainer` is the
NumPy engine's; the PyTorch twin has its own. :func:`fit` drives any of them and
reports through callbacks ``callback(step, loss, metrics)``.
"""

from __future__ import annotations

import math
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from neuralab import NeuralabError
from neuralab.nn.init import as_generator
from neuralab.nn.losses import L2Penalty, SoftmaxCrossEntropy
from neuralab.nn.models import MLP
from neuralab.optim import Optimizer, make_optimizer

Callback = Callable[[int, float, dict], None]


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; the message says when and what to try."""

    def __init__(self, step: int, loss: float, lr: float | None) -> None:
        self.step, self.loss, self.lr = step, loss, lr
        lr_text = f" (now {lr:g})" if lr is not None else ""
        super().__init__(
            f"training stopped: the loss became {loss} at iteration {step}, so the weights "
            f"diverged. Try a smaller learning rate --lr{lr_text}, a smaller --reg, or "
            "another --optimizer such as adam with --lr 0.01"
        )


class EngineTrainer:
    """Trains an engine :class:`~neuralab.nn.MLP` on ``CE + 0.5 reg sum W^2``.

    Args:
        model: the network.
        optimizer: an :class:`~neuralab.optim.Optimizer` over ``model.parameters()``.
        reg: the L2 strength of the lecture's penalty ``0.5 * reg * sum W^2``.
        class_weight: optional per-class weights for the cross-entropy.
    """

    backend = "numpy"

    def __init__(self, model: MLP, optimizer: Optimizer, *, reg: float = 0.0,
                 class_weight=None, clip_norm: float | None = None) -> None:
        self.model = model
        self.optimizer = optimizer
        self.loss_fn = SoftmaxCrossEntropy(class_weight=class_weight)
        self.penalty = L2Penalty(reg)
        self.clip_norm = _check_clip(clip_norm)
        self._weights = model.weights()
        self._params = model.parameters()

    @property
    def lr(self) -> float:
        return self.optimizer.lr

    def set_lr(self, lr: float) -> None:
        """Change the step size (learning-rate schedules call this before a step)."""
        self.optimizer.lr = float(lr)

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

    @property
    def n_classes(self) -> int:
        return self.model.n_classes

    def train_step(self, X: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
        """zero_grad, forward, loss, backward, update; returns (loss, scores before the update)."""
        for p in self._params:
            p.grad.fill(0)
        scores = self.model.forward(X)
        loss = float(self.loss_fn.forward(scores, y)) + self.penalty.forward(self._weights)
        self.model.backward(self.loss_fn.backward())
        self.penalty.backward(self._weights)
        if self.clip_norm is not None:
            self.clip_gradients()
        self.optimizer.step()
        return loss, scores

    def evaluate(self, X: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
        """(loss with the penalty, probabilities) at the current weights."""
        scores = self.model.forward(X)
        loss = float(self.loss_fn.forward(scores, y)) + self.penalty.forward(self._weights)
        return loss, self.loss_fn.probs.copy()

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        return self.model.predict_proba(X)

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
                        lr: float = 1.0, reg: float = 1e-3, momentum: float = 0.9,
                        weight_decay: float = 0.0, class_weight=None,
                        clip_norm: float | None = None) -> EngineTrainer:
    """Build model, optimiser and trainer from plain settings (what the CLI passes)."""
    model = MLP(sizes, activation=activation, init=init, seed=seed, dtype=dtype)
    opt = make_optimizer(optimizer, model.parameters(), lr=lr, momentum=momentum,
                         weight_decay=weight_decay)
    return EngineTrainer(model, opt, reg=reg, class_weight=class_weight, clip_norm=clip_norm)


def _check_clip(clip_norm):
    if clip_norm is None:
        return None
    if not isinstance(clip_norm, (int, float, np.floating)) or not np.isfinite(clip_norm) or clip_norm <= 0:
        raise NeuralabError(f"clip_norm must be a finite number > 0, got {clip_norm!r}")
    return float(clip_norm)


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
    ``cosine``: from lr down to min_lr along half a cosine.

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
        if size < 1:
            raise NeuralabError(f"lr step size must be a positive integer, got {size!r}")
        if not (0 < gamma <= 1):
            raise NeuralabError(f"lr gamma must lie in (0, 1], got {gamma!r}")
        return lambda step: lr * gamma ** (step // size)
    if kind == "cosine":
        span = max(total - 1, 1)
        return lambda step: min_lr + 0.5 * (lr - min_lr) * (1 + math.cos(math.pi * min(step, span) / span))
    raise NeuralabError(f"lr schedule must be one of constant, step, cosine; got {kind!r}")


@dataclass
class History:
    """Rows of ``step, loss, train_accuracy[, val_loss, val_accuracy]``."""

    rows: list[dict] = field(default_factory=list)

    @property
    def columns(self) -> list[str]:
        """step, loss, train_accuracy, then val_loss, val_accuracy when logged, then the
        per-parameter gradient norms ``grad_norm_W1, grad_norm_b1, ...``."""
        cols = ["step", "loss", "train_accuracy"]
        if self.rows and "val_loss" in self.rows[-1]:
            cols += ["val_loss", "val_accuracy"]
        extra = []
        for row in self.rows[:1] + self.rows[-1:]:
            extra += [k for k in row if k not in cols and k not in extra]
        return cols + extra

    def column(self, name: str) -> np.ndarray:
        return np.array([row.get(name, np.nan) for row in self.rows], dtype=float)

    def to_csv(self) -> str:
        cols = self.columns
        lines = [",".join(cols)]
        for row in self.rows:
            lines.append(",".join(_fmt(row.get(c)) for c in cols))
        return "\n".join(lines) + "\n"


def _fmt(value) -> str:
    if value is None:
        return ""
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    return repr(float(value))


@dataclass
class FitResult:
    """What :func:`fit` reports: the history, the step count and the final scores.

    ``steps`` counts every update the model has had, those of earlier runs it
    resumed from included; ``interrupted`` is True when a signal (Ctrl-C, SIGTERM)
    stopped the loop early, after a completed step. With early stopping,
    ``stopped_early`` says whether patience ran out and ``best_step`` is the step
    whose weights were restored (the final scores are measured at those weights).
    """

    history: History
    steps: int
    seconds: float
    final_loss: float
    final_train_accuracy: float
    final_val_loss: float | None = None
    final_val_accuracy: float | None = None
    interrupted: bool = False
    stopped_early: bool = False
    best_step: int | None = None


class _StopOnSignal:
    """While active, SIGINT and SIGTERM ask the loop to stop after the current step.

    A second signal while a stop is pending raises KeyboardInterrupt at once.
    Outside the main thread signals cannot be caught; there it does nothing.
    """

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled and threading.current_thread() is threading.main_thread()
        self.requested = False
        self._old: dict[int, object] = {}

    def _handler(self, signum, frame) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def __enter__(self) -> _StopOnSignal:
        if self.enabled:
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._old[sig] = signal.signal(sig, self._handler)
        return self

    def __exit__(self, *exc) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)


class PrintLogger:
    """Prints ``iteration N: loss X`` every ``every`` steps, as the lecture's loop does."""

    def __init__(self, every: int, file=None, prefix: str = "") -> None:
        self.every = every
        self.file = file
        self.prefix = prefix

    def __call__(self, step: int, loss: float, metrics: dict) -> None:
        if metrics.get("final") or step % self.every:
            return
        print(f"{self.prefix}iteration {step}: loss {loss:f}", file=self.file or sys.stdout)


def _accuracy(scores_or_probs: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(np.argmax(scores_or_probs, axis=1) == y))


def _positive_int(name: str, value) -> int:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
        raise NeuralabError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def fit(
    trainer,
    X: np.ndarray,
    y: np.ndarray,
    *,
    iterations: int | None = None,
    epochs: int | None = None,
    batch_size: int | None = None,
    seed: int = 0,
    log_every: int = 10,
    callbacks: Sequence[Callback] = (),
    X_val: np.ndarray | None = None,
    y_val: np.ndarray | None = None,
    progress: bool | None = None,
    description: str = "training",
    start_step: int = 0,
    stop_on_signal: bool = True,
    schedule: Callable[[int], float] | None = None,
    early_stopping: int | None = None,
    augment: Callable[[np.ndarray, np.random.Generator], np.ndarray] | None = None,
) -> FitResult:
    """Train ``trainer`` on (X, y).

    Args:
        iterations: number of updates; or
        epochs: passes over the data (with ``batch_size``, shuffled each epoch).
        batch_size: None for full batch (the lecture's), else minibatches.
        seed: seeds the minibatch shuffling and the augmentation.
        log_every: a history row and a callback call every this many steps
            (epochs, when minibatch training counts epochs), and one at the end
            with ``metrics["final"] = True``. In full-batch mode the logged loss
            and accuracy are those of the step's forward pass and the validation
            scores are taken at the same weights, before the step's update, as
            the lecture prints them; with minibatches they are measured on the
            whole training set after the logged update.
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

    Raises:
        TrainingDiverged: when the loss becomes NaN or infinite.
    """
    if (iterations is None) == (epochs is None):
        raise NeuralabError("give exactly one of iterations and epochs, "
                            f"got iterations={iterations!r}, epochs={epochs!r}")
    n = len(y)
    if n == 0:
        raise NeuralabError("the training data is empty")
    log_every = _positive_int("log_every", log_every)
    if batch_size is not None:
        batch_size = _positive_int("batch_size", batch_size)
        if batch_size >= n:
            batch_size = None  # one batch holds everything: that is full-batch training
    if epochs is not None:
        epochs = _positive_int("epochs", epochs)
        per_epoch = 1 if batch_size is None else math.ceil(n / batch_size)
        total = epochs * per_epoch
        if start_step % per_epoch:
            raise NeuralabError(f"a resumed minibatch run must start at an epoch boundary; "
                                f"{start_step} steps is not a multiple of {per_epoch}")
    else:
        total = _positive_int("iterations", iterations)
        per_epoch = None
    has_val = X_val is not None and y_val is not None and len(y_val) > 0
    if early_stopping is not None:
        early_stopping = _positive_int("early_stopping patience", early_stopping)
        if not has_val:
            raise NeuralabError("early stopping needs validation data; "
                                "give --val-fraction (or --test-fraction, --test-data)")
    history = History()
    # a resumed run draws fresh batches rather than repeating its first epochs
    rng = as_generator(seed + start_step)
    full_batch = batch_size is None
    best = {"loss": math.inf, "step": None, "state": None, "waited": 0}

    def observe_val(step: int) -> tuple[float, float]:
        """Score the held-out data at the current weights; track the best for early stopping."""
        val_loss, val_probs = trainer.evaluate(X_val, y_val)
        if early_stopping is not None:
            if val_loss < best["loss"]:
                best.update(loss=val_loss, step=step, state=trainer.state_dict(), waited=0)
            else:
                best["waited"] += 1
        return val_loss, _accuracy(val_probs, y_val)

    grad_norms = getattr(trainer, "grad_norms", None)

    def log(step: int, loss: float, train_acc: float, val=None, final: bool = False) -> None:
        row = {"step": step, "loss": loss, "train_accuracy": train_acc}
        if has_val:
            row["val_loss"], row["val_accuracy"] = val if val is not None else observe_val(step)
        if grad_norms is not None:
            # the gradients of the latest step (its batch), per parameter
            row.update({f"grad_norm_{k}": v for k, v in grad_norms().items()})
        history.rows.append(row)
        metrics = {k: v for k, v in row.items() if k not in ("step", "loss")}
        if final:
            metrics["final"] = True
        for cb in callbacks:
            cb(step, loss, metrics)

    def check(step: int, loss: float) -> None:
        if not math.isfinite(loss):
            raise TrainingDiverged(step, loss, getattr(trainer, "lr", None))

    bar = _progress_bar(progress, total, description)
    update_every = max(1, total // 200)
    start = time.perf_counter()
    order = np.arange(n)
    batch_pos = n  # forces a shuffle at the first minibatch
    stopper = _StopOnSignal(stop_on_signal)
    done_steps = total
    stopped_early = False
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"), bar as task, stopper:
        for local in range(total):
            if stopper.requested:
                done_steps = local
                break
            step = start_step + local
            if schedule is not None:
                trainer.set_lr(schedule(local))
            if full_batch:
                logging = step % log_every == 0
                val = observe_val(step) if logging and has_val else None
                Xs = X if augment is None else augment(X, rng)
                loss, scores = trainer.train_step(Xs, y)
                check(step, loss)
                if logging:
                    log(step, loss, _accuracy(scores, y), val)
            else:
                if batch_pos >= n:
                    order = rng.permutation(n)
                    batch_pos = 0
                idx = order[batch_pos:batch_pos + batch_size]
                batch_pos += batch_size
                Xb = X[idx] if augment is None else augment(X[idx], rng)
                loss, _ = trainer.train_step(Xb, y[idx])
                check(step, loss)
                # with minibatches a row is logged after every log_every epochs (or
                # updates, without epochs), measured on the whole training set
                done = step + 1
                if per_epoch:
                    logged = done % per_epoch == 0 and (done // per_epoch) % log_every == 0
                else:
                    logged = done % log_every == 0
                if logged:
                    full_loss, probs = trainer.evaluate(X, y)
                    check(step, full_loss)
                    log(done, full_loss, _accuracy(probs, y))
            if task is not None and (local + 1) % update_every == 0:
                task.update(local + 1, loss)
            if early_stopping is not None and best["waited"] >= early_stopping:
                done_steps = local + 1
                stopped_early = True
                break
        seconds = time.perf_counter() - start
        end = start_step + done_steps
        restored = early_stopping is not None and best["state"] is not None
        if restored:
            trainer.load_state_dict(best["state"])
        final_loss, probs = trainer.evaluate(X, y)
        check(end, final_loss)
        final_acc = _accuracy(probs, y)
        if restored:
            for cb in callbacks:
                cb(end, final_loss, {"train_accuracy": final_acc, "final": True,
                                     "restored_step": best["step"]})
        elif not history.rows or history.rows[-1]["step"] != end:
            log(end, final_loss, final_acc, final=True)
        elif callbacks:
            for cb in callbacks:
                cb(end, final_loss, {**history.rows[-1], "final": True})
    result = FitResult(history=history, steps=end, seconds=seconds, final_loss=final_loss,
                       final_train_accuracy=final_acc, interrupted=stopper.requested,
                       stopped_early=stopped_early,
                       best_step=best["step"] if restored else None)
    if has_val:
        if restored:
            val_loss, val_probs = trainer.evaluate(X_val, y_val)
            result.final_val_loss, result.final_val_accuracy = val_loss, _accuracy(val_probs, y_val)
        else:
            result.final_val_loss = history.rows[-1]["val_loss"]
            result.final_val_accuracy = history.rows[-1]["val_accuracy"]
    return result


class _NoBar:
    def __enter__(self):
        return None

    def __exit__(self, *exc) -> None:
        return None


class _RichBar:
    def __init__(self, total: int, description: str) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self.progress = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]:.4f}"), TimeRemainingColumn(), transient=True,
        )
        self.task = self.progress.add_task(description, total=total, loss=float("nan"))

    def __enter__(self):
        self.progress.__enter__()
        return self

    def update(self, completed: int, loss: float) -> None:
        self.progress.update(self.task, completed=completed, loss=loss)

    def __exit__(self, *exc) -> None:
        self.progress.__exit__(*exc)


def _progress_bar(progress: bool | None, total: int, description: str):
    if progress is None:
        progress = sys.stdout.isatty()
    return _RichBar(total, description) if progress else _NoBar()
