"""Regression end to end: train on a CSV with a numeric target, then evaluate, predict,
explain and sweep the run; hostile targets are one-line errors (exit 2).

One run is trained per module (``reg_run``) and read by every test; a test that writes
into a run (explain) takes a copy.
"""

import csv
import json
import shutil

import numpy as np
import pytest

from helpers import strict_loads

FEATURES = ["a", "b", "c"]


def _write_csv(path, n=80, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, (n, 3))
    y = 50.0 + 20.0 * X[:, 0] - 10.0 * X[:, 1] ** 2 + 0.5 * rng.standard_normal(n)
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow([*FEATURES, "price"])
        w.writerows([[*x, v] for x, v in zip(X, y)])
    return X, y


@pytest.fixture(scope="module")
def reg_run(tmp_path_factory):
    from neuralab.cli import main

    root = tmp_path_factory.mktemp("regression")
    X, y = _write_csv(root / "houses.csv")
    out = root / "run"
    code = main(["train", "--data", str(root / "houses.csv"), "--target", "price", "--task",
                 "regression", "--hidden", "16", "--optimizer", "adam", "--lr", "0.02",
                 "--iterations", "150", "--val-fraction", "0.2", "--test-fraction", "0.2",
                 "--quiet", "--out", str(out)])
    assert code == 0
    return {"dir": out, "csv": root / "houses.csv", "X": X, "y": y, "root": root}


def _rows(path):
    with open(path, newline="") as fh:
        return list(csv.reader(fh))


def test_run_directory_files(reg_run):
    d, y = reg_run["dir"], reg_run["y"]
    model = json.loads((d / "model.json").read_text())
    assert model["task"] == "regression" and "classes" not in model and model["sizes"][-1] == 1
    assert model["target"] == "price"
    history = _rows(d / "history.csv")
    assert history[0][:3] == ["step", "loss", "val_loss"]
    assert not any("accuracy" in c for c in history[0])
    metrics = strict_loads((d / "metrics.json").read_text())
    assert set(metrics) == {"train", "val", "test"}
    for m in metrics.values():
        assert set(m) == {"mse", "mae", "r2", "loss", "n"}
    assert sum(m["n"] for m in metrics.values()) == len(y)
    assert metrics["train"]["r2"] > 0.5  # it learnt something
    preds = _rows(d / "predictions.csv")
    assert preds[0] == ["split", "index", "y_true", "y_pred"]
    body = preds[1:]
    # every value is in the target's own units: y_true is the CSV's value of that row
    for split, index, y_true, _ in body:
        assert float(y_true) == pytest.approx(y[int(index)], rel=1e-9)
    train = [r for r in body if r[0] == "train"]
    yt, yp = (np.array([float(r[k]) for r in train]) for k in (2, 3))
    assert np.mean((yp - yt) ** 2) == pytest.approx(metrics["train"]["mse"], rel=1e-6)
    # the target was standardised by the training split's mean and standard deviation
    assert model["preprocessing"]["target_mean"] == pytest.approx(yt.mean(), rel=1e-9)
    assert model["preprocessing"]["target_scale"] == pytest.approx(yt.std(), rel=1e-9)
    figures = {p.name for p in (d / "figures").iterdir()}
    assert {"loss.png", "predicted.png", "residuals.png"} <= figures
    assert not any(f.startswith(("confusion", "roc", "boundary")) or f == "pr.png"
                   for f in figures)
    report = (d / "report.html").read_text()
    assert "figures/predicted.png" in report and "figures/residuals.png" in report
    assert "R²" in report and "confusion" not in report.lower().replace("confusion_matrix", "")


def test_evaluate_and_predict(reg_run, cli, tmp_path):
    d = reg_run["dir"]
    metrics = json.loads((d / "metrics.json").read_text())
    code, out, _ = cli("evaluate", d, "--out", tmp_path / "again")
    assert code == 0 and "R^2" in out
    again = json.loads((tmp_path / "again" / "metrics.json").read_text())
    for split in metrics:
        assert again[split]["mse"] == pytest.approx(metrics[split]["mse"], rel=1e-9)
    code, out, _ = cli("evaluate", d, "--data", reg_run["csv"], "--target", "price",
                       "--out", tmp_path / "file")
    assert code == 0
    assert json.loads((tmp_path / "file" / "metrics.json").read_text())["eval"]["n"] == 80
    code, out, _ = cli("predict", d, "--input", reg_run["csv"])
    assert code == 0
    lines = out.strip().splitlines()
    assert lines[0] == "index,y_pred" and len(lines) == 81
    by_index = {int(r[1]): float(r[3]) for r in _rows(d / "predictions.csv")[1:]}
    for line in lines[1:6]:
        i, v = line.split(",")
        assert float(v) == pytest.approx(by_index[int(i)], rel=1e-8)
    x0 = ",".join(repr(float(v)) for v in reg_run["X"][0])
    code, out, _ = cli("predict", d, "--point", x0, "--label", "50")
    assert code == 0 and f"predicted price: {by_index[0]:.6g}" in out
    assert "squared error" in out


