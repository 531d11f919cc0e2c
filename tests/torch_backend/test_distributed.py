"""Data-parallel training with torch.distributed on the CPU (gloo): N ranks reach the weights
that one process reaches, a checkpoint from N resumes on M, and a rank that stops or dies
stops the others with one line, never a hang.

The references are trained in this process; the ranks run as real processes, launched by
`neuralab train --nproc` (torch's launcher) or by hand with the variables torchrun sets.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file

from neuralab.config import TrainSettings
from neuralab.data import load
from neuralab.lab import resume_training, run_training
from neuralab.launch import launch_place

pytestmark = pytest.mark.slow  # every test starts several torch processes

# 50 minibatch steps of 32 rows: 200 moons rows make epochs of 7 batches, the last one short
TRAIN = ["train", "--dataset", "moons", "--backend", "torch", "--dtype", "float64",
         "--batch-size", "32", "--hidden", "16", "--optimizer", "adam", "--lr", "0.05",
         "--seed", "3", "--quiet"]
SETTINGS = TrainSettings(backend="torch", dtype="float64", batch_size=32, hidden=[16],
                         optimizer="adam", lr=0.05, seed=3)
DEADLINE = 240


def _weights(run_dir: Path) -> dict[str, np.ndarray]:
    return load_file(str(run_dir / "model.safetensors"))


def _assert_same(a: dict, b: dict, tol: float = 1e-10) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert np.max(np.abs(a[k] - b[k])) <= tol, k


def _reference(tmp_path: Path, iterations: int, name: str = "ref") -> Path:
    """The one-process run, in this process (no launcher)."""
    data = load("moons", seed=3)
    out = tmp_path / name
    run_training(data, SETTINGS.replace(iterations=iterations), out=out, echo=None,
                 progress=False, data_spec={"kind": "registry", "name": "moons", "seed": 3})
    return out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _neuralab(*args, env=None, **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "neuralab", *map(str, args)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def _rank_env(rank: int, size: int, port: int, **extra) -> dict:
    return {**os.environ, "RANK": str(rank), "WORLD_SIZE": str(size), "LOCAL_RANK": "0",
            "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port), "OMP_NUM_THREADS": "1",
            **extra}


def _wait_for_training(proc, tmp_path: Path) -> None:
    """Until the run's folder (or its lock) exists: every rank is training by then."""
    end = time.monotonic() + DEADLINE
    while not any(tmp_path.glob("*run*")) and time.monotonic() < end:
        assert proc.poll() is None, proc.communicate()[1]
        time.sleep(0.1)
    time.sleep(0.5)


def _wait_for_a_line(proc, text: str) -> None:
    """Until the process prints a line that holds ``text`` (read in a thread, with a deadline)."""
    seen = threading.Event()

    def read() -> None:
        for line in proc.stdout:
            if text in line:
                seen.set()
                return

    threading.Thread(target=read, daemon=True).start()
    assert seen.wait(DEADLINE) or proc.poll() is not None, f"no {text!r} line"
    assert proc.poll() is None, proc.communicate()[1]


def test_ctrl_c_stops_both_ranks_at_one_step_with_the_weights_of_one_process(tmp_path):
    # `train --nproc 2`, stopped by Ctrl-C at whatever step: rank 0 writes the interrupted run,
    # whose weights are those of one process trained that many steps; it resumes on one.
    # Ctrl-C goes once rank 0 prints its first loss: training has begun on both ranks (a
    # signal while the run is still being set up abandons it, and a folder on disk does
    # not yet mean training, on a busy machine)
    train = [a for a in TRAIN if a != "--quiet"]
    proc = _neuralab(*train, "--print-every", 20, "--iterations", 10**7, "--nproc", 2,
                     "--out", tmp_path / "run", start_new_session=True)
    try:
        _wait_for_a_line(proc, "iteration 20: loss")
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err
    with pytest.raises(ProcessLookupError):  # no rank is left in the launcher's session
        os.killpg(proc.pid, 0)
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["interrupted"] is True and config["steps"] > 0
    steps = config["steps"]
    _assert_same(_weights(tmp_path / "run"), _weights(_reference(tmp_path, steps)))
    # the checkpoint of two processes resumes in one, as the one-process run's does
    resume_training(tmp_path / "run", iterations=25, echo=None, progress=False)
    resume_training(tmp_path / "ref", iterations=25, echo=None, progress=False)
    _assert_same(_weights(tmp_path / "run"), _weights(tmp_path / "ref"))
    assert json.loads((tmp_path / "run" / "config.json").read_text())["steps"] == steps + 25


def test_two_nodes_of_one_process_each_meet_on_the_loopback(tmp_path):
    # two "nodes" of one rank each, started with the variables torchrun sets on each node
    port = _free_port()
    ranks = [_neuralab(*TRAIN, "--iterations", 50, "--out", tmp_path / f"node{r}",
                       env=_rank_env(r, 2, port)) for r in (0, 1)]
    outs = [r.communicate(timeout=DEADLINE) for r in ranks]
    for r, (out, err) in zip(ranks, outs):
        assert r.returncode == 0, err
    assert outs[0][0].count("run written to") == 1 and outs[1][0] == ""  # rank 0 alone reports
    assert not (tmp_path / "node1").exists()  # and writes
    _assert_same(_weights(tmp_path / "node0"), _weights(_reference(tmp_path, 50)))


def test_a_rank_that_dies_stops_the_other_with_one_line(tmp_path):
    port = _free_port()
    args = (*TRAIN, "--iterations", 10**7, "--out", tmp_path / "run")
    ranks = [_neuralab(*args, env=_rank_env(r, 2, port)) for r in (0, 1)]
    try:
        _wait_for_training(ranks[0], tmp_path)  # both ranks train; then rank 1 dies
        ranks[1].kill()
        _, err = ranks[0].communicate(timeout=60)  # a hang would run into the timeout
    finally:
        for r in ranks:
            r.kill()
            r.wait()
    assert ranks[0].returncode == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "lost contact with the other ranks" in lines[0], err
    assert "Traceback" not in err


def test_a_world_that_never_forms_is_one_line_after_the_timeout(tmp_path):
    proc = _neuralab(*TRAIN, "--iterations", 10, "--dist-timeout", 3, "--out", tmp_path / "run",
                     env=_rank_env(0, 2, _free_port()))
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 2, err
    assert err.count("\n") == 1 and "did not form within 3 s" in err, err
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("args, fragment", [
    (("--nproc", "64"), "--nproc 64 is more than the"),
    (("--nproc", "2", "--backend", "numpy"), "--nproc 2: data-parallel training needs backend torch"),
])
def test_bad_nproc_is_one_line_and_starts_nothing(cli, args, fragment):
    base = [a for a in TRAIN if a not in ("--backend", "torch")] if "numpy" in args else TRAIN
    code, _, err = cli(*base, "--iterations", 5, *args)
    assert code == 2 and fragment in err and err.count("\n") == 1, err


def test_launch_place_reads_what_torchrun_sets():
    assert launch_place({"RANK": "3", "WORLD_SIZE": "4", "LOCAL_RANK": "1"}) == \
        {"rank": 3, "size": 4, "local_rank": 1}
    assert launch_place({"RANK": "0"}) is None
    for bad in ({"RANK": "x", "WORLD_SIZE": "2"}, {"RANK": "2", "WORLD_SIZE": "2"},
                {"RANK": "0", "WORLD_SIZE": "2", "LOCAL_RANK": "1"}):
        with pytest.raises(Exception, match="start the processes with torchrun"):
            launch_place(bad)
