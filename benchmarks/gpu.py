"""A Fashion-MNIST epoch on the GPU (neuralab's torch backend, ``device cuda``) against the
CPU engine, for the lecture's 784-100-10 net and a wide 784-1024-1024-10 one.

What is measured
----------------
One epoch is one call of ``fit(trainer, X, y, epochs=1, batch_size=256)`` on the
60,000 training images in float32 (SGD, step 0.05, reg 1e-4): the training loop
that ``neuralab train`` runs, its shuffles and batch gathers included, timed by
fit's own clock (``FitResult.seconds``). The GPU trainer is
``make_torch_trainer(sizes, device="cuda", dtype="float32")``; each of its steps
copies the batch to the device, as a training loop from host memory does. The CPU
reference is the engine (``make_engine_trainer``) with every core's BLAS
threads. After a warm-up epoch each, ``--repeats`` rounds, interleaved; the table
shows the median seconds per epoch and the ratio GPU / CPU engine. ``--quick``
uses the first 12,000 images and two rounds.

Without a CUDA GPU the script says so and exits with status 0 (nothing to measure).

How to run
----------
From the repository root, on a machine with an NVIDIA GPU::

    .venv/bin/python benchmarks/gpu.py
    .venv/bin/python benchmarks/gpu.py --repeats 9 --json gpu.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import loadavg_before_timing, machine  # noqa: E402

NETS = {"784-100-10": [784, 100, 10], "784-1024-1024-10": [784, 1024, 1024, 10]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    import torch

    if not torch.cuda.is_available():
        print("no CUDA GPU on this machine: nothing to measure (benchmarks/gpu.py needs one)")
        return
    from neuralab.data import load
    from neuralab.torch_backend import make_torch_trainer
    from neuralab.train import fit, make_engine_trainer

    data = load("fashion_mnist")
    X, y = data.X.astype("float32"), data.y
    if args.quick:
        X, y = X[:12_000], y[:12_000]
    repeats = 2 if args.quick else args.repeats
    loadavg_before_timing()
    common = dict(dtype="float32", optimizer="sgd", lr=0.05, reg=1e-4, seed=0)
    report = {"machine": machine(), "gpu": torch.cuda.get_device_name(0), "images": len(y),
              "repeats": repeats, "nets": {}}
    print(f"one epoch of {len(y):,} images, batch 256, float32; GPU: {report['gpu']}")
    print(f"{'net':<20}{'CPU engine s':>14}{'GPU s':>10}{'GPU / CPU':>11}")
    for name, sizes in NETS.items():
        trainers = {"cpu": make_engine_trainer(sizes, **common),
                    "gpu": make_torch_trainer(sizes, device="cuda", **common)}
        times = {k: [] for k in trainers}
        for r in range(repeats + 1):
            for k, trainer in trainers.items():
                result = fit(trainer, X, y, epochs=1, batch_size=256, log_every=10**9,
                             progress=False, seed=r, stop_on_signal=False)
                if k == "gpu":
                    torch.cuda.synchronize()
                if r:  # the first round warms up
                    times[k].append(result.seconds)
        cpu, gpu = statistics.median(times["cpu"]), statistics.median(times["gpu"])
        report["nets"][name] = {"cpu_seconds": cpu, "gpu_seconds": gpu, "ratio": gpu / cpu,
                                "samples": times}
        print(f"{name:<20}{cpu:>14.3f}{gpu:>10.3f}{gpu / cpu:>11.2f}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
