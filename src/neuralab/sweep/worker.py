"""Sweep workers: each takes the study's next slot, trains it, stores its result, and repeats.

A worker runs in this process (``workers=1``) or in worker processes (forked where that is
safe, else spawned), each holding the data once and using ``cores // workers`` BLAS (and
torch) threads.

Only the sweep's own process decides when its worker processes stop. A worker
process ignores SIGINT and SIGTERM (a terminal's Ctrl-C, or a service manager's
SIGTERM, reaches the whole process group); a thread in each ends it at once when
the parent sets the stop flag, or when the parent is gone (killed, even by
SIGKILL: the worker's parent process id changes). A worker that ends mid-trial
leaves its trial running in the study; :func:`~neuralab.sweep.study.recover`
queues that slot again, so that another worker runs it.
"""

from __future__ import annotations

import math
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from neuralab.config import SettingError, TrainSettings
from neuralab.data import Dataset
from neuralab.sweep.space import Space
from neuralab.sweep.study import (
    HEARTBEAT_SECONDS,
    RESULT,
    SLOT,
    WORKER,
    has_heartbeat,
    make_sampler,
    open_study,
    recover,
    requeue,
    result_attrs,
    slots_left,
    suggest,
    tell,
    this_worker,
)
from neuralab.sweep.trials import Pruned, Stopped, Trial, evaluate_trial, trial_settings

#: how often a worker process looks at its stop flag and its parent; the parent at the study
POLL_SECONDS = 0.2


@dataclass(frozen=True)
class Job:
    """What every worker of one sweep needs: where the study is, and what a trial trains."""

    url: str
    study: str
    space: Space
    sampler: str
    pruner: str
    base: TrainSettings
    data: Dataset
    folds: list


def _heartbeat(study, trial, done: threading.Event) -> None:
    """Tell a database that ``trial`` is alive until ``done`` is set."""
    storage = study._storage
    while True:  # the first beat at once: a trial without one is never found stale
        try:
            storage.record_heartbeat(trial._trial_id)
        except Exception:  # noqa: BLE001 - a lost connection: the next beat tries again
            pass
        if done.wait(HEARTBEAT_SECONDS):
            return


def _reporter(trial):
    """The pruner's hook: report each logged validation loss; Pruned when it says stop."""
    def report(step: int, val_loss: float) -> None:
        if not math.isfinite(val_loss):
            return  # a diverging loss fails the trial by itself
        trial.report(val_loss, step)
        if trial.should_prune():
            raise Pruned(f"pruned at step {step}: validation loss {val_loss:.4g} lagged the "
                         "other trials' at that step")
    return report


def _run_one(study, trial, job: Job, stopped: Callable[[], bool]) -> Trial:
    """Train slot ``trial``; store its result in the study and finish it there."""
    slot = trial.user_attrs[SLOT]
    trial.set_user_attr(WORKER, this_worker())
    # the slot seeds the sampler: one worker draws the same trials for the same seed
    study.sampler = make_sampler(job.sampler, (job.base.seed + 7919 * slot) % 2**32)
    params = suggest(trial, job.space)
    try:
        settings = trial_settings(job.base, params)
    except SettingError as exc:  # a drawn combination the schema refuses
        result = Trial(number=slot, params=params, settings={}, status="failed", message=str(exc))
    else:
        beat = threading.Event()
        if has_heartbeat(study):
            threading.Thread(target=_heartbeat, args=(study, trial, beat), daemon=True).start()
        try:
            result = evaluate_trial(slot, params, settings, job.data, job.folds,
                                    report=None if job.pruner == "none" else _reporter(trial),
                                    stop=stopped)
        finally:
            beat.set()
    raw = result_attrs(result)
    trial.set_user_attr(RESULT, raw)  # first: a worker that ends now leaves its result
    tell(study, trial, raw)
    return result


