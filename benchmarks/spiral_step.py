"""Microseconds per training iteration: the neuralab engine against the lecture's NumPy loop.

What is measured
----------------
One full-batch training iteration of the lecture's 2-layer spiral net: 300 points
in 2-D (the seeded spiral, 3 classes of 100), a hidden layer of 100 ReLU units,
3 classes, mean softmax cross-entropy plus the L2 penalty ``0.5 * reg * sum W^2``
(reg 1e-3), plain SGD with step 1.0, weights drawn from ``0.01 * N(0, 1)``.
One iteration is forward, loss, backward and update, two ways:

- **engine**: ``make_engine_trainer([2, 100, 3], seed=0, lr=1.0, reg=1e-3, dtype=...)``
  and ``trainer.train_step(X, y)`` in a Python loop;
- **plain loop**: the loop from the lecture's slides (the cs231n "case study" code),
  written out below in :func:`plain_loop` exactly as the slides show it.

Both run in float64 and in float32 (for the plain loop X and the weights are cast
to float32), in one process. Each measurement warms up, then times a block of
``--iterations`` iterations (default 300) with ``time.perf_counter``; this is
repeated ``--repeats`` times (default 7), engine and plain loop interleaved (and
their order alternated) so that machine noise touches both alike. The table shows
the median microseconds per iteration and the ratio engine / plain loop: below 1
means the engine is faster. The issue asks for a ratio <= 1.0 and aims at 0.6.

Before timing, the script checks that both implementations compute the same thing:
in float64, from the same initial W1, b1, W2, b2 (the engine's, copied into the
plain loop), it runs 50 iterations of each and prints the difference of the losses
and of the weights.

How to run
----------
From the repository root::

    .venv/bin/python benchmarks/spiral_step.py             # the full measurement
    .venv/bin/python benchmarks/spiral_step.py --quick     # a few seconds, for a smoke test
    .venv/bin/python benchmarks/spiral_step.py --repeats 15 --json bench.json

Timings depend on the machine and on how many BLAS threads NumPy uses
(``OPENBLAS_NUM_THREADS``, ``OMP_NUM_THREADS``); compare ratios, not raw numbers,
across machines. They also depend on the memory allocator: the plain loop makes
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
import json
import os
import platform
import statistics
import sys
import time

import numpy as np

import neuralab
from neuralab.data import spiral
from neuralab.train import EngineTrainer, make_engine_trainer

SIZES = [2, 100, 3]
STEP_SIZE = 1.0
REG = 1e-3
SEED = 0
CHECK_ITERATIONS = 50
DTYPES = ("float64", "float32")


def plain_loop(X, y, W, b, W2, b2, num_iters, step_size=STEP_SIZE, reg=REG):
    """The lecture's training loop, as on the slides; updates W, b, W2, b2 in place.

    Returns the loss of the last iteration (computed, as on the slides, from that
    iteration's forward pass, before its update).
    """
    num_examples = X.shape[0]
    loss = None
    for i in range(num_iters):
        # evaluate class scores, [N x K]
        hidden_layer = np.maximum(0, np.dot(X, W) + b)  # note, ReLU activation
        scores = np.dot(hidden_layer, W2) + b2

        # compute the class probabilities
        exp_scores = np.exp(scores)
        probs = exp_scores / np.sum(exp_scores, axis=1, keepdims=True)  # [N x K]

        # compute the loss: average cross-entropy loss and regularization
        correct_logprobs = -np.log(probs[range(num_examples), y])
        data_loss = np.sum(correct_logprobs) / num_examples
        reg_loss = 0.5 * reg * np.sum(W * W) + 0.5 * reg * np.sum(W2 * W2)
        loss = data_loss + reg_loss

        # compute the gradient on scores
        dscores = probs
        dscores[range(num_examples), y] -= 1
        dscores /= num_examples

        # backpropagate the gradient to the parameters
        # first backprop into parameters W2 and b2
        dW2 = np.dot(hidden_layer.T, dscores)
        db2 = np.sum(dscores, axis=0, keepdims=True)
        # next backprop into hidden layer
        dhidden = np.dot(dscores, W2.T)
        # backprop the ReLU non-linearity
        dhidden[hidden_layer <= 0] = 0
        # finally into W, b
        dW = np.dot(X.T, dhidden)
        db = np.sum(dhidden, axis=0, keepdims=True)

        # add regularization gradient contribution
        dW2 += reg * W2
        dW += reg * W

        # perform a parameter update
        W += -step_size * dW
        b += -step_size * db
        W2 += -step_size * dW2
        b2 += -step_size * db2
    return loss


def engine_loop(trainer: EngineTrainer, X, y, num_iters):
    """``num_iters`` engine training steps; returns the last step's loss."""
    loss = None
    for _ in range(num_iters):
        loss, _ = trainer.train_step(X, y)
    return loss


def plain_weights_from(trainer: EngineTrainer, dtype) -> list[np.ndarray]:
    """The engine's W1, b1, W2, b2 as the slides store them (biases of shape (1, h))."""
    state = trainer.state_dict()
    return [
        state["W1"].astype(dtype, copy=True),
        state["b1"].reshape(1, -1).astype(dtype, copy=True),
        state["W2"].astype(dtype, copy=True),
        state["b2"].reshape(1, -1).astype(dtype, copy=True),
    ]


def check_agreement(X, y, iterations: int = CHECK_ITERATIONS) -> dict:
    """Run both implementations ``iterations`` steps from the same float64 weights.

    Returns the loss of the last iteration of each, their absolute difference, and
    the largest absolute difference of the weights after the last update.
    """
    trainer = make_engine_trainer(SIZES, seed=SEED, lr=STEP_SIZE, reg=REG, dtype="float64")
    W, b, W2, b2 = plain_weights_from(trainer, np.float64)
    engine_loss = float(engine_loop(trainer, X, y, iterations))
    plain_loss = float(plain_loop(X, y, W, b, W2, b2, iterations))
    state = trainer.state_dict()
    weight_diff = max(
        float(np.max(np.abs(state["W1"] - W))),
        float(np.max(np.abs(state["b1"] - b.ravel()))),
        float(np.max(np.abs(state["W2"] - W2))),
        float(np.max(np.abs(state["b2"] - b2.ravel()))),
    )
    return {
        "iterations": iterations,
        "engine_loss": engine_loss,
        "plain_loss": plain_loss,
        "loss_abs_diff": abs(engine_loss - plain_loss),
        "weights_max_abs_diff": weight_diff,
    }


def measure(X, y, *, iterations: int, repeats: int, warmup: int) -> dict:
    """Median microseconds per iteration of each implementation, per dtype."""
    runners = {}
    for dtype in DTYPES:
        trainer = make_engine_trainer(SIZES, seed=SEED, lr=STEP_SIZE, reg=REG, dtype=dtype)
        Xd = X.astype(dtype)
        weights = plain_weights_from(trainer, np.dtype(dtype))
        runners[dtype] = {
            "engine": lambda n, t=trainer, Xd=Xd: engine_loop(t, Xd, y, n),
            "plain": lambda n, w=weights, Xd=Xd: plain_loop(Xd, y, *w, n),
        }
    for dtype in DTYPES:  # warm up caches, buffers and the BLAS threads
        for run in runners[dtype].values():
            run(warmup)

    samples = {dtype: {"engine": [], "plain": []} for dtype in DTYPES}
    for r in range(repeats):
        for dtype in DTYPES:
            # alternate which implementation goes first, so drifts hit both alike
            order = ("engine", "plain") if r % 2 == 0 else ("plain", "engine")
            for name in order:
                start = time.perf_counter()
                runners[dtype][name](iterations)
                elapsed = time.perf_counter() - start
                samples[dtype][name].append(elapsed / iterations * 1e6)

    results = {}
    for dtype in DTYPES:
        engine = statistics.median(samples[dtype]["engine"])
        plain = statistics.median(samples[dtype]["plain"])
        results[dtype] = {
            "engine_us": engine,
            "plain_us": plain,
            "ratio": engine / plain,
            "engine_samples_us": samples[dtype]["engine"],
            "plain_samples_us": samples[dtype]["plain"],
        }
    return results


def format_table(results: dict) -> str:
    header = f"{'dtype':<8} {'engine us/it':>13} {'plain loop us/it':>17} {'engine/plain':>13}"
    lines = [header, "-" * len(header)]
    for dtype, r in results.items():
        lines.append(
            f"{dtype:<8} {r['engine_us']:>13.1f} {r['plain_us']:>17.1f} {r['ratio']:>13.3f}"
        )
    return "\n".join(lines)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Microseconds per training iteration of the lecture's 2-layer spiral "
        "net: the neuralab engine against the slides' plain NumPy loop."
    )
    parser.add_argument("--repeats", type=int, default=7,
                        help="timed blocks per implementation and dtype (default 7)")
    parser.add_argument("--iterations", type=int, default=300,
                        help="training iterations per timed block (default 300)")
    parser.add_argument("--warmup", type=int, default=100,
                        help="untimed iterations before timing (default 100)")
    parser.add_argument("--quick", action="store_true",
                        help="a short run (3 repeats of 50 iterations) for smoke tests")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON to PATH")
    args = parser.parse_args(argv)
    if args.quick:
        args.repeats, args.iterations, args.warmup = 3, 50, 10
    for name in ("repeats", "iterations"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be a positive integer, got {getattr(args, name)}")
    if args.warmup < 0:
        parser.error(f"--warmup must be >= 0, got {args.warmup}")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    X, y = spiral(n_per_class=100, n_classes=3, noise=0.2, seed=SEED)

    print(f"spiral {X.shape[0]}x{X.shape[1]} -> {SIZES[1]} -> {SIZES[2]}, full batch, "
          f"lr {STEP_SIZE}, reg {REG}, ReLU, init 0.01*N(0,1)")
    print(f"numpy {np.__version__}, neuralab {neuralab.__version__}, "
          f"python {platform.python_version()}, {os.cpu_count()} CPUs")

    agreement = check_agreement(X, y)
    print(f"loss agreement (float64, same initial weights, {agreement['iterations']} iterations): "
          f"engine {agreement['engine_loss']:.12f}, plain loop {agreement['plain_loss']:.12f}, "
          f"difference {agreement['loss_abs_diff']:.3e}; "
          f"weights max difference {agreement['weights_max_abs_diff']:.3e}")

    print(f"timing: {args.repeats} interleaved blocks of {args.iterations} iterations "
          f"(after {args.warmup} warm-up), median per iteration")
    results = measure(X, y, iterations=args.iterations, repeats=args.repeats, warmup=args.warmup)
    print(format_table(results))
    print("target: engine/plain <= 1.0 required, 0.6 aimed at")

    if args.json:
        payload = {
            "benchmark": "spiral_step",
            "model": SIZES,
            "lr": STEP_SIZE,
            "reg": REG,
            "repeats": args.repeats,
            "iterations_per_block": args.iterations,
            "warmup": args.warmup,
            "numpy": np.__version__,
            "neuralab": neuralab.__version__,
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpu_count": os.cpu_count(),
            "env": {k: v for k, v in os.environ.items()
                    if k.startswith("MALLOC_") or k.endswith("_NUM_THREADS")},
            "agreement": agreement,
            "results": results,
        }
        tmp = f"{args.json}.tmp"
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(payload, fh, indent=2)
            fh.write("\n")
        os.replace(tmp, args.json)
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
