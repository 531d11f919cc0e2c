"""Seconds per Fashion-MNIST epoch against hidden width and rows: engine, PyTorch, matmul bound.

What is measured
----------------
The lecture's 784-H-10 ReLU net, for each hidden width H of ``--hidden`` (default
100, 400, 1600), trained for one epoch on the first R Fashion-MNIST training images
for each R of ``--rows`` (default 10,000, 30,000, 60,000): shuffled minibatches of
128, float32, mean softmax cross-entropy plus the L2 penalty ``0.5 * reg * sum W^2``
(reg 1e-4), plain SGD with step 0.1. Three implementations, as in
benchmarks/fashion_epoch.py:

- **engine**: ``fit(trainer, X, y, epochs=1, batch_size=128, ...)`` on
  ``make_engine_trainer([784, H, 10], dtype="float32", optimizer="sgd", lr=0.1,
  reg=1e-4)``, fit's own timer of its loop (``FitResult.seconds``: shuffle, gather,
  steps, checks; not its closing evaluation).
- **PyTorch**: the lecture's eager loop (``nn.Sequential(Linear, ReLU, Linear)``,
  ``optim.SGD``, ``F.cross_entropy`` plus the L2 term, batches gathered from
  tensors made once), torch's default thread count unless ``--torch-threads``.
- **matmul bound**: the five matrix products of each step and nothing else
  (``X@W1``, ``hidden@W2``, ``dscores@W2.T``, ``hidden.T@dscores``, ``X.T@dz1``),
  over all batches, done twice: by NumPy's BLAS (OpenBLAS) and by torch's
  (``torch.matmul`` on ``torch.from_numpy`` views: oneMKL). The bound is the faster
  of the two, the fastest product the installed libraries offer.

For each (H, R) the implementations run interleaved in one process: one warm-up
epoch each, then ``--repeats`` rounds (default 3) of one epoch each, their order
rotated from round to round. The table gives the median seconds per epoch and the
ratios engine/PyTorch (target <= 1.0) and engine/bound (target <= 1.5).

``--products`` first times each of the five products alone at each width, NumPy
against torch, with 1 and 2 threads: where torch's product is the faster, and so
the size from which the engine hands its float32 products to torch
(``neuralab.nn.kernels.TORCH_MIN_WEIGHTS``).

Last, the peak resident memory (``ru_maxrss`` of the child) of a whole
``neuralab train --dataset fashion_mnist --hidden 1600 --epochs 1 --batch-size 128
--dtype float32 --lr 0.1 --quiet --no-tensorboard`` run, against the 700 MB target;
``--no-memory`` skips it.

How to run
----------
From the repository root, on an otherwise idle machine::

    .venv/bin/python benchmarks/wide.py                      # the table and the memory run, ~2 min
    .venv/bin/python benchmarks/wide.py --quick              # H 100 and 400 on 10,000 rows
    .venv/bin/python benchmarks/wide.py --hidden 1600 --rows 60000 --products --json wide.json

Needs /usr/share/datasets/fashion-mnist (Debian's package ``dataset-fashion-mnist``).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from _common import (add_torch_threads, apply_torch_threads, loadavg_before_timing, machine,
                     timed_child)
from fashion_epoch import (EngineFit, TorchLoop, blas_info, five_products, load_fashion,
                           neuralab_command)
from threadpoolctl import threadpool_limits

from neuralab.runs import write_json

BATCH, LR, REG, D_IN, K = 128, 0.1, 1e-4, 784, 10
IMPLEMENTATIONS = ("engine", "torch", "bound_numpy", "bound_torch")
TARGET_OVER_TORCH, TARGET_OVER_BOUND, TARGET_MEMORY_MB = 1.0, 1.5, 700
MEMORY_HIDDEN = 1600
MEMORY_COMMAND = ["train", "--dataset", "fashion_mnist", "--hidden", str(MEMORY_HIDDEN),
                  "--epochs", "1", "--batch-size", str(BATCH), "--dtype", "float32",
                  "--lr", str(LR), "--quiet", "--no-tensorboard"]
PRODUCTS = ("X@W1", "hidden@W2", "dscores@W2.T", "hidden.T@dscores", "X.T@dz1")


def product_operands(hidden: int, rows: int = BATCH, seed: int = 0) -> dict:
    """The five products of one step at width ``hidden``, float32: name -> (a, b, out), the
    operands as the engine's step passes them (transposes are views)."""
    rng = np.random.default_rng(seed)

    def arr(*shape):
        return rng.standard_normal(shape).astype(np.float32)

    X, W1, W2 = arr(rows, D_IN), arr(D_IN, hidden), arr(hidden, K)
    h, s, ds, dh, dz = arr(rows, hidden), arr(rows, K), arr(rows, K), arr(rows, hidden), arr(rows, hidden)
    dW1, dW2 = arr(D_IN, hidden), arr(hidden, K)
    return {"X @ W1": (X, W1, h), "h @ W2": (h, W2, s), "ds @ W2.T": (ds, W2.T, dh),
            "h.T @ ds": (h.T, ds, dW2), "X.T @ dz": (X.T, dz, dW1)}


