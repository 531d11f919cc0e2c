"""Inputs that overflow once standardised, and models or files too big for memory, are refused up front."""

import io
import re
import zipfile

import numpy as np
import pytest

from neuralab import NeuralabError
from neuralab.cli import main
from neuralab.config import TrainSettings
from neuralab.data import Dataset, load
from neuralab.data import files as data_files
from neuralab.data.files import load_features, load_npz, memory_limit
from neuralab.data.preprocess import Standardizer
from neuralab.data.preprocess import check_inputs
from neuralab.lab import prepare

GIB = 2**30


def cli(capsys, *args):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def write_csv(path, rows, header="x1,x2,label"):
    path.write_text(header + "\n" + "\n".join(rows) + "\n")
    return path


def one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("neuralab: error: ")
    return lines[0]


# ---------------------------------------------------------------- values that overflow


@pytest.mark.parametrize("rows, fragment", [
    # +-1e308: the variance overflows, the scale becomes inf, the figures' axes NaN
    (["1e308,1,a", "-1e308,2,b", "1e308,1.5,a", "-1e308,2.5,b", "1,1,a", "2,2,b"],
     "column 'x1' overflows: its mean or standard deviation is not finite in float64"),
    # a column of nothing but 1e308: its mean overflows, every standardised value is NaN
    (["1,1e308,a", "2,1e308,b", "1.5,1e308,a", "2.5,1e308,b"],
     "column 'x2' overflows: its mean or standard deviation is not finite in float64"),
])
def test_train_names_the_column_that_overflows(tmp_path, capsys, rows, fragment):
    data = write_csv(tmp_path / "big.csv", rows)
    code, out, err = cli(capsys, "train", "--data", data, "--iterations", "5",
                         "--out", tmp_path / "run", "-q")
    assert code == 2
    line = one_error_line(err)
    assert f"the train split of big.csv: {fragment}; rescale or drop that column" in line
    assert not (tmp_path / "run").exists()


def test_raw_inputs_too_large_for_the_dtype_are_refused(tmp_path, capsys):
    # without standardisation 1e30 reaches the model as it is: float32 overflows on the cast
    data = write_csv(tmp_path / "f.csv", ["1e30,1,a", "-1e30,2,b", "1,1.5,a", "2,2.5,b"])
    code, out, err = cli(capsys, "train", "--data", data, "--iterations", "5", "--dtype",
                         "float32", "--no-standardize", "--out", tmp_path / "run", "-q")
    assert code == 2
    assert ("column 'x1' overflows: as given, its values reach 1e+30, beyond the 1.84e+19 "
            "that float32 can carry through the model") in one_error_line(err)
    assert not (tmp_path / "run").exists()


def test_a_test_file_that_overflows_is_refused_before_the_run_directory(tmp_path, capsys):
    rng = np.random.default_rng(0)
    train = write_csv(tmp_path / "train.csv",
                      [f"{a},{b},{'ab'[i % 2]}" for i, (a, b) in enumerate(rng.normal(size=(40, 2)))])
    test = write_csv(tmp_path / "test.csv", ["1,1e308,a", "2,1,b"])
    code, out, err = cli(capsys, "train", "--data", train, "--test-data", test, "--iterations", "5",
                         "--out", tmp_path / "run", "-q")
    assert code == 2
    assert "the test split of train.csv: column 'x2' overflows: standardised" in one_error_line(err)
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_evaluate_and_predict_refuse_inputs_that_overflow(tmp_path, capsys):
    rng = np.random.default_rng(0)
    train = write_csv(tmp_path / "train.csv",
                      [f"{a},{b},{i % 2}" for i, (a, b) in enumerate(rng.normal(size=(40, 2)))])
    run = tmp_path / "run"
    assert cli(capsys, "train", "--data", train, "--iterations", "5", "--out", run, "-q")[0] == 0
    big = write_csv(tmp_path / "big.csv", ["1e308,1,0", "-1e308,2,1", "1,1,0"])
    code, out, err = cli(capsys, "evaluate", run, "--data", big)
    assert code == 2
    assert "the eval data: column 'x1' overflows" in one_error_line(err)
    assert not (run / "evaluations").exists()
    code, out, err = cli(capsys, "predict", run, "--input", big)
    assert code == 2 and out == ""
    assert "input file" in one_error_line(err) and "column 'x1' overflows" in err
    code, out, err = cli(capsys, "predict", run, "--point", "1,1e308")
    assert code == 2 and out == ""
    assert "--point: column 'x2' overflows" in one_error_line(err)


