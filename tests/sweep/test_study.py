"""The sweep as an Optuna study: samplers, pruning, workers that share one study (a journal
file or a PostgreSQL server), workers killed mid-trial, a sweep run again, bad storage.

A study's trials are *slots*: every slot must end with exactly one finished trial that
holds a result (:func:`_results_per_slot`), however many workers took part and whichever
of them died.
"""

from __future__ import annotations

import csv
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import sigint_default
from postgres import postgres_server

import neuralab
from neuralab import ArgumentError
from neuralab.config import TrainSettings
from neuralab.data import load
from neuralab.sweep import LogUniform, Range, grid, parse_space, run_sweep

SRC = str(Path(neuralab.__file__).resolve().parents[1])
FAST = TrainSettings(iterations=100, seed=0)
#: generous: nothing here waits on a machine's speed, only on a process to get somewhere
DEADLINE = 300.0


def _moons(n_per_class: int = 40):
    return load("moons", seed=0, n_per_class=n_per_class)


# --- the study, read as a test sees it -------------------------------------------------------

_STORAGES: dict = {}


def _optuna_study(storage: str, study: str):
    """The study as Optuna loads it (one connection pool per database for the module)."""
    import optuna

    from neuralab.sweep.study import open_storage

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    url = storage if "://" in storage else f"journal:{storage}"
    if url not in _STORAGES:
        _STORAGES[url] = open_storage(url)
    return optuna.load_study(study_name=study, storage=_STORAGES[url])


def _trials(storage: str, study: str) -> list:
    return _optuna_study(storage, study).get_trials(deepcopy=False)


def _results_per_slot(storage: str, study: str) -> dict[int, int]:
    """How many finished trials hold a result, per slot; no trial may be left unfinished."""
    trials = _trials(storage, study)
    unfinished = [(t.number, t.state.name) for t in trials if not t.state.is_finished()]
    assert not unfinished, f"trials left unfinished: {unfinished}"
    counts: dict[int, int] = {}
    for t in trials:
        if "result" in t.user_attrs:
            counts[t.user_attrs["slot"]] = counts.get(t.user_attrs["slot"], 0) + 1
    return dict(sorted(counts.items()))


def _requeued(storage: str, study: str) -> list:
    """Slots' trials stopped mid-run and queued again: failed, with no result.

    (A worker that asks for a trial just as another takes the last waiting slot gets
    a trial that is no slot; it fails that one at once.)
    """
    return [t for t in _trials(storage, study)
            if t.state.name == "FAIL" and "slot" in t.user_attrs and "result" not in t.user_attrs]


def _wait_for(condition, what: str, *, procs=(), deadline: float = DEADLINE):
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        value = condition()
        if value:
            return value
        for proc in procs:
            if proc.poll() is not None:
                out, err = proc.communicate()
                pytest.fail(f"a sweep ended (status {proc.returncode}) before {what}:\n"
                            f"{out}\n{err}")
        time.sleep(0.05)
    pytest.fail(f"gave up waiting for {what}")


def _children(pid: int) -> set[int]:
    """Every live process below ``pid``."""
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                text = (entry / "stat").read_text()
            except OSError:
                continue
            fields = text[text.rindex(")") + 2:].split()
            if fields[0] not in ("Z", "X"):
                parents[int(entry.name)] = int(fields[1])
    found, todo = set(), [pid]
    while todo:
        parent = todo.pop()
        for child, ppid in parents.items():
            if ppid == parent and child not in found:
                found.add(child)
                todo.append(child)
    return found


# --- the command line in another process -----------------------------------------------------

#: 12 slots of a few hundredths of a second to a few tenths each
GRID = ["-p", "lr=0.05,0.1,0.2,0.5", "-p", "hidden=8;16;32"]
SLOTS = 12


