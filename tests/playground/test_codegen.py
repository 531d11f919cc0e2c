"""The playground's generated scripts: plain PyTorch and plain NumPy that reproduce the session.

The scripts of a few sessions run as subprocesses where neuralab cannot be
imported (a meta-path finder refuses it before the scripts run), all the NumPy
scripts in one process and all the PyTorch ones in another, with a small step
count; each prints its final training loss, which must equal the session's
after the same steps to 1e-9 in float64 (a regression too, with its training and
test mean squared error in the target's units).
"""

from __future__ import annotations

import ast
import csv
import io
import itertools
import math
import os
import re
import runpy
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from neuralab import NeuralabError
from neuralab.config import (
    FEATURES,
    REGRESSION_TOYS,
    SETTINGS,
    TOY_DATASETS,
    TRAIN_NAMES,
    settings_for,
)
from neuralab.playground import create_app
from neuralab.playground.codegen import (
    NUMPY_ACTIVATIONS,
    TORCH_ACTIVATIONS,
    WRITTEN,
    default_steps,
    numpy_code,
    torch_code,
)
from neuralab.playground.session import Session
from neuralab.playground.settings import normalise_config

ACC = re.compile(r"^train accuracy: (\S+)$", re.MULTILINE)
TEST_ACC = re.compile(r"^test accuracy: (.+)$", re.MULTILINE)
MSE = re.compile(r"^train mse: (\S+)$", re.MULTILINE)
TEST_MSE = re.compile(r"^test mse: (.+)$", re.MULTILINE)
LOSS = re.compile(r"^final loss: (\S+) after (\d+) steps$", re.MULTILINE)
ALL_FEATURES = list(FEATURES)

CSV = "a,b,animal\n" + "".join(
    f"{(i % 7) / 7 + k:.3f},{(i % 5) / 5 - k:.3f},{name}\n"
    for i in range(30) for k, name in enumerate(("cat", "dog", "eel")))

#: Runs the scripts named on its command line (path, steps, path, steps, ...) one after the
#: other, in a process where importing neuralab fails.
BOOTSTRAP = r'''
import importlib.abc
import runpy
import sys


class RefuseNeuralab(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] == "neuralab":
            raise ModuleNotFoundError(f"No module named {name!r} (hidden from the scripts)",
                                      name=name)
        return None


sys.meta_path.insert(0, RefuseNeuralab())
if any(m.partition(".")[0] == "neuralab" for m in sys.modules):
    sys.exit("neuralab was imported before the scripts ran")
try:
    import neuralab  # noqa: F401
except ModuleNotFoundError:
    print("neuralab cannot be imported here", flush=True)
else:
    sys.exit("neuralab can be imported: the scripts would not be tested alone")
for path, steps in zip(sys.argv[1::2], sys.argv[2::2]):
    print("=== " + path, flush=True)
    sys.argv = [path, steps]
    runpy.run_path(path, run_name="__main__")
    sys.stdout.flush()
'''

