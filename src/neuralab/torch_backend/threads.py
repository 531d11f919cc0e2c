"""Torch's CPU threads: how many one process's operations may use."""

from __future__ import annotations

import torch


def set_threads(n: int) -> None:
    """Let torch's CPU operations in this process use ``n`` threads (at least one).

    Parallel sweep workers call it so that N processes share the cores instead
    of each starting a thread per core.
    """
    torch.set_num_threads(max(1, int(n)))
