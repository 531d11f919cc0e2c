"""Regression metrics against scikit-learn's, and their degenerate cases."""

import warnings

import numpy as np
import pytest
from sklearn import metrics as sk

from neuralab import NeuralabError
from neuralab.metrics import UndefinedMetricWarning, r2_score, regression_metrics


def test_agree_with_scikit_learn():
    rng = np.random.default_rng(0)
    y = rng.normal(10, 3, 50)
    pred = y + rng.normal(0, 1, 50)
    m = regression_metrics(y, pred.reshape(-1, 1), loss=0.25)
    assert m["mse"] == pytest.approx(sk.mean_squared_error(y, pred), rel=1e-12)
    assert m["mae"] == pytest.approx(sk.mean_absolute_error(y, pred), rel=1e-12)
    assert m["r2"] == pytest.approx(sk.r2_score(y, pred), rel=1e-12)
    assert (m["loss"], m["n"]) == (0.25, 50)
    assert regression_metrics(y, y)["r2"] == 1.0
    assert regression_metrics(y, np.full(50, y.mean()))["r2"] == pytest.approx(0.0, abs=1e-12)


def test_constant_target_gives_nan_and_a_warning():
    with pytest.warns(UndefinedMetricWarning):
        assert np.isnan(r2_score(np.ones(4), np.arange(4.0)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        m = regression_metrics(np.array([2.0]), np.array([3.0]))
    assert (m["mse"], m["mae"], m["n"]) == (1.0, 1.0, 1) and np.isnan(m["r2"])


def test_mismatched_shapes_are_refused():
    with pytest.raises(NeuralabError, match="must both be"):
        regression_metrics(np.zeros(3), np.zeros((3, 2)))
