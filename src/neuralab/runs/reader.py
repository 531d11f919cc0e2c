"""Reading a run back: its settings, its data, and what a resumed run starts from.

Everything read from a run directory is untrusted input: config.json's structure
and values are checked before they are used, and an inconsistent file is a
one-line error that names it. This is the one way to reload a run; evaluate,
resume, explain, inspect, monitor, retrieve and the playground all use it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from neuralab import NeuralabError
from neuralab.config import TrainSettings
from neuralab.data import Dataset, load, load_file
from neuralab.data.files import feature_columns
from neuralab.data.preprocess import Standardizer
from neuralab.data.splits import Split, make_splits, remap_labels
from neuralab.data.target import TargetScaler
from neuralab.fileio import read_json
from neuralab.runs.predictor import Predictor, load_model
from neuralab.runs.state import open_run
from neuralab.runs.store import (
    HISTORY,
    MODEL_JSON,
    load_checkpoint,
    load_optimizer_state,
    read_history,
)

CONFIG = "config.json"


def read_config(run_dir: str | Path) -> dict:
    """A run's config.json, its structure checked; a folder without one is not a run.

    It must be an object; ``settings`` and ``data`` objects; ``data.spec`` and
    ``data.test_spec`` objects or null (:func:`check_data_spec`); the recorded
    split shapes lists of two non-negative integers; ``steps`` a non-negative
    integer and ``train_seconds`` a non-negative number. The settings' values
    are checked where they are used (:func:`settings_of`).
    """
    run_dir = open_run(run_dir)
    where = run_dir / CONFIG
    if not where.is_file():
        raise NeuralabError(f"{run_dir} is not a run directory (no {CONFIG})")
    config = read_json(where)
    if not isinstance(config, dict):
        raise NeuralabError(f"{where} must hold a JSON object; got {type(config).__name__}")
    for key in ("settings", "data"):
        if not isinstance(config.get(key, {}), dict):
            raise NeuralabError(f"{where}: {key} must be an object; got "
                                f"{type(config[key]).__name__}")
    data = config.get("data", {})
    for key in ("spec", "test_spec"):
        if data.get(key) is not None:
            check_data_spec(data[key], where=f"{where} data.{key}")
    _check_shapes(data, where)
    steps, seconds = config.get("steps", 0), config.get("train_seconds", 0.0)
    if not (type(steps) is int and steps >= 0 and type(seconds) in (int, float)
            and math.isfinite(seconds) and seconds >= 0):
        raise NeuralabError(f"{where}: steps must be a non-negative integer and train_seconds "
                            f"a non-negative number; got {steps!r} and {seconds!r}")
    return config


def _check_shapes(data: dict, where: Path) -> None:
    """The split shapes config.json records: each [rows, columns] of non-negative integers."""
    splits = {} if data.get("splits") is None else data["splits"]
    if not isinstance(splits, dict) or not all(isinstance(v, dict) for v in splits.values()):
        raise NeuralabError(f"{where}: data.splits must be an object of splits")
    shapes = {f"splits.{k}.shape": v.get("shape") for k, v in splits.items()}
    shapes.update(train_shape=data.get("train_shape"), test_shape=data.get("test_shape"))
    for key, shape in shapes.items():
        if shape is not None and not (isinstance(shape, list) and len(shape) == 2
                                      and all(type(n) is int and n >= 0 for n in shape)):
            raise NeuralabError(f"{where}: data.{key} must be [rows, columns], two non-negative "
                                f"integers; got {shape!r}")


def settings_of(config: dict, *, where: str = CONFIG) -> TrainSettings:
    """The TrainSettings a run was trained with, every value checked."""
    return TrainSettings.from_dict(config.get("settings", {}), where=f"{where} settings")


def check_data_spec(spec, *, where: str | Path = f"{CONFIG} data.spec") -> dict:
    """A data spec read back from config.json, checked before anything is loaded.

    ``{"kind": "registry", "name": NAME, "seed": N, "options": {...}}``: a
    registered name, a seed within the seed setting's range, options the data
    set takes within their declared ranges (:meth:`neuralab.data.registry.Entry.check_options`;
    ``data_dir`` a path) - so a spec can never ask for gigabytes. ``{"kind": "file",
    "path": PATH, "target": COLUMN or null}``. Anything else is a one-line error naming ``where``.
    """
    from neuralab.config import SettingError, check
    from neuralab.data.registry import entry

    if not isinstance(spec, dict) or spec.get("kind") not in ("registry", "file"):
        raise NeuralabError(f"{where} must be an object of kind registry or file; got "
                            f"{str(spec)[:80]}")
    try:
        if spec["kind"] == "file":
            if not isinstance(spec.get("path"), str) or not isinstance(spec.get("target"),
                                                                       (str, type(None))):
                raise NeuralabError("a spec of kind file needs a path and a target column or null")
            return spec
        options = {} if spec.get("options") is None else spec["options"]
        if not isinstance(spec.get("name"), str) or not isinstance(options, dict):
            raise NeuralabError("a spec of kind registry needs a data set name and an options "
                                "object")
        options = dict(options)
        seed = spec.get("seed", 0)
        if type(seed) is not int:
            raise NeuralabError(f"seed must be an integer; got {seed!r}")
        check("seed", seed)
        if not isinstance(options.pop("data_dir", ""), str):
            raise NeuralabError("option data_dir must be a folder's path")
        entry(spec["name"]).check_options(options)
    except (NeuralabError, SettingError) as exc:
        raise NeuralabError(f"{where}: {exc}") from None
    return spec


def load_data_spec(spec: dict | None, *, where: str | Path = f"{CONFIG} data.spec",
                   task: str = "classification") -> Dataset:
    """Load the data a run was trained on, from config.json's ``data.spec`` (checked first).

    ``task`` is the run's (its settings'): a file of a regression run has a numeric target.
    """
    if spec is None:
        raise NeuralabError(f"{CONFIG} does not say where the run's data came from; "
                            "give the data file")
    check_data_spec(spec, where=where)
    if spec["kind"] == "registry":
        return load(spec["name"], seed=spec.get("seed", 0), **(spec.get("options") or {}))
    return load_file(spec["path"], target=spec.get("target"), task=task)


@dataclass
class RunData:
    """Where a run's data came from, loaded again: settings, data sets and their specs."""

    config: dict
    settings: TrainSettings
    data: Dataset
    test: Dataset | None
    data_spec: dict | None
    test_spec: dict | None

    def splits(self) -> dict[str, Split]:
        """The run's train (and val, test) splits, exactly as it made them."""
        s = self.settings
        return make_splits(self.data, self.test, test_fraction=s.test_fraction,
                           val_fraction=s.val_fraction, seed=s.seed)


