"""One trial of a sweep: its settings, the rows it is scored on, and its score.

A trial's settings are the base settings with the searched values put in
(:func:`trial_settings`), checked once, when they are made. Each fold is
trained by the one recipe, :func:`neuralab.lab.prepare`, on the fold's training
rows and scored on its validation rows.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

from neuralab import NeuralabError
from neuralab.config import SettingError, TrainSettings
from neuralab.data import Dataset
from neuralab.data.splits import Split, three_way_split
from neuralab.lab import prepare
from neuralab.nn.losses import cross_entropy
from neuralab.sweep.space import format_params, format_value
from neuralab.train import TrainingDiverged

#: Share of the whole data set held out for validation when neither folds nor a fraction is given.
DEFAULT_VAL_FRACTION = 0.2


# --- a trial's settings -----------------------------------------------------------------------

def trial_settings(base: TrainSettings, params: Mapping[str, object]) -> TrainSettings:
    """``base`` with ``params`` put in, checked; the splits' fractions are cleared.

    Giving ``epochs`` drops the base's ``iterations`` (and the other way round), so
    that a sweep can search either.

    >>> trial_settings(TrainSettings(), {"lr": 0.1, "epochs": 5}).iterations is None
    True
    """
    changes = {k: (list(v) if isinstance(v, (list, tuple)) else v) for k, v in params.items()}
    if params.get("epochs") is not None and "iterations" not in params:
        changes["iterations"] = None
    if params.get("iterations") is not None and "epochs" not in params:
        changes["epochs"] = None
    return base.replace(**{**changes, "val_fraction": None, "test_fraction": None})


def all_trial_settings(base: TrainSettings, configs: list[dict]) -> list[TrainSettings]:
    """Every trial's settings, checked before any trial runs; the error names the bad value."""
    out = []
    for params in configs:
        try:
            out.append(trial_settings(base, params))
        except SettingError as exc:
            name = exc.setting
            if name in params:
                raise SettingError(name, f"sweep value {name}={format_value(name, params[name])}: "
                                         f"{exc}", params[name]) from None
            raise NeuralabError(f"sweep trial {format_params(params)}: {exc}") from None
    return out


# --- selection splits -------------------------------------------------------------------------

def selection_splits(y: np.ndarray, *, folds: int | None = None,
                     val_fraction: float | None = DEFAULT_VAL_FRACTION,
                     test_fraction: float | None = None, seed: int = 0,
                     stratified: bool = True) -> list[tuple[np.ndarray, np.ndarray]]:
    """``(train_rows, val_rows)`` pairs, as row numbers of the whole data set.

    The test part (``test_fraction``) is cut first, exactly as
    :func:`~neuralab.lab.run_training` cuts it for the same seed, and never
    appears in any pair. Then either one stratified validation split holding
    ``val_fraction`` of the whole data set (as ``--val-fraction`` means in
    ``train``), or ``folds`` stratified, shuffled, seeded folds
    (``sklearn.model_selection.StratifiedKFold``), each row a validation row
    exactly once. A regression target (``stratified=False``) is split at random
    (``KFold``).

    >>> y = np.repeat([0, 1], 10)
    >>> pairs = selection_splits(y, folds=5, seed=0)
    >>> len(pairs), sorted(np.concatenate([va for _, va in pairs]).tolist()) == list(range(20))
    (5, True)
    """
    y = np.asarray(y)
    rows = np.empty((len(y), 0))
    if folds is None:
        if val_fraction is None:
            raise NeuralabError("give folds or val_fraction to score the trials")
        parts = three_way_split(rows, y, val_fraction=val_fraction,
                                test_fraction=test_fraction, seed=seed, stratified=stratified)
        return [(parts["train"], parts["val"])]
    if not isinstance(folds, (int, np.integer)) or isinstance(folds, bool) or folds < 2:
        raise NeuralabError(f"folds must be an integer >= 2, got {folds!r}")
    from sklearn.model_selection import KFold, StratifiedKFold

    dev = three_way_split(rows, y, val_fraction=None, test_fraction=test_fraction,
                          seed=seed, stratified=stratified)["train"]
    if not stratified:
        if len(dev) < folds:
            raise NeuralabError(f"folds={folds} needs at least {folds} rows for selection; "
                                f"there are {len(dev)}")
        kfold = KFold(n_splits=int(folds), shuffle=True, random_state=seed)
        return [(np.sort(dev[tr]), np.sort(dev[va])) for tr, va in kfold.split(dev)]
    counts = np.bincount(y[dev])
    present = counts[counts > 0]
    if present.min() < folds:
        k = int(np.flatnonzero(counts == present.min())[0])
        raise NeuralabError(f"folds={folds} needs at least {folds} examples of every class in "
                            f"the data used for selection; class {k} has {present.min()}")
    kfold = StratifiedKFold(n_splits=int(folds), shuffle=True, random_state=seed)
    return [(np.sort(dev[tr]), np.sort(dev[va])) for tr, va in kfold.split(dev, y[dev])]


