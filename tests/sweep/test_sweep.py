"""neuralab.sweep: search spaces, scoring splits, parallel trials, the sweep's files.

The samplers, pruning and shared studies are in test_study.py; faults in test_sweep_faults.py.
"""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

import numpy as np
import pytest

from neuralab import ArgumentError, NeuralabError
from neuralab.config import SETTINGS, SettingError, TrainSettings, check
from neuralab.data import Dataset, load
from neuralab.data.preprocess import Standardizer
from neuralab.sweep import (
    LogUniform,
    Range,
    default_sampler,
    grid,
    normalize_space,
    parse_space,
    run_sweep,
    searchable,
    selection_splits,
)

FAST = TrainSettings(iterations=150, seed=0)


def _moons(n_per_class: int = 100) -> Dataset:
    return load("moons", seed=0, n_per_class=n_per_class)


# --- parse_space ---------------------------------------------------------------------------

def test_parse_space_reads_every_form():
    space = parse_space([
        "lr=0.01,0.1,1", "hidden=32;100;64x32", "reg=1e-4,1e-3", "batch_size=full,32",
        "activation=relu,tanh", "standardize=true,false", "epochs = none, 5",
    ])
    assert space == {
        "lr": [0.01, 0.1, 1.0],
        "hidden": [[32], [100], [64, 32]],
        "reg": [1e-4, 1e-3],
        "batch_size": [None, 32],
        "activation": ["relu", "tanh"],
        "standardize": [True, False],
        "epochs": [None, 5],
    }
    assert all(type(h) is int for hs in space["hidden"] for h in hs)
    assert parse_space(["lr=loguniform:1e-3:1"]) == {"lr": LogUniform(1e-3, 1.0)}
    assert parse_space(["momentum=uniform:0.5:0.99"]) == {"momentum": Range(0.5, 0.99)}
    # an integer setting's range draws whole numbers
    its = parse_space(["iterations=loguniform:100:1e4"])["iterations"]
    assert its == Range(100, 10000, log=True, integer=True)
    assert type(its.low) is int and type(its.high) is int
    assert parse_space(["batch-size=16"]) == {"batch_size": [16]}
    assert parse_space([]) == {}


@pytest.mark.parametrize("spec, fragment", [
    ("lrate=0.1", "unknown setting 'lrate'"),
    ("lr", "expected SETTING=VALUES"),
    ("lr=", "empty list of values for lr"),
    ("reg=,;", "empty list of values for reg"),
    ("lr=loguniform:1", "loguniform:LOW:HIGH"),
    ("lr=loguniform:0:1", "0 < low < high"),
    ("reg=loguniform:1:0.1", "0 < low < high"),
    ("lr=loguniform:a:1", "must be numbers"),
    ("hidden=loguniform:1:10", "loguniform:1:10 is a range of numbers; hidden takes a list"),
    ("activation=uniform:0:1", "activation takes a list of values"),
    ("iterations=uniform:10.5:20", "iterations is a whole number: a range of it needs whole ends"),
    ("lr=uniform:0:1", "lr must be a finite number > 0; got 0.0"),
    ("momentum=loguniform:0.5:2", "momentum must be a number in [0, 1); got 2.0"),
    ("test_fraction=0.2", "test_fraction cannot be searched"),
    ("log_every=1,2", "log_every cannot be searched"),
    ("noise=0.1", "unknown setting 'noise'"),
])
def test_parse_space_rejects_bad_specs_in_one_line_naming_them(spec, fragment):
    with pytest.raises(NeuralabError) as info:
        parse_space(["lr=0.1", spec] if not spec.startswith("lr") else [spec])
    message = str(info.value)
    assert f"sweep spec {spec!r}" in message
    assert fragment in message
    assert "\n" not in message