def load_run_data(run_dir: str | Path) -> RunData:
    """Read a run's config.json and load its training (and test) data again."""
    config = read_config(run_dir)
    where = Path(run_dir) / CONFIG
    data_cfg = config.get("data", {})
    data_spec, test_spec = data_cfg.get("spec"), data_cfg.get("test_spec")
    settings = settings_of(config, where=str(where))
    return RunData(config=config, settings=settings,
                   data=load_data_spec(data_spec, where=f"{where} data.spec", task=settings.task),
                   test=(load_data_spec(test_spec, where=f"{where} data.test_spec",
                                        task=settings.task) if test_spec else None),
                   data_spec=data_spec, test_spec=test_spec)


def check_features(data: Dataset, predictor) -> None:
    """Take a data set's feature columns in the model's order, by name; refuse a wrong width."""
    X = feature_columns(data, predictor.feature_names, where=f"data {data.name}")
    if X is not data.X:
        data.X, data.feature_names = X, list(predictor.feature_names)
    predictor.check_width(data.X, where=f"data {data.name}")


def training_split(run_dir: str | Path, *, data: Dataset | None = None,
                   predictor: Predictor | None = None) -> tuple[Split, Predictor]:
    """The training split a run was fitted on, its labels as indices into the model's classes.

    The split is cut again as the run cut it (:meth:`RunData.splits`, with the run's
    settings and seed); inspect and monitor take it as their reference.

    Parameters
    ----------
    run_dir : path
        A run directory (``config.json``).
    data : Dataset, optional
        The data the run was trained on; by default loaded again from
        ``config.json``'s ``data.spec``. It must give a training split of the size
        the run recorded.
    predictor : Predictor, optional
        The run's model, when already loaded (by default the NumPy engine's): its
        feature names order the columns (see :func:`check_features`) and its class
        names the labels.

    Returns
    -------
    (split, predictor)
        The training split (raw features ``X`` in the model's column order, labels
        ``y`` in the model's class order, ``index`` = the rows in the source data)
        and the model.
    """
    config = read_config(run_dir)
    if predictor is None:
        predictor = load_model(run_dir)
    data_cfg = config.get("data", {})
    if data is None:
        data = load_data_spec(data_cfg.get("spec"), where=f"{Path(run_dir) / CONFIG} data.spec",
                              task=predictor.task)
    check_features(data, predictor)
    # a separate test file excludes test_fraction, so it never changes the training split
    source = RunData(config=config, settings=settings_of(config), data=data, test=None,
                     data_spec=data_cfg.get("spec"), test_spec=None)
    split = source.splits()["train"]
    recorded = ((data_cfg.get("splits") or {}).get("train", {}).get("shape")
                or data_cfg.get("train_shape"))  # both checked by read_config
    if recorded and int(recorded[0]) != len(split.y):
        raise NeuralabError(
            f"data {data.name} gives a training split of {len(split.y)} rows, but the run in "
            f"{Path(run_dir)} trained on {int(recorded[0])}; give the data the run was trained on"
        )
    if predictor.task == "regression":
        return split, predictor
    y = remap_labels(data, predictor.classes)[split.index]
    return Split(split.X, y, split.index, split.source), predictor