def _start(*args: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": SRC, "COLUMNS": "200"}
    code = "import sys; from neuralab.cli import main; sys.exit(main())"
    return subprocess.Popen([sys.executable, "-c", code, *map(str, args)], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            preexec_fn=sigint_default)


def _sweep_args(storage: str, study: str, out: Path, *extra: str,
                iterations: int = 1000) -> list[str]:
    return ["sweep", "--dataset", "moons", *GRID, "--iterations", str(iterations), "--seed", "3",
            "--storage", storage, "--study", study, "--out", str(out), *extra]


def _finish(proc: subprocess.Popen) -> tuple[int, str, str]:
    try:
        out, err = proc.communicate(timeout=DEADLINE)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return proc.returncode, out, err


def _csv(path: Path) -> list[dict]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


# --- storages --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def postgres_url():
    """One private PostgreSQL server for the module; each test uses its own study names."""
    with postgres_server() as url:
        yield url


@pytest.fixture(params=["journal", "postgres"])
def shared(request, tmp_path):
    """A storage that several processes share: a journal file, or a PostgreSQL database."""
    if request.param == "journal":
        return str(tmp_path / "shared.journal")
    return request.getfixturevalue("postgres_url")


def _study_name(request) -> str:
    """A study name of this test alone (the PostgreSQL database is the module's)."""
    name = request.node.name.replace("[", "-").replace("]", "")
    return "".join(c if c.isalnum() or c in "_.-" else "-" for c in name)[-100:].lstrip("-_.")


# --- samplers --------------------------------------------------------------------------------

def test_the_grid_sampler_is_the_default_when_every_setting_is_a_list():
    space = parse_space(["lr=0.05,0.5", "hidden=4;16"])
    result = run_sweep(_moons(), FAST, space, retrain=False)
    assert (result.sampler, result.pruner, result.total) == ("grid", "none", 4)
    # one slot per grid point, in the grid's order
    assert [t.params for t in sorted(result.trials, key=lambda t: t.number)] == grid(space)


def test_tpe_is_the_default_with_a_range_and_random_draws_when_asked():
    space = parse_space(["lr=loguniform:0.01:1", "hidden=4;16"])
    tpe = run_sweep(_moons(), FAST, space, n_trials=6, retrain=False)
    assert (tpe.sampler, tpe.pruner, tpe.total) == ("tpe", "median", 6)
    assert sorted(t.number for t in tpe.trials) == list(range(6))
    rnd = run_sweep(_moons(), FAST, space, sampler="random", n_trials=5, pruner="none",
                    retrain=False)
    assert (rnd.sampler, rnd.pruner, len(rnd.trials)) == ("random", "none", 5)
    assert all(t.ok for t in rnd.trials)
    # a grid may be drawn from too: the listed values are its choices
    drawn = run_sweep(_moons(), FAST, {"lr": [0.05, 0.5]}, sampler="random", n_trials=4,
                      retrain=False)
    assert {t.params["lr"] for t in drawn.trials} <= {0.05, 0.5} and drawn.total == 4


@pytest.mark.parametrize("sampler", ["tpe", "random"])
def test_the_same_seed_and_one_worker_run_the_same_trials(sampler):
    # 12 trials: TPE's own draws start after its 10 random ones
    space = parse_space(["lr=loguniform:1e-3:1", "iterations=uniform:40:90", "hidden=4;16"])

    def sweep(seed: int):
        result = run_sweep(_moons(30), FAST.replace(seed=seed), space, sampler=sampler,
                           n_trials=12, retrain=False)
        return [(t.number, t.params, t.status, t.score if t.ok else None)
                for t in sorted(result.trials, key=lambda t: t.number)]

    first = sweep(0)
    assert len(first) == 12
    assert sweep(0) == first
    assert [p for _, p, _, _ in sweep(1)] != [p for _, p, _, _ in first]


def test_draws_stay_in_their_ranges_and_integer_ranges_draw_whole_numbers():
    import optuna

    from neuralab.sweep.study import suggest

    space = parse_space(["lr=loguniform:1e-3:1", "momentum=uniform:0.5:0.9",
                         "iterations=uniform:40:90", "epochs=loguniform:1:1000",
                         "hidden=32;64x32", "batch_size=full,32"])
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=7))
    draws = []
    for _ in range(300):
        trial = study.ask()
        draws.append(suggest(trial, space))
        study.tell(trial, 0.0)
    lrs = [d["lr"] for d in draws]
    assert all(1e-3 <= v <= 1 and type(v) is float for v in lrs)
    assert all(0.5 <= d["momentum"] <= 0.9 for d in draws)
    for name, low, high in (("iterations", 40, 90), ("epochs", 1, 1000)):
        values = [d[name] for d in draws]
        assert all(type(v) is int and low <= v <= high for v in values), name
        assert min(values) < (low + high) / 2 < max(values)
    # log-uniform: about half the draws below the geometric middle, not almost none
    assert 0.35 < sum(v < math.sqrt(1e-3) for v in lrs) / len(lrs) < 0.65
    assert sum(d["epochs"] < math.sqrt(1000) for d in draws) / len(draws) > 0.35
    assert {tuple(d["hidden"]) for d in draws} == {(32,), (64, 32)}
    assert {d["batch_size"] for d in draws} == {None, 32}


def test_a_sweep_over_ranges_keeps_every_trial_in_them(tmp_path):
    space = {"lr": LogUniform(0.05, 1.0), "iterations": ("uniform", 40, 90),
             "momentum": Range(0.5, 0.9)}
    result = run_sweep(_moons(30), FAST, space, sampler="random", n_trials=8, pruner="none",
                       out=tmp_path / "sweep", retrain=False)
    assert len(result.trials) == 8
    for t in result.trials:
        assert 0.05 <= t.params["lr"] <= 1 and 0.5 <= t.params["momentum"] <= 0.9
        assert type(t.params["iterations"]) is int and 40 <= t.params["iterations"] <= 90
        assert t.settings["iterations"] == t.params["iterations"]  # the trial trained that long
    rows = _csv(tmp_path / "sweep" / "sweep.csv")
    assert all(r["iterations"].isdigit() and 40 <= int(r["iterations"]) <= 90 for r in rows)


