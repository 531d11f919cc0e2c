"""The parts of the playground's browser fixtures (conftest.py): the in-process server, a tab
that records what the page logged, and Chromium's path and flags."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def chromium():
    """(playwright's sync_api, Chromium's path), or skip the test naming what is missing."""
    if not CHROMIUM.exists():
        pytest.skip("the playground's browser tests need Chromium at /usr/bin/chromium: "
                    "install the Debian package `chromium`")
    return pytest.importorskip("playwright.sync_api"), CHROMIUM


class _Server:
    """The playground app under uvicorn in a thread, on a free port of 127.0.0.1."""

    def __init__(self, runs_dir: Path) -> None:
        uvicorn = pytest.importorskip("uvicorn")
        from neuralab.playground import create_app

        self.runs_dir = runs_dir
        self.app = create_app(runs_dir=runs_dir)
        # port 0: the OS picks a free port, read back once the server listens
        self.server = uvicorn.Server(uvicorn.Config(self.app, host="127.0.0.1", port=0,
                                                    log_level="warning", lifespan="off"))
        self.thread = threading.Thread(target=self.server.run, name="playground-e2e", daemon=True)

    def start(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the playground server did not start")
            time.sleep(0.02)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


def browser_server(runs_dir: Path) -> _Server:
    return _Server(runs_dir)


class Tab:
    """A page plus what it logged: console errors, uncaught exceptions, every request URL."""

    def __init__(self, page) -> None:
        self.page = page
        self.errors: list[str] = []
        self.requests: list[str] = []
        page.on("console", lambda m: self.errors.append(f"console {m.type}: {m.text}")
                if m.type == "error" else None)
        page.on("pageerror", lambda exc: self.errors.append(f"page error: {exc}"))
        page.on("request", lambda r: self.requests.append(r.url))


def wait_loaded(page) -> None:
    page.wait_for_function("document.getElementById('n_train').textContent !== '0'")
