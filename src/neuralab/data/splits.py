"""Seeded, stratified splits."""

from __future__ import annotations

import numpy as np

from neuralab import NeuralabError


def train_test_split(X: np.ndarray, y: np.ndarray, *, test_fraction: float, seed: int = 0):
    """Split X, y into train and test parts, stratified by class and seeded.

    Returns ``(X_train, X_test, y_train, y_test, train_index, test_index)``.

    >>> X = np.arange(20.0).reshape(10, 2); y = np.array([0, 1] * 5)
    >>> parts = train_test_split(X, y, test_fraction=0.4, seed=0)
    >>> np.bincount(parts[3]).tolist()
    [2, 2]
    """
    if not (isinstance(test_fraction, (int, float)) and 0 < test_fraction < 1):
        raise NeuralabError(f"test_fraction must lie strictly between 0 and 1, got {test_fraction!r}")
    from sklearn.model_selection import train_test_split as sk_split

    index = np.arange(len(y))
    counts = np.bincount(y)
    n_test = int(np.ceil(test_fraction * len(y)))
    stratify = y if counts[counts > 0].min() >= 2 and n_test >= np.count_nonzero(counts) else None
    try:
        tr, te = sk_split(index, test_size=test_fraction, random_state=seed, stratify=stratify)
    except ValueError as exc:
        raise NeuralabError(f"cannot split {len(y)} samples with test_fraction={test_fraction}: {exc}") from None
    tr, te = np.sort(tr), np.sort(te)
    return X[tr], X[te], y[tr], y[te], tr, te
