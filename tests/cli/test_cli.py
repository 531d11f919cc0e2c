"""The command line: results, run directories, and one-line errors with exit status 2."""

import json
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.parametrize("args, fragment", [
    (["train", "--dataset", "mnist-typo"], "dataset must be one of spiral, moons, circles, xor, gaussian, plane, gaussians, digits, iris, wine, breast_cancer, diabetes, friedman1, fashion_mnist, mnist; got 'mnist-typo'"),
    (["train", "--dataset", "spiral", "--activation", "rellu"], "activation must be one of relu, tanh, sigmoid, leaky_relu, identity; got 'rellu'"),
    (["train", "--dataset", "spiral", "--hidden", "0"], "--hidden must be a list of layer widths, each an integer from 1 to 100000; got [0]"),
    (["train", "--dataset", "spiral", "--hidden", "100", "--hidden", "0"], "--hidden must be a list of layer widths, each an integer from 1 to 100000; got [100, 0]"),
    (["train", "--dataset", "spiral", "--lr", "-0.5"], "--lr must be a finite number > 0; got -0.5"),
    (["train", "--dataset", "spiral", "--lr", "abc"], "Invalid value for '--lr': 'abc' is not a valid float"),
    (["train", "--dataset", "spiral", "--optimizer", "rmsprop"], "optimizer must be one of"),
    (["train", "--dataset", "spiral", "--model", "cnn"], "--model must be one of linear, mlp; got 'cnn'"),
    (["train", "--dataset", "spiral", "--dtype", "float16"], "--dtype must be one of float64, float32; got 'float16'"),
    (["train", "--dataset", "spiral", "--iterations", "0"], "--iterations must be a positive integer, or none (the lecture's count, or epochs); got 0"),
    (["train", "--dataset", "spiral", "--test-fraction", "1.5"], "--test-fraction must be a number in [0, 1), or none"),
    (["train"], "give exactly one of --dataset NAME and --data FILE"),
    (["train", "--data", "/no/such/file.csv"], "data file /no/such/file.csv does not exist"),
    (["train", "--dataset", "spiral", "--bogus"], "No such option: --bogus"),
    (["gradcheck", "--activation", "rellu"], "activation must be one of"),
    (["nonsense"], "No such command"),
])
def test_user_errors_are_one_line_and_exit_2(cli, tmp_path, args, fragment):
    code, out, err = cli(*args, *(["--out", tmp_path / "run"] if args[0] == "train" and "--bogus" not in args else []))
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("neuralab: error: ")
    assert fragment in lines[0]
    assert "Traceback" not in out + err
    assert not (tmp_path / "run" / "model.safetensors").exists()


@pytest.mark.parametrize("args, line", [
    (["--lr", "abc"], "neuralab: error: Invalid value for '--lr': 'abc' is not a valid float"),
    (["--epochs=x"], "neuralab: error: Invalid value for '--epochs': 'x' is not a valid int"),
])
def test_a_value_the_parser_refuses_is_quoted_once(cli, tmp_path, args, line):
    code, out, err = cli("train", "--dataset", "spiral", *args, "--out", tmp_path / "run")
    assert code == 2
    assert err.strip() == line


def test_divergent_run_stops_with_the_nan_message(cli, tmp_path):
    code, out, err = cli("train", "--dataset", "spiral", "--lr", "1e6", "--quiet",
                         "--out", tmp_path / "run")
    assert code == 1
    assert "loss became nan" in err or "loss became inf" in err
    assert "smaller learning rate --lr (now 1e+06)" in err
    assert "Traceback" not in err


def test_train_writes_a_run_directory(cli, tmp_path):
    out_dir = tmp_path / "moons"
    code, out, err = cli("train", "--dataset", "moons", "--hidden", "16", "--hidden", "8",
                         "--activation", "tanh", "--iterations", "300", "--lr", "0.5",
                         "--test-fraction", "0.25", "--print-every", "100", "--out", out_dir)
    assert code == 0, err
    assert "iteration 0: loss 0.69" in out and "iteration 200: loss" in out
    assert f"run written to {out_dir}" in out
    config = json.loads((out_dir / "config.json").read_text())
    assert config["settings"]["hidden"] == [16, 8]
    assert config["data"]["train_shape"] == [150, 2] and config["data"]["test_shape"] == [50, 2]
    metrics = json.loads((out_dir / "metrics.json").read_text())
    assert metrics["test"]["accuracy"] > 0.8
    assert (out_dir / "figures" / "boundary.png").is_file()


def test_train_linear_model_with_csv_data(cli, tmp_path):
    import numpy as np

    from neuralab.data import gaussian

    X, y = gaussian(n_per_class=40, seed=0)
    path = tmp_path / "points.csv"
    names = np.array(["cat", "dog", "emu"])
    path.write_text("a,b,label\n" + "".join(f"{a},{b},{names[t]}\n" for (a, b), t in zip(X, y)))
    code, out, err = cli("train", "--data", path, "--target", "label", "--model", "linear",
                         "--epochs", "20", "--batch-size", "16", "--lr", "0.1",
                         "--optimizer", "momentum", "--quiet", "--out", tmp_path / "run")
    assert code == 0, err
    meta = json.loads((tmp_path / "run" / "model.json").read_text())
    assert meta["classes"] == ["cat", "dog", "emu"] and meta["sizes"] == [2, 3]
    assert "train accuracy" in out


def test_train_refuses_a_used_out_folder(cli, tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "keep.txt").write_text("precious")
    code, _, err = cli("train", "--dataset", "xor", "--quiet", "--out", tmp_path / "run")
    assert code == 2 and "--overwrite" in err
    assert (tmp_path / "run" / "keep.txt").read_text() == "precious"


def test_gradcheck_command_prints_each_parameter(cli):
    code, out, _ = cli("gradcheck", "--hidden", "10", "--hidden", "6", "--activation", "sigmoid")
    assert code == 0
    for name in ("W1", "b1", "W2", "b2", "W3", "b3"):
        assert f"│ {name} " in out
    assert "all 6 parameters agree to better than 1e-06" in out


def test_datasets_command_lists_the_registry(cli):
    code, out, _ = cli("datasets")
    assert code == 0
    for name in ("spiral", "moons", "circles", "xor", "gaussian"):
        assert name in out


def test_console_script_exit_status(tmp_path):
    exe = Path(sys.executable).parent / "neuralab"
    proc = subprocess.run([str(exe), "train", "--dataset", "spiral", "--hidden", "0"],
                          capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip() == "neuralab: error: --hidden must be a list of layer widths, each an integer from 1 to 100000; got [0]"
    proc = subprocess.run([str(exe), "--help"], capture_output=True, text=True)
    assert proc.returncode == 0 and "demo" in proc.stdout