# --- pruning ---------------------------------------------------------------------------------

#: four good learning rates first (the median pruner judges once four trials finished), then
#: one that cannot learn anything in 150 steps
HOPELESS = ["-p", "lr=0.5,0.4,0.3,0.2,0.0001", "--iterations", "150"]


def test_the_median_pruner_stops_a_hopeless_trial_and_says_so(tmp_path, cli):
    out = tmp_path / "sweep"
    status, stdout, stderr = cli("sweep", "--dataset", "moons", *HOPELESS, "--pruner", "median",
                                 "--out", out)
    assert status == 0, stderr
    rows = _csv(out / "sweep.csv")
    pruned = [r for r in rows if r["status"] == "pruned"]
    assert [r["lr"] for r in pruned] == ["0.0001"]
    assert pruned[0]["rank"] == "" and pruned[0]["score"] == ""
    assert pruned[0]["message"].startswith("pruned at step ")
    assert "lagged the other trials' at that step" in pruned[0]["message"]
    assert [r["status"] for r in rows[:4]] == ["ok"] * 4 and rows[-1] is pruned[0]
    # the table and the summary line say so too
    assert "[5/5] lr=0.0001: pruned" in stdout
    table_row = next(line for line in stdout.splitlines() if "0.0001" in line and "│" in line)
    assert "pruned" in table_row
    assert "5 of 5 trials finished, 1 pruned" in stdout
    assert (out / "best" / "model.safetensors").is_file()  # the best ok trial is retrained


def test_no_pruner_prunes_nothing(tmp_path):
    space = {"lr": [0.5, 0.4, 0.3, 0.2, 0.0001]}
    result = run_sweep(load("moons", seed=0), FAST.replace(iterations=150), space, pruner="none",
                       out=tmp_path / "sweep", retrain=False)
    assert [r["status"] for r in _csv(tmp_path / "sweep" / "sweep.csv")] == ["ok"] * 5
    assert result.n_pruned == 0 and result.pruner == "none"


@pytest.mark.parametrize("pruner", ["median", "hyperband"])
def test_pruned_trials_are_listed_after_the_ok_ones_and_never_ranked(pruner):
    space = parse_space(["lr=loguniform:1e-5:1"])
    result = run_sweep(_moons(30), FAST, space, sampler="random", n_trials=12, pruner=pruner,
                       retrain=False)
    assert result.pruner == pruner and len(result.trials) == 12
    statuses = [t.status for t in result.trials]
    assert statuses == sorted(statuses, key=("ok", "pruned", "failed").index)
    assert all((t.rank is None) == (not t.ok) for t in result.trials)
    assert result.n_pruned == statuses.count("pruned")
    if pruner == "median":  # lr down to 1e-5 learns nothing in 100 steps: some are stopped
        assert result.n_pruned >= 1


# --- workers sharing one study ---------------------------------------------------------------

def test_two_worker_processes_run_every_slot_once(request, tmp_path, shared):
    name = _study_name(request)
    space = parse_space(["lr=0.05,0.1,0.2,0.5", "hidden=4;16"])
    result = run_sweep(_moons(), FAST, space, workers=2, storage=shared, study=name,
                       out=tmp_path / "sweep", retrain=False)
    assert _results_per_slot(shared, name) == dict.fromkeys(range(8), 1)
    assert len(result.trials) == 8 and result.pending == 0 and not result.interrupted
    assert len(_csv(tmp_path / "sweep" / "sweep.csv")) == 8
    assert not (tmp_path / "sweep" / "study.journal").exists()  # the study is in the storage
    # the worker processes ran the trials, not this one
    pids = {t.user_attrs["worker"]["pid"]
            for t in _trials(shared, name) if "result" in t.user_attrs}
    assert os.getpid() not in pids


# Each test below runs sweeps as separate processes (~5 s each), so each runs on one storage:
# two sweeps on a journal file, a worker process killed on a journal file, and one of two
# sweeps killed on PostgreSQL. test_two_worker_processes_run_every_slot_once runs on both.

