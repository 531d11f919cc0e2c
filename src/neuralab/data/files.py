"""The user's own data: CSV (header row, a target column) and NPZ (arrays X and y).

Nothing is unpickled: NPZ files are opened with ``allow_pickle=False``.
"""

from __future__ import annotations

import csv
import math
import os
import zipfile
from pathlib import Path

import numpy as np

from neuralab import ArgumentError, NeuralabError
from neuralab.data.dataset import Dataset
from neuralab.fileio import check_regular_file


def encode_labels(raw: list[str] | np.ndarray, *, where: str) -> tuple[np.ndarray, list[str]]:
    """Map labels to 0..K-1, in sorted order (numerically when every label is an integer)."""
    values = [str(v).strip() for v in raw]
    if any(v == "" for v in values):
        row = next(i for i, v in enumerate(values) if v == "")
        raise NeuralabError(f"{where}: label missing in row {row + 1}")
    try:
        classes = sorted(set(values), key=int)
    except ValueError:
        classes = sorted(set(values))
    if len(classes) < 2:
        raise NeuralabError(f"{where}: needs at least two classes, found only {classes}")
    index = {c: k for k, c in enumerate(classes)}
    return np.array([index[v] for v in values], dtype=np.int64), classes


def memory_limit() -> int:
    """The most bytes neuralab plans to hold at once: 80 % of the machine's memory.

    The machine's memory is the physical memory, or a container's (cgroup) limit
    when that is lower; 64 GiB where neither can be read.
    """
    total = None
    try:
        total = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        pass
    for limit_file in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            text = Path(limit_file).read_text().strip()
        except OSError:
            continue
        if text.isdigit() and (total is None or int(text) < total):
            total = int(text)
    return int(0.8 * (total if total and total > 0 else 64 * 2**30))


def gib(n_bytes: float) -> str:
    """A byte count in GiB, for messages: ``gib(3 * 2**30) == '3.0 GiB'``."""
    return f"{n_bytes / 2**30:,.1f} GiB"


def _npy_header(fh) -> tuple[tuple[int, ...], np.dtype]:
    """(shape, dtype) from the header of an .npy stream, reading nothing else."""
    version = np.lib.format.read_magic(fh)
    read = (np.lib.format.read_array_header_1_0 if version == (1, 0)
            else np.lib.format.read_array_header_2_0)
    shape, _, dtype = read(fh)
    return tuple(int(n) for n in shape), np.dtype(dtype)


def check_npz_header(path: Path, *, what: str = "data file") -> None:
    """Refuse an NPZ whose arrays' headers ask for more memory than the file or machine has.

    Each ``.npy`` header declares a shape and a dtype; ``np.load`` allocates that
    much before reading. The bytes declared (and a float64 copy of them) are set
    against the uncompressed size the archive records for the array and against
    :func:`memory_limit`, without reading the data.
    """
    try:
        if not zipfile.is_zipfile(path):
            with open(path, "rb") as fh:
                if fh.read(6) == b"\x93NUMPY":
                    raise NeuralabError(f"{what} {path} holds a single .npy array, "
                                        "not an NPZ archive of X and y")
            return  # not an archive at all: np.load says so
        with zipfile.ZipFile(path) as zf:
            for info in zf.infolist():
                if not info.filename.endswith(".npy"):
                    continue
                with zf.open(info) as fh:
                    shape, dtype = _npy_header(fh)
                    header_size = fh.tell()
                declared = math.prod(shape) * dtype.itemsize
                name = info.filename[:-4]
                described = f"{name} declares shape {shape} of {dtype} ({gib(declared)})"
                if declared > info.file_size - header_size:
                    raise NeuralabError(f"{what} {path}: {described} but holds "
                                        f"{info.file_size - header_size:,} bytes of data; "
                                        "the file is truncated or malformed")
                needed = declared + math.prod(shape) * 8  # and its float64 copy
                if needed > memory_limit():
                    raise NeuralabError(f"{what} {path}: {described}; reading it needs about "
                                        f"{gib(needed)}, more than the {gib(memory_limit())} "
                                        "this machine allows; use fewer rows")
    except NeuralabError:
        raise
    except FileNotFoundError:
        return  # the caller's own message says so
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as exc:
        raise NeuralabError(f"{what} {path} is not a readable NPZ file: {exc}") from None


def _refuse_duplicates(path: Path, header: list[str], used: list[str]) -> None:
    """Refuse a file where a column that is read has a name shared with another column."""
    twice = sorted({h for h in used if header.count(h) > 1})
    if twice:
        raise NeuralabError(f"data file {path} has duplicate column names {twice}; "
                            "every column needs a name of its own")


