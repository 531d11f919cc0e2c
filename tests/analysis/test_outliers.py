"""Outliers and label noise: flipped labels surface among the largest training losses."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from helpers import one_line

from neuralab import NeuralabError
from neuralab.analysis.outliers import (
    Outlier,
    OutlierReport,
    find_outliers,
    write_outlier_figure,
    write_outliers,
)
from neuralab.config import TrainSettings
from neuralab.data import Dataset, load
from neuralab.data.splits import Split
from neuralab.lab import run_training
from neuralab.nn.losses import PROB_FLOOR, cross_entropy

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def noisy(tmp_path_factory):
    """Three well separated blobs, 5% of the labels flipped to another class, a trained run."""
    clean = load("gaussian", n_per_class=150, seed=0)
    rng = np.random.default_rng(7)
    n = len(clean.y)
    flipped = rng.choice(n, size=n // 20, replace=False)
    y = clean.y.copy()
    y[flipped] = (y[flipped] + rng.integers(1, 3, size=len(flipped))) % 3
    data = Dataset(clean.X, y, list(clean.classes), "noisy-blobs", "blobs with 5% flipped labels")
    out = tmp_path_factory.mktemp("outliers") / "run"
    run = run_training(data, TrainSettings(hidden=[16], iterations=300, seed=0, test_fraction=0.2),
                       out=out, echo=None, progress=False)
    train_rows = set(run.splits["train"].index.tolist())
    flipped_train = sorted(int(i) for i in flipped if int(i) in train_rows)
    return run, data, flipped_train


def test_flipped_labels_are_among_the_top_k_losses(noisy):
    run, data, flipped = noisy
    assert len(flipped) >= 10
    report = find_outliers(run.run_dir, 2 * len(flipped), data=data)
    found = set(flipped) & set(report.indices)
    assert len(found) >= 0.7 * len(flipped), (len(found), len(flipped))


def test_report_is_sorted_by_loss_and_consistent_with_the_model(noisy):
    run, data, _ = noisy
    report = find_outliers(run.run_dir, 25, data=data)
    train = run.splits["train"]
    assert report.n_train == len(train.y) and report.k == 25 and len(report.outliers) == 25
    assert [o.rank for o in report.outliers] == list(range(1, 26))
    losses = [o.loss for o in report.outliers]
    assert losses == sorted(losses, reverse=True)
    probs = run.predictor.predict_proba(train.X)
    all_losses = -np.log(probs[np.arange(len(train.y)), train.y])
    # the k-th loss bounds every point left out
    assert losses[-1] >= np.sort(all_losses)[-25] - 1e-12
    assert report.mean_loss == pytest.approx(all_losses.mean())
    for o in report.outliers:
        assert o.index in set(train.index.tolist())
        np.testing.assert_allclose(o.features, data.X[o.index])
        assert o.label == data.classes[data.y[o.index]]
        p = run.predictor.predict_proba(np.array([o.features]))[0]
        assert o.predicted == data.classes[int(p.argmax())]
        assert o.p_true == pytest.approx(p[data.classes.index(o.label)])
        assert o.loss == pytest.approx(-np.log(o.p_true))


def test_k_may_be_the_whole_training_split(noisy):
    run, data, _ = noisy
    n = len(run.splits["train"].y)
    report = find_outliers(run.run_dir, n, data=data)
    assert sorted(report.indices) == sorted(run.splits["train"].index.tolist())


@pytest.mark.parametrize("k", [0, -3, 361, 2.5, True, "5", None])
def test_bad_k_is_a_one_line(noisy, k):
    run, data, _ = noisy
    assert len(run.splits["train"].y) == 360
    with pytest.raises(NeuralabError) as exc:
        find_outliers(run.run_dir, k, data=data)
    msg = one_line(exc)
    assert msg.startswith("k must be") and "360" in msg


def test_figure_and_files_are_written(noisy, tmp_path):
    run, data, _ = noisy
    report = find_outliers(run.run_dir, 10, data=data)
    path = write_outlier_figure(report, run.predictor, tmp_path / "fig" / "outliers.png")
    assert path.read_bytes().startswith(PNG)
    paths = write_outliers(report, run.predictor, tmp_path / "out")
    assert set(paths) == {"json", "csv", "figure"}
    saved = json.loads(paths["json"].read_text())
    assert [o["index"] for o in saved["outliers"]] == report.indices
    with paths["csv"].open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 10 and rows[0]["rank"] == "1"
    assert [int(r["index"]) for r in rows] == report.indices
    assert list(rows[0])[-2:] == ["x1", "x2"]
    assert not list(tmp_path.glob("**/*.tmp"))


def test_figure_needs_two_features(noisy):
    run, _, _ = noisy
    split = Split(np.zeros((4, 3)), np.zeros(4, dtype=np.int64), np.arange(4), "three columns")
    report = OutlierReport(run_dir=run.run_dir, k=1, n_train=4, mean_loss=0.0, outliers=[],
                           feature_names=["a", "b", "c"], classes=["0", "1"], split=split)
    with pytest.raises(NeuralabError, match="2-D data; this run's data has 3 features"):
        write_outlier_figure(report, run.predictor, "unused.png")


def test_training_data_is_reloaded_from_config(tmp_path):
    spec = {"kind": "registry", "name": "moons", "seed": 3, "options": {"n_per_class": 60}}
    data = load("moons", seed=3, n_per_class=60)
    run = run_training(data, TrainSettings(hidden=[8], iterations=100, seed=1, test_fraction=0.25),
                       out=tmp_path / "run", echo=None, progress=False, data_spec=spec)
    from_config = find_outliers(tmp_path / "run", 5)
    explicit = find_outliers(tmp_path / "run", 5, data=load("moons", seed=3, n_per_class=60))
    assert from_config.indices == explicit.indices
    assert set(from_config.indices) <= set(run.splits["train"].index.tolist())


def test_missing_or_mismatched_data_is_a_one_line(noisy, tmp_path):
    run, _, _ = noisy
    with pytest.raises(NeuralabError) as exc:
        find_outliers(run.run_dir, 3)  # the run recorded no data spec
    assert "where the run's data came from" in one_line(exc)
    other = load("gaussian", n_per_class=100, seed=0)
    with pytest.raises(NeuralabError) as exc:
        find_outliers(run.run_dir, 3, data=other)
    assert "training split of 240 rows" in one_line(exc) and "360" in one_line(exc)
    with pytest.raises(NeuralabError) as exc:
        find_outliers(tmp_path, 3)
    assert "not a run directory" in one_line(exc)


def test_cross_entropy_stays_finite_when_the_probability_underflows():
    # the per-row loss the ranking uses is nn.losses' cross-entropy, floored at PROB_FLOOR
    # (1e-15): a true class given probability 0 costs -log(1e-15) = 34.5, no longer the
    # -log(smallest float) = 708 of the floor outliers once had of its own
    probs = np.array([[1.0, 0.0], [0.25, 0.75]])
    loss = cross_entropy(probs, np.array([1, 1]), reduction="none")
    assert loss.shape == (2,) and np.all(np.isfinite(loss))
    assert loss[0] == pytest.approx(-np.log(PROB_FLOOR)) and 34.5 < loss[0] < 34.6
    assert loss[1] == pytest.approx(-np.log(0.75))


def test_a_point_given_probability_zero_ranks_first_with_the_floored_loss(noisy, tmp_path):
    """A training point the model rules out entirely still gets a finite loss and rank 1."""
    run, data, _ = noisy
    predictor = run.predictor
    train = run.splits["train"]
    target = int(train.index[0])

    class Certain:
        """The run's model, but certain that row ``target`` is not its label."""

        classes, feature_names, task = predictor.classes, predictor.feature_names, predictor.task

        def check_width(self, X, where="input"):
            return predictor.check_width(X, where)

        def predict_proba(self, X):
            probs = predictor.predict_proba(X)
            hit = np.all(X == data.X[target], axis=1)
            wrong = np.zeros(len(predictor.classes))
            wrong[(data.y[target] + 1) % len(wrong)] = 1.0
            probs[hit] = wrong
            return probs

    report = find_outliers(run.run_dir, 3, data=data, predictor=Certain())
    assert report.outliers[0].index == target and report.outliers[0].p_true == 0.0
    assert report.outliers[0].loss == pytest.approx(-np.log(PROB_FLOOR))
    assert np.isfinite(report.mean_loss)


def test_csv_quotes_names_with_commas_and_keeps_ten_digits(noisy):
    run, _, _ = noisy
    split = Split(np.zeros((1, 2)), np.zeros(1, dtype=np.int64), np.arange(1), "one row")
    o = Outlier(rank=1, index=7, features=[1 / 3, 2.0], label='a, "b"', predicted="c",
                p_true=0.125, loss=2.0794415416798357)
    report = OutlierReport(run_dir=run.run_dir, k=1, n_train=1, mean_loss=0.0, outliers=[o],
                           feature_names=["x,1", "x2"], classes=['a, "b"', "c"], split=split)
    text = report.to_csv()
    assert text.splitlines()[1] == '1,7,"a, ""b""",c,0.125,2.079441542,0.3333333333,2'
    rows = list(csv.reader(text.splitlines()))
    assert rows[0] == ["rank", "index", "label", "predicted", "p_true", "loss", "x,1", "x2"]
    assert rows[1][2] == 'a, "b"'
