"""Feature standardisation, fitted on the training split only and stored with the model."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from neuralab import NeuralabError
from neuralab.config import FEATURES, SettingError
from neuralab.cores import available_cores, in_row_ranges

#: Bytes one block of rows may take when a large array is processed block by block.
BLOCK_BYTES = 64 * 2**20


#: the block that the column moments of a large X take at a time, in bytes
MOMENT_BLOCK_BYTES = 8 * 2**20
#: the most threads that read a large X's column moments (the reads are memory-bound)
MOMENT_THREADS = 4


def block_rows(width: int, itemsize: int = 8, budget: int = BLOCK_BYTES) -> int:
    """Rows per block so that a block of ``width`` columns takes at most ``budget`` bytes.

    Sized by bytes, not rows: 8,192 rows of a 100,000-wide layer would be 6 GiB.

    >>> block_rows(2), block_rows(100_000), block_rows(10**9)
    (4194304, 83, 1)
    """
    return max(1, budget // max(1, int(width) * int(itemsize)))


#: Each feature input as a function of a 2-D data set's raw columns x1 and x2; ``sin`` is
#: NumPy's unless given (the exported torch graph passes ``torch.sin``).
FEATURE_FUNCTIONS = {
    "x1": lambda x1, x2, sin=np.sin: x1,
    "x2": lambda x1, x2, sin=np.sin: x2,
    "x1^2": lambda x1, x2, sin=np.sin: x1 * x1,
    "x2^2": lambda x1, x2, sin=np.sin: x2 * x2,
    "x1*x2": lambda x1, x2, sin=np.sin: x1 * x2,
    "sin(x1)": lambda x1, x2, sin=np.sin: sin(x1),
    "sin(x2)": lambda x1, x2, sin=np.sin: sin(x2),
}
assert tuple(FEATURE_FUNCTIONS) == FEATURES


def expand_features(X: np.ndarray, features) -> np.ndarray:
    """The feature inputs of raw 2-D points: column j is ``features[j]`` of (x1, x2).

    In X's float dtype (float32 stays float32).

    >>> expand_features(np.array([[2.0, 3.0]]), ["x1", "x1^2", "x1*x2"]).tolist()
    [[2.0, 4.0, 6.0]]
    """
    X = np.asarray(X)
    dtype = X.dtype if np.issubdtype(X.dtype, np.floating) else np.float64
    x1, x2 = X[:, 0].astype(dtype, copy=False), X[:, 1].astype(dtype, copy=False)
    out = np.empty((X.shape[0], len(features)), dtype=dtype)
    with np.errstate(over="ignore", invalid="ignore"):  # check_inputs names an overflow
        for j, name in enumerate(features):
            out[:, j] = FEATURE_FUNCTIONS[name](x1, x2)
    return out


def check_feature_data(features, n_columns: int, where: str) -> None:
    """Feature inputs need 2-D data: a SettingError naming ``features`` otherwise."""
    if features is not None and n_columns != 2:
        raise SettingError("features", f"features {','.join(features)} need 2-D data (columns x1 "
                                       f"and x2); {where} has {n_columns} columns", list(features))


def _column_moments(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-column mean and standard deviation in float64, in one pass over blocks of rows.

    ``X.std()`` would hold a float64 copy of all of X (376 MB for Fashion-MNIST); a
    block of rows at a time needs only one block's worth (:func:`block_rows`). Each
    block gives its own mean and sum of squared deviations from it, and blocks merge by
    the pairwise rule of Chan, Golub and LeVeque (as exact as two passes, in one). A
    large X is read in row ranges side by side, one thread per core up to
    :data:`MOMENT_THREADS` (:func:`~neuralab.cores.in_row_ranges`): Fashion-MNIST's
    moments took 0.14 s in two passes, 0.07 s so on two cores. The ranges are fixed by
    the shape and the cores, so the same X gives the same numbers every time.
    """
    # blocks of 8 MiB in float64: as fast as larger ones (the passes are memory-bound) and
    # the peak they add stays small beside the data
    n, block = X.shape[0], block_rows(X.shape[1], budget=MOMENT_BLOCK_BYTES)
    parts = min(available_cores(), MOMENT_THREADS, max(1, n // block))
    merged = (0, 0.0, 0.0)
    for part in in_row_ranges(lambda a, b: _moments_of_rows(X, a, b, block), n, parts):
        merged = _merge_moments(merged, part)
    count, mean, squares = merged
    return mean, np.sqrt(squares / count)


def _moments_of_rows(X: np.ndarray, a: int, b: int, block: int):
    """(count, mean, sum of squared deviations) of the rows a..b, a block at a time."""
    merged = (0, 0.0, 0.0)
    for i in range(a, b, block):
        d = X[i:min(i + block, b)].astype(np.float64)
        mean = d.sum(axis=0) / d.shape[0]
        d -= mean
        merged = _merge_moments(merged, (d.shape[0], mean, np.einsum("ij,ij->j", d, d)))
    return merged


def _merge_moments(left, right):
    """The (count, mean, sum of squared deviations) of two groups of rows together."""
    n_left, mean_left, sq_left = left
    n_right, mean_right, sq_right = right
    if n_left == 0:
        return right
    n = n_left + n_right
    delta = mean_right - mean_left
    return (n, mean_left + delta * (n_right / n),
            sq_left + sq_right + delta * delta * (n_left * n_right / n))


def _numbers(values) -> np.ndarray | None:
    """A list of JSON numbers (not booleans, not text) as a float array, else None."""
    if not (isinstance(values, list)
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)):
        return None
    return np.asarray(values, dtype=float).reshape(-1)


@dataclass
class Standardizer:
    """x -> (x - mean) / scale, per feature; first the feature inputs, when there are some.

    ``fit`` takes the training split's mean and standard deviation; a constant
    feature gets scale 1 so that it maps to 0 instead of dividing by zero.
    :meth:`identity` is the lecture's setting: no scaling at all.
    ``features`` (None: the data's own columns) expands raw 2-D points into the
    feature inputs (:data:`FEATURE_FUNCTIONS`) before the scaling, so that
    :meth:`transform` takes raw points wherever the model is used; ``mean`` and
    ``scale`` are then the feature inputs' own.

    Example:
        >>> s = Standardizer.fit(np.array([[0.0, 5.0], [2.0, 5.0]]))
        >>> s.mean.tolist(), s.scale.tolist()
        ([1.0, 5.0], [1.0, 1.0])
        >>> s.transform(np.array([[3.0, 5.0]])).tolist()
        [[2.0, 0.0]]
    """

    mean: np.ndarray
    scale: np.ndarray
    features: tuple[str, ...] | None = None

    @classmethod
    def fit(cls, X: np.ndarray, features=None) -> Standardizer:
        features = None if features is None else tuple(features)
        mean, std = _column_moments(X if features is None else expand_features(X, features))
        return cls(mean=mean, scale=np.where(std > 1e-12 * np.maximum(np.abs(mean), 1.0), std, 1.0),
                   features=features)

    @classmethod
    def identity(cls, n_features: int, features=None) -> Standardizer:
        n = n_features if features is None else len(features)
        return cls(mean=np.zeros(n), scale=np.ones(n),
                   features=None if features is None else tuple(features))

    @property
    def width(self) -> int:
        """The model's input width: the number of feature inputs, else of the data's columns."""
        return len(self.mean)

    @property
    def n_inputs(self) -> int:
        """The raw columns a point has: 2 with feature inputs, else the model's input width."""
        return self.width if self.features is None else 2

    @property
    def input_names(self) -> list[str] | None:
        """The model's input names when they are feature inputs (None: the data's columns)."""
        return None if self.features is None else list(self.features)

    @classmethod
    def from_meta(cls, meta: dict, n_features: int, *, where="model.json") -> Standardizer:
        """Read ``model.json``'s ``preprocessing`` entry back (absent: no scaling).

        It must be an object whose ``mean`` and ``scale`` (each absent: no
        shift, no scaling) are lists of ``n_features`` numbers, finite, the
        scales positive, and whose ``features`` (absent: none) lists
        ``n_features`` distinct names of :data:`FEATURE_FUNCTIONS`; anything else
        is a one-line error naming ``where``.
        """
        pre = meta.get("preprocessing")
        pre = {} if pre is None else pre
        if not isinstance(pre, dict):
            raise NeuralabError(f"{where}: preprocessing must be an object with mean and scale "
                                f"lists; got {type(pre).__name__}")
        features = pre.get("features")
        if features is not None and not (
                isinstance(features, list) and len(features) == n_features
                and all(isinstance(f, str) and f in FEATURE_FUNCTIONS for f in features)
                and len(set(features)) == len(features)):
            raise NeuralabError(f"{where}: preprocessing features must list {n_features} distinct "
                                f"names from {', '.join(FEATURES)}; got {str(features)[:80]}")
        mean = _numbers(pre.get("mean", [0.0] * n_features))
        scale = _numbers(pre.get("scale", [1.0] * n_features))
        if mean is None or scale is None or mean.shape != (n_features,) or scale.shape != (
                n_features,) or not (np.all(np.isfinite(mean)) and np.all(np.isfinite(scale))
                                     and np.all(scale > 0)):
            raise NeuralabError(f"{where}: preprocessing needs lists of {n_features} finite means "
                                f"and {n_features} positive scales")
        return cls(mean=mean, scale=scale, features=None if features is None else tuple(features))

    @property
    def is_identity(self) -> bool:
        return bool(np.all(self.mean == 0) and np.all(self.scale == 1))

    def transform(self, X: np.ndarray) -> np.ndarray:
        """(X - mean) / scale in X's own dtype (float32 data stays float32: no big copies).

        With feature inputs, X holds raw 2-D points and is expanded first.
        """
        if self.features is not None:
            X = expand_features(X, self.features)
        if self.is_identity:
            return X
        dtype = X.dtype if np.issubdtype(X.dtype, np.floating) else np.float64
        out = np.subtract(X, self.mean.astype(dtype), dtype=dtype)
        out /= self.scale.astype(dtype)
        return out

    def to_meta(self) -> dict:
        out = {"mean": self.mean.tolist(), "scale": self.scale.tolist(),
               "method": "none" if self.is_identity else "standard"}
        if self.features is not None:
            out["features"] = list(self.features)
        return out


class ScaledRows:
    """The standardised rows of a large X, made when they are read instead of all at once.

    ``rows[key]`` is ``scaler.transform(X[key])`` in ``dtype``: the same numbers as
    indexing a standardised copy of X (the transform works element by element),
    without holding that copy beside X. Training reads a batch at a time, evaluation
    a block at a time; ``np.asarray(rows)`` makes the whole copy for a reader that
    needs one.
    """

    def __init__(self, X: np.ndarray, scaler: Standardizer, dtype) -> None:
        self.raw, self.scaler, self.dtype = X, scaler, np.dtype(dtype)
        self.shape = (X.shape[0], scaler.width)
        self.ndim = 2
        # a batch gathered by an index array is a fresh copy in dtype: scaled in place
        # there, with the transform's own two operations in the transform's dtype
        self._in_place = scaler.features is None and X.dtype == self.dtype
        self._mean, self._scale = scaler.mean.astype(self.dtype), scaler.scale.astype(self.dtype)

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, key) -> np.ndarray:
        if self._in_place and isinstance(key, np.ndarray):
            rows = self.raw[key]
            np.subtract(rows, self._mean, out=rows)
            rows /= self._scale
            return rows
        return self.scaler.transform(self.raw[key]).astype(self.dtype, copy=False)

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        out = self[:]
        return out if dtype is None else out.astype(dtype, copy=False)