def torch_product(a, b, out):
    """``out = a @ b`` by torch on views of the NumPy arrays (nothing copied), as a call."""
    ta, tb, tout = torch.from_numpy(a), torch.from_numpy(b), torch.from_numpy(out)
    return lambda: torch.matmul(ta, tb, out=tout)


class MatmulBound:
    """The five products of every batch's step, nothing else; by NumPy or by torch."""

    def __init__(self, X, y, hidden: int, library: str):
        self.batches = [(i, min(i + BATCH, len(y))) for i in range(0, len(y), BATCH)]
        ops = product_operands(hidden)
        (_, W1, h), (_, W2, s), (ds, _, dh), (_, _, dW2), (_, dz, dW1) = ops.values()
        self.X, self.library = X, library
        self.arrays = (W1, W2, h, s, ds, dh, dz, dW1, dW2)
        self.mm = np.matmul if library == "numpy" else (
            lambda a, b, out: torch_product(a, b, out)())

    def __call__(self) -> None:
        W1, W2, h, s, ds, dh, dz, dW1, dW2 = self.arrays
        five_products(self.mm, self.X, self.batches, W1, W2, h, s, ds, dh, dz, dW1, dW2)


def time_config(X, y, hidden: int, repeats: int) -> dict:
    """Median seconds per epoch of each implementation at (hidden, len(y)), interleaved."""
    sizes = [D_IN, hidden, K]
    runners = {"engine": EngineFit(X, y, sizes), "torch": TorchLoop(X, y, sizes),
               "bound_numpy": MatmulBound(X, y, hidden, "numpy"),
               "bound_torch": MatmulBound(X, y, hidden, "torch")}
    for run in runners.values():  # warm-up: buffers, allocator, BLAS threads, torch import
        run()
    runners["engine"].loop_seconds.clear()
    samples = {name: [] for name in IMPLEMENTATIONS}
    k = len(IMPLEMENTATIONS)
    for r in range(repeats):
        for name in IMPLEMENTATIONS[r % k:] + IMPLEMENTATIONS[:r % k]:
            start = time.perf_counter()
            runners[name]()
            samples[name].append(time.perf_counter() - start)
    samples["engine_call"], samples["engine"] = samples["engine"], runners["engine"].loop_seconds
    med = {name: statistics.median(v) for name, v in samples.items()}
    bound = min(med["bound_numpy"], med["bound_torch"])
    return {"hidden": hidden, "rows": len(y), "seconds": med, "samples": samples,
            "bound": bound, "bound_library": "numpy" if bound == med["bound_numpy"] else "torch",
            "engine_over_torch": med["engine"] / med["torch"],
            "engine_over_bound": med["engine"] / bound}


