"""The sweep: score every trial, rank them, write sweep.csv and sweep.json, retrain the best.

sweep.csv and sweep.json are rewritten (atomically) as each trial finishes, so a
sweep stopped at any instant, even by SIGKILL, keeps every finished trial; a
resumed sweep (``resume=True``) reads them back and runs only the others.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import signal
import threading
from collections.abc import Callable, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from neuralab import ArgumentError, NeuralabError
from neuralab.config import TrainSettings, check
from neuralab.data import Dataset
from neuralab.data.splits import make_splits
from neuralab.fileio import csv_text, jsonable, read_json, write_csv, write_json
from neuralab.lab import run_training
from neuralab.runs import RunResult, prepare_run_dir
from neuralab.sweep.space import (
    format_params,
    format_value,
    make_configs,
    normalize_space,
)
from neuralab.sweep.trials import (
    DEFAULT_VAL_FRACTION,
    Trial,
    all_trial_settings,
    evaluate_trial,
    read_trial,
    selection_splits,
)
from neuralab.train import TrainingDiverged


@dataclass
class SweepResult:
    """Every trial, best first, and the best one retrained on all non-test data.

    Attributes:
        trials: sorted best first (see :meth:`Trial.sort_key`); failed trials last.
        varied: the searched settings, in the space's order (the CSV's parameter columns).
        mode: ``grid`` or ``random``.
        scoring: how trials were scored: ``{"method": "holdout", "val_fraction": f}``
            or ``{"method": "kfold", "folds": k}``, with the seed and row counts.
        base: the settings every trial started from.
        folds: the (train rows, validation rows) pairs, as rows of the data set.
        best_run: the retrained best trial (a normal run), or None.
        best_error: why there is no best run (every trial failed, the retrain
            diverged), or None.
        out: the folder written, or None.
        interrupted: a signal (Ctrl-C, SIGTERM) stopped the sweep; only finished trials
            are listed.
        total: how many trials the sweep was to run.
        data: the rows, features and SHA-256 of the data the trials were scored on
            (with ``out``), so that a resumed sweep refuses other data.
        resumed: how many trials were read back from an earlier run of the sweep.
    """

    trials: list[Trial]
    varied: list[str]
    mode: str
    scoring: dict
    base: TrainSettings
    folds: list[tuple[np.ndarray, np.ndarray]]
    best_run: RunResult | None = None
    best_error: str | None = None
    out: Path | None = None
    interrupted: bool = False
    total: int = 0
    data: dict | None = None
    resumed: int = 0

    @property
    def best(self) -> Trial | None:
        """The best trial that did not fail, or None."""
        return next((t for t in self.trials if t.ok), None)

    @property
    def n_failed(self) -> int:
        return sum(not t.ok for t in self.trials)

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
            "mode": self.mode, "scoring": self.scoring, "varied": self.varied,
            "n_trials": self.total, "n_done": len(self.trials), "n_failed": self.n_failed,
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
    pairs = selection_splits(y, folds=folds, val_fraction=val_fraction,
                             test_fraction=base.test_fraction, seed=base.seed)
    scoring = ({"method": "kfold", "folds": int(folds)} if folds is not None
               else {"method": "holdout", "val_fraction": float(val_fraction)})
    scoring.update(seed=base.seed, test_fraction=base.test_fraction,
                   train_rows=[len(tr) for tr, _ in pairs], val_rows=[len(va) for _, va in pairs],
                   score="mean validation accuracy; ties: lower mean validation cross-entropy")
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
def _signals_interrupt():
    """While active, SIGTERM as well as SIGINT raises KeyboardInterrupt, once.

    A second signal while the first one's KeyboardInterrupt stops the workers and
    writes the files is ignored, so that it cannot cut that short. A signal that
    was ignored when the sweep started stays ignored. Outside the main thread
    signals cannot be caught; there it does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    heard: list[int] = []

    def handler(signum, frame) -> None:
        if not heard:
            heard.append(signum)
            raise KeyboardInterrupt

    old = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        if signal.getsignal(sig) is not signal.SIG_IGN:
            old[sig] = signal.signal(sig, handler)
    try:
        yield
    finally:
        for sig, previous in old.items():
            signal.signal(sig, previous)


