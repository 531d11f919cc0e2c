"""What TensorBoard's event files cost a `neuralab train` run: with them against --no-tensorboard.

What is measured
----------------
Whole ``neuralab train`` runs (parsing, data, training, scoring, every file of the run
directory, the report), each in a fresh process, with ``--tensorboard`` (the default)
and with ``--no-tensorboard``, on two data sets:

- **spiral**: ``neuralab train --dataset spiral``'s defaults, the lecture's 2-100-3 net,
  10,000 full-batch iterations, a history row (one event of scalars) every 10 steps;
- **digits**: scikit-learn's 1,797 8x8 digits, a 64-100-10 net, 20 % held out for the
  test, 30 epochs of minibatches of 32 (45 updates an epoch, 1,350 in all), step 0.1,
  a history row every epoch.

Each process times itself from its first line to the command's end, in wall seconds
(``time.perf_counter``) and CPU seconds of all its threads (``time.process_time``);
the interpreter's own start-up (~20 ms) is left out. On and off alternate, the first
of each pair rotating, ``--repeats`` pairs per data set (default 5). The table gives
the medians and the ratio on / off of each (the target: under 1.02), the ratio of the
fastest run with events to the fastest without (the least disturbed ones), and the seconds
the event code itself took in the runs with events (opening the file and importing
tensorboardX, every history row's callback, the end) and their share of the run's
wall time: the same cost, measured without the noise that other processes add to
whole-run times on a shared machine. ``--quick`` runs 3 pairs of shorter runs.

    .venv/bin/python benchmarks/tensorboard_cost.py
    .venv/bin/python benchmarks/tensorboard_cost.py --quick --json tb.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import loadavg_before_timing, machine  # noqa: E402

#: data set -> (train flags, quick train flags)
CASES = {
    "spiral": (["--iterations", "10000"], ["--iterations", "2000"]),
    "digits": (["--epochs", "30", "--batch-size", "32", "--lr", "0.1", "--test-fraction", "0.2"],
               ["--epochs", "6", "--batch-size", "32", "--lr", "0.1", "--test-fraction", "0.2"]),
}

#: one sample in its own process: ``neuralab train ARGS`` as the command line runs it, timed
#: from the top of this code (the interpreter's start-up, ~20 ms, is left out)
CHILD = """
import time
t0, c0 = time.perf_counter(), time.process_time()
import json, sys
from neuralab.runs import tensorboard as tb

spent = [0.0]
def timed(f):
    def g(*a, **k):
        t = time.perf_counter()
        try:
            return f(*a, **k)
        finally:
            spent[0] += time.perf_counter() - t
    return g
# the event code's own time: opening the file (tensorboardX's import with it), each history
# row's callback (scalars, histograms), the end (image, hparams, close)
for name in ("__init__", "__call__", "finish"):
    setattr(tb.RunEvents, name, timed(getattr(tb.RunEvents, name)))
from neuralab.cli import main
code = main(sys.argv[1:])
print(json.dumps({"code": code, "wall": time.perf_counter() - t0,
                  "cpu": time.process_time() - c0, "events": spent[0]}))
"""


def sample(name: str, flags: list[str], tensorboard: bool) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        args = ["train", "--dataset", name, *flags, "--out", str(Path(tmp) / "run"), "--quiet",
                "--tensorboard" if tensorboard else "--no-tensorboard"]
        proc = subprocess.run([sys.executable, "-c", CHILD, *args], capture_output=True,
                              text=True, check=True, env={**os.environ, "MPLBACKEND": "Agg"})
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    if result["code"] not in (0, None):
        raise SystemExit(f"neuralab {' '.join(args)} exited {result['code']}: {proc.stderr}")
    return result


def measure(name: str, flags: list[str], repeats: int) -> dict:
    samples = {True: [], False: []}
    for i in range(repeats):
        for tensorboard in ((True, False) if i % 2 == 0 else (False, True)):
            samples[tensorboard].append(sample(name, flags, tensorboard))

    def median(on: bool, key: str) -> float:
        return statistics.median(s[key] for s in samples[on])

    on_wall, off_wall = median(True, "wall"), median(False, "wall")
    on_cpu, off_cpu = median(True, "cpu"), median(False, "cpu")
    share = statistics.median(s["events"] / s["wall"] for s in samples[True])
    # the fastest of each: on a shared machine the least disturbed runs
    best = min(s["wall"] for s in samples[True]) / min(s["wall"] for s in samples[False])
    return {"flags": flags, "on_wall": on_wall, "off_wall": off_wall,
            "wall_ratio": on_wall / off_wall, "on_cpu": on_cpu, "off_cpu": off_cpu,
            "cpu_ratio": on_cpu / off_cpu, "min_wall_ratio": best, "events_seconds": median(True, "events"),
            "events_share": share,
            "samples": {"on": samples[True], "off": samples[False]}}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="pairs of runs per data set")
    parser.add_argument("--quick", action="store_true", help="3 pairs of shorter runs")
    parser.add_argument("--only", default=",".join(CASES), help="data sets, comma-separated")
    parser.add_argument("--json", type=Path, help="write every number here")
    args = parser.parse_args(argv)
    repeats = 3 if args.quick else args.repeats
    load = loadavg_before_timing()
    results = {}
    print(f"medians of {repeats} runs each; seconds of a whole `neuralab train` process")
    print(f"{'data':8} {'wall on':>8} {'wall off':>9} {'ratio':>6} {'cpu on':>8} {'cpu off':>8} "
          f"{'ratio':>6} {'min ratio':>9} {'events s':>9} {'share':>7}")
    for name in args.only.split(","):
        full, quick = CASES[name]
        r = results[name] = measure(name, quick if args.quick else full, repeats)
        print(f"{name:8} {r['on_wall']:8.3f} {r['off_wall']:9.3f} {r['wall_ratio']:6.3f} "
              f"{r['on_cpu']:8.3f} {r['off_cpu']:8.3f} {r['cpu_ratio']:6.3f} "
              f"{r['min_wall_ratio']:9.3f} "
              f"{r['events_seconds']:9.3f} {100 * r['events_share']:6.2f}%")
    print("target: ratio on / off < 1.02 (events under 2 % of a run's time)")
    if args.json:
        args.json.write_text(json.dumps({"machine": machine(), "load_before": load,
                                         "repeats": repeats, "results": results}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
