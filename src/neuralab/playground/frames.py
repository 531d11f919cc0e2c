"""The pictures of a frame, as JSON-ready data: the boundary image, hidden-unit maps, numbers.

Images travel as base64 bytes, row 0 the top of the plane (ymax), as the page
puts them into a canvas.
"""

from __future__ import annotations

import base64
import math

import numpy as np

from neuralab.plots import CLASS_COLOURS

#: At most this many hidden units get an activation map in a frame.
MAX_UNITS_SHOWN = 32
#: A frame carries the hidden-unit maps every this many frames while playing.
HIDDEN_EVERY = 5


def _hex_rgb(colour: str) -> tuple[float, float, float]:
    c = colour.lstrip("#")
    return tuple(int(c[i:i + 2], 16) / 255 for i in (0, 2, 4))


def boundary_rgba(probs: np.ndarray, *, discretize: bool = False) -> np.ndarray:
    """(n, 4) uint8 colours: each point's predicted class colour blended with white.

    The rule of :func:`neuralab.plots.draw_boundary`: the colour of
    ``CLASS_COLOURS[argmax]`` at strength ``0.15 + 0.45 * (p_max - 1/K) / (1 - 1/K)``,
    so an unsure point is nearly white and a certain one a clear tint; alpha 255.
    ``discretize`` draws every point at the full strength 0.6, whatever the confidence.

    >>> boundary_rgba(np.array([[1.0, 0.0], [0.5, 0.5]])).tolist()
    [[121, 173, 210, 255], [221, 235, 244, 255]]
    >>> boundary_rgba(np.array([[1.0, 0.0], [0.5, 0.5]]), discretize=True).tolist()
    [[121, 173, 210, 255], [121, 173, 210, 255]]
    """
    K = probs.shape[1]
    colours = np.array([_hex_rgb(CLASS_COLOURS[k % len(CLASS_COLOURS)]) for k in range(K)])
    probs = np.nan_to_num(probs, nan=1.0 / K)
    pred = probs.argmax(axis=1)
    conf = np.ones(len(probs)) if discretize else probs.max(axis=1)
    strength = 0.15 + 0.45 * (conf - 1.0 / K) / (1 - 1.0 / K)
    rgb = 1 - strength[:, None] * (1 - colours[pred])
    out = np.full((len(probs), 4), 255, dtype=np.uint8)
    out[:, :3] = np.rint(np.clip(rgb, 0, 1) * 255)
    return out


def b64(a: np.ndarray) -> str:
    """The array's bytes as base64 text."""
    return base64.b64encode(np.ascontiguousarray(a).tobytes()).decode("ascii")


def num(v) -> float | None:
    """A float for JSON: NaN and infinities (and None) become None.

    >>> num(0.5), num(float("nan")), num(None)
    (0.5, None, None)
    """
    return float(v) if v is not None and math.isfinite(v) else None


def confusion_counts(y: np.ndarray, probs: np.ndarray, K: int) -> list[list[int]]:
    """K x K counts, rows the true class, columns the predicted (NaN scores count as class 0)."""
    pred = np.nan_to_num(probs).argmax(axis=1)
    return np.bincount(y * K + pred, minlength=K * K).reshape(K, K).tolist()


def unit_maps(o: np.ndarray, side: int) -> list[dict]:
    """Each unit's output (a column of ``o``, on a side x side grid) as grey bytes.

    Each map is scaled to 0..255 between its own min and max (sent along); at
    most :data:`MAX_UNITS_SHOWN` units.
    """
    units = []
    for j in range(min(o.shape[1], MAX_UNITS_SHOWN)):
        v = o[:, j]
        lo, hi = float(np.min(v)), float(np.max(v))
        if hi > lo and math.isfinite(hi - lo):
            gray = np.rint((v - lo) * (255.0 / (hi - lo)))
        else:
            gray = np.zeros_like(v)
        units.append({"unit": j, "width": side, "height": side, "min": num(lo), "max": num(hi),
                      "gray": b64(np.nan_to_num(gray).astype(np.uint8))})
    return units
