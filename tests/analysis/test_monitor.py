"""Monitoring: a fresh sample of the training distribution passes, shifted inputs are flagged."""

from __future__ import annotations

import math

import numpy as np
import pytest
from helpers import one_line, strict_loads

from neuralab import NeuralabError
from neuralab.analysis.monitor import compare, write_monitor
from neuralab.config import TrainSettings
from neuralab.data import Dataset, load
from neuralab.lab import run_training

PNG = b"\x89PNG\r\n\x1a\n"
N_PER_CLASS = 350  # 1050 points: the KS test is decisive and fixed seeds keep it so


def fresh(seed: int, **options) -> Dataset:
    return load("gaussian", seed=seed, n_per_class=N_PER_CLASS, **options)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """Three blobs, trained; config.json records where the data came from."""
    spec = {"kind": "registry", "name": "gaussian", "seed": 0,
            "options": {"n_per_class": N_PER_CLASS}}
    out = tmp_path_factory.mktemp("monitor") / "run"
    run_training(fresh(0), TrainSettings(hidden=[16], iterations=200, seed=0), out=out,
                 echo=None, progress=False, data_spec=spec)
    return out


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_fresh_sample_of_the_same_distribution_is_not_drift(run_dir, seed):
    report = compare(run_dir, fresh(seed).X)
    assert not report.drift, report.reasons
    assert report.reasons == [] and report.drifted_features == []
    assert report.n_reference == 3 * N_PER_CLASS and report.n_new == 3 * N_PER_CLASS
    for f in report.features:
        assert f.ks_statistic < 0.1 and abs(f.mean_shift) < 0.1
        assert f.p_adjusted == min(1.0, 2 * f.p_value)
    assert report.out_of_range < 0.02
    assert report.class_mix_tv < 0.05 and abs(report.confidence_drop) < 0.05
    assert sum(report.class_mix_new.values()) == pytest.approx(1.0)


def test_a_feature_shifted_by_one_std_is_flagged_by_name(run_dir):
    X = fresh(1).X.copy()
    X[:, 0] += fresh(0).X[:, 0].std()
    report = compare(run_dir, X)
    assert report.drift
    assert report.drifted_features == ["x1"]
    assert report.reasons[0].startswith("feature x1 drifted")
    x1, x2 = report.features
    assert x1.mean_shift == pytest.approx(1.0, abs=0.15)
    assert x1.ks_statistic > 0.3 and x1.p_adjusted < 1e-10
    assert not x2.drifted and abs(x2.mean_shift) < 0.1


def test_a_scaled_feature_is_flagged_and_leaves_the_training_range(run_dir):
    X = fresh(1).X.copy()
    X[:, 1] *= 2.0
    report = compare(run_dir, X)
    assert report.drifted_features == ["x2"]
    assert report.features[1].out_of_range > 0.2
    assert report.out_of_range == pytest.approx(np.mean(
        (X < report.X_reference.min(axis=0)).any(axis=1) | (X > report.X_reference.max(axis=0)).any(axis=1)))
    assert any("outside the training range" in r and "x2" in r for r in report.reasons)


def test_a_changed_class_mix_is_flagged(run_dir):
    new = fresh(1)
    report = compare(run_dir, new.X[new.y == 0])
    assert report.class_mix_new["0"] > 0.95
    assert report.class_mix_tv == pytest.approx(
        0.5 * sum(abs(report.class_mix_new[c] - report.class_mix_reference[c]) for c in report.classes))
    assert report.class_mix_tv > 0.5
    assert any(r.startswith("the predicted class mix moved") for r in report.reasons)


def test_inputs_between_the_classes_lower_the_confidence(run_dir):
    X = np.random.default_rng(5).normal(0.0, 0.25, size=(500, 2))  # where the blobs meet
    report = compare(run_dir, X)
    assert report.confidence_drop > 0.1
    assert any(r.startswith("the mean confidence fell") for r in report.reasons)


