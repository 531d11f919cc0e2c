"""What every benchmark records about the machine, and its warning about a busy one."""

from __future__ import annotations

import os
import platform
import subprocess
import tempfile
import time
from dataclasses import dataclass

import numpy as np

import neuralab


def machine() -> dict:
    """Versions, platform, CPU count and the environment variables that change timings."""
    return {
        "neuralab": neuralab.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "env": {k: v for k, v in os.environ.items()
                if k.startswith(("MALLOC_", "OPENBLAS_")) or k.endswith("_NUM_THREADS")},
    }


def loadavg_before_timing() -> tuple[float, float, float]:
    """The load average now; a note when other processes already fill the CPUs."""
    load = os.getloadavg()
    if load[0] >= (os.cpu_count() or 1):
        print(f"note: 1-minute load average {load[0]:.2f} before timing, >= the CPU count: "
              "other processes share the CPUs and the timings suffer (torch's threads most)")
    return load


@dataclass
class Child:
    """One finished child process: its exit status, wall and CPU seconds, peak resident
    memory in bytes (its own, from ``os.wait4``: RUSAGE_CHILDREN would give the largest
    of all children so far), and its output."""

    returncode: int
    wall: float
    cpu: float
    peak_rss: int
    stdout: str
    stderr: str


def timed_child(argv: list[str], **popen) -> Child:
    """Run ``argv`` and wait for it; its output goes through temporary files, so that a
    full pipe never blocks it."""
    with tempfile.TemporaryFile("w+b") as out, tempfile.TemporaryFile("w+b") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=out, stderr=err, stdin=subprocess.DEVNULL, **popen)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return Child(proc.returncode, wall, usage.ru_utime + usage.ru_stime,
                     int(usage.ru_maxrss) * 1024,  # Linux: KiB
                     out.read().decode(errors="replace"), err.read().decode(errors="replace"))


def add_torch_threads(parser) -> None:
    """The ``--torch-threads N`` option of the benchmarks that time PyTorch."""
    parser.add_argument("--torch-threads", type=int, default=None, metavar="N",
                        help="torch.set_num_threads(N) first (default: torch's own choice)")


def apply_torch_threads(args, parser) -> int:
    """Check ``--torch-threads`` and set it; returns torch's thread count in force."""
    import torch

    if args.torch_threads is not None:
        if args.torch_threads < 1:
            parser.error(f"--torch-threads must be a positive integer, got {args.torch_threads}")
        torch.set_num_threads(args.torch_threads)
    return torch.get_num_threads()