# --- one trial --------------------------------------------------------------------------------

@dataclass
class Trial:
    """One point of the search and how it scored.

    Attributes:
        number: the trial's place in the generated order (0-based).
        params: the searched settings' values, e.g. ``{"lr": 0.1, "hidden": [32]}``.
        settings: every setting of the trial, as a dict (``TrainSettings`` fields).
        score: mean validation accuracy over the folds (NaN when failed).
        val_loss: mean validation cross-entropy, without the L2 penalty, so that
            trials with different ``reg`` compare fairly; it breaks ties in score.
        train_accuracy: mean accuracy on the training folds.
        std: standard deviation of the validation accuracy across folds (0 for one split).
        seconds: wall time of the trial, all folds.
        status: ``ok``, ``pruned`` (stopped early by the pruner: its validation loss lagged
            the other trials' at the same step) or ``failed``; ``message`` says why.
        fold_accuracies, fold_losses: per fold.
        rank: 1 for the best trial once the sweep has ranked them; None when failed.
    """

    number: int
    params: dict
    settings: dict
    score: float = float("nan")
    val_loss: float = float("nan")
    train_accuracy: float = float("nan")
    std: float = float("nan")
    seconds: float = 0.0
    status: str = "ok"
    message: str = ""
    fold_accuracies: list[float] = field(default_factory=list)
    fold_losses: list[float] = field(default_factory=list)
    rank: int | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def sort_key(self) -> tuple:
        """Best first: ok, then pruned, then failed; higher score (regression: lower, an MSE),
        lower val_loss, earlier number."""
        if not self.ok:
            return (STATUSES.index(self.status), 0.0, 0.0, self.number)
        loss = self.val_loss if math.isfinite(self.val_loss) else math.inf
        score = self.score if self.settings.get("task") == "regression" else -self.score
        return (0, score, loss, self.number)

    def to_dict(self) -> dict:
        return asdict(self)


# --- a trial read back ------------------------------------------------------------------------

def _number(raw: dict, key: str, where: str, *, low: float = 0.0, high: float = math.inf,
            null: bool = True) -> float:
    """``raw[key]`` as a float in [low, high] (None: NaN, where ``null``); else a one-line error."""
    value = raw.get(key)
    if value is None and null:
        return float("nan")
    allowed = (f"a number in [{low:g}, {high:g}]" if math.isfinite(high) else f"a number >= {low:g}")
    if (not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value)
            or not low <= value <= high):
        raise NeuralabError(f"{where}: {key} must be {allowed}{' or null' if null else ''}, "
                            f"got {value!r:.60}")
    return float(value)


def _numbers(raw: dict, key: str, where: str, count: int, *, high: float = math.inf) -> list[float]:
    values = raw.get(key)
    if not isinstance(values, list) or len(values) != count:
        raise NeuralabError(f"{where}: {key} must list {count} numbers, got {values!r:.60}")
    return [_number({key: v}, key, where, high=high, null=False) for v in values]


#: the statuses a trial can end with; only ``ok`` trials are ranked
STATUSES = ("ok", "pruned", "failed")
#: what a finished trial keeps in the study beside its parameters (Optuna's user attributes)
RESULT_KEYS = ("status", "message", "score", "val_loss", "train_accuracy", "std", "seconds",
               "fold_accuracies", "fold_losses")


def read_trial(raw, where: str, *, number: int, params: dict, settings: dict,
               n_folds: int) -> Trial:
    """Trial ``number``'s result read back from the study, checked as untrusted input.

    ``raw`` holds :data:`RESULT_KEYS` as the worker stored them (a shared study
    can be written by anyone who reaches its storage). Numbers must be finite and
    in range, the status one of :data:`STATUSES`; an ``ok`` trial has a score and
    a value for every fold. Any other content is a one-line
    :class:`~neuralab.NeuralabError` that starts with ``where``.
    """
    if not isinstance(raw, dict):
        raise NeuralabError(f"{where} must be an object, got {type(raw).__name__}")
    status, message = raw.get("status"), raw.get("message", "")
    if status not in STATUSES:
        raise NeuralabError(f"{where}: status must be one of {', '.join(STATUSES)}, "
                            f"got {status!r:.60}")
    if not isinstance(message, str):
        raise NeuralabError(f"{where}: message must be text, got {type(message).__name__}")
    ok = status == "ok"
    # a regression trial's score, std and fold values are mean squared errors: no upper bound
    top = math.inf if isinstance(settings, dict) and settings.get("task") == "regression" else 1.0
    trial = Trial(number=number, params=params, settings=settings, status=status,
                  message=message[:1000],
                  score=_number(raw, "score", where, high=top, null=not ok),
                  val_loss=_number(raw, "val_loss", where),
                  train_accuracy=_number(raw, "train_accuracy", where, high=1.0),
                  std=_number(raw, "std", where, high=top),
                  seconds=_number(raw, "seconds", where, null=False))
    if ok:
        trial.fold_accuracies = _numbers(raw, "fold_accuracies", where, n_folds, high=top)
        trial.fold_losses = _numbers(raw, "fold_losses", where, n_folds)
    return trial


