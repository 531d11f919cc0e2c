"""The playground's data: the toys, an uploaded CSV of points, the points added by hand, the plane.

A session's data is a :class:`SessionData`: the base set (a toy from the
registry or an uploaded CSV), the points added by clicking (training points
only), the data set and splits that :func:`neuralab.lab.prepare` takes, and
the extent of the plane the page draws.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass

import numpy as np

from neuralab import NeuralabError
from neuralab.config import TWO_CLASS_TOYS, SettingError
from neuralab.data.dataset import Dataset
from neuralab.data.splits import Split, make_splits
from neuralab.playground.settings import MAX_CLASSES, PlaygroundError

MAX_CSV_ROWS = 20_000
MAX_CSV_CHARS = 4_000_000


def finite_number(value) -> float | None:
    """A finite float from a number or numeric text; None for anything else (bools too).

    >>> finite_number(" 2.5"), finite_number(3), finite_number("inf"), finite_number(True)
    (2.5, 3.0, None, None)
    """
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


def _csv_rows(text: str) -> list[tuple[int, list[str]]]:
    """(line number, stripped cells) of every non-blank row; PlaygroundError ``text`` otherwise."""
    if not isinstance(text, str):
        raise PlaygroundError("text", f"text must be the CSV file's contents as a string; "
                                      f"got {type(text).__name__}")
    if len(text) > MAX_CSV_CHARS:
        raise PlaygroundError("text", f"the CSV has {len(text):,} characters; at most "
                                      f"{MAX_CSV_CHARS:,} are accepted")
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    rows = []
    try:
        for row in reader:
            if any(cell.strip() for cell in row):
                rows.append((reader.line_num, [cell.strip() for cell in row]))
    except csv.Error as exc:
        raise PlaygroundError("text", f"the CSV cannot be read, line {reader.line_num}: {exc}") from None
    if not rows:
        raise PlaygroundError("text", "the CSV is empty; expected rows x1,x2,label")
    return rows


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

    rows = _csv_rows(text)
    names = ["x1", "x2"]
    first = rows[0][1]
    if len(first) == 3 and (finite_number(first[0]) is None or finite_number(first[1]) is None):
        names = [first[0] or "x1", first[1] or "x2"]
        rows = rows[1:]
    if not rows:
        raise PlaygroundError("text", "the CSV has a header but no data rows")
    if len(rows) > MAX_CSV_ROWS:
        raise PlaygroundError("text", f"the CSV has {len(rows):,} data rows; at most "
                                      f"{MAX_CSV_ROWS:,} are accepted")
    X = np.empty((len(rows), 2))
    for i, (line, row) in enumerate(rows):
        if len(row) != 3:
            raise PlaygroundError("text", f"CSV line {line}: {len(row)} cells, expected 3 "
                                          f"(x1,x2,label)")
        for c in range(2):
            v = finite_number(row[c])
            if v is None:
                raise PlaygroundError("text", f"CSV line {line}, column {names[c]}: {row[c]!r} "
                                              "is not a finite number")
            X[i, c] = v
    try:
        y, classes = encode_labels([row[2] for _, row in rows], where="the CSV")
    except NeuralabError as exc:
        raise PlaygroundError("text", str(exc)) from None
    if len(classes) > MAX_CLASSES:
        raise PlaygroundError("text", f"the CSV has {len(classes)} classes; the playground takes "
                                      f"2 to {MAX_CLASSES}")
    return Dataset(X=X, y=y, classes=classes, name="upload.csv",
                   source=f"CSV uploaded to the playground ({len(y)} rows)", feature_names=names)


def toy_options(cfg: dict) -> dict:
    """The generator options of ``cfg``'s toy: n_per_class, n_classes where it takes one, noise.

    >>> toy_options({"dataset": "moons", "n_points": 50, "classes": 2, "noise": 0.1})
    {'n_per_class': 50, 'noise': 0.1}
    """
    opts = {"n_per_class": cfg["n_points"]}
    if cfg["dataset"] not in TWO_CLASS_TOYS:
        opts["n_classes"] = cfg["classes"]
    opts["noise"] = cfg["noise"]
    return opts


def toy_dataset(cfg: dict) -> Dataset:
    """The configured toy data set, through the registry (as the generated scripts load it)."""
    from neuralab.data import load

    opts = toy_options(cfg)
    data = load(cfg["dataset"], seed=cfg["seed"], **opts)
    data.source = (f"neuralab.data.load({cfg['dataset']!r}, seed={cfg['seed']!r}, "
                   + ", ".join(f"{k}={v!r}" for k, v in opts.items()) + ")")
    return data


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


@dataclass
class SessionData:
    """A session's data: the base set, the points added by hand, and what training takes.

    ``dataset`` is the base set with the added points after its rows (what a
    saved run's data is); ``splits`` are the base set's stratified, seeded cut
    (``test_fraction``), the added points joining the training split only.
    """

    base: Dataset
    extra: list[tuple[float, float, int]]
    dataset: Dataset
    splits: dict[str, Split]
    extent: list[float]

    @property
    def n_classes(self) -> int:
        return self.base.n_classes

    @property
    def has_test(self) -> bool:
        return "test" in self.splits


def session_data(base: Dataset, cfg: dict, extra: list, extent: list[float] | None = None
                 ) -> SessionData:
    """The base set cut by ``cfg``'s test_fraction and seed, plus the ``extra`` training points.

    ``extent`` keeps the plane of before unless a point lies outside it.
    A cut that leaves a class without training points is refused (setting ``test_fraction``).
    """
    try:
        splits = make_splits(base, test_fraction=cfg["test_fraction"], seed=cfg["seed"])
    except NeuralabError as exc:
        raise SettingError("test_fraction", f"test_fraction {cfg['test_fraction']}: {exc}",
                           cfg["test_fraction"]) from None
    pts = np.array(extra, dtype=float).reshape(-1, 3)
    X = np.vstack([base.X, pts[:, :2]])
    y = np.concatenate([base.y, pts[:, 2].astype(np.int64)])
    source = base.source + (f", plus {len(extra)} training points added in the playground"
                            if extra else "")
    dataset = Dataset(X=X, y=y, classes=list(base.classes), name=base.name, source=source,
                      feature_names=list(base.feature_names))
    if extra:
        train = splits["train"]
        index = np.concatenate([train.index, len(base.y) + np.arange(len(extra))])
        splits["train"] = Split(X[index], y[index], index,
                                f"{train.source}, plus {len(extra)} points added by hand")
    inside = extent is not None and all(
        extent[0] <= a <= extent[1] and extent[2] <= b <= extent[3] for a, b, _ in extra)
    return SessionData(base=base, extra=list(extra), dataset=dataset, splits=splits,
                       extent=extent if inside else plane_extent(X))