@pytest.mark.parametrize("spec, value, fragment", [
    ("lr=abc", "lr=abc", "lr must be a finite number > 0; got 'abc'"),
    ("lr=0.1,nan", "lr=nan", "finite"),
    ("hidden=32;32xa", "hidden=32xa", "hidden must be a list of layer widths"),
    ("hidden=0", "hidden=0", "each an integer from 1 to"),
    ("batch_size=big", "batch_size=big", "batch_size must be a positive integer, or full"),
    ("standardize=maybe", "standardize=maybe", "standardize must be true or false"),
    ("activation=relu,rellu", "activation=rellu", "activation must be one of relu, tanh"),
])
def test_parse_space_rejects_a_bad_value_naming_the_setting(spec, value, fragment):
    # each value is read by the schema's check, so the error is the setting's own
    with pytest.raises(SettingError) as info:
        parse_space(["reg=0.1", spec])
    message = str(info.value)
    assert message.startswith(f"sweep value {value}: ")
    assert fragment in message and "\n" not in message
    assert info.value.setting == value.split("=")[0]


def test_the_searchable_settings_are_the_schemas():
    names = set(searchable())
    assert names == {s.name for s in SETTINGS.values() if s.searchable and "sweep" in s.surfaces}
    assert {"lr", "reg", "hidden", "batch_size", "optimizer", "epochs"} <= names
    assert {"seed", "backend", "dtype", "device"} <= names
    assert not names & {"test_fraction", "val_fraction", "log_every", "max_fpr"}
    for name in names:  # every one of them is read from text by the schema's check
        default = SETTINGS[name].default
        text = "x".join(map(str, default)) if isinstance(default, tuple) else \
            SETTINGS[name].none_word if default is None else str(default).lower()
        assert parse_space([f"{name}={text}"]) == {name: [check(name, default)]}, name


def test_a_python_range_is_checked_against_the_settings_range():
    with pytest.raises(SettingError, match=r"momentum must be a number in \[0, 1\)"):
        normalize_space({"momentum": ("loguniform", 0.5, 1.0)})
    assert normalize_space({"momentum": ("uniform", 0.5, 0.99), "epochs": ("loguniform", 2, 8)}) \
        == {"momentum": Range(0.5, 0.99), "epochs": Range(2, 8, log=True, integer=True)}
    with pytest.raises(NeuralabError, match="needs finite numbers 0 < low < high"):
        LogUniform(0.0, 1.0)
    with pytest.raises(NeuralabError, match="needs finite numbers low < high"):
        Range(1.0, float("nan"))
    with pytest.raises(NeuralabError, match="needs whole ends"):
        normalize_space({"batch_size": ("uniform", 1.5, 8)})
    with pytest.raises(NeuralabError, match="max_fpr cannot be searched"):
        grid({"max_fpr": [0.1, 0.2]})
    assert [c["seed"] for c in grid({"seed": [0, 1]})] == [0, 1]  # seeds can be searched


def test_parse_space_rejects_a_setting_given_twice():
    with pytest.raises(NeuralabError, match="lr is given twice"):
        parse_space(["lr=0.1", "lr=1"])


# --- the grid, and the sweep's options ------------------------------------------------------

def test_grid_has_every_combination_in_order():
    space = parse_space(["lr=0.01,0.1,1", "hidden=32;100;64x32", "reg=1e-4,1e-3",
                         "activation=relu,tanh"])
    configs = grid(space)
    assert len(configs) == 3 * 3 * 2 * 2
    assert len({json.dumps(c, sort_keys=True) for c in configs}) == len(configs)
    assert configs[0] == {"lr": 0.01, "hidden": [32], "reg": 1e-4, "activation": "relu"}
    assert configs[1]["activation"] == "tanh" and configs[1]["lr"] == 0.01  # last varies fastest
    assert default_sampler(space) == "grid"
    ranged = parse_space(["lr=loguniform:1e-3:1", "hidden=32;64"])
    assert default_sampler(ranged) == "tpe"
    with pytest.raises(ArgumentError) as info:
        grid(ranged)
    assert info.value.argument == "sampler"
    assert "the grid sampler needs a list of values for lr, got the range loguniform:0.001:1" \
        in str(info.value)


