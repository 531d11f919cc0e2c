"""Regression data: diabetes and friedman1 in the registry, numeric CSV targets, random splits."""

import numpy as np
import pytest

from neuralab import NeuralabError
from neuralab.data import load, load_file
from neuralab.data.splits import make_splits
from neuralab.data.target import TargetScaler, meta_task


def test_registered_regression_sets():
    d = load("diabetes")
    assert (d.X.shape, d.task, d.classes, d.n_outputs) == ((442, 10), "regression", [], 1)
    assert d.y.dtype == np.float64 and d.y.min() == 25.0
    f = load("friedman1", seed=3)
    assert f.X.shape == (1000, 10) and f.task == "regression"
    np.testing.assert_array_equal(f.y, load("friedman1", seed=3).y)  # seeded
    assert not np.array_equal(f.y, load("friedman1", seed=4).y)
    small = load("friedman1", n_samples=50, noise=0.0)
    x = small.X
    exact = (10 * np.sin(np.pi * x[:, 0] * x[:, 1]) + 20 * (x[:, 2] - 0.5) ** 2 + 10 * x[:, 3]
             + 5 * x[:, 4])
    np.testing.assert_allclose(small.y, exact)
    with pytest.raises(NeuralabError, match="n_samples"):
        load("friedman1", n_samples=10**9)
    described = d.describe()
    assert described["task"] == "regression" and "class_counts" not in described


def test_csv_numeric_target_and_random_splits(tmp_path):
    path = tmp_path / "t.csv"
    rows = "\n".join(f"{i},{i % 3},{0.5 * i}" for i in range(40))
    path.write_text("a,b,y\n" + rows + "\n")
    d = load_file(path, target="y", task="regression")
    assert d.task == "regression" and d.target == "y" and d.feature_names == ["a", "b"]
    np.testing.assert_allclose(d.y, 0.5 * np.arange(40))
    splits = make_splits(d, test_fraction=0.25, val_fraction=0.25, seed=1)
    assert [len(splits[k].y) for k in ("train", "val", "test")] == [20, 10, 10]
    assert "random" in splits["test"].source
    again = make_splits(d, test_fraction=0.25, val_fraction=0.25, seed=1)
    np.testing.assert_array_equal(splits["test"].index, again["test"].index)
    # the same file read as classification has labels, not numbers
    assert load_file(path, target="b").classes == ["0", "1", "2"]
    npz = tmp_path / "t.npz"
    np.savez(npz, X=np.zeros((3, 2)), y=np.zeros(3))
    with pytest.raises(NeuralabError, match="task regression reads CSV files"):
        load_file(npz, task="regression")


def test_target_scaling_and_model_meta_checks():
    t = TargetScaler.fit(np.array([10.0, 20.0, 30.0]))
    u = t.transform(np.array([10.0, 30.0]))
    np.testing.assert_allclose(t.inverse(u.reshape(-1, 1)), [10.0, 30.0])
    assert TargetScaler.fit(np.array([1.0, 2.0]), standardize=False) == TargetScaler(0.0, 1.0)
    assert TargetScaler.fit(np.array([5.0, 5.0])).scale == 1.0  # a constant target
    good = {"task": "regression", "preprocessing": {"target_mean": 1.0, "target_scale": 2.0}}
    assert meta_task(good, [3, 1]) == "regression"
    assert meta_task({}, [3, 2]) == "classification"
    for meta, sizes, match in [
        ({"task": "clustering"}, [3, 1], "task must be one of"),
        (good, [3, 2], "one output and no classes"),
        ({**good, "classes": ["a"]}, [3, 1], "one output and no classes"),
        ({"task": "regression", "preprocessing": {"target_scale": -1.0}}, [3, 1], "positive"),
        ({"task": "regression", "preprocessing": {"target_mean": "x"}}, [3, 1], "finite numbers"),
    ]:
        with pytest.raises(NeuralabError, match=match):
            meta_task(meta, sizes, where="m.json")
