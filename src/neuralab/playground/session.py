"""One playground session: its data, model, trainer and history, trained by neuralab's own loop.

A :class:`Session` is synchronous and knows nothing of the network: the server
(:mod:`neuralab.playground.server`) calls it from a worker thread and sends what
it returns. Every training chunk is one call of :func:`neuralab.train.fit` with
``iterations=steps_per_frame`` and ``start_step`` = the steps done so far, on
the trainer that :func:`neuralab.lab.make_trainer` builds, so the
playground, the command line and the generated scripts share one training loop.

The configuration (:data:`DEFAULT_CONFIG`, :data:`RANGES`) is validated here;
a bad value raises :class:`PlaygroundError` naming the field, the value and what
is allowed, and leaves the session as it was.
"""

from __future__ import annotations

import base64
import csv
import io
import math
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from neuralab import NeuralabError
from neuralab.data.preprocess import Standardizer
from neuralab.data.registry import Dataset
from neuralab.plots import CLASS_COLOURS
from neuralab.train import History

DATASETS = ("spiral", "moons", "circles", "xor", "gaussian")
#: The data sets whose generators make exactly two classes.
TWO_CLASS = ("moons", "circles", "xor")
#: ``dataset`` takes this value once a CSV has been uploaded: the session keeps that data.
UPLOAD = "upload"
#: Each toy generator's own default noise and class count (the page may offer them on a switch).
DATASET_DEFAULTS = {
    "spiral": {"noise": 0.2, "classes": 3},
    "moons": {"noise": 0.1, "classes": 2},
    "circles": {"noise": 0.05, "classes": 2},
    "xor": {"noise": 0.05, "classes": 2},
    "gaussian": {"noise": 0.5, "classes": 3},
}
MODELS = ("linear", "mlp")
ACTIVATIONS = ("relu", "tanh", "sigmoid", "leaky_relu", "identity")
OPTIMIZERS = ("sgd", "momentum", "adam")
BACKENDS = ("numpy", "torch")
MAX_CSV_ROWS = 20_000
MAX_CSV_CHARS = 4_000_000
MAX_CLASSES = 6
#: At most this many hidden units get an activation map in a frame.
MAX_UNITS_SHOWN = 32
#: A frame carries the hidden-unit maps every this many frames while playing.
HIDDEN_EVERY = 5

#: The lecture's experiment: the spiral (3 x 100 points), the 2-100-3 ReLU net,
#: step 1.0, reg 1e-3, plain full-batch SGD, raw (unstandardised) inputs.
DEFAULT_CONFIG: dict = {
    "dataset": "spiral",
    "n_points": 100,
    "classes": 3,
    "noise": 0.2,
    "test_ratio": 0.2,
    "seed": 0,
    "model": "mlp",
    "hidden": [100],
    "activation": "relu",
    "lr": 1.0,
    "reg": 1e-3,
    "batch_size": 0,
    "optimizer": "sgd",
    "backend": "numpy",
    "steps_per_frame": 10,
    "standardize": False,
}

#: Each field's type and allowed values, as ``GET /api/defaults`` reports them.
RANGES: dict = {
    "dataset": {"type": "choice", "choices": list(DATASETS),
                "note": f"'{UPLOAD}' keeps the data of the latest upload_csv"},
    "n_points": {"type": "int", "min": 10, "max": 2000, "note": "points per class"},
    "classes": {"type": "int", "min": 2, "max": MAX_CLASSES,
                "note": "moons, circles and xor have 2 classes only"},
    "noise": {"type": "float", "min": 0.0, "max": 1.0},
    "test_ratio": {"type": "float", "min": 0.0, "max": 0.9,
                   "note": "share of the points held out, stratified and seeded; 0: no test set"},
    "seed": {"type": "int", "min": 0, "max": 2**31 - 1},
    "model": {"type": "choice", "choices": list(MODELS)},
    "hidden": {"type": "int_list", "min_length": 0, "max_length": 6, "min": 1, "max": 256,
               "note": "hidden layer sizes; empty for linear, at least one for mlp"},
    "activation": {"type": "choice", "choices": list(ACTIVATIONS)},
    "lr": {"type": "float", "min": 0.0, "max": 10.0, "min_exclusive": True},
    "reg": {"type": "float", "min": 0.0, "max": 1.0,
            "note": "L2 penalty 0.5 * reg * sum of W squared (the lecture's convention)"},
    "batch_size": {"type": "int", "min": 0, "max": 5000, "note": "0: full batch"},
    "optimizer": {"type": "choice", "choices": list(OPTIMIZERS),
                  "note": "momentum is SGD with momentum 0.9"},
    "backend": {"type": "choice", "choices": list(BACKENDS)},
    "steps_per_frame": {"type": "int", "min": 1, "max": 1000},
    "standardize": {"type": "bool"},
}

