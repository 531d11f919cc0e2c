"""Plain helpers shared by the test modules: ``from helpers import one_line, strict_loads``.

Fixtures live in conftest.py; this module holds what a test calls as a function.
pyproject.toml puts tests/ on sys.path (``pythonpath``), so every test module below
tests/ can import it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
from pathlib import Path

#: the repository: the benchmarks/ and examples/ folders the tests run scripts from
ROOT = Path(__file__).resolve().parents[1]


def one_line(excinfo) -> str:
    """The message of the error that ``pytest.raises`` caught, checked to be one line."""
    msg = str(excinfo.value)
    assert "\n" not in msg, msg
    return msg


def strict_loads(text: str):
    """``json.loads`` that refuses NaN and infinities, as strict JSON does."""
    def refuse(name):
        raise ValueError(f"non-standard JSON constant {name}")

    return json.loads(text, parse_constant=refuse)


@contextlib.contextmanager
def read_only(folder: Path):
    """``folder`` read-only for this process, root included, for the block's duration.

    A user's folder is made read-only with chmod 555. Root writes into such a folder
    anyway, so as root the folder is made immutable (``chattr +i``), which binds root
    too; the OS then says "Operation not permitted" instead of "Permission denied".
    """
    if os.geteuid() != 0:
        folder.chmod(0o555)
        try:
            yield
        finally:
            folder.chmod(0o755)
        return
    made = subprocess.run(["chattr", "+i", str(folder)], capture_output=True, text=True)
    if made.returncode != 0:
        import pytest

        pytest.skip(f"as root, a read-only folder needs chattr +i (Debian's e2fsprogs) on a file "
                    f"system that has it: {made.stderr.strip()}")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(folder)], check=True)


#: what the OS says when a write into a read-only folder is refused (user, root)
REFUSED = ("Permission denied", "Operation not permitted")


def receive(ws, kind: str | None = None) -> dict:
    """The playground socket's next message; with ``kind``, check that it has that type."""
    msg = ws.receive_json()
    if kind is not None:
        assert msg["type"] == kind, msg
    return msg


def configure(ws, **config) -> tuple[dict, dict]:
    """Send a config; return (config_ok, the frame after it)."""
    ws.send_json({"type": "config", "config": config})
    ok = receive(ws, "config_ok")
    return ok, receive(ws, "frame")


def sigint_default() -> None:
    """``preexec_fn`` for a child that a test sends SIGINT: Ctrl-C's default disposition.

    A shell starts a background job with SIGINT ignored, and a child inherits that, so
    a suite started with ``&`` would otherwise see every SIGINT to a child ignored.
    """
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)


def asgi_status(app, path: str) -> int:
    """The status of a GET whose path reaches the app as given (no client normalises it)."""
    sent = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
             "scheme": "http", "path": path, "raw_path": path.encode("utf-8", "replace"),
             "query_string": b"", "root_path": "", "headers": [(b"host", b"127.0.0.1")],
             "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80)}
    asyncio.run(app(scope, receive, send))
    return next(m["status"] for m in sent if m["type"] == "http.response.start")
