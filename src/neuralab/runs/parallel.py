"""Two halves of a run's writing side by side: one in a forked child, one here.

Drawing a run's figures is pure Python and matplotlib: one core does it, while
a run ends on a machine with two or more. :func:`side_by_side` runs one list of
jobs in a child process made with ``fork`` (it inherits every array, nothing is
pickled or sent) while this process runs the other; then this process lends a
hand with the child's jobs that are still waiting, and waits for the child.
Neither has to guess how long a job takes: the child's jobs are handed out one
at a time, to whichever process asks first (their numbers lie in a pipe, and a
read of a pipe takes a number whole or finds it empty), in the order given, so
the longest go first.

Every job writes its own files (atomically, into the run's new state), so a
child that fails leaves nothing half-written: the jobs this process did not run
are then run again here, where they raise their own error as they would have
without a child. If this process's jobs fail, or a second Ctrl-C abandons the
write, the child is killed before the error goes on. The child ignores SIGINT (a
Ctrl-C reaches the whole process group; this process decides what a signal means
for the write).

The child is only forked where that is safe and useful: on POSIX, with no other
Python thread running (a fork copies only the calling thread, and the others'
locks with it: the playground's server, a test runner's helper threads), not in a
rank of a launched (data-parallel) world, with
at least two CPUs to run on, and unless ``NEURALAB_SERIAL_WRITE`` is set. Else
all jobs run here, one after another.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import threading
from collections.abc import Callable, Sequence

from neuralab.cores import available_cores

#: set (to anything but empty) to write every file in this process
SERIAL = "NEURALAB_SERIAL_WRITE"

Job = Callable[[], object]
#: the bytes a pipe is sure to hold and to write whole (POSIX's least PIPE_BUF where unknown)
PIPE_BUF = getattr(select, "PIPE_BUF", 512)


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
    return available_cores() >= 2


class Beside:
    """``jobs`` run in a forked child from now on, while this process goes on; :meth:`finish`
    runs here the jobs the child has not yet taken, then waits for it.

    Without a child (:func:`can_fork` says no, or the fork fails) :meth:`finish` runs the
    jobs here; when a child does not end well, the jobs this process did not run are run
    again here, where a failure raises its own error. :meth:`abandon` kills the child:
    call it when this process's own work fails (or a second Ctrl-C abandons the write)
    before it finishes.
    """

    def __init__(self, jobs: Sequence[Job]) -> None:
        self.jobs = list(jobs)
        self.pid: int | None = None
        self._queue: _Queue | None = None
        if self.jobs and len(self.jobs) <= _Queue.MOST and can_fork():
            self._queue = _Queue(len(self.jobs))
            self.pid = _fork(self.jobs, self._queue)
            if self.pid is None:
                self._queue.close()

    def finish(self) -> bool:
        """Run here what the child has not taken, wait for it (or, without a child, run
        every job here); whether a child ran any."""
        pid, self.pid = self.pid, None
        if pid is None:
            for job in self.jobs:
                job()
            return False
        ran_here = set()
        try:
            for i in self._queue.taken():
                self.jobs[i]()
                ran_here.add(i)
            status = _wait(pid)
        except BaseException:
            _kill(pid)
            raise
        finally:
            self._queue.close()
        if status != 0:  # again here, where a failure raises its own error
            for i, job in enumerate(self.jobs):
                if i not in ran_here:
                    job()
        return True

    def abandon(self) -> None:
        """Kill the child, if one still runs; its jobs are not run."""
        pid, self.pid, self.jobs = self.pid, None, []
        if pid is not None:
            _kill(pid)
        if self._queue is not None:
            self._queue.close()


class _Queue:
    """The numbers 0..n-1 in a pipe whose writing end is closed: each read takes one, whole
    (two bytes, all in the pipe before the first read), until the pipe is empty."""

    SIZE = 2
    #: the most numbers the pipe is sure to hold; more jobs than that run in one process
    MOST = PIPE_BUF // SIZE

    def __init__(self, n: int) -> None:
        self.read_end, write_end = os.pipe()
        try:
            os.write(write_end, b"".join(i.to_bytes(self.SIZE, "big") for i in range(n)))
        finally:
            os.close(write_end)

    def taken(self):
        """The numbers this process takes, one at a time, until none is left."""
        while self.read_end is not None:
            chunk = os.read(self.read_end, self.SIZE)
            if not chunk:
                return
            yield int.from_bytes(chunk, "big")

    def close(self) -> None:
        if self.read_end is not None:
            os.close(self.read_end)
            self.read_end = None


def side_by_side(here: Sequence[Job], there: Sequence[Job]) -> bool:
    """Run ``there`` in a forked child while this process runs ``here``; then run here what
    the child has not taken of ``there``, and wait for it.

    Returns whether a child ran any. Without a child (:func:`can_fork` says no, or the
    fork fails) ``there`` runs here after ``here``. When a child does not end well, the
    jobs of ``there`` that this process did not run are run again here.
    """
    child = Beside(there)
    try:
        for job in here:
            job()
    except BaseException:
        child.abandon()
        raise
    return child.finish()


@contextlib.contextmanager
def serially():
    """Within the block, :class:`Beside` and :func:`side_by_side` fork no child: their jobs
    run in this process (for a job that itself runs in a child beside other work)."""
    old = os.environ.get(SERIAL)
    os.environ[SERIAL] = "1"
    try:
        yield
    finally:
        if old is None:
            del os.environ[SERIAL]
        else:
            os.environ[SERIAL] = old


class Later:
    """Runs whose files are written in forked children while this process goes on.

    :meth:`hold` keeps a run's new state (:class:`~neuralab.runs.NewState`) open past the
    call that trained the run; :meth:`add` gives the job that writes its files, started at
    once beside this process (:class:`Beside`), forking no child of its own
    (:func:`serially`), or with ``write_here`` run in this process when :meth:`write` is
    called. :meth:`finish` waits for each, then swaps each run in. Used as a context
    manager: leaving the block any other way (an error, a second Ctrl-C) kills the
    children and discards the held states.
    """

    def __init__(self, *, write_here: bool = False) -> None:
        self._held = contextlib.ExitStack()
        self._pending: list[tuple[Beside | None, object, Job | None]] = []
        self._unwritten: list[Job] = []  # write_here: the jobs :meth:`write` has yet to run
        #: each run's files written by :meth:`write` (or :meth:`finish`) in this process, as
        #: a run writes its own (with its forked writer), not beside: for a caller that has
        #: nothing else to do by then, and may discard a run before anything is written
        self.write_here = write_here

    def hold(self, new_state):
        return self._held.enter_context(new_state)

    def add(self, job: Job, state, then: Job | None = None) -> None:
        """``job`` started beside (with ``write_here``: kept for :meth:`write`); ``then`` run
        here once it is done, before the commit."""
        if self.write_here:
            self._unwritten.append(job)
            self._pending.append((None, state, then))
            return

        def alone():  # beside other work already: its own writes one after another
            with serially():
                job()
        self._pending.append((Beside([alone]), state, then))

    def write(self) -> None:
        """With ``write_here``: the files of the runs added so far, written now, here."""
        while self._unwritten:
            self._unwritten.pop(0)()

    def finish(self, before_commit: Job | None = None) -> None:
        """Wait for each run's files (or write them, :meth:`write`), then swap it in
        (``before_commit()`` first: from there on the write is finished, whatever comes)."""
        self.write()
        while self._pending:  # one at a time: a failure leaves the rest for __exit__
            beside, state, then = self._pending[0]
            if beside is not None:
                beside.finish()
            del self._pending[0]
            if then is not None:
                then()
            if before_commit is not None:
                before_commit()
            state.commit()
        self._held.close()

    def __enter__(self) -> Later:
        return self

    def __exit__(self, *exc) -> None:
        for beside, *_ in self._pending:
            if beside is not None:
                beside.abandon()
        self._pending, self._unwritten = [], []
        self._held.__exit__(*exc)


def _fork(jobs: Sequence[Job], queue: _Queue) -> int | None:
    try:
        pid = os.fork()
    except OSError:
        return None
    if pid:
        return pid
    code = 1
    try:  # the child: the jobs it takes, then out without running this process's exit handlers
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        for i in queue.taken():
            jobs[i]()
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
