"""The lecture's notebooks: committed without outputs; each runs top to bottom in a new kernel.

The kernel is this interpreter (``sys.executable``), named by a kernelspec written for
the test into its own folder, so that neither a user-level ``python3`` kernelspec nor
the PATH can hand the notebooks another Python. The notebooks assert the lecture's
numbers themselves; any error in any cell fails the test with the cell's traceback.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import nbformat
import pytest
from helpers import ROOT

NOTEBOOK_DIR = ROOT / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
LECTURE = ["01_forward_pass", "02_softmax_cross_entropy", "03_backprop_by_hand_vs_autograd",
           "04_spiral", "05_evaluation", "06_explain"]

#: what an executed notebook must show besides running: (output type, text in it)
SHOWS = {
    "01_forward_pass": [("image/png", "")],
    "02_softmax_cross_entropy": [("text/plain", "0.1054"), ("image/png", "")],
    "04_spiral": [("text/html", 'class="neuralab-fit"'), ("text/html", 'class="neuralab-live"'),
                  ("image/png", "")],
    "05_evaluation": [("text/html", 'class="neuralab-run"'), ("image/png", "")],
    "06_explain": [("image/png", "")],
}


def test_the_lecture_has_its_six_notebooks():
    assert [p.stem for p in NOTEBOOKS] == LECTURE


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_committed_without_outputs(path):
    """nbstripout's rule: no outputs, no execution counts, no run metadata; valid nbformat 4."""
    nb = nbformat.read(path, as_version=nbformat.NO_CONVERT)
    nbformat.validate(nb)
    assert nb.nbformat == 4
    assert nb.metadata.kernelspec.name == "python3"
    assert "widgets" not in nb.metadata
    for i, cell in enumerate(nb.cells):
        assert "execution" not in cell.metadata, f"cell {i} keeps its run's timing"
        if cell.cell_type == "code":
            assert cell.outputs == [], f"cell {i} has outputs"
            assert cell.execution_count is None, f"cell {i} has an execution count"


@pytest.fixture(scope="module")
def kernel_dirs(tmp_path_factory) -> list[str]:
    """A folder of kernelspecs whose ``python3`` runs ipykernel in this interpreter."""
    from ipykernel.kernelspec import write_kernel_spec

    folder = tmp_path_factory.mktemp("kernels")
    write_kernel_spec(folder / "python3")  # argv[0] is sys.executable
    spec = json.loads((folder / "python3" / "kernel.json").read_text(encoding="utf-8"))
    assert spec["argv"][0] == sys.executable
    return [str(folder)]


def execute(path, kernel_dirs: list[str], tmp_path) -> tuple[nbformat.NotebookNode, Path]:
    """Run every cell of ``path`` in a new kernel; raise CellExecutionError on any error.

    The kernel works in ``tmp_path / "cwd"`` (returned), and its connection file and
    IPython's profile (history) go to ``tmp_path`` too, not into the home folder.
    """
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import AsyncKernelManager
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    km = AsyncKernelManager(kernel_name="python3", connection_file=str(tmp_path / "kernel.json"),
                            kernel_spec_manager=KernelSpecManager(kernel_dirs=kernel_dirs))
    env = {**os.environ, "IPYTHONDIR": str(tmp_path / "ipython")}
    # the timeout only stops a hang: a cell that fails raises at once
    NotebookClient(nb, km=km, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(cwd)}}).execute(env=env)
    return nb, cwd


def outputs_of(nb, cell_type: str) -> list[str]:
    found = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if cell_type == "text/plain" and out.output_type == "stream":
                found.append(out.text)
            elif cell_type in out.get("data", {}):
                found.append(out.data[cell_type])
    return found


@pytest.mark.slow
@pytest.mark.xdist_group("notebooks")
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_top_to_bottom(path, kernel_dirs, tmp_path):
    start = time.perf_counter()
    nb, cwd = execute(path, kernel_dirs, tmp_path)
    print(f"{path.name}: {time.perf_counter() - start:.1f} s")
    assert list(cwd.iterdir()) == []  # the notebooks write nothing
    for kind, text in SHOWS.get(path.stem, []):
        assert any(text in out for out in outputs_of(nb, kind)), f"no {kind} output with {text!r}"
    if path.stem == "04_spiral":
        # LivePlot redraws in place: one output per training cell, showing the last step
        cell = next(c for c in nb.cells if "live = LivePlot(" in c.source)
        live = [o for o in cell.outputs
                if 'class="neuralab-live"' in o.get("data", {}).get("text/html", "")]
        assert len(live) == 1 and "iteration 3,000: loss" in live[0].data["text/html"]
