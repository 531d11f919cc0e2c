"""The sweep: run the study's trials, rank them, write sweep.csv and sweep.json, retrain the best.

Every finished trial is stored in the study (:mod:`neuralab.sweep.study`) the
moment it finishes, so a sweep stopped at any instant, even by SIGKILL, keeps
it; run again on the same study (``resume=True`` for the folder's own study, or
the same ``storage`` and ``study``), it runs only the slots not yet finished.
sweep.csv and sweep.json are rewritten (atomically) from the study as trials
finish.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import os
import signal
import threading
import time
import warnings
from collections.abc import Callable, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from neuralab import ArgumentError, NeuralabError
from neuralab.config import TrainSettings, check
from neuralab.data import Dataset
from neuralab.data.splits import make_splits
from neuralab.fileio import csv_text, write_csv, write_json
from neuralab.runs import RunLock, RunLockedError, RunResult, prepare_run_dir
from neuralab.runs.tensorboard import TENSORBOARD, write_trial_events
from neuralab.sweep.space import (
    SAMPLERS,
    default_sampler,
    format_value,
    grid,
    normalize_space,
)
from neuralab.sweep.study import (
    DEFAULT_STUDY,
    MEMORY,
    STUDY_FILE,
    check_study_name,
    definition,
    open_study,
    read_trials,
    recover,
    redact,
    slots_left,
    storage_url,
)
from neuralab.sweep.trials import (
    DEFAULT_VAL_FRACTION,
    Trial,
    all_trial_settings,
    selection_splits,
)
from neuralab.sweep.ahead import Ahead, best_run_settings, retrain_best
from neuralab.sweep.worker import Job, run_processes, work
from neuralab.train import TrainingDiverged

#: How bad trials are stopped early: the median rule, Hyperband, or not at all.
PRUNERS = ("median", "hyperband", "none")


@dataclass
class SweepResult:
    """Every trial, best first, and the best one retrained on all non-test data.

    Attributes:
        trials: the finished trials, sorted best first (see :meth:`Trial.sort_key`);
            pruned, then failed trials last.
        varied: the searched settings, in the space's order (the CSV's parameter columns).
        sampler: ``grid``, ``tpe`` or ``random``; pruner: ``median``, ``hyperband`` or ``none``.
        scoring: how trials were scored: ``{"method": "holdout", "val_fraction": f}``
            or ``{"method": "kfold", "folds": k}``, with the seed and row counts.
        base: the settings every trial started from.
        folds: the (train rows, validation rows) pairs, as rows of the data set.
        best_run: the retrained best trial (a normal run), or None.
        best_error: why there is no best run (every trial failed, the retrain
            diverged), or None.
        out: the folder written, or None.
        interrupted: a signal (Ctrl-C, SIGTERM) stopped the sweep; only finished trials
            are listed, and the running ones wait in the study for the next run.
        total: how many trials the sweep is to run (its slots).
        pending: slots not finished when this process stopped (others' workers may run them).
        data: the rows, features and SHA-256 of the data the trials were scored on.
        resumed: how many trials had finished before this run began.
        study: the study's name; storage: where it lives (a password shown as ***).
    """

    trials: list[Trial]
    varied: list[str]
    sampler: str
    pruner: str
    scoring: dict
    base: TrainSettings
    folds: list[tuple[np.ndarray, np.ndarray]]
    best_run: RunResult | None = None
    best_error: str | None = None
    out: Path | None = None
    interrupted: bool = False
    total: int = 0
    pending: int = 0
    data: dict | None = None
    resumed: int = 0
    study: str = DEFAULT_STUDY
    storage: str = ""

    @property
    def best(self) -> Trial | None:
        """The best trial that did not fail, or None."""
        return next((t for t in self.trials if t.ok), None)

    @property
    def n_failed(self) -> int:
        return sum(t.status == "failed" for t in self.trials)

    @property
    def n_pruned(self) -> int:
        return sum(t.status == "pruned" for t in self.trials)

    def table(self) -> list[dict]:
        """One row per trial, best first, with the CSV's columns and formatting."""
        rows = []
        for t in self.trials:
            row = {"rank": "" if t.rank is None else t.rank, "score": _num(t.score)}
            row.update({name: format_value(name, t.params.get(name)) for name in self.varied})
            row.update(val_loss=_num(t.val_loss), train_accuracy=_num(t.train_accuracy),
                       std=_num(t.std), seconds=f"{t.seconds:.4f}", status=t.status,
                       message=t.message)
            rows.append(row)
        return rows

    @property
    def columns(self) -> list[str]:
        return ["rank", "score", *self.varied, "val_loss", "train_accuracy", "std", "seconds",
                "status", "message"]

    def csv_rows(self) -> list[list]:
        """The table's rows as lists, in :attr:`columns` order."""
        return [[row[c] for c in self.columns] for row in self.table()]

    def to_csv(self) -> str:
        """sweep.csv: ``rank,score,<searched settings>,val_loss,train_accuracy,std,seconds,...``."""
        return csv_text(self.columns, self.csv_rows())

    def to_dict(self) -> dict:
        best, run = self.best, self.best_run
        return {
            "sampler": self.sampler, "pruner": self.pruner,
            "study": {"name": self.study, "storage": self.storage},
            "scoring": self.scoring, "varied": self.varied,
            "n_trials": self.total, "n_done": len(self.trials), "n_failed": self.n_failed,
            "n_pruned": self.n_pruned, "n_pending": self.pending,
            "interrupted": self.interrupted, "base_settings": self.base.to_dict(),
            "data": self.data,
            "best": None if best is None else {
                "number": best.number, "params": best.params, "score": best.score,
                "val_loss": best.val_loss, "std": best.std,
            },
            "best_run": None if run is None else {
                "run_dir": None if run.run_dir is None else str(run.run_dir),
                "train_accuracy": run.train_accuracy,
                "test_accuracy": run.test_accuracy,
                "interrupted": run.interrupted,
            },
            "best_error": self.best_error,
            "trials": [t.to_dict() for t in self.trials],
        }

    def write(self) -> None:
        """``sweep.csv`` and ``sweep.json`` in :attr:`out`; a file-system error is one line."""
        for name, write in (("sweep.csv", lambda p: write_csv(p, self.columns, self.csv_rows())),
                            ("sweep.json", lambda p: write_json(p, self.to_dict()))):
            try:
                write(self.out / name)
            except OSError as exc:
                raise NeuralabError(f"cannot write {self.out / name}: "
                                    f"{exc.strerror or exc}") from None


def _num(value: float) -> str:
    return "" if value is None or not math.isfinite(value) else repr(float(value))


def _rank(trials: list[Trial]) -> list[Trial]:
    ordered = sorted(trials, key=Trial.sort_key)
    for i, t in enumerate(ordered):
        t.rank = i + 1 if t.ok else None
    return ordered


def _scoring(y: np.ndarray, base: TrainSettings, folds: int | None,
             val_fraction: float | None) -> tuple[list, dict]:
    """The (train rows, validation rows) pairs the trials are scored on, and how, in words."""
    if folds is not None and val_fraction is not None:
        raise NeuralabError("give folds or val_fraction, not both")
    if folds is None:
        val_fraction = (check("val_fraction", val_fraction) if val_fraction is not None
                        else base.val_fraction or DEFAULT_VAL_FRACTION)
    regression = base.task == "regression"
    pairs = selection_splits(y, folds=folds, val_fraction=val_fraction,
                             test_fraction=base.test_fraction, seed=base.seed,
                             stratified=not regression)
    scoring = ({"method": "kfold", "folds": int(folds)} if folds is not None
               else {"method": "holdout", "val_fraction": float(val_fraction)})
    scoring.update(seed=base.seed, test_fraction=base.test_fraction,
                   train_rows=[len(tr) for tr, _ in pairs], val_rows=[len(va) for _, va in pairs],
                   score=("mean validation MSE, lower is better" if regression else
                          "mean validation accuracy; ties: lower mean validation cross-entropy"))
    return pairs, scoring


def data_digest(data: Dataset) -> dict:
    """Rows, features and a SHA-256 of the features, labels and class names of ``data``."""
    digest = hashlib.sha256()
    for array in (data.X, data.y):
        array = np.ascontiguousarray(array)
        digest.update(f"{array.dtype.str}{array.shape}".encode())
        digest.update(array)
    digest.update("\0".join(map(str, data.classes)).encode())
    return {"rows": len(data.y), "features": int(data.X.shape[1]),
            "sha256": digest.hexdigest()}


@contextmanager
def _signals_heard():
    """While active, SIGINT and SIGTERM are noted in the list it yields, and nothing else.

    The sweep asks that list before each trial and each training step, so that it
    stops between two writes to the study, never inside one. Later signals are
    ignored, so that none cuts the stop short. A signal that was ignored when the
    sweep started stays ignored. Outside the main thread signals cannot be caught;
    there the list stays empty.
    """
    heard: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield heard
        return

    def handler(signum, frame) -> None:
        if not heard:
            heard.append(signum)

    old = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        if signal.getsignal(sig) is not signal.SIG_IGN:
            old[sig] = signal.signal(sig, handler)
    try:
        yield heard
    finally:
        for sig, previous in old.items():
            signal.signal(sig, previous)


def _n_trials(sampler: str, n_trials, space) -> int:
    if sampler == "grid":
        if n_trials is not None:
            raise ArgumentError("n_trials", "n_trials is for the tpe and random samplers; the grid "
                                            "sampler runs every combination")
        return len(grid(space))
    if n_trials is None:
        raise ArgumentError("n_trials", f"n_trials is missing: the {sampler} sampler needs the "
                                        f"number of trials to run, from 1 to {MAX_TRIALS}")
    if (not isinstance(n_trials, (int, np.integer)) or isinstance(n_trials, bool)
            or not 1 <= n_trials <= MAX_TRIALS):
        raise ArgumentError("n_trials", f"n_trials must be the number of trials the {sampler} "
                                        f"sampler runs, from 1 to {MAX_TRIALS}; got {n_trials!r}")
    return int(n_trials)


#: the most trials one sweep may hold (each is a row of the study)
MAX_TRIALS = 100_000


def _choose(space, sampler, pruner, workers) -> tuple[str, str]:
    sampler = default_sampler(space) if sampler is None else sampler
    if sampler not in SAMPLERS:
        raise ArgumentError("sampler", f"sampler must be one of {', '.join(SAMPLERS)}; "
                                       f"got {sampler!r}")
    pruner = ("none" if sampler == "grid" else "median") if pruner is None else pruner
    if pruner not in PRUNERS:
        raise ArgumentError("pruner", f"pruner must be one of {', '.join(PRUNERS)}; got {pruner!r}")
    if not isinstance(workers, (int, np.integer)) or isinstance(workers, bool) or workers < 1:
        raise ArgumentError("workers", f"workers must be a positive integer, got {workers!r}")
    return sampler, pruner


def _prepare_out(out: Path | None, storage: str | None, *, resume: bool, overwrite: bool) -> None:
    """Check or make the sweep's folder: a resumed one must hold its study, a new one be empty."""
    if resume and overwrite:
        raise ArgumentError("resume", "resume keeps the trials in out, overwrite discards them; "
                                      "give one, not both")
    if resume:
        if out is None:
            raise ArgumentError("resume", "resume needs out, the folder of the sweep to continue")
        if storage is None and not (out / STUDY_FILE).is_file():
            raise ArgumentError("resume", f"resume {out}: no {STUDY_FILE} there, so no sweep to "
                                          "continue")
        return
    if out is not None:
        prepare_run_dir(out, overwrite=overwrite, figures=False)


def _run(job: Job, study, workers: int, poll: Callable[[], None], *, figures: bool,
         idle: Callable[[Callable[[], bool]], bool] | None = None) -> bool:
    """Run the workers until no slot waits; whether a signal (or KeyboardInterrupt) stopped them.

    ``figures``: the best run's figures will be drawn here, so with worker processes this
    process imports matplotlib while it waits on them (half a second that the best run's
    write would wait for otherwise, and its forked writer with it). ``idle(stopped)``:
    asked after each poll while worker processes run (:meth:`Ahead.when_idle`), with what
    says whether a signal came; False stops the sweep as a signal would."""
    with _signals_heard() as heard:
        stopped = heard.__len__

        def polled() -> None:
            poll()
            if idle is not None and not heard and not idle(stopped):
                heard.append(signal.SIGINT)

        try:
            if workers > 1:
                run_processes(job, workers, on_poll=polled, stopped=stopped,
                              meanwhile=_preload_figures if figures else None)
            # a worker that died mid-trial left its slot running (recover() queues it again),
            # and workers that could not start left theirs waiting: run them here
            work(job, study=study, after=poll, stopped=stopped)
        except KeyboardInterrupt:
            heard.append(signal.SIGINT)
        if heard:
            recover(study)  # the stopped workers' slots wait for the next run
    return bool(heard)


def _preload_figures() -> None:
    """matplotlib imported ahead of the best run's figures; a failure is left for them to raise."""
    from neuralab import plots

    try:
        plots.preload()
    except Exception:  # noqa: BLE001 - the figures' own import raises it where it matters
        pass


def _collector(result: SweepResult, study, space,
               on_trial: Callable[[int, int, Trial], None] | None) -> Callable[[], None]:
    """Read the study's finished trials into ``result``, rewrite its files, tell ``on_trial``
    of each new one."""
    seen = {t.number for t in result.trials}

    def collect() -> None:
        trials = read_trials(study, space, result.base, len(result.folds))
        new = [t for t in trials if t.number not in seen]
        if not new and len(trials) == len(result.trials):
            return
        result.trials = _rank(trials)
        if result.out is not None:
            result.write()
        for t in sorted(new, key=lambda t: t.number):
            seen.add(t.number)
            if result.out is not None and result.base.tensorboard:  # each trial a TensorBoard run
                write_trial_events(result.out / TENSORBOARD / f"trial-{t.number:03d}", t)
            if on_trial is not None:
                on_trial(len(seen), result.total, t)

    return collect


def _ready(data: Dataset, base: TrainSettings, space, *, sampler, n_trials, pruner, folds,
           val_fraction, workers, test) -> tuple:
    """Check everything a sweep is given before it touches any file."""
    from neuralab.runs.regression import check_task

    check_task(data, base)  # a data set of the other task fails here, not in every trial
    space = normalize_space(space)
    sampler, pruner = _choose(space, sampler, pruner, workers)
    total = _n_trials(sampler, n_trials, space)
    if sampler == "grid":
        all_trial_settings(base, grid(space))  # every grid point's settings, checked now
    # the final run's splits, checked now so that a bad --test-data fails before the trials
    make_splits(data, test, test_fraction=base.test_fraction, seed=base.seed)
    pairs, scoring = _scoring(data.y, base, folds, val_fraction)
    return space, sampler, pruner, total, pairs, scoring


#: how often a sweep that waits for another process to finish writing ``best/`` looks again
BEST_WAIT_POLL_SECONDS = 0.25


def _retrain_best(result: SweepResult, data: Dataset, **run_kwargs) -> None:
    """Train the best trial on all non-test rows; a failure is kept as best_error.

    Where another process is writing ``best/`` (processes that share the study and
    ``out``, and found every slot done together; or one keeping the best trial it
    retrained ahead), this one says so (a warning), waits until that process lets go of
    it, and then retrains into it as usual, rather than fail with a "locked" error. Ctrl-C
    while it waits stops the sweep as during a trial: nothing retrained, ``interrupted``
    set, and ``--resume`` retrains the best."""
    settings = best_run_settings(result.base, result.best, result.scoring.get("val_fraction"))
    warned = False
    while True:
        try:
            result.best_run = retrain_best(data, settings, result.best, result.out, **run_kwargs)
            return
        except RunLockedError as exc:
            if exc.owner == os.getpid():  # never this process's own lock: no wait ends that
                result.best_error = _best_failed(exc)
                return
            if not warned:
                warnings.warn(f"{exc.shown} is being written by {exc.who}; waiting until it "
                              "finishes, then retraining the best trial into it", stacklevel=2)
                warned = True
            if not _waited_for(RunLock(result.out / "best")):
                result.interrupted = True
                return
        except (TrainingDiverged, NeuralabError) as exc:
            result.best_error = _best_failed(exc)
            return


def _waited_for(lock: RunLock) -> bool:
    """Wait until ``lock`` looks free; False where Ctrl-C ended the wait."""
    try:
        while not lock.free():
            time.sleep(BEST_WAIT_POLL_SECONDS)
    except KeyboardInterrupt:
        return False
    return True


def _best_failed(exc: Exception) -> str:
    """best_error for a retraining of the best trial that failed with ``exc``."""
    return f"retraining the best trial failed: {exc}"


def run_sweep(data: Dataset, base: TrainSettings, space: Mapping[str, object], *,
              sampler: str | None = None, n_trials: int | None = None, pruner: str | None = None,
              folds: int | None = None, val_fraction: float | None = None, workers: int = 1,
              test: Dataset | None = None, out: str | Path | None = None,
              overwrite: bool = False, retrain: bool = True,
              on_trial: Callable[[int, int, Trial], None] | None = None,
              data_spec: dict | None = None, test_spec: dict | None = None,
              progress: bool | None = False, resume: bool = False,
              storage: str | None = None, study: str | None = None) -> SweepResult:
    """Search ``space`` around ``base`` with an Optuna study; rank the trials; retrain the best.

    Args:
        data: the data set; selection uses its non-test rows only.
        base: the settings every trial starts from; ``base.seed`` seeds the samplers, the
            splits, and every trial's weights and batches (one worker: the same trials);
            ``base.test_fraction`` holds out a stratified test split that no trial sees.
        space: see :func:`parse_space` and :func:`normalize_space`.
        sampler: ``grid`` (every combination of listed values), ``tpe`` or ``random``
            (``n_trials`` trials, ranges allowed); default grid when every setting
            is a list, else tpe.
        pruner: stop trials whose validation loss lags the others' at the same
            logged step: ``median``, ``hyperband`` or ``none`` (default none for a
            grid, else median). Pruned trials are listed with status ``pruned``.
        folds: k for stratified k-fold cross-validation; else ``val_fraction``, the share
            of the whole data set held out for validation (default ``base.val_fraction``, else 0.2).
        workers: worker processes on this machine (spawned); 1 runs every trial here.
        test: a separate test data set, used only by the final run.
        out: write ``sweep.csv``, ``sweep.json`` and the run directory ``best/`` here
            (and, without ``storage``, the study's journal ``study.journal``).
        storage: the study's database URL (``postgresql://...``, ``sqlite:///...``) or a
            journal file; workers anywhere that reach it share the study.
        study: the study's name in ``storage`` (default ``sweep``).
        retrain: retrain the best trial on all non-test rows with
            :func:`~neuralab.lab.run_training` (to ``out/best``) once no slot is left;
            with early stopping it keeps the validation split to watch. With worker
            processes and ``out``, the best trial so far is retrained while the last
            trials run, and kept only if it is still the best at the end
            (:mod:`neuralab.sweep.ahead`).
        on_trial: ``on_trial(done, total, trial)`` after each trial, as they finish
            (any worker's, on any machine).
        data_spec, test_spec: where the data came from, for the best run's config.json.
        progress: the final run's progress bar (None: only on a terminal).
        resume: continue the sweep whose study is in ``out``: only unfinished slots run.

    A study that exists is joined (its definition must match: same space, sampler,
    scoring, base settings and data). A trial that diverges or raises
    :class:`~neuralab.NeuralabError` is recorded as failed. Ctrl-C or SIGTERM
    stops the trials at once (running ones go back to the queue, worker processes
    end); the finished ones are ranked and written with ``interrupted`` set, and
    nothing is retrained.
    """
    space, sampler, pruner, total, pairs, scoring = _ready(
        data, base, space, sampler=sampler, n_trials=n_trials, pruner=pruner, folds=folds,
        val_fraction=val_fraction, workers=workers, test=test)
    out = Path(out) if out is not None else None
    name = check_study_name(DEFAULT_STUDY if study is None else study)
    url = storage_url(storage, out)
    if url == MEMORY and workers > 1:
        raise ArgumentError("workers", f"workers={workers}: worker processes share the study "
                                       "through a file or a database; give out or storage")
    _prepare_out(out, storage, resume=resume, overwrite=overwrite)
    digest = data_digest(data)
    want = definition(space, sampler=sampler, n_trials=total, scoring=scoring, base=base,
                      data=digest)
    st = open_study(url, name, want, pruner=pruner, create=not (resume and storage is None))
    result = SweepResult(trials=[], varied=list(space), sampler=sampler, pruner=pruner,
                         scoring=scoring, base=base, folds=pairs, out=out, total=total,
                         data=digest, study=name, storage=redact(url))
    result.trials = _rank(read_trials(st, space, base, len(pairs)))
    result.resumed = len(result.trials)
    job = Job(url=url, study=name, space=space, sampler=sampler, pruner=pruner, base=base,
              # the workers need neither the data set's own test part nor a copy of it
              data=dataclasses.replace(data, test=None), folds=pairs)
    _trials_then_best(result, job, st, _collector(result, st, space, on_trial), data, workers,
                      retrain=retrain, progress=progress,
                      run_kwargs=dict(test=test, data_spec=data_spec, test_spec=test_spec))
    return result


def _trials_then_best(result: SweepResult, job: Job, study, collect: Callable[[], None],
                      data: Dataset, workers: int, *, retrain: bool, progress: bool | None,
                      run_kwargs: dict) -> None:
    """Run the slots left, rank and write the trials; then, unless stopped, the best run
    (retrained ahead while the last trials run, where that can be done)."""
    figures = retrain and result.out is not None
    with Ahead(data, result.scoring.get("val_fraction"), **run_kwargs) as ahead:
        result.interrupted = _run(job, study, workers, collect, figures=figures, idle=(
            lambda stopped: ahead.when_idle(result, study, workers, stopped)) if figures else None)
        collect()
        result.pending = sum(slots_left(study))
        if result.out is not None:
            result.write()
        if not (result.interrupted or result.pending or not retrain):
            _finish(result, data, ahead, progress=progress, **run_kwargs)


def _finish(result: SweepResult, data: Dataset, ahead: Ahead, **run_kwargs) -> None:
    """Every slot is done: keep the best trial retrained ahead (:mod:`neuralab.sweep.ahead`)
    if it is still the best, else retrain it (or say why there is none); write the files."""
    if result.best is None:
        result.best_error = "every trial failed or was pruned; see the message column"
    else:
        try:
            result.best_run = ahead.keep(result.best)
        except NeuralabError as exc:  # its write failed: as the retraining's own would say
            result.best_error = _best_failed(exc)
        else:
            if result.best_run is None:
                _retrain_best(result, data, **run_kwargs)
    if result.out is not None:
        result.write()


def show_sweep(storage: str | None, study: str | None, *, out: str | Path | None = None
               ) -> SweepResult:
    """The ranked trials of a stored study, as every worker of it sees them (nothing runs)."""
    from neuralab.sweep.study import DEFINITION, space_of

    name = check_study_name(DEFAULT_STUDY if study is None else study)
    url = storage_url(storage, None if out is None else Path(out))
    st = open_study(url, name, None, create=False)
    want = st.user_attrs[DEFINITION]
    try:
        space = space_of(want)
        base = TrainSettings.from_dict(want["base_settings"])
        scoring = want["scoring"]
        n_folds = len(scoring["train_rows"])
    except (KeyError, TypeError, NeuralabError) as exc:
        raise NeuralabError(f"study {name!r} in {redact(url)} has a definition neuralab cannot "
                            f"read: {exc}") from None
    result = SweepResult(trials=_rank(read_trials(st, space, base, n_folds)), varied=list(space),
                         sampler=want.get("sampler", "?"), pruner="", scoring=scoring, base=base,
                         folds=[], total=int(want.get("n_trials", 0)), data=want.get("data"),
                         study=name, storage=redact(url))
    waiting, running = slots_left(st)
    result.pending = waiting + running
    return result
