"""The run store: a run directory's folders, checkpoints, optimiser state and history.

Every file is written atomically (:mod:`neuralab.fileio`), so an interrupted run
never leaves a half-written file. Checkpoints are safetensors (no code runs on
load) plus JSON. Nothing here imports torch.
"""

from __future__ import annotations

import datetime as _dt
import functools
from itertools import pairwise
from pathlib import Path

import numpy as np

from neuralab import NeuralabError, __version__
from neuralab.fileio import atomic_write, read_csv, read_json, write_json
from neuralab.runs.state import NewState, holds_no_files, open_run

CHECKPOINT = "model.safetensors"
MODEL_JSON = "model.json"


def versions() -> dict[str, str]:
    """The versions config.json records: neuralab's, NumPy's and the installed torch's (None)."""
    return dict(_versions())


@functools.cache
def _versions() -> dict[str, str]:  # looked up once a process: torch's searches every path
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


#: The tensor dtypes a checkpoint may hold: what both backends write.
TENSOR_DTYPES = ("F32", "F64")
#: Bytes of memory per parameter to load a checkpoint: its tensor and the model's copy.
LOAD_BYTES_PER_PARAMETER = 16


def check_model_meta(meta, where: str | Path = MODEL_JSON) -> dict:
    """model.json checked as untrusted input; returns it with the optional entries filled in.

    ``sizes`` is a list of at least two positive integers (hidden widths within
    the ``hidden`` setting's range); ``activation`` and ``dtype`` are among the
    settings' choices (:func:`neuralab.config.check`; absent: relu, float64);
    ``classes`` and ``feature_names`` (absent: "0".., "x1"..) hold one distinct
    string per output and per raw input (two with feature inputs); ``preprocessing`` is what
    :meth:`~neuralab.data.preprocess.Standardizer.from_meta` reads. Anything else
    is a one-line NeuralabError naming ``where``.
    """
    from neuralab.config import SettingError, check
    from neuralab.data.preprocess import Standardizer

    if not isinstance(meta, dict):
        raise NeuralabError(f"{where} must hold a JSON object; got {type(meta).__name__}")
    sizes = meta.get("sizes")
    if not (isinstance(sizes, list) and len(sizes) >= 2
            and all(type(d) is int and d >= 1 for d in sizes)):
        raise NeuralabError(f"{where}: sizes must be a list of at least two positive integers "
                            f"[d_0, ..., K]; got {sizes!r}")
    try:
        check("hidden", sizes[1:-1])
        activation = check("activation", _or_default(meta, "activation", "relu"))
        dtype = check("dtype", _or_default(meta, "dtype", "float64"))
    except SettingError as exc:
        raise NeuralabError(f"{where}: {exc}") from None
    from neuralab.data.target import meta_task

    regression = meta_task(meta, sizes, where=where) == "regression"
    classes = [] if regression else _names(meta, "classes", [str(k) for k in range(sizes[-1])],
                                           "output", where)
    n_inputs = Standardizer.from_meta(meta, sizes[0], where=where).n_inputs
    features = _names(meta, "feature_names", [f"x{i + 1}" for i in range(n_inputs)], "input",
                      where)
    return {**meta, "classes": classes, "feature_names": features, "activation": activation,
            "dtype": dtype}


def _or_default(meta: dict, key: str, default):
    value = meta.get(key)
    return default if value is None else value


def _names(meta: dict, key: str, default: list[str], per: str, where) -> list[str]:
    """``meta[key]``: one distinct string per model {per}, or ``default`` when absent."""
    names = meta.get(key)
    if names is None:
        return default
    if not (isinstance(names, list) and len(names) == len(default)
            and all(isinstance(n, str) for n in names) and len(set(names)) == len(names)):
        raise NeuralabError(f"{where}: {key} must be a list of {len(default)} distinct strings, "
                            f"one per {per}; got {_short(names)}")
    return list(names)


def _short(value, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def check_model_memory(sizes: list[int], where: str | Path = MODEL_JSON) -> None:
    """Refuse a model whose checkpoint needs more memory to load than neuralab plans to hold.

    The limit is the one training and data loading use
    (:func:`neuralab.data.files.memory_limit`).
    """
    from neuralab.data.files import gib, memory_limit

    n = sum(d_in * d_out + d_out for d_in, d_out in pairwise(sizes))
    need, limit = n * LOAD_BYTES_PER_PARAMETER, memory_limit()
    if need > limit:
        raise NeuralabError(f"{where}: a model of sizes {_short(sizes)} has {n:,} parameters and "
                            f"needs about {gib(need)} of memory to load, more than the "
                            f"{gib(limit)} neuralab allows itself on this machine")


def read_tensors(path: Path, what: str, allowed: dict[str, tuple[int, ...]], *,
                 complete: bool) -> tuple[dict[str, np.ndarray], dict]:
    """The tensors and metadata of a safetensors file, each checked before and after it is read.

    Every tensor's name must be a key of ``allowed`` and its shape the one given
    there (all of them with ``complete``), its dtype F32 or F64 (what neuralab
    writes) and its values finite. ``what`` names the file in errors.
    """
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="numpy") as fh:
            metadata = fh.metadata() or {}
            header = {k: (fh.get_slice(k).get_dtype(), tuple(fh.get_slice(k).get_shape()))
                      for k in fh.keys()}
            problem = _header_problem(header, allowed, complete)
            tensors = {} if problem else {k: fh.get_tensor(k) for k in header}
    except FileNotFoundError:
        raise NeuralabError(f"{what} {path} does not exist") from None
    except (SafetensorError, OSError, ValueError) as exc:
        raise NeuralabError(f"{what} {path} is corrupt or truncated: {exc}") from None
    if problem:
        raise NeuralabError(f"{what} {path}: {problem}")
    for name, a in tensors.items():
        if not np.all(np.isfinite(a)):
            raise NeuralabError(f"{what} {path}: tensor {name} holds NaN or infinite values; "
                                "the run diverged or the file is damaged")
    return tensors, metadata


