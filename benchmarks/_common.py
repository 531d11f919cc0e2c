"""What every benchmark records about the machine, and its warning about a busy one."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
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


def child_env() -> dict:
    """This environment less PYTHONDONTWRITEBYTECODE (which the project's environment sets), so
    that timed neuralab processes cache their bytecode as an installed neuralab does."""
    return {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


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


#: a small process that starts the measured command, waits for it and writes what wait4
#: says of it (argv: the JSON file, then the command)
LAUNCHER = """
import json, os, shutil, sys, time
out, argv = sys.argv[1], sys.argv[2:]
path = argv[0] if os.sep in argv[0] else shutil.which(argv[0]) or argv[0]
start = time.perf_counter()
pid = os.posix_spawn(path, argv, os.environ)
_, status, usage = os.wait4(pid, 0)
wall = time.perf_counter() - start
with open(out, "w") as f:
    json.dump({"code": os.waitstatus_to_exitcode(status), "wall": wall,
               "cpu": usage.ru_utime + usage.ru_stime, "maxrss_kib": usage.ru_maxrss}, f)
"""


def timed_child(argv: list[str], *, cwd=None, env=None) -> Child:
    """Run ``argv`` and wait for it; its output goes through temporary files, so that a
    full pipe never blocks it.

    The command is started by a small launcher process (:data:`LAUNCHER`), which times
    it and reads its rusage: a child of this process would start from this process's
    memory (fork copies it, and posix_spawn's exec keeps the peak it shares), and its
    peak resident memory would count this process's (a benchmark holding torch and a
    data set) besides its own. The wall seconds are the launcher's, around the command.
    """
    with tempfile.TemporaryFile("w+b") as out, tempfile.TemporaryFile("w+b") as err, \
            tempfile.TemporaryDirectory() as tmp:
        report = os.path.join(tmp, "rusage.json")
        subprocess.run([sys.executable, "-c", LAUNCHER, report, *argv], cwd=cwd, env=env,
                       stdin=subprocess.DEVNULL, stdout=out, stderr=err, check=False)
        with open(report, encoding="utf-8") as f:
            r = json.load(f)
        out.seek(0)
        err.seek(0)
        return Child(r["code"], r["wall"], r["cpu"], int(r["maxrss_kib"]) * 1024,  # Linux: KiB
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