@dataclass
class Resume:
    """Where a resumed run starts: weights, optimiser state, earlier history and steps."""

    state: dict[str, np.ndarray]
    optimizer_tensors: dict[str, np.ndarray]
    optimizer_scalars: dict
    history_rows: list[dict]
    start_step: int
    scaler: Standardizer
    seconds: float
    target: TargetScaler | None = None  # a regression run's target scaling


def read_resume(run_dir: str | Path, config: dict, optimizer: str) -> Resume:
    """The checkpoint, optimiser state and history a run continues from.

    ``config`` is the run's config.json as :func:`read_config` returns it (its
    steps and train_seconds checked). Optimiser state of another optimiser than
    ``optimizer`` is dropped (the new optimiser starts fresh).
    """
    run_dir = Path(run_dir)
    state, meta = load_checkpoint(run_dir)
    settings, sizes = settings_of(config, where=str(run_dir / CONFIG)), meta["sizes"]
    activation = meta.get("activation") or "relu"
    if settings.hidden != sizes[1:-1] or settings.activation != activation:
        raise NeuralabError(
            f"{run_dir / CONFIG} and {run_dir / MODEL_JSON} disagree: the settings say hidden "
            f"{settings.hidden} and activation {settings.activation}, the checkpoint sizes "
            f"{sizes} and activation {activation}")
    tensors, scalars = load_optimizer_state(run_dir, sizes)
    if scalars.pop("optimizer", optimizer) != optimizer:
        tensors, scalars = {}, {}
    return Resume(state=state, optimizer_tensors=tensors, optimizer_scalars=scalars,
                  history_rows=read_history(run_dir / HISTORY),
                  start_step=config.get("steps", 0),
                  scaler=Standardizer.from_meta(meta, meta["sizes"][0]),
                  seconds=float(config.get("train_seconds", 0.0)),
                  target=(TargetScaler.from_meta(meta) if meta.get("task") == "regression"
                          else None))
