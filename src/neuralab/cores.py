"""The cores this process may run on, and row ranges worked on side by side in threads.

The lowest layer of the package: :mod:`neuralab.threads` picks BLAS threads by these
cores, :mod:`neuralab.runs.parallel` forks only where there are two, and
:mod:`neuralab.data.preprocess` reads a large array's column moments in
:func:`in_row_ranges` (NumPy lets go of the interpreter inside its loops, so threads
run them on separate cores).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def available_cores() -> int:
    """The cores this process may run on (its affinity mask), at least one."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # no affinity masks on this platform
        return max(1, os.cpu_count() or 1)


def in_row_ranges(work: Callable[[int, int], T], n: int, parts: int) -> list[T]:
    """``work(a, b)`` for ``parts`` ranges that cut rows 0..n evenly, in order: the first
    here, each other one in a thread of its own. Every thread has ended when this
    returns; the first error, if any, is raised here."""
    parts = max(1, min(int(parts), n))
    cuts = [n * i // parts for i in range(parts + 1)]
    results: list = [None] * parts
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            results[i] = work(cuts[i], cuts[i + 1])
        except BaseException as exc:  # noqa: BLE001 - handed over to the caller's thread
            errors.append(exc)

    others = [threading.Thread(target=run, args=(i,), name=f"neuralab-rows-{i}", daemon=True)
              for i in range(1, parts)]
    for thread in others:
        thread.start()
    try:
        run(0)
    finally:
        for thread in others:
            thread.join()
    if errors:
        raise errors[0]
    return results