@pytest.mark.parametrize("kwargs, argument, fragment", [
    ({"sampler": "grid", "n_trials": 5}, "n_trials", "n_trials is for the tpe and random"),
    ({"sampler": "random"}, "n_trials", "n_trials is missing: the random sampler needs the"),
    ({"sampler": "tpe", "n_trials": 0}, "n_trials", "sampler runs, from 1 to 100000; got 0"),
    ({"sampler": "tpe", "n_trials": 2.5}, "n_trials", "got 2.5"),
    ({"sampler": "bayes", "n_trials": 3}, "sampler", "sampler must be one of grid, tpe, random"),
    ({"pruner": "early"}, "pruner", "pruner must be one of median, hyperband, none"),
    ({"workers": 0}, "workers", "workers must be a positive integer, got 0"),
    ({"workers": 2}, "workers", "give out or storage"),
    ({"storage": "ftp://host/db"}, "storage", "the scheme must be one of"),
    ({"storage": ""}, "storage", "storage must be a database URL or a journal file"),
    ({"study": "no spaces"}, "study", "study must be 1 to 128 letters"),
    ({"study": "x" * 129}, "study", "study must be 1 to 128 letters"),
    ({"resume": True}, "resume", "resume needs out"),
])
def test_bad_options_are_refused_before_any_trial(tmp_path, kwargs, argument, fragment):
    calls = []
    with pytest.raises(ArgumentError) as info:
        run_sweep(_moons(30), FAST, {"lr": [0.1, 0.5]}, retrain=False,
                  on_trial=lambda *a: calls.append(a), **kwargs)
    assert info.value.argument == argument
    assert fragment in str(info.value) and "\n" not in str(info.value)
    assert calls == []


def test_the_grid_sampler_refuses_a_range_and_tpe_and_random_need_n_trials():
    space = parse_space(["lr=loguniform:0.01:1"])
    with pytest.raises(ArgumentError, match="the grid sampler needs a list of values for lr"):
        run_sweep(_moons(30), FAST, space, sampler="grid", retrain=False)
    with pytest.raises(ArgumentError, match="n_trials is missing: the tpe sampler needs"):
        run_sweep(_moons(30), FAST, space, retrain=False)  # tpe is the default with a range


def test_every_trial_is_validated_before_any_runs():
    calls = []
    with pytest.raises(NeuralabError, match=r"sweep value activation=rellu: activation must be"):
        run_sweep(_moons(), FAST, parse_space(["lr=0.1,1", "activation=relu,rellu"]),
                  retrain=False, on_trial=lambda *a: calls.append(a))
    with pytest.raises(NeuralabError, match=r"sweep value lr=-1.0: lr must be a finite number > 0"):
        run_sweep(_moons(), FAST, {"lr": [0.1, -1.0]}, retrain=False,
                  on_trial=lambda *a: calls.append(a))
    # a rule between settings names the searched value that breaks it
    with pytest.raises(NeuralabError, match=r"sweep value optimizer=manual: optimizer 'manual' "
                                            r"needs backend torch"):
        run_sweep(_moons(), FAST, parse_space(["optimizer=sgd,manual"]), retrain=False,
                  on_trial=lambda *a: calls.append(a))
    assert calls == []


# --- scoring ---------------------------------------------------------------------------------

def test_the_obviously_better_config_ranks_first():
    result = run_sweep(_moons(), FAST, parse_space(["lr=0.01,0.5", "hidden=4;32"]),
                       folds=5, retrain=False)
    assert [t.rank for t in result.trials] == [1, 2, 3, 4]
    scores = [t.score for t in result.trials]
    assert scores == sorted(scores, reverse=True)
    best, worst = result.trials[0], result.trials[-1]
    assert best.params["lr"] == 0.5 and best.score > 0.85
    assert worst.params == {"lr": 0.01, "hidden": [4]} and worst.score < 0.6
    assert best.train_accuracy > 0.85 and best.val_loss < worst.val_loss
    assert len(best.fold_accuracies) == 5
    assert best.std == pytest.approx(np.std(best.fold_accuracies))
    assert best.seconds > 0


