"""The run directory: config, history, metrics, predictions, checkpoint and figures.

Every file is written atomically: to a temporary file in the same folder, flushed
to disk, then renamed over the target, so an interrupted run never leaves a
half-written file. Checkpoints are safetensors (no code runs on load) plus JSON.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
import tempfile
from pathlib import Path

import numpy as np

from neuralab import NeuralabError, __version__

CHECKPOINT = "model.safetensors"
MODEL_JSON = "model.json"


def atomic_write(path: str | Path, data: bytes | str) -> Path:
    """Write ``data`` to ``path`` through a temporary file and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = data.encode("utf-8") if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(raw)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _jsonable(value):
    """NaN and infinities become null so that the files are strict JSON."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, Path):
        return str(value)
    return value


def write_json(path: str | Path, obj) -> Path:
    return atomic_write(path, json.dumps(_jsonable(obj), indent=2, allow_nan=False) + "\n")


def read_json(path: str | Path) -> dict:
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise NeuralabError(f"{path} does not exist") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise NeuralabError(f"{path} is not valid JSON: {exc}") from None


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