def test_large_but_consistent_values_pass():
    rng = np.random.default_rng(0)
    X = 1e150 * rng.normal(size=(50, 2))  # huge numbers, ordinary once standardised
    scaler = Standardizer.fit(X)
    check_inputs(X, scaler, ["a", "b"], where="w")
    assert np.isfinite(scaler.transform(X)).all()
    with pytest.raises(NeuralabError, match=r"w: column 'b' overflows: standardised, its values "
                                            r"reach 1\.\d+e\+157"):
        check_inputs(np.array([[0.0, 1e307]]), scaler, ["a", "b"], where="w")


# ---------------------------------------------------------------- memory


@pytest.fixture
def limit_16_gib(monkeypatch):
    """A machine with 20 GiB: the limit is 16 GiB whatever this machine has."""
    monkeypatch.setattr(data_files, "memory_limit", lambda: 16 * GIB)


def needed_gib(message: str) -> float:
    return float(re.search(r"needs about ([\d,.]+) GiB", message).group(1).replace(",", ""))


def test_a_model_too_big_for_memory_is_refused_with_the_figure(tmp_path, capsys, limit_16_gib):
    code, out, err = cli(capsys, "train", "--dataset", "spiral", "--hidden", "100000", "--hidden",
                         "100000", "--out", tmp_path / "run", "-q")
    assert code == 2
    line = one_error_line(err)
    assert line.startswith("neuralab: error: --hidden [100000, 100000]: the model 2 -> 100000 -> "
                           "100000 -> 3 needs about ")
    # 10^10 weights in float64, with their gradients: at least 149 GiB
    assert needed_gib(line) > 149
    assert "more than the 16.0 GiB this machine allows; use smaller hidden sizes" in line
    assert not (tmp_path / "run").exists()


def test_activations_of_a_full_batch_are_counted_and_batch_size_is_advised(limit_16_gib):
    rng = np.random.default_rng(0)
    data = Dataset(X=rng.normal(size=(20000, 2)), y=np.arange(20000) % 2, classes=["a", "b"],
                   name="wide", source="test")
    settings = TrainSettings(hidden=[20000, 20000], iterations=1)
    # 9 GiB of weights, gradients and update; a full batch of 20,000 rows x 40,000 units
    # kept four times (z, o and their gradients) is 24 GiB more
    with pytest.raises(NeuralabError, match=r"a smaller batch \(set batch_size\)") as info:
        prepare(data, settings)
    assert needed_gib(str(info.value)) > 16
    assert info.value.hint == "batch_size"


def test_a_model_that_fits_is_not_refused(monkeypatch):
    monkeypatch.setattr(data_files, "memory_limit", lambda: 1 * GIB)
    prep = prepare(load("spiral", seed=0), TrainSettings(hidden=[100], iterations=1))
    assert prep.trainer is not None


def test_memory_limit_is_most_of_this_machines_memory():
    import os

    physical = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    assert 0 < memory_limit() <= physical


def npz_declaring(path, shape, payload: int):
    """An NPZ whose X header declares ``shape`` (float64) but holds ``payload`` bytes."""
    def npy(shape, descr, n):
        buf = io.BytesIO()
        np.lib.format.write_array_header_1_0(
            buf, {"descr": descr, "fortran_order": False, "shape": shape})
        return buf.getvalue() + b"\0" * n
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("X.npy", npy(shape, "<f8", payload))
        zf.writestr("y.npy", npy(shape[:1], "<i8", payload // 2))
    return path


def test_an_npz_header_declaring_10_12_rows_is_refused_before_loading(tmp_path, capsys):
    path = npz_declaring(tmp_path / "huge.npz", (10**12, 2), 64)
    with pytest.raises(NeuralabError, match=r"huge.npz: X declares shape \(1000000000000, 2\) of "
                                            r"float64 \(14,901.2 GiB\) but holds 64 bytes of data"):
        load_npz(path)
    code, out, err = cli(capsys, "train", "--data", path, "--out", tmp_path / "run", "-q")
    assert code == 2 and "X declares shape (1000000000000, 2)" in one_error_line(err)
    with pytest.raises(NeuralabError, match=r"input file .*huge.npz: X declares shape"):
        load_features(path, ["x1", "x2"])


def test_an_npz_bigger_than_memory_is_refused_from_its_header(tmp_path, monkeypatch):
    rows = 1000
    path = npz_declaring(tmp_path / "big.npz", (rows, 2), rows * 2 * 8)
    monkeypatch.setattr(data_files, "memory_limit", lambda: 20_000)  # bytes
    with pytest.raises(NeuralabError, match=r"big.npz: X declares shape \(1000, 2\) of float64 "
                                            r"\(0.0 GiB\); reading it needs about"):
        load_npz(path)
    monkeypatch.undo()
    np.savez(path, X=np.zeros((rows, 2)), y=np.arange(rows) % 2)
    assert load_npz(path).X.shape == (rows, 2)
