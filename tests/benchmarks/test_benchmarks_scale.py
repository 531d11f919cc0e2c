"""benchmarks/scale.py and benchmarks/gpu.py run and print rows whose numbers parse.

Smoke tests only (the benchmarks report speed; nothing here asserts one). The
data-parallel part of scale.py is left out: tests/torch_backend/test_distributed.py
runs the same launches.
"""

from __future__ import annotations

import json
import re

import pytest
from test_benchmarks_real import NUMBER, run_script


@pytest.mark.slow  # two tiny studies, each run with several worker processes
def test_scale_quick_prints_sweep_and_pruner_rows(tmp_path):
    out_json = tmp_path / "scale.json"
    out = run_script("scale.py", "--quick", "--parts", "sweep,pruner",
                     "--json", str(out_json)).stdout
    for workers in (1, 2):
        assert re.search(rf"^journal\s+{workers}\s+{NUMBER}\s+{NUMBER}\s+{NUMBER}$", out,
                         re.MULTILINE), out
    for pruner in ("median", "none"):
        assert re.search(rf"^{pruner}\s+{NUMBER}\s+\d+\s+{NUMBER}$", out, re.MULTILINE), out
    payload = json.loads(out_json.read_text())
    assert payload["sweep"]["journal-1"]["samples"][0]["n_done"] == 4
    assert payload["pruner"]["none"]["samples"][0]["n_pruned"] == 0


def test_gpu_benchmark_says_what_it_needs_or_measures():
    out = run_script("gpu.py", "--quick").stdout
    assert "no CUDA GPU" in out or re.search(rf"^784-100-10\s+{NUMBER}\s+{NUMBER}\s+{NUMBER}$",
                                             out, re.MULTILINE), out
