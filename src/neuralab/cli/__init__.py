"""The ``neuralab`` command line: thin commands over the library.

A user error (a bad value, a missing file, malformed data) prints one line that
names what was wrong and exits with status 2, with no traceback unless --debug.
Commands live in :mod:`neuralab.cli.runs` and :mod:`neuralab.cli.lab`; the
app, the options they share and the settings-to-flags mapping in
:mod:`neuralab.cli.app`, the only place that knows flags.
"""

from __future__ import annotations

import os
import sys
import threading

import typer

from neuralab import NeuralabError
# importing the command modules registers their commands, in the order --help lists them
from neuralab.cli import runs as _run_commands  # noqa: F401, I001
from neuralab.cli import export as _export_commands  # noqa: F401, I001
from neuralab.cli import lab as _lab_commands  # noqa: F401, I001
from neuralab.cli import sweep as _sweep_commands  # noqa: F401, I001
from neuralab.cli.app import app, flag_message, flags_named, offending_value

__all__ = ["app", "main", "run"]


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the app, turning user errors into one line and exit status 2."""
    from typer._click.exceptions import ClickException

    import warnings

    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    # a warning is one line on stderr, like an error, without the source line
    warnings.showwarning = lambda message, category, *rest, **kw: typer.echo(
        f"neuralab: warning: {message}", err=True)
    if not args:
        args = ["--help"]
    try:
        rv = app.only(args)(args=args, prog_name="neuralab", standalone_mode=False)
    except typer.Abort:
        typer.echo("neuralab: aborted", err=True)
        return 130
    except ClickException as exc:
        if debug:
            raise
        # the parser's own messages end in a full stop and may already quote the value
        message = " ".join(exc.format_message().split()).rstrip(".")
        value = offending_value(exc, args)
        if value is not None and repr(value) not in message:
            message += f"; got {value!r}"
        typer.echo(f"neuralab: error: {message}", err=True)
        return 2
    except NeuralabError as exc:
        if debug:
            raise
        typer.echo(f"neuralab: error: {flag_message(exc)}", err=True)
        return 2
    except OSError as exc:
        if debug:
            raise
        typer.echo(f"neuralab: error: {file_error(exc)}", err=True)
        return 2
    except MemoryError:
        if debug:
            raise
        typer.echo("neuralab: error: out of memory; use a smaller model, batch or data set",
                   err=True)
        return 2
    except RuntimeError as exc:
        # neuralab.train (numpy and the engine) loads only here: --help needs neither
        from neuralab.train import TrainingDiverged

        if debug or not isinstance(exc, TrainingDiverged):
            raise
        typer.echo(f"neuralab: {flags_named(str(exc), exc.settings)}", err=True)
        return 1
    return rv if isinstance(rv, int) else 0


#: What the program sets, unless already set, before NumPy is imported: NumPy asks the kernel
#: for transparent huge pages for every array of 4 MB or more (``madvise``), and where the
#: kernel is set to compact memory for such requests (``defrag`` = ``madvise``, a common
#: default) the first touch of each 2 MB page can wait for that compaction. A Fashion-MNIST
#: run's 188 MB of pixels, its evaluation blocks and its forked figure writer then spent
#: about 1.7 s of system time instead of 0.8 s, and about 1 s more wall time around
#: ``fit`` (6 alternating pairs of 15-epoch runs); ``fit`` itself ran as fast with either
#: page size. ``NUMPY_MADVISE_HUGEPAGE=1`` in the environment asks for huge pages again.
SMALL_PAGES = {"NUMPY_MADVISE_HUGEPAGE": "0"}
#: The program shows no help of matplotlib's: its artists are defined without the docstrings
#: that matplotlib builds for them at import time (:data:`neuralab.plots.LEAN`, 0.1 s of the
#: import that every command drawing a figure waits for)
LEAN_MATPLOTLIB = {"NEURALAB_LEAN_MATPLOTLIB": "1"}


def run() -> None:
    """The ``neuralab`` program (its console script and ``python -m neuralab``): :func:`main`,
    then out of the process without tearing the interpreter down.

    By then every file is written (atomically, and closed), so the teardown would only
    free memory the kernel frees anyway and unload modules one by one: about 0.2 s after
    a Fashion-MNIST run, for nothing. The output streams and logging are flushed first.
    Where another Python thread still runs, or in a rank of a launched world (whose
    process group has its own shutdown), the process ends the usual way.

    NumPy, imported after this starts (no command imports it at start-up), gives
    its arrays ordinary pages, not transparent huge pages (:data:`SMALL_PAGES`),
    unless the environment already says which; matplotlib is imported lean
    (:data:`LEAN_MATPLOTLIB`).
    """
    for name, value in {**SMALL_PAGES, **LEAN_MATPLOTLIB}.items():
        os.environ.setdefault(name, value)
    code = main()
    if threading.active_count() > 1 or os.environ.get("LOCAL_RANK") is not None:
        sys.exit(code)
    if "logging" in sys.modules:
        sys.modules["logging"].shutdown()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):  # a closed pipe: nothing more can reach it
        pass
    os._exit(code)


def file_error(exc: OSError) -> str:
    """A file-system error in one line, path first: ``runs/a/config.json: No space left on device``."""
    reason = exc.strerror or str(exc) or type(exc).__name__
    if exc.filename is None:
        return reason
    where = str(exc.filename) + ("" if exc.filename2 is None else f" -> {exc.filename2}")
    return f"{where}: {reason}"


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
