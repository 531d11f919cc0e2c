"""Trials in parallel: spawned worker processes, each holding the data once.

The pool's initializer sends the data and the folds to each worker once; a
job is then only ``(number, params, settings)``. Workers share the machine's
cores: each gets ``cores // workers`` BLAS threads (and torch threads, on the
torch backend).

Only the parent decides when the workers stop. A worker ignores SIGINT and
SIGTERM (a terminal's Ctrl-C, or a service manager's SIGTERM, reaches the
whole process group); a thread in each worker ends it at once when the parent
sets the pool's stop flag, or when the parent is gone (killed, even by
SIGKILL: the worker's parent process id changes). So a signal to the parent
stops every worker within a fraction of a second, and no worker outlives it.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable, Sequence

import numpy as np

from neuralab import NeuralabError
from neuralab.config import TrainSettings
from neuralab.data import Dataset
from neuralab.sweep.trials import Trial, evaluate_trial

# the data a worker process holds, sent once by the pool's initializer
_WORKER: dict = {}
# how often a worker looks at its stop flag and its parent, and the parent for signals
POLL_SECONDS = 0.2


def _watch(stop, parent: int) -> None:
    """End this worker process when ``stop.value`` is set or its parent ``parent`` is gone.

    ``stop`` is a lock-free shared byte: a lock or an Event could be left held by a
    worker that ends in the middle of a call, and block the others.
    """
    while not stop.value and os.getppid() == parent:
        time.sleep(POLL_SECONDS)
    os._exit(1)  # a trial in progress is dropped; the parent reruns it on --resume


def _init_worker(data: Dataset, folds, threads: int, backend: str, stop, parent: int) -> None:
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)
    threading.Thread(target=_watch, args=(stop, parent), daemon=True,
                     name="neuralab-sweep-watch").start()
    try:
        from threadpoolctl import threadpool_limits

        # N processes each with all cores' BLAS threads would only fight for the cores
        threadpool_limits(limits=threads)
    except ImportError:  # pragma: no cover - scikit-learn brings threadpoolctl
        pass
    if backend == "torch":
        from neuralab.torch_backend.threads import set_threads

        set_threads(threads)
    _WORKER.update(data=data, folds=folds)


def _worker_trial(number: int, params: dict, settings: TrainSettings) -> Trial:
    return evaluate_trial(number, params, settings, _WORKER["data"], _WORKER["folds"])


def run_pool(jobs: Sequence[tuple[int, dict, TrainSettings]], workers: int, data: Dataset,
             folds: list[tuple[np.ndarray, np.ndarray]],
             record: Callable[[Trial], None]) -> None:
    """Run the jobs in ``workers`` spawned processes; record each trial as it finishes.

    KeyboardInterrupt (Ctrl-C, or SIGTERM turned into it by the caller) stops every
    worker at once: the trials that finished are recorded, the running ones dropped.
    """
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    threads = max(1, (os.cpu_count() or 1) // workers)
    backend = jobs[0][2].backend  # not searchable: the same for every trial
    context = multiprocessing.get_context("spawn")
    stop = context.RawValue("b", 0)  # the workers' stop flag
    executor = ProcessPoolExecutor(
        max_workers=workers, mp_context=context, initializer=_init_worker,
        initargs=(data, folds, threads, backend, stop, os.getpid()))
    pending = {executor.submit(_worker_trial, *job) for job in jobs}
    try:
        while pending:
            # a timeout, so that a signal's handler runs promptly in this (main) thread
            finished, pending = wait(pending, timeout=POLL_SECONDS,
                                     return_when=FIRST_COMPLETED)
            for fut in finished:
                record(fut.result())
        executor.shutdown(wait=True)  # every trial done: the workers end on their own
    except BrokenProcessPool:
        raise NeuralabError(
            "a sweep worker process stopped abruptly (out of memory, or a script that starts "
            "the sweep outside `if __name__ == \"__main__\":`); run with processes=1 to see why"
        ) from None
    except KeyboardInterrupt:
        stop.value = 1
        executor.shutdown(wait=True, cancel_futures=True)
        # trials that finished while the interrupt arrived are kept
        for fut in pending:
            if fut.done() and not fut.cancelled() and fut.exception() is None:
                record(fut.result())
        raise
    finally:
        stop.value = 1  # on any error: the workers end now, not after their trials
        executor.shutdown(wait=True, cancel_futures=True)
