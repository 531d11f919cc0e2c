"""The best trial retrained ahead, while the sweep's last trials still run.

A sweep ends by retraining its best trial on all non-test rows (``best/``). That cannot
be final before the last trial ends, since the last trial may come out best, so with
worker processes the sweep used to wait for its last trial and then for a whole
training run on top. :class:`Ahead` starts that retraining as soon as a worker process
has no slot left to take (every slot has started, fewer are running than there are
workers: a core is free), here, in the sweep's own process, with the best trial so far.

Its files are written at once, as a run's own are, into a new state that is held open
(:class:`~neuralab.runs.parallel.Later`), and nothing appears in ``best/`` until
:meth:`Ahead.keep` finds the same trial still the best once every slot is done.
Otherwise (another trial came out best, a signal stopped the sweep, the retraining
failed) the retrained run is discarded whole and the sweep retrains as before: the
sweep's files are the same either way, only sooner.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from neuralab.config import TrainSettings
from neuralab.data import Dataset
from neuralab.lab import run_training
from neuralab.runs import RunResult
from neuralab.runs.parallel import Later, can_fork
from neuralab.sweep.space import format_params
from neuralab.sweep.study import slots_left
from neuralab.sweep.trials import DEFAULT_VAL_FRACTION, Trial, all_trial_settings
from neuralab.train import StopOnSignal

__all__ = ["Ahead", "best_run_settings", "retrain_best"]


class _Stopped(Exception):
    """The sweep heard a signal while its best trial was retrained ahead."""


def best_run_settings(base: TrainSettings, best: Trial, val_fraction: float | None
                      ) -> TrainSettings:
    """The settings that retrain ``best`` on all non-test rows: only early stopping keeps a
    validation split to watch, so that it never watches the test rows."""
    settings = all_trial_settings(base, [best.params])[0]
    keep_val = settings.early_stopping is not None
    return settings.replace(test_fraction=base.test_fraction, val_fraction=(
        val_fraction or DEFAULT_VAL_FRACTION) if keep_val else None)


def retrain_best(data: Dataset, settings: TrainSettings, best: Trial, out: Path | None,
                 **run_kwargs) -> RunResult:
    """``best`` retrained with ``settings`` (:func:`best_run_settings`) into ``out/best``."""
    params = best.params
    return run_training(data, settings, out=None if out is None else out / "best",
                        overwrite=True, print_every=None, echo=None,
                        name=f"sweep best: {format_params(params)}" if params else "sweep best",
                        **run_kwargs)


class Ahead:
    """The best trial so far retrained while the last trials run; a context manager that
    discards the run it did not keep on the way out.

    ``run_kwargs`` are the final run's (:func:`retrain_best`), ``val_fraction`` the sweep's.
    """

    def __init__(self, data: Dataset, val_fraction: float | None, **run_kwargs) -> None:
        self.data, self.val_fraction = data, val_fraction
        self.run_kwargs = {**run_kwargs, "progress": False}  # the trials' lines are showing
        self.started = False
        self._later: Later | None = None
        self._trial: Trial | None = None
        self._run: RunResult | None = None

    def when_idle(self, result, study, workers: int, stopped: Callable[[], bool]) -> bool:
        """Start once a worker process has no slot left and a trial has finished; whether the
        sweep may go on (False: a signal stopped the retraining, and so the sweep).

        ``stopped()`` is the sweep's: a signal it heard before the training took over the
        signals stops the retraining at its next logged step. A retraining that fails in
        any other way is discarded: the sweep retrains the best at its end, and says why
        that failed, as before. While it trains, the trials' results are read afterwards.
        """
        # only where its files can be written beside (no other thread: the import of
        # matplotlib beside the trials has ended), else the next poll asks again
        if self.started or result.best is None or result.out is None or not can_fork():
            return True
        waiting, running = slots_left(study)
        if waiting or not 0 < running < workers:
            return True
        if stopped():
            return False
        self.started = True
        best = result.best
        settings = best_run_settings(result.base, best, self.val_fraction)
        # its files written here and in a forked writer, once it trained, beside the last
        # trials: this process only waits on them, and a discarded run leaves no writer behind
        self._later = Later(write_here=True)

        def heard(step, loss, metrics) -> None:
            if stopped():
                raise _Stopped

        try:
            run = retrain_best(self.data, settings, best, result.out, later=self._later,
                               callbacks=[heard], **self.run_kwargs)
            if not run.interrupted:
                self._later.write()  # beside the last trials, with the run's own forked writer
        except _Stopped:
            self.discard()
            return False
        except Exception:  # noqa: BLE001 - the sweep's own retraining at its end says why
            self.discard()
            return True
        except BaseException:
            self.discard()
            raise
        if run.interrupted or stopped():  # a signal reached the retraining, or its write
            self.discard()
            return False
        self._trial, self._run = best, run
        return True

    def keep(self, best: Trial | None) -> RunResult | None:
        """The run retrained ahead, swapped into ``best/``, where ``best`` is the trial it
        retrained; else None, with the run discarded."""
        if self._run is None or best is None or (best.number, best.params) != (
                self._trial.number, self._trial.params):
            self.discard()
            return None
        run, later = self._run, self._later
        self._run = self._later = None
        # as a run's own write: a signal lets it finish (the run then says it was stopped
        # while written), a second abandons it (WriteInterrupted, nothing in best/), until
        # the swap begins
        with later, StopOnSignal(True) as stopper:
            later.finish(before_commit=lambda: setattr(stopper, "abort_on_second", False))
        run.stopped_while_writing = run.stopped_while_writing or stopper.requested
        return run

    def discard(self) -> None:
        later, self._later, self._run = self._later, None, None
        if later is not None:
            later.__exit__(None, None, None)

    def __enter__(self) -> Ahead:
        return self

    def __exit__(self, *exc) -> None:
        self.discard()
