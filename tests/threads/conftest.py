"""Fixtures of the thread tests."""

import pytest

from neuralab.threads import THREAD_ENV


@pytest.fixture
def no_thread_env(monkeypatch):
    """No thread variable of the user's: fit and the passes set the counts themselves."""
    for name in THREAD_ENV:
        monkeypatch.delenv(name, raising=False)
