"""A sweep under faults: finished trials are in the study as they finish, a signal stops the
workers and keeps what is done, no worker outlives its parent, and --resume runs the rest
(from the study, study.journal); a study made for another sweep, or a damaged or foreign
study.journal, is refused in one line."""

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
from neuralab import ArgumentError, NeuralabError
from neuralab.cli import main
from neuralab.config import TrainSettings
from neuralab.data import load
from neuralab.sweep import parse_space, run_sweep

SRC = str(Path(neuralab.__file__).resolve().parents[1])
# 8 trials of a few tenths of a second each: a signal sent after the first one has
# finished finds the sweep still running on any machine
SPECS = ["-p", "lr=0.05,0.1,0.2,0.5", "-p", "hidden=8;32"]
OPTIONS = ["--dataset", "moons", *SPECS, "--iterations", "3000", "--seed", "3"]
TOTAL = 8
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
        if "--workers" in extra:
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
    (signal.SIGTERM, ("--workers", "2")),
    (signal.SIGINT, ("--workers", "2")),
], ids=["sigterm-sequential", "sigterm-workers", "sigint-workers"])
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
    assert summary["n_trials"] == TOTAL and summary["n_pending"] == TOTAL - len(before)
    assert not (out / "best").exists()  # nothing retrained
    _check_no_survivors(children)

    status, stdout, stderr = _resume(out, *extra)
    assert status == 0, stderr
    assert f"{TOTAL} of {TOTAL} trials finished" in stdout
    assert f"({len(before)} finished before this run)" in stdout
    assert _table(out) == clean_table
    # the finished trials were read back, not run again: their wall times are the old ones
    seconds = {(r["lr"], r["hidden"]): r["seconds"] for r in _rows(out)}
    assert all(seconds[(r["lr"], r["hidden"])] == r["seconds"] for r in before)
    assert (out / "best" / "model.safetensors").is_file()
    assert json.loads((out / "sweep.json").read_text())["interrupted"] is False


@pytest.mark.slow
@pytest.mark.xdist_group(name="sweep_faults")
def test_workers_end_when_the_parent_is_killed_and_resume_runs_only_the_rest(
        tmp_path, clean_table):
    out, status, _, _, children = _interrupt(tmp_path, signal.SIGKILL, "--workers", "2")
    assert status == -signal.SIGKILL
    assert len(children) >= 2
    _check_no_survivors(children)
    before = _rows(out)
    assert 1 <= len(before) < TOTAL
    # the killed workers' trials are left running in the study; the next run queues them again
    status, stdout, stderr = _resume(out, "--processes", "2")  # --processes: --workers' old name
    assert status == 0, stderr
    assert _table(out) == clean_table
    seconds = {(r["lr"], r["hidden"]): r["seconds"] for r in _rows(out)}
    assert all(seconds[(r["lr"], r["hidden"])] == r["seconds"] for r in before)
    assert _results_per_slot(out / "study.journal") == dict.fromkeys(range(TOTAL), 1)


def _results_per_slot(journal: Path) -> dict[int, int]:
    """How many finished trials of the study in ``journal`` hold a result, per slot."""
    import optuna
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    study = optuna.load_study(study_name="sweep",
                              storage=JournalStorage(JournalFileBackend(str(journal))))
    counts: dict[int, int] = {}
    for t in study.get_trials(deepcopy=False):
        if t.state.is_finished() and "result" in t.user_attrs:
            counts[t.user_attrs["slot"]] = counts.get(t.user_attrs["slot"], 0) + 1
    assert not [t for t in study.get_trials(deepcopy=False) if not t.state.is_finished()]
    return dict(sorted(counts.items()))


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