@pytest.mark.slow
def test_two_sweep_processes_on_one_journal_run_every_slot_once_and_show_it(tmp_path, cli):
    shared, name = str(tmp_path / "shared.journal"), "two-sweeps"
    # started together: both try to create the study, one makes it and the other joins
    procs = [_start(*_sweep_args(shared, name, tmp_path / f"out{i}")) for i in range(2)]
    finished = [_finish(p) for p in procs]
    for status, _, stderr in finished:
        assert status == 0, stderr
    assert _results_per_slot(shared, name) == dict.fromkeys(range(SLOTS), 1)
    stdouts = "".join(out for _, out, _ in finished)
    # the worker that finished last retrained the best trial, and its sweep.csv lists all
    assert "best trial retrained" in stdouts
    assert any(len(_csv(tmp_path / f"out{i}" / "sweep.csv")) == SLOTS for i in range(2))

    _check_show(cli, shared, name)


def _check_show(cli, storage: str, name: str) -> str:
    """``neuralab sweep --show``: the combined leaderboard of every slot, ranked."""
    status, stdout, stderr = cli("sweep", "--show", "--storage", storage, "--study", name)
    assert status == 0, stderr
    rows = [line for line in stdout.splitlines() if line.startswith("│")]
    assert len(rows) == SLOTS and all(" ok " in row for row in rows)
    assert [int(row.split("│")[1]) for row in rows] == list(range(1, SLOTS + 1))
    assert f"{SLOTS} of {SLOTS} trials finished" in stdout and f"(study {name} in " in stdout
    return stdout


def _running(storage: str, study: str, *, pid: int | None = None, not_pid: int | None = None,
             waiting: int = 0) -> int | None:
    """The pid of a worker (``pid``, or any but ``not_pid``) that is in a trial (its result not
    yet stored) while at least ``waiting`` slots wait; else None."""
    if not _study_exists(storage, study):
        return None
    trials = _trials(storage, study)
    if sum(t.state.name == "WAITING" for t in trials) < waiting:
        return None
    for t in trials:
        worker = t.user_attrs.get("worker")
        if (t.state.name == "RUNNING" and worker and "result" not in t.user_attrs
                and worker["pid"] != not_pid and pid in (None, worker["pid"])):
            return worker["pid"]
    return None


def _stop_in_a_trial(storage: str, study: str, procs, **which) -> int:
    """SIGSTOP a worker that is in a trial (:func:`_running`), checked once it is stopped: it
    stays in that trial, its result not stored, until it is killed. Its pid."""
    while True:
        pid = _wait_for(lambda: _running(storage, study, **which), "a worker in a trial",
                        procs=procs)
        try:
            os.kill(pid, signal.SIGSTOP)
        except ProcessLookupError:
            continue
        if _running(storage, study, **{**which, "pid": pid}) == pid:
            return pid
        os.kill(pid, signal.SIGCONT)  # it had just finished that trial: try again


def _study_exists(storage: str, study: str) -> bool:
    try:
        return "neuralab" in _optuna_study(storage, study).user_attrs
    except (KeyError, OSError, ValueError, ArgumentError):
        return False


@pytest.mark.slow
def test_a_worker_process_killed_mid_trial_leaves_nothing_lost(tmp_path):
    shared, name = str(tmp_path / "shared.journal"), "killed-worker"
    proc = _start(*_sweep_args(shared, name, tmp_path / "sweep", "--workers", "2"))
    try:
        victim = _stop_in_a_trial(shared, name, [proc], not_pid=proc.pid)
        os.kill(victim, signal.SIGKILL)
    finally:
        status, stdout, stderr = _finish(proc)
    assert status == 0, stderr
    assert "best trial retrained" in stdout and f"{SLOTS} of {SLOTS} trials finished" in stdout
    assert _results_per_slot(shared, name) == dict.fromkeys(range(SLOTS), 1)
    # the killed worker's trial was queued again and run by another worker: only it stopped
    stopped = _requeued(shared, name)
    assert [t.user_attrs["worker"]["pid"] for t in stopped] == [victim]
    assert len(_csv(tmp_path / "sweep" / "sweep.csv")) == SLOTS


@pytest.mark.slow
def test_one_of_two_sweeps_on_postgresql_killed_mid_trial_the_other_finishes_every_slot(
        tmp_path, cli, postgres_url):
    # a password is never printed or written (the test server's trust auth ignores it)
    shared, name = postgres_url.replace("postgres@", "postgres:hunter2@"), "killed-sweep"
    a, b = (_start(*_sweep_args(shared, name, tmp_path / x)) for x in "ab")
    try:
        # sweep a is stopped in a trial while slots still wait, so that b must take them (b
        # ends only once none waits, after a is gone); then a is killed
        _stop_in_a_trial(shared, name, [a, b], pid=a.pid, waiting=2)
        a.kill()
        a.wait()
        status, stdout, stderr = _finish(b)
    finally:
        for proc in (a, b):
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert status == 0, stderr
    assert "best trial retrained" in stdout and f"{SLOTS} of {SLOTS} trials finished" in stdout
    assert _results_per_slot(shared, name) == dict.fromkeys(range(SLOTS), 1)
    stopped = _requeued(shared, name)
    assert [t.user_attrs["worker"]["pid"] for t in stopped] == [a.pid]
    assert len(_csv(tmp_path / "b" / "sweep.csv")) == SLOTS
    shown = _check_show(cli, shared, name)
    assert "postgres:***@" in shown
    assert "hunter2" not in stdout + stderr + shown + (tmp_path / "b" / "sweep.json").read_text()


