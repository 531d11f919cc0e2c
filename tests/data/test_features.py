"""Feature inputs (x1, x2, x1^2, x2^2, x1*x2, sin x1, sin x2): computed in the data pipeline,
stored with the model, so that a saved run predicts from raw points.
"""

import json
import shutil

import numpy as np
import pytest

from neuralab import NeuralabError
from neuralab.config import FEATURES, SettingError, TrainSettings, check
from neuralab.data import load
from neuralab.data.preprocess import FEATURE_FUNCTIONS, Standardizer, expand_features
from neuralab.lab import load_model, run_training

ALL = list(FEATURES)


def test_each_feature_is_its_formula_of_x1_and_x2():
    X = np.array([[0.5, -2.0], [3.0, 0.25]])
    got = expand_features(X, ALL)
    x1, x2 = X[:, 0], X[:, 1]
    want = np.column_stack([x1, x2, x1 ** 2, x2 ** 2, x1 * x2, np.sin(x1), np.sin(x2)])
    np.testing.assert_array_equal(got, want)
    assert expand_features(X.astype(np.float32), ["x1^2"]).dtype == np.float32


def test_the_setting_takes_text_or_lists_and_keeps_the_schemas_order():
    assert check("features", "sin(x1), x1") == ["x1", "sin(x1)"]
    assert check("features", ["x2", "x1*x2"]) == ["x2", "x1*x2"]
    for bad in ("", "x1,x1", "x3", [1, 2], "cos(x1)"):
        with pytest.raises(SettingError, match=r"^features must be a comma-separated list"):
            check("features", bad)


def test_meta_round_trip_and_untrusted_meta():
    s = Standardizer.fit(np.random.default_rng(0).normal(size=(50, 2)), ["x1", "x2^2", "sin(x2)"])
    meta = {"preprocessing": s.to_meta()}
    back = Standardizer.from_meta(json.loads(json.dumps(meta)), 3)
    assert back.features == ("x1", "x2^2", "sin(x2)") and back.n_inputs == 2 and back.width == 3
    X = np.array([[0.1, 0.2]])
    np.testing.assert_array_equal(back.transform(X), s.transform(X))
    for bad in (["x1", "x1", "x2"], ["x1", "x2"], ["x1", "x2", "__import__('os')"], "x1,x2,x1^2",
                [1, 2, 3]):
        with pytest.raises(NeuralabError, match=r"^model.json: preprocessing features must list 3"):
            Standardizer.from_meta({"preprocessing": {**s.to_meta(), "features": bad}}, 3)


@pytest.fixture(scope="module")
def circles_runs(tmp_path_factory):
    """Linear classifiers on circles: raw inputs, and with the squares as feature inputs."""
    root = tmp_path_factory.mktemp("features")
    data = load("circles", seed=0)
    out = {}
    for name, features in (("raw", None), ("squares", ["x1", "x2", "x1^2", "x2^2"])):
        settings = TrainSettings(model="linear", iterations=200, test_fraction=0.25,
                                 features=features)
        out[name] = run_training(data, settings, out=root / name, echo=None, progress=False,
                                 name=name, data_spec={"kind": "registry", "name": "circles", "seed": 0,
                                           "options": {}})
    return out


def test_squares_let_a_linear_model_separate_circles(circles_runs):
    acc = {k: json.loads((r.run_dir / "metrics.json").read_text())["test"]["accuracy"]
           for k, r in circles_runs.items()}
    assert acc["raw"] < 0.75 and acc["squares"] > 0.95, acc


def test_a_saved_run_predicts_from_raw_points_as_recomputed_by_hand(circles_runs):
    run_dir = circles_runs["squares"].run_dir
    meta = json.loads((run_dir / "model.json").read_text())
    assert meta["sizes"] == [4, 2] and meta["feature_names"] == ["x1", "x2"]
    pre = meta["preprocessing"]
    assert pre["features"] == ["x1", "x2", "x1^2", "x2^2"]
    from safetensors.numpy import load_file

    W = load_file(str(run_dir / "model.safetensors"))
    P = np.array([[0.0, 0.0], [1.2, -0.3], [-0.5, 0.9]])
    F = np.column_stack([FEATURE_FUNCTIONS[f](P[:, 0], P[:, 1]) for f in pre["features"]])
    u = ((F - pre["mean"]) / pre["scale"]) @ W["W1"] + W["b1"]
    want = np.exp(u - u.max(axis=1, keepdims=True))
    want /= want.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(load_model(run_dir).predict_proba(P), want, rtol=1e-12)


def test_cli_predict_explain_and_refusals(circles_runs, cli, tmp_path):
    run_dir = circles_runs["squares"].run_dir
    code, out, _ = cli("predict", run_dir, "--point", "0,0")
    assert code == 0 and "predicted class" in out
    copy = tmp_path / "copy"
    shutil.copytree(run_dir, copy)
    code, out, err = cli("explain", copy)
    assert code == 0, err
    explained = json.loads((copy / "explain.json").read_text())
    assert explained["feature_names"] == ["x1", "x2", "x1^2", "x2^2"]
    code, _, err = cli("train", "--dataset", "iris", "--features", "x1,x2", "--out", tmp_path / "i")
    assert code == 2 and err.strip() == ("neuralab: error: --features x1,x2 need 2-D data "
                                           "(columns x1 and x2); iris has 4 columns")
    assert not (tmp_path / "i").exists()
    code, _, err = cli("train", "--dataset", "moons", "--features", "x1,z", "--out", tmp_path / "z")
    assert code == 2 and "--features must be a comma-separated list of x1, x2" in err


def test_the_playground_trains_on_feature_inputs():
    from neuralab.playground.session import Session

    s = Session(runs_dir="unused", grid=20)
    try:
        s.configure({"dataset": "circles", "model": "linear",
                     "features": ["x1", "x2", "x1^2", "x2^2"], "noise": 0.05})
        s.train(100)
        assert s.model.prepared.trainer.state_dict()["W1"].shape == (4, 2)
        frame = s.frame()
        assert frame["train_accuracy"] > 0.95 and frame["boundary"]["width"] == 20
        with pytest.raises(SettingError, match="^features must"):
            s.configure({"features": []})
    finally:
        s.close()
