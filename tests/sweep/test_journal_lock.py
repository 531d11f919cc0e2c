"""The journal's lock (neuralab.sweep.study.KernelLock): one holder at a time, across
processes and threads, and free the moment a holder is killed, where Optuna's own lock
left every other worker waiting out a 30 s grace period."""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
import threading

import pytest

from neuralab.sweep.study import KernelLock, open_storage

HOLD = """
import sys
from neuralab.sweep.study import KernelLock
KernelLock(sys.argv[1]).acquire()
print("held", flush=True)
sys.stdin.read()
"""


def _free(path) -> bool:
    """Whether an flock on ``path`` can be taken now, without waiting."""
    fd = os.open(path, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False
    finally:
        os.close(fd)


def test_a_killed_holders_lock_is_free_at_once(tmp_path):
    journal = tmp_path / "study.journal"
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(journal)], text=True,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert holder.stdout.readline().strip() == "held"
        assert not _free(journal)  # held by the other process
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait()
        assert _free(journal)  # no grace period: the kernel let go of it with the process
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()


def test_the_threads_of_one_process_take_it_in_turn(tmp_path):
    lock = KernelLock(tmp_path / "study.journal")
    lock.acquire()
    got = threading.Event()

    def other():
        KernelLock(tmp_path / "study.journal").acquire()
        got.set()

    thread = threading.Thread(target=other, daemon=True)
    thread.start()
    assert not got.wait(0.3)  # waits while this thread holds it
    lock.release()
    assert got.wait(60)
    thread.join(60)


def test_a_journal_storage_writes_under_it(tmp_path):
    optuna = pytest.importorskip("optuna")
    storage = open_storage(f"journal:{tmp_path / 'study.journal'}")
    assert isinstance(storage._backend._lock, KernelLock)
    study = optuna.create_study(storage=storage, study_name="s")
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=3)
    assert len(optuna.load_study(study_name="s", storage=open_storage(
        f"journal:{tmp_path / 'study.journal'}")).trials) == 3
    assert _free(tmp_path / "study.journal")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["study.journal"]  # no lock file
