"""The playground's settings: neuralab's one schema, and the few rules of the playground's own.

Every setting the page shows is declared once, in :mod:`neuralab.config`, with
the playground's tighter bounds (``settings_for("playground")``); a config
message is checked by :func:`neuralab.config.validate` and a refusal names the
setting (:class:`~neuralab.config.SettingError`). What stays here is only
what the playground adds: the 2-class toys take ``classes`` 2, the word
``upload`` keeps the data of the latest CSV upload, and each toy's own noise
and class count that the page offers when the data set changes.

>>> cfg = normalise_config({"dataset": "moons"})
>>> cfg["dataset"], cfg["classes"], cfg["hidden"], cfg["batch_size"]
('moons', 2, [100], None)
>>> normalise_config({"n_points": 5})
Traceback (most recent call last):
...
neuralab.config.SettingError: n_points must be an integer from 10 to 2000; got 5
"""

from __future__ import annotations

from neuralab import NeuralabError
from neuralab.config import (
    REGRESSION_TOYS,
    SETTINGS,
    TOY_DATASETS,
    TRAIN_NAMES,
    TWO_CLASS_TOYS,
    SettingError,
    TrainSettings,
    settings_for,
    validate,
)

SURFACE = "playground"
#: ``dataset`` takes this value once a CSV has been uploaded: the session keeps that data.
UPLOAD = "upload"
#: Each toy generator's own default noise and class count (the page offers them on a switch).
DATASET_DEFAULTS = {
    "spiral": {"noise": 0.2, "classes": 3},
    "moons": {"noise": 0.1, "classes": 2},
    "circles": {"noise": 0.05, "classes": 2},
    "xor": {"noise": 0.05, "classes": 2},
    "gaussian": {"noise": 0.5, "classes": 3},
    "plane": {"noise": 0.1},
    "gaussians": {"noise": 0.1},
}
#: The settings that define the generated data: changing one regenerates it and drops added points.
DATA_FIELDS = ("dataset", "n_points", "classes", "noise", "seed")
#: The most classes the playground takes (generated or uploaded): the schema's bound.
MAX_CLASSES = int(SETTINGS["classes"].bounded(SURFACE).maximum)


class PlaygroundError(NeuralabError):
    """A refused request that is no setting's: ``field`` names what was wrong (or None)."""

    def __init__(self, field: str | None, message: str) -> None:
        super().__init__(message)
        self.field = field


def shown() -> list[str]:
    """The names of the settings the playground shows, in the schema's order."""
    return [s.name for s in settings_for(SURFACE)]


def normalise_config(update, base: dict | None = None, *,
                     uploaded_classes: int | None = None) -> dict:
    """``base`` (default: the defaults) with the settings of ``update``, checked as a whole.

    ``update`` may hold any subset of the settings; :func:`neuralab.config.validate`
    checks them (SettingError names the setting). Then the playground's rules:
    the 2-class toys refuse another ``classes`` given with them (and take 2 when
    it is left out); ``dataset: "upload"`` needs an uploaded CSV
    (``uploaded_classes`` is its class count, which ``classes`` then takes).
    """
    if not isinstance(update, dict):
        raise PlaygroundError("config", f"config must be a JSON object of settings; got {update!r}")
    merged = _task_follows_dataset(update, {**(base or {}), **update})
    upload = merged.get("dataset") == UPLOAD
    if upload:
        if uploaded_classes is None:
            raise SettingError("dataset", f"dataset must be one of {', '.join(TOY_DATASETS)}; got "
                                          f"'{UPLOAD}' with no CSV uploaded in this session", UPLOAD)
        del merged["dataset"]
        merged["classes"] = uploaded_classes
    cfg = validate(merged, surface=SURFACE)
    if upload:
        cfg["dataset"] = UPLOAD
    elif cfg["dataset"] in TWO_CLASS_TOYS:
        if "classes" in update and cfg["classes"] != 2:
            raise SettingError("classes", f"classes must be 2 for {cfg['dataset']} (a 2-class data "
                                          f"set); got {update['classes']!r}; choose spiral or "
                                          "gaussian for more", update["classes"])
        cfg["classes"] = 2
    return cfg


def task_of(dataset: str) -> str:
    """The task a playground data set is for: the regression toys', else classification."""
    return "regression" if dataset in REGRESSION_TOYS else "classification"


def _task_follows_dataset(update: dict, merged: dict) -> dict:
    """A change of data set brings its task; a change of task alone, its first data set.

    Given together, they must agree (SettingError on ``task``).
    """
    dataset = merged.get("dataset", SETTINGS["dataset"].bounded(SURFACE).default)
    task = merged.get("task")
    if not isinstance(dataset, str) or task not in ("classification", "regression", None):
        return merged  # validate() names the bad value
    if "dataset" in update and "task" not in update:
        return {**merged, "task": "classification" if dataset == UPLOAD else task_of(dataset)}
    if "task" in update and "dataset" not in update and task_of(dataset) != task and not (
            dataset == UPLOAD and task == "classification"):
        return {**merged, "dataset": REGRESSION_TOYS[0] if task == "regression" else "spiral"}
    if task is not None and dataset != UPLOAD and task_of(dataset) != task:
        raise SettingError("task", f"task must be {task_of(dataset)} for dataset {dataset}; got "
                                   f"{task!r} (the regression sets are "
                                   f"{', '.join(REGRESSION_TOYS)})", task)
    if task == "regression" and dataset == UPLOAD:
        raise SettingError("task", "task must be classification for an uploaded CSV "
                                   "(x1,x2,label); got 'regression'", task)
    return merged


def train_settings(cfg: dict, *, steps: int = 0) -> TrainSettings:
    """The :class:`~neuralab.config.TrainSettings` of a playground config.

    Every training setting the playground shows is passed on by its name; the
    rest keep the schema's defaults, but for the playground's own (unless it
    shows them): float64 on the CPU, a history row every frame, ``steps`` (at
    least 1) as the iterations.
    """
    own = {"iterations": max(int(steps), 1), "dtype": "float64", "device": "cpu",
           "log_every": cfg["steps_per_frame"]}
    return TrainSettings(**{**own, **{k: v for k, v in cfg.items() if k in TRAIN_NAMES}})
