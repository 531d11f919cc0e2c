"""Columns are matched by name: duplicate names are refused, a test file's columns are found by name."""

import json
import os

import numpy as np
import pytest

from neuralab import NeuralabError
from neuralab.cli import main
from neuralab.data import Dataset, load_file
from neuralab.data.files import feature_columns, load_features
from neuralab.data.splits import make_splits


def cli(capsys, *args):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def write_csv(path, header, X, labels):
    lines = [",".join(header)]
    lines += [",".join([*(repr(float(v)) for v in row), str(lab)]) for row, lab in zip(X, labels)]
    path.write_text("\n".join(lines) + "\n")
    return path


def blobs(seed, n=120):
    """Two classes told apart by x1 alone; x2 is noise on another scale."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    X = np.c_[rng.normal(size=n) + 4 * y - 2, 10 * rng.normal(size=n)]
    return X, y


@pytest.mark.parametrize("header, twice", [
    ("label,x,label", ["label"]),   # the target twice: it would also be a feature
    ("x,x,label", ["x"]),            # two features that would collapse into one name
    ("x, x ,label", ["x"]),          # the same name once spaces are stripped
])
def test_duplicate_column_names_are_refused(tmp_path, header, twice):
    path = tmp_path / "dup.csv"
    path.write_text(f"{header}\n1,2,1\n2,1,0\n1,1,1\n2,2,0\n")
    with pytest.raises(NeuralabError, match=rf"duplicate column names {twice!r}".replace("[", r"\[")):
        load_file(path)


def test_duplicate_names_are_one_line_and_exit_2(tmp_path, capsys):
    path = tmp_path / "dup.csv"
    path.write_text("label,x,label\n1,0.5,1\n0,0.2,0\n1,0.6,1\n0,0.1,0\n")
    code, out, err = cli(capsys, "train", "--data", path, "--iterations", "5",
                         "--out", tmp_path / "run", "-q")
    assert code == 2
    assert err.strip().splitlines() == [
        (f"neuralab: error: data file {path} has duplicate column names ['label']; "
         "every column needs a name of its own")]
    assert not (tmp_path / "run").exists()


def test_predict_input_refuses_a_duplicated_feature_but_not_an_unused_one(tmp_path):
    path = tmp_path / "in.csv"
    path.write_text("a,b,note,note\n1,2,x,y\n")
    assert load_features(path, ["b", "a"]).tolist() == [[2.0, 1.0]]
    path.write_text("a,a,b\n1,2,3\n")
    with pytest.raises(NeuralabError, match=r"duplicate column names \['a'\]"):
        load_features(path, ["a", "b"])


def test_test_data_columns_are_matched_by_name(tmp_path):
    X, y = blobs(0)
    Xt, yt = blobs(1)
    train = load_file(write_csv(tmp_path / "train.csv", ["x1", "x2", "label"], X, y))
    swapped = load_file(write_csv(tmp_path / "swapped.csv", ["x2", "x1", "label"], Xt[:, ::-1], yt))
    splits = make_splits(train, swapped)
    np.testing.assert_array_equal(splits["test"].X, Xt)
    extra = load_file(write_csv(tmp_path / "extra.csv", ["id", "x2", "x1", "label"],
                                np.c_[np.arange(len(yt)), Xt[:, ::-1]], yt))
    with pytest.raises(NeuralabError, match="the test data has 3 features, the training data 2"):
        make_splits(train, extra)


def test_test_data_without_the_training_columns_is_refused(tmp_path):
    X, y = blobs(0)
    train = load_file(write_csv(tmp_path / "train.csv", ["x1", "x2", "label"], X, y))
    other = load_file(write_csv(tmp_path / "foo.csv", ["foo", "x2", "label"], X, y))
    with pytest.raises(NeuralabError, match=r"the test data foo.csv lacks the feature columns "
                                            r"\['x1'\] of the training data; in their place it has "
                                            r"\['foo'\]"):
        make_splits(train, other)
    wide = Dataset(X=np.zeros((1, 20)), y=np.zeros(1, dtype=int), classes=["a"], name="w",
                   source="test", feature_names=[f"p{i}" for i in range(20)])
    with pytest.raises(NeuralabError, match=r"lacks the feature columns \['x1', 'x2', 'x3', 'x4', "
                                            r"'x5', 'x6', 'x7', 'x8', \.\.\. 12 more\]"):
        feature_columns(wide, [f"x{i + 1}" for i in range(20)], where="w")
    narrow = Dataset(X=np.zeros((1, 1)), y=np.zeros(1, dtype=int), classes=["a"], name="n",
                     source="test", feature_names=["z"])
    assert feature_columns(narrow, ["x1", "x2"], where="n") is narrow.X  # the width check says it


def test_an_npz_names_no_columns_and_is_taken_by_position(tmp_path):
    X, y = blobs(0)
    train = load_file(write_csv(tmp_path / "train.csv", ["a", "b", "label"], X, y))
    np.savez(tmp_path / "test.npz", X=X[:10], y=y[:10].astype(str))
    test = load_file(tmp_path / "test.npz")
    assert feature_columns(test, ["a", "b"], where="t") is test.X
    np.testing.assert_array_equal(make_splits(train, test)["test"].X, X[:10])


@pytest.mark.slow
def test_train_with_swapped_test_columns_scores_as_evaluate_does(tmp_path, capsys):
    X, y = blobs(0)
    Xt, yt = blobs(1)
    write_csv(tmp_path / "train.csv", ["x1", "x2", "label"], X, y)
    write_csv(tmp_path / "test.csv", ["x2", "x1", "label"], Xt[:, ::-1], yt)
    run = tmp_path / "run"
    code, out, err = cli(capsys, "train", "--data", tmp_path / "train.csv", "--test-data",
                         tmp_path / "test.csv", "--iterations", "300", "--out", run, "-q")
    assert code == 0, err
    trained = json.loads((run / "metrics.json").read_text())["test"]["accuracy"]
    code, out, err = cli(capsys, "evaluate", run, "--data", tmp_path / "test.csv",
                         "--out", tmp_path / "eval")
    assert code == 0, err
    evaluated = json.loads((tmp_path / "eval" / "metrics.json").read_text())["eval"]["accuracy"]
    assert trained == evaluated
    assert trained > 0.9  # x1 separates the classes; fed x2 in its place it would be chance


def test_train_and_evaluate_refuse_a_test_file_with_other_names(tmp_path, capsys):
    X, y = blobs(0)
    write_csv(tmp_path / "train.csv", ["x1", "x2", "label"], X, y)
    write_csv(tmp_path / "foo.csv", ["foo", "bar", "label"], X, y)
    code, out, err = cli(capsys, "train", "--data", tmp_path / "train.csv", "--test-data",
                         tmp_path / "foo.csv", "--iterations", "5", "--out", tmp_path / "r", "-q")
    assert code == 2
    assert "lacks the feature columns ['x1', 'x2'] of the training data" in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "r").exists()
    code, out, err = cli(capsys, "train", "--data", tmp_path / "train.csv", "--iterations", "5",
                         "--out", tmp_path / "r2", "-q")
    assert code == 0, err
    code, out, err = cli(capsys, "evaluate", tmp_path / "r2", "--data", tmp_path / "foo.csv")
    assert code == 2
    assert "lacks the feature columns ['x1', 'x2']" in err
    assert not (tmp_path / "r2" / "evaluations").exists()


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
@pytest.mark.parametrize("option", ["--data", "--test-data", "--input"])
def test_a_fifo_is_refused_instead_of_read(tmp_path, capsys, option):
    X, y = blobs(0)
    write_csv(tmp_path / "train.csv", ["x1", "x2", "label"], X, y)
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)  # nothing ever writes to it: reading it would wait forever
    if option == "--input":
        assert cli(capsys, "train", "--data", tmp_path / "train.csv", "--iterations", "5",
                   "--out", tmp_path / "r", "-q")[0] == 0
        args = ["predict", tmp_path / "r", "--input", fifo]
    else:
        data = fifo if option == "--data" else tmp_path / "train.csv"
        args = ["train", "--data", data, "--iterations", "5", "--out", tmp_path / "r2", "-q"]
        if option == "--test-data":
            args += ["--test-data", fifo]
    code, out, err = cli(capsys, *args)
    assert code == 2
    assert err.strip().splitlines() == [
        f"neuralab: error: data file {fifo} is a FIFO (named pipe); give a regular file"]
