"""benchmarks/spiral_step.py runs and checks the engine against the lecture's loop and PyTorch.

Only that it runs, that its rows and ratios are consistent and that all four
implementations (engine, plain NumPy loop, torch twin, the slides' torch loop)
agree is tested here; speed is the benchmark's to report, not a test's to assert.
The last test runs benchmarks/end_to_end.py's --quick start-up and demo cases
(whole processes, ~20 s) and checks that its samples, medians and targets parse.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
from helpers import ROOT, strict_loads

pytest.importorskip("torch")

# the three spiral_step tests read one --quick run of the benchmark, which takes ~15 s
pytestmark = pytest.mark.slow

DTYPES = ("float64", "float32")
IMPLEMENTATIONS = ("engine", "plain", "torch_twin", "torch_slides")
LABELS = {"plain": "plain loop", "torch_twin": "torch twin", "torch_slides": "torch slides"}


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out_json = tmp_path_factory.mktemp("bench") / "bench.json"
    # one torch thread: with the test suite's other workers on the cores, torch's
    # OpenMP threads would wait on each other at every op (the run takes a minute)
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "spiral_step.py"), "--quick",
         "--torch-threads", "1", "--json", str(out_json)],
        cwd=ROOT, capture_output=True, text=True, timeout=900,  # a deadline for a hang only
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout, json.loads(out_json.read_text(encoding="utf-8"))


def test_table_has_all_four_implementations_and_consistent_ratios(quick_run):
    out, _ = quick_run
    for column in ("engine us/it", "plain loop us/it", "torch twin us/it",
                   "torch slides us/it", "engine/plain", "engine/torch", "engine/twin"):
        assert column in out, out
    threads = re.search(r"torch\.get_num_threads\(\) = (\d+)", out)
    assert threads and int(threads.group(1)) == 1, out
    for dtype in DTYPES:
        row = re.search(rf"^{dtype}" + r"\s+(\S+)" * 7 + r"$", out, re.MULTILINE)
        assert row, out
        engine, plain, twin, slides, e_plain, e_torch, e_twin = map(float, row.groups())
        assert min(engine, plain, twin, slides) > 0
        # the printed ratios are the printed times' ratios (to the rounding of the print);
        # engine/torch is against the slides' eager loop
        assert e_plain == pytest.approx(engine / plain, rel=0.01, abs=0.002)
        assert e_torch == pytest.approx(engine / slides, rel=0.01, abs=0.002)
        assert e_twin == pytest.approx(engine / twin, rel=0.01, abs=0.002)
    assert "engine/torch <= 0.5" in out


def test_all_implementations_agree_in_float64(quick_run):
    out, _ = quick_run
    assert re.search(r"^agreement \(float64, same initial weights, 50 iterations\)", out,
                     re.MULTILINE), out
    engine = re.search(r"^  engine\s+(\S+)$", out, re.MULTILINE)
    assert engine, out
    engine_loss = float(engine.group(1))
    for name, label in LABELS.items():
        row = re.search(rf"^  {label}\s+(\S+)\s+loss diff (\S+)\s+weights max diff (\S+)$",
                        out, re.MULTILINE)
        assert row, (name, out)
        loss, loss_diff, weight_diff = map(float, row.groups())
        # same float64 weights, 50 iterations each: the losses agree to round-off
        assert loss == pytest.approx(engine_loss, abs=1e-10)
        assert loss_diff < 1e-10 and weight_diff < 1e-10


def test_json_records_every_implementation(quick_run):
    _, payload = quick_run
    assert payload["repeats"] == 3 and payload["iterations_per_block"] == 50
    assert payload["torch_device"] == "cpu"
    assert payload["torch_num_threads"] == 1  # as --torch-threads asked
    assert len(payload["loadavg_before"]) == len(payload["loadavg_after"]) == 3
    assert payload["torch"]

    agreement = payload["agreement"]
    assert agreement["iterations"] == 50
    assert agreement["initial_weights_max_abs_diff"] == 0.0
    for name in IMPLEMENTATIONS[1:]:
        assert abs(agreement[f"{name}_loss"] - agreement["engine_loss"]) < 1e-10
        assert agreement["loss_abs_diff_from_engine"][name] < 1e-10
        assert agreement["weights_max_abs_diff_from_engine"][name] < 1e-10
    assert agreement["loss_abs_diff"] < 1e-10 and agreement["weights_max_abs_diff"] < 1e-10

    for dtype in DTYPES:
        result = payload["results"][dtype]
        for name in IMPLEMENTATIONS:
            samples = result[f"{name}_samples_us"]
            assert len(samples) == 3 and all(s > 0 for s in samples)
            assert result[f"{name}_us"] == sorted(samples)[1]  # the median of 3
        assert result["engine_over_plain"] == result["engine_us"] / result["plain_us"]
        assert result["engine_over_torch"] == result["engine_us"] / result["torch_slides_us"]
        assert result["engine_over_torch_twin"] == result["engine_us"] / result["torch_twin_us"]


def test_end_to_end_quick_startup_and_demo_writes_samples_that_parse(tmp_path):
    """benchmarks/end_to_end.py --quick: whole processes timed side by side, no speed asserted."""
    out_json = tmp_path / "e2e.json"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "end_to_end.py"), "--quick",
         "--only", "startup,demo", "--json", str(out_json)],
        check=False, cwd=ROOT, capture_output=True, text=True, timeout=900,  # a deadline for a hang only
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    payload = strict_loads(out_json.read_text(encoding="utf-8"))
    assert payload["quick"] is True and payload["repeats"] == 2
    assert list(payload["cases"]) == ["startup", "demo"]  # only the cases asked for, in order
    labels = {"startup": ["import numpy", "--help", "datasets", "predict"],
              "demo": ["neuralab", "plain NumPy"]}
    for name, case in payload["cases"].items():
        assert list(case["samples"]) == labels[name]
        for label, samples in case["samples"].items():
            assert len(samples) == 2
            for s in samples:
                assert s["wall"] > 0 and s["cpu"] >= 0 and s["peak_rss_mb"] > 0
            assert case["medians"][label]["wall"] == pytest.approx(
                (samples[0]["wall"] + samples[1]["wall"]) / 2)
        for target in case["targets"]:
            assert target["met"] == (target["value"] <= target["limit"])
            verdict = "met" if target["met"] else "MISSED"
            line = re.search(rf"^target {re.escape(target['name'])}: (\S+)(?: s| MB)? <= "
                             rf"(\S+)(?: s| MB)? {verdict}$", out, re.MULTILINE)
            assert line, (target, out)
            assert float(line.group(1)) == pytest.approx(target["value"], abs=6e-4)
            assert float(line.group(2)) == target["limit"]
    startup = payload["cases"]["startup"]
    assert [t["name"] for t in startup["targets"]] == [
        "neuralab --help", "neuralab datasets", "neuralab predict --point"]
    assert startup["targets"][0]["value"] == startup["medians"]["--help"]["wall"]
    assert startup["commands"]["predict"] == "neuralab predict RUN --point 0.3,-0.5"
    demo = payload["cases"]["demo"]
    [ratio] = demo["targets"]
    assert ratio["value"] == pytest.approx(
        demo["medians"]["neuralab"]["wall"] / demo["medians"]["plain NumPy"]["wall"])
    # the plain loop is the reference because it trains the same net on the same spiral
    # from the same seeded draws: it ends at neuralab's loss and accuracy
    for run in demo["samples"]["neuralab"] + demo["samples"]["plain NumPy"]:
        assert run["mlp_loss"] == pytest.approx(demo["samples"]["neuralab"][0]["mlp_loss"], abs=1e-3)
        assert run["mlp_accuracy"] == pytest.approx(
            demo["samples"]["neuralab"][0]["mlp_accuracy"], abs=1e-3)
