"""A sweep under faults: finished trials are on disk as they finish, a signal stops the
workers and keeps what is done, no worker outlives its parent, and --resume runs the rest."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import sigint_default

import neuralab
from neuralab import NeuralabError
from neuralab.cli import main
from neuralab.config import TrainSettings
from neuralab.data import load
from neuralab.sweep import parse_space, run_sweep

SRC = str(Path(neuralab.__file__).resolve().parents[1])
# 12 trials of a few tenths of a second each: a signal sent after the first one has
# finished finds the sweep still running on any machine
SPECS = ["-p", "lr=0.05,0.1,0.2,0.5", "-p", "hidden=8;16;32"]
OPTIONS = ["--dataset", "moons", *SPECS, "--iterations", "3000", "--seed", "3"]
TOTAL = 12
DEADLINE = 300.0


# --- helpers ---------------------------------------------------------------------------------

def _wait_for(condition, what: str, deadline: float = DEADLINE, proc=None):
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        value = condition()
        if value:
            return value
        if proc is not None and proc.poll() is not None:
            _, err = proc.communicate()
            pytest.fail(f"the sweep ended (status {proc.returncode}) before {what}:\n{err}")
        time.sleep(0.05)
    pytest.fail(f"gave up waiting for {what}")


def _rows(out: Path) -> list[dict]:
    path = out / "sweep.csv"
    if not path.is_file():
        return []
    with path.open(newline="") as fh:  # written atomically: always a whole file
        return list(csv.DictReader(fh))


def _table(out: Path) -> list[dict]:
    """sweep.csv without the wall-time column, which differs between any two runs."""
    return [{k: v for k, v in row.items() if k != "seconds"} for row in _rows(out)]


def _stat(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # the name (field 2) may hold spaces; the fields after it are plain
    return text[text.rindex(")") + 2:].split()


def _descendants(pid: int) -> dict[int, str]:
    """Every live process below ``pid``, with its start time (to tell a reused pid)."""
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat(int(entry.name))
            if fields is not None:
                parents[int(entry.name)] = (int(fields[1]), fields[19])
    found, todo = {}, [pid]
    while todo:
        parent = todo.pop()
        for child, (ppid, start) in parents.items():
            if ppid == parent and child not in found:
                found[child] = start
                todo.append(child)
    return found


def _alive(pid: int, start: str) -> bool:
    fields = _stat(pid)
    return fields is not None and fields[19] == start and fields[0] not in ("Z", "X")


def _start(out: Path, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": SRC, "COLUMNS": "200"}
    code = "import sys; from neuralab.cli import main; sys.exit(main())"
    return subprocess.Popen([sys.executable, "-c", code, "sweep", *OPTIONS, *extra,
                             "--out", str(out)], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            preexec_fn=sigint_default)


def _finish(proc: subprocess.Popen, timeout: float = DEADLINE) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


def _resume(out: Path, *extra: str) -> tuple[int, str, str]:
    env = {**os.environ, "PYTHONPATH": SRC, "COLUMNS": "200"}
    code = "import sys; from neuralab.cli import main; sys.exit(main())"
    done = subprocess.run([sys.executable, "-c", code, "sweep", *OPTIONS, *extra,
                           "--resume", str(out)], env=env, text=True, capture_output=True,
                          timeout=DEADLINE, check=False)
    return done.returncode, done.stdout, done.stderr


@pytest.fixture(scope="module")
def clean_table(tmp_path_factory) -> list[dict]:
    """The table of the same sweep run start to end without a fault."""
    out = tmp_path_factory.mktemp("clean") / "sweep"
    status, _, err = _finish(_start(out))
    assert status == 0, err
    table = _table(out)
    assert len(table) == TOTAL
    return table


def _interrupt(tmp_path: Path, sig: int, *extra: str):
    """Start a sweep, wait for a finished trial, send ``sig``; the process and its children."""
    out = tmp_path / "sweep"
    proc = _start(out, *extra)
    try:
        _wait_for(lambda: len(_rows(out)) >= 1, "a finished trial", proc=proc)
        if "--processes" in extra:
            _wait_for(lambda: len(_descendants(proc.pid)) >= 2, "the workers", proc=proc)
        children = _descendants(proc.pid)
        proc.send_signal(sig)
        status, stdout, stderr = _finish(proc, timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return out, status, stdout, stderr, children


def _check_no_survivors(children: dict[int, str]) -> None:
    _wait_for(lambda: not any(_alive(p, s) for p, s in children.items()),
              f"the sweep's processes {sorted(children)} to end", deadline=60)


# --- signals ---------------------------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.xdist_group(name="sweep_faults")  # one worker sweeps the clean table once
@pytest.mark.parametrize("sig, extra", [
    (signal.SIGTERM, ()),
    (signal.SIGTERM, ("--processes", "2")),
    (signal.SIGINT, ("--processes", "2")),
], ids=["sigterm-sequential", "sigterm-processes", "sigint-processes"])
def test_a_signal_keeps_the_finished_trials_and_resume_runs_the_rest(
        tmp_path, clean_table, sig, extra):
    out, status, _, stderr, children = _interrupt(tmp_path, sig, *extra)
    assert status == 130, stderr
    assert "Traceback" not in stderr
    assert f"--resume {out}" in stderr
    before = _rows(out)
    assert 1 <= len(before) < TOTAL
    summary = json.loads((out / "sweep.json").read_text())
    assert summary["interrupted"] is True and summary["n_done"] == len(before)
    assert summary["n_trials"] == TOTAL
    assert not (out / "best").exists()  # nothing retrained
    _check_no_survivors(children)

    status, stdout, stderr = _resume(out, *extra)
    assert status == 0, stderr
    assert f"{len(before)} of {TOTAL} trials read back from {out}" in stdout
    assert _table(out) == clean_table
    # the finished trials were read back, not run again: their wall times are the old ones
    seconds = {(r["lr"], r["hidden"]): r["seconds"] for r in _rows(out)}
    assert all(seconds[(r["lr"], r["hidden"])] == r["seconds"] for r in before)
    assert (out / "best" / "model.safetensors").is_file()
    assert json.loads((out / "sweep.json").read_text())["interrupted"] is False


@pytest.mark.slow
@pytest.mark.xdist_group(name="sweep_faults")
def test_workers_end_when_the_parent_is_killed_and_resume_still_works(tmp_path, clean_table):
    out, status, _, _, children = _interrupt(tmp_path, signal.SIGKILL, "--processes", "2")
    assert status == -signal.SIGKILL
    assert len(children) >= 2
    _check_no_survivors(children)
    before = _rows(out)
    assert 1 <= len(before) < TOTAL
    status, _, stderr = _resume(out, "--processes", "2")
    assert status == 0, stderr
    assert _table(out) == clean_table


# --- the library: written as they finish, resumed ------------------------------------------

FAST = TrainSettings(iterations=150, seed=0)
SPACE = parse_space(["lr=0.05,0.5", "hidden=4;16"])


def _interrupted_sweep(out: Path, n: int = 2):
    """A sweep that Ctrl-C stops after ``n`` trials; what sweep.json said at each trial."""
    data = load("moons", seed=0, n_per_class=40)
    seen: list[int] = []

    def on_trial(done, total, trial):
        seen.append(json.loads((out / "sweep.json").read_text())["n_done"])
        if done == n:
            raise KeyboardInterrupt

    result = run_sweep(data, FAST, SPACE, out=out, on_trial=on_trial)
    return data, result, seen


def test_every_finished_trial_is_on_disk_before_the_next_and_resume_completes(tmp_path):
    data, result, seen = _interrupted_sweep(tmp_path / "a")
    # sweep.json already listed each trial when on_trial heard of it
    assert seen == [1, 2]
    assert result.interrupted and len(result.trials) == 2
    resumed = run_sweep(data, FAST, SPACE, out=tmp_path / "a", resume=True, retrain=False)
    clean = run_sweep(data, FAST, SPACE, out=tmp_path / "b", retrain=False)
    assert resumed.resumed == 2 and clean.resumed == 0
    assert not resumed.interrupted and len(resumed.trials) == 4
    strip = [{k: v for k, v in row.items() if k != "seconds"} for row in clean.table()]
    assert [{k: v for k, v in row.items() if k != "seconds"}
            for row in resumed.table()] == strip
    assert _table(tmp_path / "a") == _table(tmp_path / "b")


def _tamper(out: Path, change) -> None:
    path = out / "sweep.json"
    summary = json.loads(path.read_text())
    change(summary)
    path.write_text(json.dumps(summary))


def _set_trial(key, value):
    def change(summary):
        summary["trials"][0][key] = value
    return change


@pytest.mark.parametrize("change, fragment", [
    (lambda s: s.clear(), "has no mode"),
    (lambda s: s.update(trials={"a": 1}), "trials must be a list"),
    (lambda s: s.update(trials=[1, 2]), "trial 0 must be an object, got int"),
    (lambda s: s["trials"].append(dict(s["trials"][0])), "is listed twice"),
    (_set_trial("number", 99), "number must be an integer in [0, 4)"),
    (_set_trial("number", True), "number must be an integer in [0, 4)"),
    (_set_trial("params", {"lr": 7.0, "hidden": [4]}), "params are not those of trial"),
    (_set_trial("settings", []), "settings are not those of trial"),
    (_set_trial("score", "high"), "score must be a number in [0, 1], got 'high'"),
    (_set_trial("score", 3.0), "score must be a number in [0, 1], got 3.0"),
    (_set_trial("val_loss", -1), "val_loss must be a number >= 0 or null"),
    (_set_trial("status", "great"), "status must be ok or failed"),
    (_set_trial("message", ["x"]), "message must be text"),
    (_set_trial("fold_accuracies", [0.5, 0.5]), "fold_accuracies must list 1 numbers"),
    (_set_trial("seconds", None), "seconds must be a number >= 0"),
    (lambda s: s["base_settings"].update(lr=9.0), "different base_settings"),
    (lambda s: s.update(mode="random"), "different mode"),
    (lambda s: s["data"].update(sha256="0" * 64), "different data"),
])
def test_resume_refuses_a_tampered_sweep_json_in_one_line(tmp_path, change, fragment):
    data, _, _ = _interrupted_sweep(tmp_path / "a")
    _tamper(tmp_path / "a", change)
    with pytest.raises(NeuralabError) as info:
        run_sweep(data, FAST, SPACE, out=tmp_path / "a", resume=True, retrain=False)
    message = str(info.value)
    assert fragment in message and "\n" not in message
    assert str(tmp_path / "a" / "sweep.json") in message


def test_resume_refuses_other_data_another_space_and_wrong_folders(tmp_path):
    data, _, _ = _interrupted_sweep(tmp_path / "a")
    other = load("moons", seed=1, n_per_class=40)
    with pytest.raises(NeuralabError, match="different data"):
        run_sweep(other, FAST, SPACE, out=tmp_path / "a", resume=True)
    with pytest.raises(NeuralabError, match="different varied"):
        run_sweep(data, FAST, parse_space(["lr=0.05,0.5"]), out=tmp_path / "a", resume=True)
    with pytest.raises(NeuralabError, match="seed is 0 there, 1 now"):
        run_sweep(data, FAST.replace(seed=1), SPACE, out=tmp_path / "a", resume=True)
    with pytest.raises(NeuralabError, match=r"base_settings.reg is 0.001 there, 0.01 now"):
        run_sweep(data, FAST.replace(reg=0.01), SPACE, out=tmp_path / "a", resume=True)
    with pytest.raises(NeuralabError, match="no sweep.json"):
        run_sweep(data, FAST, SPACE, out=tmp_path / "empty", resume=True)
    with pytest.raises(NeuralabError, match="not both"):
        run_sweep(data, FAST, SPACE, out=tmp_path / "a", resume=True, overwrite=True)
    with pytest.raises(NeuralabError, match="resume needs out"):
        run_sweep(data, FAST, SPACE, resume=True)
    (tmp_path / "a" / "sweep.json").write_text("[" * 100000)
    with pytest.raises(NeuralabError, match="not valid JSON"):
        run_sweep(data, FAST, SPACE, out=tmp_path / "a", resume=True)


def test_the_cli_names_resume_and_refuses_a_different_out(tmp_path, capsys):
    args = ["sweep", "--dataset", "moons", "-p", "lr=0.1", "--iterations", "20"]
    assert main([*args, "--resume", str(tmp_path / "nothing")]) == 2
    err = capsys.readouterr().err
    assert "--resume" in err and "no sweep.json" in err and "Traceback" not in err
    assert main([*args, "--resume", str(tmp_path / "a"), "--out", str(tmp_path / "b")]) == 2
    assert "--resume" in capsys.readouterr().err


def test_a_signal_while_the_best_retrains_says_so_and_exits_130(tmp_path, capsys, monkeypatch):
    import neuralab.sweep.run as sweep_run

    real = sweep_run.run_training
    sent = []

    def signalled(*args, **kwargs):
        def echo(line):  # called inside the training loop: SIGTERM arrives mid-training
            if not sent:
                sent.append(os.kill(os.getpid(), signal.SIGTERM))
        return real(*args, **{**kwargs, "print_every": 1, "echo": echo})

    monkeypatch.setattr(sweep_run, "run_training", signalled)
    out = tmp_path / "sweep"
    status = main(["sweep", "--dataset", "moons", "-p", "lr=0.1,0.5", "--iterations", "200",
                   "--out", str(out)])
    err = capsys.readouterr().err
    assert status == 130 and sent
    assert "retraining interrupted" in err and f"--resume {out}" in err
    summary = json.loads((out / "sweep.json").read_text())
    assert summary["best_run"]["interrupted"] is True and summary["n_done"] == 2
    config = json.loads((out / "best" / "config.json").read_text())
    assert config["interrupted"] is True


def test_a_sweep_that_cannot_write_its_files_stops_in_one_line(tmp_path):
    out = tmp_path / "sweep"
    data = load("moons", seed=0, n_per_class=40)

    def block(done, total, trial):  # a folder where the next sweep.csv must go
        (out / "sweep.csv").unlink()
        (out / "sweep.csv").mkdir()

    with pytest.raises(NeuralabError) as info:
        run_sweep(data, FAST, SPACE, out=out, on_trial=block, retrain=False)
    assert str(info.value).startswith(f"cannot write {out / 'sweep.csv'}: ")
    assert "\n" not in str(info.value)
