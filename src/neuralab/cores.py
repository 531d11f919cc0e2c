"""The cores this process may run on, and row ranges worked on side by side in threads.

The lowest layer of the package: :mod:`neuralab.threads` picks BLAS threads by these
cores, :mod:`neuralab.runs.parallel` forks only where there are two,
:mod:`neuralab.data.preprocess` reads a large array's column moments in
:func:`in_row_ranges`, a model's pass over a whole data set takes its blocks of rows in
:func:`in_blocks_side_by_side`, and ``neuralab train`` loads its data while it imports
matplotlib (:func:`at_once`: NumPy and the inflater let go of the interpreter inside
their loops, so threads run them on separate cores).
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Callable, Sequence
from typing import TypeVar

T = TypeVar("T")


def available_cores() -> int:
    """The cores this process may run on (its affinity mask), at least one."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # no affinity masks on this platform
        return max(1, os.cpu_count() or 1)


def at_once(*calls: Callable[[], object]) -> list:
    """Each of ``calls``, side by side: the first here, each other one in a thread of its own.
    Returns their results in order. Every thread has ended when this returns (a later fork
    must copy no other thread); the error of the first call that failed, if any, is
    raised here."""
    results: list = [None] * len(calls)
    errors: list[BaseException | None] = [None] * len(calls)

    def run(i: int) -> None:
        try:
            results[i] = calls[i]()
        except BaseException as exc:  # noqa: BLE001 - handed over to the caller's thread
            errors[i] = exc

    others = [threading.Thread(target=run, args=(i,), name=f"neuralab-at-once-{i}", daemon=True)
              for i in range(1, len(calls))]
    for thread in others:
        thread.start()
    try:
        run(0)
    finally:
        for thread in others:
            thread.join()
    for exc in errors:
        if exc is not None:
            raise exc
    return results


def in_row_ranges(work: Callable[[int, int], T], n: int, parts: int) -> list[T]:
    """``work(a, b)`` for ``parts`` ranges that cut rows 0..n evenly, in order, side by side
    (:func:`at_once`: the first here, each other one in a thread of its own)."""
    parts = max(1, min(int(parts), n))
    cuts = [n * i // parts for i in range(parts + 1)]
    return at_once(*(functools.partial(work, a, b) for a, b in zip(cuts, cuts[1:])))


def in_blocks_side_by_side(blocks: Sequence[tuple[int, int]],
                           make_work: Callable[[], Callable[[int, int], object]],
                           workers: int) -> None:
    """Every block ``(a, b)`` of ``blocks`` worked on once, by whichever of ``workers``
    threads is free first (the first thread is this one; :func:`at_once`), in the order
    given: a thread slowed by another process on its core takes fewer blocks instead of
    holding up the others. Each thread calls ``make_work()`` once, for a ``work(a, b)`` of
    its own (its own work arrays). The first error is raised here, and no block is started
    after it."""
    blocks = list(blocks)
    workers = max(1, min(int(workers), len(blocks)))
    taken = iter(range(len(blocks)))
    lock = threading.Lock()
    failed = threading.Event()

    def run() -> None:
        work = make_work()
        while not failed.is_set():
            with lock:
                i = next(taken, None)
            if i is None:
                return
            try:
                work(*blocks[i])
            except BaseException:
                failed.set()
                raise

    at_once(*([run] * workers))
