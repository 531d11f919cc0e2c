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
from neuralab.config import REGRESSION_TOYS, TWO_CLASS_TOYS, SettingError
from neuralab.data.dataset import Dataset
from neuralab.data.splits import Split, make_splits
from neuralab.playground.settings import MAX_CLASSES, PlaygroundError

MAX_CSV_ROWS = 20_000
MAX_CSV_CHARS = 4_000_000
#: Coordinates (uploaded or added by hand) lie within +-this: the plane, its grid and the
#: scaling stay finite, and every number a frame or a saved run carries is JSON's.
MAX_COORDINATE = 1e6
#: The longest class or column name an upload may use (names travel in every frame).
MAX_NAME_CHARS = 200
#: The most points a session takes added by hand (each is in every frame and script).
MAX_ADDED_POINTS = 1000


def finite_number(value) -> float | None:
    """A finite float from a number or numeric text; None for anything else (bools too).

    >>> finite_number(" 2.5"), finite_number(3), finite_number("inf"), finite_number(True)
    (2.5, 3.0, None, None)
    >>> finite_number(10 ** 400) is None  # an integer beyond float's range
    True
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            return None
    if not isinstance(value, (int, float, np.integer, np.floating)):
        return None
    try:
        value = float(value)
    except OverflowError:
        return None
    return value if math.isfinite(value) else None


def coordinate(value) -> float | None:
    """A point's coordinate: a finite number within +-:data:`MAX_COORDINATE`, else None.

    >>> coordinate("0.5"), coordinate(-1e6), coordinate(1.7e308), coordinate(float("nan"))
    (0.5, -1000000.0, None, None)
    """
    v = finite_number(value)
    return v if v is not None and abs(v) <= MAX_COORDINATE else None


def brief(value, limit: int = 60) -> str:
    """``repr(value)``, cut to ``limit`` characters for a message (a value may be huge).

    >>> brief(1.7e308), brief("x" * 100, 10)
    ('1.7e+308', "'xxxxxx...")
    """
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _is_number(cell: str) -> bool:
    """Whether a CSV cell reads as a number (nan and inf included: they are no names)."""
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _csv_rows(text: str) -> list[tuple[int, list[str]]]:
    """(line number, stripped cells) of every non-blank row; PlaygroundError ``text`` otherwise."""
    if not isinstance(text, str):
        raise PlaygroundError("text", f"text must be the CSV file's contents as a string; "
                                      f"got {type(text).__name__}")
    if len(text) > MAX_CSV_CHARS:
        raise PlaygroundError("text", f"the CSV has {len(text):,} characters; at most "
                                      f"{MAX_CSV_CHARS:,} are accepted")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise PlaygroundError("text", f"the CSV is not Unicode text: character {exc.start:,} is "
                                      f"{text[exc.start]!r}, half of a surrogate pair") from None
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


def _header(first: list[str]) -> list[str] | None:
    """The column names of a first row that is a header, or None when it is a data row.

    A header names all three columns; neither coordinate cell may read as a number
    (``nan`` and ``inf`` do): a row that mixes names and numbers, repeats a name or
    has a name over :data:`MAX_NAME_CHARS` is refused.
    """
    numeric = [_is_number(c) for c in first[:2]]
    if len(first) != 3 or all(numeric):
        return None
    if any(numeric):
        raise PlaygroundError("text", f"CSV line 1 ({','.join(first)[:80]}) mixes names and "
                                      "numbers; the first row is either a header of names "
                                      "(x1,x2,label) or a data row of two numbers and a label")
    names = [first[0] or "x1", first[1] or "x2", first[2] or "label"]
    long = next((n for n in names if len(n) > MAX_NAME_CHARS), None)
    if long is not None:
        raise PlaygroundError("text", f"CSV header: the column name {brief(long)} has "
                                      f"{len(long):,} characters; at most {MAX_NAME_CHARS}")
    if len(set(names)) < 3:
        twice = next(n for n in names if names.count(n) > 1)
        raise PlaygroundError("text", f"CSV header ({','.join(names)}) names the column "
                                      f"{twice!r} twice; each column needs its own name")
    return names


def parse_points_csv(text: str) -> Dataset:
    """A Dataset from CSV text of 2-D points ``x1,x2,label`` (header row optional).

    Blank lines are skipped; a first row whose coordinate cells are both names
    (not numbers) is the header: it names the features, each column differently.
    Coordinates are finite numbers within +-:data:`MAX_COORDINATE`. Labels may be
    strings (at most :data:`MAX_NAME_CHARS` characters) or integers and are
    numbered as :func:`neuralab.data.files.encode_labels` numbers them (sorted,
    numerically when all are integers). 2 to 6 classes, at most 20,000 rows;
    anything else is a one-line :class:`PlaygroundError` (field ``text``).

    >>> d = parse_points_csv("x,y,label\\n0,0,b\\n1,1,a\\n")
    >>> d.X.tolist(), d.y.tolist(), d.classes
    ([[0.0, 0.0], [1.0, 1.0]], [1, 0], ['a', 'b'])
    """
    from neuralab.data.files import encode_labels

    rows = _csv_rows(text)
    names = _header(rows[0][1])
    if names is None:
        names = ["x1", "x2", "label"]
    else:
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
        if len(row[2]) > MAX_NAME_CHARS:
            raise PlaygroundError("text", f"CSV line {line}: the label {brief(row[2])} has "
                                          f"{len(row[2]):,} characters; at most {MAX_NAME_CHARS}")
        for c in range(2):
            v = coordinate(row[c])
            if v is None:
                raise PlaygroundError("text", f"CSV line {line}, column {names[c]}: "
                                              f"{brief(row[c])} is not a finite number within "
                                              f"+-{MAX_COORDINATE:g}")
            X[i, c] = v
    try:
        y, classes = encode_labels([row[2] for _, row in rows], where="the CSV")
    except NeuralabError as exc:
        raise PlaygroundError("text", str(exc)) from None
    if len(classes) > MAX_CLASSES:
        raise PlaygroundError("text", f"the CSV has {len(classes)} classes; the playground takes "
                                      f"2 to {MAX_CLASSES}")
    return Dataset(X=X, y=y, classes=classes, name="upload.csv",
                   source=f"CSV uploaded to the playground ({len(y)} rows)",
                   feature_names=names[:2])


def toy_options(cfg: dict) -> dict:
    """The generator options of ``cfg``'s toy: n_per_class, n_classes where it takes one, noise
    (a regression toy: n_samples and noise).

    >>> toy_options({"dataset": "moons", "n_points": 50, "classes": 2, "noise": 0.1})
    {'n_per_class': 50, 'noise': 0.1}
    >>> toy_options({"dataset": "plane", "n_points": 50, "classes": 2, "noise": 0.1})
    {'n_samples': 50, 'noise': 0.1}
    """
    if cfg["dataset"] in REGRESSION_TOYS:
        return {"n_samples": cfg["n_points"], "noise": cfg["noise"]}
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
    y = np.concatenate([base.y, pts[:, 2].astype(base.y.dtype)])
    source = base.source + (f", plus {len(extra)} training points added in the playground"
                            if extra else "")
    dataset = Dataset(X=X, y=y, classes=list(base.classes), name=base.name, source=source,
                      feature_names=list(base.feature_names), task=base.task, target=base.target)
    if extra:
        train = splits["train"]
        index = np.concatenate([train.index, len(base.y) + np.arange(len(extra))])
        splits["train"] = Split(X[index], y[index], index,
                                f"{train.source}, plus {len(extra)} points added by hand")
    inside = extent is not None and all(
        extent[0] <= a <= extent[1] and extent[2] <= b <= extent[3] for a, b, _ in extra)
    return SessionData(base=base, extra=list(extra), dataset=dataset, splits=splits,
                       extent=extent if inside else plane_extent(X))