#: The fields that define the generated data: changing one regenerates it and drops added points.
DATA_FIELDS = ("dataset", "n_points", "classes", "noise", "seed")


class PlaygroundError(NeuralabError):
    """A refused request: ``field`` names what was wrong (None when no single field is)."""

    def __init__(self, field: str | None, message: str) -> None:
        super().__init__(message)
        self.field = field


# --------------------------------------------------------------------------- validation


def _as_int(value):
    """An int from an int, an integral float or a numeric string; None when it is none of these."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            return None
    if isinstance(value, (float, np.floating)) and math.isfinite(value) and float(value).is_integer():
        return int(value)
    return None


def _as_float(value):
    """A finite float from a number or a numeric string; None otherwise."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            return None
    if isinstance(value, (int, float, np.integer, np.floating)) and math.isfinite(value):
        return float(value)
    return None


def _check_field(name: str, value):
    """``value`` checked against ``RANGES[name]`` and normalised; PlaygroundError otherwise."""
    spec = RANGES[name]
    kind = spec["type"]
    if kind == "choice":
        choices = spec["choices"] + ([UPLOAD] if name == "dataset" else [])
        if not isinstance(value, str) or value not in choices:
            raise PlaygroundError(name, f"{name} must be one of {', '.join(spec['choices'])}; "
                                        f"got {value!r}")
        return value
    if kind == "bool":
        if isinstance(value, bool):
            return value
        if value in ("true", "false"):
            return value == "true"
        raise PlaygroundError(name, f"{name} must be true or false; got {value!r}")
    lo, hi = spec["min"], spec["max"]
    if kind == "int":
        v = _as_int(value)
        if v is None or not lo <= v <= hi:
            allowed = ("0 (full batch) or an integer from 1 to 5000" if name == "batch_size"
                       else f"an integer from {lo} to {hi}")
            what = f" ({spec['note']})" if name == "n_points" else ""
            raise PlaygroundError(name, f"{name}{what} must be {allowed}; got {value!r}")
        return v
    if kind == "float":
        v = _as_float(value)
        low_ok = v is not None and (v > lo if spec.get("min_exclusive") else v >= lo)
        if v is None or not low_ok or v > hi:
            allowed = (f"a number > {lo:g} and <= {hi:g}" if spec.get("min_exclusive")
                       else f"a number from {lo:g} to {hi:g}")
            raise PlaygroundError(name, f"{name} must be {allowed}; got {value!r}")
        return v
    if kind == "int_list":
        items = value
        if isinstance(value, str):  # "100, 50", as a URL or a text field holds it
            items = [v for v in value.split(",") if v.strip()]
        sizes = [_as_int(v) for v in items] if isinstance(items, (list, tuple)) else None
        if (sizes is None or not spec["min_length"] <= len(sizes) <= spec["max_length"]
                or any(s is None or not spec["min"] <= s <= spec["max"] for s in sizes)):
            raise PlaygroundError(
                name, f"{name} must be a list of {spec['min_length']} to {spec['max_length']} "
                      f"layer sizes, each an integer from {spec['min']} to {spec['max']}; "
                      f"got {value!r}")
        return sizes
    raise AssertionError(f"unknown field type {kind}")  # pragma: no cover - RANGES is fixed


