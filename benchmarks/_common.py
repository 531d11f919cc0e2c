"""What every benchmark records about the machine, and its warning about a busy one."""

from __future__ import annotations

import os
import platform

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
