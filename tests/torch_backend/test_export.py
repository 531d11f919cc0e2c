"""``neuralab export``: ONNX and TorchScript files give the run's own predictions.

Each exported file is run outside neuralab (onnxruntime, ``torch.jit.load``) on the
run's test split, raw rows in, and compared with the run's Predictor: to 1e-12 for
float64 models (both formats keep float64), to 1e-6 for float32 ones. The runs cover
standardised and raw inputs, feature inputs (with sin), a regression target's
units, and every activation but identity. The metadata travels with the files; the
refusals are one line and exit status 2.
"""

import json

import numpy as np
import pytest
import torch

from neuralab import __version__
from neuralab.config import TrainSettings
from neuralab.data import load
from neuralab.data.preprocess import FEATURE_FUNCTIONS
from neuralab.lab import load_model, resume_training, run_training
from neuralab.runs import load_run_data
from neuralab.torch_backend.export import TORCH_FEATURES

ort = pytest.importorskip("onnxruntime")

pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:DeprecationWarning")

TOLERANCE = {"float64": 1e-12, "float32": 1e-6}


def _spec(name):
    return {"kind": "registry", "name": name, "seed": 0, "options": {}}


@pytest.fixture(scope="module")
def runs(spiral_run, tmp_path_factory):
    """float64 (the shared spiral run: relu, standardised), float32 (sigmoid, raw inputs,
    feature inputs) and a float64 regression run (leaky_relu, features with sin)."""
    root = tmp_path_factory.mktemp("export")
    out = {"float64": spiral_run.run_dir}
    for name, data, settings in (
        ("float32", "circles", TrainSettings(hidden=[8], activation="sigmoid", dtype="float32",
                                             standardize=False, features=["x1^2", "x2^2", "x1*x2"],
                                             iterations=100, test_fraction=0.25)),
        ("regression", "plane", TrainSettings(hidden=[8], activation="leaky_relu", lr=0.05,
                                              task="regression", iterations=100, test_fraction=0.25,
                                              features=["x1", "x2", "sin(x1)", "x1*x2"])),
    ):
        out[name] = run_training(load(data, seed=0), settings, out=root / name, echo=None,
                                 progress=False, name=name, data_spec=_spec(data)).run_dir
    return out


def test_torch_features_are_the_engines():
    assert list(TORCH_FEATURES) == list(FEATURE_FUNCTIONS)
    P = np.array([[0.3, -1.7], [2.5, 0.0], [-4.0, 9.0]])
    t = torch.from_numpy(P)
    for name, f in FEATURE_FUNCTIONS.items():
        np.testing.assert_array_equal(TORCH_FEATURES[name](t[:, 0], t[:, 1]).numpy(),
                                      f(P[:, 0], P[:, 1]), err_msg=name)


@pytest.mark.parametrize("kind", ["float64", "float32", "regression"])
def test_exported_files_give_the_predictors_outputs(runs, kind, cli, tmp_path):
    run_dir = runs[kind]
    predictor = load_model(run_dir)
    X = load_run_data(run_dir).splits()["test"].X
    regression = predictor.task == "regression"
    want = predictor.predict_values(X) if regression else predictor.predict_proba(X)
    dtype = predictor.meta["dtype"]
    rows = X.astype(dtype)
    onnx_file, ts_file = tmp_path / "m.onnx", tmp_path / "m.pt"
    for fmt, path in (("onnx", onnx_file), ("torchscript", ts_file)):
        code, out, err = cli("export", run_dir, "--format", fmt, "--out", path)
        assert code == 0, err
        assert str(path) in out and "preprocessing included" in out

    session = ort.InferenceSession(str(onnx_file), providers=["CPUExecutionProvider"])
    (inp,), (outp,) = session.get_inputs(), session.get_outputs()
    assert inp.name == "x" and inp.type == {"float64": "tensor(double)",
                                           "float32": "tensor(float)"}[dtype]
    assert outp.name == ("prediction" if regression else "probabilities")
    extra = {"neuralab.json": ""}
    scripted = torch.jit.load(str(ts_file), _extra_files=extra)
    got = {"onnx": session.run(None, {"x": rows})[0],
           "torchscript": scripted(torch.from_numpy(rows)).numpy()}
    for fmt, values in got.items():
        assert values.shape == want.shape and values.dtype == np.dtype(dtype), fmt
        scale = np.abs(want).max() if regression else 1.0  # probabilities are at most 1
        np.testing.assert_allclose(values, want, rtol=0, atol=TOLERANCE[dtype] * scale,
                                   err_msg=fmt)
    # any batch size, one row included
    one = session.run(None, {"x": rows[:1]})[0]
    np.testing.assert_allclose(one, want[:1], rtol=0, atol=TOLERANCE[dtype] * scale)

    props = session.get_modelmeta().custom_metadata_map
    for meta in (props, json.loads(extra["neuralab.json"])):
        assert meta["neuralab_version"] == __version__
        assert meta["task"] == predictor.task and meta["dtype"] == dtype
        assert json.loads(meta["classes"]) == predictor.classes
        assert json.loads(meta["feature_names"]) == predictor.feature_names == ["x1", "x2"]
    assert (props.get("target") == "y") == regression


def _one_line_error(result, message):
    code, out, err = result
    assert code == 2 and out == "" and err == f"neuralab: error: {message}\n", err


def test_default_out_refusals_and_resume(spiral_run_copy, cli, tmp_path):
    run_dir = spiral_run_copy
    own = (run_dir / "model.json").read_bytes()
    for fmt, name in (("onnx", "model.onnx"), ("torchscript", "model.pt")):
        code, out, err = cli("export", run_dir, "-f", fmt)
        assert code == 0 and (run_dir / name).is_file() and f"{run_dir / name}" in out, err
        _one_line_error(cli("export", run_dir, "-f", fmt),
                        f"--out {run_dir / name} exists; choose another file or pass --overwrite")
        before = (run_dir / name).stat().st_mtime_ns
        code, _, err = cli("export", run_dir, "-f", fmt, "--overwrite")
        assert code == 0 and (run_dir / name).stat().st_mtime_ns >= before, err
    _one_line_error(cli("export", run_dir, "-f", "onnx", "--out", run_dir / "model.json",
                        "--overwrite"),
                    f"--out {run_dir / 'model.json'} is one of the run's own files; give another "
                    "file name")
    assert (run_dir / "model.json").read_bytes() == own
    _one_line_error(cli("export", run_dir, "-f", "tflite"),
                    "--format must be one of onnx, torchscript; got 'tflite'")
    _one_line_error(cli("export", tmp_path / "nope", "-f", "onnx"),
                    f"run directory {tmp_path / 'nope'} does not exist")
    _one_line_error(cli("export", run_dir, "-f", "onnx", "--out", tmp_path),
                    f"--out {tmp_path} is a folder; give a file name")
    blocker = tmp_path / "file"
    blocker.write_text("")
    _one_line_error(cli("export", run_dir, "-f", "onnx", "--out", blocker / "m.onnx"),
                    f"--out {blocker / 'm.onnx'} cannot be written: {blocker} is a file, not a "
                    "folder")
    assert not list(tmp_path.glob(".*.tmp")) and not list(run_dir.glob(".*.tmp"))
    # a resumed run has new weights: the old exports are not carried into it
    resume_training(run_dir, iterations=1, echo=None, progress=False)
    assert not (run_dir / "model.onnx").exists() and not (run_dir / "model.pt").exists()