def normalise_config(update: dict, base: dict | None = None, *,
                     uploaded_classes: int | None = None) -> dict:
    """``base`` (default :data:`DEFAULT_CONFIG`) with the fields of ``update``, each checked.

    ``update`` may hold any subset of the fields. Cross-field rules: the 2-class
    data sets refuse another ``classes`` given with them (and take 2 when it is
    left out); a linear model has no hidden layers (``hidden`` becomes []); an mlp
    needs at least one; ``dataset: "upload"`` needs an uploaded CSV
    (``uploaded_classes`` is its class count, which ``classes`` then takes).

    >>> cfg = normalise_config({"dataset": "moons"})
    >>> cfg["dataset"], cfg["classes"], cfg["hidden"]
    ('moons', 2, [100])
    >>> normalise_config({"n_points": 5})
    Traceback (most recent call last):
    ...
    neuralab.playground.session.PlaygroundError: n_points (points per class) must be an integer from 10 to 2000; got 5
    """
    if not isinstance(update, dict):
        raise PlaygroundError("config", f"config must be a JSON object of settings; got {update!r}")
    unknown = [k for k in update if k not in RANGES]
    if unknown:
        name = unknown[0]
        raise PlaygroundError(name, f"unknown config field {name!r} (got {update[name]!r}); "
                                    f"the fields are {', '.join(RANGES)}")
    cfg = {k: (list(v) if isinstance(v, list) else v) for k, v in (base or DEFAULT_CONFIG).items()}
    for name, value in update.items():
        cfg[name] = _check_field(name, value)
    if cfg["dataset"] == UPLOAD:
        if uploaded_classes is None:
            raise PlaygroundError("dataset", f"dataset must be one of {', '.join(DATASETS)}; "
                                             f"got 'upload' with no CSV uploaded in this session")
        cfg["classes"] = uploaded_classes
    elif cfg["dataset"] in TWO_CLASS:
        if "classes" in update and cfg["classes"] != 2:
            raise PlaygroundError(
                "classes", f"classes must be 2 for {cfg['dataset']} (a 2-class data set); "
                           f"got {update['classes']!r}; choose spiral or gaussian for more")
        cfg["classes"] = 2
    if cfg["model"] == "linear":
        cfg["hidden"] = []
    elif not cfg["hidden"]:
        raise PlaygroundError("hidden", "hidden must list 1 to 6 layer sizes for model mlp "
                                        f"(use model linear for none); got {cfg['hidden']!r}")
    return cfg


# --------------------------------------------------------------------------- data


def parse_points_csv(text: str) -> Dataset:
    """A Dataset from CSV text of 2-D points ``x1,x2,label`` (header row optional).

    Blank lines are skipped; a first row whose coordinates are not numbers is the
    header (it names the features). Labels may be strings or integers and are
    numbered as :func:`neuralab.data.files.encode_labels` numbers them (sorted,
    numerically when all are integers). 2 to 6 classes, at most 20,000 rows;
    anything else is a one-line :class:`PlaygroundError` (field ``text``).

    >>> d = parse_points_csv("x,y,label\\n0,0,b\\n1,1,a\\n")
    >>> d.X.tolist(), d.y.tolist(), d.classes
    ([[0.0, 0.0], [1.0, 1.0]], [1, 0], ['a', 'b'])
    """
    from neuralab.data.files import encode_labels

    if not isinstance(text, str):
        raise PlaygroundError("text", f"text must be the CSV file's contents as a string; "
                                      f"got {type(text).__name__}")
    if len(text) > MAX_CSV_CHARS:
        raise PlaygroundError("text", f"the CSV has {len(text):,} characters; at most "
                                      f"{MAX_CSV_CHARS:,} are accepted")
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    rows: list[tuple[int, list[str]]] = []
    try:
        for row in reader:
            if any(cell.strip() for cell in row):
                rows.append((reader.line_num, [cell.strip() for cell in row]))
    except csv.Error as exc:
        raise PlaygroundError("text", f"the CSV cannot be read, line {reader.line_num}: {exc}") from None
    if not rows:
        raise PlaygroundError("text", "the CSV is empty; expected rows x1,x2,label")
    names = ["x1", "x2"]
    first = rows[0][1]
    if len(first) == 3 and (_as_float(first[0]) is None or _as_float(first[1]) is None):
        names = [first[0] or "x1", first[1] or "x2"]
        rows = rows[1:]
    if not rows:
        raise PlaygroundError("text", "the CSV has a header but no data rows")
    if len(rows) > MAX_CSV_ROWS:
        raise PlaygroundError("text", f"the CSV has {len(rows):,} data rows; at most "
                                      f"{MAX_CSV_ROWS:,} are accepted")
    X = np.empty((len(rows), 2))
    labels = []
    for i, (line, row) in enumerate(rows):
        if len(row) != 3:
            raise PlaygroundError("text", f"CSV line {line}: {len(row)} cells, expected 3 "
                                          f"(x1,x2,label)")
        for c in range(2):
            v = _as_float(row[c])
            if v is None:
                raise PlaygroundError("text", f"CSV line {line}, column {names[c]}: {row[c]!r} "
                                              "is not a finite number")
            X[i, c] = v
        labels.append(row[2])
    try:
        y, classes = encode_labels(labels, where="the CSV")
    except NeuralabError as exc:
        raise PlaygroundError("text", str(exc)) from None
    if len(classes) > MAX_CLASSES:
        raise PlaygroundError("text", f"the CSV has {len(classes)} classes; the playground takes "
                                      f"2 to {MAX_CLASSES}")
    return Dataset(X=X, y=y, classes=classes, name="upload.csv",
                   source=f"CSV uploaded to the playground ({len(y)} rows)", feature_names=names)


