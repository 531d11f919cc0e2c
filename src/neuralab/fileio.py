"""Files on disk: atomic writes, and one reader and one writer each for JSON and CSV.

Every file neuralab writes goes through :func:`atomic_write`: the bytes go to a
temporary file in the same folder, are flushed to disk, and the temporary file is
renamed over the target, so an interrupted write never leaves a half-written
file. JSON is strict (NaN and infinities become ``null``); CSV cells are quoted
where they need it, as :mod:`csv` does.

This module sits at the bottom of the package: it imports nothing of neuralab's
but the error type.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from neuralab import NeuralabError


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


def jsonable(value):
    """``value`` as plain JSON types; NaN and infinities become None (strict JSON)."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, Path):
        return str(value)
    return value


def write_json(path: str | Path, obj) -> Path:
    """``obj`` as indented, strict JSON, written atomically."""
    return atomic_write(path, json.dumps(jsonable(obj), indent=2, allow_nan=False) + "\n")


def read_json(path: str | Path):
    """The parsed contents of a JSON file; a missing or malformed file is a one-line error."""
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise NeuralabError(f"{path} does not exist") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise NeuralabError(f"{path} is not valid JSON: {exc}") from None


def format_cell(value) -> str:
    """One CSV cell: '' for None, integers as integers, floats with every digit kept."""
    if value is None:
        return ""
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return repr(float(value))
    return str(value)


def csv_text(header: Sequence[str], rows: Iterable[Sequence]) -> str:
    """A CSV document: the header, then one line per row, cells by :func:`format_cell`."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([format_cell(v) for v in row])
    return buf.getvalue()


def write_csv(path: str | Path, header: Sequence[str], rows: Iterable[Sequence]) -> Path:
    """A CSV file (see :func:`csv_text`), written atomically."""
    return atomic_write(path, csv_text(header, rows))


def read_csv(path: str | Path) -> tuple[list[str], list[list[str]]]:
    """(header, rows) of a CSV file, cells as text; a missing or unreadable file is an error."""
    path = Path(path)
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            reader = csv.reader(fh)
            header = next(reader, None)
            rows = [row for row in reader if row]
    except FileNotFoundError:
        raise NeuralabError(f"{path} does not exist") from None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise NeuralabError(f"{path} cannot be read as CSV: {exc}") from None
    if header is None:
        raise NeuralabError(f"{path} is empty: it needs a header row")
    return header, rows
