"""Two halves of a run's writing side by side: one in a forked child, one here.

Drawing a run's figures is pure Python and matplotlib: one core does it, while
a run ends on a machine with two or more. :func:`side_by_side` runs one list of
jobs in a child process made with ``fork`` (it inherits every array, nothing is
pickled or sent) while this process runs the other, and waits for the child.

Every job writes its own files (atomically, into the run's new state), so a
child that fails leaves nothing half-written: its jobs are then run again here,
where they raise their own error as they would have without a child. If this
process's jobs fail, or a second Ctrl-C abandons the write, the child is killed
before the error goes on. The child ignores SIGINT (a Ctrl-C reaches the whole
process group; this process decides what a signal means for the write).

The child is only forked where that is safe and useful: on POSIX, with no other
Python thread running (a fork copies only the calling thread, and the others'
locks with it: the playground's server, a test runner's helper threads), not in a
rank of a launched (data-parallel) world, with
at least two CPUs to run on, and unless ``NEURALAB_SERIAL_WRITE`` is set. Else
all jobs run here, one after another.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable, Sequence

#: set (to anything but empty) to write every file in this process
SERIAL = "NEURALAB_SERIAL_WRITE"

Job = Callable[[], object]


def can_fork() -> bool:
    """Whether :func:`side_by_side` would fork here (see the module's docstring)."""
    if not hasattr(os, "fork") or os.environ.get(SERIAL):
        return False
    if threading.active_count() > 1:
        return False
    # a rank of a launched world: its launcher signals the ranks' processes, and the
    # process group's threads (not Python's) hold locks a copy would inherit
    if os.environ.get("LOCAL_RANK") is not None:
        return False
    cpus = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else range(os.cpu_count() or 1)
    return len(cpus) >= 2


class Beside:
    """``jobs`` run in a forked child from now on, while this process goes on; :meth:`finish`
    waits for it.

    Without a child (:func:`can_fork` says no, or the fork fails) :meth:`finish` runs the
    jobs here; a child that does not end well has its jobs run again here, where a
    failure raises its own error. :meth:`abandon` kills the child: call it when this
    process's own work fails (or a second Ctrl-C abandons the write) before it finishes.
    """

    def __init__(self, jobs: Sequence[Job]) -> None:
        self.jobs = list(jobs)
        self.pid = _fork(self.jobs) if self.jobs and can_fork() else None

    def finish(self) -> bool:
        """Wait for the child (or run the jobs here); whether a child ran them."""
        pid, self.pid = self.pid, None
        if pid is None:
            for job in self.jobs:
                job()
            return False
        try:
            status = _wait(pid)
        except BaseException:
            _kill(pid)
            raise
        if status != 0:
            for job in self.jobs:  # again here, where a failure raises its own error
                job()
        return True

    def abandon(self) -> None:
        """Kill the child, if one still runs; its jobs are not run."""
        pid, self.pid, self.jobs = self.pid, None, []
        if pid is not None:
            _kill(pid)


def side_by_side(here: Sequence[Job], there: Sequence[Job]) -> bool:
    """Run ``there`` in a forked child while this process runs ``here``; then wait for it.

    Returns whether a child ran them. Without a child (:func:`can_fork` says no, or
    the fork fails) ``there`` runs here after ``here``. A child that does not end well
    has its jobs run again here.
    """
    child = Beside(there)
    try:
        for job in here:
            job()
    except BaseException:
        child.abandon()
        raise
    return child.finish()


def _fork(jobs: Sequence[Job]) -> int | None:
    try:
        pid = os.fork()
    except OSError:
        return None
    if pid:
        return pid
    code = 1
    try:  # the child: its jobs, then out without running this process's exit handlers
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        for job in jobs:
            job()
        code = 0
    finally:
        os._exit(code)


def _wait(pid: int) -> int:
    """The child's exit status (its signal's number, negated, when one ended it)."""
    while True:
        try:
            _, status = os.waitpid(pid, 0)
        except InterruptedError:
            continue
        return os.waitstatus_to_exitcode(status)


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
        _wait(pid)
    except (ProcessLookupError, ChildProcessError):  # already ended and waited for
        pass
