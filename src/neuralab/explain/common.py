"""What the explain modules share: the rows per pass, and the checks of a model and its inputs.

:data:`BLOCK_ROWS` bounds how many rows one forward (and backward) pass holds, so
that a large data set, a fine grid or the path points of integrated gradients
never have all their activations in memory at once. Every module reads it as
``common.BLOCK_ROWS`` when it runs, so that a test can shrink it.
"""

from __future__ import annotations

import numpy as np

from neuralab import NeuralabError
from neuralab.nn.models import MLP

#: Rows per forward/backward pass; integrated gradients, partial dependence, the
#: layer statistics and the hidden-unit maps split their batches into blocks of
#: about this many rows.
BLOCK_ROWS = 8192


def architecture(model: MLP) -> str:
    """The layer widths, ``"2 -> 100 -> 3"``."""
    return " -> ".join(str(s) for s in model.sizes)


def check_model(model) -> MLP:
    """``model`` if it is an engine :class:`~neuralab.nn.MLP`, else a one-line error."""
    if not isinstance(model, MLP):
        raise NeuralabError(
            f"model must be a neuralab.nn.MLP (the NumPy engine's model), got {type(model).__name__}"
        )
    return model


def raw_inputs(model: MLP, X, *, name: str = "X_raw", two_d: str | None = None) -> np.ndarray:
    """X as a float array of shape (n, d_0), n >= 1; ``two_d`` names the caller if 2-D is required."""
    X = np.asarray(X)
    if not np.issubdtype(X.dtype, np.floating):
        X = X.astype(np.float64)
    d = model.n_inputs
    if two_d is not None and d != 2:
        raise NeuralabError(
            f"{two_d} needs a model with 2 inputs (a point in the plane); this one is {architecture(model)}"
        )
    if X.ndim != 2 or X.shape[1] != d or X.shape[0] == 0:
        raise NeuralabError(f"{name} must have shape (n, {d}) with n >= 1, got {X.shape}")
    return X


def check_names(names, n: int, what: str, default: str) -> list[str]:
    """``names`` as n strings (``what`` names them in the error), or ``default0, default1, ...``."""
    if names is None:
        return [f"{default}{k}" for k in range(n)]
    names = [str(v) for v in names]
    if len(names) != n:
        raise NeuralabError(f"{what} must have {n} names, got {len(names)}")
    return names


__all__ = ["BLOCK_ROWS", "architecture", "check_model", "check_names", "raw_inputs"]


def as_inputs(explainer, X: np.ndarray) -> np.ndarray:
    """Raw rows as the explainer's inputs: expanded into the run's feature inputs, if any."""
    from neuralab.data.preprocess import expand_features

    return X if explainer.expansion is None else expand_features(X, explainer.expansion)


def feature_index(feature: str | None, features: list[str], ig) -> int:
    """The partial-dependence feature: ``feature`` by name, or the most attributed one."""
    from neuralab import ArgumentError

    if feature is None:
        return int(np.argmax(np.abs(ig)))
    if feature in features:
        return features.index(feature)
    raise ArgumentError("feature", f"feature {feature!r} is not a feature of this model; "
                        f"features are {features[:10]}{' ...' if len(features) > 10 else ''}")


def explained_input(splits: dict, *, index, point, split, truth) -> tuple[np.ndarray, str]:
    """The input to explain, (1, n_features), and a line saying where it comes from.

    ``point`` (already checked) or row ``index`` (default 0) of ``split`` (default:
    test, else train); ``truth(y)`` words a row's label or value for that line.
    """
    from neuralab import ArgumentError

    if point is not None:
        return point, "the given point"  # checked by parse_point
    key = split or ("test" if "test" in splits else "train")
    if key not in splits:
        raise NeuralabError(f"split must be one of {', '.join(splits)}; got {key!r}")
    rows = splits[key]
    i = 0 if index is None else index
    if not (isinstance(i, (int, np.integer)) and 0 <= i < len(rows.y)):
        raise ArgumentError("index", f"index must lie in 0..{len(rows.y) - 1} for the {key} "
                                     f"split, got {index!r}")
    return (np.asarray(rows.X[i:i + 1], dtype=np.float64),
            f"row {i} of the {key} split (source row {int(rows.index[i])}, {truth(rows.y[i])})")
