"""BLAS (or torch) threads per problem size: one thread, all cores, and fit's own choice.

What is measured
----------------
The wall time of one :func:`neuralab.train.fit` call (``progress=False``), after
the trainer is built, for four problems:

- **spiral**: the lecture's 2-100-3 ReLU net on its 300-point spiral, full batch,
  float64, step 1.0, reg 1e-3, logging every 10 steps (``neuralab demo``'s net):
  1000 steps (``--quick``: 60).
- **breast_cancer**: 30-100-2 on all 569 standardised rows, full batch, float64,
  step 1.0, reg 1e-3, logging every 10 steps (``neuralab train --dataset
  breast_cancer``'s defaults): 200 steps (``--quick``: 20).
- **fashion**: Fashion-MNIST's 784-100-10, float32, minibatches of 128, step 0.1,
  reg 1e-4: one epoch of all 60,000 images with its closing evaluation, as
  ``neuralab train --epochs 1`` runs it (``--quick``: 10 batches of the first 6,000).
- **fashion_pass**: the same net's pass over all 60,000 images (``trainer.evaluate``, the
  pass fit closes with; ``--quick``: the first 6,000), its blocks of rows taken by as
  many threads as the automatic choice gives, each with one BLAS thread
  (:func:`neuralab.threads.side_by_side`); forced, the blocks go in turn with the BLAS at
  that count. One pass is one step.
- **wide**: 784-1600-10 on the first 6,000 images, batches of 128, 30 steps
  (``--quick``: 2): a problem above :data:`neuralab.threads.PARALLEL_WORK`, where
  fit gives the products every core (the choice never reads the machine's load: the
  thread count changes the last bits of some products, and a seed must give the same
  numbers on a busy machine as on an idle one).

Each runs with the threads forced to 1, forced to all cores (``OPENBLAS_NUM_THREADS``
set, as a user would, so that fit leaves the count alone; threadpoolctl and
``torch.set_num_threads`` apply it in this process), and automatic (no variable:
fit picks), each on its own (``alone``) and next to a child process that spins a
core (``busy``: ``python -c "while True: pass"``). The rounds interleave: each
round times every (load, threads) pair of a case once, the order of the thread
counts rotated from round to round, with a pause of :data:`SETTLE` after each run
(OpenBLAS's idle threads spin a while after their last product). The table holds
the medians, the thread counts fit picked for the automatic runs (``1/2`` when they
varied) and ``auto/best``, the automatic choice's median over the better fixed
one's; the target is ``auto/best <= 1.10`` in every row.

``alone`` means no child of this benchmark: other processes on the machine still
count, and the load average before timing is printed.

Usage: ``python benchmarks/threads.py [--quick] [--repeats N] [--cases spiral,fashion]
[--backend numpy|torch] [--json FILE]``
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from _common import loadavg_before_timing, machine

from neuralab.data import load
from neuralab.data.toys import spiral
from neuralab.threads import THREAD_ENV, available_cores, limit_threads, pick_threads
from neuralab.train import fit, make_engine_trainer

TARGET = 1.10
SETTLE = 0.25  # seconds between runs
SUBSET = 6000  # rows of Fashion-MNIST for the wide case and --quick (fit's closing evaluation)
CASES = ("spiral", "breast_cancer", "fashion", "fashion_pass", "wide")


def problems(quick: bool) -> dict[str, dict]:
    """Each case's data and settings: X, y, sizes, dtype, lr, reg, batch size and fit's loop."""
    Xs, ys = spiral(100, 3, seed=0)
    cancer = load("breast_cancer")
    Xc = (cancer.X - cancer.X.mean(axis=0)) / cancer.X.std(axis=0)
    fashion = load("fashion_mnist")
    Xf = np.ascontiguousarray(fashion.X, dtype=np.float32)
    if Xf.max() > 1:
        Xf /= 255
    some = slice(0, SUBSET)
    minibatch = dict(dtype="float32", lr=0.1, reg=1e-4, batch=128)
    return {
        "spiral": dict(X=Xs, y=ys, sizes=[2, 100, 3], dtype="float64", lr=1.0, reg=1e-3,
                       batch=None, loop=dict(iterations=60 if quick else 1000, log_every=10)),
        "breast_cancer": dict(X=Xc, y=cancer.y, sizes=[30, 100, 2], dtype="float64", lr=1.0,
                              reg=1e-3, batch=None,
                              loop=dict(iterations=20 if quick else 200, log_every=10)),
        # the command line's epoch (its closing evaluation included); --quick: 20 batches
        "fashion": dict(X=Xf[some] if quick else Xf, y=fashion.y[some] if quick else fashion.y,
                        sizes=[784, 100, 10], **minibatch,
                        loop=dict(iterations=10, log_every=10**9) if quick
                        else dict(epochs=1, log_every=10)),
        "fashion_pass": dict(X=Xf[some] if quick else Xf, y=fashion.y[some] if quick else fashion.y,
                             sizes=[784, 100, 10], **{**minibatch, "batch": None}, loop=None),
        "wide": dict(X=Xf[some], y=fashion.y[some], sizes=[784, 1600, 10], **minibatch,
                     loop=dict(iterations=2 if quick else 30, log_every=10**9)),
    }


def make_trainer(case: dict, backend: str):
    kw = dict(dtype=case["dtype"], lr=case["lr"], reg=case["reg"], seed=0)
    if backend == "torch":
        from neuralab.torch_backend.trainer import make_torch_trainer

        return make_torch_trainer(case["sizes"], device="cpu", **kw)
    return make_engine_trainer(case["sizes"], **kw)


@contextlib.contextmanager
def forced_threads(n: int | None):
    """n threads as a user's variable would set them (fit leaves them); None: fit decides."""
    if n is None:
        yield
        return
    saved = {k: os.environ.get(k) for k in THREAD_ENV}
    os.environ["OPENBLAS_NUM_THREADS"] = str(n)
    torch = sys.modules.get("torch")
    before = torch.get_num_threads() if torch is not None else None
    try:
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=n, user_api="blas"):
            if torch is not None:
                torch.set_num_threads(n)
            yield
    finally:
        if torch is not None:
            torch.set_num_threads(before)
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@contextlib.contextmanager
def busy_child(on: bool):
    """A child process spinning one core while the block runs (nothing when ``on`` is false)."""
    if not on:
        yield
        return
    child = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.2)  # let it start spinning
        yield
    finally:
        child.kill()
        child.wait()


