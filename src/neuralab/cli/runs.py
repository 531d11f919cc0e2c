"""Commands that train and use a model: demo, train, evaluate, predict."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from neuralab import NeuralabError
from neuralab.cli.app import (
    BACKEND, DATA, OUTPUT, Backend, Classes, DataDir, DataFile, DatasetName, NPerClass, Noise, Out,
    Overwrite, Quiet, RunDir, Target, app, check_data_options, console,
    exits_130_on_abandoned_write, flag, percent, training_data, with_settings, working,
)


@app.command()
@with_settings("demo")
def demo(settings: dict, out: Out = None, overwrite: Overwrite = False) -> None:
    """The lecture's experiment: linear softmax against a 2-layer ReLU net on the spiral."""
    from neuralab.config import validate

    values = validate(settings, surface="demo")
    seed, backend, dtype = values["seed"], values["backend"], values["dtype"]
    from rich.table import Table

    from neuralab.lab import run_demo
    from neuralab.runs import new_run_dir

    out = out if out is not None else new_run_dir("runs", "demo")
    with exits_130_on_abandoned_write():
        result = run_demo(out=out, overwrite=overwrite, echo=typer.echo, **values)
    where = "" if backend == "numpy" else f", torch on {result.runs[0].trainer.device}"
    table = Table(title=f"The lecture's experiment on the spiral (N=100, K=3, seed {seed}), "
                        f"{backend} backend{where}, {dtype}")
    for col in ("model", "iterations", "final loss", "train accuracy",
                f"accuracy, spiral seed {seed + 1}", "time"):
        table.add_column(col, justify="left" if col == "model" else "right")
    for row in result.table():
        table.add_row(row["model"], f"{row['iterations']:,}", f"{row['final_loss']:.4f}",
                      percent(row["train_accuracy"]), percent(row["test_accuracy"]),
                      f"{row['seconds']:.2f} s")
    term = console()
    term.print()
    term.print(table)
    written = " and ".join(f"{out}/{r.name}" for r in result.runs)
    term.print(f"Runs written to {written}; boundaries in {out}/comparison.png")
    if result.runs[-1].interrupted:
        typer.echo(f"interrupted: {out} holds what was done; the table shows it", err=True)
        raise typer.Exit(130)


@app.command()
@with_settings("train")
def train(
    settings: dict,
    dataset: DatasetName = None,
    data: DataFile = None,
    data_dir: DataDir = None,
    test_data: Annotated[Optional[Path], typer.Option("--test-data", metavar="FILE", rich_help_panel=DATA, help="A separate test file, same columns as --data.")] = None,
    target: Target = None,
    n_per_class: NPerClass = None,
    noise: Noise = None,
    classes: Classes = None,
    print_every: Annotated[int, typer.Option("--print-every", min=1, metavar="N", show_default=False, rich_help_panel=OUTPUT, help="Print `iteration N: loss X` every N steps. Default: 1000.")] = 1000,
    resume: Annotated[Optional[Path], typer.Option("--resume", metavar="DIR", rich_help_panel=OUTPUT, help="Continue training the run in this directory (--iterations/--epochs: how many more).")] = None,
    out: Out = None,
    overwrite: Overwrite = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", rich_help_panel=OUTPUT, help="No progress bar; print only the result line.")] = False,
    nproc: Annotated[Optional[int], typer.Option("--nproc", min=1, metavar="N", rich_help_panel=BACKEND, help="Train data-parallel on this many local processes (backend torch; torch's launcher starts them; one GPU each on CUDA).")] = None,
) -> None:
    """Train a model on a data set and write a run directory (Ctrl-C saves and stops)."""
    from neuralab.config import TrainSettings
    from neuralab.data import load_file
    from neuralab.launch import writes_here
    from neuralab.lab import resume_training, run_training
    from neuralab.runs import new_run_dir

    if nproc is not None:
        from neuralab.cli.launch import check_nproc, launch

        if resume is not None:
            from neuralab.runs import read_config

            saved = read_config(resume).get("settings")
            check_nproc(nproc, saved if isinstance(saved, dict) else {})
        else:
            check_data_options(dataset, data, target, test_data, settings)
            check_nproc(nproc, TrainSettings(**settings).to_dict())
        where = None if resume is not None else (out or new_run_dir("runs", "train"))
        raise typer.Exit(launch(nproc, where))
    print_every_or_none = None if quiet else print_every
    progress = False if quiet else None
    if resume is not None:
        given = [opt for opt, value in (("--dataset", dataset), ("--data", data),
                                        ("--test-data", test_data), ("--out", out),
                                        ("--n-per-class", n_per_class), ("--noise", noise),
                                        ("--classes", classes)) if value is not None]
        given += [flag(k) for k in settings if k not in ("iterations", "epochs")]
        if given:
            raise NeuralabError(f"--resume continues a run with its own data, settings and "
                                f"folder; drop {', '.join(given)}")
        with exits_130_on_abandoned_write():
            run = resume_training(resume, iterations=settings.get("iterations"),
                                  epochs=settings.get("epochs"), print_every=print_every_or_none,
                                  echo=typer.echo, progress=progress)
        if writes_here():  # one rank of a launched world reports
            _report_run(run, resume)
        return
    check_data_options(dataset, data, target, test_data, settings)
    # the lecture (and `neuralab demo`) feeds the spiral raw; standardised, its numbers differ
    note = (SPIRAL_NOTE if dataset == "spiral" and "standardize" not in settings
            and "features" not in settings else None)
    settings = TrainSettings(**settings)
    train_set, spec = beside_writing_imports(
        training_data, dataset, data, target, data_dir, settings.seed, settings.task,
        {"n_per_class": n_per_class, "noise": noise, "classes": classes})
    test_set = load_file(test_data, target=target, task=settings.task) if test_data else None
    test_spec = ({"kind": "file", "path": str(Path(test_data).resolve()), "target": target}
                 if test_data else None)
    out = out if out is not None else new_run_dir("runs", "train")
    with exits_130_on_abandoned_write():
        run = run_training(train_set, settings, test=test_set, out=out, overwrite=overwrite,
                           print_every=print_every_or_none, echo=typer.echo, progress=progress,
                           name=train_set.name, data_spec=spec, test_spec=test_spec)
    if writes_here():
        _report_run(run, out, note=note)


