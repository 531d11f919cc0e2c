"""``export``: a run's model as an ONNX or TorchScript file, written beside or inside the run.

The file itself is built by :mod:`neuralab.torch_backend.export` (imported only
when a file is written, so that this package never imports torch); here the run
is read (every part of its checkpoint checked), the destination checked, and the
file written atomically.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from neuralab import ArgumentError
from neuralab.fileio import atomic_write, check_writable
from neuralab.runs.predictor import read_model
from neuralab.runs.state import CHECKED, MANIFEST, RunLock, where

#: the formats ``export`` writes, each with its default file name in the run directory
FORMATS = {"onnx": "model.onnx", "torchscript": "model.pt"}


def check_format(fmt: str) -> str:
    """``format`` is one of :data:`FORMATS`; else an ArgumentError naming it."""
    if fmt not in FORMATS:
        raise ArgumentError("format", f"format must be one of {', '.join(FORMATS)}; got {fmt!r}")
    return fmt


def _run_files(run_dir: Path) -> set[Path]:
    """The files train and explain write at the top of a run: export never replaces them."""
    names = {*CHECKED, "report.html", "explain.json", MANIFEST}
    return {where(run_dir / name) for name in names}


def check_out(run_dir: Path, out: Path, *, overwrite: bool) -> None:
    """Refuse a file of the run itself, an existing file (unless ``overwrite``), an unwritable path."""
    if where(out) in _run_files(run_dir):
        raise ArgumentError("out", f"out {out} is one of the run's own files; give another "
                                   "file name")
    check_writable(out, argument="out")
    if os.path.lexists(out) and not overwrite:
        raise ArgumentError("out", f"out {out} exists; choose another file or set overwrite",
                            hint="overwrite")


def export_run(run_dir: str | Path, fmt: str, out: str | Path | None = None, *,
               overwrite: bool = False) -> tuple[Path, dict[str, str]]:
    """Write a run's model as ONNX or TorchScript; returns (the file, its metadata).

    The file takes raw features and gives class probabilities (a regression
    run: its predictions in the target's units), as the run's Predictor does;
    see :mod:`neuralab.torch_backend.export`. ``out`` defaults to
    ``RUN_DIR/model.onnx`` or ``RUN_DIR/model.pt``. An existing file is refused
    unless ``overwrite``; the run's own files always are. While the file is
    written into the run, the run is locked, so that a resume cannot swap the
    folder from under it (a resume then leaves the two default files behind:
    they hold the previous weights).
    """
    check_format(fmt)
    run_dir = Path(run_dir)
    state, meta, scaler = read_model(run_dir)
    out = Path(out) if out is not None else run_dir / FORMATS[fmt]
    check_out(run_dir, out, overwrite=overwrite)
    from neuralab.torch_backend.export import export_metadata, model_bytes

    data = model_bytes(fmt, state, meta, scaler)
    inside = where(out).is_relative_to(where(run_dir))
    with RunLock(run_dir) if inside else contextlib.nullcontext():
        try:
            atomic_write(out, data)
        except OSError as exc:
            raise ArgumentError("out", f"out {out} cannot be written: "
                                       f"{exc.strerror or exc}") from None
    return out, export_metadata(meta)
