"""The recipe: stratified splits, scaling fitted on train only, every split scored,
and a checkpoint that gives the same predictions in both backends."""

import json

import numpy as np
import pytest

from neuralab.config import TrainSettings
from neuralab.data import load
from neuralab.lab import load_model, run_training


@pytest.fixture(scope="module")
def blob_run(tmp_path_factory):
    """A 3-class run with train / val / test splits and standardisation."""
    out = tmp_path_factory.mktemp("runs") / "gauss"
    data = load("gaussian", seed=0)
    data.X = data.X * [3.0, 0.5] + [10.0, -4.0]  # features far from zero mean and unit scale
    settings = TrainSettings(hidden=[16], iterations=300, lr=0.5, val_fraction=0.2,
                             test_fraction=0.2, seed=3)
    run = run_training(data, settings, out=out, echo=None, progress=False, name="gauss",
                       data_spec=None)
    return run, out, data


def test_three_stratified_splits_and_scaling_fitted_on_train_only(blob_run):
    run, out, data = blob_run
    sizes = {k: len(sp.y) for k, sp in run.splits.items()}
    assert sizes == {"train": 180, "val": 60, "test": 60}
    for sp in run.splits.values():
        assert np.bincount(sp.y).tolist() == [len(sp.y) // 3] * 3  # stratified
    all_idx = np.concatenate([sp.index for sp in run.splits.values()])
    assert sorted(all_idx.tolist()) == list(range(300))  # disjoint and covering
    meta = json.loads((out / "model.json").read_text())
    train_X = data.X[run.splits["train"].index]
    np.testing.assert_allclose(meta["preprocessing"]["mean"], train_X.mean(axis=0))
    np.testing.assert_allclose(meta["preprocessing"]["scale"], train_X.std(axis=0))
    assert meta["preprocessing"]["mean"] != pytest.approx(data.X.mean(axis=0).tolist())


def test_metrics_and_history_cover_every_split(blob_run):
    _, out, _ = blob_run
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics) == {"train", "val", "test"}
    for m in metrics.values():
        assert {"accuracy", "loss", "confusion_matrix", "per_class", "roc_auc"} <= set(m)
        assert m["accuracy"] > 0.9
    header = (out / "history.csv").read_text().splitlines()[0]
    assert header == ("step,loss,train_accuracy,val_loss,val_accuracy,"
                      "grad_norm_W1,grad_norm_b1,grad_norm_W2,grad_norm_b2")
    preds = (out / "predictions.csv").read_text().splitlines()
    assert {line.split(",")[0] for line in preds[1:]} == {"train", "val", "test"}


def test_checkpoint_gives_identical_predictions_in_both_backends(blob_run):
    run, out, data = blob_run
    engine = load_model(out, backend="numpy")
    twin = load_model(out, backend="torch")
    X = data.X
    np.testing.assert_allclose(engine.predict_proba(X), run.predictor.predict_proba(X), rtol=1e-12)
    np.testing.assert_allclose(twin.predict_proba(X), engine.predict_proba(X), rtol=1e-10, atol=1e-14)
    assert (twin.predict(X) == engine.predict(X)).all()
