"""The playground's regression: its data sets, the task rule, the value map, MSE, the hint, Save."""

import base64
import json
import math

import numpy as np
import pytest

from neuralab.config import SettingError
from neuralab.data import load
from neuralab.playground.frames import VALUE_COLOURS, value_rgba
from neuralab.playground.session import Session, chance_hint
from neuralab.playground.settings import PlaygroundError, normalise_config

REG = {"dataset": "gaussians", "hidden": [8, 8], "activation": "tanh", "optimizer": "adam",
       "lr": 0.03, "n_points": 200, "steps_per_frame": 50, "reg": 0.0}


@pytest.fixture
def session(tmp_path):
    s = Session(runs_dir=tmp_path, grid=16, hidden_grid=8)
    yield s
    s.close()


def test_the_task_follows_the_data_set_and_a_mismatch_is_refused():
    base = normalise_config({})
    assert (base["task"], base["dataset"]) == ("classification", "spiral")
    plane = normalise_config({"dataset": "plane"}, base)
    assert plane["task"] == "regression"
    assert normalise_config({"task": "classification"}, plane)["dataset"] == "spiral"
    assert normalise_config({"task": "regression"}, base)["dataset"] == "plane"
    with pytest.raises(SettingError, match=r"^task must be classification for dataset moons; "
                                           r"got 'regression'"):
        normalise_config({"task": "regression", "dataset": "moons"}, base)


def test_the_regression_toys_are_seeded_functions_of_the_plane():
    a, b = load("gaussians", seed=3, n_samples=50), load("gaussians", seed=3, n_samples=50)
    assert a.task == "regression" and a.classes == [] and a.X.shape == (50, 2)
    np.testing.assert_array_equal(a.y, b.y)
    flat = load("plane", seed=0, n_samples=30, noise=0.0)
    np.testing.assert_allclose(flat.y, flat.X.sum(axis=1) / 2)


def test_a_regression_frame_has_a_value_map_mse_and_no_classes(session):
    session.configure(REG)
    first = session.frame(points=True)
    for _ in range(8):
        session.train()
    f = session.frame(points=True, hidden=True)
    assert f["task"] == "regression" and "confusion" not in f
    assert f["train_accuracy"] is None and f["test_accuracy"] is None
    assert f["train_loss"] < 0.5 * first["train_loss"]  # it learns the bumps
    # the loss is the mean squared error of the test split's predictions (reg 0: no penalty)
    prep = session.model.prepared
    test = prep.splits["test"]
    pred = prep.target.inverse(prep.trainer.predict_output(prep.scaled["test"])).reshape(-1)
    assert f["test_loss"] == pytest.approx(np.mean((pred - test.y) ** 2), rel=1e-9)
    # points carry their values; the colour scale reaches the largest |y| of the training set
    values = [p[2] for p in f["points"]["train"]]
    assert any(not float(v).is_integer() for v in values)
    assert f["value_bound"] == pytest.approx(max(abs(v) for v in values))
    assert f["value_colours"] == VALUE_COLOURS
    rgba = np.frombuffer(base64.b64decode(f["boundary"]["rgba"]), np.uint8).reshape(-1, 4)
    grid = prep.scaler.transform(session._grid_points)
    want = value_rgba(prep.target.inverse(prep.trainer.predict_output(grid)), f["value_bound"])
    np.testing.assert_array_equal(rgba, want)
    out = f["network"]["layers"][-1]
    assert out["units_total"] == 1 and out["names"] == ["y"] and out["scale"] == "own"


def test_points_are_not_added_to_a_regression_set_and_save_writes_a_regression_run(session):
    session.configure(REG)
    session.train()
    with pytest.raises(PlaygroundError, match="regression set") as err:
        session.add_point(0.1, 0.2, 1)
    assert err.value.field == "label" and session.data.extra == []
    run_dir = session.save()
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert set(metrics["test"]) >= {"mse", "mae", "r2"}
    model = json.loads((run_dir / "model.json").read_text())
    assert model["task"] == "regression" and model["sizes"][-1] == 1
    assert (run_dir / "figures" / "residuals.png").exists()


def test_the_hint_for_a_regression_names_the_targets_variance():
    rows = [{"step": s, "loss": 0.25} for s in range(0, 400, 10)]
    hint = chance_hint(rows, (0.25, "the target's variance"), {"init": "he", "lr": 0.3})
    assert hint.startswith("The training loss has stayed at chance (the target's variance = "
                           "0.2500) for 390 steps")
    assert chance_hint(rows, (math.log(2), "log 2"), {}) is None
