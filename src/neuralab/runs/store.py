"""The run store: a run directory's folders, checkpoints, optimiser state and history.

Every file is written atomically (:mod:`neuralab.fileio`), so an interrupted run
never leaves a half-written file. Checkpoints are safetensors (no code runs on
load) plus JSON. Nothing here imports torch.
"""

from __future__ import annotations

import datetime as _dt
from pathlib import Path

import numpy as np

from neuralab import NeuralabError, __version__
from neuralab.fileio import atomic_write, read_csv, read_json, write_json
from neuralab.runs.state import NewState, holds_no_files, open_run

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
    """Create ``path``, an empty folder (with ``figures/``); refuse one that holds files.

    With ``overwrite`` a folder that holds files is replaced by an empty one, in one
    swap (:class:`~neuralab.runs.state.NewState`): overwrite means a clean folder.
    A folder holding nothing but empty folders counts as empty.
    """
    path = Path(path)
    with NewState(path, mode="overwrite" if overwrite else "new", manifest=False) as state:
        if state.existed and not holds_no_files(state.target):
            if figures:
                (state.folder / "figures").mkdir()
            state.commit()
        else:
            (state.target / "figures" if figures else state.target).mkdir(parents=True,
                                                                          exist_ok=True)
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

    run_dir = open_run(run_dir)
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


HISTORY = "history.csv"


def read_history(path: str | Path) -> list[dict]:
    """The rows of a ``history.csv``: ``step`` an int, every other column a float (NaN if empty).

    A missing file has no rows; a file without a ``step`` column, or with a cell
    that is not a number, is a one-line error naming the file.
    """
    path = Path(path)
    if not path.exists():
        return []
    header, raw_rows = read_csv(path)
    if "step" not in header:
        raise NeuralabError(f"{path} has no step column; its columns are {header}")
    rows = []
    for n, raw in enumerate(raw_rows, start=2):
        if len(raw) != len(header):
            raise NeuralabError(f"{path}, line {n}: {len(raw)} cells for {len(header)} columns")
        try:
            row = {k: (float(v) if v else float("nan")) for k, v in zip(header, raw)}
            step = row["step"]
            if not step.is_integer() or step < 0:
                raise ValueError
        except ValueError:
            raise NeuralabError(f"{path}, line {n}: every cell must be a number and step a "
                                f"non-negative integer; got {raw}") from None
        row["step"] = int(step)
        rows.append(row)
    return rows
