"""One playground session: its data, model and history, trained through neuralab's one recipe.

A :class:`Session` is synchronous and knows nothing of the network: the server
(:mod:`neuralab.playground.server`) calls it from a worker thread and sends what
it returns. The session builds its data set and splits (a toy or an uploaded
CSV, the points added by hand, the ``test_fraction`` cut) and hands them to
:func:`neuralab.lab.prepare`, which fits the scaling and builds the trainer, as
for ``neuralab train``; every frame is one call of
:meth:`~neuralab.lab.Prepared.fit` with ``iterations=steps_per_frame`` and
``start_step`` = the steps done so far. So the playground, the command line
and the generated scripts share one training loop.

Settings are checked by the schema (:mod:`neuralab.playground.settings`); a
refused value raises :class:`~neuralab.config.SettingError` naming the
setting and leaves the session as it was.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import shutil
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from neuralab.data.dataset import Dataset
from neuralab.lab import Prepared, prepare
from neuralab.playground.data import (
    MAX_ADDED_POINTS,
    MAX_COORDINATE,
    SessionData,
    brief,
    coordinate,
    finite_number,
    parse_points_csv,
    plane_grid,
    session_data,
    toy_dataset,
    toy_options,
)
from neuralab.playground.frames import (
    VALUE_COLOURS,
    b64,
    boundary_rgba,
    confusion_counts,
    network_maps,
    num,
    value_rgba,
)
from neuralab.playground.limits import MemoryBudget, session_bytes
from neuralab.playground.settings import (
    DATA_FIELDS,
    UPLOAD,
    PlaygroundError,
    normalise_config,
    train_settings,
)
from neuralab.train import History

SCORES = ("train_loss", "test_loss", "train_accuracy", "test_accuracy")


@dataclass
class SessionModel:
    """The prepared trainer and what it has done: steps, history, time spent, latest scores."""

    prepared: Prepared
    step: int = 0
    history: History = field(default_factory=History)
    sent: int = 0  # history rows already sent in a frame
    seconds: float = 0.0
    scores: dict = field(default_factory=dict)
    diverged: str | None = None

    @property
    def trainer(self):
        return self.prepared.trainer


class Session:
    """One browser tab's experiment.

    Args:
        runs_dir: where :meth:`save` writes run directories.
        grid: the boundary image's width and height, in pixels (default 100).
        hidden_grid: the width and height of each node's map in the network diagram (default 25).
        budget: the server's :class:`~neuralab.playground.limits.MemoryBudget`; a
            build whose estimate (:func:`~neuralab.playground.limits.session_bytes`)
            does not fit is refused before anything is built (None: no budget).

    Attributes:
        config: the checked settings (None before the first build).
        data: the :class:`~neuralab.playground.data.SessionData`.
        model: the :class:`SessionModel`.
        playing: whether the server's play loop should keep training.
        closed: set when the tab has gone; a chunk of training stops on it (between steps).
    """

    def __init__(self, *, runs_dir: str | Path = "runs", grid: int = 100,
                 hidden_grid: int = 25, budget: MemoryBudget | None = None) -> None:
        self.runs_dir = Path(runs_dir)
        self.budget = budget
        self.grid = int(grid)
        self.hidden_grid = int(hidden_grid)
        self.config: dict | None = None
        self.uploaded: Dataset | None = None
        self.data: SessionData | None = None
        self.model: SessionModel | None = None
        self.playing = False
        self.closed = False
        self._grid_points: np.ndarray | None = None
        self._hidden_points: np.ndarray | None = None

    # ---------------------------------------------------------------- building

    def ensure(self) -> None:
        """Build the default configuration if nothing has been configured yet."""
        if self.config is None:
            self.configure({})

    def configure(self, update: dict) -> dict:
        """(Re)build from ``update`` merged into the current config; returns the checked config.

        New data when a data setting (:data:`~neuralab.playground.settings.DATA_FIELDS`)
        changed, keeping added points otherwise; a new model, from the seed,
        unless only view settings changed (:data:`VIEW_SETTINGS`: the playback speed,
        how the boundary is drawn; training goes on). On any error nothing changes.
        """
        uploaded_k = None if self.uploaded is None else self.uploaded.n_classes
        cfg = normalise_config(update, self.config, uploaded_classes=uploaded_k)
        old = self.config
        if (old is not None and self.model is not None and self.model.diverged is None
                and all(cfg[k] == old[k] for k in cfg if k not in VIEW_SETTINGS)):
            self.config = cfg
            self.model.sent = 0  # the next frame carries the whole history (history_reset)
            return cfg
        if old is not None and self.data is not None and all(cfg[k] == old[k] for k in DATA_FIELDS):
            base, extra = self.data.base, self.data.extra
        else:
            base = self.uploaded if cfg["dataset"] == UPLOAD else toy_dataset(cfg)
            extra = []
        self._build(cfg, session_data(base, cfg, extra))
        return cfg

    def upload(self, text: str) -> dict:
        """Replace the data with an uploaded CSV; returns the checked config (dataset 'upload')."""
        base = parse_points_csv(text)
        cfg = normalise_config({"dataset": UPLOAD}, self.config, uploaded_classes=base.n_classes)
        data = session_data(base, cfg, [])
        self._build(cfg, data)
        self.uploaded = base
        return cfg

    def _reserve(self, cfg: dict, n_rows: int) -> None:
        """Claim the memory these settings need from the budget, or refuse (nothing changes)."""
        if self.budget is None:
            return
        outputs = 1 if cfg["task"] == "regression" else int(cfg["classes"])
        sizes = train_settings(cfg).sizes(len(cfg["features"]), outputs)
        batch = "full batch" if cfg["batch_size"] is None else f"batch_size {cfg['batch_size']}"
        self.budget.reserve(self, session_bytes(cfg, n_rows, self.grid ** 2),
                            f"{n_rows:,} points, layers {' -> '.join(map(str, sizes))}, {batch}")

    def _build(self, cfg: dict, data: SessionData) -> None:
        self._reserve(cfg, len(data.dataset.y))
        model = self._new_model(cfg, data)
        self.config, self.data, self.model = cfg, data, model
        self._new_plane()

    def reset(self) -> None:
        """Fresh weights from the seed, the same data (added points kept); history cleared."""
        self.ensure()
        self.model = self._new_model(self.config, self.data)

    def add_point(self, x, y, label) -> None:
        """Add a training point of class ``label`` at (x, y); the model and its scaling are kept.

        x and y are finite numbers within +-:data:`~neuralab.playground.data.MAX_COORDINATE`;
        a session takes at most :data:`~neuralab.playground.data.MAX_ADDED_POINTS` points.
        """
        self.ensure()
        for name, value in (("x", x), ("y", y)):
            if coordinate(value) is None:
                raise PlaygroundError(name, f"{name} must be a finite number from "
                                            f"{-MAX_COORDINATE:g} to {MAX_COORDINATE:g}; got "
                                            f"{brief(value)}")
        xv, yv = coordinate(x), coordinate(y)
        if self.config["task"] == "regression":
            raise PlaygroundError("label", "points are added by hand to a classification data "
                                           f"set; {self.config['dataset']} is a regression set")
        if len(self.data.extra) >= MAX_ADDED_POINTS:
            raise PlaygroundError("x", f"this session already has {MAX_ADDED_POINTS:,} points "
                                       "added by hand, the most it takes; reset the data set "
                                       "(change a data setting) to add others")
        K = self.data.n_classes
        k = None if isinstance(label, str) else finite_number(label)
        if k is None or not k.is_integer() or not 0 <= k < K:
            raise PlaygroundError("label", f"label must be an integer from 0 to {K - 1} "
                                           f"(this data has {K} classes); got {brief(label)}")
        old, m = self.data, self.model
        self._reserve(self.config, len(old.dataset.y) + 1)
        data = session_data(old.base, self.config, [*old.extra, (xv, yv, int(k))], old.extent)
        kept = m.prepared
        fresh = prepare(data.dataset, kept.settings, splits=data.splits, scaler=kept.scaler)
        m.prepared = dataclasses.replace(fresh, trainer=kept.trainer)
        self.data = data
        if data.extent != old.extent:
            self._new_plane()
        m.scores = self._measure(m)

    def _new_model(self, cfg: dict, data: SessionData) -> SessionModel:
        """The recipe's trainer for ``data``, its scaling fitted on the training split; step 0."""
        model = SessionModel(prepare(data.dataset, train_settings(cfg), splits=data.splits))
        model.scores = s = self._measure(model)
        row = {"step": 0, "loss": s["train_loss"], "train_accuracy": s["train_accuracy"]}
        if data.has_test:
            row["val_loss"], row["val_accuracy"] = s["test_loss"], s["test_accuracy"]
        model.history.rows.append(row)
        return model

    def _new_plane(self) -> None:
        ext = self.data.extent
        self._grid_points = plane_grid(ext, self.grid, self.grid)
        self._hidden_points = plane_grid(ext, self.hidden_grid, self.hidden_grid)

    # ---------------------------------------------------------------- training

    def train(self, steps: int | None = None, *, seconds: float | None = None) -> None:
        """Run ``steps`` (default steps_per_frame) updates: one call of ``Prepared.fit``.

        With ``seconds``, the call ends early once that much time has passed (after
        one step at least); it ends before its next step, whatever ``seconds`` says,
        once the session is closed. A chunk that ends early logs its last step.

        Raises:
            TrainingDiverged: when the loss became NaN or infinite; the session
                remembers it and refuses to train on until reset or reconfigured.
        """
        from neuralab.train import TrainingDiverged

        self.ensure()
        m = self.model
        if m.diverged is not None:
            raise PlaygroundError(None, m.diverged + "; press reset or change the settings")
        n = int(steps or self.config["steps_per_frame"])
        start = time.perf_counter()
        asked = itertools.count()

        def stop() -> bool:  # asked before each step
            first = next(asked) == 0
            return self.closed or (seconds is not None and not first
                                   and time.perf_counter() - start > seconds)

        try:
            result = m.prepared.fit(iterations=n, start_step=m.step, log_every=n,
                                    stop_on_signal=False, progress=False, stop=stop)
        except TrainingDiverged as exc:
            m.step = exc.step
            m.diverged = str(exc)
            m.seconds += time.perf_counter() - start
            raise
        m.seconds += time.perf_counter() - start
        last = m.history.rows[-1]["step"] if m.history.rows else -1
        for row in result.history.rows:
            # a full-batch chunk logs its first step, which the previous chunk logged as its
            # last (the same weights, the same numbers): keep one row per step
            if row["step"] > last:
                m.history.rows.append(row)
                last = row["step"]
        m.step = result.steps
        m.scores = {"train_loss": result.final_loss, "train_accuracy": result.final_train_accuracy,
                    "test_loss": result.final_val_loss, "test_accuracy": result.final_val_accuracy}

    @staticmethod
    def _measure(model: SessionModel) -> dict:
        """Loss and accuracy on the training and test splits at the current weights."""
        prep = model.prepared
        out = dict.fromkeys(SCORES)
        with np.errstate(all="ignore"):
            for key, sp in prep.splits.items():
                loss, probs = prep.trainer.evaluate(prep.scaled[key], prep.targets[key])
                out[f"{key}_loss"] = loss
                if prep.target is None:  # a regression has no accuracy
                    out[f"{key}_accuracy"] = float(np.mean(probs.argmax(axis=1) == sp.y))
        return out

    # ---------------------------------------------------------------- frames

    def frame(self, *, points: bool = False, hidden: bool = False) -> dict:
        """The frame message: scores, new history rows, the boundary image, confusion counts.

        ``points`` adds the data (and ``history_reset`` tells whether the history
        starts anew); ``hidden`` adds the network diagram, ``network``: every
        layer's node maps and the weights (:func:`~neuralab.playground.frames.network_maps`).
        """
        self.ensure()
        d, m = self.data, self.model
        prep = m.prepared
        rows = m.history.rows[m.sent:]
        history_reset = m.sent == 0
        m.sent = len(m.history.rows)
        column = {"step": "step", "train_loss": "loss", "test_loss": "val_loss",
                  "train_accuracy": "train_accuracy", "test_accuracy": "val_accuracy"}
        n_train = len(prep.y)
        batch = self.config["batch_size"]
        per_epoch = 1 if batch is None or batch >= n_train else -(-n_train // batch)
        out = {
            "type": "frame",
            "step": int(m.step),
            "epoch": int(m.step) // per_epoch,  # whole passes over the training points
            "playing": bool(self.playing),
            **{k: num(m.scores.get(k)) for k in SCORES},
            "history": {k: [num(r.get(c)) for r in rows] for k, c in column.items()},
            "history_reset": history_reset,
        }
        out["history"]["step"] = [int(r["step"]) for r in rows]
        out["task"] = self.config["task"]
        with np.errstate(all="ignore"):
            out.update(self._picture())
            if hidden:
                out["network"] = self._network()
        if points:
            value = float if prep.target is not None else int
            out["points"] = {key: [[float(a), float(b), value(c)] for (a, b), c in
                                   zip(d.splits[key].X, d.splits[key].y)] if key in d.splits else []
                             for key in ("train", "test")}
            out["class_names"] = list(d.base.classes)
        if m.diverged is not None:
            out["diverged"] = m.diverged
        out["hint"] = chance_hint(m.history.rows, self._chance(), self.config)
        return out

    def _picture(self) -> dict:
        """The plane's picture: the boundary and confusion counts, or a regression's value map.

        A regression's values are coloured on a scale symmetric about 0, out to the
        largest |y| of the training points (``value_bound``), which colour the points too.
        """
        d, prep, m = self.data, self.model.prepared, self.model
        discretize = bool(self.config["discretize"])
        image = {"width": self.grid, "height": self.grid, "extent": list(d.extent)}
        grid = prep.scaler.transform(self._grid_points)
        if prep.target is not None:
            values = prep.target.inverse(m.trainer.predict_output(grid)).reshape(-1)
            bound = float(np.max(np.abs(prep.splits["train"].y), initial=0.0)) or 1.0
            return {"boundary": {**image, "rgba": b64(value_rgba(values, bound,
                                                                  discretize=discretize))},
                    "value_bound": bound, "value_colours": VALUE_COLOURS}
        split = "test" if d.has_test else "train"
        probs = m.trainer.predict_proba(grid)
        return {"boundary": {**image, "rgba": b64(boundary_rgba(probs, discretize=discretize))},
                "confusion": confusion_counts(prep.splits[split].y,
                                              m.trainer.predict_proba(prep.scaled[split]),
                                              d.n_classes),
                "confusion_split": split}

    def _chance(self) -> tuple[float, str]:
        """The loss of a model that has learnt nothing, and its name: log K, or a
        regression's target variance (the MSE of always predicting the mean)."""
        prep = self.model.prepared
        if prep.target is None:
            K = self.data.n_classes
            return math.log(K), f"log {K}"
        return float(np.var(prep.targets["train"])), "the target's variance"

    def _network(self) -> dict:
        """The network diagram on the coarse grid: inputs (as the model sees them), each layer, W_i."""
        prep, cfg = self.model.prepared, self.config
        state = prep.trainer.state_dict()
        params = [(state[f"W{i}"], state[f"b{i}"]) for i in range(1, len(state) // 2 + 1)]
        X = prep.scaler.transform(self._hidden_points)
        names = prep.scaler.input_names or list(self.data.base.feature_names)
        net = network_maps(params, X, self.hidden_grid, activation=cfg["activation"],
                           input_names=names,
                           output_names=list(self.data.base.classes) or [self.data.base.target or "y"],
                           probabilities=cfg.get("task", "classification") != "regression")
        net["extent"] = list(self.data.extent)
        net["activation"] = cfg["activation"]
        return net

    # ---------------------------------------------------------------- code and saving

    def code(self) -> dict:
        """The torch and numpy scripts that train this configuration from scratch."""
        from neuralab.playground.codegen import numpy_code, torch_code

        self.ensure()
        uploaded = self.data.base if self.config["dataset"] == UPLOAD else None
        extra = self.data.extra or None
        return {"torch": torch_code(self.config, extra, uploaded=uploaded),
                "numpy": numpy_code(self.config, extra, uploaded=uploaded)}

    def save(self) -> Path:
        """Write the model and history as a run directory under ``runs_dir``; returns its path.

        The command line's contract (config.json, history.csv, metrics.json,
        predictions.csv, model.safetensors, model.json, figures/, report.html),
        written by :func:`neuralab.lab.save_run`.
        """
        from neuralab.lab import save_run
        from neuralab.metrics import UndefinedMetricWarning
        from neuralab.runs import Predictor, RunResult, model_meta
        from neuralab.train import FitResult

        self.ensure()
        cfg, d, m = self.config, self.data, self.model
        if m.diverged is not None:
            raise PlaygroundError(None, "the weights diverged, so there is nothing to save; "
                                        "press reset or change the settings")
        prep = m.prepared
        settings = prep.settings.replace(iterations=max(m.step, 1))
        meta = model_meta(settings, settings.sizes(prep.scaler.width, d.dataset.n_outputs),
                          d.dataset, prep.scaler)
        output = prep.trainer.predict_proba
        if prep.target is not None:
            from neuralab.runs.regression import regression_meta

            meta, output = regression_meta(meta, d.dataset, prep.target), prep.trainer.predict_output
        predictor = Predictor(output, prep.scaler, d.dataset.classes, d.dataset.feature_names, meta)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UndefinedMetricWarning)
            metrics, probs = prep.evaluate()
        s = m.scores
        fit_result = FitResult(
            history=History(rows=[dict(r) for r in m.history.rows]), steps=m.step,
            seconds=m.seconds, final_loss=s["train_loss"],
            final_train_accuracy=s["train_accuracy"], final_val_loss=s["test_loss"],
            final_val_accuracy=s["test_accuracy"])
        run_dir = fresh_run_dir(self.runs_dir)
        run = RunResult(name="playground", settings=settings, fit=fit_result, metrics=metrics,
                        run_dir=run_dir, trainer=prep.trainer, predictor=predictor,
                        splits=prep.splits, probs=probs)
        spec = None
        if cfg["dataset"] != UPLOAD and not d.extra:
            spec = {"kind": "registry", "name": cfg["dataset"], "seed": cfg["seed"],
                    "options": toy_options(cfg)}
        try:
            save_run(run, d.dataset, data_spec=spec)
        except BaseException as exc:
            shutil.rmtree(run_dir, ignore_errors=True)  # no half-written run is left behind
            if isinstance(exc, OSError):
                raise PlaygroundError("save", f"cannot write the run {run_dir}: "
                                              f"{exc.strerror or type(exc).__name__}") from None
            raise
        return run_dir.resolve()

    def close(self) -> None:
        """Drop the data and the model (the tab has gone), and their memory's reservation."""
        if self.budget is not None:
            self.budget.release(self)
        self.closed = True
        self.playing = False
        self.data = self.model = self.uploaded = None
        self._grid_points = self._hidden_points = None


def fresh_run_dir(root: Path, tries: int = 1000) -> Path:
    """A new, empty run directory ``root/YYYYmmdd-HHMMSS-playground[-N]``, created here.

    The folder is claimed by creating it (``mkdir`` fails on a name that exists),
    so saves that run at once, from any sessions or processes, each get their own.

    Raises:
        PlaygroundError: (field ``save``) when ``root`` cannot be written.
    """
    from neuralab.runs import new_run_dir, prepare_run_dir

    for _ in range(tries):
        path = new_run_dir(root, "playground")
        try:
            path.mkdir(parents=True)
        except FileExistsError:
            continue  # another save took the name between the look and the mkdir
        except OSError as exc:
            raise PlaygroundError("save", f"cannot save under {root}: "
                                          f"{exc.strerror or type(exc).__name__}") from None
        return prepare_run_dir(path)
    raise PlaygroundError("save", f"cannot find a free folder name under {root}")


#: settings that change what the page shows, not what is trained: a change keeps the model
VIEW_SETTINGS = ("steps_per_frame", "discretize")
#: steps the training loss must stay at chance before the page says so
CHANCE_STEPS = 300
#: how close to chance (log K) counts as chance: 1 % of it
CHANCE_TOLERANCE = 0.01


def chance_hint(rows: list[dict], chance: tuple[float, str], config: dict) -> str | None:
    """Why a net may be stuck, when its training loss has stayed within 1 % of chance
    for the last :data:`CHANCE_STEPS` steps or more; else None.

    ``chance`` is the loss of a model that has learnt nothing and its name: (log K,
    "log K") for K classes, a regression's target variance.

    >>> rows = [{"step": s, "loss": 0.6931} for s in range(0, 400, 10)]
    >>> chance_hint(rows, (math.log(2), "log 2"), {"init": "lecture", "lr": 0.3,
    ...                                            "activation": "relu"})[:47]
    'The training loss has stayed at chance (log 2 ='
    >>> chance_hint(rows[:20], (math.log(2), "log 2"), {"init": "he", "lr": 0.3}) is None
    True
    """
    if not rows:
        return None
    chance, name = chance
    last = rows[-1]["step"]
    since = last
    for row in reversed(rows):
        loss = row.get("loss")
        if loss is None or not abs(loss - chance) <= CHANCE_TOLERANCE * chance:
            break
        since = row["step"]
    if last - since < CHANCE_STEPS:
        return None
    causes = []
    if config.get("init") == "lecture":
        causes.append("initial weights too small for this depth: set init to he")
    causes.append(f"a learning rate too small or too large (lr is {config.get('lr')!r}): "
                  "change lr by a factor of 10")
    if config.get("activation") in ("relu", "leaky_relu"):
        causes.append("dead ReLU units that pass no gradient: try activation tanh, init he or "
                      "a smaller lr")
    return (f"The training loss has stayed at chance ({name} = {chance:.4f}) for "
            f"{last - since} steps: the network is not learning. Likely causes: "
            + "; ".join(causes) + ".")
