"""2-D toy data sets, each seeded: the lecture's spiral, moons, circles, xor and gaussian blobs,
and two regression toys (a plane and a sum of Gaussian bumps).

Every classification generator returns ``X`` of shape (n_per_class * K, 2) in float64 and ``y`` of
shape (n_per_class * K,) with integer labels 0..K-1, class by class.
"""

from __future__ import annotations

from dataclasses import dataclass

from neuralab import NeuralabError

# numpy and the engine's seeding load inside the generators: the registry lists the
# toys and their options (`neuralab datasets`) without importing numpy


@dataclass(frozen=True)
class Option:
    """A generator option: its name, integer or float, and its range (ends included unless open).

    The ranges bound what a generator may be asked to make, so that no option
    read from a file or typed by a user can ask for gigabytes: at most
    ``MAX_PER_CLASS`` points per class and ``MAX_CLASSES`` classes, 80 MB of X.
    """

    name: str
    integer: bool
    minimum: float
    maximum: float
    open_ends: bool = False

    def allowed(self) -> str:
        if self.integer:
            return f"an integer from {self.minimum:,} to {self.maximum:,}"
        ends = "()" if self.open_ends else "[]"
        return f"a number in {ends[0]}{self.minimum:g}, {self.maximum:g}{ends[1]}"

    def check(self, value):
        """``value`` when it is of the option's type and within its range; NeuralabError otherwise."""
        import numpy as np

        kinds = (int, np.integer) if self.integer else (int, float, np.integer, np.floating)
        ok = isinstance(value, kinds) and not isinstance(value, (bool, np.bool_))
        if ok and self.open_ends:
            ok = bool(self.minimum < value < self.maximum)
        elif ok:
            ok = bool(self.minimum <= value <= self.maximum)
        if not ok:
            raise NeuralabError(f"{self.name} must be {self.allowed()}, got {value!r}")
        return value


MAX_PER_CLASS = 250_000
MAX_CLASSES = 20
#: Every option of the generators here, with its range; :func:`check_options` checks them.
OPTIONS = {o.name: o for o in (
    Option("n_per_class", True, 1, MAX_PER_CLASS),
    Option("n_samples", True, 10, MAX_PER_CLASS),
    Option("n_classes", True, 2, MAX_CLASSES),
    Option("noise", False, 0.0, 10.0),
    Option("factor", False, 0.0, 1.0, open_ends=True),
)}


def check_options(**values) -> None:
    """Check each generator option given against its declared range (:data:`OPTIONS`).

    >>> check_options(n_per_class=10**9)
    Traceback (most recent call last):
    ...
    neuralab.NeuralabError: n_per_class must be an integer from 1 to 250,000, got 1000000000
    """
    for name, value in values.items():
        OPTIONS[name].check(value)


def spiral(n_per_class: int = 100, n_classes: int = 3, noise: float = 0.2, *, seed=0):
    """The lecture's spiral: K arms of N points each.

    For class j, radius ``linspace(0, 1, N)`` and angle
    ``linspace(4j, 4(j + 1), N) + noise * N(0, 1)``; x = (r sin t, r cos t).

    Example:
        >>> import numpy as np
        >>> X, y = spiral(seed=0)
        >>> X.shape, y.shape, np.bincount(y).tolist()
        ((300, 2), (300,), [100, 100, 100])
    """
    import numpy as np

    from neuralab.nn.init import as_generator

    check_options(n_per_class=n_per_class, n_classes=n_classes, noise=noise)
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
    import numpy as np

    from neuralab.nn.init import as_generator

    check_options(n_per_class=n_per_class, noise=noise)
    rng = as_generator(seed)
    t = np.linspace(0, np.pi, n_per_class)
    upper = np.c_[np.cos(t), np.sin(t)]
    lower = np.c_[1 - np.cos(t), 0.5 - np.sin(t)]
    X = np.vstack([upper, lower]) + noise * rng.standard_normal((2 * n_per_class, 2))
    y = np.repeat(np.arange(2), n_per_class)
    return X, y


