"""The run directory: config, history, metrics, predictions, checkpoint and figures.

Every file is written atomically: to a temporary file in the same folder, flushed
to disk, then renamed over the target, so an interrupted run never leaves a
half-written file. Checkpoints are safetensors (no code runs on load) plus JSON.
"""

from __future__ import annotations

import datetime as _dt
from pathlib import Path

import numpy as np

from neuralab import NeuralabError, __version__
from neuralab.fileio import atomic_write, jsonable as _jsonable, read_json, write_json  # noqa: F401

CHECKPOINT = "model.safetensors"
MODEL_JSON = "model.json"


def versions() -> dict[str, str]:
    import importlib.metadata as md

    out = {"neuralab": __version__, "numpy": np.__version__}
    try:
        out["torch"] = md.version("torch")
    except md.PackageNotFoundError:
        out["torch"] = None
    return out


def new_run_dir(root: str | Path = "runs", kind: str = "train") -> Path:
    """A fresh folder ``root/YYYYmmdd-HHMMSS-kind`` (with a suffix if it exists)."""
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    base = Path(root) / f"{stamp}-{kind}"
    path, n = base, 1
    while path.exists():
        n += 1
        path = base.with_name(f"{base.name}-{n}")
    return path


def prepare_run_dir(path: str | Path, *, overwrite: bool = False, figures: bool = True) -> Path:
    """Create ``path``; refuse to write over an earlier run unless ``overwrite``."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise NeuralabError(f"--out {path} exists and is not a directory")
    if path.is_dir() and not overwrite and any(path.iterdir()):
        raise NeuralabError(
            f"--out {path} already exists and is not empty; choose a new folder or pass --overwrite"
        )
    try:
        (path / "figures" if figures else path).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise NeuralabError(f"--out {path} cannot be created: {exc.strerror}") from None
    return path


def save_checkpoint(run_dir: str | Path, state: dict[str, np.ndarray], meta: dict) -> None:
    """Write ``model.safetensors`` (W1, b1, ..., WL, bL, lecture layout) and ``model.json``."""
    from safetensors.numpy import save

    tensors = {k: np.ascontiguousarray(v) for k, v in state.items()}
    atomic_write(Path(run_dir) / CHECKPOINT, save(tensors, metadata={"format": "neuralab"}))
    write_json(Path(run_dir) / MODEL_JSON, meta)


def load_checkpoint(run_dir: str | Path) -> tuple[dict[str, np.ndarray], dict]:
    """Read a checkpoint back; a missing, corrupt or inconsistent one is a one-line error."""
    from safetensors import SafetensorError
    from safetensors.numpy import load

    run_dir = Path(run_dir)
    meta = read_json(run_dir / MODEL_JSON)
    path = run_dir / CHECKPOINT
    try:
        state = load(path.read_bytes())
    except FileNotFoundError:
        raise NeuralabError(f"checkpoint {path} does not exist") from None
    except (SafetensorError, OSError, ValueError) as exc:
        raise NeuralabError(f"checkpoint {path} is corrupt or truncated: {exc}") from None
    sizes = meta.get("sizes")
    if not isinstance(sizes, list) or len(sizes) < 2:
        raise NeuralabError(f"{run_dir / MODEL_JSON} has no valid 'sizes' list")
    for i, (d_in, d_out) in enumerate(zip(sizes[:-1], sizes[1:]), start=1):
        for name, shape in ((f"W{i}", (d_in, d_out)), (f"b{i}", (d_out,))):
            if name not in state or state[name].shape != shape:
                got = state[name].shape if name in state else "missing"
                raise NeuralabError(
                    f"checkpoint {path}: tensor {name} must have shape {shape}, got {got}"
                )
    return state, meta


OPTIMIZER_STATE = "optimizer.safetensors"


def save_optimizer_state(run_dir: str | Path, tensors: dict[str, np.ndarray], scalars: dict,
                         *, optimizer: str) -> None:
    """Write the optimiser's slots (velocity, Adam's m and v) so that --resume continues exactly."""
    from safetensors.numpy import save

    meta = {"optimizer": optimizer, **{k: str(v) for k, v in scalars.items()}}
    data = save({k: np.ascontiguousarray(v) for k, v in tensors.items()}, metadata=meta)
    atomic_write(Path(run_dir) / OPTIMIZER_STATE, data)


def load_optimizer_state(run_dir: str | Path) -> tuple[dict[str, np.ndarray], dict]:
    """The optimiser state of a run, or empty dicts when it has none."""
    from safetensors import SafetensorError, safe_open

    path = Path(run_dir) / OPTIMIZER_STATE
    if not path.exists():
        return {}, {}
    try:
        with safe_open(str(path), framework="numpy") as fh:
            meta = fh.metadata() or {}
            tensors = {k: fh.get_tensor(k) for k in fh.keys()}
    except (SafetensorError, OSError, ValueError) as exc:
        raise NeuralabError(f"optimizer state {path} is corrupt or truncated: {exc}") from None
    scalars = {k: v for k, v in meta.items() if k != "optimizer"}
    if "t" in scalars:
        scalars["t"] = int(scalars["t"])
    scalars["optimizer"] = meta.get("optimizer")
    return tensors, scalars


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


def load_model(run_dir: str | Path, *, backend: str = "numpy", device: str = "cpu") -> Predictor:
    """Load a run's checkpoint into either backend, with its preprocessing.

    Raises NeuralabError (one line) for a missing, corrupt or inconsistent checkpoint.
    """
    from neuralab.data.preprocess import Standardizer

    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise NeuralabError(f"run directory {run_dir} does not exist")
    state, meta = load_checkpoint(run_dir)
    sizes = meta["sizes"]
    activation = meta.get("activation") or "relu"
    dtype = meta.get("dtype", "float64")
    classes = meta.get("classes") or [str(k) for k in range(sizes[-1])]
    if len(classes) != sizes[-1]:
        raise NeuralabError(f"{run_dir / MODEL_JSON}: {len(classes)} class names for {sizes[-1]} outputs")
    features = meta.get("feature_names") or [f"x{i + 1}" for i in range(sizes[0])]
    scaler = Standardizer.from_meta(meta, sizes[0])
    if backend == "numpy":
        from neuralab.nn import MLP

        model = MLP(sizes, activation=activation, dtype=dtype)
        model.load_state_dict(state)
        proba = model.predict_proba
    elif backend == "torch":
        import torch

        from neuralab.torch_backend import TorchMLP, load_lecture_state, resolve_device

        tmodel = TorchMLP(sizes, activation=activation).to(
            dtype=torch.float32 if dtype == "float32" else torch.float64)
        load_lecture_state(tmodel, state)
        dev = resolve_device(device)
        tmodel.to(dev)

        @torch.no_grad()
        def proba(X):
            t = torch.as_tensor(np.ascontiguousarray(X), device=dev).to(tmodel.linears[0].weight.dtype)
            return torch.softmax(tmodel(t), dim=1).cpu().numpy()
    else:
        raise NeuralabError(f"backend must be one of numpy, torch; got {backend!r}")
    return Predictor(proba, scaler, classes, features, meta)
