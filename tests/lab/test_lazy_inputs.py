"""A large training split is standardised a batch at a time (ScaledRows), never copied whole:
the same numbers, step for step, as training on a standardised copy."""

from __future__ import annotations

import json

import numpy as np

from neuralab import lab
from neuralab.config import TrainSettings
from neuralab.data import load
from neuralab.data.preprocess import ScaledRows, Standardizer, scaled_inputs


def test_scaled_rows_read_as_the_standardised_copy_would():
    X = np.random.default_rng(0).normal(3.0, 2.0, size=(50, 4)).astype(np.float32)
    scaler = Standardizer.fit(X)
    whole = scaler.transform(X)
    rows = scaled_inputs(X, scaler, "float32", lazy_above=0)
    assert isinstance(rows, ScaledRows) and rows.shape == (50, 4) and len(rows) == 50
    idx = np.array([7, 3, 3, 49])
    np.testing.assert_array_equal(rows[idx], whole[idx])
    np.testing.assert_array_equal(rows[10:20], whole[10:20])
    np.testing.assert_array_equal(np.asarray(rows), whole)
    assert rows[idx].dtype == np.float32
    assert isinstance(scaled_inputs(X, scaler, "float32"), np.ndarray)  # small: one copy
    identity = Standardizer.identity(4)
    assert scaled_inputs(X, identity, "float32", lazy_above=0) is X  # nothing to scale


def test_training_on_rows_scaled_as_read_is_training_on_the_scaled_copy(monkeypatch):
    data = load("digits")
    settings = TrainSettings(hidden=[16], epochs=2, batch_size=64, lr=0.1, test_fraction=0.2,
                             dtype="float32", seed=0)
    outcome = {}
    for lazy in (False, True):
        monkeypatch.setattr(lab, "LAZY_INPUTS", 0 if lazy else np.inf)
        prep = lab.prepare(data, settings)
        assert isinstance(prep.X, ScaledRows) is lazy
        assert isinstance(prep.scaled["test"], np.ndarray)  # only the training split
        result = prep.fit(progress=False)
        metrics, _ = prep.evaluate({"train": (result.final_loss, result.final_outputs)})
        outcome[lazy] = prep.trainer.state_dict(), result.history.rows, metrics
    (state, rows, metrics), (want_state, want_rows, want_metrics) = outcome[True], outcome[False]
    for k in want_state:
        np.testing.assert_array_equal(state[k], want_state[k])
    assert rows == want_rows
    assert json.dumps(metrics, sort_keys=True) == json.dumps(want_metrics, sort_keys=True)  # NaNs too
