"""benchmarks/spiral_step.py runs and checks the engine against the lecture's loop.

Only that it runs and that both implementations agree is tested here; speed is
the benchmark's to report, not a test's to assert.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_quick_benchmark_runs_and_the_implementations_agree(tmp_path):
    out_json = tmp_path / "bench.json"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "spiral_step.py"), "--quick",
         "--json", str(out_json)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout

    # the table names both implementations and has a row per dtype
    assert "engine us/it" in out and "plain loop us/it" in out
    for dtype in ("float64", "float32"):
        row = re.search(rf"^{dtype}\s+(\S+)\s+(\S+)\s+(\S+)$", out, re.MULTILINE)
        assert row, out
        engine_us, plain_us, ratio = map(float, row.groups())
        assert engine_us > 0 and plain_us > 0
        assert ratio == pytest.approx(engine_us / plain_us, rel=0.01, abs=0.002)

    # same float64 weights, 50 iterations each: the losses agree to round-off
    agree = re.search(r"^loss agreement .*difference (\S+); weights max difference (\S+)$",
                      out, re.MULTILINE)
    assert agree, out
    assert float(agree.group(1).rstrip(",")) < 1e-10
    assert float(agree.group(2)) < 1e-10

    payload = json.loads(out_json.read_text(encoding="utf-8"))
    assert payload["repeats"] == 3 and payload["iterations_per_block"] == 50
    assert payload["agreement"]["iterations"] == 50
    assert payload["agreement"]["loss_abs_diff"] < 1e-10
    for dtype in ("float64", "float32"):
        result = payload["results"][dtype]
        assert len(result["engine_samples_us"]) == len(result["plain_samples_us"]) == 3
        assert result["ratio"] == result["engine_us"] / result["plain_us"]