# --- a sweep run again -----------------------------------------------------------------------

@pytest.fixture(params=["journal", "sqlite", "postgres"])
def storage(request, tmp_path):
    if request.param == "journal":
        return str(tmp_path / "study.journal")
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'study.db'}"
    return request.getfixturevalue("postgres_url")


def test_a_sweep_run_again_on_its_study_runs_only_the_unfinished_slots(request, storage):
    name = _study_name(request)
    space = parse_space(["lr=0.05,0.1,0.2,0.5", "hidden=4;16"])
    heard = []

    def stop_after_three(done, total, trial):
        heard.append(trial.number)
        if done == 3:
            raise KeyboardInterrupt

    first = run_sweep(_moons(), FAST, space, storage=storage, study=name,
                      on_trial=stop_after_three)
    assert first.interrupted and len(first.trials) == 3 and first.pending == 5
    assert first.best_run is None
    again_heard = []
    again = run_sweep(_moons(), FAST, space, storage=storage, study=name, retrain=False,
                      on_trial=lambda done, total, t: again_heard.append((done, total, t.number)))
    assert again.resumed == 3 and len(again.trials) == 8 and again.pending == 0
    # only the five unfinished slots ran, each once; the first three were read back
    assert [done for done, _, _ in again_heard] == [4, 5, 6, 7, 8]
    assert sorted(n for _, _, n in again_heard) == sorted(set(range(8)) - set(heard))
    assert _results_per_slot(storage, name) == dict.fromkeys(range(8), 1)
    # and a third run has nothing left to do
    third = run_sweep(_moons(), FAST, space, storage=storage, study=name, retrain=False,
                      on_trial=lambda *a: pytest.fail("a finished slot ran again"))
    assert third.resumed == 8
    before = {t.number: t.seconds for t in again.trials}
    assert {t.number: t.seconds for t in third.trials} == before


# --- bad input -------------------------------------------------------------------------------

def _refused(cli, *args) -> str:
    """Run ``neuralab sweep ...`` expecting a one-line refusal; no process may be left behind."""
    before = _children(os.getpid())
    status, stdout, stderr = cli("sweep", *args)
    assert status == 2, (stdout, stderr)
    assert stderr.startswith("neuralab: error: ") and stderr.count("\n") == 1, stderr
    assert "Traceback" not in stderr
    assert _children(os.getpid()) <= before
    return stderr


MOONS = ["--dataset", "moons", "--iterations", "50"]


@pytest.mark.parametrize("storage, fragment", [
    ("postgresql+psycopg2://u@/db?host=/nonexistent",
     "--storage postgresql+psycopg2://u@/db?host=/nonexistent cannot be reached: "),
    ("mongodb://host/db", "the scheme must be one of sqlite, postgresql"),
    ("http://host/db", "got 'http'"),
    ("postgresql://ann:secret@/db?host=/nonexistent", "postgresql://ann:***@/db"),
    ("{dir}/missing/study.journal", "its folder {dir}/missing does not exist"),
    ("sqlite:///{dir}/missing/study.db", "cannot be reached: unable to open database file"),
])
def test_a_storage_that_cannot_be_used_is_refused_in_one_line(tmp_path, cli, storage, fragment):
    storage, fragment = (s.replace("{dir}", str(tmp_path)) for s in (storage, fragment))
    err = _refused(cli, *MOONS, "-p", "lr=0.1,0.5", "--workers", "2", "--storage", storage,
                   "--out", tmp_path / "sweep")
    assert fragment in err and "secret" not in err


@pytest.mark.parametrize("study", ["has space", "-dash", "", "x" * 129, "a/b"])
def test_a_bad_study_name_is_refused_in_one_line(tmp_path, cli, study):
    err = _refused(cli, *MOONS, "-p", "lr=0.1", "--study", study, "--out", tmp_path / "sweep")
    assert "--study must be 1 to 128 letters, digits, '_', '.' or '-'" in err


@pytest.mark.parametrize("args, fragment", [
    (["-p", "lr=loguniform:0.01:1"], "--n-trials is missing: the tpe sampler needs"),
    (["-p", "lr=0.1,0.5", "--n-trials", "3"], "--n-trials is for the tpe and random samplers"),
    (["-p", "lr=loguniform:0.01:1", "--sampler", "grid"], "pass --sampler tpe or random"),
    (["-p", "lr=0.1", "--random", "3", "--sampler", "tpe"], "--random N is short for"),
    (["-p", "lr=0.1", "--sampler", "bayes"], "--sampler must be one of grid, tpe, random"),
    (["-p", "lr=0.1", "--pruner", "early"], "--pruner must be one of median, hyperband, none"),
])
def test_bad_sampler_options_are_refused_in_one_line(tmp_path, cli, args, fragment):
    assert fragment in _refused(cli, *MOONS, *args, "--out", tmp_path / "sweep")


