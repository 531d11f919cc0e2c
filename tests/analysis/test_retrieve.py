"""Retrieval: "find all photos that match a term" with a small net on scikit-learn's digits."""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest
from helpers import one_line

from neuralab import NeuralabError
from neuralab.analysis.retrieve import image_shape_of, retrieve, write_retrieval
from neuralab.config import TrainSettings
from neuralab.data import Dataset, load
from neuralab.lab import run_training
from neuralab.metrics import UndefinedMetricWarning

PNG = b"\x89PNG\r\n\x1a\n"
DIGITS = [str(k) for k in range(10)]


def digits_dataset(X, y, name="digits", image_shape=(8, 8)) -> Dataset:
    data = Dataset(np.asarray(X, dtype=np.float64), np.asarray(y, dtype=np.int64), list(DIGITS),
                   name, "scikit-learn's 8 x 8 digits, pixels / 16")
    if image_shape is not None:
        data.image_shape = image_shape
    return data


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    """A one-hidden-layer net on 3/4 of the digits; the test quarter as a Dataset of images."""
    from sklearn.datasets import load_digits

    raw = load_digits()
    data = digits_dataset(raw.data / 16.0, raw.target)
    out = tmp_path_factory.mktemp("retrieve") / "run"
    run = run_training(data, TrainSettings(hidden=[32], iterations=200, lr=0.5, seed=0,
                                           test_fraction=0.25),
                       out=out, echo=None, progress=False)
    test = run.splits["test"]
    return run, digits_dataset(test.X, test.y, name="digits-test")


def test_retrieving_threes_is_precise_and_ranked(digits_run):
    run, test = digits_run
    result = retrieve(run.run_dir, "3", test)
    assert result.label == "3" and result.n_items == len(test.y)
    assert result.n_relevant == int(np.sum(test.y == 3))
    assert result.precision_at[10] >= 0.8
    assert set(result.precision_at) == {c for c in (1, 5, 10, 50, 100) if c <= len(result.hits)}
    probs = result.probabilities
    assert np.all(np.diff(probs) <= 0)
    assert [h.rank for h in result.hits] == list(range(1, len(result.hits) + 1))
    # every hit is predicted as 3, and every item predicted as 3 is a hit
    P = run.predictor.predict_proba(test.X)
    assert sorted(result.indices) == np.flatnonzero(P.argmax(axis=1) == 3).tolist()
    np.testing.assert_allclose(probs, P[result.indices, 3])
    assert [h.true_label for h in result.hits] == [DIGITS[test.y[i]] for i in result.indices]
    relevant = np.array([h.relevant for h in result.hits])
    assert result.precision == pytest.approx(relevant.mean())
    assert result.recall == pytest.approx(relevant.sum() / result.n_relevant)
    assert result.recall >= 0.8


def test_k_keeps_the_head_of_the_ranking(digits_run):
    run, test = digits_run
    full = retrieve(run.run_dir, "3", test)
    top = retrieve(run.run_dir, 3, test, k=7)  # an int label is read as its name
    assert top.indices == full.indices[:7] and top.k == 7
    assert top.n_predicted == len(full.hits)
    assert set(top.precision_at) == {1, 5, 7}
    assert top.recall == pytest.approx(sum(h.relevant for h in top.hits) / top.n_relevant)


def test_write_retrieval_writes_the_list_and_a_contact_sheet(digits_run, tmp_path):
    run, test = digits_run
    result = retrieve(run.run_dir, "3", test)
    paths = write_retrieval(result, tmp_path / "out", test)
    with paths["csv"].open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == ["rank", "index", "probability", "true_label", "relevant"]
    assert [int(r["index"]) for r in rows] == result.indices
    assert [r["relevant"] for r in rows] == [str(int(h.relevant)) for h in result.hits]
    summary = json.loads(paths["json"].read_text())
    assert summary["n_retrieved"] == len(result.hits) and summary["precision_at"]["10"] >= 0.8
    assert paths["figure"].name == "retrieval.png"
    assert paths["figure"].read_bytes().startswith(PNG)
    assert not list(tmp_path.glob("**/*.tmp"))


def test_a_square_width_is_read_as_an_image(digits_run, tmp_path):
    run, test = digits_run
    plain = digits_dataset(test.X, test.y, image_shape=None)
    result = retrieve(run.run_dir, "7", plain, k=12)
    assert "figure" in write_retrieval(result, tmp_path, plain)


def test_image_shape_of():
    def data(width, shape=None):
        d = load("moons", n_per_class=3) if width == 2 else Dataset(
            np.zeros((2, width)), np.array([0, 1]), ["a", "b"], "d", "test")
        if shape is not None:
            d.image_shape = shape
        return d

    assert image_shape_of(data(64)) == (8, 8)
    assert image_shape_of(data(784)) == (28, 28)
    assert image_shape_of(data(2)) is None and image_shape_of(data(4)) is None
    assert image_shape_of(data(50)) is None
    assert image_shape_of(data(12, (3, 4))) == (3, 4)
    with pytest.raises(NeuralabError) as exc:
        image_shape_of(data(64, (28, 28)))
    assert "holds 784 values, but d has 64 features" in one_line(exc)


def test_an_unknown_label_lists_the_classes(digits_run):
    run, test = digits_run
    with pytest.raises(NeuralabError) as exc:
        retrieve(run.run_dir, "cat", test)
    msg = one_line(exc)
    assert "0, 1, 2, 3, 4, 5, 6, 7, 8, 9" in msg and "'cat'" in msg


def test_labels_the_model_never_saw_are_an_error(digits_run):
    run, test = digits_run
    odd = Dataset(test.X, test.y, [*DIGITS[:9], "nine"], "odd", "test")
    with pytest.raises(NeuralabError) as exc:
        retrieve(run.run_dir, "3", odd)
    assert "['nine']" in one_line(exc)


def test_wrong_width_and_bad_k_are_errors(digits_run):
    run, test = digits_run
    narrow = Dataset(test.X[:, :10], test.y, list(DIGITS), "narrow", "test")
    with pytest.raises(NeuralabError) as exc:
        retrieve(run.run_dir, "3", narrow)
    assert "has 10 features, but the model takes 64" in one_line(exc)
    for k in (0, -1, 2.5, True):
        with pytest.raises(NeuralabError, match="k must be a positive integer"):
            retrieve(run.run_dir, "3", test, k=k)


def test_no_hits_warns_and_writes_an_empty_list(digits_run, tmp_path):
    run, test = digits_run
    pred = run.predictor.predict(test.X)
    others = digits_dataset(test.X[pred != 3], test.y[pred != 3])
    with pytest.warns(UndefinedMetricWarning, match="precision is undefined"):
        result = retrieve(run.run_dir, "3", others)
    assert result.hits == [] and result.precision_at == {} and math.isnan(result.precision)
    assert result.recall == 0.0 or result.n_relevant == 0
    paths = write_retrieval(result, tmp_path, others)
    assert "figure" not in paths
    assert paths["csv"].read_text() == "rank,index,probability,true_label,relevant\n"
