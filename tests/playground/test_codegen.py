"""The playground's generated scripts run, and the NumPy one reproduces the session's numbers.

Each script runs as a subprocess (``sys.executable``) with a small step count;
all of them run at once to keep the test short.
"""

from __future__ import annotations

import ast
import inspect
import itertools
import math
import os
import re
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from neuralab.config import SETTINGS, settings_for
from neuralab.nn import MLP
from neuralab.playground import create_app
from neuralab.playground.codegen import (
    TORCH_ACTIVATIONS,
    default_steps,
    model_arguments,
    numpy_code,
    torch_code,
)
from neuralab.playground.session import Session
from neuralab.playground.settings import normalise_config, train_settings
from neuralab.train import make_engine_trainer

ROOT = Path(__file__).resolve().parents[2]
ACC = re.compile(r"^train accuracy: (\S+)$", re.MULTILINE)
TEST_ACC = re.compile(r"^test accuracy: (.+)$", re.MULTILINE)
LOSS = re.compile(r"^final loss: (\S+) after (\d+) steps$", re.MULTILINE)

CSV = "a,b,animal\n" + "".join(
    f"{(i % 7) / 7 + k:.3f},{(i % 5) / 5 - k:.3f},{name}\n"
    for i in range(30) for k, name in enumerate(("cat", "dog", "eel")))


def _session_case(config: dict, *, points=(), csv: str | None = None, frames: int) -> dict:
    """Train a session as the play loop does (``frames`` chunks); its scores and scripts."""
    s = Session(runs_dir="unused")
    s.configure(config)
    if csv is not None:
        s.upload(csv)
    for x, y, label in points:
        s.add_point(x, y, label)
    if points:
        s.reset()  # the scripts train with the added points from step 0 (and scale with them)
    for _ in range(frames):
        s.train()
    return {"steps": s.model.step, "scores": dict(s.model.scores),
            "n_train": len(s.data.splits["train"].y), "code": s.code()}


def _play_case(tmp_path) -> dict:
    """Through the server: the code of config_ok, and the scores after playing a while."""
    app = create_app(runs_dir=tmp_path)
    with TestClient(app, base_url="http://127.0.0.1") as c, c.websocket_connect("ws://127.0.0.1/ws") as ws:
        ws.send_json({"type": "config", "config": {"hidden": [16], "n_points": 50,
                                                   "steps_per_frame": 25}})
        ok = ws.receive_json()
        assert ok["type"] == "config_ok"
        ws.receive_json()
        ws.send_json({"type": "play"})
        frames = 0
        while frames < 6:
            frames += ws.receive_json()["type"] == "frame"
        ws.send_json({"type": "pause"})
        while ws.receive_json()["type"] != "state":
            pass
        frame = ws.receive_json()
    # a play frame holds at most 0.1 s of training, so on a busy machine a frame may end before
    # its 25 steps; full-batch steps do not depend on where the frames end, so any count will do
    assert frame["type"] == "frame" and frame["step"] >= 6
    scores = {k: frame[k] for k in ("train_loss", "train_accuracy", "test_loss", "test_accuracy")}
    return {"steps": frame["step"], "scores": scores, "n_train": 120, "code": ok["code"]}


