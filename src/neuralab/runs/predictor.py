"""A trained model with its preprocessing: raw features in, class probabilities out.

:func:`load_model` reads a run's checkpoint into the NumPy engine. The PyTorch
twin has its own loader in :mod:`neuralab.torch_backend`; :func:`neuralab.lab.load_model`
picks between them, so nothing here imports torch.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from neuralab import NeuralabError
from neuralab.data.preprocess import Standardizer
from neuralab.runs.store import MODEL_JSON, load_checkpoint


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

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Softmax probabilities, (n, K), for raw (unscaled) inputs (n, d)."""
        X = self.check_width(X)
        # in blocks, so that a large data set never has a second full-size copy
        block = 8192
        parts = [self._proba_fn(self.scaler.transform(X[i:i + block]))
                 for i in range(0, max(len(X), 1), block)]  # one (empty) block for no rows
        return np.concatenate([np.asarray(p, dtype=np.float64) for p in parts])

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.predict_proba(X).argmax(axis=1)


def read_model(run_dir: str | Path) -> tuple[dict[str, np.ndarray], dict, Standardizer]:
    """A run's checkpoint, checked: (tensors, model.json with names filled in, scaler).

    Raises NeuralabError (one line) for a missing, corrupt or inconsistent checkpoint.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise NeuralabError(f"run directory {run_dir} does not exist")
    state, meta = load_checkpoint(run_dir)
    sizes = meta["sizes"]
    classes = meta.get("classes") or [str(k) for k in range(sizes[-1])]
    if len(classes) != sizes[-1]:
        raise NeuralabError(f"{run_dir / MODEL_JSON}: {len(classes)} class names for {sizes[-1]} outputs")
    features = meta.get("feature_names") or [f"x{i + 1}" for i in range(sizes[0])]
    meta = {**meta, "classes": list(classes), "feature_names": list(features),
            "activation": meta.get("activation") or "relu", "dtype": meta.get("dtype", "float64")}
    return state, meta, Standardizer.from_meta(meta, sizes[0])


def load_model(run_dir: str | Path) -> Predictor:
    """A run's checkpoint in the NumPy engine, with its preprocessing."""
    from neuralab.nn import MLP

    state, meta, scaler = read_model(run_dir)
    model = MLP(meta["sizes"], activation=meta["activation"], dtype=meta["dtype"])
    model.load_state_dict(state)
    return Predictor(model.predict_proba, scaler, meta["classes"], meta["feature_names"], meta)
