"""Microseconds per training iteration: the neuralab engine, the lecture's NumPy loop and eager PyTorch.

What is measured
----------------
One full-batch training iteration of the lecture's 2-layer spiral net: 300 points
in 2-D (the seeded spiral, 3 classes of 100), a hidden layer of 100 ReLU units,
3 classes, mean softmax cross-entropy plus the L2 penalty ``0.5 * reg * sum W^2``
(reg 1e-3), plain SGD with step 1.0, weights drawn from ``0.01 * N(0, 1)``.
One iteration is forward, loss, backward and update, four ways:

- **engine**: ``make_engine_trainer([2, 100, 3], seed=0, lr=1.0, reg=1e-3, dtype=...)``
  and ``trainer.train_step(X, y)`` in a Python loop;
- **plain loop**: the loop from the lecture's slides (the cs231n "case study" code),
  written out below in :func:`plain_loop` exactly as the slides show it;
- **torch twin**: neuralab's PyTorch backend,
  ``make_torch_trainer([2, 100, 3], seed=0, lr=1.0, reg=1e-3, dtype=..., device="cpu")``
  and ``trainer.train_step(X, y)`` (the same NumPy ``X`` every step, so the trainer
  converts it to a tensor once and reuses it);
- **torch slides**: the PyTorch loop as the lecture's slides write it, in
  :func:`torch_slides_loop`: ``nn.Sequential(nn.Linear(2, 100), nn.ReLU(),
  nn.Linear(100, 3))`` in the dtype, ``torch.optim.SGD(net.parameters(), lr=1.0)``,
  tensors ``Xt``, ``yt`` made once; each iteration ``optimizer.zero_grad()``,
  ``scores = net(Xt)``, ``loss = F.cross_entropy(scores, yt) + 0.5*reg*(W1**2).sum()
  + 0.5*reg*(W2**2).sum()``, ``loss.backward()``, ``optimizer.step()`` and
  ``loss.item()`` (the slides print the loss; the engine pays the same to read
  its loss as a Python float and check it for NaN).

All four start from the engine's initial weights (torch's ``nn.Linear`` weight
is the lecture's ``W`` transposed) and run in float64 and in float32 (X and the
weights cast to the dtype), in one process. PyTorch runs eagerly on the CPU
only, with its default intra-op thread count (``torch.get_num_threads()``, shown
in the table's header and recorded in the JSON). Each measurement warms up, then
times a block of ``--iterations`` iterations (default 300) with
``time.perf_counter``; this is repeated ``--repeats`` times (default 7), the four
implementations interleaved (their order rotated from block to block) so that
machine noise touches all alike. The table shows the median microseconds per
iteration of each, and the ratios engine / plain loop, engine / torch (the
"torch slides" eager loop is the reference) and engine / torch twin: below 1
means the engine is faster. The issue's targets: engine / plain loop <= 1.0,
aiming at 0.6; engine / torch <= 0.5.

Before timing, the script checks that the implementations compute the same
thing: in float64, from the same initial W1, b1, W2, b2 (the engine's, copied
into the others), it runs 50 iterations of each and prints each one's last loss,
and the differences of the losses and of the final weights from the engine's.

How to run
----------
From the repository root::

    .venv/bin/python benchmarks/spiral_step.py             # the full measurement
    .venv/bin/python benchmarks/spiral_step.py --quick     # a few seconds, for a smoke test
    .venv/bin/python benchmarks/spiral_step.py --repeats 15 --json bench.json

Timings depend on the machine, on how many BLAS threads NumPy uses
(``OPENBLAS_NUM_THREADS``, ``OMP_NUM_THREADS``) and on torch's thread count
(``OMP_NUM_THREADS``, or ``--torch-threads N`` for ``torch.set_num_threads(N)``);
compare ratios, not raw numbers, across machines. Run it on an otherwise idle
machine: when other processes take the cores, torch's OpenMP threads wait on
each other at every operation and its times grow by orders of magnitude (the
script prints a note when the load average is >= the CPU count before timing, and the JSON
records the load average before and after). They also depend on the memory allocator: the plain loop makes
new temporaries every iteration, and in float64 its (300, 100) arrays take
240 KB, above glibc's default mmap threshold (128 KB), so on Linux each one can
be a fresh mapping whose pages fault in (visible as system time). The engine
reuses its buffers and does not pay that. Running with
``MALLOC_MMAP_THRESHOLD_=4000000 MALLOC_TRIM_THRESHOLD_=16000000`` (both: the
first alone makes glibc trim and regrow the heap instead, which is slower still)
shows the ratio without that cost; the JSON records any ``MALLOC_*`` settings.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

import neuralab
from neuralab.runs import write_json

from _common import loadavg_before_timing, machine
from neuralab.data import spiral
from neuralab.torch_backend import TorchTrainer, make_torch_trainer
from neuralab.train import EngineTrainer, make_engine_trainer

SIZES = [2, 100, 3]
STEP_SIZE = 1.0
REG = 1e-3
SEED = 0
CHECK_ITERATIONS = 50
DTYPES = ("float64", "float32")
TORCH_DTYPES = {"float64": torch.float64, "float32": torch.float32}
# the implementations, in the order of the table's columns
IMPLEMENTATIONS = ("engine", "plain", "torch_twin", "torch_slides")
LABELS = {"engine": "engine", "plain": "plain loop",
          "torch_twin": "torch twin", "torch_slides": "torch slides"}


def _load_slides_loop():
    """The slides' loop from examples/02_two_layer_by_hand.py, so one copy serves both."""
    import importlib.util

    path = Path(__file__).resolve().parent.parent / "examples" / "02_two_layer_by_hand.py"
    spec = importlib.util.spec_from_file_location("two_layer_by_hand", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.train


_slides_train = _load_slides_loop()


def plain_loop(X, y, W, b, W2, b2, num_iters, step_size=STEP_SIZE, reg=REG):
    """The lecture's training loop, as on the slides; updates W, b, W2, b2 in place.

    Returns the loss of the last iteration (computed, as on the slides, from that
    iteration's forward pass, before its update).
    """
    return _slides_train(X, y, W, b, W2, b2, num_iters, step_size, reg)


def engine_loop(trainer: EngineTrainer, X, y, num_iters):
    """``num_iters`` engine training steps; returns the last step's loss."""
    loss = None
    for _ in range(num_iters):
        loss, _ = trainer.train_step(X, y)
    return loss


def torch_twin_loop(trainer: TorchTrainer, X, y, num_iters):
    """``num_iters`` steps of neuralab's torch trainer; returns the last step's loss.

    ``X`` is the same NumPy array every step, so the trainer converts it once.
    """
    loss = None
    for _ in range(num_iters):
        loss, _ = trainer.train_step(X, y)
    return loss


def torch_slides_setup(trainer: EngineTrainer, X, y, dtype: str):
    """The slides' ``net``, ``optimizer`` and tensors, from the engine's current weights.

    ``nn.Sequential(Linear(2, 100), ReLU(), Linear(100, 3))`` in ``dtype``; torch's
    Linear weight is the lecture's W transposed. ``Xt`` and ``yt`` are made once.
    """
    state = trainer.state_dict()
    net = nn.Sequential(nn.Linear(SIZES[0], SIZES[1]), nn.ReLU(), nn.Linear(SIZES[1], SIZES[2]))
    net.to(TORCH_DTYPES[dtype])
    with torch.no_grad():
        for i, linear in ((1, net[0]), (2, net[2])):
            linear.weight.copy_(torch.from_numpy(np.ascontiguousarray(state[f"W{i}"].T)))
            linear.bias.copy_(torch.from_numpy(state[f"b{i}"]))
    optimizer = torch.optim.SGD(net.parameters(), lr=STEP_SIZE)
    Xt = torch.from_numpy(np.ascontiguousarray(X, dtype=dtype))
    yt = torch.from_numpy(np.asarray(y, dtype=np.int64))
    return net, optimizer, Xt, yt


def torch_slides_loop(net, optimizer, Xt, yt, num_iters, reg=REG):
    """The slides' PyTorch training loop; returns the last iteration's loss (before its update)."""
    W1, W2 = net[0].weight, net[2].weight
    loss = None
    for _ in range(num_iters):
        optimizer.zero_grad()
        scores = net(Xt)
        loss = F.cross_entropy(scores, yt) + 0.5 * reg * (W1**2).sum() + 0.5 * reg * (W2**2).sum()
        loss.backward()
        optimizer.step()
        loss = loss.item()  # the slides print it; the engine pays the same for its NaN check
    return loss


def torch_state(net) -> dict[str, np.ndarray]:
    """The slides' net's weights in the lecture's layout."""
    return {
        "W1": net[0].weight.detach().numpy().T, "b1": net[0].bias.detach().numpy(),
        "W2": net[2].weight.detach().numpy().T, "b2": net[2].bias.detach().numpy(),
    }


def plain_weights_from(trainer: EngineTrainer, dtype) -> list[np.ndarray]:
    """The engine's W1, b1, W2, b2 as the slides store them (biases of shape (1, h))."""
    state = trainer.state_dict()
    return [
        state["W1"].astype(dtype, copy=True),
        state["b1"].reshape(1, -1).astype(dtype, copy=True),
        state["W2"].astype(dtype, copy=True),
        state["b2"].reshape(1, -1).astype(dtype, copy=True),
    ]


def _max_abs_diff(a: dict, b: dict) -> float:
    return max(float(np.max(np.abs(np.asarray(a[k]).ravel() - np.asarray(b[k]).ravel())))
               for k in ("W1", "b1", "W2", "b2"))


def check_agreement(X, y, iterations: int = CHECK_ITERATIONS) -> dict:
    """Run every implementation ``iterations`` steps from the same float64 weights.

    Returns the loss of the last iteration of each, each one's absolute difference
    from the engine's loss, and the largest absolute difference of its weights from
    the engine's after the last update (``loss_abs_diff`` and
    ``weights_max_abs_diff`` are the largest of those over the implementations).
    """
    trainer = make_engine_trainer(SIZES, seed=SEED, lr=STEP_SIZE, reg=REG, dtype="float64")
    W, b, W2, b2 = plain_weights_from(trainer, np.float64)
    twin = make_torch_trainer(SIZES, seed=SEED, lr=STEP_SIZE, reg=REG, dtype="float64",
                              device="cpu")
    net, optimizer, Xt, yt = torch_slides_setup(trainer, X, y, "float64")
    start = {"engine": trainer.state_dict(), "plain": {"W1": W, "b1": b, "W2": W2, "b2": b2},
             "torch_twin": twin.state_dict(), "torch_slides": torch_state(net)}
    start_diff = max(_max_abs_diff(start["engine"], start[name]) for name in IMPLEMENTATIONS)

    losses = {
        "engine": float(engine_loop(trainer, X, y, iterations)),
        "plain": float(plain_loop(X, y, W, b, W2, b2, iterations)),
        "torch_twin": float(torch_twin_loop(twin, X, y, iterations)),
        "torch_slides": float(torch_slides_loop(net, optimizer, Xt, yt, iterations)),
    }
    final = {"engine": trainer.state_dict(), "plain": {"W1": W, "b1": b, "W2": W2, "b2": b2},
             "torch_twin": twin.state_dict(), "torch_slides": torch_state(net)}
    others = IMPLEMENTATIONS[1:]
    loss_diffs = {name: abs(losses[name] - losses["engine"]) for name in others}
    weight_diffs = {name: _max_abs_diff(final["engine"], final[name]) for name in others}
    return {
        "iterations": iterations,
        "initial_weights_max_abs_diff": start_diff,
        **{f"{name}_loss": losses[name] for name in IMPLEMENTATIONS},
        "loss_abs_diff_from_engine": loss_diffs,
        "weights_max_abs_diff_from_engine": weight_diffs,
        "loss_abs_diff": max(loss_diffs.values()),
        "weights_max_abs_diff": max(weight_diffs.values()),
    }


def format_agreement(agreement: dict) -> str:
    lines = [f"agreement (float64, same initial weights, {agreement['iterations']} iterations), "
             f"last loss of each and its difference from the engine's:",
             f"  {'engine':<13} {agreement['engine_loss']:.15f}"]
    for name in IMPLEMENTATIONS[1:]:
        lines.append(
            f"  {LABELS[name]:<13} {agreement[f'{name}_loss']:.15f}"
            f"  loss diff {agreement['loss_abs_diff_from_engine'][name]:.3e}"
            f"  weights max diff {agreement['weights_max_abs_diff_from_engine'][name]:.3e}"
        )
    return "\n".join(lines)


def measure(X, y, *, iterations: int, repeats: int, warmup: int) -> dict:
    """Median microseconds per iteration of each implementation, per dtype."""
    runners = {}
    for dtype in DTYPES:
        trainer = make_engine_trainer(SIZES, seed=SEED, lr=STEP_SIZE, reg=REG, dtype=dtype)
        Xd = X.astype(dtype)
        weights = plain_weights_from(trainer, np.dtype(dtype))
        twin = make_torch_trainer(SIZES, seed=SEED, lr=STEP_SIZE, reg=REG, dtype=dtype,
                                  device="cpu")
        slides = torch_slides_setup(trainer, Xd, y, dtype)
        runners[dtype] = {
            "engine": lambda n, t=trainer, Xd=Xd: engine_loop(t, Xd, y, n),
            "plain": lambda n, w=weights, Xd=Xd: plain_loop(Xd, y, *w, n),
            "torch_twin": lambda n, t=twin, Xd=Xd: torch_twin_loop(t, Xd, y, n),
            "torch_slides": lambda n, s=slides: torch_slides_loop(*s, n),
        }
    for dtype in DTYPES:  # warm up caches, buffers, allocators and the BLAS/OpenMP threads
        for run in runners[dtype].values():
            run(warmup)

    samples = {dtype: {name: [] for name in IMPLEMENTATIONS} for dtype in DTYPES}
    k = len(IMPLEMENTATIONS)
    for r in range(repeats):
        for dtype in DTYPES:
            # rotate the order, so that each implementation takes each place in turn
            # and drifts of the machine hit all alike
            order = IMPLEMENTATIONS[r % k:] + IMPLEMENTATIONS[:r % k]
            for name in order:
                start = time.perf_counter()
                runners[dtype][name](iterations)
                elapsed = time.perf_counter() - start
                samples[dtype][name].append(elapsed / iterations * 1e6)

    results = {}
    for dtype in DTYPES:
        med = {name: statistics.median(samples[dtype][name]) for name in IMPLEMENTATIONS}
        results[dtype] = {
            **{f"{name}_us": med[name] for name in IMPLEMENTATIONS},
            "engine_over_plain": med["engine"] / med["plain"],
            "engine_over_torch": med["engine"] / med["torch_slides"],
            "engine_over_torch_twin": med["engine"] / med["torch_twin"],
            **{f"{name}_samples_us": samples[dtype][name] for name in IMPLEMENTATIONS},
        }
    return results


def format_table(results: dict, torch_threads: int) -> str:
    title = (f"median us per iteration; torch {torch.__version__} eager on the CPU, "
             f"torch.get_num_threads() = {torch_threads}; engine/torch uses torch slides")
    header = (f"{'dtype':<8} {'engine us/it':>13} {'plain loop us/it':>17} "
              f"{'torch twin us/it':>17} {'torch slides us/it':>19} "
              f"{'engine/plain':>13} {'engine/torch':>13} {'engine/twin':>12}")
    lines = [title, header, "-" * len(header)]
    for dtype, r in results.items():
        lines.append(
            f"{dtype:<8} {r['engine_us']:>13.1f} {r['plain_us']:>17.1f} "
            f"{r['torch_twin_us']:>17.1f} {r['torch_slides_us']:>19.1f} "
            f"{r['engine_over_plain']:>13.3f} {r['engine_over_torch']:>13.3f} "
            f"{r['engine_over_torch_twin']:>12.3f}"
        )
    return "\n".join(lines)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Microseconds per training iteration of the lecture's 2-layer spiral "
        "net: the neuralab engine against the slides' plain NumPy loop and eager PyTorch "
        "(CPU)."
    )
    parser.add_argument("--repeats", type=int, default=7,
                        help="timed blocks per implementation and dtype (default 7)")
    parser.add_argument("--iterations", type=int, default=300,
                        help="training iterations per timed block (default 300)")
    parser.add_argument("--warmup", type=int, default=100,
                        help="untimed iterations before timing (default 100)")
    parser.add_argument("--quick", action="store_true",
                        help="a short run (3 repeats of 50 iterations) for smoke tests")
    parser.add_argument("--torch-threads", type=int, default=None, metavar="N",
                        help="torch.set_num_threads(N) before timing (default: torch's own "
                        "choice, usually the number of cores)")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON to PATH")
    args = parser.parse_args(argv)
    if args.quick:
        args.repeats, args.iterations, args.warmup = 3, 50, 10
    for name in ("repeats", "iterations"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be a positive integer, got {getattr(args, name)}")
    if args.warmup < 0:
        parser.error(f"--warmup must be >= 0, got {args.warmup}")
    if args.torch_threads is not None and args.torch_threads < 1:
        parser.error(f"--torch-threads must be a positive integer, got {args.torch_threads}")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    X, y = spiral(n_per_class=100, n_classes=3, noise=0.2, seed=SEED)

    print(f"spiral {X.shape[0]}x{X.shape[1]} -> {SIZES[1]} -> {SIZES[2]}, full batch, "
          f"lr {STEP_SIZE}, reg {REG}, ReLU, init 0.01*N(0,1)")
    if args.torch_threads is not None:
        torch.set_num_threads(args.torch_threads)
    torch_threads = torch.get_num_threads()
    print(f"numpy {np.__version__}, torch {torch.__version__} (CPU, {torch_threads} threads), "
          f"neuralab {neuralab.__version__}, python {platform.python_version()}, "
          f"{os.cpu_count()} CPUs")

    agreement = check_agreement(X, y)
    print(format_agreement(agreement))

    load_before = loadavg_before_timing()
    print(f"timing: {args.repeats} interleaved blocks of {args.iterations} iterations "
          f"(after {args.warmup} warm-up), median per iteration")
    results = measure(X, y, iterations=args.iterations, repeats=args.repeats, warmup=args.warmup)
    load_after = os.getloadavg()
    print(format_table(results, torch_threads))
    print("targets: engine/plain <= 1.0 required, 0.6 aimed at; engine/torch <= 0.5")

    if args.json:
        payload = {
            "benchmark": "spiral_step",
            "model": SIZES,
            "lr": STEP_SIZE,
            "reg": REG,
            "repeats": args.repeats,
            "iterations_per_block": args.iterations,
            "warmup": args.warmup,
            **machine(),
            "torch": torch.__version__,
            "torch_device": "cpu",
            "torch_num_threads": torch_threads,
            "loadavg_before": list(load_before),
            "loadavg_after": list(load_after),
            "agreement": agreement,
            "results": results,
        }
        write_json(args.json, payload)  # atomic, strict JSON
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
