"""The demo writes its linear run in a forked child while the net trains, and the result
is the demo written one step after another, file for file. Each case runs in a fresh
interpreter (a test runner's helper threads keep the fork from being used in its own)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="fork is POSIX only")

SCRIPT = """
import os, sys
from pathlib import Path
import neuralab.config
neuralab.config.LECTURE_ITERATIONS = {"linear": 20, "mlp": 300}
import neuralab.lab as lab

out, case = Path(sys.argv[1]), sys.argv[2]
if case == "serial":
    os.environ["NEURALAB_SERIAL_WRITE"] = "1"
write = lab._write_files

def spy(run, data, folder, *rest):
    if run.name == "linear":
        (out.parent / "writer").write_text(str(os.getpid()))
    return write(run, data, folder, *rest)

lab._write_files = spy
if case == "net fails":
    prepared = lab._prepared
    def fail_second(data, settings, *rest):
        if settings.model == "mlp":
            raise RuntimeError("the net cannot train")
        return prepared(data, settings, *rest)
    lab._prepared = fail_second
try:
    lab.run_demo(out=out, echo=None, progress=False)
except RuntimeError as exc:
    print("error:", exc)
print("parent:", os.getpid())
"""


def demo(tmp_path: Path, case: str) -> tuple[Path, str, str]:
    """The demo run in a fresh interpreter into ``tmp_path/case/demo``: (folder, the pid that
    wrote the linear run, what the script printed)."""
    where = tmp_path / case
    where.mkdir()
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(where / "demo"), case],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    writer = where / "writer"
    return where / "demo", writer.read_text() if writer.exists() else "", done.stdout


def files(folder: Path) -> dict[str, bytes]:
    """Every file by its path in ``folder`` (an event file's name, which holds the time, the
    host and the pid, as ``tensorboard/events``)."""
    def name(p: Path) -> str:
        rel = str(p.relative_to(folder))
        return rel.split(".out.tfevents.")[0] if ".out.tfevents." in rel else rel
    return {name(p): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_the_linear_run_is_written_in_a_child_and_the_demo_is_the_same_as_written_in_turn(tmp_path):
    beside, writer, out = demo(tmp_path, "beside")
    parent = out.split("parent:")[1].strip()
    assert writer and writer != parent  # a forked child wrote the linear run
    serial, writer_serial, out_serial = demo(tmp_path, "serial")
    assert writer_serial == out_serial.split("parent:")[1].strip()  # here, after the net
    got, want = files(beside), files(serial)
    assert sorted(got) == sorted(want)
    assert "linear/report.html" in got and "linear/figures/boundary.png" in got
    for name in got:  # what does not hold a time or a temporary path is the same byte for byte
        if name.endswith((".png", "metrics.json", "history.csv", ".safetensors")):
            assert got[name] == want[name], name
    # the events, finished here once the child has drawn the figures, hold the boundary image
    assert b"boundary" in got["linear/tensorboard/events"]
    metrics = json.loads(got["linear/metrics.json"])
    assert metrics["train"]["n_samples"] == 300


def test_a_net_that_fails_leaves_no_demo_and_no_half_written_linear_run(tmp_path):
    folder, writer, out = demo(tmp_path, "net fails")
    assert "error: the net cannot train" in out
    assert not folder.exists()
    assert set(os.listdir(folder.parent)) <= {"writer"}  # no new state left behind