#: the interpreter's switch interval while a data set loads beside the writing's imports
LOADER_SWITCH_SECONDS = 0.0002


def beside_writing_imports(load, *args):
    """``load(*args)`` in a thread while this one loads what writing a run needs at its end
    (:func:`preload_writing`: matplotlib, the report's templates, ...):
    reading a compressed data set (the inflater lets go of the interpreter while it
    inflates) and the imports then take the time of the longer one, not of both
    (:func:`~neuralab.cores.at_once`: the thread has ended when this returns, and an
    error is raised here)."""
    from neuralab.cores import at_once

    # the loader takes the interpreter back after each piece it inflated: by default it
    # would wait up to 5 ms for the imports to hand it over, every time (Fashion-MNIST's
    # load took 1.0 s beside matplotlib's import instead of 0.6 s alone)
    interval = sys.getswitchinterval()
    sys.setswitchinterval(LOADER_SWITCH_SECONDS)
    try:
        _, value = at_once(preload_writing, lambda: load(*args))
    finally:
        sys.setswitchinterval(interval)
    return value


def preload_writing() -> None:
    """Load now what writing a run needs at its end, for a caller with other work to overlap
    it with (``train`` reads the data set meanwhile; a sweep, whose workers keep the cores
    busy, imports only matplotlib beside them): matplotlib's figure and Agg canvas, the
    report's templates compiled and the versions config.json records. Each would
    otherwise load while the user waits for the run (the report's and the versions' took
    0.04-0.06 s of a Fashion-MNIST run's). A failure here is left for the writing to
    raise where it matters.

    tensorboardX's writer is not among them: its import keeps torch out by naming it
    missing in ``sys.modules`` for a moment (``neuralab.runs.tensorboard._tensorboardx``),
    which another thread, such as the one reading the data, could run into."""
    from neuralab import plots
    from neuralab.report import pages
    from neuralab.runs.store import versions

    for load in (plots.preload, pages.preload, versions):
        try:
            load()
        except Exception:  # noqa: BLE001 - raised again by the writing that needs it
            pass


#: Why `train --dataset spiral` does not give the lecture's numbers unless told.
SPIRAL_NOTE = ("inputs standardised by default; the lecture and `neuralab demo` train on the "
               "raw spiral: add --no-standardize for their numbers")