def test_kfold_uses_every_row_once_as_validation_and_never_the_test_rows():
    y = _moons().y
    pairs = selection_splits(y, folds=5, test_fraction=0.2, seed=3)
    test_rows = np.setdiff1d(np.arange(len(y)), np.concatenate(pairs[0]))
    assert len(test_rows) == 40
    val = np.concatenate([va for _, va in pairs])
    assert len(val) == len(np.unique(val)) == len(y) - len(test_rows)
    assert np.intersect1d(val, test_rows).size == 0
    for tr, va in pairs:
        assert np.intersect1d(tr, va).size == 0
        assert np.array_equal(np.sort(np.concatenate([tr, va, test_rows])), np.arange(len(y)))
        assert np.bincount(y[va]).tolist() == [16, 16]  # stratified
    assert all(np.array_equal(a[1], b[1]) for a, b in
               zip(pairs, selection_splits(y, folds=5, test_fraction=0.2, seed=3)))
    with pytest.raises(NeuralabError, match="folds must be an integer >= 2"):
        selection_splits(y, folds=1)


def test_scaler_is_fitted_on_each_training_fold_only(monkeypatch):
    data = _moons(30)
    data.X = data.X + 1e6  # a huge offset: a scaler that saw other rows would differ visibly
    seen = []
    original = Standardizer.fit.__func__

    def spy(cls, X, features=None):
        seen.append(X.copy())
        return original(cls, X, features)

    monkeypatch.setattr(Standardizer, "fit", classmethod(spy))
    result = run_sweep(data, FAST, {"lr": [0.5]}, folds=3, retrain=False)
    assert len(seen) == 3
    for X_fit, (tr, va) in zip(seen, result.folds):
        assert np.array_equal(X_fit, data.X[tr])


def test_validation_rows_do_not_move_the_scaler():
    # shift only the validation rows far away: a scaler fitted on train + val would squash
    # the training rows to one point and the net could not learn them
    data = _moons()
    (_, va), = selection_splits(data.y, val_fraction=0.25, seed=0)
    data.X[va] += 1e6
    result = run_sweep(data, FAST, {"lr": [0.5]}, val_fraction=0.25, retrain=False)
    trial = result.trials[0]
    assert np.array_equal(result.folds[0][1], va)
    assert trial.train_accuracy > 0.85
    assert trial.score < 0.75  # the moved rows are out of reach, as they should be
    assert trial.std == 0.0


def test_failed_trials_are_reported_not_raised():
    result = run_sweep(_moons(50), FAST, {"lr": [1e6, 0.5]}, retrain=False)
    good, bad = result.trials
    assert good.ok and good.params == {"lr": 0.5} and good.rank == 1
    assert bad.status == "failed" and bad.rank is None and math.isnan(bad.score)
    assert "diverged" in bad.message and "\n" not in bad.message
    assert result.best is good and result.n_failed == 1
    rows = list(csv.DictReader(io.StringIO(result.to_csv())))
    assert rows[1]["status"] == "failed" and rows[1]["rank"] == "" and rows[1]["score"] == ""
    # nothing to retrain when every trial fails: said, not raised
    all_bad = run_sweep(_moons(50), FAST, {"lr": [1e6]})
    assert all_bad.best is None and all_bad.best_run is None
    assert "every trial failed" in all_bad.best_error


def test_two_worker_processes_give_the_same_scores_as_one(tmp_path):
    space = parse_space(["lr=0.05,0.5", "hidden=4;16"])
    data = load("gaussian", seed=0, n_per_class=40)
    progress = []
    one = run_sweep(data, FAST, space, folds=3, retrain=False, workers=1)
    two = run_sweep(data, FAST, space, folds=3, retrain=False, workers=2, out=tmp_path / "two",
                    on_trial=lambda done, total, t: progress.append((done, total, t.number)))
    assert [d for d, _, _ in progress] == [1, 2, 3, 4] and {t for _, t, _ in progress} == {4}
    assert sorted(n for _, _, n in progress) == [0, 1, 2, 3]
    by_number = {t.number: t for t in two.trials}
    for t in one.trials:
        other = by_number[t.number]
        assert other.params == t.params
        assert other.fold_accuracies == t.fold_accuracies
        assert other.val_loss == pytest.approx(t.val_loss, rel=1e-12)
    assert [t.number for t in one.trials] == [t.number for t in two.trials]