def time_fit(case: dict, backend: str, threads: int | None) -> tuple[float, int]:
    """(seconds of one fit call, the threads it ran with: for auto, fit's pick read just before)."""
    trainer = make_trainer(case, backend)
    rows = case["batch"] or len(case["y"])
    picked = pick_threads(case["sizes"], rows, case["dtype"]) if threads is None else threads
    with forced_threads(threads):
        start = time.perf_counter()
        if case["loop"] is None:  # a pass over the data, not training
            trainer.evaluate(case["X"], case["y"])
        else:
            fit(trainer, case["X"], case["y"], batch_size=case["batch"], seed=0, progress=False,
                stop_on_signal=False, **case["loop"])
        seconds = time.perf_counter() - start
    # OpenBLAS's idle threads spin for about 2**28 cycles after their last product before
    # they sleep: let them, so that no run pays for the spinning of the one before
    time.sleep(SETTLE)
    return seconds, picked


def measure(names, cases: dict, backend: str, repeats: int, cores: int) -> list[dict]:
    fixed = (1, cores) if cores > 1 else (1,)
    modes = (*fixed, None)
    rows = []
    for name in names:
        case = cases[name]
        times = {(busy, m): [] for busy in (False, True) for m in modes}
        chosen = {False: [], True: []}
        time_fit(case, backend, 1)  # warm-up: first-call costs out of the timings
        for r in range(repeats):
            for busy in (False, True):
                with busy_child(busy):
                    order = modes[r % len(modes):] + modes[:r % len(modes)]  # rotate
                    for m in order:
                        seconds, picked = time_fit(case, backend, m)
                        times[busy, m].append(seconds)
                        if m is None:
                            chosen[busy].append(picked)
        for busy in (False, True):
            med = {m: statistics.median(times[busy, m]) for m in modes}
            best = min(med[m] for m in fixed)
            rows.append({"case": name, "load": "busy" if busy else "alone",
                         "steps": steps(case), "rows": case["batch"] or len(case["y"]),
                         "auto_picks": chosen[busy],
                         "seconds": {str(m or "auto"): med[m] for m in modes},
                         "samples": {str(m or "auto"): times[busy, m] for m in modes},
                         "auto_over_best": med[None] / best})
    return rows


