"""A run directory moves from one consistent state to the next as a whole.

Writing a run never touches the directory being replaced. The next state is
built in a hidden sibling folder, ``.NAME.new-TOKEN/NAME/`` (the inner folder
has the run's own name, so that a report built there names it rightly); its
``manifest.json`` is written last and lists every file with its size; then the
new folder is swapped in with one atomic exchange of the two names (Linux
``renameat2(RENAME_EXCHANGE)``; elsewhere two renames) and the old state is
deleted. A process killed at any instant therefore leaves either the previous
state or the new one; a half-done swap is finished (when the manifest is
complete) or discarded (when it is not) by the next process that opens the run.

While a process writes a run it holds a lock: the file ``.NAME.lock`` beside the
run, locked with ``flock`` (released by the kernel when its holder dies) and
holding the holder's process id. A second writer is refused with a one-line
error; a lock file whose holder is gone is stale and is taken over.

This module sits below the rest of :mod:`neuralab.runs`; it imports only
:mod:`neuralab.fileio` of neuralab's.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import functools
import os
import shutil
import signal
import tempfile
import threading
import time
from pathlib import Path

from neuralab import ArgumentError, NeuralabError
from neuralab.fileio import read_json, write_json

MANIFEST = "manifest.json"
#: the files a reload reads, checked against the manifest's sizes when a run is opened;
#: report.html is left out since ``explain`` rewrites it
CHECKED = ("config.json", "model.json", "model.safetensors", "optimizer.safetensors",
           "history.csv", "metrics.json", "predictions.csv")
#: what a resumed run does not carry over: it describes the previous weights
#: (explain.json, the figures, the report, export's default files) or it is the
#: state's own bookkeeping
NOT_CARRIED = frozenset({"figures", "explain.json", "report.html", "model.onnx", "model.pt",
                         MANIFEST})
NEW = ".new-"
PREVIOUS = ".previous"
MODES = ("new", "overwrite", "update", "amend")


class RunLockedError(NeuralabError):
    """Another live process holds the lock on a run directory: ``owner`` (its process id,
    None where the lock file does not say), while it writes ``shown``."""

    def __init__(self, message: str, *, owner: int | None = None, shown: str = "") -> None:
        super().__init__(message)
        self.owner, self.shown = owner, shown

    @property
    def who(self) -> str:
        """The holder as a message names it: "process 1234", or "another process"."""
        return _holder(self.owner)


def _holder(owner: int | None) -> str:
    return f"process {owner}" if owner is not None else "another process"


class WriteInterrupted(KeyboardInterrupt):
    """A signal stopped a run before its new state was swapped in; the previous state stays."""


# --------------------------------------------------------------------------- locks


def where(target: str | Path) -> Path:
    """The real place of a run directory: absolute, symbolic links resolved, so that the
    new state is built on the same file system as the folder it replaces."""
    return Path(os.path.realpath(os.path.abspath(target)))


def lock_path(target: str | Path) -> Path:
    """The lock file of a run directory: ``.NAME.lock`` beside it."""
    target = where(target)
    return target.parent / f".{target.name}.lock"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _stale(owner: int | None) -> bool:
    """Whether a lock file naming ``owner`` was left by a process that has ended (not one
    that has yet to write its id, and never this very process)."""
    return owner is not None and owner != os.getpid() and not _pid_alive(owner)


def _read_owner(path: Path) -> int | None:
    try:
        text = path.read_text(encoding="utf-8").split()
        return int(text[0]) if text else None
    except (OSError, ValueError, UnicodeDecodeError):
        return None


class RunLock:
    """The lock on a run directory while a process writes it (a context manager).

    ``acquire`` raises :class:`RunLockedError` when a live process holds it; a
    lock file left by a process that died is stale and is taken over
    (``took_over`` then holds that process's id).
    """

    def __init__(self, target: str | Path, *, shown: str | Path | None = None) -> None:
        self.path = lock_path(target)
        self.shown = str(shown if shown is not None else target)
        self.fd: int | None = None
        self.took_over: int | None = None

    def _refuse(self, owner: int | None) -> RunLockedError:
        return RunLockedError(
            f"run directory {self.shown} is being written by {_holder(owner)} (lock {self.path}); "
            "wait until it finishes", owner=owner, shown=self.shown)

    def acquire(self) -> RunLock:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not on POSIX
            return self._acquire_by_pid()
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                raise self._refuse(_read_owner(self.path)) from None
            except OSError as exc:  # a file system without flock
                os.close(fd)
                if exc.errno in (errno.ENOLCK, errno.EOPNOTSUPP, errno.EINVAL):
                    return self._acquire_by_pid()
                raise
            try:  # the holder before us may have removed the file after we opened it
                same = os.path.samestat(os.fstat(fd), os.stat(self.path))
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        self.took_over = _read_owner(self.path)
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self.fd = fd
        return self

    def _acquire_by_pid(self) -> RunLock:
        """Where flock is missing: create the file exclusively; a dead owner's file is stale."""
        for _ in range(3):
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                owner = _read_owner(self.path)
                if _stale(owner):
                    self.took_over = owner
                    self.path.unlink(missing_ok=True)
                    continue
                raise self._refuse(owner) from None
            os.write(fd, f"{os.getpid()}\n".encode())
            self.fd = fd
            return self
        raise self._refuse(_read_owner(self.path))

    def release(self) -> None:
        if self.fd is None:
            return
        with contextlib.suppress(OSError):
            self.path.unlink()
        os.close(self.fd)
        self.fd = None

    def free(self) -> bool:
        """Whether the lock looks free now, read without taking it (taking it, even for an
        instant, could refuse a process that wants it meanwhile): no lock file, since its
        holder removes it as it lets go, or one left by a process that has ended. Only
        :meth:`acquire` tells for sure."""
        return not self.path.exists() or _stale(_read_owner(self.path))

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


# --------------------------------------------------------------------------- signals


@contextlib.contextmanager
def deferred_signals():
    """Hold SIGINT and SIGTERM back while the block runs, then deliver them once each.

    Outside the main thread signals cannot be caught; there the block just runs.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    got: list[int] = []
    old = {s: signal.signal(s, lambda signum, frame: got.append(signum))
           for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, handler in old.items():
            signal.signal(s, handler if handler is not None else signal.SIG_DFL)
        for signum in dict.fromkeys(got):
            signal.raise_signal(signum)


# --------------------------------------------------------------------------- swapping

_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


@functools.cache
def _renameat2():
    try:
        fn = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    return fn


def _exchange(a: Path, b: Path) -> bool:
    """Swap the names ``a`` and ``b`` in one step; False where the system cannot."""
    fn = _renameat2()
    if fn is None:
        return False
    if fn(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOTSUP):
        return False
    raise OSError(err, os.strerror(err), str(b))


#: the swap uses RENAME_EXCHANGE where it can; tests set this False to check the fallback
USE_EXCHANGE = True


def _swap_in(new: Path, target: Path, wrapper: Path) -> None:
    """Put ``new`` at ``target``; an existing ``target`` ends up inside ``wrapper``."""
    if not os.path.lexists(target):
        os.rename(new, target)
    elif not (USE_EXCHANGE and _exchange(new, target)):
        os.rename(target, wrapper / PREVIOUS)
        os.rename(new, target)


def _remove(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink(missing_ok=True)
    elif path.exists():
        shutil.rmtree(path, ignore_errors=True)


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


# --------------------------------------------------------------------------- manifests


def _files(folder: Path) -> dict[str, int]:
    out = {}
    for root, dirs, names in os.walk(folder):
        dirs.sort()
        for name in sorted(names):
            path = Path(root) / name
            rel = path.relative_to(folder).as_posix()
            if rel != MANIFEST and path.is_file():
                out[rel] = path.stat().st_size
    return out


def write_manifest(folder: Path, token: str, mode: str) -> None:
    """``manifest.json``, written last: every file of the state with its size."""
    write_json(folder / MANIFEST, {
        "format": "neuralab-run-state", "format_version": 1, "id": token, "mode": mode,
        "written": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "files": _files(folder)})


def _manifest(folder: Path) -> dict | None:
    try:
        manifest = read_json(folder / MANIFEST)
    except NeuralabError:
        return None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), dict):
        return None
    return manifest


def _state_id(folder: Path) -> str | None:
    manifest = _manifest(folder) if folder.is_dir() else None
    return None if manifest is None else manifest.get("id")


def _size_problem(folder: Path, rel: str, size) -> str | None:
    path = folder / rel
    try:
        got = path.stat().st_size
    except OSError:
        return f"{rel} is missing"
    return None if got == size else f"{rel} has {got} bytes, not the {size} written"


def _complete(folder: Path, token: str) -> bool:
    """Whether ``folder`` holds the whole state ``token``: its manifest and every file listed."""
    manifest = _manifest(folder) if folder.is_dir() else None
    if manifest is None or manifest.get("id") != token:
        return False
    return all(_size_problem(folder, rel, size) is None for rel, size in manifest["files"].items())


# --------------------------------------------------------------------------- recovery


def _wrappers(target: Path) -> list[Path]:
    """The ``.NAME.new-*`` folders beside ``target``: states being written or left half-done."""
    prefix = f".{target.name}{NEW}"
    try:
        names = os.listdir(target.parent)
    except OSError:
        return []
    return [target.parent / n for n in sorted(names)
            if n.startswith(prefix) and (target.parent / n).is_dir()]


def _token(wrapper: Path, target: Path) -> str:
    return wrapper.name[len(f".{target.name}{NEW}"):]


def recover(target: Path) -> None:
    """Finish or discard what a killed writer left beside ``target`` (call with its lock held).

    A new state whose manifest is complete is swapped in (it was about to be); an
    incomplete one is deleted; the old state left over by a finished swap is deleted.
    """
    for wrapper in _wrappers(target):
        token = _token(wrapper, target)
        inner = wrapper / target.name
        if _state_id(target) != token:
            if _complete(inner, token):
                _swap_in(inner, target, wrapper)
            elif not os.path.lexists(target) and (wrapper / PREVIOUS).exists():
                os.rename(wrapper / PREVIOUS, target)
        _remove(wrapper)


def open_run(run_dir: str | Path) -> Path:
    """A run directory ready to read: a half-done swap finished, the manifest checked.

    A run being written by another process is read as it stands (its previous
    state until the swap). Raises NeuralabError, naming the run, when the run
    exists only as an unfinished new state, or when a file the manifest lists is
    missing or has another size than the one written.
    """
    run_dir = Path(run_dir)
    target = where(run_dir)
    if target.name and _wrappers(target):
        with contextlib.suppress(RunLockedError, OSError), RunLock(target):
            recover(target)
        if not os.path.lexists(target) and _wrappers(target):
            raise NeuralabError(
                f"run directory {run_dir} is incomplete: the process writing it stopped or is "
                f"still writing (see {_wrappers(target)[0].name} beside it); wait for it, or "
                "train again")
    manifest = _manifest(target) if (target / MANIFEST).is_file() else None
    if manifest is not None:
        for rel in CHECKED:
            if rel in manifest["files"]:
                problem = _size_problem(target, rel, manifest["files"][rel])
                if problem is not None:
                    raise NeuralabError(f"run directory {run_dir} is incomplete or was changed "
                                        f"after it was written: {problem} ({MANIFEST})")
    return run_dir


# --------------------------------------------------------------------------- new states


def holds_no_files(path: Path) -> bool:
    """True for a folder with no files in it at any depth (empty folders do not count)."""
    return all(not names for _, _, names in os.walk(path))


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


class NewState:
    """The next state of a run directory, built beside it and swapped in whole.

    A context manager. On entering it makes the missing parent folders, takes the
    lock, finishes or discards what a killed writer left, and checks ``target``
    for ``mode``: ``new`` refuses a folder that holds files, ``overwrite`` will
    replace whatever is there (the new state is a clean folder), ``update``
    needs an existing folder and carries over what later commands wrote into it
    (evaluations/, inspections/, ...; not explain.json or the figures, which
    describe the previous weights), ``amend`` carries over everything (the
    weights stay; a command such as explain adds or replaces files). Write the files into :attr:`folder`, then
    call :meth:`commit`. Leaving the block without a commit (an error, a second
    Ctrl-C) deletes the new folder, the parents it made and the lock: the previous
    state stays as it was. An OSError on the way (a full disk, an unwritable
    folder) becomes a one-line NeuralabError naming the run.
    """

    def __init__(self, target: str | Path, *, mode: str = "new", manifest: bool = True) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}; got {mode!r}")
        self.shown = Path(target)
        self.target = where(target)
        self.mode = mode
        self.manifest = manifest
        self.lock = RunLock(self.target, shown=self.shown)
        self.existed = os.path.lexists(self.target)
        self.committed = False
        self._wrapper: Path | None = None
        self._made: list[Path] = []

    # -- entering: parents, lock, recovery, the target's check

    def _make_parents(self) -> None:
        missing, parent = [], self.target.parent
        while not parent.exists():
            missing.append(parent)
            parent = parent.parent
        for folder in reversed(missing):
            folder.mkdir()
            self._made.append(folder)

    def _check_target(self) -> None:
        t, shown = self.target, self.shown
        if os.path.lexists(t) and not t.is_dir():
            raise ArgumentError("out", f"out {shown} exists and is not a directory")
        if self.mode == "new" and t.is_dir() and not holds_no_files(t):
            raise ArgumentError(
                "out", f"out {shown} already exists and is not empty; choose a new folder or "
                       "set overwrite", hint="overwrite")
        if self.mode in ("update", "amend") and not t.is_dir():
            raise NeuralabError(f"{shown} is not a run directory (it does not exist)")

    def __enter__(self) -> NewState:
        if not self.target.name:
            raise ArgumentError("out", f"out {self.shown} cannot be a run directory")
        try:
            self._make_parents()
            if os.path.lexists(self.target) and not self.target.is_dir():
                self._check_target()
            self.lock.acquire()
            recover(self.target)
            self.existed = os.path.lexists(self.target)
            self._check_target()
        except BaseException as exc:
            self._abandon()
            if not isinstance(exc, OSError):
                raise
            reason = f"cannot be written: {exc.strerror or exc}{self._where(exc)}"
            if self.mode in ("update", "amend"):
                raise NeuralabError(f"run directory {self.shown} {reason}") from None
            raise ArgumentError("out", f"out {self.shown} {reason}") from None
        return self

    def _where(self, exc: OSError) -> str:
        """`` (PATH)`` for the file an OSError names, as the user knows it, or ''."""
        name = getattr(exc, "filename", None)
        if not name:
            return ""
        path = Path(os.path.abspath(name))
        if self._wrapper is not None and path.is_relative_to(self._wrapper / self.target.name):
            path = self.shown / path.relative_to(self._wrapper / self.target.name)
        return f" ({path})"

    # -- the new folder

    @property
    def folder(self) -> Path:
        """The folder to write the new state into (made on first use)."""
        if self._wrapper is None:
            self._wrapper = Path(tempfile.mkdtemp(prefix=f".{self.target.name}{NEW}",
                                                  dir=self.target.parent))
            inner = self._wrapper / self.target.name
            inner.mkdir()
            if self.target.is_dir():
                shutil.copymode(self.target, inner)  # a shared run stays shared
            if self.mode in ("update", "amend"):
                self._carry(inner)
        return self._wrapper / self.target.name

    def _carry(self, inner: Path) -> None:
        """Hard-link (else copy) what later commands wrote into the run: it stays on resume."""
        skip = shutil.ignore_patterns(".*")
        for entry in sorted(self.target.iterdir()):
            dropped = NOT_CARRIED if self.mode == "update" else {MANIFEST}
            if entry.name in dropped or entry.name.startswith("."):
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.copytree(entry, inner / entry.name, symlinks=True, ignore=skip,
                                copy_function=_link_or_copy)
            else:
                _link_or_copy(str(entry), str(inner / entry.name))

    def commit(self) -> Path:
        """Write the manifest, swap the new state in, delete the old one; returns the target."""
        inner = self.folder
        token = _token(self._wrapper, self.target)
        if self.manifest:
            write_manifest(inner, token, self.mode)
        with deferred_signals():
            _swap_in(inner, self.target, self._wrapper)
            self.committed = True
        _fsync_dir(self.target.parent)
        _remove(self._wrapper)
        self._wrapper = None
        return self.target

    # -- leaving

    def _abandon(self) -> None:
        if self._wrapper is not None:
            _remove(self._wrapper)
            self._wrapper = None
        self.lock.release()
        for folder in reversed(self._made):
            with contextlib.suppress(OSError):
                folder.rmdir()  # only when still empty
        self._made = []

    def __exit__(self, kind, exc, tb) -> None:
        if self.committed:
            self.lock.release()
            return None
        where = self._where(exc) if isinstance(exc, OSError) else ""
        self._abandon()
        if kind is None:
            return None
        before = ("its previous state is unchanged" if self.existed
                  else "nothing was written")
        if issubclass(kind, KeyboardInterrupt) and not issubclass(kind, WriteInterrupted):
            raise WriteInterrupted(f"interrupted before {self.shown} was written; {before}") from None
        if issubclass(kind, OSError):
            raise NeuralabError(f"cannot write run directory {self.shown}: "
                                f"{exc.strerror or exc}{where}; {before}") from None
        return None


@contextlib.contextmanager
def later_output(run_dir: str | Path, out: str | Path):
    """A folder for what a later command (evaluate, inspect, monitor, retrieve) writes.

    Yields the folder to write into; ``out`` appears whole when the block ends, or
    not at all. When ``out`` lies inside the run, the run is locked meanwhile, so
    that a resume (which carries such folders into its new state) cannot lose it.
    """
    inside = where(out).is_relative_to(where(run_dir))
    with (RunLock(run_dir) if inside else contextlib.nullcontext()), \
            NewState(out, manifest=False) as state:
        yield state.folder
        state.commit()