def scaled_inputs(X: np.ndarray, scaler: Standardizer, dtype, *, lazy_above: float = np.inf):
    """X standardised in ``dtype``: an array, or :class:`ScaledRows` when the copy would take
    more than ``lazy_above`` bytes."""
    if scaler.is_identity and scaler.features is None:
        return X.astype(dtype, copy=False)
    if X.shape[0] * scaler.width * np.dtype(dtype).itemsize > lazy_above:
        return ScaledRows(X, scaler, dtype)
    return scaler.transform(X).astype(dtype, copy=False)


def check_inputs(X: np.ndarray, scaler: Standardizer, feature_names: list[str], *,
                 where: str, dtype="float64") -> None:
    """Refuse inputs that overflow once standardised, naming the column.

    A value such as 1e308 is finite, but its column's mean or standard deviation
    overflows, or its standardised value is too large to be multiplied by a
    weight and summed in ``dtype``: the loss, the probabilities and the figures'
    axes would become NaN. Standardised values up to the square root of
    ``dtype``'s largest number (1.3e154 in float64, 1.8e19 in float32) pass.
    """
    if X.size == 0:
        return
    if scaler.features is not None:
        X, feature_names = expand_features(X, scaler.features), list(scaler.features)
    dtype = np.dtype(dtype if dtype in ("float32", "float64") else "float64")
    limit = float(np.sqrt(np.finfo(dtype).max))
    with np.errstate(over="ignore", invalid="ignore"):
        lo = (X.min(axis=0).astype(np.float64) - scaler.mean) / scaler.scale
        hi = (X.max(axis=0).astype(np.float64) - scaler.mean) / scaler.scale
        reach = np.maximum(np.abs(lo), np.abs(hi))
    moments = np.isfinite(scaler.mean) & np.isfinite(scaler.scale)
    bad = np.flatnonzero(~(reach <= limit) | ~moments)
    if bad.size == 0:
        return
    j = int(bad[0])
    if not moments[j]:
        why = "its mean or standard deviation is not finite in float64"
    elif not np.isfinite(reach[j]):
        why = "its standardised values are not finite"
    else:
        how = "as given" if scaler.is_identity else "standardised"
        why = (f"{how}, its values reach {reach[j]:.3g}, beyond the {limit:.3g} that "
               f"{dtype.name} can carry through the model")
    name = feature_names[j] if j < len(feature_names) else f"x{j + 1}"
    raise NeuralabError(f"{where}: column {name!r} overflows: {why}; rescale or drop that column")