def toy_dataset(cfg: dict) -> Dataset:
    """The configured toy data set, through the registry (what the generated scripts call)."""
    from neuralab.data import load

    return load(cfg["dataset"], seed=cfg["seed"], **toy_options(cfg))


def toy_options(cfg: dict) -> dict:
    """The generator options of ``cfg``'s toy: n_per_class, noise, and n_classes where it takes one."""
    opts = {"n_per_class": cfg["n_points"], "noise": cfg["noise"]}
    if cfg["dataset"] not in TWO_CLASS:
        opts["n_classes"] = cfg["classes"]
    return opts


def split_indices(y: np.ndarray, test_ratio: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train, test) row indices: stratified and seeded, as ``neuralab train --test-fraction``."""
    if not test_ratio:
        return np.arange(len(y)), np.arange(0)
    from neuralab.data.splits import train_test_split

    try:
        *_, tr, te = train_test_split(np.zeros((len(y), 1)), y, test_fraction=test_ratio, seed=seed)
    except NeuralabError as exc:
        raise PlaygroundError("test_ratio", str(exc)) from None
    missing = sorted(set(range(int(y.max()) + 1)) - set(y[tr].tolist()))
    if missing:
        raise PlaygroundError("test_ratio", f"test_ratio {test_ratio:g} leaves no training point "
                                            f"of class {missing}; choose a smaller test_ratio")
    return tr, te


def plane_extent(X: np.ndarray, margin: float = 0.25) -> list[float]:
    """[xmin, xmax, ymin, ymax] around X with a margin, as :func:`neuralab.plots.grid_over` pads.

    >>> plane_extent(np.array([[0.0, 0.0], [4.0, 2.0]]))
    [-1.0, 5.0, -0.5, 2.5]
    """
    lo, hi = X.min(axis=0), X.max(axis=0)
    span = hi - lo
    pad = margin * np.where(span > 0, span, 4.0)  # a single point still gets a plane around it
    return [float(lo[0] - pad[0]), float(hi[0] + pad[0]), float(lo[1] - pad[1]), float(hi[1] + pad[1])]


def plane_grid(extent: list[float], width: int, height: int) -> np.ndarray:
    """(width * height, 2) points over ``extent``, row by row from the TOP (ymax) down."""
    xs = np.linspace(extent[0], extent[1], width)
    ys = np.linspace(extent[3], extent[2], height)
    xx, yy = np.meshgrid(xs, ys)
    return np.c_[xx.ravel(), yy.ravel()]


def _hex_rgb(colour: str) -> tuple[float, float, float]:
    c = colour.lstrip("#")
    return tuple(int(c[i:i + 2], 16) / 255 for i in (0, 2, 4))


def boundary_rgba(probs: np.ndarray) -> np.ndarray:
    """(n, 4) uint8 colours: each point's predicted class colour blended with white.

    The rule of :func:`neuralab.plots.draw_boundary`: the colour of
    ``CLASS_COLOURS[argmax]`` at strength ``0.15 + 0.45 * (p_max - 1/K) / (1 - 1/K)``,
    so an unsure point is nearly white and a certain one a clear tint; alpha 255.

    >>> boundary_rgba(np.array([[1.0, 0.0], [0.5, 0.5]])).tolist()
    [[121, 173, 210, 255], [221, 235, 244, 255]]
    """
    K = probs.shape[1]
    colours = np.array([_hex_rgb(CLASS_COLOURS[k % len(CLASS_COLOURS)]) for k in range(K)])
    probs = np.nan_to_num(probs, nan=1.0 / K)
    pred = probs.argmax(axis=1)
    conf = probs.max(axis=1)
    strength = 0.15 + 0.45 * (conf - 1.0 / K) / (1 - 1.0 / K)
    rgb = 1 - strength[:, None] * (1 - colours[pred])
    out = np.full((len(probs), 4), 255, dtype=np.uint8)
    out[:, :3] = np.rint(np.clip(rgb, 0, 1) * 255)
    return out


def _b64(a: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(a).tobytes()).decode("ascii")


def _num(v) -> float | None:
    """A float for JSON: NaN and infinities (and None) become None."""
    return float(v) if v is not None and math.isfinite(v) else None


# --------------------------------------------------------------------------- the session


@dataclass
class _Data:
    """The session's data: the base set (generated or uploaded), added points, split, scaling."""

    base: Dataset
    extra: list[tuple[float, float, int]]
    train_idx: np.ndarray
    test_idx: np.ndarray
    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    extent: list[float]
    scaler: Standardizer | None = None
    Xs_train: np.ndarray | None = None
    Xs_test: np.ndarray | None = None

    @property
    def n_classes(self) -> int:
        return self.base.n_classes

    @property
    def has_test(self) -> bool:
        return len(self.y_test) > 0

    def rescale(self, standardize: bool) -> None:
        """Fit the scaling on the training split (identity unless ``standardize``)."""
        self.scaler = (Standardizer.fit(self.X_train) if standardize
                       else Standardizer.identity(2))
        self.Xs_train = self.scaler.transform(self.X_train)
        self.Xs_test = self.scaler.transform(self.X_test)