def test_a_study_made_for_another_sweep_is_refused_in_one_line(request, tmp_path, cli, shared):
    name = _study_name(request)
    base = [*MOONS, "--storage", shared, "--study", name]
    status, _, stderr = cli("sweep", *base, "-p", "lr=0.1,0.5", "--out", tmp_path / "a")
    assert status == 0, stderr
    err = _refused(cli, *base, "-p", "lr=0.1,0.2", "--workers", "2", "--out", tmp_path / "b")
    assert f"--study '{name}' in " in err
    assert "was made for another sweep: its.space.lr is [0.1, 0.5] there, [0.1, 0.2] now" in err
    err = _refused(cli, *base, "-p", "lr=0.1,0.5", "--seed", "1", "--out", tmp_path / "c")
    assert "seed is 0 there, 1 now" in err
    err = _refused(cli, "--dataset", "moons", "--iterations", "60", "--storage", shared,
                   "--study", name, "-p", "lr=0.1,0.5", "--out", tmp_path / "d")
    assert "its.base_settings.iterations is 50 there, 60 now" in err
    # another name is another study
    err = _refused(cli, "--show", "--storage", shared, "--study", name + "-not")
    assert f"--study '{name}-not' in " in err and "does not exist; it holds the studies " in err


def test_show_needs_a_study_that_exists(tmp_path, cli):
    assert "--show needs the study" in _refused(cli, "--show")
    err = _refused(cli, "--show", "--storage", tmp_path / "none.journal")
    assert "does not exist (there is no such file)" in err
    assert not (tmp_path / "none.journal").exists()  # reading creates nothing
    err = _refused(cli, "--show", "--resume", tmp_path)
    assert f"{tmp_path / 'study.journal'} does not exist" in err


def test_show_prints_the_leaderboard_of_a_folders_sweep(tmp_path, cli):
    out = tmp_path / "sweep"
    status, first, stderr = cli("sweep", "--dataset", "moons", "-p", "lr=0.05,0.5",
                                "-p", "hidden=4;16", "--iterations", "100", "--out", out)
    assert status == 0, stderr
    status, stdout, stderr = cli("sweep", "--show", "--resume", out)
    assert status == 0, stderr
    assert "study sweep (grid sampler)" in stdout
    assert "4 of 4 trials finished" in stdout
    assert f"(study sweep in journal:{out / 'study.journal'})" in stdout
    rows = [line for line in stdout.splitlines() if line.startswith("│")]
    assert rows == [line for line in first.splitlines() if line.startswith("│")]
    assert len(rows) == 4


def test_an_interrupted_shared_sweep_says_how_to_go_on(tmp_path, cli, monkeypatch):
    # the hint names --resume (the folder keeps its files) and where the leaderboard is
    import neuralab.sweep.run as sweep_run

    real = sweep_run._collector

    def stop_after_one(result, study, space, on_trial):
        def stop(done, total, trial):
            on_trial(done, total, trial)
            raise KeyboardInterrupt
        return real(result, study, space, stop)

    monkeypatch.setattr(sweep_run, "_collector", stop_after_one)
    out, journal = tmp_path / "sweep", tmp_path / "shared.journal"
    args = ["sweep", *MOONS, "-p", "lr=0.1,0.5", "--storage", journal, "--study", "s"]
    status, _, stderr = cli(*args, "--out", out)
    assert status == 130
    assert f"repeat the command with --resume {out}" in stderr
    monkeypatch.setattr(sweep_run, "_collector", real)
    status, stdout, stderr = cli(*args, "--resume", out)
    assert status == 0, stderr
    assert "2 of 2 trials finished" in stdout and "(1 finished before this run)" in stdout


def test_a_study_name_of_its_own_keeps_two_sweeps_apart(tmp_path, cli):
    journal = tmp_path / "shared.journal"
    for study, lrs in (("one", [0.1, 0.5]), ("two", [0.2])):
        run_sweep(_moons(30), FAST, {"lr": lrs}, storage=str(journal), study=study,
                  retrain=False)
    status, stdout, _ = cli("sweep", "--show", "--storage", journal, "--study", "two")
    assert status == 0 and "1 of 1 trials finished" in stdout and "(study two in " in stdout
    with pytest.raises(ArgumentError, match="it holds the studies 'one', 'two'"):
        from neuralab.sweep import show_sweep
        show_sweep(str(journal), "three")


