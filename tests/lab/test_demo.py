"""The lecture's experiment lands in the lecture's range and writes its run directories."""

import csv
import json

import numpy as np
import pytest
from safetensors.numpy import load_file

from neuralab.lab import run_demo

# every test here reads the session's one demo run (conftest.py's demo_run)
pytestmark = pytest.mark.slow


def test_linear_classifier_lands_in_the_lecture_range(demo_run):
    result, _ = demo_run
    linear = result.runs[0]
    assert linear.name == "linear" and linear.fit.steps == 200
    assert 0.45 <= linear.train_accuracy <= 0.58
    assert 0.74 <= linear.final_loss <= 0.82
    assert linear.fit.history.rows[0]["loss"] == pytest.approx(1.10, abs=0.01)


def test_two_layer_net_lands_in_the_lecture_range(demo_run):
    result, _ = demo_run
    mlp = result.runs[1]
    assert mlp.name == "mlp" and mlp.fit.steps == 10_000
    assert mlp.train_accuracy >= 0.97
    assert mlp.final_loss <= 0.27
    assert mlp.test_accuracy >= 0.9  # a second, differently seeded spiral


def test_demo_writes_both_run_directories(demo_run):
    _, out = demo_run
    assert (out / "comparison.png").stat().st_size > 10_000
    for name, sizes in (("linear", [2, 3]), ("mlp", [2, 100, 3])):
        run = out / name
        for f in ("config.json", "history.csv", "metrics.json", "predictions.csv",
                  "model.safetensors", "model.json", "figures/loss.png", "figures/boundary.png"):
            assert (run / f).is_file(), f
        config = json.loads((run / "config.json").read_text())
        assert config["seed"] == 0 and config["settings"]["lr"] == 1.0
        assert config["data"]["train_shape"] == [300, 2]
        assert set(config["versions"]) >= {"neuralab", "numpy", "torch"}
        metrics = json.loads((run / "metrics.json").read_text())
        assert set(metrics) == {"train", "test"}
        train = metrics["train"]
        assert np.sum(train["confusion_matrix"]) == 300
        assert set(train["per_class"]["0"]) >= {"precision", "recall", "f1", "fpr", "tpr", "support"}
        with open(run / "history.csv") as fh:
            rows = list(csv.DictReader(fh))
        assert list(rows[0]) == ["step", "loss", "train_accuracy", "val_loss", "val_accuracy",
                                 *(f"grad_norm_{k}{i}" for i in range(1, len(sizes)) for k in "Wb")]
        with open(run / "predictions.csv") as fh:
            preds = list(csv.DictReader(fh))
        assert list(preds[0]) == ["split", "index", "y_true", "y_pred", "p_0", "p_1", "p_2"]
        assert len(preds) == 600
        tensors = load_file(run / "model.safetensors")
        meta = json.loads((run / "model.json").read_text())
        assert meta["sizes"] == sizes
        for i in range(1, len(sizes)):
            assert tensors[f"W{i}"].shape == (sizes[i - 1], sizes[i])  # the lecture's layout
            assert tensors[f"b{i}"].shape == (sizes[i],)


def test_checkpoint_recomputes_the_predictions_by_hand(demo_run):
    _, out = demo_run
    run = out / "mlp"
    t = load_file(run / "model.safetensors")
    with open(run / "predictions.csv") as fh:
        rows = [r for r in csv.DictReader(fh) if r["split"] == "train"]
    from neuralab.data import spiral

    X, _ = spiral(seed=0)
    hidden = np.maximum(0, X @ t["W1"] + t["b1"])
    scores = hidden @ t["W2"] + t["b2"]
    probs = np.exp(scores - scores.max(1, keepdims=True))
    probs /= probs.sum(1, keepdims=True)
    got = np.array([[float(r[f"p_{k}"]) for k in range(3)] for r in rows])
    np.testing.assert_allclose(got, probs, rtol=1e-8)


def test_demo_refuses_to_overwrite_an_earlier_run(demo_run):
    from neuralab import NeuralabError

    _, out = demo_run
    with pytest.raises(NeuralabError, match="set overwrite"):
        run_demo(out=out, echo=None, progress=False)
