"""Past one process: sweep throughput by worker count and storage, the pruner's saving, and
data-parallel training on 1 against 2 CPU processes; with what the numbers predict for 8 machines.

What is measured
----------------
1. **Sweep throughput**, in trials per minute of the whole ``run_sweep`` call (the
   study made, worker processes spawned, every trial run and stored, the files
   written; no retraining): a random-sampler study of ``--trials`` trials (a
   200-unit-wide net on 1,000 moons points, lr drawn log-uniformly), with 1 and 2
   workers, on the embedded journal file and on PostgreSQL (a private server
   started for the benchmark from Debian's ``postgresql`` package; skipped with a
   note where there is none). The ratio 2 workers / 1 worker is the speed-up.
2. **The pruner's saving**: the same TPE study of ``--trials`` trials with
   ``pruner=median`` and with ``pruner=none`` (one worker, lr from 1e-4 to 3, so
   that many trials are hopeless): trials per minute of each, and the best score
   each found (the saving counts only at an equal best score).
3. **Data-parallel training**: the whole command ``neuralab train --dataset
   fashion_mnist --hidden 1024 --hidden 1024 --epochs 1 --batch-size 256 --backend
   torch --dtype float32 --nproc N`` for N = 1 and 2 (one torch thread per process),
   wall time of the command and the training loop's own seconds from
   config.json; a wide net, so that the gradients' all-reduce is small next to the
   matmuls.

Medians of ``--repeats`` runs, the configurations interleaved. Last, a scaling model
for 8 machines: sweep trials are independent, so throughput grows with the workers
until the storage's per-trial cost (measured here as the wall time per trial not
spent training) is the bottleneck; for data-parallel training, an epoch on N
machines takes ``compute / N + steps * (2 (N-1)/N * gradient bytes / bandwidth +
2 (N-1) * latency)`` (a ring all-reduce), shown for 1 and 10 Gbit/s links.

How to run
----------
From the repository root::

    .venv/bin/python benchmarks/scale.py               # about 5 minutes on 2 cores
    .venv/bin/python benchmarks/scale.py --quick       # a smoke run: tiny studies, 12,000 images
    .venv/bin/python benchmarks/scale.py --json scale.json

Two cores allow two workers or two ranks at most: the 2-process numbers show the
overheads (process start, storage, all-reduce) rather than a cluster's gains.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "tests" / "sweep"))

from _common import loadavg_before_timing, machine  # noqa: E402


def _sweep(storage_kind: str, workers: int, trials: int, url: str | None, *, pruner="none",
           sampler="random", n_points=500, iterations=600, study="bench") -> dict:
    from neuralab.config import TrainSettings
    from neuralab.data import load
    from neuralab.sweep import run_sweep

    data = load("moons", seed=0, n_per_class=n_points)
    base = TrainSettings(hidden=[200], iterations=iterations, seed=0)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        result = run_sweep(data, base, {"lr": ("loguniform", 1e-4, 3.0)}, sampler=sampler,
                           n_trials=trials, pruner=pruner, workers=workers,
                           out=Path(tmp) / "sweep", retrain=False,
                           storage=url if storage_kind == "postgresql" else None, study=study)
        wall = time.perf_counter() - start
    training = sum(t.seconds for t in result.trials)
    best = result.best.score if result.best is not None else float("nan")
    return {"seconds": wall, "trials_per_minute": 60 * len(result.trials) / wall,
            "overhead_per_trial": (wall * workers - training) / max(1, len(result.trials)),
            "n_done": len(result.trials), "n_pruned": result.n_pruned, "best_score": best}


def _ddp(nproc: int, limit: int | None) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "run"
        cmd = [sys.executable, "-m", "neuralab", "train", "--dataset", "fashion_mnist",
               "--hidden", "1024", "--hidden", "1024", "--epochs", "1", "--batch-size", "256",
               "--backend", "torch", "--device", "cpu", "--dtype", "float32", "--lr", "0.05",
               "--quiet", "--out", str(out), "--nproc", str(nproc)]
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        if limit:
            cmd[cmd.index("fashion_mnist")] = "digits"  # the smoke run: a small set
        start = time.perf_counter()
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - start
        if proc.returncode != 0:
            raise SystemExit(f"neuralab train --nproc {nproc} failed: {proc.stderr.strip()}")
        config = json.loads((out / "config.json").read_text())
    return {"seconds": wall, "fit_seconds": config.get("train_seconds"),
            "steps": config.get("steps")}


def _median(samples: list[dict], key: str) -> float:
    return statistics.median(s[key] for s in samples)


def _postgres():
    try:
        from postgres import postgres_server
    except ImportError:
        return None
    return postgres_server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run: tiny studies")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--trials", type=int, default=12)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--parts", default="sweep,pruner,ddp",
                        help="which parts to run, comma-separated (sweep, pruner, ddp)")
    args = parser.parse_args()
    parts = set(args.parts.split(","))
    repeats, trials = (1, 4) if args.quick else (args.repeats, args.trials)
    sweep_kw = dict(n_points=60, iterations=100) if args.quick else {}
    loadavg_before_timing()
    report: dict = {"machine": machine(), "repeats": repeats, "trials": trials}

    if "sweep" in parts:
        _throughput(report, repeats, trials, sweep_kw)
    if "pruner" in parts:
        _pruning(report, repeats, trials, sweep_kw)
    if "ddp" in parts:
        _data_parallel(report, repeats, args.quick)
    if {"sweep", "ddp"} <= parts:
        report["model"] = _model(report)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))


def _throughput(report: dict, repeats: int, trials: int, sweep_kw: dict) -> None:
    """Part 1: trials per minute by storage and worker count."""
    configs = [("journal", 1), ("journal", 2), ("postgresql", 1), ("postgresql", 2)]
    samples: dict = {c: [] for c in configs}
    starter = _postgres()
    server = None
    if starter is not None:
        try:
            server = starter()
            url = server.__enter__()
        except BaseException as exc:  # pytest.skip inside the starter: no server here
            print(f"note: PostgreSQL not available ({exc}); its rows are skipped")
            server, url = None, None
    else:
        url = None
    try:
        for r in range(repeats):
            for kind, workers in configs:
                if kind == "postgresql" and url is None:
                    continue
                samples[kind, workers].append(
                    _sweep(kind, workers, trials, url, study=f"t{r}-{kind}-{workers}", **sweep_kw))
    finally:
        if server is not None:
            server.__exit__(None, None, None)
    print(f"\nsweep throughput: {trials} trials, medians of {repeats}")
    print(f"{'storage':<12}{'workers':>8}{'trials/min':>12}{'seconds':>10}{'overhead/trial s':>18}")
    rows = {}
    for (kind, workers), got in samples.items():
        if not got:
            continue
        rows[f"{kind}-{workers}"] = row = {
            "trials_per_minute": _median(got, "trials_per_minute"),
            "seconds": _median(got, "seconds"),
            "overhead_per_trial": _median(got, "overhead_per_trial"), "samples": got}
        print(f"{kind:<12}{workers:>8}{row['trials_per_minute']:>12.1f}{row['seconds']:>10.2f}"
              f"{row['overhead_per_trial']:>18.3f}")
    for kind in ("journal", "postgresql"):
        if f"{kind}-1" in rows and f"{kind}-2" in rows:
            ratio = rows[f"{kind}-2"]["trials_per_minute"] / rows[f"{kind}-1"]["trials_per_minute"]
            print(f"{kind}: 2 workers / 1 worker = {ratio:.2f}x trials per minute")
    report["sweep"] = rows


def _pruning(report: dict, repeats: int, trials: int, sweep_kw: dict) -> None:
    """Part 2: the median pruner against none, at the best score each finds."""
    pruned = {p: [_sweep("journal", 1, trials * 2, None, pruner=p, sampler="tpe", **sweep_kw)
                  for _ in range(repeats)] for p in ("median", "none")}
    print(f"\npruning: TPE, {trials * 2} trials, one worker, medians of {repeats}")
    print(f"{'pruner':<8}{'trials/min':>12}{'pruned':>8}{'best score':>12}")
    report["pruner"] = {}
    for p, got in pruned.items():
        row = {"trials_per_minute": _median(got, "trials_per_minute"),
               "n_pruned": _median(got, "n_pruned"), "best_score": _median(got, "best_score"),
               "samples": got}
        report["pruner"][p] = row
        print(f"{p:<8}{row['trials_per_minute']:>12.1f}{row['n_pruned']:>8.0f}"
              f"{row['best_score']:>12.4f}")
    saving = (report["pruner"]["median"]["trials_per_minute"]
              / report["pruner"]["none"]["trials_per_minute"])
    print(f"median pruner / none = {saving:.2f}x trials per minute")


def _data_parallel(report: dict, repeats: int, quick: bool) -> None:
    """Part 3: one epoch of a wide net on 1 and 2 CPU processes."""
    ddp = {n: [] for n in (1, 2)}
    for _ in range(repeats):
        for n in ddp:
            ddp[n].append(_ddp(n, 12_000 if quick else None))
    print(f"\ndata-parallel: {'digits (smoke run)' if quick else 'Fashion-MNIST'}, "
          f"784-1024-1024-10, one epoch, batch 256, medians of {repeats}")
    print(f"{'processes':>10}{'command s':>11}{'training s':>12}")
    report["ddp"] = {}
    for n, got in ddp.items():
        row = {"seconds": _median(got, "seconds"), "fit_seconds": _median(got, "fit_seconds"),
               "steps": got[0]["steps"], "samples": got}
        report["ddp"][n] = row
        print(f"{n:>10}{row['seconds']:>11.2f}{row['fit_seconds']:>12.2f}")
    print(f"2 processes / 1: command {report['ddp'][2]['seconds'] / report['ddp'][1]['seconds']:.2f}x, "
          f"training {report['ddp'][2]['fit_seconds'] / report['ddp'][1]['fit_seconds']:.2f}x "
          "the time")


def _model(report: dict) -> dict:
    """What the measurements predict for 8 machines."""
    print("\nscaling model, 8 machines")
    out = {}
    one = report["sweep"].get("postgresql-1") or report["sweep"]["journal-1"]
    per_trial = 60 / one["trials_per_minute"]
    overhead = max(one["overhead_per_trial"], 1e-3)
    # N workers share one storage: throughput N / per_trial until the storage's share saturates
    limit = 60 / overhead
    sweep8 = min(8 * one["trials_per_minute"], limit)
    out["sweep_trials_per_minute_8"] = sweep8
    print(f"sweep: {per_trial:.2f} s per trial, {overhead:.3f} s of it outside training (the "
          "storage, the workers' start); "
          f"8 workers -> {sweep8:.0f} trials/min ({sweep8 / one['trials_per_minute']:.1f}x), "
          f"the storage bounds it at {limit:.0f} trials/min")
    params = 784 * 1024 + 1024 + 1024 * 1024 + 1024 + 1024 * 10 + 10
    grad_bytes = 4 * params
    compute = report["ddp"][1]["fit_seconds"]
    steps = report["ddp"][1]["steps"]
    for gbit, latency in ((1, 100e-6), (10, 30e-6)):
        bw = gbit * 1e9 / 8
        n = 8
        comm = steps * (2 * (n - 1) / n * grad_bytes / bw + 2 * (n - 1) * latency)
        t8 = compute / n + comm
        out[f"ddp_epoch_8_{gbit}gbit"] = t8
        print(f"data-parallel at {gbit} Gbit/s: {compute:.1f} s / 8 + {comm:.1f} s of all-reduce "
              f"= {t8:.1f} s per epoch ({compute / t8:.1f}x one process)")
    return out


if __name__ == "__main__":
    main()