def test_explain(reg_run, cli, tmp_path):
    d = tmp_path / "run"
    shutil.copytree(reg_run["dir"], d)
    code, out, err = cli("explain", d, "--index", "2", "--split", "train")
    assert code == 0, err
    assert "predicted price" in out and "left out for regression" in out
    explain = json.loads((d / "explain.json").read_text())
    assert explain["task"] == "regression" and "flip_step" in explain["not_applicable"]
    # integrated gradients add up to y(x) - y(baseline), the baseline the training mean
    from neuralab.lab import load_model

    predictor = load_model(d)
    x = np.array([explain["input"]["x"]])
    base = predictor.scaler.mean.reshape(1, -1)
    gap = predictor.predict_values(x)[0] - predictor.predict_values(base)[0]
    ig = sum(explain["attributions"]["integrated gradients"])
    assert ig == pytest.approx(gap, rel=0.02, abs=1e-6)
    assert explain["prediction"] == pytest.approx(predictor.predict_values(x)[0], rel=1e-9)
    assert "explain_partial_dependence.png" in explain["figures"]
    code, _, err = cli("explain", d, "--class", "1")
    assert code == 2 and err.count("\n") == 1 and "regression" in err


def test_sweep(reg_run, cli, tmp_path):
    code, out, err = cli("sweep", "--data", reg_run["csv"], "--target", "price", "--task",
                         "regression", "-p", "lr=0.002,0.05", "--optimizer", "adam",
                         "--hidden", "8", "-n", "40", "--out", tmp_path / "sw")
    assert code == 0, err
    assert "mean validation MSE, lower is better" in out
    rows = _rows(tmp_path / "sw" / "sweep.csv")
    ranked = sorted(rows[1:], key=lambda r: int(r[0]))
    scores = [float(r[rows[0].index("score")]) for r in ranked]
    assert scores == sorted(scores) and scores[0] < scores[1]  # the lower MSE ranks first
    assert (tmp_path / "sw" / "best" / "predictions.csv").exists()


def test_torch_backend_agrees(reg_run, cli, tmp_path):
    args = ["train", "--data", reg_run["csv"], "--target", "price", "--task", "regression",
            "--hidden", "16", "--optimizer", "adam", "--lr", "0.02", "--iterations", "150",
            "--val-fraction", "0.2", "--test-fraction", "0.2", "--quiet"]
    code, _, err = cli(*args, "--backend", "torch", "--device", "cpu", "--out", tmp_path / "t")
    assert code == 0, err
    a = json.loads((reg_run["dir"] / "metrics.json").read_text())
    b = json.loads((tmp_path / "t" / "metrics.json").read_text())
    for split in a:
        assert b[split]["mse"] == pytest.approx(a[split]["mse"], rel=1e-6)


@pytest.mark.parametrize("cell, why", [("abc", "is not a number"), ("inf", "is not finite"),
                                       ("", "is not a number")])
def test_hostile_targets(cli, tmp_path, cell, why):
    path = tmp_path / "bad.csv"
    path.write_text(f"a,b,y\n1,2,3.5\n2,3,{cell}\n4,5,6\n")
    code, out, err = cli("train", "--data", path, "--task", "regression", "-n", "3",
                         "--out", tmp_path / "o")
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err
    assert str(path) in err and "row 2" in err and "column 'y'" in err and why in err
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("args, message", [
    (["--dataset", "iris", "--task", "regression"], "iris is a classification data set"),
    (["--dataset", "diabetes"], "pass --task regression"),
    (["--dataset", "diabetes", "--task", "regression", "--class-weight", "balanced"],
     "--class-weight applies to classification only"),
])
def test_task_mismatch(cli, tmp_path, args, message):
    code, _, err = cli("train", *args, "-n", "3", "--out", tmp_path / "o")
    assert code == 2 and err.count("\n") == 1 and message in err