def format_table(results: list[dict]) -> str:
    header = (f"{'hidden':>6} {'rows':>7} {'engine':>8} {'PyTorch':>8} {'bound':>8} "
              f"{'(OpenBLAS':>9} {'MKL)':>7} {'eng/PyT':>8} {'eng/bound':>9}")
    lines = ["median seconds per epoch (engine: fit()'s loop), float32, batches of 128",
             header, "-" * len(header)]
    for r in results:
        s = r["seconds"]
        lines.append(f"{r['hidden']:>6} {r['rows']:>7,} {s['engine']:>8.3f} {s['torch']:>8.3f} "
                     f"{r['bound']:>8.3f} {s['bound_numpy']:>9.3f} {s['bound_torch']:>7.3f} "
                     f"{r['engine_over_torch']:>8.2f} {r['engine_over_bound']:>9.2f}")
    worst_t = max(r["engine_over_torch"] for r in results)
    worst_b = max(r["engine_over_bound"] for r in results)
    lines.append(f"targets: engine/PyTorch <= {TARGET_OVER_TORCH} at every size: worst "
                 f"{worst_t:.2f} {'met' if worst_t <= TARGET_OVER_TORCH else 'MISSED'}; "
                 f"engine/bound <= {TARGET_OVER_BOUND}: worst {worst_b:.2f} "
                 f"{'met' if worst_b <= TARGET_OVER_BOUND else 'MISSED'}")
    return "\n".join(lines)


def _median_seconds(fn, calls: int) -> float:
    fn()
    runs = []
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        runs.append((time.perf_counter() - start) / calls)
    return statistics.median(runs)