def _fit_fold(s: TrainSettings, data: Dataset, train_rows: np.ndarray,
              val_rows: np.ndarray, report=None, stop=None) -> tuple[float, float, float]:
    """Train on one fold's training rows; return (train accuracy, val accuracy, val cross-entropy).

    :func:`~neuralab.lab.prepare` does what ``run_training`` does around ``fit``
    (scaling fitted on the training rows only, class weights, oversampling,
    augmentation, the schedule); early stopping watches the validation rows.
    ``report(step, val_loss)``, when given, hears the validation loss at every
    logged step (a pruner's intermediate values; it may raise to stop the trial).
    """
    splits = {"train": Split(data.X[train_rows], data.y[train_rows], train_rows, data.source),
              "val": Split(data.X[val_rows], data.y[val_rows], val_rows, "a validation fold")}
    prep = prepare(data, s, splits=splits)
    # without early stopping or a pruner no history is needed: one row at the end keeps the
    # loop cheapest
    quiet = {} if s.early_stopping is not None or report is not None else {
        "X_val": None, "y_val": None, "log_every": s.iterations or s.epochs}
    if report is not None:
        n, size = len(prep.y), s.batch_size
        total = s.iterations or s.epochs * (1 if size is None or size >= n else math.ceil(n / size))

        def hear(step: int, loss: float, metrics: dict) -> None:
            # the first fifth of a trial is not judged: every net starts near chance
            if step >= total // 5:
                report(step, metrics["val_loss"])

        quiet["callbacks"] = [hear]
    if prep.fit(progress=False, stop_on_signal=False, stop=stop, **quiet).interrupted:
        raise Stopped
    if s.task == "regression":  # scored by the validation MSE in the target's units
        mse = prep.evaluate()[0]["val"]["mse"]
        return float("nan"), mse, mse
    probs = {k: prep.trainer.evaluate(prep.scaled[k], sp.y)[1] for k, sp in splits.items()}
    acc = {k: float(np.mean(probs[k].argmax(axis=1) == sp.y)) for k, sp in splits.items()}
    # the cross-entropy of probabilities alone (no L2 penalty), so that every reg compares fairly
    return acc["train"], acc["val"], cross_entropy(probs["val"], splits["val"].y)


class Pruned(Exception):
    """Raised by a pruner's ``report`` to stop a trial whose validation loss lags the others'."""


class Stopped(Exception):
    """The sweep was told to stop (a signal): the trial ended before its last step, unscored."""


def evaluate_trial(number: int, params: dict, settings: TrainSettings, data: Dataset,
                   folds: Sequence[tuple[np.ndarray, np.ndarray]], report=None,
                   stop=None) -> Trial:
    """Score one trial on every fold; divergence and user errors make a failed trial.

    Everything it needs goes in (the settings, the data, the folds' rows), so
    that a worker process can run it: the same inputs give the same trial in
    any process. ``report(step, val_loss)`` hears each logged validation loss
    of the first fold (a pruner's intermediate values); when it raises
    :class:`Pruned`, the trial stops there with status ``pruned`` and its
    message says why. ``stop()``, asked before each training step, ends the trial
    unscored: :class:`Stopped` goes up.
    """
    trial = Trial(number=number, params=dict(params), settings=settings.to_dict())
    start = time.perf_counter()
    try:
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            scores = []
            for k, (tr, va) in enumerate(folds):
                # the pruner follows the first fold's curve: its steps are the run's steps
                scores.append(_fit_fold(settings, data, tr, va, report if k == 0 else None,
                                        stop))
    except Pruned as exc:
        trial.status, trial.message = "pruned", str(exc)
    except (TrainingDiverged, NeuralabError) as exc:
        trial.status = "failed"
        trial.message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    else:
        train_accs, accs, losses = (list(col) for col in zip(*scores))
        trial.score = float(np.mean(accs))
        trial.val_loss = float(np.mean(losses))
        trial.train_accuracy = float(np.mean(train_accs))
        trial.std = float(np.std(accs))
        trial.fold_accuracies, trial.fold_losses = accs, losses
    trial.seconds = time.perf_counter() - start
    return trial