def test_ctrl_c_keeps_the_finished_trials():
    def stop(done, total, trial):
        raise KeyboardInterrupt

    result = run_sweep(_moons(30), FAST, {"lr": [0.1, 0.5, 1.0]}, on_trial=stop)
    assert result.interrupted and len(result.trials) == 1 and result.total == 3
    assert result.best_run is None and result.pending == 2


# --- files -----------------------------------------------------------------------------------

def test_sweep_writes_a_ranked_csv_and_the_best_run(tmp_path):
    data = _moons()
    base = TrainSettings(iterations=150, seed=1, test_fraction=0.2)
    out = tmp_path / "sweep"
    result = run_sweep(data, base, parse_space(["lr=0.01,0.5", "hidden=4;32x8"]), out=out,
                       data_spec={"kind": "registry", "name": "moons", "seed": 0})
    with (out / "sweep.csv").open(newline="") as fh:
        reader = csv.DictReader(fh)
        rows = list(reader)
    assert reader.fieldnames == ["rank", "score", "lr", "hidden", "val_loss", "train_accuracy",
                                 "std", "seconds", "status", "message"]
    assert [r["rank"] for r in rows] == ["1", "2", "3", "4"]
    scores = [float(r["score"]) for r in rows]
    assert scores == sorted(scores, reverse=True)
    assert {r["hidden"] for r in rows} == {"4", "32x8"}
    summary = json.loads((out / "sweep.json").read_text())
    assert summary["best"]["params"] == result.best.params
    assert summary["scoring"]["method"] == "holdout"
    assert summary["sampler"] == "grid" and summary["pruner"] == "none"
    assert summary["study"] == {"name": "sweep", "storage": f"journal:{out / 'study.journal'}"}
    assert summary["n_trials"] == summary["n_done"] == 4 and summary["n_pending"] == 0
    assert (out / "study.journal").is_file()  # the study, for --resume

    best_dir = out / "best"
    for name in ("config.json", "model.safetensors", "report.html"):
        assert (best_dir / name).is_file(), name
    config = json.loads((best_dir / "config.json").read_text())
    assert config["settings"]["lr"] == result.best.params["lr"]
    assert config["settings"]["hidden"] == result.best.params["hidden"]
    assert config["settings"]["val_fraction"] is None
    # retrained on train + val; the test rows are the ones no trial saw
    run = result.best_run
    (tr, va), = result.folds
    assert np.array_equal(run.splits["train"].index, np.sort(np.concatenate([tr, va])))
    assert np.intersect1d(run.splits["test"].index, np.concatenate([tr, va])).size == 0
    assert len(run.splits["test"].index) == 40
    assert summary["best_run"]["test_accuracy"] == run.test_accuracy
    with pytest.raises(NeuralabError, match="already exists and is not empty"):
        run_sweep(data, base, {"lr": [0.5]}, out=out)


_HOLD_LOCK = """
import sys, time
from pathlib import Path
from neuralab.runs import RunLock
lock = RunLock(Path(sys.argv[1])).acquire()
print("held", flush=True)
go = Path(sys.argv[2])
while not go.exists():
    time.sleep(0.02)
lock.release()
"""


def _best_taken_by_another_process(monkeypatch, out: Path, go: Path) -> dict:
    """Have another process take ``out/best``'s lock just before the sweep retrains its best,
    and hold it until ``go`` exists; returns where its Popen will be (``holder["proc"]``)."""
    import subprocess
    import sys

    from neuralab.sweep import run as sweep_run

    holder = {}
    retrain = sweep_run.retrain_best

    def retrain_while_another_holds_best(*args, **kwargs):
        if not holder:
            holder["proc"] = subprocess.Popen([sys.executable, "-c", _HOLD_LOCK, str(out / "best"),
                                               str(go)], stdout=subprocess.PIPE, text=True)
            assert holder["proc"].stdout.readline().strip() == "held"
        return retrain(*args, **kwargs)

    monkeypatch.setattr(sweep_run, "retrain_best", retrain_while_another_holds_best)
    return holder


def _let_go(holder: dict, go: Path) -> int:
    go.touch()
    holder["proc"].wait(timeout=60)
    holder["proc"].stdout.close()
    return holder["proc"].returncode