CASES = {
    "moons-linear-adam-minibatch": dict(
        config={"dataset": "moons", "model": "linear", "optimizer": "adam", "lr": 0.05,
                "batch_size": 16, "steps_per_frame": 7, "test_fraction": 0.3, "n_points": 40,
                "noise": 0.2, "seed": 3},
        frames=5),
    "gaussian-tanh-momentum-added-points": dict(
        config={"dataset": "gaussian", "classes": 4, "hidden": [8, 8], "activation": "tanh",
                "optimizer": "momentum", "lr": 0.1, "l1": 0.002, "standardize": True,
                "test_fraction": 0.25,
                "n_points": 30, "seed": 7},
        points=[(0.5, -0.25, 3), (-1.0, 2.0, 0)], frames=4),
    "upload-mlp-nesterov-minibatch": dict(
        config={"model": "mlp", "hidden": [6], "optimizer": "nesterov", "batch_size": 10,
                "steps_per_frame": 5, "lr": 0.2, "test_fraction": 0.2},
        csv=CSV, frames=4),
}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Every case's session result and its scripts' output, the scripts run in parallel."""
    tmp = tmp_path_factory.mktemp("codegen")
    cases = {"spiral-mlp-played": _play_case(tmp)}
    for name, spec in CASES.items():
        cases[name] = _session_case(spec["config"], points=spec.get("points", ()),
                                    csv=spec.get("csv"), frames=spec["frames"])
    procs = {}
    for name, case in cases.items():
        for kind in ("numpy", "torch"):
            path = tmp / f"{name}-{kind}.py"
            path.write_text(case["code"][kind], encoding="utf-8")
            # one torch thread: the scripts run side by side, and OpenMP threads that wait on
            # each other make a small net's steps many times slower
            env = {**os.environ, "OMP_NUM_THREADS": "1"} if kind == "torch" else None
            procs[name, kind] = subprocess.Popen(
                [sys.executable, str(path), str(case["steps"])], cwd=tmp, env=env,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 240
    outputs = {}
    for key, proc in procs.items():
        out, err = proc.communicate(timeout=max(1, deadline - time.monotonic()))
        assert proc.returncode == 0, f"{key}: {err}"
        outputs[key] = out
    return cases, outputs


@pytest.mark.slow  # the scripts run as subprocesses (the module's fixture)
@pytest.mark.xdist_group(name="codegen_scripts")  # one worker runs the fixture's scripts
@pytest.mark.parametrize("name", ["spiral-mlp-played", *CASES])
def test_numpy_script_reproduces_the_session_exactly(runs, name):
    cases, outputs = runs
    case, out = cases[name], outputs[name, "numpy"]
    assert float(ACC.search(out).group(1)) == case["scores"]["train_accuracy"], out
    assert float(TEST_ACC.search(out).group(1)) == case["scores"]["test_accuracy"], out
    loss, steps = LOSS.search(out).groups()
    assert int(steps) == case["steps"]
    assert float(loss) == pytest.approx(case["scores"]["train_loss"], abs=1e-6)


@pytest.mark.slow  # the scripts run as subprocesses (the module's fixture)
@pytest.mark.xdist_group(name="codegen_scripts")  # one worker runs the fixture's scripts
@pytest.mark.parametrize("name", ["spiral-mlp-played", *CASES])
def test_torch_script_runs_and_agrees_to_rounding(runs, name):
    cases, outputs = runs
    case, out = cases[name], outputs[name, "torch"]
    # float64 from the same starting weights and batches: the same path up to rounding,
    # so at most a point sitting on the boundary may land on the other side
    train = float(ACC.search(out).group(1))
    assert abs(train - case["scores"]["train_accuracy"]) <= 1.5 / case["n_train"], out
    assert float(TEST_ACC.search(out).group(1)) == pytest.approx(case["scores"]["test_accuracy"],
                                                                 abs=0.05)
    loss, steps = LOSS.search(out).groups()
    assert int(steps) == case["steps"]
    assert float(loss) == pytest.approx(case["scores"]["train_loss"], abs=1e-5)


@pytest.mark.slow  # the scripts run as subprocesses (the module's fixture)
@pytest.mark.xdist_group(name="codegen_scripts")  # one worker runs the fixture's scripts
def test_scripts_are_written_the_way_each_library_is_used(runs):
    cases, _ = runs
    code = cases["gaussian-tanh-momentum-added-points"]["code"]
    torch_src, numpy_src = code["torch"], code["numpy"]
    for piece in ("nn.Sequential(", "nn.Tanh()", "torch.optim.SGD(model.parameters(), lr=LR, momentum=0.9)",
                  "optimizer.zero_grad()", "loss.backward()", "optimizer.step()",
                  "F.cross_entropy", "0.5 * REG", "Standardizer.fit(X_train)",
                  "load('gaussian', seed=SEED, n_per_class=30, n_classes=4, noise=0.2)",
                  "[0.5, -0.25, 3.0]"):
        assert piece in torch_src, piece
    for piece in ("make_engine_trainer([2, 8, 8, 4], activation='tanh'", "fit(trainer",
                  "start_step=done", "optimizer='momentum'", "train_test_split("):
        assert piece in numpy_src, piece
    assert "import torch" not in numpy_src
    upload = cases["upload-mlp-nesterov-minibatch"]["code"]
    assert "load(" not in upload["numpy"] and "CLASSES = ['cat', 'dog', 'eel']" in upload["numpy"]
    assert "lr=LR, momentum=0.9, nesterov=True)" in upload["torch"]


# every choice and switch the playground shows (but the data set and the backend, which
# change no line of a script's model), read from the schema: a setting shown later is in
OPTIONS = {s.name: list(s.choices) if s.kind == "choice" else [False, True]
           for s in settings_for("playground")
           if s.kind in ("choice", "bool") and s.name not in ("dataset", "backend")}
OPTIONS.update({"test_fraction": [0, 0.5], "batch_size": [None, 8]})


def test_every_option_combination_compiles():
    keys = list(OPTIONS)
    n = 0
    for values in itertools.product(*OPTIONS.values()):
        cfg = normalise_config(dict(zip(keys, values)))
        for make in (numpy_code, torch_code):
            for extra in (None, [(0.0, 1.0, 1)]):
                compile(make(cfg, extra, steps=3), f"<{make.__name__}>", "exec")
                n += 1
    assert n == 2 * 2 * math.prod(len(v) for v in OPTIONS.values())
    assert {"model", "activation", "optimizer", "standardize"} <= set(OPTIONS)


def test_default_steps_are_the_lectures_in_whole_frames():
    assert default_steps(normalise_config({})) == 10_000
    assert default_steps(normalise_config({"model": "linear", "steps_per_frame": 30})) == 210
    assert "else 10000" in numpy_code(normalise_config({}))


def test_the_model_settings_reach_the_scripts_by_name():
    shown = {s.name for s in settings_for("playground")}
    settings = train_settings(normalise_config({"activation": "tanh", "optimizer": "adam"}))
    engine = model_arguments(make_engine_trainer, settings)
    # every setting the playground shows that the engine takes, under its own name
    for name in shown & set(inspect.signature(make_engine_trainer).parameters):
        assert engine[name] == getattr(settings, name), name
    assert engine["activation"] == "tanh" and engine["optimizer"] == "adam"
    # a setting not shown goes in when its value is not the engine's default: the scripts
    # train what the session trained (init, here, as a session given another one would)
    other = settings.replace(init="he", momentum=0.5)
    assert model_arguments(make_engine_trainer, other)["init"] == "he"
    assert model_arguments(make_engine_trainer, other)["momentum"] == 0.5
    assert model_arguments(MLP, other)["init"] == "he"
    if "init" not in shown:
        assert "init" not in model_arguments(MLP, settings)  # the default says nothing new


def test_every_activation_has_a_torch_module():
    assert set(TORCH_ACTIVATIONS) == set(SETTINGS["activation"].choices)


HOSTILE = ['"""; import os; os.system("echo pwned") #', "it's", "two\nlines", "{SEED}",
           "back\\slash", "')]; import os #"]


def test_hostile_class_names_are_plain_string_constants_in_the_scripts(tmp_path):
    import csv
    import io

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
        imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        imported |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
        assert "os" not in imported and not any(m.startswith("os") for m in imported), imported
    path = tmp_path / "hostile.py"
    path.write_text(s.code()["numpy"], encoding="utf-8")
    out = subprocess.run([sys.executable, str(path), "3"], capture_output=True, text=True,
                         timeout=120, cwd=tmp_path, check=False)
    assert out.returncode == 0, out.stderr
    assert "pwned" not in out.stdout and ACC.search(out.stdout)
