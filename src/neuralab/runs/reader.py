"""Reading a run back: its settings, its data, and what a resumed run starts from.

Everything read from a run directory is untrusted input: config.json's structure
and values are checked before they are used, and an inconsistent file is a
one-line error that names it. This is the one way to reload a run; evaluate,
resume, explain, inspect, monitor, retrieve and the playground all use it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from neuralab import NeuralabError
from neuralab.config import TrainSettings
from neuralab.data import Dataset, load, load_file
from neuralab.data.files import feature_columns
from neuralab.data.preprocess import Standardizer
from neuralab.data.splits import Split, make_splits, remap_labels
from neuralab.fileio import read_json
from neuralab.runs.predictor import Predictor, load_model
from neuralab.runs.state import open_run
from neuralab.runs.store import HISTORY, load_checkpoint, load_optimizer_state, read_history

CONFIG = "config.json"


def read_config(run_dir: str | Path) -> dict:
    """A run's config.json, checked to be an object; a folder without one is not a run.

    The run is opened with :func:`~neuralab.runs.state.open_run`: a swap that a
    killed writer left half-done is finished or undone first.
    """
    run_dir = open_run(run_dir)
    if not (run_dir / CONFIG).is_file():
        raise NeuralabError(f"{run_dir} is not a run directory (no {CONFIG})")
    config = read_json(run_dir / CONFIG)
    if not isinstance(config, dict):
        raise NeuralabError(f"{run_dir / CONFIG} must hold a JSON object; "
                            f"got {type(config).__name__}")
    return config


def settings_of(config: dict, *, where: str = CONFIG) -> TrainSettings:
    """The TrainSettings a run was trained with, every value checked."""
    return TrainSettings.from_dict(config.get("settings", {}), where=f"{where} settings")


def load_data_spec(spec: dict | None) -> Dataset:
    """Load the data a run was trained on, from config.json's ``data.spec``."""
    if not isinstance(spec, dict) or spec.get("kind") not in ("registry", "file"):
        raise NeuralabError("config.json does not say where the run's data came from; "
                            "give the data file")
    if spec["kind"] == "registry":
        options = spec.get("options") or {}
        if not isinstance(spec.get("name"), str) or not isinstance(options, dict):
            raise NeuralabError("config.json: data.spec needs a data set name and an options object")
        return load(spec["name"], seed=int(spec.get("seed", 0)), **options)
    if not isinstance(spec.get("path"), str):
        raise NeuralabError("config.json: data.spec of kind file needs a path")
    return load_file(spec["path"], target=spec.get("target"))


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
    data_cfg = config.get("data")
    if not isinstance(data_cfg, dict):
        raise NeuralabError(f"{Path(run_dir) / CONFIG}: 'data' must be an object")
    data_spec, test_spec = data_cfg.get("spec"), data_cfg.get("test_spec")
    return RunData(config=config, settings=settings_of(config),
                   data=load_data_spec(data_spec),
                   test=load_data_spec(test_spec) if test_spec else None,
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
    data_cfg = config.get("data")
    data_cfg = data_cfg if isinstance(data_cfg, dict) else {}
    if data is None:
        data = load_data_spec(data_cfg.get("spec"))
    check_features(data, predictor)
    # a separate test file excludes test_fraction, so it never changes the training split
    source = RunData(config=config, settings=settings_of(config), data=data, test=None,
                     data_spec=data_cfg.get("spec"), test_spec=None)
    split = source.splits()["train"]
    recorded = ((data_cfg.get("splits") or {}).get("train", {}).get("shape")
                or data_cfg.get("train_shape"))
    if recorded and int(recorded[0]) != len(split.y):
        raise NeuralabError(
            f"data {data.name} gives a training split of {len(split.y)} rows, but the run in "
            f"{Path(run_dir)} trained on {int(recorded[0])}; give the data the run was trained on"
        )
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


def read_resume(run_dir: str | Path, config: dict, optimizer: str) -> Resume:
    """The checkpoint, optimiser state and history a run continues from.

    Optimiser state of another optimiser than ``optimizer`` is dropped (the new
    optimiser starts fresh).
    """
    run_dir = Path(run_dir)
    state, meta = load_checkpoint(run_dir)
    tensors, scalars = load_optimizer_state(run_dir)
    if scalars.pop("optimizer", optimizer) != optimizer:
        tensors, scalars = {}, {}
    steps, seconds = config.get("steps", 0), config.get("train_seconds", 0.0)
    if (not isinstance(steps, int) or isinstance(steps, bool) or steps < 0
            or not isinstance(seconds, (int, float)) or isinstance(seconds, bool)):
        raise NeuralabError(f"{run_dir / CONFIG}: steps must be a non-negative integer and "
                            f"train_seconds a number; got {steps!r} and {seconds!r}")
    return Resume(state=state, optimizer_tensors=tensors, optimizer_scalars=scalars,
                  history_rows=read_history(run_dir / HISTORY), start_step=steps,
                  scaler=Standardizer.from_meta(meta, meta["sizes"][0]), seconds=float(seconds))
