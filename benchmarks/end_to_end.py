"""Whole commands as a user waits for them: neuralab's processes against plain scripts, side by side.

What is measured
----------------
Every sample is a whole, fresh process, started with this interpreter
(``sys.executable``; neuralab as ``python -m neuralab``) from the repository root by
a small launcher process (``_common.timed_child``), which takes its wall seconds
around its start and ``os.wait4``, and its CPU seconds (user + system) and peak
resident memory (``ru_maxrss``) from the rusage that ``os.wait4`` returns for it (the
largest of it and the descendants it waited for, a run's forked figure writer
among them). Each case runs its commands
interleaved, ``--repeats`` rounds (default 5), the order rotated by one from round to
round so that drifts of the machine touch every command alike, and reports medians.
Every run directory goes to a fresh temporary folder, removed after the sample.

The children run with this environment less ``PYTHONDONTWRITEBYTECODE`` (which the
project's environment sets): with it, every start would compile neuralab's modules
anew, which no installed neuralab does. Before any case, one small run (``neuralab
train --dataset xor -n 20 --model linear --iterations 50``, the run that ``predict``
below reads) compiles and caches them; the start-up and demo cases also run each of
their commands once untimed before the timed rounds (the demo not with ``--quick``).

The cases (``--only``, comma-separated; all by default):

- **fashion**: ``neuralab train --dataset fashion_mnist --hidden 100 --epochs 15
  --batch-size 128 --optimizer sgd --lr 0.1 --dtype float32 --seed 0 --quiet --out DIR``
  (every file of the run directory written as always: metrics, predictions,
  figures, report) against ``plain_torch_fashion.py`` (the same IDX files read with
  gzip and NumPy, the same standardisation, initialisation, L2 penalty and SGD, the
  lecture's PyTorch loop) and ``plain_numpy_fashion.py`` (the same loop by hand in
  NumPy, float32). Targets: neuralab / PyTorch <= 0.65 and neuralab / NumPy <= 1.2
  (wall, medians); the time outside ``fit`` at most a quarter of the time inside it,
  ``(wall - train_seconds) / train_seconds <= 0.25`` with ``train_seconds`` read from
  the run's ``config.json`` (fit's own timer of its loop); the run's peak memory <=
  450 MB. Each row also gives the test accuracy it reached. Skipped when the data
  set is not installed.
- **demo**: ``neuralab demo --out DIR`` against ``plain_numpy_spiral.py`` (the slides'
  linear softmax, 200 iterations, and 2-layer ReLU net, 10,000 iterations, back to
  back, with the demo's spiral, step 1.0 and reg 1e-3). Target: <= 1.3.
- **startup**: ``neuralab --help``, ``neuralab datasets`` and ``neuralab predict RUN
  --point 0.3,-0.5`` against ``python -c "import numpy"``. Targets in absolute wall
  seconds: <= 0.2, <= 0.2, <= 0.25; the bare NumPy start is shown as the reference.
- **sweep**: ``neuralab sweep --dataset spiral --param lr=0.3,1,3 --param
  hidden=50;100 --iterations 10000 --quiet --out DIR`` (a 6-trial grid of the lecture's
  10,000 iterations a trial, then the best
  trial retrained and written as a run) with ``--processes 1`` and ``--processes 2``.
  Target: 2 workers / 1 worker <= 0.6.

``--quick`` (a smoke test: its numbers mean little) runs 2 rounds of smaller cases:
Fashion-MNIST for 1 epoch; instead of the whole demo, its net alone for 1,000
iterations (``neuralab train --dataset spiral --no-standardize --lr 1.0 --reg 0.001
--iterations 1000`` against ``plain_numpy_spiral.py --linear-iterations 0
--mlp-iterations 1000``); the sweep's trials for 300 iterations.

On a machine that other processes share, whole-process times are noisy (torch's
threads most): the script prints a note when the load average is at or above the
CPU count before timing, and the JSON (``--json PATH``: every sample) records the
load before and after.

    .venv/bin/python benchmarks/end_to_end.py                     # 8-20 minutes on 2 cores
    .venv/bin/python benchmarks/end_to_end.py --only startup,demo --repeats 7
    .venv/bin/python benchmarks/end_to_end.py --quick --only startup,demo --json e2e.json
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
from _common import child_env, loadavg_before_timing, machine, timed_child

PY = sys.executable
NEURALAB = [PY, "-m", "neuralab"]
FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
CASES = ("fashion", "demo", "startup", "sweep")
POINT = "0.3,-0.5"


@dataclass
class Command:
    """One command of a case: its label, its argv (``{out}``: a fresh folder's ``run``)."""

    label: str
    argv: list[str]
    #: what to read from a finished sample: (run directory, stdout) -> extra numbers
    extract: Callable[[Path, str], dict] | None = None
    #: how the table shows it, where ``shown()`` would print a temporary path
    display: str | None = None

    def shown(self) -> str:
        """The command as a user types it: ``neuralab ...``, ``python benchmarks/...``."""
        if self.display is not None:
            return self.display
        words = ["python", *self.argv[1:]]
        if words[1:3] == ["-m", "neuralab"]:
            words[:3] = ["neuralab"]
        words = [str(Path(w).relative_to(ROOT)) if w.startswith(str(ROOT) + os.sep) else w
                 for w in words]
        return " ".join(f'"{w}"' if (" " in w or ";" in w) else w for w in words).replace(
            "{out}", "DIR")


@dataclass
class Target:
    """``value <= limit``, named and printed with met / MISSED."""

    name: str
    value: float
    limit: float
    unit: str = ""

    @property
    def met(self) -> bool:
        return self.value <= self.limit

    def line(self) -> str:
        return (f"target {self.name}: {self.value:.3f}{self.unit} <= {self.limit:g}{self.unit} "
                f"{'met' if self.met else 'MISSED'}")

    def as_dict(self) -> dict:
        return {"name": self.name, "value": self.value, "limit": self.limit, "met": self.met}


@dataclass
class Case:
    name: str
    title: str
    commands: list[Command]
    reference: str
    warmup: bool = False
    samples: dict = field(default_factory=dict)


def run_process(argv: list[str]) -> dict:
    """Run ``argv`` once in a fresh folder; wall and CPU seconds, peak RSS, its stdout and run dir."""
    folder = Path(tempfile.mkdtemp(prefix="neuralab-e2e-"))
    argv = [a.replace("{out}", str(folder / "run")) for a in argv]
    child = timed_child(argv, cwd=ROOT, env=child_env())
    if child.returncode != 0:
        shutil.rmtree(folder, ignore_errors=True)
        sys.exit(f"error: {' '.join(argv)} exited {child.returncode}\n{child.stdout[-2000:]}\n"
                 f"{child.stderr[-3000:]}")
    return {"wall": child.wall, "cpu": child.cpu, "peak_rss_mb": child.peak_rss / 1e6,
            "folder": folder, "stdout": child.stdout}


def sample(command: Command) -> dict:
    result = run_process(command.argv)
    folder = result.pop("folder")
    stdout = result.pop("stdout")
    try:
        if command.extract is not None:
            result.update(command.extract(folder / "run", stdout))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return result


def measure(case: Case, repeats: int) -> None:
    """``repeats`` interleaved rounds of the case's commands, the order rotated each round."""
    if case.warmup:
        for command in case.commands:
            shutil.rmtree(run_process(command.argv)["folder"], ignore_errors=True)
    case.samples = {c.label: [] for c in case.commands}
    n = len(case.commands)
    for r in range(repeats):
        for command in case.commands[r % n:] + case.commands[:r % n]:
            case.samples[command.label].append(sample(command))


def median(case: Case, label: str, key: str) -> float:
    values = [s[key] for s in case.samples[label] if s.get(key) is not None]
    return statistics.median(values) if values else float("nan")


# ---------------------------------------------------------------------- what each run reached


def stdout_number(pattern: str) -> Callable[[Path, str], dict]:
    """Read named numbers from a child's stdout: ``pattern``'s named groups, as floats."""
    def extract(_run: Path, stdout: str) -> dict:
        found = re.search(pattern, stdout, re.MULTILINE)
        values = {} if not found else found.groupdict()
        return {k: float(v) for k, v in values.items() if v is not None}
    return extract


def fashion_run(run: Path, _stdout: str) -> dict:
    """train_seconds (fit's own timer) from config.json, the test accuracy from metrics.json."""
    config = json.loads((run / "config.json").read_text(encoding="utf-8"))
    metrics = json.loads((run / "metrics.json").read_text(encoding="utf-8"))
    return {"fit_seconds": float(config["train_seconds"]),
            "test_accuracy": float(metrics["test"]["accuracy"])}


def demo_run(run: Path, _stdout: str) -> dict:
    """Each model's final loss and training accuracy from the demo's comparison.json."""
    rows = json.loads((run / "comparison.json").read_text(encoding="utf-8"))
    out = {}
    for row in rows:
        out[f"{row['model']}_loss"] = float(row["final_loss"])
        out[f"{row['model']}_accuracy"] = float(row["train_accuracy"])
    return out


def spiral_train_run(run: Path, _stdout: str) -> dict:
    """The quick demo's single net: its final training loss and accuracy from metrics.json."""
    train = json.loads((run / "metrics.json").read_text(encoding="utf-8"))["train"]
    return {"mlp_loss": float(train["loss"]), "mlp_accuracy": float(train["accuracy"])}


PLAIN_SPIRAL = (r"^(?:linear: loss (?P<linear_loss>\S+), training accuracy (?P<linear_accuracy>\S+)\n)?"
                r"mlp: loss (?P<mlp_loss>\S+), training accuracy (?P<mlp_accuracy>\S+)$")


# ---------------------------------------------------------------------- the cases


def fashion_case(quick: bool) -> Case:
    epochs = "1" if quick else "15"
    neuralab = NEURALAB + ["train", "--dataset", "fashion_mnist", "--hidden", "100", "--epochs",
                           epochs, "--batch-size", "128", "--optimizer", "sgd", "--lr", "0.1",
                           "--dtype", "float32", "--seed", "0", "--quiet", "--out", "{out}"]
    accuracy = stdout_number(r"^test accuracy (?P<test_accuracy>\S+)$")
    return Case("fashion", f"Fashion-MNIST 784-100-10, {epochs} epoch(s), batches of 128, float32", [
        Command("neuralab", neuralab, fashion_run),
        Command("PyTorch", [PY, str(HERE / "plain_torch_fashion.py"), "--epochs", epochs], accuracy),
        Command("plain NumPy", [PY, str(HERE / "plain_numpy_fashion.py"), "--epochs", epochs],
                accuracy),
    ], reference="PyTorch")


def demo_case(quick: bool) -> Case:
    plain = [PY, str(HERE / "plain_numpy_spiral.py")]
    if quick:
        neuralab = Command("neuralab", NEURALAB + [
            "train", "--dataset", "spiral", "--no-standardize", "--lr", "1.0", "--reg", "0.001",
            "--iterations", "1000", "--quiet", "--out", "{out}"], spiral_train_run)
        plain += ["--linear-iterations", "0", "--mlp-iterations", "1000"]
        title = "the demo's net alone, 1,000 iterations (--quick)"
    else:
        neuralab = Command("neuralab", NEURALAB + ["demo", "--out", "{out}"], demo_run)
        title = "the demo: linear softmax 200 iterations, then the 2-layer net 10,000"
    return Case("demo", title, [neuralab, Command("plain NumPy", plain, stdout_number(PLAIN_SPIRAL))],
                reference="plain NumPy", warmup=not quick)


def startup_case(run: Path) -> Case:
    return Case("startup", "short commands", [
        Command("import numpy", [PY, "-c", "import numpy"]),
        Command("--help", NEURALAB + ["--help"]),
        Command("datasets", NEURALAB + ["datasets"]),
        Command("predict", NEURALAB + ["predict", str(run), "--point", POINT],
                display=f"neuralab predict RUN --point {POINT}"),
    ], reference="import numpy", warmup=True)


def sweep_case(quick: bool) -> Case:
    # the lecture's 10,000 full-batch iterations a trial (`neuralab train --dataset spiral`'s)
    iterations = "300" if quick else "10000"
    base = NEURALAB + ["sweep", "--dataset", "spiral", "--param", "lr=0.3,1,3", "--param",
                       "hidden=50;100", "--iterations", iterations, "--quiet", "--out", "{out}"]
    return Case("sweep", f"a 6-trial spiral grid, {iterations} iterations a trial", [
        Command("1 worker", base + ["--processes", "1"]),
        Command("2 workers", base + ["--processes", "2"]),
    ], reference="1 worker")


def targets(case: Case) -> list[Target]:
    def m(label: str, key: str = "wall") -> float:
        return median(case, label, key)

    if case.name == "fashion":
        outside = statistics.median((s["wall"] - s["fit_seconds"]) / s["fit_seconds"]
                                    for s in case.samples["neuralab"])
        return [Target("neuralab/PyTorch", m("neuralab") / m("PyTorch"), 0.65),
                Target("neuralab/plain NumPy", m("neuralab") / m("plain NumPy"), 1.2),
                Target("(wall - fit)/fit of neuralab", outside, 0.25),
                Target("peak memory of neuralab", m("neuralab", "peak_rss_mb"), 450, " MB")]
    if case.name == "demo":
        return [Target("neuralab/plain NumPy", m("neuralab") / m("plain NumPy"), 1.3)]
    if case.name == "startup":
        return [Target("neuralab --help", m("--help"), 0.2, " s"),
                Target("neuralab datasets", m("datasets"), 0.2, " s"),
                Target("neuralab predict --point", m("predict"), 0.25, " s")]
    return [Target("2 workers/1 worker", m("2 workers") / m("1 worker"), 0.6)]


# ---------------------------------------------------------------------- output


def format_case(case: Case, found: list[Target]) -> str:
    """The case's table (medians) and its targets."""
    reference = case.reference
    extras = sorted({k for samples in case.samples.values() for s in samples for k in s}
                    - {"wall", "cpu", "peak_rss_mb"})
    lines = [f"\n== {case.name}: {case.title}; medians of {len(case.samples[reference])} runs",
             f"{'':13} {'wall s':>8} {'cpu s':>8} {'peak MB':>8} {'/' + reference:>14}"
             + "".join(f" {k:>15}" for k in extras)]
    ref_wall = median(case, reference, "wall")
    for command in case.commands:
        label = command.label
        row = (f"{label:13} {median(case, label, 'wall'):8.3f} {median(case, label, 'cpu'):8.3f} "
               f"{median(case, label, 'peak_rss_mb'):8.1f} "
               f"{median(case, label, 'wall') / ref_wall:14.3f}")
        row += "".join(f" {median(case, label, k):15.4f}" if case.samples[label][0].get(k)
                       is not None else f" {'-':>15}" for k in extras)
        lines.append(row)
    lines += [f"  {c.label}: {c.shown()}" for c in case.commands]
    lines += [t.line() for t in found]
    return "\n".join(lines)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="interleaved rounds (default 5)")
    parser.add_argument("--quick", action="store_true",
                        help="2 rounds of smaller cases: a smoke test, not a measurement")
    parser.add_argument("--only", default=",".join(CASES),
                        help=f"cases, comma-separated, from {', '.join(CASES)} (default: all)")
    parser.add_argument("--json", type=Path, help="write every sample and result here")
    args = parser.parse_args(argv)
    args.cases = [c.strip() for c in args.only.split(",") if c.strip()]
    unknown = sorted(set(args.cases) - set(CASES))
    if unknown or not args.cases:
        parser.error(f"--only takes cases from {', '.join(CASES)}; got {args.only!r}")
    if args.repeats < 1:
        parser.error(f"--repeats must be a positive integer, got {args.repeats}")
    return args