def _header_problem(header: dict, allowed: dict, complete: bool) -> str | None:
    """What is wrong with a safetensors header's names, dtypes and shapes, or None."""
    for name, (dtype, shape) in header.items():
        if name not in allowed:
            return f"unexpected tensor {_short(name)}; expected {', '.join(allowed)}"
        if dtype not in TENSOR_DTYPES:
            return f"tensor {name} has dtype {dtype}; expected one of {', '.join(TENSOR_DTYPES)}"
        if shape != allowed[name]:
            return f"tensor {name} must have shape {allowed[name]}, got {shape}"
    missing = [k for k in allowed if k not in header] if complete else []
    return f"tensor {missing[0]} is missing" if missing else None


def parameter_shapes(sizes: list[int]) -> dict[str, tuple[int, ...]]:
    """``{"W1": (d_0, d_1), "b1": (d_1,), ...}``: the checkpoint's tensors, lecture layout."""
    shapes = {}
    for i, (d_in, d_out) in enumerate(pairwise(sizes), start=1):
        shapes[f"W{i}"], shapes[f"b{i}"] = (d_in, d_out), (d_out,)
    return shapes


def load_checkpoint(run_dir: str | Path) -> tuple[dict[str, np.ndarray], dict]:
    """Read a checkpoint back, every part checked (:func:`check_model_meta`, :func:`read_tensors`).

    Returns the tensors W1, b1, ..., WL, bL and model.json as saved
    (:func:`check_model_meta` fills in its optional entries). A missing, corrupt,
    inconsistent or too large checkpoint, or one holding non-finite weights, is
    a one-line NeuralabError.
    """
    run_dir = open_run(run_dir)
    meta = read_json(run_dir / MODEL_JSON)
    sizes = check_model_meta(meta, run_dir / MODEL_JSON)["sizes"]
    check_model_memory(sizes, run_dir / MODEL_JSON)
    state, _ = read_tensors(run_dir / CHECKPOINT, "checkpoint", parameter_shapes(sizes),
                            complete=True)
    return state, meta


OPTIMIZER_STATE = "optimizer.safetensors"


def save_optimizer_state(run_dir: str | Path, tensors: dict[str, np.ndarray], scalars: dict,
                         *, optimizer: str) -> None:
    """Write the optimiser's slots (velocity, Adam's m and v) so that --resume continues exactly."""
    from safetensors.numpy import save

    meta = {"optimizer": optimizer, **{k: str(v) for k, v in scalars.items()}}
    data = save({k: np.ascontiguousarray(v) for k, v in tensors.items()}, metadata=meta)
    atomic_write(Path(run_dir) / OPTIMIZER_STATE, data)


#: The optimisers' slots, each a tensor per parameter: momentum's velocity, Adam's m and v.
OPTIMIZER_SLOTS = ("velocity", "m", "v")


def load_optimizer_state(run_dir: str | Path,
                         sizes: list[int] | None = None) -> tuple[dict[str, np.ndarray], dict]:
    """The optimiser state of a run, or empty dicts when it has none.

    Tensors are named ``slot.param`` (``velocity.W1``, ``m.b2``) with the
    parameter's shape in a model of ``sizes`` (default: model.json's, checked),
    dtype F32 or F64 and finite values (Adam's v also >= 0); the step count
    ``t`` is a non-negative integer. Anything else is a one-line error.
    """
    path = Path(run_dir) / OPTIMIZER_STATE
    if not path.exists():
        return {}, {}
    if sizes is None:
        where = Path(run_dir) / MODEL_JSON
        sizes = check_model_meta(read_json(where), where)["sizes"]
    allowed = {f"{slot}.{name}": shape for slot in OPTIMIZER_SLOTS
               for name, shape in parameter_shapes(sizes).items()}
    tensors, meta = read_tensors(path, "optimizer state", allowed, complete=False)
    negative = next((k for k, a in tensors.items() if k.startswith("v.") and np.any(a < 0)), None)
    if negative:
        raise NeuralabError(f"optimizer state {path}: tensor {negative} holds negative values; "
                            "Adam's second moments are squares")
    scalars = {k: v for k, v in meta.items() if k != "optimizer"}
    if "t" in scalars:
        t = scalars["t"].strip()
        if not (t.isascii() and t.isdigit() and len(t) <= 18):
            raise NeuralabError(f"optimizer state {path}: step count t must be a non-negative "
                                f"integer; got {_short(scalars['t'])}")
        scalars["t"] = int(t)
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
