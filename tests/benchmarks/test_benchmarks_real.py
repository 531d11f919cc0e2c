"""benchmarks/accuracy.py and benchmarks/fashion_epoch.py run and print tables whose numbers parse.

Smoke tests only: each script runs in its ``--quick`` mode as a subprocess; nothing
here asserts a speed or an accuracy (the benchmarks report those), only that the
rows are there, that their numbers are numbers and that the printed ratios are
the printed times' ratios.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
from helpers import ROOT

from neuralab.data import real

BENCH = ROOT / "benchmarks"
NUMBER = r"[-+]?\d+(?:\.\d+)?(?:e[-+]?\d+)?"


def run_script(name: str, *args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    # a deadline for a hung script only: on a busy 2-core machine the Fashion-MNIST
    # benchmark's --quick run alone has taken close to 3 minutes
    proc = subprocess.run([sys.executable, str(BENCH / name), *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{name} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc


def test_accuracy_quick_digits_prints_a_row_that_parses(tmp_path):
    out_json = tmp_path / "acc.json"
    out = run_script("accuracy.py", "--quick", "--only", "digits", "--json", str(out_json)).stdout
    header = re.search(r"^task\s+model\s+metric\s+value\s+target\s+met\?\s+seconds\s+command$",
                       out, re.MULTILINE)
    assert header, out
    row = re.search(rf"^digits\s+(.+?)\s+accuracy\s+({NUMBER})\s+>=\s+({NUMBER})\s+(yes|NO)\s+"
                    rf"({NUMBER})\s+(neuralab train .+)$", out, re.MULTILINE)
    assert row, out
    model, value, target, met, seconds, command = row.groups()
    value, target, seconds = float(value), float(target), float(seconds)
    assert 0.0 <= value <= 1.0 and target == 0.97 and seconds >= 0
    assert (met == "yes") == (value >= target)
    assert "--dataset digits" in command and "--test-fraction 0.25" in command
    # only the task asked for ran
    assert not re.search(r"^(fashion_mlp|fashion_linear|breast_cancer|sklearn_mlp)\s", out,
                         re.MULTILINE), out

    payload = json.loads(out_json.read_text(encoding="utf-8"))
    assert payload["quick"] is True
    [result] = payload["results"]
    assert result["task"] == "digits" and result["metric"] == "accuracy"
    assert round(result["value"], 4) == value
    assert result["command"] == command
    assert result["n_test"] == 450  # a quarter of the 1,797 digits, rounded up


@pytest.mark.xdist_group("fashion_mnist")
@pytest.mark.slow
def test_fashion_epoch_quick_prints_rows_that_parse(tmp_path):
    if not real.FASHION_MNIST_DIR.is_dir():
        pytest.skip(f"{real.FASHION_MNIST_DIR} is missing: install Debian's package "
                    f"{real.FASHION_MNIST_PACKAGE} (dataset-fashion-mnist)")
    out_json = tmp_path / "epoch.json"
    # one torch thread: with the test suite's other worker on the cores, torch's OpenMP
    # threads would wait on each other at every operation
    # --no-memory: the memory run trains a whole Fashion-MNIST epoch through the command
    # line (10 s); its child is timed by the launcher that test_benchmark_smoke covers
    out = run_script("fashion_epoch.py", "--quick", "--torch-threads", "1", "--no-memory",
                     "--json", str(out_json)).stdout
    assert re.search(r"eager on the CPU, 1 threads", out), out
    labels = {
        "engine_fit_epoch": "engine fit() epoch", "cli_fit_epoch": "CLI path fit() epoch",
        "cli_fit_bar_epoch": "  with a progress bar",
        "cli_fit_unlogged_epoch": "  with no history rows", "engine_fit": "engine fit() call",
        "engine_step": "engine train_step loop", "torch": "PyTorch eager",
        "sklearn": "scikit-learn partial_fit", "bound": "matmul bound",
    }
    rows = {}
    for key, label in labels.items():
        row = re.search(rf"^{re.escape(label)}\s+({NUMBER})\s+({NUMBER})\s+({NUMBER})$", out,
                        re.MULTILINE)
        assert row, (label, out)
        rows[key] = tuple(map(float, row.groups()))
    for seconds, over_torch, over_bound in rows.values():
        assert seconds > 0 and over_torch > 0 and over_bound > 0
        assert over_torch == pytest.approx(seconds / rows["torch"][0], rel=0.02, abs=0.002)
        assert over_bound == pytest.approx(seconds / rows["bound"][0], rel=0.02, abs=0.002)
    assert rows["torch"][1] == 1.0 and rows["bound"][2] == 1.0
    assert re.search(r"^target engine fit\(\) epoch: engine/PyTorch \S+ <= 0\.7 (met|MISSED)",
                     out, re.MULTILINE), out
    cli = re.search(r"^target CLI path fit\(\) epoch: over the engine fit\(\) epoch "
                    rf"({NUMBER}) <= 1\.10 (met|MISSED)$", out, re.MULTILINE)
    assert cli, out
    ratio = rows["cli_fit_epoch"][0] / rows["engine_fit_epoch"][0]
    assert float(cli.group(1)) == pytest.approx(ratio, rel=0.01, abs=0.002)
    assert (cli.group(2) == "met") == (float(cli.group(1)) <= 1.10)
    shares = re.search(rf"^progress bar: ([+-]{NUMBER}) % of the CLI path's epoch \(target < 1 %\); "
                       rf"history rows: ([+-]{NUMBER}) % ", out, re.MULTILINE)
    assert shares, out
    bar = 100 * (rows["cli_fit_bar_epoch"][0] / rows["cli_fit_epoch"][0] - 1)
    logged = 100 * (1 - rows["cli_fit_unlogged_epoch"][0] / rows["cli_fit_epoch"][0])
    assert float(shares.group(1)) == pytest.approx(bar, abs=0.3)
    assert float(shares.group(2)) == pytest.approx(logged, abs=0.3)
    inside = re.search(rf"^measured inside their calls \(median of 3 epochs with the bar\): the "
                       rf"bar's updates ({NUMBER}) ms and the history row ({NUMBER}) ms of a "
                       rf"({NUMBER}) s epoch: ({NUMBER}) % \(target < 1 %\) (met|MISSED)", out,
                       re.MULTILINE)
    assert inside, out
    bar_ms, row_ms, epoch_s, share = map(float, inside.groups()[:4])
    assert 0 <= bar_ms and 0 <= row_ms and 0 < epoch_s
    assert share == pytest.approx(100 * (bar_ms + row_ms) / 1e3 / epoch_s, rel=0.05, abs=0.05)
    assert re.search(r"^scikit-learn's weights are float(32|64)", out, re.MULTILINE), out
    # the engine's step taken apart, and the matmuls one by one
    assert re.search(rf"^  sum of the parts\s+({NUMBER})", out, re.MULTILINE), out
    for part in ("forward Linear1", "backward Linear1", "optimizer step", "X@W1", "X.T@dz1"):
        assert re.search(rf"^  {re.escape(part)}\s+{NUMBER}", out, re.MULTILINE), (part, out)
    assert "peak memory" not in out, out

    payload = json.loads(out_json.read_text(encoding="utf-8"))
    assert payload["quick"] is True and payload["images"] == 6_000
    assert payload["repeats"] == 3 and payload["torch_num_threads"] == 1
    for key in labels:
        samples = payload["results"][key]["samples"]
        assert len(samples) == 3 and all(s > 0 for s in samples)
        assert payload["results"][key]["seconds"] == sorted(samples)[1]
    assert payload["memory"] is None
    costs = payload["targets"]["logging_costs"]
    assert costs["met"] == (costs["bar_share"] + costs["rows_share"] < 0.01)
    assert costs["bar_share"] == pytest.approx(costs["bar_seconds"] / costs["epoch_seconds"])
