"""train --resume, evaluate and predict from the command line; an interrupted run saves itself.

Bad input is one line on stderr, exit status 2, and overwrites nothing.
"""

import json
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers import sigint_default

from neuralab.cli import main
from neuralab.data import spiral
from neuralab.lab import load_model
from neuralab.runs import load_checkpoint


def _write_csv(path, X, labels, names=("a", "b"), target="label"):
    rows = [",".join([*names, target])]
    rows += [",".join([*(f"{v:.6f}" for v in x), str(t)]) for x, t in zip(X, labels)]
    path.write_text("\n".join(rows) + "\n")


@pytest.fixture(scope="module")
def csv_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("csv")
    X, y = spiral(n_per_class=60, seed=0)
    names = np.array(["red", "green", "blue"])
    _write_csv(root / "train.csv", X, names[y])
    Xt, yt = spiral(n_per_class=30, seed=9)
    _write_csv(root / "test.csv", Xt, names[yt])
    code = main(["train", "--data", str(root / "train.csv"), "--target", "label", "--hidden", "64",
                 "--iterations", "2000", "--quiet", "--out", str(root / "run")])
    assert code == 0
    return root


def test_evaluate_on_new_data_writes_beside_not_over(csv_run, cli):
    before = (csv_run / "run" / "metrics.json").read_bytes()
    code, out, err = cli("evaluate", csv_run / "run", "--data", csv_run / "test.csv",
                         "--target", "label", "--out", csv_run / "eval")
    assert code == 0, err
    metrics = json.loads((csv_run / "eval" / "metrics.json").read_text())
    assert metrics["eval"]["n_samples"] == 90 and metrics["eval"]["accuracy"] > 0.8
    assert set(metrics["eval"]["per_class"]) == {"blue", "green", "red"}
    assert (csv_run / "run" / "metrics.json").read_bytes() == before
    assert "accuracy" in out


def test_evaluate_again_on_the_runs_own_splits(csv_run, cli):
    code, _, err = cli("evaluate", csv_run / "run")
    assert code == 0, err
    folders = list((csv_run / "run" / "evaluations").iterdir())
    metrics = json.loads((folders[0] / "metrics.json").read_text())
    original = json.loads((csv_run / "run" / "metrics.json").read_text())
    assert metrics["train"]["accuracy"] == original["train"]["accuracy"]


def test_predict_a_file_and_a_point(csv_run, cli):
    out_csv = csv_run / "pred.csv"
    code, out, err = cli("predict", csv_run / "run", "--input", csv_run / "test.csv",
                         "--output", out_csv)
    assert code == 0, err
    lines = out_csv.read_text().splitlines()
    assert lines[0] == "index,y_pred,p_blue,p_green,p_red"
    assert len(lines) == 91
    probs = np.array([[float(v) for v in line.split(",")[2:]] for line in lines[1:]])
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-8)
    code, out, err = cli("predict", csv_run / "run", "--point", "0.3,-0.5", "--label", "red")
    assert code == 0, err
    assert "softmax: p(blue) = " in out and "predicted class: " in out
    p_red = float(out.split("p(red) = ")[1].split()[0])
    loss = float(out.split("-log p(red) = ")[1])
    assert loss == pytest.approx(-np.log(p_red), rel=1e-4)


