"""Weight initialisation: the lecture's 0.01 * N(0, 1), He and Glorot.

Every function takes a ``numpy.random.Generator``; biases start at zero.
"""

from __future__ import annotations

import numpy as np

from neuralab import NeuralabError


def lecture(rng: np.random.Generator, d_in: int, d_out: int) -> np.ndarray:
    """``0.01 * N(0, 1)``, as the lecture's ``W = 0.01 * np.random.randn(D, h)``."""
    return 0.01 * rng.standard_normal((d_in, d_out))


def he(rng: np.random.Generator, d_in: int, d_out: int) -> np.ndarray:
    """He (Kaiming) normal: ``N(0, 2 / d_in)``, for ReLU layers."""
    return rng.standard_normal((d_in, d_out)) * np.sqrt(2.0 / d_in)


def glorot(rng: np.random.Generator, d_in: int, d_out: int) -> np.ndarray:
    """Glorot (Xavier) uniform: ``U(-a, a)`` with ``a = sqrt(6 / (d_in + d_out))``."""
    a = np.sqrt(6.0 / (d_in + d_out))
    return rng.uniform(-a, a, size=(d_in, d_out))


INITS = {"lecture": lecture, "he": he, "glorot": glorot}


def get_init(name: str):
    """Look an initialiser up by name.

    >>> get_init("he").__name__
    'he'
    """
    try:
        return INITS[name]
    except (KeyError, TypeError):
        raise NeuralabError(
            f"init must be one of {', '.join(INITS)}; got {name!r}"
        ) from None


def as_generator(seed_or_rng) -> np.random.Generator:
    """Turn a seed (int) or a Generator into a Generator; ``None`` is refused.

    >>> as_generator(0).standard_normal() == as_generator(0).standard_normal()
    True
    """
    if isinstance(seed_or_rng, np.random.Generator):
        return seed_or_rng
    if isinstance(seed_or_rng, (int, np.integer)) and not isinstance(seed_or_rng, bool):
        if seed_or_rng < 0:
            raise NeuralabError(f"seed must be a non-negative integer, got {seed_or_rng}")
        return np.random.default_rng(int(seed_or_rng))
    raise NeuralabError(
        f"seed must be a non-negative integer or a numpy.random.Generator, got {seed_or_rng!r}"
    )
