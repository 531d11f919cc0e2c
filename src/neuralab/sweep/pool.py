"""Trials in parallel: spawned worker processes, each holding the data once.

The pool's initializer sends the data and the folds to each worker once; a
job is then only ``(number, params, settings)``. Workers share the machine's
cores: each gets ``cores // workers`` BLAS threads (and torch threads, on the
torch backend). Ctrl-C goes to the parent, which stops handing out trials and
keeps the ones that finish.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

import numpy as np

from neuralab import NeuralabError
from neuralab.config import TrainSettings
from neuralab.data import Dataset
from neuralab.sweep.trials import Trial, evaluate_trial

# the data a worker process holds, sent once by the pool's initializer
_WORKER: dict = {}


def _init_worker(data: Dataset, folds, threads: int, backend: str) -> None:
    import signal

    # Ctrl-C goes to the parent, which stops handing out trials and lets running ones end
    signal.signal(signal.SIGINT, signal.SIG_IGN)
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
    """Run the jobs in ``workers`` spawned processes; record each trial as it finishes."""
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    threads = max(1, (os.cpu_count() or 1) // workers)
    backend = jobs[0][2].backend  # not searchable: the same for every trial
    executor = ProcessPoolExecutor(
        max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
        initializer=_init_worker, initargs=(data, folds, threads, backend))
    pending = {executor.submit(_worker_trial, *job) for job in jobs}
    try:
        while pending:
            finished, pending = wait(pending, return_when=FIRST_COMPLETED)
            for fut in finished:
                record(fut.result())
    except BrokenProcessPool:
        raise NeuralabError(
            "a sweep worker process stopped abruptly (out of memory, or a script that starts "
            "the sweep outside `if __name__ == \"__main__\":`); run with processes=1 to see why"
        ) from None
    except KeyboardInterrupt:
        # let the running trials end and keep them; drop the ones not started
        for fut in pending:
            fut.cancel()
        executor.shutdown(wait=True, cancel_futures=True)
        for fut in pending:
            if fut.done() and not fut.cancelled() and fut.exception() is None:
                record(fut.result())
        raise
    finally:
        executor.shutdown(wait=True, cancel_futures=True)