def steps(case: dict) -> int:
    loop = case["loop"]
    if loop is None:  # one pass
        return 1
    return loop.get("iterations") or loop["epochs"] * -(-len(case["y"]) // case["batch"])


def picks(counts: list[int]) -> str:
    """The thread counts auto ran with over the rounds: ``1``, or ``1/2`` when they varied."""
    return "/".join(str(n) for n in sorted(set(counts)))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer steps and 3 rounds (20-60 s)")
    ap.add_argument("--repeats", type=int, default=None, help="interleaved rounds (default 5)")
    ap.add_argument("--cases", default=",".join(CASES), help=f"comma-separated, of {CASES}")
    ap.add_argument("--backend", choices=("numpy", "torch"), default="numpy")
    ap.add_argument("--json", type=Path, default=None, help="also write the rows here")
    args = ap.parse_args(argv)
    names = [c for c in args.cases.split(",") if c]
    unknown = sorted(set(names) - set(CASES))
    if unknown:
        ap.error(f"--cases must name cases of {', '.join(CASES)}; got {', '.join(unknown)}")
    if args.repeats is not None and args.repeats < 1:
        ap.error(f"--repeats must be at least 1; got {args.repeats}")
    repeats = args.repeats or (3 if args.quick else 5)
    info = machine()
    if any(k in os.environ for k in THREAD_ENV):
        print("note: a thread variable is set in the environment, so the automatic choice "
              "changes nothing here")
    cores = available_cores()
    with limit_threads(cores):  # only to load threadpoolctl before the timings
        pass
    if args.backend == "torch":
        import torch

        print(f"torch {torch.__version__}, torch.get_num_threads() = {torch.get_num_threads()}")
    cases = problems(args.quick)
    load_before = loadavg_before_timing()
    print(f"backend {args.backend}, {cores} cores, medians of {repeats} interleaved rounds, "
          f"load average before timing {load_before[0]:.2f}")
    rows = measure(names, cases, args.backend, repeats, cores)
    header = (f"{'case':<14}{'load':<7}{'steps':>6}{'rows':>6}{'1 thread s':>12}"
              f"{f'{cores} threads s':>13}{'auto s':>10}{'picks':>6}{'auto/best':>11}")
    print(header)
    for row in rows:
        s = row["seconds"]
        many = s.get(str(cores), float("nan"))
        print(f"{row['case']:<14}{row['load']:<7}{row['steps']:>6}{row['rows']:>6}"
              f"{s['1']:>12.3f}{many:>13.3f}{s['auto']:>10.3f}{picks(row['auto_picks']):>6}"
              f"{row['auto_over_best']:>11.2f}")
    worst = max(row["auto_over_best"] for row in rows)
    verdict = "met" if worst <= TARGET else "NOT met"
    print(f"worst auto/best {worst:.2f}; target auto/best <= {TARGET:.2f}: {verdict}")
    if args.json:
        args.json.write_text(json.dumps({"machine": info, "backend": args.backend,
                                         "repeats": repeats, "rows": rows}, indent=1),
                             encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
