"""The library behind ``neuralab sweep``: hyperparameter search by grid or random draws.

A *search space* maps :class:`~neuralab.lab.TrainSettings` fields to the
values to try: a list (``{"lr": [0.01, 0.1], "hidden": [[32], [64, 32]]}``) or,
for number settings, a :class:`LogUniform` range (``("loguniform", 1e-3, 1)`` in
Python, ``lr=loguniform:1e-3:1`` on the command line). :func:`parse_space` reads
the command line's form; :func:`make_configs` turns a space into trials (every
combination, or ``n_trials`` seeded draws); :func:`run_sweep` scores each trial on
a stratified validation split or by stratified k-fold cross-validation, ranks them,
writes ``sweep.csv`` and ``sweep.json``, and retrains the best on all the
non-test data as a normal run directory ``best/``.

Selection never sees the test rows: with ``test_fraction`` the test part is cut
first (the same rows :func:`~neuralab.lab.run_training` holds out for the
same seed), and a ``test`` data set is only used by the final run.

Example:
    >>> space = parse_space(["lr=0.01,0.1", "hidden=32;64x32"])
    >>> space
    {'lr': [0.01, 0.1], 'hidden': [[32], [64, 32]]}
    >>> [format_params(c) for c in make_configs(space)]
    ['lr=0.01, hidden=32', 'lr=0.01, hidden=64x32', 'lr=0.1, hidden=32', 'lr=0.1, hidden=64x32']
"""

from __future__ import annotations

import csv
import io
import itertools
import math
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np

from neuralab import NeuralabError
from neuralab.data import Dataset
from neuralab.data.preprocess import Standardizer
from neuralab.data.splits import three_way_split
from neuralab.config import TrainSettings
from neuralab.data.splits import Split, make_splits
from neuralab.lab import prepare, run_training
from neuralab.runs import RunResult
from neuralab.runs import atomic_write, prepare_run_dir, write_json
from neuralab.train import TrainingDiverged

MODES = ("grid", "random")
#: Share of the whole data set held out for validation when neither folds nor a fraction is given.
DEFAULT_VAL_FRACTION = 0.2
#: Settings that the sweep fixes for all trials (they decide the splits or do not change training).
NOT_SEARCHABLE = {
    "test_fraction": "the test split is fixed for the whole sweep",
    "val_fraction": "the validation split is set by the sweep's val_fraction or folds",
    "max_fpr": "it does not change what a trial learns; set it for the final run",
    "log_every": "it does not change what a trial learns",
}
_NONE_WORDS = ("none", "null", "full")
_TRUE_WORDS = ("true", "yes", "on", "1")
_FALSE_WORDS = ("false", "no", "off", "0")


@dataclass(frozen=True)
class LogUniform:
    """A number drawn as ``exp(U(log low, log high))``: every decade equally likely.

    Attributes:
        low, high: the range's ends, ``0 < low < high``.

    Example:
        >>> r = LogUniform(1e-3, 1.0)
        >>> str(r)
        'loguniform:0.001:1'
        >>> all(1e-3 <= r.sample(np.random.default_rng(s)) <= 1 for s in range(20))
        True
    """

    low: float
    high: float

    def __post_init__(self) -> None:
        low, high = self.low, self.high
        ok = all(isinstance(v, (int, float, np.floating)) and not isinstance(v, bool)
                 for v in (low, high))
        if not ok or not (math.isfinite(low) and math.isfinite(high) and 0 < low < high):
            raise NeuralabError(f"a loguniform range needs finite numbers 0 < low < high, "
                                f"got low={low!r}, high={high!r}")

    def sample(self, rng: np.random.Generator) -> float:
        # draw the exponent uniformly; clip so that rounding in exp never leaves the range
        value = math.exp(rng.uniform(math.log(self.low), math.log(self.high)))
        return float(min(max(value, self.low), self.high))

    def __str__(self) -> str:
        return f"loguniform:{self.low:g}:{self.high:g}"


Space = dict[str, "list | LogUniform"]


# --- the search space -----------------------------------------------------------------------

def _field_types() -> dict[str, str]:
    """TrainSettings field -> its annotation as text ('float', 'int | None', 'list[int]', ...)."""
    return {f.name: str(f.type) for f in fields(TrainSettings)}


