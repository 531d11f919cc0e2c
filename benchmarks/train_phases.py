"""Where a ``neuralab train`` command spends the time outside ``fit``: its phases, and the
work after training one job at a time.

end_to_end.py times the whole command against plain scripts and judges the time outside
``fit`` as one number. This script takes that number apart, so that it can be checked
where it goes and how low it could go:

- **phases**: each sample is the whole command in a fresh process, with a few of
  neuralab's functions wrapped to note the time (``time.time()``) as they start and
  end: reading the data (``beside_writing_imports``: the data set read while
  matplotlib and the rest of what the writing needs load), preparing
  (``lab._prepared``), ``fit`` (its loop's own timer, ``train_seconds`` in
  ``config.json``, and its closing evaluation of the training set), scoring the
  splits (up to the metrics, the run's writer forked there), the metrics
  (``lab._scored``), the files and figures (``write_run``, which waits for the forked
  writer), the report (``build_report``), the rest of the command, and the exit.
  The start-up phase runs from the moment this script starts the process. Each phase
  is the median over ``--repeats`` runs (so the phases need not add up to the median
  wall time exactly).
- **the work after training, one job at a time**: the same command with
  ``NEURALAB_SERIAL_WRITE=1`` (no forked writer), each job timed as it runs: the
  metrics, each figure, predictions.csv, the other files and the report. Their sum
  divided by the CPU count is the least time that work can take after ``fit`` by
  running its jobs side by side, short of making the jobs themselves cheaper.

The wrapping adds a few microseconds to each wrapped call and moves neuralab's imports
before the command's own start (both within the start-up phase). Nothing here asserts
a speed; for end_to_end.py's command (the default) the line on the time outside ``fit``
repeats its target: at most a quarter of the time inside it.

    .venv/bin/python benchmarks/train_phases.py                 # Fashion-MNIST, about 1 minute
    .venv/bin/python benchmarks/train_phases.py --quick         # digits, 2 epochs: a smoke test
    .venv/bin/python benchmarks/train_phases.py -- --dataset breast_cancer --epochs 50
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

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
#: the command end_to_end.py times (its fashion case), less ``--out``
FASHION = ["--dataset", "fashion_mnist", "--hidden", "100", "--epochs", "15", "--batch-size",
           "128", "--optimizer", "sgd", "--lr", "0.1", "--dtype", "float32", "--seed", "0",
           "--quiet"]
QUICK = ["--dataset", "digits", "--test-fraction", "0.25", "--hidden", "32", "--epochs", "2",
         "--batch-size", "64", "--seed", "0", "--quiet"]
#: end_to_end.py's target for the time outside fit, over the time inside it
TARGET = 0.25
#: the phases in their order: (key, label); each runs from the mark named by the previous
#: one's key to its own (see ``phases``)
PHASES = (("startup", "start-up and imports"),
          ("data", "reading the data, the writing's imports beside"),
          ("prepare", "preparing (splits, scaling, checks, trainer)"),
          ("fit_loop", "fit: its loop (train_seconds)"),
          ("fit_close", "fit: closing evaluation of the training set"),
          ("scoring", "scoring the splits, forking the writer"),
          ("metrics", "metrics"),
          ("files", "files and figures (waits for the writer)"),
          ("report", "report"),
          ("finish", "the rest of the command"),
          ("exit", "exit"))
#: the jobs of a serial run, in the order they are shown (figures by file name between)
JOB_ORDER = ("metrics", "predictions.csv", "other files", "report")

# ------------------------------------------------------------------ the measured process


def _child(out: str, argv: list[str]) -> None:
    """Run ``neuralab train *argv`` in this process as the console script would, noting
    the time at the wrapped calls; the notes go to ``out`` (JSON) as the command ends."""
    import neuralab.cli as cli

    for name, value in {**cli.SMALL_PAGES, **cli.LEAN_MATPLOTLIB}.items():
        os.environ.setdefault(name, value)  # before NumPy's import, as the command does
    import neuralab.cli.runs
    import neuralab.data
    import neuralab.lab
    import neuralab.report
    import neuralab.runs.writer as writer

    marks: dict[str, float] = {}
    jobs: dict[str, float] = {}
    fit_seconds: list[float] = []

    def noted(name, f, *, seconds_of=None):
        def wrapper(*args, **kwargs):
            if name + ">" not in marks:  # the first call's start, the last call's end
                marks[name + ">"] = time.time()
            try:
                result = f(*args, **kwargs)
            finally:
                marks[name + "<"] = time.time()
            if seconds_of is not None:
                seconds_of(result)
            return result
        return wrapper

    def timed_job(name, f):
        def wrapper(*args, **kwargs):
            start = time.perf_counter()
            try:
                return f(*args, **kwargs)
            finally:
                jobs[name] = jobs.get(name, 0.0) + time.perf_counter() - start
        return wrapper

    def replace(old, new) -> None:  # wherever a neuralab module holds ``old``
        for module in list(sys.modules.values()):
            if getattr(module, "__name__", "").startswith("neuralab"):
                for key, value in list(vars(module).items()):
                    if value is old:
                        setattr(module, key, new)

    lab = neuralab.lab
    figure_job = writer._figure_job

    def timed_figure_job(figures, make, name, *args, **kwargs):
        return timed_job(f"figures/{name}", figure_job(figures, make, name, *args, **kwargs))

    writer._figure_job = timed_figure_job
    for old, new in (
            (neuralab.cli.runs.beside_writing_imports,
             noted("data", neuralab.cli.runs.beside_writing_imports)),
            (lab._prepared, noted("prepare", lab._prepared)),
            (lab.fit, noted("fit", lab.fit, seconds_of=lambda r: fit_seconds.append(r.seconds))),
            (lab._scored, timed_job("metrics", noted("metrics", lab._scored))),
            (writer.write_run, timed_job("files", noted("files", writer.write_run))),
            (writer.write_known_predictions,
             timed_job("predictions.csv", writer.write_known_predictions)),
            (neuralab.report.build_report,
             timed_job("report", noted("report", neuralab.report.build_report)))):
        replace(old, new)

    main = cli.main

    def timed_main() -> int:
        marks["command>"] = time.time()
        try:
            return main()
        finally:
            marks["command<"] = time.time()
            payload = {"marks": marks, "jobs": jobs, "fit_seconds": fit_seconds}
            Path(out).write_text(json.dumps(payload), encoding="utf-8")

    cli.main = timed_main
    sys.argv = ["neuralab", "train", *argv]
    cli.run()  # exits as the console script does


# ------------------------------------------------------------------ the measuring process


def run_once(argv: list[str], *, serial: bool) -> dict:
    """One whole command in a fresh process: its marks, jobs and wall seconds (a command
    that fails ends this script, with its error)."""
    # here, not at the top: the measured process runs this script too, and _common imports
    # NumPy before the command could choose its pages
    from _common import child_env

    with tempfile.TemporaryDirectory(prefix="neuralab-phases-") as tmp:
        notes = Path(tmp) / "notes.json"
        env = child_env()
        if serial:
            env["NEURALAB_SERIAL_WRITE"] = "1"
        command = [sys.executable, str(Path(__file__).resolve()), "--child", str(notes), "--",
                   *argv, "--out", str(Path(tmp) / "run")]
        start = time.time()
        proc = subprocess.run(command, cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, check=False)
        end = time.time()
        if proc.returncode != 0 or not notes.exists():
            raise SystemExit(f"neuralab train {' '.join(argv)} failed (exit status "
                             f"{proc.returncode}):\n{proc.stderr[-2000:]}")
        payload = json.loads(notes.read_text(encoding="utf-8"))
        if not payload["fit_seconds"]:
            raise SystemExit("the command did not train: no fit() call was seen")
    return {**payload, "start": start, "end": end, "wall": end - start}


def phases(sample: dict) -> dict[str, float]:
    """The seconds of each of :data:`PHASES` in one sample."""
    m, start, end = sample["marks"], sample["start"], sample["end"]
    loop = sample["fit_seconds"][-1]
    data_start = m.get("data>", m["prepare>"])  # a command that reads no data set beside
    data_end = m.get("data<", m["prepare>"])
    return {
        "startup": data_start - start,
        "data": data_end - data_start,
        "prepare": m["fit>"] - data_end,
        "fit_loop": loop,
        "fit_close": m["fit<"] - m["fit>"] - loop,
        "scoring": m["metrics>"] - m["fit<"],
        "metrics": m["metrics<"] - m["metrics>"],
        "files": m["files<"] - m["metrics<"],
        "report": m["report<"] - m["files<"],
        "finish": m["command<"] - m["report<"],
        "exit": end - m["command<"],
    }


def job_seconds(sample: dict) -> dict[str, float]:
    """A serial sample's jobs: the figures by name, and the other files as what write_run
    took beyond its figures and predictions.csv."""
    jobs = dict(sample["jobs"])
    figures = sum(v for k, v in jobs.items() if k.startswith("figures/"))
    jobs["other files"] = jobs.pop("files") - figures - jobs.get("predictions.csv", 0.0)
    return jobs


def medians(rows: list[dict[str, float]]) -> dict[str, float]:
    keys = [k for k in rows[0] if all(k in r for r in rows)]
    return {k: statistics.median(r[k] for r in rows) for k in keys}


def ordered_jobs(jobs: dict[str, float]) -> list[str]:
    figures = sorted(k for k in jobs if k.startswith("figures/"))
    return ([k for k in JOB_ORDER[:1] if k in jobs] + figures
            + [k for k in JOB_ORDER[1:] if k in jobs])


def report(argv: list[str], samples: list[dict], serial: list[dict], cores: int) -> dict:
    """Print the tables; returns what ``--json`` records."""
    per = medians([phases(s) for s in samples])
    wall = statistics.median(s["wall"] for s in samples)
    loop = per["fit_loop"]
    outside = statistics.median(s["wall"] - s["fit_seconds"][-1] for s in samples)
    after = statistics.median(s["end"] - s["marks"]["fit<"] for s in samples)
    print(f"neuralab train {' '.join(argv)} --out DIR")
    print(f"phases: medians of {len(samples)} runs, whole processes; wall {wall:.3f} s")
    print(f"  {'phase':<48} {'seconds':>8} {'of wall':>8}")
    for key, label in PHASES:
        print(f"  {label:<48} {per[key]:>8.3f} {100 * per[key] / wall:>7.1f}%")
    ratio = outside / loop
    verdict = ""
    if argv == FASHION:  # end_to_end.py's command, which its target is for
        verdict = (f" (target <= {TARGET}: {'met' if ratio <= TARGET else 'MISSED'}; it would "
                   f"allow {TARGET * loop:.3f} s)")
    print(f"outside fit's loop: {outside:.3f} s, {ratio:.3f} of the loop's {loop:.3f} s"
          f"{verdict}; from fit's end to the command's: {after:.3f} s")
    out = {"argv": argv, "wall": wall, "phases": per, "outside_fit": outside,
           "outside_over_fit": ratio, "after_fit": after, "cpu_count": cores,
           "samples": samples}
    if serial:
        jobs = medians([job_seconds(s) for s in serial])
        total = sum(jobs.values())
        print(f"the work after training, one job at a time (NEURALAB_SERIAL_WRITE=1): "
              f"medians of {len(serial)} runs")
        print(f"  {'job':<48} {'seconds':>8}")
        for key in ordered_jobs(jobs):
            print(f"  {key:<48} {jobs[key]:>8.3f}")
        print(f"  {'total':<48} {total:>8.3f}")
        print(f"side by side on {cores} cores that work takes at least {total / cores:.3f} s "
              f"after fit; measured above: {per['metrics'] + per['files'] + per['report']:.3f} s "
              f"(metrics, files and figures, report)")
        out.update(jobs=jobs, jobs_total=total, serial_samples=serial)
    return out


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Where a `neuralab train` spends the time outside fit: its phases, and the "
        "work after training one job at a time. Arguments after -- replace the command's "
        "(default: end_to_end.py's Fashion-MNIST run).")
    parser.add_argument("--repeats", type=int, default=5, help="runs timed by phase (default 5)")
    parser.add_argument("--serial", type=int, default=3,
                        help="runs with the writing one job at a time (default 3; 0: none)")
    parser.add_argument("--quick", action="store_true",
                        help="digits (a quarter held out) for 2 epochs, 2 + 1 runs: a smoke "
                        "test, not a measurement")
    parser.add_argument("--json", type=Path, default=None, help="write every sample here")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("train_args", nargs="*", help="arguments of `neuralab train` (after --)")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error(f"--repeats must be at least 1, got {args.repeats}")
    if args.serial < 0:
        parser.error(f"--serial must be 0 or more, got {args.serial}")
    if args.child is None and any(a == "--out" or a.startswith("--out=") for a in args.train_args):
        parser.error("--out is chosen by the script (a temporary folder); leave it out")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.child is not None:
        _child(args.child, args.train_args)
        return 0  # not reached: the command exits
    train_args = args.train_args or (QUICK if args.quick else FASHION)
    if train_args is FASHION:
        from neuralab.data.real import FASHION_MNIST_DIR, FASHION_MNIST_PACKAGE

        if not FASHION_MNIST_DIR.is_dir():
            print(f"skipped: Fashion-MNIST is not installed ({FASHION_MNIST_DIR} is missing: "
                  f"Debian's {FASHION_MNIST_PACKAGE})")
            return 0
    repeats, serial_runs = (2, 1) if args.quick else (args.repeats, args.serial)
    run_once(train_args, serial=False)  # untimed: bytecode cached, files in the page cache
    samples, serial = [], []
    for r in range(max(repeats, serial_runs)):  # interleaved, so that drifts touch both
        if r < repeats:
            samples.append(run_once(train_args, serial=False))
        if r < serial_runs:
            serial.append(run_once(train_args, serial=True))
    payload = report(train_args, samples, serial, os.cpu_count() or 1)
    if args.json is not None:
        args.json.write_text(json.dumps({"benchmark": "train_phases", "quick": args.quick,
                                         **payload}, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
