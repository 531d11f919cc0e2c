"""A crafted run directory gets one line and exit status 2 from every command, and stays as it was.

The issue's cases: a list-shaped model.json, ``classes: 7``, ``feature_names: 5``,
``preprocessing: [1, 2]``, a BF16 tensor, a spec without a name, ``settings`` as a
list, ``steps: "many"``, a history.csv with no step column, a spec asking for 10^9
points per class, NaN weights, ``dtype: 5``, classes that are not strings, and
``explain --point nan,1``.
"""

import hashlib
import json
import shutil

import numpy as np
import pytest
from safetensors.numpy import load as st_load
from safetensors.numpy import save as st_save

from neuralab.cli import main


@pytest.fixture(scope="module")
def base_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("untrusted_cli") / "run"
    assert main(["train", "--dataset", "moons", "--hidden", "8", "--iterations", "20",
                 "--quiet", "--out", str(out)]) == 0
    return out


def snapshot(folder) -> dict:
    """Every path below ``folder`` with its content's digest and modification time."""
    return {str(p.relative_to(folder)): (p.is_file() and hashlib.sha256(p.read_bytes()).hexdigest(),
                                         p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*"))}


def json_file(name, change):
    def craft(run):
        data = json.loads((run / name).read_text())
        change(data)
        (run / name).write_text(json.dumps(data))
    return craft


def weights(change):
    def craft(run):
        path = run / "model.safetensors"
        path.write_bytes(st_save(change(st_load(path.read_bytes()))))
    return craft


def bf16(run):
    torch = pytest.importorskip("torch")
    from safetensors.torch import save

    state = {k: torch.from_numpy(v) for k, v in st_load((run / "model.safetensors").read_bytes()).items()}
    (run / "model.safetensors").write_bytes(save({**state, "W1": state["W1"].to(torch.bfloat16)}))


def no_step_column(run):
    path = run / "history.csv"
    path.write_text(path.read_text().replace("step,", "stp,", 1))


PREDICT = ["predict", "{run}", "--point", "0.1,0.2"]
RESUME = ["train", "--resume", "{run}", "--iterations", "5", "--quiet"]
CASES = {
    "list-shaped model.json": (lambda run: (run / "model.json").write_text("[1, 2]"), PREDICT,
                               "model.json must hold a JSON object; got list"),
    "classes 7": (json_file("model.json", lambda m: m.update(classes=7)), PREDICT,
                  "classes must be a list of 2 distinct strings"),
    "feature_names 5": (json_file("model.json", lambda m: m.update(feature_names=5)),
                        ["evaluate", "{run}"], "feature_names must be a list of 2"),
    "preprocessing [1, 2]": (json_file("model.json", lambda m: m.update(preprocessing=[1, 2])),
                             ["explain", "{run}"], "preprocessing must be an object"),
    "a BF16 tensor": (bf16, PREDICT, "tensor W1 has dtype BF16"),
    "a spec without a name": (json_file("config.json", lambda c: c["data"]["spec"].pop("name")),
                              ["evaluate", "{run}"], "needs a data set name"),
    "settings as a list": (json_file("config.json", lambda c: c.update(settings=[1])),
                           ["inspect", "{run}"], "settings must be an object"),
    "steps many": (json_file("config.json", lambda c: c.update(steps="many")), RESUME,
                   "steps must be a non-negative integer"),
    "steps many, evaluated": (json_file("config.json", lambda c: c.update(steps="many")),
                              ["evaluate", "{run}"], "steps must be a non-negative integer"),
    "a history without a step column": (no_step_column, RESUME, "has no step column"),
    "a history without a step column, explained": (no_step_column, ["explain", "{run}"],
                                                   "has no step column"),
    "10^9 points per class": (
        json_file("config.json", lambda c: c["data"]["spec"].update(options={"n_per_class": 10**9})),
        ["evaluate", "{run}"], "n_per_class must be an integer from 1 to 250,000"),
    "NaN weights": (weights(lambda s: {**s, "W1": s["W1"] * np.nan}), PREDICT,
                    "tensor W1 holds NaN or infinite values"),
    "NaN weights, explained": (weights(lambda s: {**s, "b1": s["b1"] * np.nan}),
                               ["explain", "{run}"], "tensor b1 holds NaN"),
    "dtype 5": (json_file("model.json", lambda m: m.update(dtype=5)), PREDICT,
                "dtype must be one of float64, float32; got 5"),
    "classes that are no strings": (json_file("model.json", lambda m: m.update(classes=[{"a": 1}, [1]])),
                                    PREDICT, "classes must be a list of 2 distinct strings"),
    "integer weights": (weights(lambda s: {**s, "W2": s["W2"].astype(np.int8)}), PREDICT,
                        "tensor W2 has dtype I8"),
    "explain a NaN point": (lambda run: None, ["explain", "{run}", "--point", "nan,1"],
                            "--point needs 2 finite numbers"),
    "predict a NaN point": (lambda run: None, ["predict", "{run}", "--point", "nan,1"],
                            "--point needs 2 finite numbers (x1, x2), got 'nan,1'"),
    "predict a point too large for the weights": (
        lambda run: None, ["predict", "{run}", "--point", "1.7e308,-1.7e308"], "not finite"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_crafted_run_is_one_line_exit_2_and_left_as_it_was(base_run, tmp_path, capsys, case):
    craft, args, fragment = CASES[case]
    run = shutil.copytree(base_run, tmp_path / "run")
    (run / "manifest.json").unlink()  # a crafted folder has none: every reader checks its file
    craft(run)
    before = snapshot(run)
    code = main([a.format(run=run) for a in args])
    out, err = capsys.readouterr()
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1 and err.startswith("neuralab: error: "), err
    assert fragment in err and "Traceback" not in err
    assert "nan" not in out.lower()  # never a nan probability
    assert snapshot(run) == before  # nothing written, nothing overwritten