def _make_data(base: Dataset, cfg: dict, extra: list) -> _Data:
    tr, te = split_indices(base.y, cfg["test_ratio"], cfg["seed"])
    X_train, y_train = base.X[tr], base.y[tr]
    if extra:
        pts = np.array(extra, dtype=float)
        X_train = np.vstack([X_train, pts[:, :2]])
        y_train = np.concatenate([y_train, pts[:, 2].astype(np.int64)])
    all_X = base.X if not extra else np.vstack([base.X, np.array(extra, dtype=float)[:, :2]])
    return _Data(base=base, extra=list(extra), train_idx=tr, test_idx=te,
                 X_train=X_train, y_train=y_train, X_test=base.X[te], y_test=base.y[te],
                 extent=plane_extent(all_X))


@dataclass
class _Model:
    """The trainer and what it has done: steps, history, time spent."""

    trainer: object
    step: int = 0
    history: History = field(default_factory=History)
    sent: int = 0  # history rows already sent in a frame
    seconds: float = 0.0
    scores: dict = field(default_factory=dict)
    diverged: str | None = None


class Session:
    """One browser tab's experiment.

    Args:
        runs_dir: where :meth:`save` writes run directories.
        grid: the boundary image's width and height, in pixels (default 100).
        hidden_grid: the hidden-unit maps' width and height (default 25).

    Attributes:
        config: the normalised configuration (None before the first build).
        playing: whether the server's play loop should keep training.
        closed: set when the tab has gone; a play loop stops on it.
    """

    def __init__(self, *, runs_dir: str | Path = "runs", grid: int = 100,
                 hidden_grid: int = 25) -> None:
        self.runs_dir = Path(runs_dir)
        self.grid = int(grid)
        self.hidden_grid = int(hidden_grid)
        self.config: dict | None = None
        self.uploaded: Dataset | None = None
        self.data: _Data | None = None
        self.model: _Model | None = None
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
        """(Re)build from ``update`` merged into the current config; returns the normalised config.

        New data when a data field (:data:`DATA_FIELDS`) changed, keeping added
        points otherwise; a new model, from the seed, unless only
        ``steps_per_frame`` changed (that is the playback speed: training goes on).
        On any error nothing changes.
        """
        uploaded_k = None if self.uploaded is None else self.uploaded.n_classes
        cfg = normalise_config(update, self.config, uploaded_classes=uploaded_k)
        old = self.config
        if (old is not None and self.model is not None and self.model.diverged is None
                and all(cfg[k] == old[k] for k in cfg if k != "steps_per_frame")):
            self.config = cfg
            self.model.sent = 0  # the next frame carries the whole history (history_reset)
            return cfg
        if old is not None and self.data is not None and all(cfg[k] == old[k] for k in DATA_FIELDS):
            base, extra = self.data.base, self.data.extra
        else:
            base = self.uploaded if cfg["dataset"] == UPLOAD else toy_dataset(cfg)
            extra = []
        data = _make_data(base, cfg, extra)
        data.rescale(cfg["standardize"])
        model = self._new_model(cfg, data)
        self.config, self.data, self.model = cfg, data, model
        self._new_plane()
        return cfg

    def upload(self, text: str) -> dict:
        """Replace the data with an uploaded CSV; returns the normalised config (dataset 'upload')."""
        data = parse_points_csv(text)
        cfg = normalise_config({"dataset": UPLOAD}, self.config, uploaded_classes=data.n_classes)
        built = _make_data(data, cfg, [])
        built.rescale(cfg["standardize"])
        model = self._new_model(cfg, built)
        self.uploaded, self.config, self.data, self.model = data, cfg, built, model
        self._new_plane()
        return cfg

    def reset(self) -> None:
        """Fresh weights from the seed, the same data (added points kept); history cleared."""
        self.ensure()
        self.data.rescale(self.config["standardize"])
        self.model = self._new_model(self.config, self.data)

    def add_point(self, x, y, label) -> None:
        """Add a training point of class ``label`` at (x, y); the model is kept."""
        self.ensure()
        xv, yv = _as_float(x), _as_float(y)
        if xv is None:
            raise PlaygroundError("x", f"x must be a finite number; got {x!r}")
        if yv is None:
            raise PlaygroundError("y", f"y must be a finite number; got {y!r}")
        K = self.data.n_classes
        k = _as_int(label)
        if k is None or not 0 <= k < K:
            raise PlaygroundError("label", f"label must be an integer from 0 to {K - 1} "
                                           f"(this data has {K} classes); got {label!r}")
        d = self.data
        d.extra.append((xv, yv, k))
        d.X_train = np.vstack([d.X_train, [[xv, yv]]])
        d.y_train = np.append(d.y_train, np.int64(k))
        d.Xs_train = d.scaler.transform(d.X_train)
        x0, x1, y0, y1 = d.extent
        if not (x0 <= xv <= x1 and y0 <= yv <= y1):
            d.extent = plane_extent(np.vstack([d.base.X, np.array(d.extra)[:, :2]]))
            self._new_plane()
        self.model.scores = self._measure()

    def _new_model(self, cfg: dict, data: _Data) -> _Model:
        from neuralab.lab import make_trainer

        trainer = make_trainer(self.settings(cfg), 2, data.n_classes)
        model = _Model(trainer=trainer)
        scores = self._measure(model, data)
        model.scores = scores
        row = {"step": 0, "loss": scores["train_loss"], "train_accuracy": scores["train_accuracy"]}
        if data.has_test:
            row["val_loss"], row["val_accuracy"] = scores["test_loss"], scores["test_accuracy"]
        model.history.rows.append(row)
        return model

    def _new_plane(self) -> None:
        ext = self.data.extent
        self._grid_points = plane_grid(ext, self.grid, self.grid)
        self._hidden_points = plane_grid(ext, self.hidden_grid, self.hidden_grid)

    @staticmethod
    def settings(cfg: dict, steps: int = 0):
        """The :class:`~neuralab.lab.TrainSettings` of a playground config."""
        from neuralab.config import TrainSettings

        return TrainSettings(
            model=cfg["model"], hidden=list(cfg["hidden"]), activation=cfg["activation"],
            lr=cfg["lr"], reg=cfg["reg"], optimizer=cfg["optimizer"], iterations=max(steps, 1),
            batch_size=cfg["batch_size"] or None, seed=cfg["seed"], backend=cfg["backend"],
            dtype="float64", device="cpu", log_every=cfg["steps_per_frame"],
            test_fraction=cfg["test_ratio"] or None, standardize=cfg["standardize"])

    # ---------------------------------------------------------------- training

    def train(self, steps: int | None = None) -> None:
        """Run ``steps`` (default steps_per_frame) updates through :func:`neuralab.train.fit`.

        Raises:
            TrainingDiverged: when the loss became NaN or infinite; the session
                remembers it and refuses to train on until reset or reconfigured.
        """
        from neuralab.train import TrainingDiverged, fit

        self.ensure()
        cfg, d, m = self.config, self.data, self.model
        if m.diverged is not None:
            raise PlaygroundError(None, m.diverged + "; press reset or change the settings")
        n = int(steps or cfg["steps_per_frame"])
        start = time.perf_counter()
        try:
            result = fit(m.trainer, d.Xs_train, d.y_train, iterations=n,
                         batch_size=cfg["batch_size"] or None, seed=cfg["seed"],
                         start_step=m.step, log_every=n, stop_on_signal=False, progress=False,
                         X_val=d.Xs_test if d.has_test else None,
                         y_val=d.y_test if d.has_test else None)
        except TrainingDiverged as exc:
            m.step = exc.step
            # the message names the command line's flags (--lr); here they are the fields (lr)
            m.diverged = str(exc).replace(" --", " ")
            exc.args = (m.diverged,)
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

    def _measure(self, model: _Model | None = None, data: _Data | None = None) -> dict:
        """Loss and accuracy on the training and test sets at the current weights."""
        model, data = model or self.model, data or self.data
        with np.errstate(all="ignore"):
            loss, probs = model.trainer.evaluate(data.Xs_train, data.y_train)
            out = {"train_loss": loss,
                   "train_accuracy": float(np.mean(probs.argmax(axis=1) == data.y_train)),
                   "test_loss": None, "test_accuracy": None}
            if data.has_test:
                loss, probs = model.trainer.evaluate(data.Xs_test, data.y_test)
                out["test_loss"] = loss
                out["test_accuracy"] = float(np.mean(probs.argmax(axis=1) == data.y_test))
        return out

    # ---------------------------------------------------------------- frames

    def frame(self, *, points: bool = False, hidden: bool = False) -> dict:
        """The frame message: scores, new history rows, the boundary image, confusion counts.

        ``points`` adds the data (and ``history_reset`` tells whether the history
        starts anew); ``hidden`` adds the first hidden layer's activation maps
        (models with hidden layers only).
        """
        self.ensure()
        d, m = self.data, self.model
        K = d.n_classes
        rows = m.history.rows[m.sent:]
        history_reset = m.sent == 0
        m.sent = len(m.history.rows)
        out = {
            "type": "frame",
            "step": int(m.step),
            "playing": bool(self.playing),
            **{k: _num(m.scores.get(k)) for k in
               ("train_loss", "test_loss", "train_accuracy", "test_accuracy")},
            "history": {
                "step": [int(r["step"]) for r in rows],
                "train_loss": [_num(r["loss"]) for r in rows],
                "test_loss": [_num(r.get("val_loss")) for r in rows],
                "train_accuracy": [_num(r["train_accuracy"]) for r in rows],
                "test_accuracy": [_num(r.get("val_accuracy")) for r in rows],
            },
            "history_reset": history_reset,
        }
        with np.errstate(all="ignore"):
            probs = m.trainer.predict_proba(d.scaler.transform(self._grid_points))
            out["boundary"] = {"width": self.grid, "height": self.grid, "extent": list(d.extent),
                               "rgba": _b64(boundary_rgba(probs))}
            Xc, yc, split = ((d.Xs_test, d.y_test, "test") if d.has_test
                             else (d.Xs_train, d.y_train, "train"))
            pred = np.nan_to_num(m.trainer.predict_proba(Xc)).argmax(axis=1)
            out["confusion"] = np.bincount(yc * K + pred, minlength=K * K).reshape(K, K).tolist()
            out["confusion_split"] = split
            if hidden and len(self.config["hidden"]) > 0:
                out["hidden"] = self._hidden_maps()
        if points:
            out["points"] = {
                "train": [[float(a), float(b), int(c)] for (a, b), c in zip(d.X_train, d.y_train)],
                "test": [[float(a), float(b), int(c)] for (a, b), c in zip(d.X_test, d.y_test)],
            }
            out["class_names"] = list(d.base.classes)
        if m.diverged is not None:
            out["diverged"] = m.diverged
        return out

    def _hidden_maps(self) -> dict:
        """Each first-layer unit's output ``o_1[:, j]`` on a coarse grid, as grey bytes.

        Each map is scaled to 0..255 between its own min and max (sent along), row 0
        the top of the plane, as the boundary image.
        """
        from neuralab.nn.activations import get_activation

        state = self.model.trainer.state_dict()
        W1, b1 = state["W1"], state["b1"]
        z = self.data.scaler.transform(self._hidden_points) @ W1 + b1
        o = np.array(get_activation(self.config["activation"]).forward(z))
        h = self.hidden_grid
        units = []
        for j in range(min(o.shape[1], MAX_UNITS_SHOWN)):
            v = o[:, j]
            lo, hi = float(np.min(v)), float(np.max(v))
            if hi > lo and math.isfinite(hi - lo):
                gray = np.rint((v - lo) * (255.0 / (hi - lo)))
            else:
                gray = np.zeros_like(v)
            units.append({"unit": j, "width": h, "height": h, "min": _num(lo), "max": _num(hi),
                          "gray": _b64(np.nan_to_num(gray).astype(np.uint8))})
        return {"layer": 1, "units_total": int(o.shape[1]), "activation": self.config["activation"],
                "extent": list(self.data.extent), "units": units}

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
        written by :func:`neuralab.lab.write_run`.
        """
        from neuralab.data.splits import Split
        from neuralab.lab import save_run
        from neuralab.runs import RunResult, model_meta
        from neuralab.metrics import UndefinedMetricWarning, evaluate_predictions
        from neuralab.runs import Predictor, new_run_dir, prepare_run_dir
        from neuralab.train import FitResult

        self.ensure()
        cfg, d, m = self.config, self.data, self.model
        if m.diverged is not None:
            raise PlaygroundError(None, "the weights diverged, so there is nothing to save; "
                                        "press reset or change the settings")
        n_base = len(d.base.y)
        extra = np.array(d.extra, dtype=float).reshape(-1, 3)
        X_all = np.vstack([d.base.X, extra[:, :2]])
        y_all = np.concatenate([d.base.y, extra[:, 2].astype(np.int64)])
        if cfg["dataset"] == UPLOAD:
            name, source = d.base.name, d.base.source
            spec = None
        else:
            opts = toy_options(cfg)
            name = cfg["dataset"]
            source = (f"neuralab.data.load({name!r}, seed={cfg['seed']}, "
                      + ", ".join(f"{k}={v!r}" for k, v in opts.items()) + ")")
            spec = None if d.extra else {"kind": "registry", "name": name, "seed": cfg["seed"],
                                         "options": opts}
        if d.extra:
            source += f", plus {len(d.extra)} training points added in the playground"
        data = Dataset(X=X_all, y=y_all, classes=list(d.base.classes), name=name, source=source,
                       feature_names=list(d.base.feature_names))
        how = f", stratified, seed {cfg['seed']}" if d.has_test else ""
        train_index = np.concatenate([d.train_idx, n_base + np.arange(len(d.extra))]).astype(np.int64)
        splits = {"train": Split(d.X_train, d.y_train, train_index,
                                 f"{name}: {len(d.y_train)} rows{how}")}
        if d.has_test:
            splits["test"] = Split(d.X_test, d.y_test, d.test_idx,
                                   f"{name}: {len(d.y_test)} rows{how}")
        settings = self.settings(cfg, steps=m.step)
        sizes = settings.sizes(2, d.n_classes)
        meta = model_meta(settings, sizes, data, d.scaler)
        predictor = Predictor(m.trainer.predict_proba, d.scaler, data.classes,
                              data.feature_names, meta)
        metrics, probs = {}, {}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UndefinedMetricWarning)
            for key, X_scaled in (("train", d.Xs_train), ("test", d.Xs_test)):
                if key in splits:
                    loss, probs[key] = m.trainer.evaluate(X_scaled, splits[key].y)
                    metrics[key] = evaluate_predictions(splits[key].y, probs[key], loss=loss,
                                                        class_names=data.classes)
        s = m.scores
        fit_result = FitResult(
            history=History(rows=[dict(r) for r in m.history.rows]), steps=m.step,
            seconds=m.seconds, final_loss=s["train_loss"],
            final_train_accuracy=s["train_accuracy"], final_val_loss=s["test_loss"],
            final_val_accuracy=s["test_accuracy"])
        run_dir = prepare_run_dir(new_run_dir(self.runs_dir, "playground"))
        run = RunResult(name="playground", settings=settings, fit=fit_result, metrics=metrics,
                        run_dir=run_dir, trainer=m.trainer, predictor=predictor, splits=splits,
                        probs=probs)
        save_run(run, data, data_spec=spec)
        return run_dir.resolve()

    def close(self) -> None:
        """Drop the data and the model (the tab has gone)."""
        self.closed = True
        self.playing = False
        self.data = self.model = self.uploaded = None
        self._grid_points = self._hidden_points = None
