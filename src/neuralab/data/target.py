"""The regression target's standardisation: y -> (y - mean) / scale, fitted on the training split.

A regression network learns the standardised target, so that its output starts
near the right size whatever the target's units; every prediction, metric and
file is turned back into the target's own units with :meth:`TargetScaler.inverse`.
model.json's ``preprocessing`` stores the two numbers as ``target_mean`` and
``target_scale`` (0 and 1 when ``standardize`` is off).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from neuralab import NeuralabError


@dataclass(frozen=True)
class TargetScaler:
    """y -> (y - mean) / scale; the inverse maps the network's output back to the target's units.

    Example:
        >>> t = TargetScaler.fit(np.array([1.0, 3.0]))
        >>> t.mean, t.scale, t.transform(np.array([3.0])).tolist(), t.inverse(np.array([-1.0])).tolist()
        (2.0, 1.0, [1.0], [1.0])
    """

    mean: float = 0.0
    scale: float = 1.0

    @classmethod
    def fit(cls, y: np.ndarray, standardize: bool = True) -> TargetScaler:
        """The training split's mean and standard deviation (a constant target: scale 1)."""
        if not standardize or len(y) == 0:
            return cls()
        y = np.asarray(y, dtype=np.float64)
        mean, std = float(y.mean()), float(y.std())
        if not (math.isfinite(mean) and math.isfinite(std)):
            raise NeuralabError("the regression target's mean or standard deviation overflows; "
                                "rescale the target column")
        return cls(mean, std if std > 1e-12 * max(abs(mean), 1.0) else 1.0)

    @classmethod
    def from_meta(cls, meta: dict, *, where="model.json") -> TargetScaler:
        """model.json's ``preprocessing.target_mean`` and ``target_scale`` (absent: 0 and 1),
        checked: finite numbers, the scale positive; else a one-line error naming ``where``."""
        pre = meta.get("preprocessing")
        pre = pre if isinstance(pre, dict) else {}
        mean, scale = pre.get("target_mean", 0.0), pre.get("target_scale", 1.0)
        for value in (mean, scale):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise NeuralabError(f"{where}: preprocessing target_mean and target_scale must be "
                                    f"finite numbers; got {mean!r} and {scale!r}")
        if scale <= 0:
            raise NeuralabError(f"{where}: preprocessing target_scale must be positive; got {scale!r}")
        return cls(float(mean), float(scale))

    def transform(self, y: np.ndarray) -> np.ndarray:
        return (np.asarray(y, dtype=np.float64) - self.mean) / self.scale

    def inverse(self, u: np.ndarray) -> np.ndarray:
        """The network's outputs (n, 1) or (n,) as predictions (n,) in the target's units."""
        return np.asarray(u, dtype=np.float64).reshape(-1) * self.scale + self.mean

    def to_meta(self) -> dict:
        return {"target_mean": self.mean, "target_scale": self.scale}


TASKS = ("classification", "regression")


def meta_task(meta: dict, sizes: list[int], *, where="model.json") -> str:
    """model.json's ``task`` (absent: classification), checked against the model.

    A regression model has one output, no ``classes`` and a valid target scaling
    (:meth:`TargetScaler.from_meta`); anything else is a one-line error naming ``where``.
    """
    task = meta.get("task", "classification")
    if task not in TASKS:
        raise NeuralabError(f"{where}: task must be one of {', '.join(TASKS)}; got {str(task)[:40]!r}")
    if task == "regression":
        if sizes[-1] != 1 or meta.get("classes") not in (None, []):
            raise NeuralabError(f"{where}: a regression model has one output and no classes; "
                                f"got sizes {sizes[:1]}...{sizes[-1:]} and classes "
                                f"{str(meta.get('classes'))[:40]}")
        TargetScaler.from_meta(meta, where=where)
    return task
