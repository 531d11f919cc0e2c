"""Plain helpers shared by the test modules: ``from helpers import one_line, strict_loads``.

Fixtures live in conftest.py; this module holds what a test calls as a function.
pyproject.toml puts tests/ on sys.path (``pythonpath``), so every test module below
tests/ can import it.
"""

from __future__ import annotations

import json
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