def test_thresholds_are_keyword_arguments(run_dir):
    X = fresh(1).X.copy()
    X[:, 0] += fresh(0).X[:, 0].std()
    lax = compare(run_dir, X, min_ks=0.99, max_out_of_range=1.0, max_class_tv=1.0,
                  max_confidence_drop=1.0)
    assert not lax.drift and lax.drifted_features == []
    assert lax.thresholds == {"alpha": 0.01, "min_ks": 0.99, "max_out_of_range": 1.0,
                              "max_class_tv": 1.0, "max_confidence_drop": 1.0}
    # a sample of 20 is too small for the corrected test at alpha 1e-12, whatever the shift
    few = X[np.random.default_rng(0).choice(len(X), size=20, replace=False)]
    strict = compare(run_dir, few, alpha=1e-12, max_out_of_range=1.0, max_class_tv=1.0,
                     max_confidence_drop=1.0)
    assert strict.features[0].ks_statistic > 0.1 and not strict.features[0].drifted


def test_a_dataset_is_compared_like_its_array(run_dir):
    new = fresh(2)
    a, b = compare(run_dir, new.X), compare(run_dir, new)
    assert a.to_dict() == b.to_dict()


@pytest.mark.parametrize("bad, message", [
    (np.zeros((10, 3)), "the new data has 3 features, but the model takes 2"),
    (np.zeros(10), "the new data has shape (10,) features"),
    (np.zeros((0, 2)), "the new data has no rows"),
    (np.array([[0.0, 1.0], [np.nan, 0.0]]), "non-finite values in 1 rows"),
    ([["a", "b"]], "numeric array"),
])
def test_bad_new_data_is_a_one_line(run_dir, bad, message):
    with pytest.raises(NeuralabError) as exc:
        compare(run_dir, bad)
    assert message in one_line(exc)


@pytest.mark.parametrize("kwargs", [{"alpha": 0}, {"alpha": 1.5}, {"min_ks": -0.1},
                                    {"max_class_tv": float("nan")}, {"max_out_of_range": "5%"}])
def test_bad_thresholds_are_errors(run_dir, kwargs):
    with pytest.raises(NeuralabError) as exc:
        compare(run_dir, fresh(1).X, **kwargs)
    assert one_line(exc).startswith(next(iter(kwargs)))


def test_write_monitor_writes_strict_json_and_a_figure(run_dir, tmp_path):
    X = fresh(1).X.copy()
    X[:, 0] += 1.5
    report = compare(run_dir, X)
    paths = write_monitor(report, tmp_path / "monitor")
    saved = strict_loads(paths["json"].read_text())
    assert saved["drift"] is True and saved["drifted_features"] == ["x1"]
    assert saved["reasons"] == report.reasons
    assert [f["name"] for f in saved["features"]] == ["x1", "x2"]
    assert set(saved["class_mix"]["new"]) == {"0", "1", "2"}
    assert paths["figure"].name == "monitor.png"
    assert paths["figure"].read_bytes().startswith(PNG)
    assert not list(tmp_path.glob("**/*.tmp"))


def test_a_constant_training_feature_that_moves(tmp_path):
    """Infinite mean shift, every point out of range, and still strict JSON."""
    base = fresh(0)
    data = Dataset(np.c_[base.X, np.ones(len(base.y))], base.y, base.classes, "const", "test")
    run_training(data, TrainSettings(hidden=[8], iterations=50, seed=0), out=tmp_path / "run",
                 echo=None, progress=False)
    new = np.c_[fresh(1).X, np.full(len(base.y), 2.0)]
    report = compare(tmp_path / "run", new, reference=data)
    x3 = report.features[2]
    assert math.isinf(x3.mean_shift) and x3.mean_shift > 0
    assert x3.out_of_range == 1.0 and x3.drifted and report.drifted_features == ["x3"]
    assert report.out_of_range == 1.0
    saved = strict_loads(write_monitor(report, tmp_path / "m")["json"].read_text())
    assert saved["features"][2]["mean_shift"] is None
    same = compare(tmp_path / "run", np.c_[fresh(1).X, np.ones(len(base.y))], reference=data)
    assert same.features[2].mean_shift == 0.0 and not same.drift
