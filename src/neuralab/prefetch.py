"""Minibatches gathered ahead of the steps that train on them, in a second thread.

A minibatch step first gathers its rows (``X[idx]``, 128 rows of 784 pixels for
Fashion-MNIST; for a large training split also standardised as they are read,
:class:`~neuralab.data.preprocess.ScaledRows`), then trains on them. The gather and the
scaling are NumPy operations that let go of the interpreter, and a small network's
steps run on one thread (:mod:`neuralab.threads`), so a second core idles while the
step waits for its rows. :class:`Prefetch` gathers the next steps' rows in a thread
meanwhile, at most :data:`DEPTH` steps ahead: the rows are the same arrays the step
would have made, so training gives the same numbers, in about 10 % less time on
Fashion-MNIST's 784-100-10 net.

The thread lives for one :func:`~neuralab.train.fit` loop and has ended when the loop
returns, whichever way it ends (a later fork must copy no other thread).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable

import numpy as np

from neuralab.cores import available_cores

__all__ = ["DEPTH", "Prefetch", "prefetching"]

#: how many steps' rows the thread gathers ahead of the step being trained
DEPTH = 2
# how often a thread blocked on the queue looks whether it should stop
_POLL_SECONDS = 0.05


def prefetching(batch_size: int | None, steps: int) -> bool:
    """Whether :func:`~neuralab.train.fit` gathers its batches ahead: minibatches, more than
    one step, at least two cores, and fit called from the main thread (the playground's
    sessions train in threads of their own, a frame at a time)."""
    return (batch_size is not None and steps > 1 and available_cores() >= 2
            and threading.current_thread() is threading.main_thread())


class Prefetch:
    """The rows of steps ``start``..``end - 1``: ``take(step)`` called in a worker thread, in
    order, at most :data:`DEPTH` steps ahead of :meth:`get`.

    ``take`` must read only what no other thread writes while the loop runs (the
    training rows and the epochs' orders). An exception it raises is raised again by
    the :meth:`get` of its step. Use as a context manager: leaving it stops the thread
    and waits for it.
    """

    def __init__(self, take: Callable[[int], np.ndarray], start: int, end: int) -> None:
        self._take = take
        self._queue: queue.Queue = queue.Queue(maxsize=DEPTH)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(start, end), daemon=True,
                                        name="neuralab-batches")

    def __enter__(self) -> Prefetch:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        while self._thread.is_alive():  # empty the queue so that a blocked put returns
            try:
                self._queue.get(timeout=_POLL_SECONDS)
            except queue.Empty:
                pass
        self._thread.join()

    def _put(self, item) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=_POLL_SECONDS)
                return True
            except queue.Full:
                continue
        return False

    def _run(self, start: int, end: int) -> None:
        for step in range(start, end):
            if self._stop.is_set():
                return
            try:
                item = (step, self._take(step), None)
            except BaseException as exc:  # noqa: BLE001 - raised again in the training thread
                self._put((step, None, exc))
                return
            if not self._put(item):
                return

    def get(self, step: int) -> np.ndarray:
        """Step ``step``'s rows; the steps must be asked for in order, from ``start``."""
        while True:
            try:
                got, rows, exc = self._queue.get(timeout=_POLL_SECONDS)
                break
            except queue.Empty:
                if not self._thread.is_alive() and self._queue.empty():
                    raise RuntimeError(f"the batch thread ended before step {step}") from None
        if exc is not None:
            raise exc
        if got != step:  # pragma: no cover - a bug in the caller, not a user's error
            raise RuntimeError(f"the batch thread gathered step {got}, step {step} asked for")
        return rows