def test_resume_refuses_other_data_another_space_and_wrong_folders(tmp_path):
    data, _, _ = _interrupted_sweep(tmp_path / "a")
    other = load("moons", seed=1, n_per_class=40)

    def refused(*args, **kwargs) -> str:
        with pytest.raises(ArgumentError) as info:
            run_sweep(*args, out=tmp_path / "a", resume=True, retrain=False, **kwargs)
        message = str(info.value)
        assert "\n" not in message and info.value.argument == "study", message
        assert message.startswith(f"study 'sweep' in journal:{tmp_path / 'a' / 'study.journal'} "
                                  "was made for another sweep: its.")
        return message

    assert "its.data.sha256 is" in refused(other, FAST, SPACE)
    assert "its.space.lr is [0.05, 0.5] there, [0.05, 0.1] now" in refused(
        data, FAST, parse_space(["lr=0.05,0.1", "hidden=4;16"]))
    assert "its.space.hidden is ['4', '16'] there, None now" in refused(
        data, FAST, parse_space(["lr=0.05,0.5"]))
    assert "seed is 0 there, 1 now" in refused(data, FAST.replace(seed=1), SPACE)
    assert "its.base_settings.reg is 0.001 there, 0.01 now" in refused(
        data, FAST.replace(reg=0.01), SPACE)
    assert "its.sampler is 'grid' there, 'random' now" in refused(
        data, FAST, SPACE, sampler="random", n_trials=4)
    assert "its.scoring.method is 'holdout' there, 'kfold' now" in refused(
        data, FAST, SPACE, folds=3)
    with pytest.raises(NeuralabError, match="no study.journal there"):
        run_sweep(data, FAST, SPACE, out=tmp_path / "empty", resume=True)
    with pytest.raises(NeuralabError, match="not both"):
        run_sweep(data, FAST, SPACE, out=tmp_path / "a", resume=True, overwrite=True)
    with pytest.raises(NeuralabError, match="resume needs out"):
        run_sweep(data, FAST, SPACE, resume=True)
    # none of that touched the study: the sweep still resumes
    assert run_sweep(data, FAST, SPACE, out=tmp_path / "a", resume=True,
                     retrain=False).resumed == 2


def _foreign(journal: Path, trials: int) -> None:
    """An Optuna study named "sweep" in ``journal`` that neuralab did not make."""
    import optuna
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(study_name="sweep",
                                storage=JournalStorage(JournalFileBackend(str(journal))))
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=trials)


def _damage(kind: str):
    def change(journal: Path) -> None:
        lines = journal.read_bytes().splitlines(keepends=True)
        if kind == "garbage":
            journal.write_bytes(b"not a journal {{{\n")
        elif kind == "binary":
            journal.write_bytes(bytes(range(256)) * 4)
        elif kind == "bad-middle-line":
            journal.write_bytes(b"".join([*lines[:2], b"{oops\n", *lines[2:]]))
        elif kind == "unknown-op":
            journal.write_bytes(b"".join([*lines, b'{"op_code": 99, "worker_id": "w"}\n']))
        elif kind == "truncated":  # the study and some slots, but not its definition
            journal.write_bytes(b"".join(lines[:3]))
        elif kind == "empty":
            journal.write_bytes(b"")
        elif kind == "foreign":
            journal.unlink()
            _foreign(journal, 2)
        elif kind == "foreign-empty":
            journal.unlink()
            _foreign(journal, 0)
    return change


@pytest.mark.parametrize("kind, fragment", [
    ("garbage", "does not exist; it holds no study"),
    ("binary", "is not a journal neuralab can read (UnicodeDecodeError: "),
    ("empty", "does not exist; it holds no study"),
    ("bad-middle-line", "is not a journal neuralab can read (JSONDecodeError: "),
    ("unknown-op", "is not a journal neuralab can read (AssertionError: "),
    ("truncated", "was not made by neuralab sweep (it has no sweep definition)"),
    ("foreign", "was not made by neuralab sweep (it has no sweep definition)"),
    ("foreign-empty", "was not made by neuralab sweep (it has no sweep definition)"),
])
def test_resume_refuses_a_damaged_or_foreign_study_journal_in_one_line(tmp_path, kind, fragment):
    data, _, _ = _interrupted_sweep(tmp_path / "a")
    journal = tmp_path / "a" / "study.journal"
    _damage(kind)(journal)
    with pytest.raises(NeuralabError) as info:
        run_sweep(data, FAST, SPACE, out=tmp_path / "a", resume=True, retrain=False)
    message = str(info.value)
    assert fragment in message and "\n" not in message, message
    assert str(journal) in message