def _read_csv(path: Path) -> tuple[list[str], list[list[str]]]:
    """Header and non-blank data rows of a CSV file; errors are one line."""
    check_regular_file(path, what="data file ")
    try:
        # utf-8-sig drops the byte-order mark that spreadsheet programs put before the header
        with path.open(newline="", encoding="utf-8-sig") as fh:
            rows = list(csv.reader(fh))
    except FileNotFoundError:
        raise NeuralabError(f"data file {path} does not exist") from None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise NeuralabError(f"data file {path} cannot be read as UTF-8 CSV: {exc}") from None
    rows = [r for r in rows if any(cell.strip() for cell in r)]
    if len(rows) < 2:
        raise NeuralabError(f"data file {path} is empty: it needs a header row and data rows")
    header = [h.strip() for h in rows[0]]
    for r, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise NeuralabError(
                f"data file {path}, line {r}: {len(row)} cells, expected {len(header)}"
            )
    return header, rows[1:]


def _numeric_columns(path: Path, header: list[str], rows: list[list[str]],
                     columns: list[str]) -> np.ndarray:
    """The named columns as a float array; a non-numeric or non-finite cell is an error."""
    idx = [header.index(c) for c in columns]
    X = np.empty((len(rows), len(columns)))
    for r, row in enumerate(rows):
        for c, (name, i) in enumerate(zip(columns, idx)):
            cell = row[i]
            try:
                value = float(cell)
            except ValueError:
                raise NeuralabError(
                    f"data file {path}, line {r + 2}, column {name!r}: {cell!r} is not a number"
                ) from None
            if not math.isfinite(value):
                raise NeuralabError(
                    f"data file {path}, line {r + 2}, column {name!r}: {cell!r} is not finite"
                )
            X[r, c] = value
    return X


def numeric_target(path: Path, rows: list[list[str]], t: int, target: str) -> np.ndarray:
    """A regression target column as float64; a cell that is not a finite number is an error
    naming the file, the row (and its line) and the column."""
    y = np.empty(len(rows))
    for r, row in enumerate(rows):
        cell = row[t].strip()
        try:
            value = float(cell)
        except ValueError:
            value = None
        if value is None or not math.isfinite(value):
            what = "is not a number" if value is None else "is not finite"
            raise NeuralabError(f"data file {path}, row {r + 1} (line {r + 2}), column {target!r}: "
                                f"target {cell!r} {what}; task regression needs a finite number "
                                "in every row")
        y[r] = value
    return y


def load_csv(path: str | Path, *, target: str | None = None,
             task: str = "classification") -> Dataset:
    """Read a CSV with a header row; ``target`` names the label column (default: the last).

    Every other column must hold finite numbers; labels may be strings or integers.
    With ``task="regression"`` the target column must hold a finite number in
    every row (:func:`numeric_target`).
    """
    path = Path(path)
    header, rows = _read_csv(path)
    _refuse_duplicates(path, header, header)
    target = header[-1] if target is None else target
    if target not in header:
        raise ArgumentError("target", f"target {target!r} is not a column of {path}; columns are {header}")
    t = header.index(target)
    features = [h for i, h in enumerate(header) if i != t]
    if not features:
        raise NeuralabError(f"data file {path} has no feature columns besides {target!r}")
    X = _numeric_columns(path, header, rows, features)
    source = f"CSV file {path} (target column {target!r})"
    if task == "regression":
        return Dataset(X=X, y=numeric_target(path, rows, t, target), classes=[], name=path.name,
                       source=source, feature_names=features, task="regression", target=target)
    y, classes = encode_labels([row[t] for row in rows], where=f"data file {path}")
    return Dataset(X=X, y=y, classes=classes, name=path.name, source=source,
                   feature_names=features)


