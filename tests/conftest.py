"""Fixtures shared by the whole suite; plain helper functions are in helpers.py.

- ``cli``: runs ``neuralab ...`` in-process and returns (exit status, stdout, stderr).
- ``spiral_run``: ONE trained spiral run per session (per xdist worker), for every test
  that needs "some trained run". It is shared: read it, never write into it; a test
  that writes into a run (explain, evaluate, a new report) takes ``spiral_run_copy``.
- ``demo_run``: the lecture's demo (linear softmax and the 2-layer net on the spiral),
  trained once per session. Tests that use it join the xdist group "demo", so with
  ``-n 2 --dist loadgroup`` (``make test``) they run on one worker and the demo trains once.
"""

import os
import shutil

import numpy as np
import pytest

os.environ.setdefault("MPLBACKEND", "Agg")

#: where the shared spiral run's data came from, as ``neuralab train --dataset spiral``
#: records it in config.json (so that the run's data can be reloaded from it)
SPIRAL_SPEC = {"kind": "registry", "name": "spiral", "seed": 0, "options": {}}


def pytest_itemcollected(item):
    """A test that uses the demo joins the xdist group "demo": one worker trains it once."""
    if "demo_run" in getattr(item, "fixturenames", ()):
        item.add_marker(pytest.mark.xdist_group("demo"))


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config, items):
    """Slow tests first, and let ``--dist loadgroup`` see the xdist_group marks on pytest 9.2.

    pytest-xdist 3.8 tells its scheduler a test's group by appending ``@group`` to the
    test's node id through ``item._nodeid``, which pytest 9.2 no longer reads (node ids
    are structured now), so every group is silently split across the workers
    (pytest-dev/pytest-xdist#1386). Where the suffix is missing after xdist's hook, set
    it as xdist means to; once xdist sets it itself, this does nothing.
    """
    # the slow tests first: with two workers, a long test started last keeps one worker
    # busy while the other idles; started first, the short ones fill in around it
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)
    if not getattr(config.option, "loadgroup", False):
        return
    for item in items:
        groups = {str(m.args[0] if m.args else m.kwargs.get("name", "default"))
                  for m in item.iter_markers("xdist_group")}
        nodeid = item.nodeid
        if groups and nodeid.rfind("@") <= nodeid.rfind("]") and hasattr(item, "_id"):
            item._id = type(item._id).parse(f"{nodeid}@{'_'.join(sorted(groups))}")


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture
def cli(capsys):
    """``cli("train", "--dataset", "xor")`` -> (exit status, stdout, stderr); args may be paths."""
    from neuralab.cli import main

    def run(*args):
        code = main([str(a) for a in args])
        out, err = capsys.readouterr()
        return code, out, err

    return run


def _snapshot(folder):
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="session")
def spiral_run(tmp_path_factory):
    """A RunResult: the spiral (seed 0), hidden [32, 16], 800 steps at lr 0.5, 20 % test split.

    ``spiral_run.run_dir`` holds the run directory, written as ``neuralab train
    --dataset spiral --hidden 32 --hidden 16 --iterations 800 --lr 0.5 --test-fraction 0.2``
    would write it. Shared by every test of the session: the teardown fails if a test
    changed a file in it.
    """
    from neuralab.config import TrainSettings
    from neuralab.data import load
    from neuralab.lab import run_training

    out = tmp_path_factory.mktemp("shared") / "spiral"
    settings = TrainSettings(hidden=[32, 16], iterations=800, lr=0.5, test_fraction=0.2)
    run = run_training(load("spiral", seed=0), settings, out=out, echo=None, progress=False,
                       name="spiral", data_spec=SPIRAL_SPEC)
    before = _snapshot(out)
    yield run
    assert _snapshot(out) == before, "a test wrote into the shared spiral run; use spiral_run_copy"


@pytest.fixture
def spiral_run_copy(spiral_run, tmp_path):
    """A private copy of the shared spiral run's directory, for a test that writes into it."""
    return shutil.copytree(spiral_run.run_dir, tmp_path / "spiral")


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory):
    """(DemoResult, folder): ``run_demo(seed=0)`` written to a folder; read it, never write."""
    from neuralab.lab import run_demo

    out = tmp_path_factory.mktemp("demo") / "demo"
    return run_demo(out=out, seed=0, echo=None, progress=False), out