def _searchable() -> list[str]:
    return [name for name in _field_types() if name not in NOT_SEARCHABLE]


def _check_field(name: str) -> str:
    """The field's type text; unknown or fixed fields are a one-line error."""
    types = _field_types()
    if name in NOT_SEARCHABLE:
        raise NeuralabError(f"{name} cannot be searched: {NOT_SEARCHABLE[name]}")
    if name not in types:
        raise NeuralabError(f"unknown setting {name!r}; choose from {', '.join(_searchable())}")
    return types[name]


def _parse_hidden(text: str) -> list[int]:
    parts = text.lower().split("x")
    try:
        sizes = [int(p) for p in parts]
    except ValueError:
        raise NeuralabError(f"hidden sizes are widths joined by x (64x32), got {text!r}") from None
    if any(s < 1 for s in sizes):
        raise NeuralabError(f"hidden sizes must be positive integers, got {text!r}")
    return sizes


def _parse_value(name: str, kind: str, text: str):
    """One command-line value of setting ``name`` (annotation text ``kind``) as a Python value."""
    nullable = kind.endswith("| None")
    base = kind.replace("| None", "").strip()
    word = text.strip().lower()
    if nullable and word in _NONE_WORDS:
        return None
    if base == "list[int]":
        return _parse_hidden(text.strip())
    if base == "bool":
        if word in _TRUE_WORDS:
            return True
        if word in _FALSE_WORDS:
            return False
        raise NeuralabError(f"{name} values must be true or false, got {text!r}")
    if base == "int":
        try:
            return int(word)
        except ValueError:
            extra = " or full" if name == "batch_size" else (" or none" if nullable else "")
            raise NeuralabError(f"{name} values must be integers{extra}, got {text!r}") from None
    if base == "float":
        try:
            value = float(word)
        except ValueError:
            raise NeuralabError(f"{name} values must be numbers, got {text!r}") from None
        if not math.isfinite(value):
            raise NeuralabError(f"{name} values must be finite numbers, got {text!r}")
        return value
    if not text.strip():
        raise NeuralabError(f"{name} has an empty value")
    return text.strip()


def _parse_spec(spec: str) -> tuple[str, list | LogUniform]:
    if "=" not in spec:
        raise NeuralabError("expected SETTING=VALUES, such as lr=0.01,0.1")
    name, _, values = spec.partition("=")
    name = name.strip().replace("-", "_")
    kind = _check_field(name)
    values = values.strip()
    if values.lower().startswith("loguniform"):
        if kind != "float":
            raise NeuralabError(f"loguniform ranges are for number settings, not {name}")
        parts = values.split(":")
        if len(parts) != 3:
            raise NeuralabError("a range is loguniform:LOW:HIGH, such as loguniform:1e-3:1")
        try:
            low, high = float(parts[1]), float(parts[2])
        except ValueError:
            raise NeuralabError(f"loguniform ends must be numbers, "
                                f"got {parts[1]!r} and {parts[2]!r}") from None
        return name, LogUniform(low, high)
    # alternatives are separated by , or ; (hidden's layers by x: hidden=32;64x32)
    items = [v for v in values.replace(";", ",").split(",") if v.strip()]
    if not items:
        raise NeuralabError(f"empty list of values for {name}")
    return name, [_parse_value(name, kind, v) for v in items]


def parse_space(specs: Sequence[str]) -> Space:
    """Read command-line specs ``SETTING=V1,V2,...`` into a search space.

    Values are separated by ``,`` or ``;``; ``hidden`` takes layer widths joined by
    ``x`` (``hidden=32;100;64x32``); ``batch_size=full`` (or ``none``) is full
    batch; booleans are true/false; number settings also take a range
    ``loguniform:LOW:HIGH`` for random search. Any TrainSettings field may be
    searched except those in :data:`NOT_SEARCHABLE`. A bad spec is a one-line
    :class:`~neuralab.NeuralabError` that quotes it.

    Example:
        >>> parse_space(["batch_size=full,32", "activation=relu,tanh", "lr=loguniform:1e-3:1"])
        {'batch_size': [None, 32], 'activation': ['relu', 'tanh'], 'lr': LogUniform(low=0.001, high=1.0)}
        >>> parse_space(["lrate=0.1"])  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        neuralab.NeuralabError: sweep spec 'lrate=0.1': unknown setting 'lrate'; choose from ...
    """
    space: Space = {}
    for spec in specs:
        try:
            name, values = _parse_spec(spec)
        except NeuralabError as exc:
            raise NeuralabError(f"sweep spec {spec!r}: {exc}") from None
        if name in space:
            raise NeuralabError(f"sweep spec {spec!r}: {name} is given twice; "
                                "list every value in one spec")
        space[name] = values
    return space


