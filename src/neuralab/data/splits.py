"""Seeded splits: stratified by class for classification, random for regression."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from neuralab import NeuralabError
from neuralab.data.files import feature_columns


def train_test_split(X: np.ndarray, y: np.ndarray, *, test_fraction: float, seed: int = 0,
                     stratified: bool = True):
    """Split X, y into train and test parts, stratified by class (unless not ``stratified``:
    a regression target) and seeded.

    Returns ``(X_train, X_test, y_train, y_test, train_index, test_index)``.

    >>> X = np.arange(20.0).reshape(10, 2); y = np.array([0, 1] * 5)
    >>> parts = train_test_split(X, y, test_fraction=0.4, seed=0)
    >>> np.bincount(parts[3]).tolist()
    [2, 2]
    """
    if not (isinstance(test_fraction, (int, float)) and 0 < test_fraction < 1):
        raise NeuralabError(f"test_fraction must lie strictly between 0 and 1, got {test_fraction!r}")
    n = len(y)
    n_test = int(np.ceil(test_fraction * n))
    n_classes = 0
    if stratified:
        counts = np.bincount(y)
        n_classes = np.count_nonzero(counts)
        stratified = counts[counts > 0].min() >= 2 and n_test >= n_classes
    if n - n_test < max(1, n_classes if stratified else 1):
        raise NeuralabError(f"cannot split {n} samples with test_fraction={test_fraction}: "
                            f"the training part would have {n - n_test} samples")
    rs = np.random.RandomState(seed)
    tr, te = _stratified_cut(y, n_test, rs) if stratified else _shuffled_cut(n, n_test, rs)
    tr, te = np.sort(tr), np.sort(te)
    return X[tr], X[te], y[tr], y[te], tr, te


# The two cuts are scikit-learn's (StratifiedShuffleSplit and ShuffleSplit, as its
# train_test_split makes them with random_state=seed), written with NumPy's RandomState: the
# same rows for the same seed, without importing scikit-learn (and scipy) into every run.


def _shuffled_cut(n: int, n_test: int, rs: np.random.RandomState):
    order = rs.permutation(n)
    return order[n_test:], order[:n_test]


def _per_class(counts: np.ndarray, n_draws: int, rs: np.random.RandomState) -> np.ndarray:
    """How many of ``n_draws`` rows each class gives: its share floored, and the rows left
    over to the classes with the largest remainders (ties drawn at random)."""
    share = counts / counts.sum() * n_draws
    drawn = np.floor(share)
    need = int(n_draws - drawn.sum())
    left = share - drawn
    for value in np.sort(np.unique(left))[::-1]:
        if need <= 0:
            break
        tied = np.flatnonzero(left == value)
        take = min(len(tied), need)
        drawn[rs.choice(tied, size=take, replace=False)] += 1
        need -= take
    return drawn.astype(int)


def _stratified_cut(y: np.ndarray, n_test: int, rs: np.random.RandomState):
    classes, counts = np.unique(y, return_counts=True)
    n_train = _per_class(counts, len(y) - n_test, rs)
    n_held = _per_class(counts - n_train, n_test, rs)
    train, test = [], []
    for k, c in enumerate(classes):
        rows = np.flatnonzero(y == c)[rs.permutation(counts[k])]
        train.append(rows[:n_train[k]])
        test.append(rows[n_train[k]:n_train[k] + n_held[k]])
    return np.concatenate(train), np.concatenate(test)


def three_way_split(X: np.ndarray, y: np.ndarray, *, val_fraction: float | None,
                    test_fraction: float | None, seed: int = 0,
                    stratified: bool = True) -> dict[str, np.ndarray]:
    """Indices of stratified, seeded train / val / test splits.

    Fractions are of the whole data set; the test part is cut first, then the
    validation part from the rest. Returns ``{"train": idx, "val": idx, "test": idx}``
    with only the splits asked for (train always).

    >>> y = np.repeat([0, 1], 50); X = np.zeros((100, 1))
    >>> parts = three_way_split(X, y, val_fraction=0.2, test_fraction=0.2, seed=0)
    >>> [len(parts[k]) for k in ("train", "val", "test")]
    [60, 20, 20]
    """
    index = np.arange(len(y))
    out: dict[str, np.ndarray] = {}
    total = (val_fraction or 0) + (test_fraction or 0)
    if total >= 1:
        raise NeuralabError(
            f"val_fraction + test_fraction must be below 1, got {val_fraction} + {test_fraction}"
        )
    rest = index
    if test_fraction:
        _, _, _, _, tr, te = train_test_split(X, y, test_fraction=test_fraction, seed=seed,
                                              stratified=stratified)
        out["test"] = te
        rest = tr
    if val_fraction:
        share = val_fraction / (1 - (test_fraction or 0))
        _, _, _, _, tr, va = train_test_split(X[rest], y[rest], test_fraction=share, seed=seed + 1,
                                              stratified=stratified)
        out["val"] = rest[va]
        rest = rest[tr]
    out["train"] = rest
    return out


@dataclass
class Split:
    """One part of the data: raw features, labels, and their rows in the source."""

    X: np.ndarray
    y: np.ndarray
    index: np.ndarray
    source: str


def remap_labels(data, classes: list[str]) -> np.ndarray:
    """``data``'s labels as indices into ``classes`` (by name); unseen labels are an error."""
    index = {c: k for k, c in enumerate(classes)}
    unseen = sorted(set(data.classes) - set(index))
    if unseen:
        raise NeuralabError(f"{data.name} has labels not seen in training: {unseen}; "
                            f"the model knows {classes}")
    mapping = np.array([index[c] for c in data.classes], dtype=np.int64)
    return mapping[data.y]


