"""The lab commands around a run: inspect, monitor and retrieve, from the command line."""

import json

import numpy as np
import pytest

from neuralab.cli import main
from neuralab.data import load


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("lab")
    data = load("gaussian", seed=0)
    rng = np.random.default_rng(0)
    flipped = rng.choice(len(data.y), 12, replace=False)
    y = data.y.copy()
    y[flipped] = (y[flipped] + 1) % 3  # label noise the inspection should find
    lines = ["x1,x2,label"] + [f"{a},{b},{t}" for (a, b), t in zip(data.X, y)]
    (root / "noisy.csv").write_text("\n".join(lines) + "\n")
    assert main(["train", "--data", str(root / "noisy.csv"), "--hidden", "16", "--iterations",
                 "400", "--lr", "0.5", "--quiet", "--out", str(root / "run")]) == 0
    return root, set(flipped.tolist())


def test_inspect_lists_the_flipped_labels_first(run, cli):
    root, flipped = run
    code, out, err = cli("inspect", root / "run", "--outliers", 24, "--out", root / "insp")
    assert code == 0, err
    report = json.loads((root / "insp" / "outliers.json").read_text())
    top = {o["index"] for o in report["outliers"]}
    assert len(top & flipped) >= 0.7 * len(flipped)
    assert (root / "insp" / "outliers.png").stat().st_size > 5000
    assert "highest-loss training points" in out


def test_monitor_flags_a_shift_and_not_a_fresh_sample(run, cli):
    root, _ = run
    fresh = load("gaussian", seed=7).X
    np.savez(root / "fresh.npz", X=fresh)
    np.savez(root / "shifted.npz", X=fresh + [0.0, 1.5])
    code, out, _ = cli("monitor", root / "run", "--data", root / "fresh.npz", "--out", root / "m1")
    assert code == 0 and "no drift flagged" in out
    code, out, _ = cli("monitor", root / "run", "--data", root / "shifted.npz", "--out", root / "m2")
    assert code == 0 and "DRIFT" in out and "feature x2 drifted" in out
    assert json.loads((root / "m2" / "monitor.json").read_text())["drift"] is True


def test_retrieve_ranks_a_class_with_precision_at_k(run, cli):
    root, _ = run
    code, out, err = cli("retrieve", root / "run", "--label", "1", "--dataset", "gaussian",
                         "--split", "train", "--out", root / "r")
    assert code == 0, err
    assert "P@10 " in out
    rows = (root / "r" / "retrieval.csv").read_text().splitlines()
    probs = [float(r.split(",")[2]) for r in rows[1:]]
    assert probs == sorted(probs, reverse=True) and len(probs) > 50


@pytest.mark.parametrize("args, fragment", [
    (["inspect", "{run}", "--outliers", "0"], "k must be a positive integer"),
    (["monitor", "{run}", "--data", "{root}/nope.csv"], "does not exist"),
    (["retrieve", "{run}", "--label", "cat", "--dataset", "gaussian", "--split", "train"], "label must be one of the model's classes"),
    (["retrieve", "{run}", "--label", "1", "--dataset", "moons", "--split", "test"], "has no test part of its own"),
])
def test_lab_command_errors(run, cli, args, fragment):
    root, _ = run
    args = [a.format(run=root / "run", root=root) for a in args]
    code, _, err = cli(*args)
    assert code == 2 and len(err.strip().splitlines()) == 1 and fragment in err, err


def test_sweep_command_ranks_trials_and_saves_the_best(tmp_path, cli):
    import csv

    code, out, err = cli("sweep", "-p", "lr=0.01,0.5", "-p", "hidden=4;32", "--dataset",
                         "moons", "--iterations", "300", "--folds", "3", "--out", tmp_path / "sw")
    assert code == 0, err
    with open(tmp_path / "sw" / "sweep.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 4 and [r["rank"] for r in rows] == ["1", "2", "3", "4"]
    scores = [float(r["score"]) for r in rows]
    assert scores == sorted(scores, reverse=True)
    assert (tmp_path / "sw" / "best" / "report.html").is_file()
    assert "3-fold cross-validation" in out


def test_sweep_command_refuses_a_bad_spec(cli, tmp_path):
    code, _, err = cli("sweep", "-p", "lr=abc", "--dataset", "moons", "--out", tmp_path / "x")
    assert code == 2 and "lr=abc: lr must be a finite number > 0; got 'abc'" in err


def test_datasets_command_shows_real_sets_without_loading_them(cli):
    code, out, _ = cli("datasets")
    assert code == 0
    for name in ("digits", "iris", "wine", "breast_cancer", "fashion_mnist", "mnist"):
        assert name in out