def normalize_space(space: Mapping[str, object]) -> Space:
    """Check a search space written in Python and bring it to one form.

    Values are lists (tuples and other sequences become lists), :class:`LogUniform`
    or ``("loguniform", low, high)``. A hidden alternative written as a single
    width becomes a one-layer list: ``{"hidden": [32, [64, 32]]}`` is
    ``[[32], [64, 32]]``.
    """
    if not isinstance(space, Mapping):
        raise NeuralabError(f"the search space must map settings to values, got {type(space).__name__}")
    out: Space = {}
    for raw_name, values in space.items():
        name = str(raw_name).replace("-", "_")
        kind = _check_field(name)
        if (isinstance(values, tuple) and len(values) == 3 and isinstance(values[0], str)
                and values[0].lower() == "loguniform"):
            values = LogUniform(values[1], values[2])
        if isinstance(values, LogUniform):
            if kind != "float":
                raise NeuralabError(f"loguniform ranges are for number settings, not {name}")
            out[name] = values
            continue
        if isinstance(values, (str, bytes)) or not (isinstance(values, Sequence)
                                                    or isinstance(values, np.ndarray)):
            raise NeuralabError(f"{name} needs a list of values or a loguniform range, got {values!r}")
        values = [v.item() if isinstance(v, np.generic) else v for v in values]
        if not values:
            raise NeuralabError(f"empty list of values for {name}")
        if kind == "list[int]":
            values = [[int(v)] if isinstance(v, (int, np.integer)) and not isinstance(v, bool)
                      else list(v) if isinstance(v, (list, tuple)) else v for v in values]
        out[name] = values
    return out


def grid(space: Mapping[str, object]) -> list[dict]:
    """Every combination of the space's lists, the first setting varying slowest.

    >>> len(grid({"lr": [0.01, 0.1, 1], "reg": [1e-4, 1e-3]}))
    6
    """
    space = normalize_space(space)
    for name, values in space.items():
        if isinstance(values, LogUniform):
            raise NeuralabError(f"grid search needs a list of values for {name}, got the range "
                                f"{values}; use random search for ranges")
    names = list(space)
    return [dict(zip(names, combo)) for combo in itertools.product(*space.values())]


def random_draws(space: Mapping[str, object], n_trials: int, *, seed: int = 0) -> list[dict]:
    """``n_trials`` seeded draws: a list's values equally likely, ranges log-uniform.

    Draws use ``numpy.random.default_rng(seed)``, setting by setting in the
    space's order, so the same seed gives the same trials. Values may repeat.
    """
    if not isinstance(n_trials, (int, np.integer)) or isinstance(n_trials, bool) or n_trials < 1:
        raise NeuralabError(f"n_trials must be a positive integer, got {n_trials!r}")
    space = normalize_space(space)
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(int(n_trials)):
        params = {}
        for name, values in space.items():
            if isinstance(values, LogUniform):
                params[name] = values.sample(rng)
            else:
                # pick an index, not a value, so the value keeps its Python type
                params[name] = values[int(rng.integers(len(values)))]
        draws.append(params)
    return draws


def make_configs(space: Mapping[str, object], *, mode: str = "grid",
                 n_trials: int | None = None, seed: int = 0) -> list[dict]:
    """The trials' parameter dicts: every combination (``grid``) or seeded draws (``random``)."""
    if mode not in MODES:
        raise NeuralabError(f"mode must be one of {', '.join(MODES)}; got {mode!r}")
    if mode == "grid":
        if n_trials is not None:
            raise NeuralabError("n_trials is for random search; grid search runs every combination")
        return grid(space)
    if n_trials is None:
        raise NeuralabError("random search needs n_trials, the number of draws")
    return random_draws(space, n_trials, seed=seed)


