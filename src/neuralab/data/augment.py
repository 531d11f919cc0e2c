"""Data augmentation for little data: Gaussian jitter, and small random shifts for images.

Each maker returns ``augment(X_batch, rng) -> X_new`` for :func:`neuralab.train.fit`,
which applies it to every training batch (never to validation or test data).
"""

from __future__ import annotations

import numpy as np

from neuralab import NeuralabError


def jitter(sigma: float):
    """Add ``sigma * N(0, 1)`` to every feature (in the model's input units).

    With standardised inputs (the default of ``neuralab train``) sigma is in
    units of each feature's standard deviation.

    >>> aug = jitter(0.1)
    >>> X = np.zeros((2, 3)); Z = aug(X, np.random.default_rng(0))
    >>> Z.shape, bool(np.all(Z != 0)), bool(np.all(X == 0))
    ((2, 3), True, True)
    """
    if not np.isfinite(sigma) or sigma <= 0:
        raise NeuralabError(f"augmentation noise must be a finite number > 0, got {sigma!r}")

    def augment(X: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return X + (sigma * rng.standard_normal(X.shape)).astype(X.dtype)

    return augment


def shift_images(image_shape: tuple[int, int], *, max_shift: int = 2, mean=None, scale=None):
    """Move each image by up to ``max_shift`` pixels in x and y, filling with background.

    Images are rows of X holding ``image_shape`` pixels. When the inputs are
    standardised (``mean``, ``scale`` per pixel), the shift is done on the raw
    pixels and the result standardised again, so a moved pixel keeps its value.

    >>> aug = shift_images((3, 3), max_shift=1)
    >>> X = np.zeros((1, 9)); X[0, 4] = 1.0
    >>> Z = aug(X, np.random.default_rng(0))
    >>> float(Z.sum()), int(np.argmax(Z))
    (1.0, 7)
    """
    h, w = image_shape
    if max_shift < 1 or max_shift >= min(h, w):
        raise NeuralabError(f"max_shift must lie in 1..{min(h, w) - 1}, got {max_shift!r}")

    def augment(X: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        raw = X if mean is None else X * scale + mean
        imgs = raw.reshape(-1, h, w)
        background = imgs.min(axis=(1, 2), keepdims=True)
        out = np.broadcast_to(background, imgs.shape).copy()
        dy = rng.integers(-max_shift, max_shift + 1, len(imgs))
        dx = rng.integers(-max_shift, max_shift + 1, len(imgs))
        # one slice copy per distinct (dy, dx): at most (2 max_shift + 1)^2 groups
        for sy in range(-max_shift, max_shift + 1):
            for sx in range(-max_shift, max_shift + 1):
                sel = np.flatnonzero((dy == sy) & (dx == sx))
                if sel.size == 0:
                    continue
                src = imgs[sel, max(0, -sy):h - max(0, sy), max(0, -sx):w - max(0, sx)]
                out[sel, max(0, sy):h - max(0, -sy), max(0, sx):w - max(0, -sx)] = src
        out = out.reshape(X.shape)
        return (out if mean is None else (out - mean) / scale).astype(X.dtype)

    return augment


def oversample_indices(y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Indices that repeat the rarer classes (drawn with replacement) up to the largest's count.

    >>> idx = oversample_indices(np.array([0, 0, 0, 1]), np.random.default_rng(0))
    >>> np.bincount(np.array([0, 0, 0, 1])[idx]).tolist()
    [3, 3]
    """
    counts = np.bincount(y)
    target = counts.max()
    parts = []
    for k, c in enumerate(counts):
        members = np.flatnonzero(y == k)
        if c == 0:
            continue
        extra = rng.choice(members, size=target - c, replace=True) if c < target else members[:0]
        parts.append(np.concatenate([members, extra]))
    return np.sort(np.concatenate(parts))