_PRELOAD_PROBE = """
import sys, threading
from neuralab.config import TrainSettings
from neuralab.data import load
import neuralab.sweep.ahead as sweep_ahead
import neuralab.sweep.run as sweep_run
from neuralab.sweep import parse_space

seen = {}
real = sweep_ahead.run_training
def probe(*args, **kwargs):
    seen['matplotlib'] = 'matplotlib.figure' in sys.modules
    seen['threads'] = threading.active_count()
    return real(*args, **kwargs)
sweep_ahead.run_training = probe
result = sweep_run.run_sweep(load('moons', seed=0, n_per_class=40), TrainSettings(iterations=100, seed=0),
                             parse_space(['lr=0.1,0.2']), workers=int(sys.argv[1]), out=sys.argv[2])
assert result.best_run is not None and (result.out / 'best' / 'figures' / 'loss.png').is_file()
print(seen['matplotlib'], seen['threads'])
"""


@pytest.mark.parametrize("workers", [1, 2])
def test_with_worker_processes_matplotlib_is_imported_while_they_run(tmp_path, workers):
    """While worker processes run the trials, this process imports what the best run's figures
    need, and the thread that did it has ended before the best is retrained (its write forks);
    with one worker, which is this process, nothing is imported ahead."""
    env = {**os.environ, "PYTHONPATH": SRC}
    proc = subprocess.run([sys.executable, "-c", _PRELOAD_PROBE, str(workers), str(tmp_path / "s")],
                          env=env, text=True, capture_output=True, timeout=DEADLINE)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == [str(workers > 1), "1"]


_AHEAD_PROBE = """
import json, multiprocessing, sys, time
from pathlib import Path
from neuralab.config import TrainSettings
from neuralab.data import load
import neuralab.sweep.ahead as sweep_ahead
import neuralab.sweep.worker as sweep_worker
from neuralab.sweep import parse_space, run_sweep

slow, out = float(sys.argv[1]), Path(sys.argv[2])
evaluate = sweep_worker.evaluate_trial
def evaluate_slowly(number, params, *args, **kwargs):  # the forked workers inherit this
    if params["lr"] == slow:
        time.sleep(1.5)
    return evaluate(number, params, *args, **kwargs)
sweep_worker.evaluate_trial = evaluate_slowly
import os, signal
from neuralab.runs.parallel import Later
mode = sys.argv[3] if len(sys.argv) > 3 else ""
calls = []
real = sweep_ahead.run_training
def probe(*args, **kwargs):  # how many worker processes are alive at each retraining
    calls.append(len(multiprocessing.active_children()))
    if mode == "signal":  # Ctrl-C reaches the retraining at its first logged step
        kwargs.update(print_every=1, echo=lambda line: len(calls) == 1 and calls.append(
            os.kill(os.getpid(), signal.SIGINT)))
    if mode == "fails" and len(calls) == 1:
        raise RuntimeError("out of memory")
    return real(*args, **kwargs)
sweep_ahead.run_training = probe
if mode == "signal-early":  # Ctrl-C before the retraining's own handlers take over
    settings = sweep_ahead.best_run_settings
    def signalled_settings(*args):
        os.kill(os.getpid(), signal.SIGINT)
        return settings(*args)
    sweep_ahead.best_run_settings = signalled_settings
finish = Later.finish
def finish_as_told(self, **kwargs):
    if mode == "signal-write":  # Ctrl-C while the run retrained ahead is swapped in
        os.kill(os.getpid(), signal.SIGINT)
    if mode == "write-fails":
        raise OSError(28, "No space left on device")
    return finish(self, **kwargs)
Later.finish = finish_as_told
data = load("moons", seed=0, n_per_class=40)
base = TrainSettings(iterations=100, seed=0)
result = run_sweep(data, base, parse_space(["lr=0.1,1.0"]), workers=2, out=out)
if result.interrupted or result.best_run is None:
    print(json.dumps({"calls": calls, "pending": result.pending, "best_run": result.best_run,
                      "interrupted": result.interrupted, "best_error": result.best_error,
                      "listing": sorted(p.name for p in out.iterdir())}))
    sys.exit(0)
sweep_calls = list(calls)
# the same trial retrained the usual way, in this process, for the files to compare
again = sweep_ahead.retrain_best(data, sweep_ahead.best_run_settings(base, result.best, None),
                            result.best, out.parent / "again")
print(json.dumps({"calls": sweep_calls, "best": result.best.params["lr"],
                  "name": json.loads((out / "best" / "config.json").read_text())["name"],
                  "listing": sorted(p.name for p in out.iterdir()),
                  "stopped_while_writing": result.best_run.stopped_while_writing,
                  "same": [(out / "best" / f).read_bytes() == (out.parent / "again" / "best" / f
                                                               ).read_bytes()
                           for f in ("model.safetensors", "metrics.json", "history.csv")]}))
"""