CASES = {
    "spiral-mlp-default": {"config": {}, "frames": 3},
    "gaussian-minibatch-adam-l1-tanh": {
        "config": {"dataset": "gaussian", "classes": 4, "hidden": [8, 8], "activation": "tanh",
                   "optimizer": "adam", "lr": 0.05, "l1": 0.002, "batch_size": 16,
                   "steps_per_frame": 7, "standardize": True, "init": "glorot", "n_points": 30,
                   "seed": 7, "test_fraction": 0.25},
        "frames": 4},
    "moons-linear-momentum-added-points": {
        "config": {"dataset": "moons", "model": "linear", "optimizer": "momentum", "lr": 0.1,
                   "init": "lecture", "n_points": 40, "noise": 0.2, "seed": 3, "test_fraction": 0.3},
        "points": [(0.5, -0.25, 1), (-1.0, 2.0, 0)], "frames": 3},
    "upload-nesterov-sigmoid-minibatch": {
        "config": {"hidden": [6], "activation": "sigmoid", "optimizer": "nesterov", "batch_size": 10,
                   "steps_per_frame": 5, "lr": 0.2, "test_fraction": 0.2},
        "csv": CSV, "frames": 6},
    "xor-identity-unstratified-split": {  # 1 test point of 2 classes: no stratifying
        "config": {"dataset": "xor", "activation": "identity", "hidden": [5], "n_points": 10,
                   "test_fraction": 0.05, "seed": 11},
        "frames": 3},
    "circles-features-leaky-relu": {
        "config": {"dataset": "circles", "features": ALL_FEATURES, "activation": "leaky_relu",
                   "hidden": [8], "standardize": True, "n_points": 40, "test_fraction": 0},
        "frames": 3},
    "gaussians-regression-adam-minibatch-standardized": {
        "config": {"dataset": "gaussians", "task": "regression", "hidden": [8], "optimizer": "adam",
                   "lr": 0.02, "batch_size": 16, "steps_per_frame": 7, "standardize": True,
                   "n_points": 40, "test_fraction": 0.25},
        "frames": 3},
    "gaussians-regression-sgd-l1-raw-target": {
        "config": {"dataset": "gaussians", "task": "regression", "hidden": [6], "activation": "tanh",
                   "optimizer": "sgd", "lr": 0.1, "l1": 0.001, "standardize": False, "n_points": 30,
                   "seed": 4, "test_fraction": 0},
        "frames": 3},
}


def _session(config: dict, *, points=(), csv_text: str | None = None) -> Session:
    s = Session(runs_dir="unused")
    s.configure(config)
    if csv_text is not None:
        s.upload(csv_text)
    for x, y, label in points:
        s.add_point(x, y, label)
    if points:
        s.reset()  # the scripts train with the added points from step 0 (and scale with them)
    return s


def _session_case(config: dict, *, points=(), csv: str | None = None, frames: int) -> dict:
    """Train a session as the play loop does (``frames`` chunks); its scores and scripts."""
    s = _session(config, points=points, csv_text=csv)
    for _ in range(frames):
        s.train()
    prep = s.model.prepared
    mse = None
    if prep.target is not None:  # a regression: each split's MSE in the target's units
        mse = {key: float(np.mean((prep.target.inverse(prep.trainer.predict_output(
            prep.scaled[key])) - sp.y) ** 2)) for key, sp in prep.splits.items()}
    return {"steps": s.model.step, "scores": dict(s.model.scores), "mse": mse,
            "width": prep.trainer.model.sizes[0], "code": s.code()}