def _run_trials(jobs: list, data: Dataset, pairs: list, processes: int,
                record: Callable[[Trial], None]) -> bool:
    """Run the jobs, recording each trial as it finishes; whether a signal stopped them."""
    workers = min(int(processes), len(jobs))
    with _signals_interrupt():
        try:
            if workers <= 1:
                for number, params, settings in jobs:
                    record(evaluate_trial(number, params, settings, data, pairs))
            else:
                from neuralab.sweep.pool import run_pool

                # the workers need neither the data set's own test part nor a copy of it
                run_pool(jobs, workers, dataclasses.replace(data, test=None), pairs, record)
        except KeyboardInterrupt:
            return True
    return False


def _recorder(result: SweepResult,
              on_trial: Callable[[int, int, Trial], None] | None) -> Callable[[Trial], None]:
    """Add a finished trial to ``result``, rewrite its files, then tell ``on_trial``."""
    def record(trial: Trial) -> None:
        result.trials = _rank([*result.trials, trial])
        if result.out is not None:
            result.write()
        if on_trial is not None:
            on_trial(len(result.trials), result.total, trial)

    return record


# sweep.json is read back whole: a bound far above any real sweep's, far below harm
MAX_SUMMARY_BYTES = 64 * 2**20
# what must be the same for trials read back to belong to this sweep
_SAME_SWEEP = ("mode", "varied", "scoring", "n_trials", "base_settings", "data")


def _difference(old, new, name: str) -> str:
    """Where two JSON values first differ, as ``name.key: OLD there, NEW now``."""
    if isinstance(old, dict) and isinstance(new, dict):
        for key in sorted(set(old) | set(new), key=str):
            if old.get(key) != new.get(key):
                return _difference(old.get(key), new.get(key), f"{name}.{key}")
    return f"{name} is {old!r:.60} there, {new!r:.60} now"


def _read_finished(result: SweepResult, settings: list[TrainSettings],
                   configs: list[dict]) -> list[Trial]:
    """The finished trials that ``result.out/sweep.json`` lists, checked as untrusted input."""
    path = result.out / "sweep.json"
    if not path.is_file():
        raise ArgumentError("resume", f"resume {result.out}: no sweep.json there, so no sweep to "
                                      "continue")
    if path.stat().st_size > MAX_SUMMARY_BYTES:
        raise NeuralabError(f"{path} is larger than {MAX_SUMMARY_BYTES // 2**20} MiB; "
                            "it is not a sweep's summary")
    raw = read_json(path)
    if not isinstance(raw, dict):
        raise NeuralabError(f"{path} must hold an object, got {type(raw).__name__}")
    now = jsonable(result.to_dict())
    for key in _SAME_SWEEP:
        if key not in raw:
            raise NeuralabError(f"{path} has no {key}; it is not a sweep's summary")
        if raw[key] != now[key]:
            raise NeuralabError(f"{path} belongs to a different sweep: different {key} "
                                f"({_difference(raw[key], now[key], key)}); resume needs the "
                                "data and options of the first run")
    listed = raw.get("trials")
    if not isinstance(listed, list) or len(listed) > result.total:
        raise NeuralabError(f"{path}: trials must be a list of at most {result.total} trials, "
                            f"got {type(listed).__name__} of {len(listed) if isinstance(listed, list) else 0}")
    expected = [(params, s.to_dict()) for params, s in zip(configs, settings)]
    trials: dict[int, Trial] = {}
    for i, item in enumerate(listed):
        trial = read_trial(item, f"{path}: trial {i}", total=result.total, expected=expected,
                           n_folds=len(result.folds))
        if trial.number in trials:
            raise NeuralabError(f"{path}: trial number {trial.number} is listed twice")
        trials[trial.number] = trial
    return list(trials.values())


def _retrain_best(result: SweepResult, data: Dataset, settings: TrainSettings, *,
                  val_fraction: float | None, **run_kwargs) -> None:
    """Train the best trial's ``settings`` on all non-test rows; a failure is kept as best_error."""
    base, params = result.base, result.best.params
    # all non-test rows train the final model; only early stopping keeps a validation split
    # to watch, so that it never watches the test rows
    keep_val = settings.early_stopping is not None
    final = settings.replace(test_fraction=base.test_fraction, val_fraction=(
        val_fraction or DEFAULT_VAL_FRACTION) if keep_val else None)
    out = None if result.out is None else result.out / "best"
    try:
        result.best_run = run_training(
            data, final, out=out, overwrite=True, print_every=None, echo=None,
            name=f"sweep best: {format_params(params)}" if params else "sweep best", **run_kwargs)
    except (TrainingDiverged, NeuralabError) as exc:
        result.best_error = f"retraining the best trial failed: {exc}"