def work(job: Job, *, study=None, after: Callable[[], None] | None = None,
         stopped: Callable[[], bool] = lambda: False) -> int:
    """Take slots from the study until none waits, or ``stopped()``; how many this worker ran.

    ``after()`` runs after each trial. ``stopped()`` is asked before each trial and
    each training step: a trial it ends goes back into the queue, here, between two
    writes to the study (a signal never cuts one short). Any exception (a
    KeyboardInterrupt too) puts the running slot back in the queue before it goes on up.
    """
    from optuna.trial import TrialState  # optuna is imported only when a sweep runs

    study = study or open_study(job.url, job.study, None, pruner=job.pruner, create=False)
    ran = 0
    while not stopped():
        recover(study)
        if slots_left(study)[0] == 0:
            break
        trial = study.ask()
        if SLOT not in trial.user_attrs:
            # another worker took the last waiting slot first: this trial is none of the sweep's
            study.tell(trial, state=TrialState.FAIL)
            continue
        try:
            _run_one(study, trial, job, stopped)
        except Stopped:
            requeue(study, trial)
            break
        except BaseException:
            requeue(study, trial)
            raise
        ran += 1
        if after is not None:
            after()
    return ran


# --- worker processes -------------------------------------------------------------------------

#: seconds a worker process told to stop has to end its trial by itself before it is ended
STOP_GRACE_SECONDS = 2.0


def _watch(stop, parent: int, leaving: threading.Event) -> None:
    """Stop this worker process when ``stop.value`` is set or its parent ``parent`` is gone.

    The worker first stops by itself (``leaving``: its trial ends at the next step and
    goes back into the queue); one that has not ended :data:`STOP_GRACE_SECONDS`
    later (a step of many seconds) is ended, and its running trial is queued again by
    :func:`~neuralab.sweep.study.recover`. ``stop`` is a lock-free shared byte: a
    lock or an Event could be left held by a worker that ends in the middle of a call.
    """
    while not stop.value and os.getppid() == parent:
        time.sleep(POLL_SECONDS)
    leaving.set()
    time.sleep(STOP_GRACE_SECONDS)
    os._exit(1)


def _process_main(job: Job, threads: int, stop, parent: int) -> None:
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)
    leaving = threading.Event()
    threading.Thread(target=_watch, args=(stop, parent, leaving), daemon=True,
                     name="neuralab-sweep-watch").start()
    try:
        from threadpoolctl import threadpool_limits

        # N processes each with all cores' BLAS threads would only fight for the cores
        threadpool_limits(limits=threads)
    except ImportError:  # pragma: no cover - scikit-learn brings threadpoolctl
        pass
    if job.base.backend == "torch":
        from neuralab.torch_backend.threads import set_threads

        set_threads(threads)
    work(job, stopped=leaving.is_set)


def run_processes(job: Job, workers: int, *, on_poll: Callable[[], None],
                  stopped: Callable[[], bool] = lambda: False,
                  meanwhile: Callable[[], object] | None = None) -> list[int]:
    """Run ``workers`` worker processes until the queue is empty or ``stopped()``; their exit
    statuses.

    ``on_poll()`` runs here every :data:`POLL_SECONDS` (it reports the trials that
    finished). ``stopped()`` or an exception (a KeyboardInterrupt too) stops every
    worker (see :func:`_watch`); the exception goes on up. ``meanwhile()`` runs in a
    thread once every worker has started (forked workers copy no such thread), while
    this process only waits on them; the thread has ended when this returns.
    """
    import multiprocessing
    from multiprocessing.connection import wait

    from neuralab.cores import at_once
    from neuralab.runs.parallel import can_fork

    # a forked worker starts with this process's modules (numpy, optuna, the engine) loaded,
    # where a spawned one imports them all again (about a second); fork only where it is
    # safe: no other thread whose locks the copy would inherit (see can_fork)
    context = multiprocessing.get_context("fork" if can_fork() else "spawn")
    stop = context.RawValue("b", 0)
    threads = max(1, (os.cpu_count() or 1) // workers)
    procs = [context.Process(target=_process_main, args=(job, threads, stop, os.getpid()),
                             name=f"neuralab-sweep-worker-{i}") for i in range(workers)]
    def watch() -> None:
        while (alive := [p for p in procs if p.is_alive()]) and not stopped():
            # woken at once when a worker ends (the last trial's result is read and the
            # best retrained without waiting out the interval), else every POLL_SECONDS
            wait([p.sentinel for p in alive], timeout=POLL_SECONDS)
            on_poll()

    try:
        for p in procs:
            p.start()
        if meanwhile is None:
            watch()
        else:
            at_once(watch, meanwhile)
    finally:
        stop.value = 1  # on an interrupt or any error: the workers end now
        for p in procs:
            if p.pid is not None:
                p.join()
    return [p.exitcode for p in procs]
