"""What the quick commands load: `--help`, `datasets` and `predict --point` start in a
fraction of a second because they import neither the heavy libraries (torch,
scikit-learn, scipy, matplotlib, the playground's server, the report's templates) nor,
for `--help` and `datasets`, numpy. Each command runs in a fresh interpreter, which
writes the names in ``sys.modules`` at exit; no timing is asserted.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

#: imported only by the commands that use them (train, plots, metrics, the torch backend, ...)
HEAVY = {"torch", "sklearn", "scipy", "matplotlib", "optuna", "starlette", "uvicorn", "jinja2",
         "tensorboardX", "pandas"}

#: runs ``neuralab ARGS`` as the console script does, then writes sys.modules' names to a file
#: (as it leaves: through os._exit, as neuralab.cli.run does, or at the interpreter's exit)
RUNNER = """
import atexit, json, os, runpy, sys
out = sys.argv.pop(1)
def write():
    with open(out, "w") as f:
        f.write(json.dumps(sorted(sys.modules)))
leave = os._exit
os._exit = lambda code: (write(), leave(code))
atexit.register(write)
sys.argv[0] = "neuralab"
runpy.run_module("neuralab", run_name="__main__", alter_sys=True)
"""


def loaded_by(tmp_path, *args) -> tuple[set[str], str]:
    """The top-level packages ``neuralab ARGS`` imported, and its output; it must succeed."""
    where = tmp_path / "modules.json"
    done = subprocess.run([sys.executable, "-c", RUNNER, str(where), *map(str, args)],
                          capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert done.returncode == 0, done.stderr
    return {name.split(".")[0] for name in json.loads(where.read_text())}, done.stdout


@pytest.mark.parametrize("args, shows", [(["--help"], "Usage: neuralab"),
                                         (["datasets"], "fashion_mnist")])
def test_help_and_datasets_load_neither_numpy_nor_a_heavy_library(tmp_path, args, shows):
    loaded, out = loaded_by(tmp_path, *args)
    assert shows in out
    assert "neuralab" in loaded and "typer" in loaded  # the command really ran
    assert not (HEAVY | {"numpy"}) & loaded, sorted((HEAVY | {"numpy"}) & loaded)


def test_predict_a_point_loads_numpy_and_the_checkpoint_but_no_heavy_library(tmp_path, spiral_run):
    loaded, out = loaded_by(tmp_path, "predict", spiral_run.run_dir, "--point", "0.3,-0.5",
                            "--label", "1")
    assert "predicted class: " in out and "-log p(1)" in out
    assert {"numpy", "safetensors"} <= loaded
    assert not HEAVY & loaded, sorted(HEAVY & loaded)