def threshold_text(t: float) -> str:
    """A threshold with the digits that tell it from its neighbours: 0.99994, not 1.

    At least 4 significant digits, more until the text no longer reads as 0 or 1
    (a probability threshold near either end would otherwise print as the end).
    """
    import math

    t = float(t)
    if not math.isfinite(t):
        return str(t)
    for digits in range(4, 18):
        text = f"{t:.{digits}g}"
        if float(text) not in (0.0, 1.0) or t in (0.0, 1.0):
            return text
    return repr(t)


def _report_run(run, out: Path, *, note: str | None = None) -> None:
    regression = run.settings.task == "regression"
    parts = [f"final loss {run.final_loss:.4f}"]
    for key in ("train", "val", "test"):
        m = run.metrics.get(key)
        if m is not None and regression:
            parts.append(f"{key} R^2 {m['r2']:.4f} (MSE {m['mse']:.4g}, MAE {m['mae']:.4g})")
        elif m is not None:
            parts.append(f"{key} accuracy {percent(m['accuracy'])}")
    if run.fit.stopped_early:
        parts.insert(0, f"early stopping restored the weights of step {run.fit.best_step}")
    op = run.metrics.get("test", run.metrics["train"]).get("operating_point")
    if op:
        parts.append(f"threshold {threshold_text(op['threshold'])} for FPR <= {op['max_fpr']:g} "
                     f"(FPR {op['fpr']:.3g}, TPR {op['tpr']:.3g})")
    if run.fit.interrupted:
        typer.echo(f"interrupted after {run.fit.steps} steps; checkpoint and report saved in {out}; "
                   f"continue with: neuralab train --resume {out}", err=True)
    elif run.stopped_while_writing:
        typer.echo(f"interrupted while the run was written; the write was finished first: "
                   f"{out} holds all {run.fit.steps} steps", err=True)
    if note:
        parts[-1] += f" ({note})"
    if run.interrupted:
        typer.echo(", ".join(parts))
        raise typer.Exit(130)
    typer.echo(", ".join(parts) + f"; run written to {out}; report: {out / 'report.html'}")


@app.command()
def evaluate(
    run_dir: RunDir,
    data: Annotated[Optional[Path], typer.Option("--data", help="A CSV or NPZ file to score (default: the run's own splits again).")] = None,
    target: Annotated[Optional[str], typer.Option("--target", help="CSV label column (default: the last).")] = None,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Folder for the results (default: RUN_DIR/evaluations/<time>-<data>/).")] = None,
    backend: Backend = "numpy",
    quiet: Quiet = False,
) -> None:
    """Score a saved model: metrics, predictions and figures, never over the run's own files."""
    from rich.table import Table

    from neuralab.data import load_file
    from neuralab.lab import evaluate_run
    from neuralab.runs.regression import run_task

    if target is not None and data is None:
        raise NeuralabError("--target needs --data FILE")
    task = run_task(run_dir)
    dataset = load_file(data, target=target, task=task) if data is not None else None
    with exits_130_on_abandoned_write(), working(f"evaluating {run_dir}", quiet):
        metrics, folder = evaluate_run(run_dir, dataset, out=out, backend=backend)
    table = Table(title=f"evaluation of {run_dir}")
    if task == "regression":
        for col in ("split", "examples", "MSE", "MAE", "R^2"):
            table.add_column(col, justify="left" if col == "split" else "right")
        for key, m in metrics.items():
            table.add_row(key, str(m["n"]), f"{m['mse']:.6g}", f"{m['mae']:.6g}",
                          "-" if m["r2"] != m["r2"] else f"{m['r2']:.4f}")
        console().print(table)
        typer.echo(f"metrics, predictions and figures written to {folder}")
        return
    for col in ("split", "examples", "accuracy", "log-loss", "ROC AUC"):
        table.add_column(col, justify="left" if col == "split" else "right")
    for key, m in metrics.items():
        auc = m.get("roc_auc")
        table.add_row(key, str(m["n_samples"]), percent(m["accuracy"]), f"{m['log_loss']:.4f}",
                      "-" if auc is None or auc != auc else f"{auc:.4f}")
    console().print(table)
    typer.echo(f"metrics, predictions and figures written to {folder}")