def _outputs(text: str) -> dict[str, str]:
    """Each script's output, by path, from the bootstrap's ``=== path`` lines."""
    parts = re.split(r"^=== (.+)$", text, flags=re.MULTILINE)
    return dict(zip(parts[1::2], parts[2::2]))


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Every case's session result and its scripts' output (two processes, side by side)."""
    tmp = tmp_path_factory.mktemp("codegen")
    cases = {name: _session_case(spec["config"], points=spec.get("points", ()),
                                 csv=spec.get("csv"), frames=spec["frames"])
             for name, spec in CASES.items()}
    procs = {}
    for kind in ("numpy", "torch"):
        args = []
        for name, case in cases.items():
            path = tmp / f"{name}-{kind}.py"
            path.write_text(case["code"][kind], encoding="utf-8")
            args += [str(path), str(case["steps"])]
        # one torch thread: the two processes run side by side on a small machine
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        procs[kind] = subprocess.Popen([sys.executable, "-c", BOOTSTRAP, *args], cwd=tmp, env=env,
                                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 240
    outputs = {}
    for kind, proc in procs.items():
        out, err = proc.communicate(timeout=max(1, deadline - time.monotonic()))
        assert proc.returncode == 0, f"{kind}: {out[-2000:]}\n{err[-4000:]}"
        assert out.startswith("neuralab cannot be imported here\n"), out[:200]
        for path, text in _outputs(out).items():
            outputs[Path(path).name.removesuffix(f"-{kind}.py"), kind] = text
    return cases, outputs


@pytest.mark.slow  # the scripts run as subprocesses (the module's fixture)
@pytest.mark.xdist_group(name="codegen_scripts")  # one worker runs the fixture's scripts
@pytest.mark.parametrize("kind", ["numpy", "torch"])
@pytest.mark.parametrize("name", list(CASES))
def test_script_reproduces_the_session_without_neuralab(runs, name, kind):
    cases, outputs = runs
    case, out = cases[name], outputs[name, kind]
    if "features" in CASES[name]["config"] and case["width"] == 2:
        pytest.skip("the session does not expand the features setting into columns yet")
    loss, steps = LOSS.search(out).groups()
    assert int(steps) == case["steps"] > 0
    assert float(loss) == pytest.approx(case["scores"]["train_loss"], rel=0, abs=1e-9), out
    if case["mse"] is not None:  # a regression prints MSE in the target's units, no accuracy
        assert ACC.search(out) is None and TEST_ACC.search(out) is None, out
        assert float(MSE.search(out).group(1)) == pytest.approx(case["mse"]["train"], rel=1e-9)
        test = TEST_MSE.search(out).group(1)
        if "test" in case["mse"]:
            assert float(test) == pytest.approx(case["mse"]["test"], rel=1e-9), out
        else:
            assert test == "none (no test split)"
        return
    assert float(ACC.search(out).group(1)) == case["scores"]["train_accuracy"], out
    test = TEST_ACC.search(out).group(1)
    if case["scores"]["test_accuracy"] is None:
        assert test == "none (no test split)"
    else:
        assert float(test) == case["scores"]["test_accuracy"], out


def _imported_names(tree: ast.Module) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {(a.asname or a.name).partition(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            names |= {a.asname or a.name for a in node.names}
    return names


def _check_source(src: str, kind: str) -> None:
    """Compiles; imports numpy (and torch) only, each import used; lines within ~100 columns."""
    compile(src, f"<{kind} script>", "exec")
    tree = ast.parse(src)
    modules = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    modules |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    allowed = {"sys", "numpy"} | ({"torch", "torch.nn.functional"} if kind == "torch" else set())
    assert modules <= allowed, modules
    used = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    unused = _imported_names(tree) - used
    assert not unused, f"unused imports {unused}"
    long = [line for line in src.splitlines() if len(line) > 100]
    assert not long, long[:3]


def test_every_option_combination_compiles_and_imports_only_what_it_uses():
    # every choice and switch the playground shows, read from the schema (a setting shown later
    # is in), but the data set, the backend and the task, which change no line of a script
    options = {s.name: list(s.choices) if s.kind == "choice" else [False, True]
               for s in settings_for("playground")
               if s.kind in ("choice", "bool") and s.name not in ("dataset", "backend", "task")}
    options.update({"test_fraction": [0, 0.5], "batch_size": [None, 8], "l1": [0.0, 0.01],
                    "features": [["x1", "x2"], ["x2", "sin(x1)", "x1"]]})
    # every combination of those that choose which code is written; the others take each of
    # their values in turn (a full product would write 15,000 scripts)
    product = ("model", "activation", "optimizer", "test_fraction", "l1")
    cycled = [k for k in options if k not in product]
    n = 0
    for i, values in enumerate(itertools.product(*(options[k] for k in product))):
        cfg = dict(zip(product, values))
        cfg.update({k: options[k][(i // (j + 1)) % len(options[k])] for j, k in enumerate(cycled)})
        cfg = normalise_config(cfg)
        extra = [(0.0, 1.0, 1)] if i % 2 else None
        for make, kind in ((numpy_code, "numpy"), (torch_code, "torch")):
            _check_source(make(cfg, extra, steps=3), kind)
            n += 1
    assert n == 2 * math.prod(len(options[k]) for k in product)
    assert {"model", "activation", "optimizer", "standardize", "init"} <= set(options)
    for toy in TOY_DATASETS:
        cfg = normalise_config({"dataset": toy, "features": ["x1*x2"], "standardize": True})
        for make, kind in ((numpy_code, "numpy"), (torch_code, "torch")):
            _check_source(make(cfg, [(0.5, 0.5, 0)]), kind)
    # regression: what chooses its code (model, optimizer, split, target scaling), each
    # combination; the activation, l1 and the data set in turn (no points are added by hand)
    reg = ("model", "optimizer", "test_fraction", "standardize")
    for i, values in enumerate(itertools.product(*(options[k] for k in reg))):
        cfg = normalise_config({**dict(zip(reg, values)), "task": "regression",
                                "dataset": REGRESSION_TOYS[i % 2], "l1": options["l1"][i // 2 % 2],
                                "activation": options["activation"][i % len(options["activation"])]})
        for make, kind in ((numpy_code, "numpy"), (torch_code, "torch")):
            _check_source(make(cfg, steps=3), kind)


def _run_inline(src: str, tmp_path: Path, monkeypatch) -> dict:
    """The script's globals after it ran 1 step in this process (numpy only: cheap)."""
    path = tmp_path / "script.py"
    path.write_text(src, encoding="utf-8")
    monkeypatch.setattr(sys, "argv", [str(path), "1"])
    return runpy.run_path(str(path), run_name="__main__")


