"""A throwaway PostgreSQL server for the shared-study tests: Debian's ``postgresql`` package,
started in a temporary folder on a Unix socket (no TCP port), as the ``postgres`` user when
the tests run as root, and stopped after."""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

PACKAGE_NOTE = ("needs Debian's postgresql package (`make test` installs it as root: "
                "apt-get install postgresql)")


def _bin() -> Path | None:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
    return found[-1].parent if found else None


@contextlib.contextmanager
def postgres_server():
    """Yield a SQLAlchemy URL of a fresh database on a private server; skip when there is none."""
    bindir = _bin()
    if bindir is None:
        pytest.skip(PACKAGE_NOTE)
    as_root = os.geteuid() == 0
    if as_root:
        try:
            user = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("the postgresql package's postgres user is missing")
    folder = Path(tempfile.mkdtemp(prefix="neuralab-pg-"))
    data, sock = folder / "data", folder / "socket"
    sock.mkdir()
    if as_root:
        os.chmod(folder, 0o755)
        for path in (folder, sock):
            os.chown(path, user.pw_uid, user.pw_gid)
    run_as = ["runuser", "-u", "postgres", "--"] if as_root else []

    def pg(tool: str, *args: str, timeout: float = 120) -> None:
        subprocess.run([*run_as, str(bindir / tool), *args], check=True, timeout=timeout,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    try:
        pg("initdb", "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync")
        # no TCP listener at all: the server is reached through its socket in the folder only
        pg("pg_ctl", "-D", str(data), "-w", "-t", "60", "-l", str(folder / "log"), "-o",
           f"-c listen_addresses='' -k {sock} -c fsync=off -c max_connections=50", "start")
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        shutil.rmtree(folder, ignore_errors=True)
        pytest.skip(f"PostgreSQL did not start: {getattr(exc, 'stderr', b'') or exc}")
    try:
        yield f"postgresql+psycopg2://postgres@/postgres?host={sock}"
    finally:
        with contextlib.suppress(Exception):
            pg("pg_ctl", "-D", str(data), "-w", "-t", "60", "-m", "immediate", "stop")
        shutil.rmtree(folder, ignore_errors=True)
