"""Training on CUDA, alone and data-parallel over every local GPU, agrees with the CPU.

Marked ``gpu``: skipped where torch sees no CUDA device.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch
from safetensors.numpy import load_file

from neuralab.config import TrainSettings
from neuralab.data import load
from neuralab.lab import run_training

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]

# 50 minibatch steps in float32
SETTINGS = TrainSettings(backend="torch", dtype="float32", batch_size=32, hidden=[64, 64],
                         optimizer="adam", lr=0.01, seed=5, iterations=50)


def _run(tmp_path, device: str, name: str):
    out = tmp_path / name
    run_training(load("moons", seed=5), SETTINGS.replace(device=device), out=out, echo=None,
                 progress=False)
    return load_file(str(out / "model.safetensors"))


def _close(a: dict, b: dict, tol: float) -> None:
    for k in a:
        assert np.max(np.abs(a[k] - b[k])) <= tol, k


def test_one_gpu_matches_the_cpu_after_50_steps(tmp_path):
    _close(_run(tmp_path, "cuda", "gpu"), _run(tmp_path, "cpu", "cpu"), 1e-5)


def test_every_local_gpu_data_parallel_matches_the_cpu(tmp_path):
    gpus = torch.cuda.device_count()
    proc = subprocess.run(
        [sys.executable, "-m", "neuralab", "train", "--dataset", "moons", "--seed", "5",
         "--backend", "torch", "--device", "cuda", "--dtype", "float32", "--batch-size", "32",
         "--hidden", "64", "--hidden", "64", "--optimizer", "adam", "--lr", "0.01",
         "--iterations", "50", "--nproc", str(gpus), "--quiet", "--out", str(tmp_path / "ddp")],
        capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    ddp = load_file(str(tmp_path / "ddp" / "model.safetensors"))
    _close(ddp, _run(tmp_path, "cpu", "cpu"), 1e-5)
