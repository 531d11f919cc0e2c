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


def test_diabetes_is_scikit_learns_to_the_bit_without_importing_it(monkeypatch):
    from sklearn.datasets import load_diabetes

    from neuralab.data import real

    bunch = load_diabetes()
    d = load("diabetes")
    assert d.X.tobytes() == bunch.data.tobytes() and d.y.tobytes() == bunch.target.tobytes()
    assert d.feature_names == list(bunch.feature_names)
    # files elsewhere, or laid out otherwise: scikit-learn's loader gives the same
    monkeypatch.setattr(real, "_sklearn_data_file", lambda file: None)
    np.testing.assert_array_equal(load("diabetes").X, bunch.data)


@pytest.mark.parametrize("layout", ["1 2 3\n4 5 6\n", "not numbers\n", ""])
def test_diabetes_files_laid_out_otherwise_are_left_to_scikit_learn(layout, tmp_path):
    import gzip

    from neuralab.data import real

    data, target = tmp_path / "d.csv.gz", tmp_path / "t.csv.gz"
    data.write_bytes(gzip.compress(layout.encode()))
    target.write_bytes(gzip.compress(b"1\n2\n"))
    assert real._read_diabetes(data, target) is None


@pytest.mark.parametrize("n_samples, noise, seed",
                         [(1000, 1.0, 0), (50, 0.0, 7), (333, 2.5, 12345)])
def test_friedman1_draws_scikit_learns_numbers(n_samples, noise, seed):
    from sklearn.datasets import make_friedman1

    f = load("friedman1", n_samples=n_samples, noise=noise, seed=seed)
    X, y = make_friedman1(n_samples=n_samples, n_features=10, noise=noise, random_state=seed)
    assert f.X.tobytes() == X.tobytes() and f.y.tobytes() == y.tobytes()


def test_regression_sets_load_without_importing_scikit_learn_or_scipy():
    import subprocess
    import sys

    code = ("import sys; from neuralab.data import load; load('diabetes'); load('friedman1'); "
            "print(sorted(m for m in ('sklearn', 'scipy') if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=False, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


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


def test_scikit_learns_diabetes_loader_failing_is_one_line_naming_the_set(monkeypatch):
    from sklearn import datasets

    from neuralab.data import real

    def damaged():
        raise OSError("Not a gzipped file")

    monkeypatch.setattr(real, "_sklearn_data_file", lambda file: None)
    monkeypatch.setattr(datasets, "load_diabetes", damaged)
    with pytest.raises(NeuralabError, match=r"^data set diabetes: scikit-learn \S+ cannot read its "
                                            r"own copy \(OSError: Not a gzipped file\); "
                                            r"reinstall scikit-learn$"):
        load("diabetes")