@pytest.mark.parametrize("kind", ["unknown-op", "foreign"])
def test_the_cli_refuses_a_damaged_or_foreign_study_journal_with_status_2(tmp_path, capsys, kind):
    out = tmp_path / "sweep"
    args = ["sweep", "--dataset", "moons", "-p", "lr=0.1,0.5", "--iterations", "50"]
    assert main([*args, "--out", str(out)]) == 0
    _damage(kind)(out / "study.journal")
    capsys.readouterr()
    assert main([*args, "--resume", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("neuralab: error: ") and err.count("\n") == 1, err
    assert str(out / "study.journal") in err
    assert main(["sweep", "--show", "--resume", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("neuralab: error: ") and err.count("\n") == 1, err


def test_a_new_sweep_joining_a_foreign_study_is_refused_without_waiting(tmp_path):
    # a study with trials of its own is no sweep being set up: no wait for its definition
    import time

    journal = tmp_path / "other.journal"
    _foreign(journal, 2)
    start = time.monotonic()
    with pytest.raises(ArgumentError, match="was not made by neuralab sweep") as info:
        run_sweep(load("moons", seed=0, n_per_class=40), FAST, SPACE, storage=str(journal),
                  retrain=False)
    assert time.monotonic() - start < 30 and "after" not in str(info.value)


def test_a_sweep_waits_for_a_study_being_set_up_but_not_forever(tmp_path, monkeypatch):
    # an empty study with this name: perhaps another worker is adding its slots right now
    import neuralab.sweep.study as study_module

    monkeypatch.setattr(study_module, "SETUP_SECONDS", 1.0)
    journal = tmp_path / "other.journal"
    _foreign(journal, 0)
    with pytest.raises(ArgumentError, match=r"no sweep definition after 1 s\); give another"):
        run_sweep(load("moons", seed=0, n_per_class=40), FAST, SPACE, storage=str(journal),
                  retrain=False)


@pytest.mark.parametrize("change, fragment", [
    (lambda r: r.update(status="great"), "status must be one of ok, pruned, failed, got 'great'"),
    (lambda r: r.update(score=3.0), "score must be a number in [0, 1], got 3.0"),
    (lambda r: r.update(score="high"), "score must be a number in [0, 1], got 'high'"),
    (lambda r: r.update(val_loss=-1), "val_loss must be a number >= 0 or null"),
    (lambda r: r.update(message=["x"]), "message must be text"),
    (lambda r: r.update(fold_accuracies=[0.5, 0.5]), "fold_accuracies must list 1 numbers"),
    (lambda r: r.update(seconds=None), "seconds must be a number >= 0"),
    (lambda r: r.clear(), "status must be one of ok, pruned, failed, got None"),
])
def test_resume_refuses_a_tampered_trial_result_in_one_line(tmp_path, change, fragment):
    # a shared study can be written by anyone who reaches it: results are checked when read
    data, _, _ = _interrupted_sweep(tmp_path / "a")
    journal = tmp_path / "a" / "study.journal"
    logs = [json.loads(line) for line in journal.read_text().splitlines()]
    tampered = next(log for log in logs if "result" in log.get("user_attr", {}))
    change(tampered["user_attr"]["result"])
    journal.write_text("".join(json.dumps(log) + "\n" for log in logs))
    with pytest.raises(NeuralabError) as info:
        run_sweep(data, FAST, SPACE, out=tmp_path / "a", resume=True, retrain=False)
    message = str(info.value)
    assert fragment in message and "\n" not in message, message
    assert message.startswith("study 'sweep': trial ")


def test_the_cli_names_resume_and_refuses_a_different_out(tmp_path, capsys):
    args = ["sweep", "--dataset", "moons", "-p", "lr=0.1", "--iterations", "20"]
    assert main([*args, "--resume", str(tmp_path / "nothing")]) == 2
    err = capsys.readouterr().err
    assert "--resume" in err and "no study.journal" in err and "Traceback" not in err
    assert main([*args, "--resume", str(tmp_path / "a"), "--out", str(tmp_path / "b")]) == 2
    assert "--resume" in capsys.readouterr().err


def test_a_signal_while_the_best_retrains_says_so_and_exits_130(tmp_path, capsys, monkeypatch):
    import neuralab.sweep.ahead as sweep_ahead

    real = sweep_ahead.run_training
    sent = []

    def signalled(*args, **kwargs):
        def echo(line):  # called inside the training loop: SIGTERM arrives mid-training
            if not sent:
                sent.append(os.kill(os.getpid(), signal.SIGTERM))
        return real(*args, **{**kwargs, "print_every": 1, "echo": echo})

    monkeypatch.setattr(sweep_ahead, "run_training", signalled)
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