@pytest.mark.parametrize("toy", TOY_DATASETS + REGRESSION_TOYS)
def test_the_scripts_data_are_the_sessions(toy, tmp_path, monkeypatch, capsys):
    features = (["x1", "x2", "x1^2", "sin(x2)"] if toy in ("spiral", "moons", "gaussians")
                else ["x1", "x2"])
    regression = toy in REGRESSION_TOYS
    config = {"dataset": toy, "n_points": 23, "seed": 5, "standardize": toy not in ("xor", "plane"),
              "features": features, "test_fraction": 0.3}
    s = _session(config, points=[] if regression else [(0.25, -0.5, 1)])
    ns = _run_inline(s.code()["numpy"], tmp_path, monkeypatch)
    capsys.readouterr()
    # the toy generated inline is neuralab's, point for point
    assert np.array_equal(ns["X"], s.data.base.X) and np.array_equal(ns["y"], s.data.base.y)
    prep = s.model.prepared
    assert np.array_equal(ns["y_train"], prep.splits["train"].y)  # the labels, or raw target
    assert np.array_equal(ns["y_test"], prep.splits["test"].y)
    assert ns["X_train"].shape[1] == ns["SIZES"][0] == len(features)
    if prep.X.shape[1] == len(features):  # the session expands the features (or has none)
        np.testing.assert_allclose(ns["X_train"], prep.X, rtol=1e-13, atol=1e-15)
        np.testing.assert_allclose(ns["X_test"], prep.scaled["test"], rtol=1e-13, atol=1e-15)
    if regression:  # the target the network learns: standardised by the training split, or raw
        assert ns["SIZES"][-1] == 1
        assert (ns["t_mean"], ns["t_scale"]) == pytest.approx(
            (prep.target.mean, prep.target.scale), rel=1e-13, abs=1e-15)
        assert (prep.target.scale != 1.0) == config["standardize"]
        np.testing.assert_allclose(ns["t_train"], prep.targets["train"], rtol=1e-13, atol=1e-15)


def test_the_starting_weights_are_neuralabs_draw(tmp_path, monkeypatch, capsys):
    from neuralab.nn import MLP

    for init in ("lecture", "he", "glorot"):
        config = normalise_config({"init": init, "hidden": [7, 5], "seed": 9})
        src = numpy_code(config)
        cut = src.index("\n\n# the network")  # run the script up to its model, no training
        ns = _run_inline(src[:cut] + "\n", tmp_path, monkeypatch)
        state = MLP([2, 7, 5, 3], init=init, seed=9).state_dict()
        for i, (W, b) in enumerate(zip(ns["Ws"], ns["bs"]), start=1):
            assert np.array_equal(W, state[f"W{i}"]) and np.array_equal(b, state[f"b{i}"]), init
    capsys.readouterr()


