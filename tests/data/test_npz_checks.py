"""An NPZ's labels and features are checked: no class named "nan", no complex number cast to real."""

import warnings

import numpy as np
import pytest

from neuralab import NeuralabError
from neuralab.data import load_npz
from neuralab.data.files import load_features


def npz(tmp_path, **arrays):
    path = tmp_path / "data.npz"
    np.savez(path, **arrays)
    return path


def one_line_error(path, loader=load_npz) -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a ComplexWarning would mean a silent cast
        with pytest.raises(NeuralabError) as exc:
            loader(path)
    msg = str(exc.value)
    assert "\n" not in msg and str(path) in msg
    return msg


X = np.array([[0.0, 1.0], [1.0, 0.0], [2.0, 1.0]])


@pytest.mark.parametrize("bad, shown", [(np.nan, "nan"), (np.inf, "inf"), (-np.inf, "-inf")])
def test_a_non_finite_label_is_refused_not_made_a_class(tmp_path, bad, shown):
    msg = one_line_error(npz(tmp_path, X=X, y=np.array([0.0, bad, 1.0])))
    assert f"y[1] is {shown}, not a class label" in msg


def test_complex_labels_are_refused(tmp_path):
    msg = one_line_error(npz(tmp_path, X=X, y=np.array([0, 1j, 1])))
    assert "y must hold class labels, got dtype complex128" in msg


@pytest.mark.parametrize("dtype", [np.complex64, np.complex128])
def test_complex_features_are_refused_not_cast(tmp_path, dtype):
    msg = one_line_error(npz(tmp_path, X=(X + 1j).astype(dtype), y=np.array([0, 1, 1])))
    assert "X must hold real numbers" in msg and np.dtype(dtype).name in msg


def test_complex_inputs_for_prediction_are_refused(tmp_path):
    path = npz(tmp_path, X=X.astype(np.complex128))
    msg = one_line_error(path, lambda p: load_features(p, ["x1", "x2"]))
    assert "X must be a 2-D numeric array, got complex128" in msg


def test_finite_float_labels_still_load(tmp_path):
    data = load_npz(npz(tmp_path, X=X, y=np.array([0.0, 1.0, 1.0])))
    assert data.y.tolist() == [0, 1, 1] and len(data.classes) == 2