@pytest.mark.parametrize("make_args, fragment", [
    (lambda r: ["predict", r / "run", "--point", "1,2,3"], "--point needs 2 finite numbers"),
    (lambda r: ["predict", r / "run", "--point", "1,x"], "--point must be comma-separated numbers"),
    (lambda r: ["predict", r / "run", "--point", "1,2", "--label", "purple"], "--label 'purple' is not a class"),
    (lambda r: ["predict", r / "run", "--input", r / "missing_col.csv"], "lacks the model's feature columns ['b']"),
    (lambda r: ["predict", r / "run", "--input", r / "text.csv"], "line 2, column 'b': 'abc' is not a number"),
    (lambda r: ["predict", r / "run", "--input", r / "test.csv", "--output", r / "train.csv"], "exists; choose another file or pass --overwrite"),
    (lambda r: ["evaluate", r / "run", "--data", r / "unseen.csv"], "labels not seen in training: ['purple']"),
    (lambda r: ["evaluate", r / "run", "--data", r / "wide.csv"], "has 3 features, but the model takes 2"),
    (lambda r: ["evaluate", r / "no_such_run"], "does not exist"),
    (lambda r: ["predict", r / "truncated", "--point", "1,2"], "corrupt or truncated"),
])
def test_bad_input_is_one_line_exit_2_and_overwrites_nothing(csv_run, cli, make_args, fragment):
    r = csv_run
    (r / "missing_col.csv").write_text("a,label\n1.0,red\n")
    (r / "text.csv").write_text("a,b\n1.0,abc\n")
    (r / "unseen.csv").write_text("a,b,label\n0.1,0.2,red\n0.3,0.1,purple\n")
    (r / "wide.csv").write_text("a,b,c,label\n0.1,0.2,0.3,red\n0.3,0.1,0.2,green\n")
    trunc = r / "truncated"
    if not trunc.exists():
        trunc.mkdir()
        for f in ("model.json", "config.json"):
            (trunc / f).write_bytes((r / "run" / f).read_bytes())
        data = (r / "run" / "model.safetensors").read_bytes()
        (trunc / "model.safetensors").write_bytes(data[: len(data) // 2])
    snapshot = {p: p.read_bytes() for p in (r / "run").glob("*") if p.is_file()}
    train_csv = (r / "train.csv").read_bytes()
    code, out, err = cli(*make_args(r))
    assert code == 2, (out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and fragment in lines[0], err
    assert {p: p.read_bytes() for p in snapshot} == snapshot
    assert (r / "train.csv").read_bytes() == train_csv


@pytest.mark.slow
def test_resume_continues_where_the_run_stopped(tmp_path, capsys):
    full, part = tmp_path / "full", tmp_path / "part"
    args = ["train", "--dataset", "moons", "--hidden", "16", "--optimizer", "momentum",
            "--lr", "0.1", "--quiet"]
    assert main([*args, "--iterations", "400", "--out", str(full)]) == 0
    assert main([*args, "--iterations", "250", "--out", str(part)]) == 0
    code = main(["train", "--resume", str(part), "--iterations", "150", "--quiet"])
    assert code == 0, capsys.readouterr().err
    a, _ = load_checkpoint(full)
    b, _ = load_checkpoint(part)
    for name in a:  # momentum restored too: the same weights as one unbroken run
        np.testing.assert_allclose(b[name], a[name], rtol=1e-12, atol=1e-14)
    steps = [int(line.split(",")[0]) for line in (part / "history.csv").read_text().splitlines()[1:]]
    assert steps == sorted(set(steps)) and steps[-1] == 400
    assert json.loads((part / "config.json").read_text())["steps"] == 400


def test_resume_refuses_other_data(cli, tmp_path):
    code, _, err = cli("train", "--resume", tmp_path, "--dataset", "moons")
    assert code == 2 and "drop --dataset" in err
    code, _, err = cli("train", "--resume", tmp_path)
    assert code == 2 and "is not a run directory" in err


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
@pytest.mark.slow
def test_a_signal_saves_a_loadable_checkpoint_and_report(tmp_path, sig):
    out = tmp_path / "run"
    exe = Path(sys.executable).parent / "neuralab"
    proc = subprocess.Popen(
        [str(exe), "train", "--dataset", "spiral", "--iterations", "100000000",
         "--print-every", "100", "--out", str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=sigint_default)
    # wait until training is under way, then interrupt it
    for line in proc.stdout:
        if line.startswith("iteration 200:"):
            break
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=300)  # saving the run: seconds, unless the machine is busy
    assert proc.returncode == 130, err
    assert "interrupted after" in err and "--resume" in err
    config = json.loads((out / "config.json").read_text())
    assert config["interrupted"] is True and 200 <= config["steps"] < 100000000
    predictor = load_model(out)
    assert predictor.predict_proba(np.zeros((1, 2))).shape == (1, 3)
    assert (out / "report.html").stat().st_size > 1000
    assert not list(out.glob(".*.tmp"))