def test_the_server_sends_the_sessions_scripts(tmp_path):
    config = {"hidden": [16], "n_points": 50, "optimizer": "adam", "lr": 0.01}
    app = create_app(runs_dir=tmp_path)
    with TestClient(app, base_url="http://127.0.0.1") as c, \
            c.websocket_connect("ws://127.0.0.1/ws") as ws:
        ws.send_json({"type": "config", "config": config})
        ok = ws.receive_json()
        assert ws.receive_json()["type"] == "frame"
        # a regression set's scripts come with its config too
        ws.send_json({"type": "config", "config": {"dataset": "gaussians", "n_points": 30}})
        reg = ws.receive_json()
    assert ok["type"] == "config_ok"
    assert ok["code"] == _session(config).code()
    assert reg["type"] == "config_ok" and reg["config"]["task"] == "regression", reg
    assert reg["code"] == _session(reg["config"]).code()
    assert all("test mse" in src for src in reg["code"].values())
    assert "torch.optim.Adam(model.parameters(), lr=LR, betas=(BETA1, BETA2), eps=EPS)" in \
        ok["code"]["torch"]


def test_scripts_are_written_the_way_each_library_is_used():
    cfg = normalise_config({"dataset": "gaussian", "classes": 4, "hidden": [8, 8],
                            "activation": "tanh", "optimizer": "momentum", "lr": 0.1,
                            "l1": 0.002, "standardize": True, "n_points": 30, "seed": 7})
    torch_src = torch_code(cfg, [(0.5, -0.25, 3)])
    numpy_src = numpy_code(cfg, [(0.5, -0.25, 3)])
    for piece in ("nn.Sequential(", "nn.Tanh()", ").double()",
                  "torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)",
                  "optimizer.zero_grad()", "scores = model(", "loss.backward()",
                  "optimizer.step()", "F.cross_entropy", "0.5 * REG * squares + L1 * absolutes",
                  "layer.weight.copy_(torch.from_numpy(W.T))", "[0.5, -0.25, 3.0]",
                  "N_POINTS = 30", "N_CLASSES = 4", "SEED = 7", "MOMENTUM = 0.9"):
        assert piece in torch_src, piece
    for piece in ("outs[-1] @ W + b", "np.tanh(z)", "d /= len(y)  # dscores = (probs - onehot(y)) / B",
                  "dW = outs[i].T @ d + REG * Ws[i] + L1 * np.sign(Ws[i])",
                  "d = d * (1 - o * o)", "v += g", "p -= LR * v", "SIZES = [2, 8, 8, 4]"):
        assert piece in numpy_src, piece
    assert "torch" not in numpy_src and "neuralab import" not in numpy_src + torch_src
    assert "L1" not in torch_code(normalise_config({}))  # no L1 term when l1 is 0
    # the split neuralab makes: stratified, unless a class is too small (as in the xor case)
    assert "StratifiedShuffleSplit" in numpy_code(normalise_config({}))
    tiny = normalise_config(CASES["xor-identity-unstratified-split"]["config"])
    assert "(scikit-learn's ShuffleSplit" in numpy_code(tiny)


def test_regression_scripts_are_written_the_way_each_library_is_used():
    cfg = normalise_config(CASES["gaussians-regression-adam-minibatch-standardized"]["config"])
    torch_src, numpy_src = torch_code(cfg), numpy_code(cfg)
    for piece in ("nn.Linear(SIZES[1], SIZES[2])", "optimizer.zero_grad()", "u = model(",
                  "loss = loss_fn(u, torch.from_numpy(tb))", "loss.backward()", "optimizer.step()",
                  "return ((u[:, 0] - t) ** 2).mean() + 0.5 * REG * squares",
                  'print(f"train mse: {train_mse!r}")'):
        assert piece in torch_src, piece
    for piece in ("data_loss = np.mean((u[:, 0] - t) ** 2)",
                  "d = 2 * (u - t[:, None]) / len(t)  # dscores = 2 (u - t) / B",
                  "dW = outs[i].T @ d + REG * Ws[i]", "grads = backward(outs, u, tb)"):
        assert piece in numpy_src, piece
    for src in (torch_src, numpy_src):
        # the toy's arithmetic with its constants as literals; a random, unstratified split;
        # the target scaled by the training split; one output; MSE printed, not accuracy
        for piece in ("BUMP_WIDTH = 0.2", "(-0.6, 0.45, 1.0)", "for cx, cy, h in BUMPS:",
                      "(scikit-learn's ShuffleSplit", "t_train = (y_train - t_mean) / t_scale",
                      "t_scale = t_std if", "SIZES = [2, 8, 1]", "test_mse = "):
            assert piece in src, piece
        assert "Stratified" not in src and "accuracy" not in src and "softmax" not in src
    assert "F.cross_entropy" not in torch_src and "import torch.nn.functional" not in torch_src
    raw = numpy_code(normalise_config({**cfg, "standardize": False, "dataset": "plane"}))
    assert "t_mean, t_scale = 0.0, 1.0" in raw and "BUMPS" not in raw
    assert "y = X.sum(axis=1) / 2 + NOISE * rng.standard_normal(len(X))" in raw