def format_value(name: str, value, *, digits: int | None = None) -> str:
    """A value as the command line writes it: ``64x32``, ``full``, ``true``, ``0.01``.

    Floats are written exactly (``repr``), or with ``digits`` significant digits.
    """
    if value is None:
        return "full" if name == "batch_size" else "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "x".join(str(v) for v in value)
    if isinstance(value, float):
        return repr(value) if digits is None else f"{value:.{digits}g}"
    return str(value)


def format_params(params: Mapping[str, object]) -> str:
    """``lr=0.01, hidden=64x32``."""
    return ", ".join(f"{k}={format_value(k, v, digits=6)}" for k, v in params.items())


def trial_settings(base: TrainSettings, params: Mapping[str, object]) -> TrainSettings:
    """``base`` with ``params`` put in, validated; the splits' fractions are cleared.

    Giving ``epochs`` drops the base's ``iterations`` (and the other way round), so
    that a sweep can search either.
    """
    values = asdict(base)
    values.update({k: (list(v) if isinstance(v, (list, tuple)) else v) for k, v in params.items()})
    if params.get("epochs") is not None and "iterations" not in params:
        values["iterations"] = None
    if params.get("iterations") is not None and "epochs" not in params:
        values["epochs"] = None
    values["val_fraction"] = values["test_fraction"] = None
    try:
        return TrainSettings(**values)
    except TypeError as exc:  # a value of the wrong type that validate() compared
        raise NeuralabError(str(exc)) from None


def _validate_all(base: TrainSettings, configs: list[dict]) -> list[TrainSettings]:
    """Every trial's settings, checked before any trial runs; the error names the bad value."""
    out = []
    for params in configs:
        try:
            out.append(trial_settings(base, params))
        except NeuralabError as exc:
            for name, value in params.items():
                try:
                    trial_settings(base, {name: value})
                except NeuralabError as alone:
                    raise NeuralabError(f"sweep value {name}={format_value(name, value)}: "
                                        f"{alone}") from None
            raise NeuralabError(f"sweep trial {format_params(params)}: {exc}") from None
    return out


# --- selection splits -------------------------------------------------------------------------

