"""The playground's browser fixtures (tests/playground/browser.py holds their parts): one server
and one Chromium per module, a fresh context per test, and ``open_tab``."""

from __future__ import annotations

import pytest
from playground.browser import CHROMIUM_ARGS, Tab, browser_server, chromium, wait_loaded


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = browser_server(tmp_path_factory.mktemp("playground_runs"))
    srv.base = srv.start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def browser():
    sync_api, path = chromium()
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(path), args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def context(browser):
    ctx = browser.new_context(viewport={"width": 1280, "height": 800})
    # generous: a busy machine (or the first import of torch, for backend=torch) is slow
    ctx.set_default_timeout(60_000)
    yield ctx
    ctx.close()


@pytest.fixture
def open_tab(context, server):
    """open_tab(query) -> a Tab showing the page, once its first frame (with points) is drawn."""

    def _open(query: str = "", *, loaded: bool = True) -> Tab:
        tab = Tab(context.new_page())
        tab.page.goto(server.base + "/" + query)
        if loaded:
            wait_loaded(tab.page)
        return tab

    return _open