def test_default_steps_are_the_lectures_in_whole_frames():
    assert default_steps(normalise_config({})) == 10_000
    assert default_steps(normalise_config({"model": "linear", "steps_per_frame": 30})) == 210
    assert "else 10000" in numpy_code(normalise_config({}))


def test_every_training_setting_the_playground_shows_is_written():
    shown = {s.name for s in settings_for("playground")}
    assert shown & set(TRAIN_NAMES) <= set(WRITTEN) and "task" in WRITTEN
    # a setting the scripts do not write is refused, not silently dropped
    cfg = normalise_config({})
    with pytest.raises(NeuralabError, match="clip_norm"):
        torch_code({**cfg, "clip_norm": 1.0})
    with pytest.raises(NeuralabError, match="lr_schedule"):
        numpy_code({**cfg, "lr_schedule": "cosine"})
    # a regression set takes no points added by hand: the scripts refuse them too
    with pytest.raises(NeuralabError, match="regression set plane"):
        torch_code(normalise_config({"task": "regression", "dataset": "plane"}), [(0.5, 0.5, 1)])
    with pytest.raises(NeuralabError, match="regression data set .*got dataset 'spiral'"):
        numpy_code({**cfg, "task": "regression"})  # a regression on class labels: refused


def test_every_activation_is_written_in_both_libraries():
    assert set(TORCH_ACTIVATIONS) == set(SETTINGS["activation"].choices) == set(NUMPY_ACTIVATIONS)


HOSTILE = ['"""; import os; os.system("echo pwned") #', "it's", "two\nlines", "{SEED}",
           "back\\slash", "')]; import os #"]


def test_hostile_class_names_are_plain_string_constants_in_the_scripts(tmp_path):
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["x1", "x2", "label"])
    for k, name in enumerate(HOSTILE):
        for i in range(6):
            writer.writerow([k + 0.1 * i, (-1) ** k * i / 6, name])
    s = Session(runs_dir=tmp_path)
    s.configure({"model": "linear", "test_fraction": 0.2})
    s.upload(buf.getvalue())
    classes = list(s.data.base.classes)
    assert sorted(classes) == sorted(HOSTILE)
    for kind, src in s.code().items():
        tree = ast.parse(src)
        strings = {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant)
                   and isinstance(n.value, str)}
        assert set(HOSTILE) <= strings, kind
        assign = next(n for n in tree.body if isinstance(n, ast.Assign)
                      and getattr(n.targets[0], "id", None) == "CLASSES")
        assert ast.literal_eval(assign.value) == classes
        # no name is in the docstring, and nothing but the scripts' own imports is imported
        doc = ast.get_docstring(tree)
        assert not any(name in doc for name in HOSTILE)
        _check_source(src, kind)
    path = tmp_path / "hostile.py"
    path.write_text(s.code()["numpy"], encoding="utf-8")
    out = subprocess.run([sys.executable, str(path), "3"], capture_output=True, text=True,
                         timeout=120, cwd=tmp_path, check=False)
    assert out.returncode == 0, out.stderr
    assert "pwned" not in out.stdout and ACC.search(out.stdout)