def time_products(widths: list[int], threads: tuple[int, ...] = (1, 2)) -> list[dict]:
    """Microseconds of each product of a step alone, NumPy against torch, per thread count."""
    rows = []
    before = torch.get_num_threads()
    try:
        for nt in threads:
            torch.set_num_threads(nt)
            with threadpool_limits(nt, user_api="blas"):
                for hidden in widths:
                    calls = max(5, int(4e8 // (BATCH * D_IN * hidden)))
                    for name, (a, b, out) in product_operands(hidden).items():
                        t_np = _median_seconds(lambda a=a, b=b, out=out: np.matmul(a, b, out=out), calls)
                        t_t = _median_seconds(torch_product(a, b, out), calls)
                        rows.append({"threads": nt, "hidden": hidden, "product": name,
                                     "macs": a.shape[0] * a.shape[1] * b.shape[1],
                                     "numpy_us": 1e6 * t_np, "torch_us": 1e6 * t_t})
    finally:
        torch.set_num_threads(before)
    return rows


def format_products(rows: list[dict]) -> str:
    header = (f"{'threads':>7} {'hidden':>6} {'product':<17} {'mult-adds':>11} "
              f"{'NumPy us':>9} {'torch us':>9} {'torch/NumPy':>11}")
    lines = ["each product of a step alone (batch 128, float32), medians", header,
             "-" * len(header)]
    for r in rows:
        lines.append(f"{r['threads']:>7} {r['hidden']:>6} {r['product']:<17} {r['macs']:>11,} "
                     f"{r['numpy_us']:>9.1f} {r['torch_us']:>9.1f} "
                     f"{r['torch_us'] / r['numpy_us']:>11.2f}")
    return "\n".join(lines)


def measure_memory() -> dict:
    """Peak RSS of a whole hidden-1600 ``neuralab train`` run (a child process; os.wait4)."""
    out_dir = Path(tempfile.mkdtemp(prefix="neuralab-wide-"))
    child = timed_child(neuralab_command() + MEMORY_COMMAND + ["--out", str(out_dir / "run")])
    subprocess.run(["rm", "-rf", str(out_dir)], check=False)
    peak_mb = child.peak_rss / 1e6
    return {"command": " ".join(["neuralab"] + MEMORY_COMMAND + ["--out", "DIR"]),
            "returncode": child.returncode, "peak_rss_mb": peak_mb, "seconds": child.wall,
            "met": child.returncode == 0 and peak_mb < TARGET_MEMORY_MB,
            "stderr_tail": child.stderr[-2000:]}


def int_list(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        values = []
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected positive integers separated by commas, "
                                         f"got {text!r}")
    return values


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Seconds per Fashion-MNIST epoch of the "
                                     "784-H-10 net against hidden width and rows: engine, "
                                     "eager PyTorch and the matmul bound; peak memory at H 1600.")
    parser.add_argument("--hidden", type=int_list, default=[100, 400, 1600],
                        help="hidden widths, comma-separated (default 100,400,1600)")
    parser.add_argument("--rows", type=int_list, default=[10_000, 30_000, 60_000],
                        help="training images per epoch, comma-separated (default "
                        "10000,30000,60000; at most 60000)")
    parser.add_argument("--repeats", type=int, default=3,
                        help="timed epochs per implementation and size (default 3)")
    parser.add_argument("--quick", action="store_true",
                        help="hidden 100,400 on 10,000 rows, no memory run (a smoke test)")
    parser.add_argument("--products", action="store_true",
                        help="first time each product alone, NumPy against torch, 1 and 2 threads")
    add_torch_threads(parser)
    parser.add_argument("--no-memory", action="store_true",
                        help="skip the peak-memory run of `neuralab train --hidden 1600`")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON to PATH")
    args = parser.parse_args(argv)
    if args.quick:
        args.hidden, args.rows, args.no_memory = [100, 400], [10_000], True
    if args.repeats < 1:
        parser.error(f"--repeats must be a positive integer, got {args.repeats}")
    if max(args.rows) > 60_000:
        parser.error(f"--rows must be at most 60000 (Fashion-MNIST's training set), "
                     f"got {max(args.rows)}")
    args.threads_in_force = apply_torch_threads(args, parser)
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    X_all, y_all, _ = load_fashion(max(args.rows))
    print(f"Fashion-MNIST 784-H-10, float32, batches of {BATCH}, SGD lr {LR}, reg {REG}; "
          f"numpy {np.__version__}, torch {torch.__version__} ({torch.get_num_threads()} "
          f"threads), {os.cpu_count()} CPUs")
    print(f"BLAS: {blas_info()}")
    load_before = loadavg_before_timing()
    products = None
    if args.products:
        products = time_products(args.hidden)
        print(format_products(products), flush=True)
    results = []
    for hidden in args.hidden:
        for rows in args.rows:
            results.append(time_config(X_all[:rows], y_all[:rows], hidden, args.repeats))
            r = results[-1]
            print(f"  hidden {hidden}, {rows:,} rows: engine {r['seconds']['engine']:.3f} s, "
                  f"PyTorch {r['seconds']['torch']:.3f} s, bound {r['bound']:.3f} s", flush=True)
    print(format_table(results))
    memory = None
    if not args.no_memory:
        print(f"peak memory: running `neuralab train --hidden {MEMORY_HIDDEN}` on "
              "Fashion-MNIST, one epoch ...", flush=True)
        memory = measure_memory()
        if memory["returncode"] != 0:
            print(f"the run failed with status {memory['returncode']}:\n{memory['stderr_tail']}")
        print(f"peak memory of `{memory['command']}`: {memory['peak_rss_mb']:.0f} MB "
              f"({memory['seconds']:.1f} s); target < {TARGET_MEMORY_MB} MB "
              f"{'met' if memory['met'] else 'MISSED'}")
    if args.json:
        write_json(args.json, {"benchmark": "wide", **machine(), "torch": torch.__version__,
                               "torch_num_threads": torch.get_num_threads(), "blas": blas_info(),
                               "repeats": args.repeats, "loadavg_before": list(load_before),
                               "loadavg_after": list(os.getloadavg()), "products": products,
                               "results": results, "memory": memory})
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