@app.command()
def predict(
    run_dir: RunDir,
    input: Annotated[Optional[Path], typer.Option("--input", "-i", help="CSV (the model's feature columns) or NPZ (X) to predict.")] = None,
    output: Annotated[Optional[Path], typer.Option("--output", help="Write the predictions CSV here (default: print it).")] = None,
    point: Annotated[Optional[str], typer.Option("--point", help="One input as comma-separated numbers, e.g. 0.3,-0.5.")] = None,
    label: Annotated[Optional[str], typer.Option("--label", help="With --point: the true class, to print its loss -log p.")] = None,
    backend: Backend = "numpy",
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Allow replacing an existing --output file.")] = False,
) -> None:
    """Class probabilities from a saved model: for a file of inputs, or one --point."""
    from neuralab.fileio import check_writable

    if (input is None) == (point is None):
        raise NeuralabError("give exactly one of --input FILE and --point X1,X2,...")
    if label is not None and point is None:
        raise NeuralabError("--label goes with --point")
    if output is not None:
        check_writable(output, argument="output")
        if output.exists() and not overwrite:
            raise NeuralabError(f"--output {output} exists; choose another file or pass --overwrite")
    if backend == "numpy":  # what neuralab.lab.load_model does for it, without loading the lab
        from neuralab.runs.predictor import load_model

        predictor = load_model(run_dir)
    else:
        from neuralab.lab import load_model

        predictor = load_model(run_dir, backend=backend)
    if point is not None:
        _predict_point(predictor, point, label)
        return
    from neuralab.data.files import load_features
    from neuralab.data.preprocess import check_inputs
    from neuralab.fileio import atomic_write

    X = load_features(input, predictor.feature_names)
    predictor.check_width(X, where=f"input file {input}")
    check_inputs(X, predictor.scaler, predictor.feature_names, where=f"input file {input}",
                 dtype=predictor.meta.get("dtype"))
    if predictor.task == "regression":
        pred = predictor.predict_values(X)
        lines = ["index,y_pred"] + [f"{i},{v:.10g}" for i, v in enumerate(pred)]
    else:
        probs = predictor.predict_proba(X)
        pred = probs.argmax(axis=1)
        lines = ["index,y_pred," + ",".join(f"p_{c}" for c in predictor.classes)]
        lines += [f"{i},{predictor.classes[pred[i]]}," + ",".join(f"{p:.10g}" for p in probs[i])
                  for i in range(len(pred))]
    text = "\n".join(lines) + "\n"
    if output is None:
        typer.echo(text, nl=False)
    else:
        try:
            atomic_write(output, text)
        except OSError as exc:
            raise NeuralabError(f"--output {output} cannot be written: {exc.strerror or exc}") from None
        typer.echo(f"{len(pred)} predictions written to {output}")


def _predict_point(predictor, point: str, label: str | None) -> None:
    import math

    import numpy as np

    from neuralab.data.preprocess import check_inputs
    from neuralab.runs.predictor import parse_point

    X = parse_point(point, predictor.feature_names)
    check_inputs(np.asarray(X, dtype=float), predictor.scaler, predictor.feature_names,
                 where="--point", dtype=predictor.meta.get("dtype"))
    if predictor.task == "regression":
        _predict_value(predictor, X, label)
        return
    probs = predictor.predict_proba(X)[0]
    typer.echo("softmax: " + "  ".join(f"p({c}) = {p:.6f}" for c, p in zip(predictor.classes, probs)))
    typer.echo(f"predicted class: {predictor.classes[int(probs.argmax())]}")
    if label is not None:
        if label not in predictor.classes:
            raise NeuralabError(f"--label {label!r} is not a class of this model; "
                                f"classes are {predictor.classes}")
        k = predictor.classes.index(label)
        typer.echo(f"loss for label {label}: -log p({label}) = {-math.log(max(probs[k], 1e-300)):.6f}")


def _predict_value(predictor, X, label: str | None) -> None:
    """A regression model's prediction for one point; with --label the true value's squared error."""
    import math

    value = float(predictor.predict_values(X)[0])
    typer.echo(f"predicted {predictor.meta.get('target') or 'y'}: {value:.6g}")
    if label is not None:
        try:
            true = float(label)
        except ValueError:
            true = math.nan
        if not math.isfinite(true):
            raise NeuralabError(f"--label must be the true value, a finite number, for a "
                                f"regression model; got {label!r}")
        typer.echo(f"squared error (y_pred - {true:g})^2 = {(value - true) ** 2:.6g}")
