"""Faults against real `neuralab train` and `train --resume` processes.

A kill at any instant leaves a run directory that loads as its previous state or
its new one; a signal while a run is written lets the write finish (or, twice,
leaves the previous state); a second writer is refused; a full disk leaves the
previous state and one line naming the run.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from helpers import sigint_default

import neuralab
from neuralab.cli import main
from neuralab.runs import MANIFEST, NewState, load_checkpoint, open_run, read_config, read_history
from neuralab.runs.reader import read_resume

pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX signals and rlimits")

SRC = str(Path(neuralab.__file__).resolve().parents[1])
CLI = "import sys; from neuralab.cli import main; sys.exit(main())"
#: the command line with signals sent to itself while the report is built (during the write)
SIGNALLED = """
import os, signal, sys, time
import neuralab.report as report
real, sig = report.build_report, getattr(signal, os.environ["SIG"])
def build_report(folder):
    for _ in range(int(os.environ["TIMES"])):
        os.kill(os.getpid(), sig)
        time.sleep(0.05)
    return real(folder)
report.build_report = build_report
from neuralab.cli import main
sys.exit(main())
"""
TRAIN = ["train", "--dataset", "moons", "--hidden", "16", "--optimizer", "momentum", "--lr", "0.1",
         "--quiet"]
STEPS = 1000
#: kill instants of the fault-injection test: train and resume, anywhere and while writing
INSTANTS = 4


def env(**extra):
    path = os.pathsep.join(p for p in (SRC, os.environ.get("PYTHONPATH")) if p)
    return {**os.environ, "PYTHONPATH": path, "MPLBACKEND": "Agg", **extra}


def start(args, code=CLI, **kw):
    before = kw.pop("preexec_fn", None)

    def prepare() -> None:
        sigint_default()
        if before is not None:
            before()

    return subprocess.Popen([sys.executable, "-c", code, *map(str, args)], env=kw.pop("env", env()),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=prepare, **kw)


def finish(proc, timeout=600):
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


def train_args(out, steps=STEPS):
    return [*TRAIN, "--iterations", steps, "--out", out]


def resume_args(out, steps=STEPS):
    return ["train", "--resume", out, "--iterations", steps, "--quiet"]


def snapshot(folder: Path) -> dict:
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def writing(out: Path) -> bool:
    """Whether the new state of ``out`` is being written beside it."""
    return any(n.startswith(f".{out.name}.new-") for n in os.listdir(out.parent))


def timed(args, out: Path) -> tuple[float, float]:
    """Run a command to its end: (seconds until its write began, seconds until it ended)."""
    t0 = time.monotonic()
    proc = start(args)
    began = None
    while proc.poll() is None:
        if began is None and writing(out):
            began = time.monotonic() - t0
        time.sleep(0.005)
    code, _, err = finish(proc)
    assert code == 0, err
    end = time.monotonic() - t0
    return (began if began is not None else 0.5 * end), end


def loaded_state(out: Path, states: dict, floor: int) -> str:
    """Which known state ``out`` loads as; every file of it consistent with the others."""
    open_run(out)
    config = read_config(out)
    steps = config["steps"]
    rows = read_history(out / "history.csv")
    assert rows[-1]["step"] == steps  # the history and config.json describe the same state
    assert read_resume(out, config, "momentum").start_step == steps  # a resume counts on from it
    assert (out / "report.html").stat().st_size > 1000 and (out / MANIFEST).is_file()
    weights, _ = load_checkpoint(out)
    for name, (want_steps, want) in states.items():
        if steps == want_steps and all(np.allclose(weights[k], want[k], rtol=1e-9, atol=1e-12)
                                       for k in want):
            return name
    # stopped by SIGTERM while training: a whole state, interrupted, past the previous one
    assert config["interrupted"] is True and floor <= steps, config
    return "interrupted"


@pytest.mark.slow
def test_a_run_killed_at_random_instants_loads_as_its_old_or_its_new_state(tmp_path):
    rng = np.random.default_rng(11)
    base, ref = tmp_path / "base", tmp_path / "ref"
    train_write, train_end = timed(train_args(base), base)
    shutil.copytree(base, ref)
    resume_write, resume_end = timed(resume_args(ref), ref)
    a, b = load_checkpoint(base)[0], load_checkpoint(ref)[0]
    states = {"previous": (STEPS, a), "new": (2 * STEPS, b)}
    seen = []
    for i in range(INSTANTS):
        resume = i % 2 == 1
        write, end = (resume_write, resume_end) if resume else (train_write, train_end)
        # half the instants anywhere, half while the run is being written
        at = rng.uniform(0, end) if i % 4 < 2 else rng.uniform(write, end)
        how = signal.SIGTERM if i % 4 == 3 else signal.SIGKILL
        out = tmp_path / f"run{i}"
        if resume:
            shutil.copytree(base, out)
        proc = start(resume_args(out) if resume else train_args(out))
        time.sleep(at)
        proc.send_signal(how)
        code, _, err = finish(proc)
        assert "Traceback" not in err, err
        if not out.exists():  # a new run stopped before its swap: nothing, and a retry is allowed
            assert not resume
            open_run(out)
            with NewState(out):
                pass
            seen.append("none")
        else:
            got = loaded_state(out, states if resume else {"new": (STEPS, a)},
                               floor=STEPS if resume else 0)
            seen.append(got)
        assert code in (0, 130, -how), (code, err)
        assert not [n for n in os.listdir(tmp_path) if n.startswith(f".{out.name}.new-")]
    assert len(seen) == INSTANTS


def test_sigterm_while_the_run_is_written_finishes_the_write_and_exits_130(tmp_path):
    out = tmp_path / "run"
    proc = start(train_args(out, 300), code=SIGNALLED, env=env(SIG="SIGTERM", TIMES="1"))
    code, _, err = finish(proc)
    assert code == 130, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "interrupted while the run was written" in lines[0]
    config = read_config(out)
    assert config["steps"] == 300 and config["interrupted"] is False
    assert read_history(out / "history.csv")[-1]["step"] == 300
    assert (out / "report.html").stat().st_size > 1000 and (out / "metrics.json").is_file()


@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM"])
def test_a_second_signal_while_a_resume_is_written_keeps_the_previous_state(tmp_path, sig):
    out = tmp_path / "run"
    assert main(train_args(out, 300)) == 0
    before = snapshot(out)
    proc = start(resume_args(out, 300), code=SIGNALLED, env=env(SIG=sig, TIMES="2"))
    code, _, err = finish(proc)
    assert code == 130, err
    assert err.strip().splitlines() == [
        f"neuralab: interrupted before {out} was written; its previous state is unchanged"]
    assert snapshot(out) == before
    assert sorted(os.listdir(tmp_path)) == ["run"]  # no new state, no lock left


def test_a_second_signal_while_a_new_run_is_written_leaves_nothing(tmp_path):
    out = tmp_path / "run"
    proc = start(train_args(out, 300), code=SIGNALLED, env=env(SIG="SIGINT", TIMES="2"))
    code, _, err = finish(proc)
    assert code == 130 and "nothing was written" in err, err
    assert os.listdir(tmp_path) == []


def test_an_interrupted_resume_still_writes_checkpoint_and_report(tmp_path):
    out = tmp_path / "run"
    assert main(train_args(out, 300)) == 0
    proc = start(["train", "--resume", out, "--iterations", 100_000_000, "--print-every", 100])
    for line in proc.stdout:
        if line.startswith("iteration 600:"):
            break
    proc.send_signal(signal.SIGINT)
    code, _, err = finish(proc)
    assert code == 130 and "interrupted after" in err, err
    config = read_config(out)
    assert config["interrupted"] is True and 600 <= config["steps"] < 100_000_000
    assert read_history(out / "history.csv")[-1]["step"] == config["steps"]
    assert load_checkpoint(out)[1]["sizes"] == [2, 16, 2]


def test_a_second_resume_is_refused_while_the_first_runs(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(train_args(out, 300)) == 0
    first = start(["train", "--resume", out, "--iterations", 100_000_000, "--print-every", 100])
    for line in first.stdout:  # the first holds the lock by the time it trains
        if line.startswith("iteration 400:"):
            break
    capsys.readouterr()
    code = main(resume_args(out, 50))
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1, err
    assert f"run directory {out} is being written by process {first.pid}" in err[0]
    assert (tmp_path / ".run.lock").read_text().split()[0] == str(first.pid)
    first.send_signal(signal.SIGINT)
    code, _, err = finish(first)
    assert code == 130, err
    steps = read_config(out)["steps"]
    assert steps >= 400 and read_history(out / "history.csv")[-1]["step"] == steps
    assert not (tmp_path / ".run.lock").exists()
    assert main(resume_args(out, 50)) == 0  # once it is done, the next one goes ahead
    assert read_config(out)["steps"] == steps + 50


def limited(nbytes):
    import resource

    def limit():
        resource.setrlimit(resource.RLIMIT_FSIZE, (nbytes, nbytes))
    return limit


@pytest.mark.parametrize("resume", [False, True], ids=["train", "resume"])
def test_a_full_disk_is_one_line_and_keeps_the_previous_state(tmp_path, resume):
    out = tmp_path / "run"
    if resume:
        assert main(train_args(out, 300)) == 0
    before = snapshot(out) if resume else None
    # files may grow to 60 kB: the report (about 300 kB) cannot be written
    proc = start(resume_args(out, 300) if resume else train_args(out, 300),
                 preexec_fn=limited(60_000))
    code, _, err = finish(proc)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1, err
    assert lines[0].startswith(f"neuralab: error: cannot write run directory {out}: File too large")
    if resume:
        assert lines[0].endswith("its previous state is unchanged")
        assert snapshot(out) == before
        assert sorted(os.listdir(tmp_path)) == ["run"]
    else:
        assert lines[0].endswith("nothing was written") and os.listdir(tmp_path) == []


def test_an_unwritable_out_is_one_line_before_training(tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    code = main(train_args(tmp_path / "file" / "run", 100_000_000))
    lines = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(lines) == 1
    assert lines[0].startswith(f"neuralab: error: --out {tmp_path / 'file' / 'run'} cannot be "
                               "written: Not a directory")


def test_a_read_only_run_is_refused_for_resume_with_one_line(tmp_path, capsys):
    from helpers import REFUSED, read_only

    out = tmp_path / "runs" / "run"
    assert main(train_args(out, 100)) == 0
    before = snapshot(out)
    with read_only(out.parent):
        code = main(resume_args(out, 100))
    lines = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and str(out) in lines[0], lines
    assert any(words in lines[0] for words in REFUSED), lines
    assert snapshot(out) == before


def test_a_run_left_half_swapped_by_a_kill_is_finished_by_the_next_reader(tmp_path):
    out = tmp_path / "run"
    assert main(train_args(out, 100)) == 0
    before = json.loads((out / "config.json").read_text())
    # a resume killed after its manifest, before its swap: a whole new state beside the old
    wrapper = tmp_path / ".run.new-abcdefgh"
    shutil.copytree(out, wrapper / "run")
    config = {**before, "steps": 200}
    (wrapper / "run" / "config.json").write_text(json.dumps(config))
    from neuralab.runs.state import write_manifest

    write_manifest(wrapper / "run", "abcdefgh", "update")
    assert read_config(out)["steps"] == 200  # rolled forward: the new state was whole
    assert sorted(os.listdir(tmp_path)) == ["run"]