def make_small_run() -> tuple[Path, float]:
    """The run that ``predict`` reads; making it also compiles neuralab's modules once."""
    folder = Path(tempfile.mkdtemp(prefix="neuralab-e2e-run-"))
    result = run_process(NEURALAB + ["train", "--dataset", "xor", "-n", "20", "--model", "linear",
                                     "--iterations", "50", "--quiet", "--out", str(folder / "run")])
    shutil.rmtree(result["folder"], ignore_errors=True)
    return folder, result["wall"]


def main(argv=None) -> int:
    args = parse_args(argv)
    repeats = 2 if args.quick else args.repeats
    cases = [c for c in args.cases if c in CASES]
    if "fashion" in cases and not FASHION_DIR.is_dir():
        print(f"fashion: skipped, {FASHION_DIR} is missing (Debian's dataset-fashion-mnist)")
        cases.remove("fashion")
    load_before = loadavg_before_timing()
    small, small_seconds = make_small_run()
    print(f"whole processes, {repeats} interleaved rounds each, order rotated; python {PY}")
    payload = {"machine": machine(), "quick": args.quick, "repeats": repeats,
               "load_before": load_before, "warmup_run_seconds": small_seconds, "cases": {}}
    try:
        for name in cases:
            case = {"fashion": lambda: fashion_case(args.quick), "demo": lambda: demo_case(args.quick),
                    "startup": lambda: startup_case(small / "run"),
                    "sweep": lambda: sweep_case(args.quick)}[name]()
            measure(case, repeats)
            found = targets(case)
            print(format_case(case, found), flush=True)
            payload["cases"][name] = {
                "title": case.title,
                "commands": {c.label: c.shown() for c in case.commands},
                "samples": case.samples,
                "medians": {c.label: {k: median(case, c.label, k) for k in case.samples[c.label][0]}
                            for c in case.commands},
                "targets": [t.as_dict() for t in found],
            }
    finally:
        shutil.rmtree(small, ignore_errors=True)
    payload["load_after"] = os.getloadavg()
    if args.json:
        args.json.write_text(json.dumps(payload, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