def load_features(path: str | Path, feature_names: list[str]) -> np.ndarray:
    """Inputs for prediction: the named columns of a CSV (others are ignored), or X of an NPZ.

    A CSV must hold every column in ``feature_names``; an NPZ's X must have that
    many columns. Non-numeric or non-finite cells are one-line errors.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".npz":
        check_regular_file(path, what="input file ")
        check_npz_header(path, what="input file")
        try:
            with np.load(path, allow_pickle=False) as npz:
                if "X" not in npz.files:
                    raise NeuralabError(f"input file {path} must hold an array X; found {npz.files}")
                X = npz["X"]
        except FileNotFoundError:
            raise NeuralabError(f"input file {path} does not exist") from None
        except NeuralabError:
            raise
        except (ValueError, OSError, zipfile.BadZipFile, EOFError, TypeError) as exc:
            raise NeuralabError(f"input file {path} is not a readable NPZ file: {exc}") from None
        if X.ndim != 2 or not np.issubdtype(X.dtype, np.number) or np.iscomplexobj(X):
            raise NeuralabError(f"input file {path}: X must be a 2-D numeric array, got {X.dtype} {X.shape}")
        X = X.astype(np.float64)
        bad = np.argwhere(~np.isfinite(X))
        if bad.size:
            r, c = bad[0]
            raise NeuralabError(f"input file {path}: X[{r}, {c}] is {X[r, c]}, not a finite number")
        return X
    if suffix not in (".csv", ".txt"):
        raise NeuralabError(f"input file must end in .csv or .npz, got {str(path)!r}")
    header, rows = _read_csv(path)
    missing = [c for c in feature_names if c not in header]
    if missing:
        raise NeuralabError(
            f"input file {path} lacks the model's feature columns {missing}; it has {header}"
        )
    _refuse_duplicates(path, header, list(feature_names))
    return _numeric_columns(path, header, rows, list(feature_names))


def feature_columns(data: Dataset, feature_names: list[str], *, where: str) -> np.ndarray:
    """``data.X`` with the columns a model was trained on, matched by name, in its order.

    Columns of the model's width are matched by name: another order is put in
    the model's, a missing name is refused. An NPZ names no columns, so its X is
    taken as it is; so is X of another width, which the caller refuses. ``where``
    starts the message (``"the test data t.csv"``).
    """
    names = list(data.feature_names)
    wanted = list(feature_names)
    if names == wanted or len(names) != len(wanted) or str(data.name).lower().endswith(".npz"):
        return data.X
    missing = [c for c in wanted if c not in names]
    if missing:
        raise NeuralabError(f"{where} lacks the feature columns {_few(missing)} of the training "
                            f"data; in their place it has {_few([c for c in names if c not in wanted])}")
    return data.X[:, [names.index(c) for c in wanted]]


def _few(names: list[str], n: int = 8) -> str:
    """A list of names for a message, cut after ``n``: ``['a', 'b', ... 90 more]``."""
    shown = ", ".join(repr(c) for c in names[:n])
    return f"[{shown}, ... {len(names) - n} more]" if len(names) > n else f"[{shown}]"


def load_npz(path: str | Path) -> Dataset:
    """Read an NPZ holding ``X`` (n, d) numeric and ``y`` (n,) labels; never unpickles."""
    path = Path(path)
    check_regular_file(path, what="data file ")
    check_npz_header(path)
    try:
        npz = np.load(path, allow_pickle=False)
        if not isinstance(npz, np.lib.npyio.NpzFile):
            # np.load returns a bare array for .npy content, which has no X and y to read
            raise NeuralabError(
                f"data file {path} holds a single .npy array, not an NPZ archive of X and y"
            )
        with npz:
            missing = [k for k in ("X", "y") if k not in npz.files]
            if missing:
                raise NeuralabError(
                    f"data file {path} must hold arrays X and y; missing {missing}, found {npz.files}"
                )
            X, y_raw = npz["X"], npz["y"]
    except NeuralabError:
        raise
    except FileNotFoundError:
        raise NeuralabError(f"data file {path} does not exist") from None
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as exc:
        raise NeuralabError(f"data file {path} is not a readable NPZ file: {exc}") from None
    if X.ndim != 2 or y_raw.ndim != 1 or X.shape[0] != y_raw.shape[0] or X.shape[0] == 0:
        raise NeuralabError(
            f"data file {path}: X must be (n, d) and y (n,) with n > 0; got X {X.shape}, y {y_raw.shape}"
        )
    if not np.issubdtype(X.dtype, np.number) or np.iscomplexobj(X):
        raise NeuralabError(f"data file {path}: X must hold real numbers, got dtype {X.dtype}")
    if np.iscomplexobj(y_raw):
        raise NeuralabError(f"data file {path}: y must hold class labels, got dtype {y_raw.dtype}")
    if np.issubdtype(y_raw.dtype, np.floating) and not np.all(np.isfinite(y_raw)):
        i = int(np.flatnonzero(~np.isfinite(y_raw))[0])
        raise NeuralabError(f"data file {path}: y[{i}] is {y_raw[i]}, not a class label")
    X = X.astype(np.float64)
    bad = np.argwhere(~np.isfinite(X))
    if bad.size:
        r, c = bad[0]
        raise NeuralabError(f"data file {path}: X[{r}, {c}] is {X[r, c]}, not a finite number")
    y, classes = encode_labels(y_raw, where=f"data file {path}")
    return Dataset(X=X, y=y, classes=classes, name=path.name, source=f"NPZ file {path}")


def load_file(path: str | Path, *, target: str | None = None,
              task: str = "classification") -> Dataset:
    """Load a CSV or NPZ file by its suffix; ``task="regression"``: a numeric target (CSV only)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".npz":
        if target is not None:
            raise ArgumentError("target", f"target applies to CSV files only, got it with {path}")
        if task == "regression":
            raise NeuralabError(f"task regression reads CSV files with a numeric target column; "
                                f"got {path}")
        return load_npz(path)
    if suffix in (".csv", ".txt"):
        return load_csv(path, target=target, task=task)
    raise NeuralabError(f"data file must end in .csv or .npz, got {str(path)!r}")