def run_sweep(data: Dataset, base: TrainSettings, space: Mapping[str, object], *,
              mode: str = "grid", n_trials: int | None = None, folds: int | None = None,
              val_fraction: float | None = None, processes: int = 1, test: Dataset | None = None,
              out: str | Path | None = None, overwrite: bool = False, retrain: bool = True,
              on_trial: Callable[[int, int, Trial], None] | None = None,
              data_spec: dict | None = None, test_spec: dict | None = None,
              progress: bool | None = False, resume: bool = False) -> SweepResult:
    """Search ``space`` around ``base``; rank the trials; retrain and save the best.

    Args:
        data: the data set; selection uses its non-test rows only.
        base: the settings every trial starts from. ``base.seed`` seeds the random draws,
            the splits and folds, and every trial's initial weights and batch order, so
            the same seed gives the same results for any ``processes``.
            ``base.test_fraction`` holds out a stratified test split that no trial sees.
        space: see :func:`parse_space` and :func:`normalize_space`.
        mode: ``grid`` (every combination) or ``random`` (``n_trials`` draws).
        folds: k for stratified k-fold cross-validation; else ``val_fraction``, the share
            of the whole data set held out for validation (default ``base.val_fraction``, else 0.2).
        processes: worker processes (spawned, not forked); 1 runs every trial here.
        test: a separate test data set, used only by the final run.
        out: write ``sweep.csv``, ``sweep.json`` and the run directory ``best/`` here;
            the first two are rewritten as each trial finishes.
        retrain: retrain the best trial on all non-test rows with
            :func:`~neuralab.lab.run_training` (to ``out/best``); with early stopping it
            keeps the validation split (``val_fraction``, 0.2 after k-fold) to watch.
        on_trial: ``on_trial(done, total, trial)`` after each trial, as they finish.
        data_spec, test_spec: where the data came from, for the best run's config.json.
        progress: the final run's progress bar (None: only on a terminal).
        resume: continue the sweep written to ``out`` (by a run with the same data,
            ``base``, space and options): the finished trials its sweep.json lists are
            checked and kept, and only the others run.

    Every trial's settings are checked before any trial runs. A trial that diverges or
    raises :class:`~neuralab.NeuralabError` is recorded as failed. Ctrl-C or SIGTERM
    stops the trials at once (running ones are dropped, worker processes ended); the
    finished ones are ranked and written with ``interrupted`` set, and nothing is
    retrained.
    """
    if not isinstance(processes, (int, np.integer)) or isinstance(processes, bool) or processes < 1:
        raise NeuralabError(f"processes must be a positive integer, got {processes!r}")
    if resume and out is None:
        raise ArgumentError("resume", "resume needs out, the folder of the sweep to continue")
    if resume and overwrite:
        raise ArgumentError("resume", "resume keeps the trials in out, overwrite discards them; "
                                      "give one, not both")
    space = normalize_space(space)
    configs = make_configs(space, mode=mode, n_trials=n_trials, seed=base.seed)
    settings = all_trial_settings(base, configs)
    # the final run's splits, checked now so that a bad --test-data fails before the trials
    make_splits(data, test, test_fraction=base.test_fraction, seed=base.seed)
    pairs, scoring = _scoring(data.y, base, folds, val_fraction)
    out = Path(out) if out is not None else None
    result = SweepResult(trials=[], varied=list(space), mode=mode, scoring=scoring, base=base,
                         folds=pairs, out=out, total=len(configs),
                         data=None if out is None else data_digest(data))
    if resume:
        result.trials = _rank(_read_finished(result, settings, configs))
        result.resumed = len(result.trials)
    elif out is not None:
        prepare_run_dir(out, overwrite=overwrite, figures=False)
    done = {t.number for t in result.trials}
    jobs = [(i, params, s) for i, (params, s) in enumerate(zip(configs, settings))
            if i not in done]
    result.interrupted = _run_trials(jobs, data, pairs, processes, _recorder(result, on_trial))
    if out is not None:
        result.write()
    if result.interrupted or not retrain:
        return result
    if result.best is None:
        result.best_error = "every trial failed; see the message column"
    else:
        _retrain_best(result, data, settings[result.best.number], test=test,
                      val_fraction=scoring.get("val_fraction"), progress=progress,
                      data_spec=data_spec, test_spec=test_spec)
    if out is not None:
        result.write()
    return result
