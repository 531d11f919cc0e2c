"""The example scripts run, and print what the lecture's slides show."""

from __future__ import annotations

import math
import re
import subprocess
import sys

import pytest
from helpers import ROOT

EXAMPLES = ROOT / "examples"

ITERATION_LINE = re.compile(r"^iteration (\d+): loss (\d+\.\d+)$", re.MULTILINE)
ACCURACY_LINE = re.compile(r"^training accuracy: (\d\.\d+)$", re.MULTILINE)
FINAL_LOSS_LINE = re.compile(r"^final loss after (\d+) iterations: (\d+\.\d+)$", re.MULTILINE)


def run_example(name: str, *args: str) -> str:
    """Run ``examples/<name>`` with this interpreter; return its stdout after checking exit 0."""
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / name), *args],
        cwd=ROOT, capture_output=True, text=True, timeout=600,  # a deadline for a hang only
    )
    assert proc.returncode == 0, f"{name} exited {proc.returncode}:\n{proc.stderr}"
    return proc.stdout


def losses(out: str) -> dict[int, float]:
    return {int(step): float(loss) for step, loss in ITERATION_LINE.findall(out)}


def accuracy(out: str) -> float:
    found = ACCURACY_LINE.findall(out)
    assert len(found) == 1, out
    return float(found[0])


def final_loss(out: str) -> tuple[int, float]:
    found = FINAL_LOSS_LINE.findall(out)
    assert len(found) == 1, out
    return int(found[0][0]), float(found[0][1])


def test_readme_names_every_example():
    readme = (EXAMPLES / "README.md").read_text(encoding="utf-8")
    scripts = sorted(p.name for p in EXAMPLES.glob("*.py"))
    assert len(scripts) == 4
    for script in scripts:
        assert f"`{script}`" in readme


def test_01_linear_softmax_matches_the_lecture():
    out = run_example("01_linear_softmax_by_hand.py")
    assert re.search(r"^iteration 0: loss 1\.09\d+$", out, re.MULTILINE), out
    by_step = losses(out)
    assert sorted(by_step) == list(range(0, 200, 10))
    # the loss starts at -log(1/3) (weights near 0) and falls at every print
    assert by_step[0] == pytest.approx(math.log(3), abs=5e-3)
    values = [by_step[s] for s in sorted(by_step)]
    assert all(b < a for a, b in zip(values, values[1:]))
    # a linear model cannot fit the spiral: the loss stalls well above 0.7
    assert 0.70 < values[-1] < 0.80
    assert 0.45 <= accuracy(out) <= 0.58


@pytest.mark.slow
def test_02_two_layer_by_hand_learns_the_spiral():
    # 10,000 iterations take about 3 s: run them all, as on the slides
    out = run_example("02_two_layer_by_hand.py")
    by_step = losses(out)
    assert sorted(by_step) == list(range(0, 10_000, 1000))
    assert by_step[0] == pytest.approx(math.log(3), abs=5e-3)
    steps, loss = final_loss(out)
    assert steps == 10_000
    assert loss < by_step[1000] < by_step[0]
    assert 0.22 < loss < 0.27  # the lecture's 0.245
    assert accuracy(out) >= 0.97


def test_02_rejects_a_bad_iteration_count():
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / "02_two_layer_by_hand.py"), "--iterations", "0"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 2
    assert "--iterations must be a positive integer, got 0" in proc.stderr


def test_03_engine_prints_the_intermediates_and_matches_the_plain_loop():
    out = run_example("03_engine_two_layer.py", "--iterations", "1500")
    assert "MLP(2 -> 100 -> 3, activation=relu)" in out
    shapes = dict(re.findall(r"^  (\w+)\s+(\([\d, ]*\))", out, re.MULTILINE))
    assert shapes == {
        "X": "(300, 2)", "z1": "(300, 100)", "hidden1": "(300, 100)", "scores": "(300, 3)",
        "probs": "(300, 3)", "dscores": "(300, 3)", "dW2": "(100, 3)", "db2": "(3,)",
        "dhidden1": "(300, 100)", "mask1": "(300, 100)", "dz1": "(300, 100)",
        "dW1": "(2, 100)", "db1": "(100,)",
    }
    # the first point sits at the origin, so its scores are exactly b2 = 0, its
    # probabilities 1/3 and its dscores (1/3 - 1) / 300 and (1/3) / 300
    assert re.search(r"^  probs .*\[\+3\.333e-01, \+3\.333e-01, \+3\.333e-01,", out, re.MULTILINE)
    assert re.search(r"^  dscores .*\[-2\.222e-03, \+1\.111e-03, \+1\.111e-03,", out, re.MULTILINE)

    engine = losses(out)
    assert sorted(engine) == [0, 1000]
    steps, engine_final = final_loss(out)
    assert steps == 1500
    assert engine_final < engine[1000] < engine[0]
    assert accuracy(out) >= 0.90

    # same seed, same draws: the engine follows the hand-written loop of example 02
    # (they part only by round-off, which this chaotic training amplifies later on)
    plain_out = run_example("02_two_layer_by_hand.py", "--iterations", "1500")
    plain = losses(plain_out)
    assert engine[0] == pytest.approx(plain[0], abs=2e-6)
    assert engine[1000] == pytest.approx(plain[1000], abs=2e-6)
    assert engine_final == pytest.approx(final_loss(plain_out)[1], abs=1e-5)


def test_04_gradient_check_passes_for_every_parameter():
    out = run_example("04_gradient_check.py")
    errors = re.findall(r"^\s+(W\d|b\d) .*max relative error (\S+)$", out, re.MULTILINE)
    # [2, 10, 3] has W1 b1 W2 b2, [2, 16, 16, 3] adds W3 b3
    assert [name for name, _ in errors] == ["W1", "b1", "W2", "b2", "W1", "b1", "W2", "b2", "W3", "b3"]
    for name, err in errors:
        assert 0 <= float(err) < 1e-6, (name, err)
    assert "all parameters below 1e-06: yes" in out