def selection_splits(y: np.ndarray, *, folds: int | None = None,
                     val_fraction: float | None = DEFAULT_VAL_FRACTION,
                     test_fraction: float | None = None,
                     seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """``(train_rows, val_rows)`` pairs, as row numbers of the whole data set.

    The test part (``test_fraction``) is cut first, exactly as
    :func:`~neuralab.lab.run_training` cuts it for the same seed, and never
    appears in any pair. Then either one stratified validation split holding
    ``val_fraction`` of the whole data set (as ``--val-fraction`` means in
    ``train``), or ``folds`` stratified, shuffled, seeded folds
    (``sklearn.model_selection.StratifiedKFold``), each row a validation row
    exactly once.

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
                                test_fraction=test_fraction, seed=seed)
        return [(parts["train"], parts["val"])]
    if not isinstance(folds, (int, np.integer)) or isinstance(folds, bool) or folds < 2:
        raise NeuralabError(f"folds must be an integer >= 2, got {folds!r}")
    from sklearn.model_selection import StratifiedKFold

    dev = three_way_split(rows, y, val_fraction=None, test_fraction=test_fraction,
                          seed=seed)["train"]
    counts = np.bincount(y[dev])
    present = counts[counts > 0]
    if present.min() < folds:
        k = int(np.flatnonzero(counts == present.min())[0])
        raise NeuralabError(f"folds={folds} needs at least {folds} examples of every class in "
                            f"the data used for selection; class {k} has {present.min()}")
    kfold = StratifiedKFold(n_splits=int(folds), shuffle=True, random_state=seed)
    return [(np.sort(dev[tr]), np.sort(dev[va])) for tr, va in kfold.split(dev, y[dev])]


# --- one trial ---------------------------------------------------------------------------------

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
        status: ``ok`` or ``failed``; a failed trial's ``message`` says why.
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
        """Best first: ok before failed, higher score, lower val_loss, earlier number."""
        if not self.ok:
            return (1, 0.0, 0.0, self.number)
        loss = self.val_loss if math.isfinite(self.val_loss) else math.inf
        return (0, -self.score, loss, self.number)

    def to_dict(self) -> dict:
        return asdict(self)


def _cross_entropy(probs: np.ndarray, y: np.ndarray) -> float:
    from neuralab.nn.losses import cross_entropy

    # the one cross-entropy of probabilities: an underflowed 0 gives a large loss, not inf
    return cross_entropy(probs, y)


def _fit_fold(s: TrainSettings, X_tr: np.ndarray, y_tr: np.ndarray, X_va: np.ndarray,
              y_va: np.ndarray, n_classes: int, image_shape) -> tuple[float, float, float]:
    """Train on one training fold; return (train accuracy, val accuracy, val cross-entropy).

    Standardisation is fitted on the training fold only. What ``run_training``
    does around ``fit`` (class weights, oversampling, augmentation, the
    learning-rate schedule, early stopping) is done the same way here; early
    stopping watches the validation fold.
    """
    fold = Dataset(X_tr, y_tr, [str(k) for k in range(n_classes)], "fold", "a training fold",
                   image_shape=image_shape)
    splits = {"train": Split(X_tr, y_tr, np.arange(len(y_tr)), fold.source),
              "val": Split(X_va, y_va, np.arange(len(y_va)), "a validation fold")}
    prep = prepare(fold, s, splits=splits)
    if s.early_stopping is None:
        # no history is needed: one row at the end keeps the loop cheapest
        prep.monitor = None
        watch = dict(log_every=s.iterations or s.epochs)
    else:
        watch = {}
    prep.fit(progress=False, stop_on_signal=False, **watch)
    trainer = prep.trainer
    Z_tr, Z_va = prep.scaled["train"], prep.scaled["val"]
    _, p_tr = trainer.evaluate(Z_tr, y_tr)
    _, p_va = trainer.evaluate(Z_va, y_va)
    train_acc = float(np.mean(p_tr.argmax(axis=1) == y_tr))
    val_acc = float(np.mean(p_va.argmax(axis=1) == y_va))
    return train_acc, val_acc, _cross_entropy(p_va, y_va)


def evaluate_trial(number: int, params: dict, settings: dict, X: np.ndarray, y: np.ndarray,
                   folds: Sequence[tuple[np.ndarray, np.ndarray]], n_classes: int,
                   image_shape=None) -> Trial:
    """Score one trial on every fold; divergence and user errors make a failed trial.

    Only plain data goes in (settings as a dict, arrays), so that a worker
    process can run it. The result depends on nothing else: the same inputs
    give the same trial in any process.
    """
    trial = Trial(number=number, params=dict(params), settings=dict(settings))
    start = time.perf_counter()
    s = TrainSettings(**settings)
    try:
        train_accs, accs, losses = [], [], []
        for tr, va in folds:
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                a_tr, a_va, loss = _fit_fold(s, X[tr], y[tr], X[va], y[va], n_classes, image_shape)
            train_accs.append(a_tr)
            accs.append(a_va)
            losses.append(loss)
    except (TrainingDiverged, NeuralabError) as exc:
        trial.status, trial.message = "failed", str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    else:
        trial.score = float(np.mean(accs))
        trial.val_loss = float(np.mean(losses))
        trial.train_accuracy = float(np.mean(train_accs))
        trial.std = float(np.std(accs))
        trial.fold_accuracies, trial.fold_losses = accs, losses
    trial.seconds = time.perf_counter() - start
    return trial


# the data a worker process holds, sent once by the pool's initializer
_WORKER: dict = {}


def _init_worker(X, y, folds, n_classes, image_shape, threads) -> None:
    import signal

    # Ctrl-C goes to the parent, which stops handing out trials and lets running ones end
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        from threadpoolctl import threadpool_limits

        # N processes each with all cores' BLAS threads would only fight for the cores
        threadpool_limits(limits=threads)
    except ImportError:  # pragma: no cover - scikit-learn brings threadpoolctl
        pass
    _WORKER.update(X=X, y=y, folds=folds, n_classes=n_classes, image_shape=image_shape,
                   threads=threads)


def _worker_trial(number: int, params: dict, settings: dict) -> Trial:
    w = _WORKER
    if settings.get("backend") == "torch":
        import torch

        torch.set_num_threads(w["threads"])
    return evaluate_trial(number, params, settings, w["X"], w["y"], w["folds"],
                          w["n_classes"], w["image_shape"])


# --- the sweep ---------------------------------------------------------------------------------

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
        interrupted: Ctrl-C stopped the sweep; only finished trials are listed.
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

    def to_csv(self) -> str:
        """``rank,score,<each searched setting>,val_loss,train_accuracy,std,seconds,status,message``."""
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=self.columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(self.table())
        return buf.getvalue()

    def to_dict(self) -> dict:
        best = self.best
        run = self.best_run
        return {
            "mode": self.mode,
            "scoring": self.scoring,
            "varied": self.varied,
            "n_trials": self.total,
            "n_done": len(self.trials),
            "n_failed": self.n_failed,
            "interrupted": self.interrupted,
            "base_settings": asdict(self.base),
            "best": None if best is None else {
                "number": best.number, "params": best.params, "score": best.score,
                "val_loss": best.val_loss, "std": best.std,
            },
            "best_run": None if run is None else {
                "run_dir": None if run.run_dir is None else str(run.run_dir),
                "train_accuracy": run.train_accuracy,
                "test_accuracy": run.test_accuracy,
            },
            "best_error": self.best_error,
            "trials": [t.to_dict() for t in self.trials],
        }


def _num(value: float) -> str:
    return "" if value is None or not math.isfinite(value) else repr(float(value))


def _rank(trials: list[Trial]) -> list[Trial]:
    ordered = sorted(trials, key=Trial.sort_key)
    for i, t in enumerate(ordered):
        t.rank = i + 1 if t.ok else None
    return ordered


def _write(result: SweepResult) -> None:
    atomic_write(result.out / "sweep.csv", result.to_csv())
    write_json(result.out / "sweep.json", result.to_dict())


def run_sweep(
    data: Dataset,
    base: TrainSettings,
    space: Mapping[str, object],
    *,
    mode: str = "grid",
    n_trials: int | None = None,
    folds: int | None = None,
    val_fraction: float | None = None,
    processes: int = 1,
    test: Dataset | None = None,
    out: str | Path | None = None,
    overwrite: bool = False,
    retrain: bool = True,
    on_trial: Callable[[int, int, Trial], None] | None = None,
    data_spec: dict | None = None,
    test_spec: dict | None = None,
    progress: bool | None = False,
) -> SweepResult:
    """Search ``space`` around ``base``; rank the trials; retrain and save the best.

    Args:
        data: the data set; selection uses its non-test rows only.
        base: the settings every trial starts from. ``base.seed`` is the sweep's
            seed: it seeds the random draws, the splits and folds, and every
            trial's initial weights and batch order (unless ``seed`` is searched),
            so the same seed gives the same results for any ``processes``.
            ``base.test_fraction`` holds out a stratified test split that no
            trial sees and the final run is tested on.
        space: see :func:`parse_space` and :func:`normalize_space`.
        mode: ``grid`` (every combination) or ``random`` (``n_trials`` draws).
        folds: k for stratified k-fold cross-validation; else
        val_fraction: the share of the whole data set held out for validation
            (default ``base.val_fraction``, else 0.2).
        processes: worker processes (spawned, not forked); 1 runs every trial
            here, in this process.
        test: a separate test data set, used only by the final run.
        out: write ``sweep.csv``, ``sweep.json`` and the run directory ``best/`` here.
        retrain: retrain the best trial on all non-test rows with
            :func:`~neuralab.lab.run_training` (to ``out/best`` when ``out``
            is given). With early stopping the final run keeps the validation
            split (``val_fraction``, 0.2 after k-fold) to watch instead.
        on_trial: ``on_trial(done, total, trial)`` after each trial finishes, in
            the order they finish.
        data_spec, test_spec: where the data came from, for the best run's config.json.
        progress: the final run's progress bar (None: only on a terminal).

    Every trial's settings are validated before any trial runs. A trial that
    diverges or raises :class:`~neuralab.NeuralabError` is recorded as failed.
    Ctrl-C stops handing out trials; the finished ones are ranked and written,
    with ``interrupted`` set, and nothing is retrained.
    """
    base = TrainSettings(**asdict(base))
    if folds is not None and val_fraction is not None:
        raise NeuralabError("give folds or val_fraction, not both")
    if not isinstance(processes, (int, np.integer)) or isinstance(processes, bool) or processes < 1:
        raise NeuralabError(f"processes must be a positive integer, got {processes!r}")
    space = normalize_space(space)
    configs = make_configs(space, mode=mode, n_trials=n_trials, seed=base.seed)
    settings = _validate_all(base, configs)
    final_settings = TrainSettings(**{**asdict(base), "val_fraction": None})
    # the final run's splits, checked now so that a bad --test-data fails before the trials
    make_splits(data, test, test_fraction=final_settings.test_fraction, seed=final_settings.seed)
    if folds is None:
        val_fraction = val_fraction if val_fraction is not None else (
            base.val_fraction or DEFAULT_VAL_FRACTION)
        if not (isinstance(val_fraction, (int, float)) and 0 < val_fraction < 1):
            raise NeuralabError(f"val_fraction must lie strictly between 0 and 1, got {val_fraction!r}")
    pairs = selection_splits(data.y, folds=folds, val_fraction=val_fraction,
                             test_fraction=base.test_fraction, seed=base.seed)
    scoring = ({"method": "kfold", "folds": int(folds)} if folds is not None
               else {"method": "holdout", "val_fraction": float(val_fraction)})
    scoring.update(seed=base.seed, test_fraction=base.test_fraction,
                   train_rows=[len(tr) for tr, _ in pairs], val_rows=[len(va) for _, va in pairs],
                   score="mean validation accuracy; ties: lower mean validation cross-entropy")
    out = Path(out) if out is not None else None
    if out is not None:
        prepare_run_dir(out, overwrite=overwrite, figures=False)

    jobs = [(i, params, asdict(s)) for i, (params, s) in enumerate(zip(configs, settings))]
    image_shape = getattr(data, "image_shape", None)
    done: list[Trial] = []
    interrupted = False

    def record(trial: Trial) -> None:
        done.append(trial)
        if on_trial is not None:
            on_trial(len(done), len(jobs), trial)

    workers = min(int(processes), len(jobs))
    try:
        if workers <= 1:
            for number, params, s in jobs:
                record(evaluate_trial(number, params, s, data.X, data.y, pairs,
                                      data.n_classes, image_shape))
        else:
            _run_pool(jobs, workers, data, pairs, image_shape, record)
    except KeyboardInterrupt:
        interrupted = True

    result = SweepResult(trials=_rank(done), varied=list(space), mode=mode, scoring=scoring,
                         base=base, folds=pairs, out=out, interrupted=interrupted,
                         total=len(jobs))
    if out is not None:
        _write(result)
    if interrupted or not retrain:
        return result
    best = result.best
    if best is None:
        result.best_error = "every trial failed; see the message column"
    else:
        params = best.params
        # all non-test rows train the final model; only early stopping keeps a validation
        # split to watch, so that it never watches the test rows
        keep_val = best.settings.get("early_stopping") is not None
        final = TrainSettings(**{
            **best.settings, "test_fraction": base.test_fraction, "log_every": base.log_every,
            "val_fraction": (val_fraction or DEFAULT_VAL_FRACTION) if keep_val else None,
            "max_fpr": base.max_fpr})
        try:
            result.best_run = run_training(
                data, final, test=test, out=None if out is None else out / "best",
                overwrite=True, print_every=None, echo=None, progress=progress,
                name=f"sweep best: {format_params(params)}" if params else "sweep best",
                data_spec=data_spec, test_spec=test_spec)
        except (TrainingDiverged, NeuralabError) as exc:
            result.best_error = f"retraining the best trial failed: {exc}"
    if out is not None:
        _write(result)
    return result


def _run_pool(jobs, workers: int, data: Dataset, pairs, image_shape,
              record: Callable[[Trial], None]) -> None:
    """Run the jobs in ``workers`` spawned processes; record each trial as it finishes."""
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    threads = max(1, (os.cpu_count() or 1) // workers)
    executor = ProcessPoolExecutor(
        max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
        initializer=_init_worker,
        initargs=(data.X, data.y, pairs, data.n_classes, image_shape, threads))
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
