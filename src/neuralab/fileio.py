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
import errno
import io
import itertools
import json
import math
import os
import stat
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from neuralab import ArgumentError, NeuralabError


def atomic_write(path: str | Path, data: bytes | str) -> Path:
    """Write ``data`` to ``path`` through a temporary file and a rename.

    The file gets the mode a plain ``open(path, "w")`` would give it: an existing
    file's own mode, else 0o666 less the umask. A file-system error (a read-only
    folder, a full disk, a path under a file) is an :class:`OSError` that names
    ``path``, not the temporary file.
    """
    path = Path(path)
    raw = data.encode("utf-8") if isinstance(data, str) else data
    tmp = None
    try:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except FileExistsError:  # a file stands where a folder of the path should be
            raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR)) from None
        fd, tmp = _create_temp(path)
        with os.fdopen(fd, "wb") as fh:
            fh.write(raw)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError) and exc.errno is not None:
            raise OSError(exc.errno, exc.strerror, str(path)) from exc
        raise
    return path


_temp_counter = itertools.count()


def _create_temp(path: Path) -> tuple[int, Path]:
    """A new, empty file beside ``path``, opened for writing; its mode as a new file's.

    ``os.open`` with mode 0o666 lets the kernel apply the umask (and a folder's
    default ACL) as for any new file; ``tempfile.mkstemp`` would make it 0o600.
    Replacing an existing file keeps that file's mode, as writing into it would.
    """
    try:
        st = os.stat(path)
        keep = stat.S_IMODE(st.st_mode) if stat.S_ISREG(st.st_mode) else None
    except OSError:
        keep = None
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    while True:
        tmp = path.parent / f".{path.name}.{os.getpid()}-{next(_temp_counter)}.tmp"
        try:
            fd = os.open(tmp, flags, 0o666)
        except FileExistsError:  # left by a killed process that had the same id
            continue
        break
    if keep is not None and os.chmod in os.supports_fd:
        try:
            os.chmod(fd, keep)
        except BaseException:
            os.close(fd)
            tmp.unlink(missing_ok=True)
            raise
    return fd, tmp


def check_regular_file(path: str | Path, *, what: str = "") -> None:
    """Refuse a path that exists but is not a regular file (a folder, a FIFO, a device).

    Reading a FIFO or a terminal would wait for a writer forever; a missing path
    is left to the caller, whose own message says it does not exist. ``what``
    starts the message (``"data file "``).
    """
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return
    if stat.S_ISREG(mode):
        return
    kinds = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
             (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
             (stat.S_ISSOCK, "a socket"))
    kind = next((name for test, name in kinds if test(mode)), "not a plain file")
    raise NeuralabError(f"{what}{path} is {kind}; give a regular file")


def check_writable(path: str | Path, *, argument: str = "path") -> None:
    """Refuse a file path that cannot be written, before any work is done for it.

    A folder in its place, a file where one of its folders should be, or a
    nearest existing folder without write permission (a read-only place) is a
    one-line :class:`~neuralab.ArgumentError` naming ``argument`` and the path.
    Missing folders are fine: :func:`atomic_write` makes them.
    """
    path = Path(path)
    if path.is_dir():
        raise ArgumentError(argument, f"{argument} {path} is a folder; give a file name")
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if folder.exists() and not folder.is_dir():
        raise ArgumentError(argument, f"{argument} {path} cannot be written: {folder} is a file, "
                                      "not a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ArgumentError(argument, f"{argument} {path} cannot be written: folder {folder} "
                                      "is read-only or not writable by this user")


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
    check_regular_file(path)
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


#: the text of a float column in :func:`write_columns`: 10 significant digits
FLOAT_CELL = "%.10g"
#: rows formatted at once by :func:`write_columns` (bounds the text held in memory)
BLOCK_ROWS = 20_000


def column_lines(label: str, ints: Sequence[np.ndarray], floats: Sequence[np.ndarray]):
    """CSV lines of one block of rows: ``label``, the integer columns, the float columns
    (:data:`FLOAT_CELL`), formatted by one ``%`` operation per :data:`BLOCK_ROWS` rows,
    several times faster than a cell at a time. ``label`` is a plain word (a split's name):
    no comma, quote or line break."""
    if any(c in label for c in ',"\r\n'):
        raise ValueError(f"a CSV label without quoting needs no comma, quote or line break: {label!r}")
    line = ",".join([label.replace("%", "%%"), *["%d"] * len(ints),
                     *[FLOAT_CELL] * len(floats)]) + "\n"
    n = len(ints[0]) if ints else len(floats[0])
    for start in range(0, n, BLOCK_ROWS):
        rows = slice(start, min(start + BLOCK_ROWS, n))
        cols = [np.asarray(c[rows]).tolist() for c in ints]
        cols += [np.asarray(c[rows], dtype=float).tolist() for c in floats]
        yield (line * (rows.stop - rows.start)) % tuple(itertools.chain.from_iterable(zip(*cols)))


def write_columns(path: str | Path, header: Sequence[str], blocks) -> Path:
    """A numeric CSV file written atomically: the header, then for each ``(label, ints,
    floats)`` of ``blocks`` its rows (:func:`column_lines`)."""
    parts = [",".join(header) + "\n"]
    for label, ints, floats in blocks:
        parts.extend(column_lines(label, ints, floats))
    return atomic_write(path, "".join(parts))


def read_csv(path: str | Path) -> tuple[list[str], list[list[str]]]:
    """(header, rows) of a CSV file, cells as text; a missing or unreadable file is an error."""
    path = Path(path)
    check_regular_file(path)
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