def circles(n_per_class: int = 100, noise: float = 0.05, *, factor: float = 0.5, seed=0):
    """A small circle (class 1, radius ``factor``) inside a large one (class 0, radius 1)."""
    import numpy as np

    from neuralab.nn.init import as_generator

    check_options(n_per_class=n_per_class, noise=noise, factor=factor)
    rng = as_generator(seed)
    t = np.linspace(0, 2 * np.pi, n_per_class, endpoint=False)
    ring = np.c_[np.cos(t), np.sin(t)]
    X = np.vstack([ring, factor * ring]) + noise * rng.standard_normal((2 * n_per_class, 2))
    y = np.repeat(np.arange(2), n_per_class)
    return X, y


def xor(n_per_class: int = 100, noise: float = 0.05, *, seed=0):
    """The four quadrants: class 1 where x1 * x2 < 0, drawn away from the axes."""
    import numpy as np

    from neuralab.nn.init import as_generator

    check_options(n_per_class=n_per_class, noise=noise)
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
    import numpy as np

    from neuralab.nn.init import as_generator

    check_options(n_per_class=n_per_class, n_classes=n_classes, noise=noise)
    rng = as_generator(seed)
    angles = 2 * np.pi * np.arange(n_classes) / n_classes
    centres = 2 * np.c_[np.cos(angles), np.sin(angles)]
    X = np.repeat(centres, n_per_class, axis=0) + noise * rng.standard_normal(
        (n_classes * n_per_class, 2)
    )
    y = np.repeat(np.arange(n_classes), n_per_class)
    return X, y


# --------------------------------------------------------------------------- regression toys
# Each makes ``n_samples`` points uniform in [-1, 1]^2 and a numeric target y (float64) with
# Gaussian noise of std ``noise``: X of shape (n, 2), y of shape (n,).

#: The bumps of :func:`gaussians`: centre (x1, x2), height (+1 or -1); their width.
BUMPS = ((-0.6, 0.45, 1.0), (0.0, 0.45, -1.0), (0.6, 0.45, 1.0),
         (-0.6, -0.45, -1.0), (0.0, -0.45, 1.0), (0.6, -0.45, -1.0))
BUMP_WIDTH = 0.2


def plane(n_samples: int = 200, noise: float = 0.1, *, seed=0):
    """A tilted plane: y = (x1 + x2) / 2 + noise * N(0, 1), x uniform in [-1, 1]^2.

    Example:
        >>> import numpy as np
        >>> X, y = plane(10, noise=0.0, seed=0)
        >>> X.shape, y.dtype.name, bool(np.allclose(y, X.sum(axis=1) / 2))
        ((10, 2), 'float64', True)
    """
    from neuralab.nn.init import as_generator

    check_options(n_samples=n_samples, noise=noise)
    rng = as_generator(seed)
    X = rng.uniform(-1.0, 1.0, size=(int(n_samples), 2))
    return X, X.sum(axis=1) / 2 + noise * rng.standard_normal(len(X))


def gaussians(n_samples: int = 200, noise: float = 0.1, *, seed=0):
    """A sum of six Gaussian bumps of alternating sign (:data:`BUMPS`), plus noise * N(0, 1).

    y = sum_k h_k exp(-|x - c_k|^2 / (2 w^2)) with w = :data:`BUMP_WIDTH`.

    Example:
        >>> X, y = gaussians(500, noise=0.0, seed=0)
        >>> bool(y.max() <= 1.01 and y.min() >= -1.01)
        True
    """
    import numpy as np

    from neuralab.nn.init import as_generator

    check_options(n_samples=n_samples, noise=noise)
    rng = as_generator(seed)
    X = rng.uniform(-1.0, 1.0, size=(int(n_samples), 2))
    y = np.zeros(len(X))
    for cx, cy, h in BUMPS:
        y += h * np.exp(-((X[:, 0] - cx) ** 2 + (X[:, 1] - cy) ** 2) / (2 * BUMP_WIDTH ** 2))
    return X, y + noise * rng.standard_normal(len(X))