def make_splits(data, test=None, *, test_fraction: float | None = None,
                val_fraction: float | None = None, seed: int = 0) -> dict[str, Split]:
    """train, and val and test where asked for: stratified and seeded, or a separate test set.

    ``data`` and ``test`` are :class:`~neuralab.data.Dataset` objects; a data set
    with a test part of its own (Fashion-MNIST's 10,000) uses it unless
    ``test_fraction`` is given. The same arguments always cut the same rows.
    """
    if test is not None:
        if test_fraction:
            raise NeuralabError("test_fraction and a separate test set exclude each other")
        X_test = feature_columns(test, data.feature_names, where=f"the test data {test.name}")
        if X_test.shape[1] != data.X.shape[1]:
            raise NeuralabError(f"the test data has {X_test.shape[1]} features, "
                                f"the training data {data.X.shape[1]}")
    elif getattr(data, "test", None) is not None and not test_fraction:
        test = data.test
        X_test = test.X
    regression = getattr(data, "task", "classification") == "regression"
    parts = three_way_split(data.X, data.y, val_fraction=val_fraction,
                            test_fraction=test_fraction, seed=seed, stratified=not regression)
    splits = {}
    for name in ("train", "val", "test"):
        if name in parts:
            idx = parts[name]
            how = "" if len(parts) == 1 else f", {'random' if regression else 'stratified'}, seed {seed}"
            whole = len(idx) == len(data.y)  # no copy of a large data set used whole
            splits[name] = Split(data.X if whole else data.X[idx], data.y if whole else data.y[idx],
                                 idx, f"{data.name}: {len(idx)} rows{how}")
    if test is not None:
        y = test.y if regression else remap_labels(test, data.classes)
        splits["test"] = Split(X_test, y, np.arange(len(y)), test.source)
    if regression:
        return splits
    counts = np.bincount(splits["train"].y, minlength=len(data.classes))
    if np.any(counts == 0):
        missing = [data.classes[k] for k in np.flatnonzero(counts == 0)]
        raise NeuralabError(f"the training split has no examples of class {missing}; "
                            "use a smaller test_fraction or val_fraction")
    return splits


class ImbalanceWarning(UserWarning):
    """The rarest class has under 10 % of the most common class's examples."""


def warn_if_unbalanced(y: np.ndarray, classes: list[str], *, ratio: float = 0.1) -> None:
    """Warn when the rarest class has fewer than ``ratio`` times the most common's examples."""
    counts = np.bincount(y, minlength=len(classes))
    rare, common = int(np.argmin(counts)), int(np.argmax(counts))
    if counts[rare] < ratio * counts[common]:
        warnings.warn(
            f"class {classes[rare]!r} has {counts[rare]} training examples, under "
            f"{ratio:.0%} of the {counts[common]} of class {classes[common]!r}; consider "
            "class_weight balanced or oversample", ImbalanceWarning, stacklevel=3)