def test_a_sweep_finding_best_being_written_by_another_process_waits_then_retrains(
        tmp_path, monkeypatch):
    """Processes that share a study and its folder may reach the best's retraining together:
    the one that finds best/ locked by the other says so, waits until it is free, and then
    retrains into it, instead of failing with a "locked" error."""
    from neuralab.runs import RunLock
    from neuralab.sweep import run as sweep_run

    out, go = tmp_path / "sweep", tmp_path / "go"
    holder = _best_taken_by_another_process(monkeypatch, out, go)
    free = RunLock.free
    looked = []

    def free_once_looked_at(self):
        looked.append(free(self))
        go.touch()  # the other process finishes once this one waits for it
        return looked[-1]

    monkeypatch.setattr(RunLock, "free", free_once_looked_at)
    monkeypatch.setattr(sweep_run, "BEST_WAIT_POLL_SECONDS", 0.01)
    try:
        with pytest.warns(UserWarning, match=r"best is being written by process \d+; "
                                             r"waiting until it finishes"):
            result = run_sweep(_moons(30), FAST, {"lr": [0.1, 0.5]}, out=out)
    finally:
        assert _let_go(holder, go) == 0
    assert looked and looked[-1] is True  # it waited until the lock was free
    assert result.best_error is None and result.best_run is not None
    assert json.loads((out / "best" / "config.json").read_text())["settings"]["lr"] == \
        result.best.params["lr"]
    assert json.loads((out / "sweep.json").read_text())["best_error"] is None


def test_ctrl_c_while_a_sweep_waits_for_best_stops_it_as_during_a_trial(tmp_path, monkeypatch):
    from neuralab.runs import RunLock

    out, go = tmp_path / "sweep", tmp_path / "go"
    holder = _best_taken_by_another_process(monkeypatch, out, go)

    def ctrl_c(self):
        raise KeyboardInterrupt

    monkeypatch.setattr(RunLock, "free", ctrl_c)
    try:
        with pytest.warns(UserWarning, match="waiting until it finishes"):
            result = run_sweep(_moons(30), FAST, {"lr": [0.1, 0.5]}, out=out)
    finally:
        _let_go(holder, go)
    assert result.interrupted and result.pending == 0
    assert result.best_run is None and result.best_error is None
    assert json.loads((out / "sweep.json").read_text())["interrupted"] is True
    assert not (out / "best").exists()


def test_a_sweep_never_waits_for_a_lock_it_holds_itself(tmp_path, monkeypatch):
    from neuralab.runs import RunLock
    from neuralab.sweep import run as sweep_run

    out = tmp_path / "sweep"
    retrain = sweep_run.retrain_best
    held = []

    def retrain_with_best_held_here(*args, **kwargs):
        held.append(RunLock(out / "best").acquire())
        try:
            return retrain(*args, **kwargs)
        finally:
            held[-1].release()

    monkeypatch.setattr(sweep_run, "retrain_best", retrain_with_best_held_here)
    result = run_sweep(_moons(30), FAST, {"lr": [0.1, 0.5]}, out=out)
    assert result.best_run is None and len(held) == 1
    assert "is being written by process" in result.best_error


def test_random_search_runs_the_seeded_draws():
    space = parse_space(["lr=loguniform:0.05:2", "hidden=4;16"])
    runs = [run_sweep(_moons(30), FAST, space, sampler="random", n_trials=3, retrain=False)
            for _ in range(2)]
    first, again = ([t.params for t in sorted(r.trials, key=lambda t: t.number)] for r in runs)
    assert first == again and len(first) == 3
    assert runs[0].sampler == "random" and runs[0].pruner == "median"
    assert all(0.05 <= p["lr"] <= 2 and p["hidden"] in ([4], [16]) for p in first)
    assert runs[0].to_csv().splitlines()[0].startswith("rank,score,lr,hidden,")


def test_a_worker_can_limit_torchs_threads():
    # parallel workers on the torch backend share the cores through set_threads
    torch = pytest.importorskip("torch")
    from neuralab.torch_backend.threads import set_threads

    before = torch.get_num_threads()
    try:
        set_threads(1)
        assert torch.get_num_threads() == 1
        set_threads(0)  # never below one thread
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