@pytest.mark.parametrize("slow", [0.1, 1.0])
def test_the_best_so_far_is_retrained_while_the_last_trial_runs(tmp_path, slow):
    """With worker processes, the best trial so far is retrained as soon as a worker has no
    slot left, while the last trial runs. It is kept when that trial does not come out best
    (lr 0.1 is the slow one: one retraining, while a worker was alive); else it is
    discarded whole and the best retrained after (lr 1.0, the best, is the slow one). The
    run is the one retrained the usual way, byte for byte where no time is written."""
    env = {**os.environ, "PYTHONPATH": SRC}
    proc = subprocess.run([sys.executable, "-c", _AHEAD_PROBE, str(slow), str(tmp_path / "s")],
                          env=env, text=True, capture_output=True, timeout=DEADLINE)
    assert proc.returncode == 0, proc.stderr
    seen = json.loads(proc.stdout)
    assert seen["best"] == 1.0 and seen["name"] == "sweep best: lr=1"
    if slow == 0.1:
        assert len(seen["calls"]) == 1 and seen["calls"][0] >= 1  # kept
    else:
        assert len(seen["calls"]) == 2 and seen["calls"][0] >= 1 and seen["calls"][1] == 0
    # nothing left of a discarded run: no new state, no second folder
    assert seen["listing"] == ["best", "study.journal", "sweep.csv", "sweep.json", "tensorboard"]
    assert seen["same"] == [True, True, True]
    assert seen["stopped_while_writing"] is False


def test_a_signal_while_the_best_retrained_ahead_is_written_lets_the_write_finish(tmp_path):
    # as a run's own write: the run is written whole and says a signal came while it was
    env = {**os.environ, "PYTHONPATH": SRC}
    proc = subprocess.run([sys.executable, "-c", _AHEAD_PROBE, "0.1", str(tmp_path / "s"),
                           "signal-write"], env=env, text=True, capture_output=True,
                          timeout=DEADLINE)
    assert proc.returncode == 0, proc.stderr
    seen = json.loads(proc.stdout)
    assert len(seen["calls"]) == 1 and seen["calls"][0] >= 1  # retrained ahead, and kept
    assert seen["stopped_while_writing"] is True and seen["same"] == [True, True, True]


def test_a_signal_while_the_best_so_far_retrains_stops_the_sweep_and_keeps_nothing(tmp_path):
    """Ctrl-C during the retraining started while the last trial runs stops the sweep as
    it would during a trial: the retrained run is discarded whole, the last slot waits for
    the next run, and there is no best/ folder."""
    env = {**os.environ, "PYTHONPATH": SRC}
    proc = subprocess.run([sys.executable, "-c", _AHEAD_PROBE, "0.1", str(tmp_path / "s"),
                           "signal"], env=env, text=True, capture_output=True, timeout=DEADLINE)
    assert proc.returncode == 0, proc.stderr
    seen = json.loads(proc.stdout)
    assert seen["calls"][0] >= 1 and len(seen["calls"]) == 2  # one retraining, one signal
    assert seen["pending"] == 1 and seen["best_run"] is None
    assert seen["listing"] == ["study.journal", "sweep.csv", "sweep.json", "tensorboard"]


def _ahead(tmp_path, mode: str) -> dict:
    env = {**os.environ, "PYTHONPATH": SRC}
    proc = subprocess.run([sys.executable, "-c", _AHEAD_PROBE, "0.1", str(tmp_path / "s"), mode],
                          env=env, text=True, capture_output=True, timeout=DEADLINE)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_a_signal_just_before_the_best_so_far_retrains_stops_it_at_its_first_step(tmp_path):
    # the sweep heard it, not the training's own handlers: the training asks the sweep
    seen = _ahead(tmp_path, "signal-early")
    assert seen["interrupted"] is True and seen["pending"] == 1 and len(seen["calls"]) == 1
    assert seen["listing"] == ["study.journal", "sweep.csv", "sweep.json", "tensorboard"]


def test_a_retraining_ahead_that_fails_is_dropped_and_the_best_retrained_at_the_end(tmp_path):
    seen = _ahead(tmp_path, "fails")
    assert seen["calls"][0] >= 1 and seen["calls"][1:] == [0]  # again, once the workers ended
    assert seen["best"] == 1.0 and seen["same"] == [True, True, True]


def test_a_run_retrained_ahead_that_cannot_be_written_is_the_sweeps_best_error(tmp_path):
    seen = _ahead(tmp_path, "write-fails")
    assert seen["interrupted"] is False and seen["best_run"] is None and len(seen["calls"]) == 1
    assert seen["best_error"].startswith("retraining the best trial failed: cannot write")
    assert "No space left on device" in seen["best_error"]
    assert seen["listing"] == ["study.journal", "sweep.csv", "sweep.json", "tensorboard"]
