"""benchmarks/train_phases.py: a train command's phases add up to its wall time, and the
work after training is listed job by job. Speed is the benchmark's to report, not a test's."""

from __future__ import annotations

import math
import subprocess
import sys

import pytest
from helpers import ROOT, strict_loads

SCRIPT = ROOT / "benchmarks" / "train_phases.py"
# four short digits runs in whole processes (one untimed, two by phase, one job by job),
# once: the tests that read them run on one worker
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("train_phases")]


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    out = tmp_path_factory.mktemp("phases") / "phases.json"
    proc = subprocess.run([sys.executable, str(SCRIPT), "--quick", "--json", str(out)], cwd=ROOT,
                          capture_output=True, text=True, check=False,
                          timeout=600)  # a deadline for a hang only
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout, strict_loads(out.read_text(encoding="utf-8"))


def test_each_runs_phases_add_up_to_its_wall_time(quick):
    sys.path.insert(0, str(SCRIPT.parent))
    try:
        import train_phases
    finally:
        sys.path.pop(0)
    _, payload = quick
    assert len(payload["samples"]) == 2
    for sample in payload["samples"]:
        parts = train_phases.phases(sample)
        assert list(parts) == [key for key, _ in train_phases.PHASES]
        assert all(v >= 0 for v in parts.values()), parts
        assert math.isclose(sum(parts.values()), sample["wall"], abs_tol=1e-6)
        assert parts["fit_loop"] == sample["fit_seconds"][-1] > 0
    loops = sorted(s["fit_seconds"][-1] for s in payload["samples"])
    assert payload["phases"]["fit_loop"] == (loops[0] + loops[1]) / 2  # the median of two
    assert payload["outside_over_fit"] == payload["outside_fit"] / payload["phases"]["fit_loop"]


def test_the_work_after_training_is_listed_job_by_job(quick):
    out, payload = quick
    jobs = payload["jobs"]
    assert {"metrics", "predictions.csv", "other files", "report", "figures/loss.png",
            "figures/roc.png", "figures/pr.png", "figures/confusion_train.png",
            "figures/confusion_test.png", "figures/confusion_test_normalized.png"} <= set(jobs)
    assert all(v > 0 for v in jobs.values()), jobs
    assert math.isclose(payload["jobs_total"], sum(jobs.values()))
    for key in jobs:
        assert f"  {key} " in out
    assert "outside fit's loop:" in out and "side by side on" in out


@pytest.mark.parametrize("out", [["--out", "x"], ["--out=x"]])
def test_out_is_the_scripts_to_choose(out):
    proc = subprocess.run([sys.executable, str(SCRIPT), "--", "--dataset", "iris", *out],
                          cwd=ROOT, capture_output=True, text=True, check=False, timeout=120)
    assert proc.returncode == 2
    assert "--out is chosen by the script" in proc.stderr
