"""A run's figures drawn side by side: a forked child's jobs, this process's, and what a
failure or a signal does to them. Each case runs in a fresh interpreter (a test runner's
helper threads keep the fork from being used in its own process)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="fork is POSIX only")

SCRIPT = """
import json, os, sys, time
from pathlib import Path
from neuralab.fileio import atomic_write
from neuralab.runs.parallel import can_fork, side_by_side

out = Path(sys.argv[1])
case = sys.argv[2]

def write(name):
    def job():
        if case == "child fails" and name == "there" and os.getpid() != PARENT:
            os._exit(3)
        if case == "here fails" and name == "here":
            raise RuntimeError("disk full")
        atomic_write(out / name, str(os.getpid()))
    return job

def slow():  # a child still at work when this process's job fails
    time.sleep(30)
    atomic_write(out / "slow", "done")

def after(name, then):  # a job that waits (60 s at most) for another one's file
    def job():
        deadline = time.monotonic() + 60
        while not (out / name).exists():
            if time.monotonic() > deadline:
                raise RuntimeError(f"no {name} after 60 s")
            time.sleep(0.01)
        then()
    return job

PARENT = os.getpid()
here, there = [write("here")], [write("there")]
if case == "here fails":
    there = [slow]
elif case == "ok":  # this process's job ends only once the child has written "there"
    here = [after("there", write("here"))]
elif case == "shared":  # the first of the child's jobs waits for the second one's file
    here, there = [], [after("second", write("first")), write("second")]
try:
    forked = side_by_side(here, there)
    error = None
except RuntimeError as exc:
    forked, error = None, str(exc)
print(json.dumps({"parent": PARENT, "can_fork": can_fork(), "forked": forked, "error": error,
                  "files": {p.name: p.read_text() for p in sorted(out.iterdir())}}))
"""


def run(tmp_path, case: str, **env) -> dict:
    proc = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path), case], capture_output=True,
                          text=True, timeout=120, env={**os.environ, **env})
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.fixture
def cpus():
    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("side by side needs two CPUs")


def test_the_child_runs_its_jobs_while_this_process_runs_its_own(tmp_path, cpus):
    r = run(tmp_path, "ok")
    assert r["can_fork"] and r["forked"] is True
    assert r["files"]["here"] == str(r["parent"]) != r["files"]["there"]


def test_this_process_takes_the_jobs_the_child_has_not_yet_taken(tmp_path, cpus):
    """The child's jobs go one at a time to whichever process asks first: with the first
    one waiting for the second one's file, each process must have run one of them."""
    r = run(tmp_path, "shared")
    assert r["forked"] is True and set(r["files"]) == {"first", "second"}
    ran = {r["files"]["first"], r["files"]["second"]}
    assert len(ran) == 2 and str(r["parent"]) in ran


def test_a_child_that_fails_has_its_jobs_run_again_here(tmp_path, cpus):
    r = run(tmp_path, "child fails")
    assert r["forked"] is True and r["files"] == {"here": str(r["parent"]), "there": str(r["parent"])}


def test_a_failure_here_kills_the_child_and_goes_on(tmp_path, cpus):
    r = run(tmp_path, "here fails")
    assert r["error"] == "disk full" and r["files"] == {}  # the sleeping child wrote nothing


def test_neuralab_serial_write_runs_every_job_here(tmp_path):
    r = run(tmp_path, "plain", NEURALAB_SERIAL_WRITE="1")
    assert r["can_fork"] is False and r["forked"] is False
    assert r["files"] == {"here": str(r["parent"]), "there": str(r["parent"])}


def test_a_run_s_files_are_the_same_drawn_side_by_side_or_one_after_another(tmp_path, cpus):
    """The command line draws the confusion matrices in a child: the same files, byte for
    byte, as one process writes them."""
    files = {}
    for mode, env in (("side", {}), ("serial", {"NEURALAB_SERIAL_WRITE": "1"})):
        out = tmp_path / mode
        proc = subprocess.run([sys.executable, "-m", "neuralab", "train", "--dataset", "iris",
                               "--iterations", "30", "--test-fraction", "0.3", "--no-tensorboard",
                               "--quiet", "--out", str(out)], capture_output=True, text=True,
                              timeout=300, env={**os.environ, "MPLBACKEND": "Agg", **env})
        assert proc.returncode == 0, proc.stderr
        files[mode] = {p.relative_to(out).as_posix(): p.read_bytes()
                       for p in sorted(out.rglob("*")) if p.is_file() and p.suffix in (".png", ".csv")}
    assert "figures/confusion_test_normalized.png" in files["side"]
    assert files["side"] == files["serial"]


ORDER = """
import json, sys
import neuralab.lab as lab
import neuralab.runs.parallel as parallel
from neuralab.cli import main

events = []
fork, scored = parallel._fork, lab._scored
parallel._fork = lambda jobs, queue: events.append(("fork", len(jobs))) or fork(jobs, queue)
lab._scored = lambda *a, **k: events.append(("metrics", 0)) or scored(*a, **k)
code = main(["train", "--dataset", "iris", "--iterations", "30", "--test-fraction", "0.3",
             "--quiet", "--out", sys.argv[1]])
print(json.dumps({"code": code, "events": events}))
"""


def test_a_run_forks_its_predictions_and_confusion_figures_before_its_metrics(tmp_path, cpus):
    """The child that writes predictions.csv and draws the four confusion figures (train
    and test, counts and rows normalised) starts as soon as the probabilities are known,
    and the metrics are computed meanwhile; the rest of the write forks nothing more."""
    proc = subprocess.run([sys.executable, "-c", ORDER, str(tmp_path / "run")],
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "MPLBACKEND": "Agg"})
    assert proc.returncode == 0, proc.stderr
    done = json.loads(proc.stdout.splitlines()[-1])
    assert done["code"] == 0
    assert done["events"] == [["fork", 5], ["metrics", 0]]
    assert len(list((tmp_path / "run" / "figures").glob("confusion_*.png"))) == 4
    assert (tmp_path / "run" / "predictions.csv").is_file()
