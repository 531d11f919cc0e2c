"""2-D toy data sets, each seeded: the lecture's spiral, moons, circles, xor and gaussian blobs.

Every generator returns ``X`` of shape (n_per_class * K, 2) in float64 and ``y`` of
shape (n_per_class * K,) with integer labels 0..K-1, class by class.
"""

from __future__ import annotations

import numpy as np

from neuralab import NeuralabError
from neuralab.nn.init import as_generator


def _check(n_per_class, n_classes=2, noise=0.0, *, max_classes=None):
    if not isinstance(n_per_class, (int, np.integer)) or isinstance(n_per_class, bool) or n_per_class < 1:
        raise NeuralabError(f"n_per_class must be a positive integer, got {n_per_class!r}")
    if not isinstance(n_classes, (int, np.integer)) or isinstance(n_classes, bool) or n_classes < 2:
        raise NeuralabError(f"n_classes must be an integer >= 2, got {n_classes!r}")
    if max_classes is not None and n_classes > max_classes:
        raise NeuralabError(f"n_classes must be at most {max_classes} here, got {n_classes}")
    if not np.isfinite(noise) or noise < 0:
        raise NeuralabError(f"noise must be a finite number >= 0, got {noise!r}")


def spiral(n_per_class: int = 100, n_classes: int = 3, noise: float = 0.2, *, seed=0):
    """The lecture's spiral: K arms of N points each.

    For class j, radius ``linspace(0, 1, N)`` and angle
    ``linspace(4j, 4(j + 1), N) + noise * N(0, 1)``; x = (r sin t, r cos t).

    Example:
        >>> X, y = spiral(seed=0)
        >>> X.shape, y.shape, np.bincount(y).tolist()
        ((300, 2), (300,), [100, 100, 100])
    """
    _check(n_per_class, n_classes, noise)
    rng = as_generator(seed)
    N, K = int(n_per_class), int(n_classes)
    X = np.zeros((N * K, 2))
    y = np.zeros(N * K, dtype=np.int64)
    for j in range(K):
        ix = slice(N * j, N * (j + 1))
        r = np.linspace(0.0, 1, N)
        t = np.linspace(j * 4, (j + 1) * 4, N) + rng.standard_normal(N) * noise
        X[ix] = np.c_[r * np.sin(t), r * np.cos(t)]
        y[ix] = j
    return X, y


def moons(n_per_class: int = 100, noise: float = 0.1, *, seed=0):
    """Two interleaving half circles, with Gaussian noise of std ``noise``."""
    _check(n_per_class, 2, noise)
    rng = as_generator(seed)
    t = np.linspace(0, np.pi, n_per_class)
    upper = np.c_[np.cos(t), np.sin(t)]
    lower = np.c_[1 - np.cos(t), 0.5 - np.sin(t)]
    X = np.vstack([upper, lower]) + noise * rng.standard_normal((2 * n_per_class, 2))
    y = np.repeat(np.arange(2), n_per_class)
    return X, y


def circles(n_per_class: int = 100, noise: float = 0.05, *, factor: float = 0.5, seed=0):
    """A small circle (class 1, radius ``factor``) inside a large one (class 0, radius 1)."""
    _check(n_per_class, 2, noise)
    if not 0 < factor < 1:
        raise NeuralabError(f"factor must lie strictly between 0 and 1, got {factor!r}")
    rng = as_generator(seed)
    t = np.linspace(0, 2 * np.pi, n_per_class, endpoint=False)
    ring = np.c_[np.cos(t), np.sin(t)]
    X = np.vstack([ring, factor * ring]) + noise * rng.standard_normal((2 * n_per_class, 2))
    y = np.repeat(np.arange(2), n_per_class)
    return X, y


def xor(n_per_class: int = 100, noise: float = 0.05, *, seed=0):
    """The four quadrants: class 1 where x1 * x2 < 0, drawn away from the axes."""
    _check(n_per_class, 2, noise)
    rng = as_generator(seed)
    parts = []
    for label, signs in ((0, [(1, 1), (-1, -1)]), (1, [(1, -1), (-1, 1)])):
        n_first = (n_per_class + 1) // 2
        for k, (sx, sy) in enumerate(signs):
            n = n_first if k == 0 else n_per_class - n_first
            pts = rng.uniform(0.1, 1.0, size=(n, 2)) * np.array([sx, sy])
            parts.append(pts)
    X = np.vstack(parts) + noise * rng.standard_normal((2 * n_per_class, 2))
    y = np.repeat(np.arange(2), n_per_class)
    return X, y


def gaussian(n_per_class: int = 100, n_classes: int = 3, noise: float = 0.5, *, seed=0):
    """Gaussian blobs of std ``noise`` around K centres evenly spaced on a circle of radius 2."""
    _check(n_per_class, n_classes, noise)
    rng = as_generator(seed)
    angles = 2 * np.pi * np.arange(n_classes) / n_classes
    centres = 2 * np.c_[np.cos(angles), np.sin(angles)]
    X = np.repeat(centres, n_per_class, axis=0) + noise * rng.standard_normal(
        (n_classes * n_per_class, 2)
    )
    y = np.repeat(np.arange(n_classes), n_per_class)
    return X, y
