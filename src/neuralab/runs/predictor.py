"""A trained model with its preprocessing: raw features in, class probabilities out.

:func:`load_model` reads a run's checkpoint into the NumPy engine. The PyTorch
twin has its own loader in :mod:`neuralab.torch_backend`; :func:`neuralab.lab.load_model`
picks between them, so nothing here imports torch.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from neuralab import ArgumentError, NeuralabError
from neuralab.data.preprocess import Standardizer, block_rows
from neuralab.runs.store import MODEL_JSON, check_model_meta, load_checkpoint


def parse_point(point: str | Sequence[float], feature_names: Sequence[str]) -> np.ndarray:
    """One raw input, shape (1, d): text such as ``"0.3,-0.5"`` or a sequence of numbers.

    It must hold one finite number per feature; otherwise an ArgumentError on
    ``point`` says what the model takes. ``predict --point`` and ``explain
    --point`` both check their point here.

    >>> parse_point("0.3,-0.5", ["x1", "x2"]).tolist()
    [[0.3, -0.5]]
    >>> parse_point("nan,1", ["x1", "x2"])
    Traceback (most recent call last):
    ...
    neuralab.ArgumentError: point needs 2 finite numbers (x1, x2), got 'nan,1'
    """
    shown = point if isinstance(point, str) else list(point)
    try:
        values = [float(v) for v in (point.split(",") if isinstance(point, str) else point)]
    except (TypeError, ValueError):
        raise ArgumentError("point", f"point must be comma-separated numbers, got {shown!r}") from None
    if len(values) != len(feature_names) or not all(math.isfinite(v) for v in values):
        names = ", ".join(feature_names[:10]) + (", ..." if len(feature_names) > 10 else "")
        raise ArgumentError("point", f"point needs {len(feature_names)} finite numbers ({names}), "
                                     f"got {shown!r}")
    return np.asarray(values, dtype=np.float64).reshape(1, -1)


class Predictor:
    """A trained model with its preprocessing: raw features in, class probabilities out.

    Attributes:
        classes: the class names, ``classes[k]`` for output k.
        feature_names: the input columns, in order.
        meta: the model.json contents.
    """

    def __init__(self, proba_fn, scaler, classes: list[str], feature_names: list[str],
                 meta: dict) -> None:
        self._proba_fn = proba_fn
        self.scaler = scaler
        self.classes = list(classes)
        self.feature_names = list(feature_names)
        self.meta = meta

    @property
    def n_features(self) -> int:
        return len(self.feature_names)

    def check_width(self, X: np.ndarray, where: str = "input") -> np.ndarray:
        X = np.asarray(X)
        if not np.issubdtype(X.dtype, np.floating):
            X = X.astype(np.float64)  # float32 stays float32: no copy of a large image set
        if X.ndim != 2 or X.shape[1] != self.n_features:
            got = X.shape[1] if X.ndim == 2 else f"shape {X.shape}"
            raise NeuralabError(
                f"{where} has {got} features, but the model takes {self.n_features} "
                f"({', '.join(self.feature_names)})"
            )
        return X

    def block_rows(self) -> int:
        """Rows per prediction block: the widest layer's activations stay within 64 MiB."""
        sizes = self.meta.get("sizes") or [self.n_features]
        return block_rows(max(sizes))

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Softmax probabilities, (n, K), for raw (unscaled) inputs (n, d).

        Rows go through the model in blocks sized by bytes (:meth:`block_rows`), so
        that a large data set never has a second full-size copy and a wide layer
        never a huge activation. Probabilities that are not finite (inputs so large
        that the logits overflow) are a one-line error, never printed as nan.
        """
        X = self.check_width(X)
        block = self.block_rows()
        with np.errstate(over="ignore", invalid="ignore"):  # overflow is refused just below
            parts = [np.asarray(self._proba_fn(self.scaler.transform(X[i:i + block])),
                                dtype=np.float64)
                     for i in range(0, max(len(X), 1), block)]  # one (empty) block for no rows
        probs = np.concatenate(parts)
        bad = np.flatnonzero(~np.all(np.isfinite(probs), axis=1))
        if bad.size:
            raise NeuralabError(f"the model's probabilities for input row {int(bad[0])} are not "
                                "finite: its values are too large for the model's weights")
        return probs

    def predict(self, X: np.ndarray) -> np.ndarray:
        """The predicted class index, or for a regression model the predicted value."""
        if self.task == "regression":
            return self.predict_values(X)
        return self.predict_proba(X).argmax(axis=1)

    @property
    def task(self) -> str:
        """``"classification"`` or ``"regression"`` (model.json's ``task``)."""
        return self.meta.get("task", "classification")

    def predict_values(self, X: np.ndarray) -> np.ndarray:
        """A regression model's predictions (n,) in the target's units, for raw inputs (n, d).

        The model's one output is the standardised prediction (what :meth:`predict_proba`
        returns for a regression model, (n, 1)); model.json's target_mean and
        target_scale turn it back: ``y = u * target_scale + target_mean``.
        """
        from neuralab.data.target import TargetScaler

        if self.task != "regression":
            raise NeuralabError("predict_values needs a regression model; this one classifies")
        return TargetScaler.from_meta(self.meta).inverse(self.predict_proba(X))


def read_model(run_dir: str | Path) -> tuple[dict[str, np.ndarray], dict, Standardizer]:
    """A run's checkpoint, checked: (tensors, model.json with names filled in, scaler).

    Every loader of a checkpoint goes through here (the engine's and the
    PyTorch twin's predictors, the explainer). Raises NeuralabError (one line)
    for a missing, corrupt, inconsistent or non-finite checkpoint
    (:func:`~neuralab.runs.store.load_checkpoint`).
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise NeuralabError(f"run directory {run_dir} does not exist")
    state, meta = load_checkpoint(run_dir)
    meta = check_model_meta(meta, run_dir / MODEL_JSON)  # checked there; here filled in
    return state, meta, Standardizer.from_meta(meta, meta["sizes"][0])


def load_model(run_dir: str | Path) -> Predictor:
    """A run's checkpoint in the NumPy engine, with its preprocessing."""
    from neuralab.nn import MLP
    from neuralab.threads import side_by_side

    state, meta, scaler = read_model(run_dir)
    model = MLP(meta["sizes"], activation=meta["activation"], dtype=meta["dtype"])
    model.load_state_dict(state)
    if meta.get("task") == "regression":  # the one linear output, no softmax
        return Predictor(lambda X: model.forward(np.asarray(X)).copy(), scaler, [],
                         meta["feature_names"], meta)
    return Predictor(lambda X: model.predict_proba(X, side_by_side(model, len(X))), scaler,
                     meta["classes"], meta["feature_names"], meta)
