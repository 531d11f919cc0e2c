"""What the training loop reports through: its history, its result, signals, printing, a bar.

:func:`neuralab.train.fit` keeps a :class:`History` of logged rows and returns a
:class:`FitResult`; :class:`StopOnSignal` turns Ctrl-C and SIGTERM into a request to
stop after the current step; :class:`PrintLogger` and the rich progress bar show
the loop on a terminal. :mod:`neuralab.train` re-exports them.
"""

from __future__ import annotations

import contextlib
import math
import signal
import sys
import threading
import time
from dataclasses import dataclass, field

import numpy as np

@dataclass
class History:
    """Rows of ``step, loss, train_accuracy[, val_loss, val_accuracy]`` (regression: no accuracy)."""

    rows: list[dict] = field(default_factory=list)

    @property
    def columns(self) -> list[str]:
        """step, loss, train_accuracy, then val_loss, val_accuracy when logged, then the
        per-parameter gradient norms ``grad_norm_W1, grad_norm_b1, ...``."""
        last = self.rows[-1] if self.rows else {}
        # a regression run's rows hold no accuracy
        cols = ["step", "loss"] + (["train_accuracy"] if not last or "train_accuracy" in last else [])
        if "val_loss" in last:
            cols += ["val_loss"] + (["val_accuracy"] if "val_accuracy" in last else [])
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
    #: the closing evaluation's probabilities (regression: outputs) of the training data X
    #: fit was given, at the final weights: the run scores its training split with them
    final_outputs: np.ndarray | None = field(default=None, repr=False, compare=False)

    def _repr_html_(self) -> str:
        """A notebook shows the result as its headline metrics and the loss curve."""
        from neuralab.notebook import fit_html

        return fit_html(self)


class StopOnSignal:
    """While active, SIGINT and SIGTERM ask the loop to stop after the current step.

    A second signal while a stop is pending raises KeyboardInterrupt at once,
    unless ``abort_on_second`` has been set False (a write that must finish).
    ``requested`` may start True: a stop already asked for. Outside the main
    thread signals cannot be caught; there it does nothing.
    """

    def __init__(self, enabled: bool, *, requested: bool = False) -> None:
        self.enabled = enabled and threading.current_thread() is threading.main_thread()
        self.requested = requested
        self.abort_on_second = True
        self._old: dict[int, object] = {}

    def _handler(self, signum, frame) -> None:
        if self.requested and self.abort_on_second:
            raise KeyboardInterrupt
        self.requested = True

    def __enter__(self) -> StopOnSignal:
        if self.enabled:
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._old[sig] = signal.signal(sig, self._handler)
        return self

    def __exit__(self, *exc) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old if old is not None else signal.SIG_DFL)
        self._old = {}


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


class _RichBar:
    """rich's progress bar, redrawn by the training loop itself at most every
    :attr:`REFRESH_SECONDS`: rich's own refresh thread would take the interpreter from the
    loop ten times a second, and the loop waits for it back after every matrix product
    that lets go of it."""

    REFRESH_SECONDS = 0.25

    def __init__(self, total: int, description: str) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self.progress = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]:.4f}"), TimeRemainingColumn(), transient=True,
            auto_refresh=False,
        )
        self.task = self.progress.add_task(description, total=total, loss=float("nan"))
        self.drawn = -math.inf

    def __enter__(self):
        self.progress.__enter__()
        self.progress.refresh()
        self.drawn = time.monotonic()
        return self

    def update(self, completed: int, loss: float) -> None:
        # rich's own update (its lock, its speed samples) only when the bar is redrawn: the
        # loop calls this up to 200 times a run, and most calls would be seen by no one
        now = time.monotonic()
        if now - self.drawn >= self.REFRESH_SECONDS:
            self.progress.update(self.task, completed=completed, loss=loss)
            self.progress.refresh()
            self.drawn = now

    def __exit__(self, *exc) -> None:
        self.progress.__exit__(*exc)


def progress_bar(progress: bool | None, total: int, description: str):
    if progress is None:
        progress = sys.stdout.isatty()
    return _RichBar(total, description) if progress else contextlib.nullcontext()
