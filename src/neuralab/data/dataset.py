"""The Dataset: features, labels, class names and where they came from.

It sits below every loader (toys, scikit-learn's sets, IDX and CSV/NPZ files) and
the registry, so that each of them can build one without importing the others.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Dataset:
    """Features, labels and where they came from.

    Attributes:
        X: (n_samples, n_features) float64; float32 for the image sets read from IDX
            files (``fashion_mnist``, ``mnist``: pixels in [0, 1]), which would take
            twice the memory in float64.
        y: (n_samples,) int64 labels in 0..K-1; for regression (n_samples,) float64 numbers.
        classes: the name of each label, ``classes[k]`` for label k; empty for regression.
        name: the registry name or the file name.
        source: a sentence that says where the data came from.
        feature_names: one name per column of X.
        image_shape: (rows, cols) when each row of X is an image flattened in row-major
            order (``X[i].reshape(image_shape)``); None otherwise.
        test: the data set's own test part, where it comes with one (Fashion-MNIST's
            10,000 test images); None otherwise. Its own ``test`` is None.
        task: ``"classification"`` (labels) or ``"regression"`` (a numeric target).
        target: the name of the regression target (a CSV column); None otherwise.
    """

    X: np.ndarray
    y: np.ndarray
    classes: list[str]
    name: str
    source: str
    feature_names: list[str] = field(default_factory=list)
    image_shape: tuple[int, int] | None = None
    test: Dataset | None = None
    task: str = "classification"
    target: str | None = None

    def __post_init__(self) -> None:
        if not self.feature_names:
            self.feature_names = [f"x{i + 1}" for i in range(self.X.shape[1])]

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    @property
    def n_outputs(self) -> int:
        """The network's output width: one per class, or 1 for a regression target."""
        return 1 if self.task == "regression" else self.n_classes

    def describe(self) -> dict:
        out = {
            "name": self.name,
            "source": self.source,
            "n_samples": int(self.X.shape[0]),
            "n_features": int(self.X.shape[1]),
            "classes": list(self.classes),
        }
        if self.task == "regression":
            y = np.asarray(self.y, dtype=np.float64)
            out.update(task="regression", target=self.target or "y", target_mean=float(y.mean()),
                       target_std=float(y.std()), target_range=[float(y.min()), float(y.max())])
        else:
            out["class_counts"] = np.bincount(self.y, minlength=self.n_classes).tolist()
        if self.image_shape is not None:
            out["image_shape"] = list(self.image_shape)
        if self.test is not None:
            out["n_test"] = int(self.test.X.shape[0])
        return out
