"""``neuralab sweep``: a hyperparameter search as an Optuna study, on one machine or many."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Annotated, Optional

import typer

from neuralab import ArgumentError, NeuralabError
from neuralab.cli.app import (
    Classes, NPerClass, Noise, Out, Overwrite, app, check_data_options, console, percent,
    shows_progress, training_data, with_settings,
)

def _print_table(result, *, title: str) -> None:
    from rich.table import Table

    table = Table(title=title)
    for col in ("rank", "score", *result.varied, "val_loss", "std", "seconds", "status"):
        table.add_column(col, justify="right")

    def cell(value) -> str:
        try:
            return f"{float(value):.4f}" if value not in ("", None) else "-"
        except (TypeError, ValueError):
            return str(value)

    from neuralab.sweep import format_value

    for t, row in list(zip(result.trials, result.table()))[:15]:
        table.add_row(str(row["rank"]), cell(row["score"]),
                      *(format_value(c, t.params.get(c), digits=4) for c in result.varied),
                      cell(row["val_loss"]), cell(row["std"]), cell(row["seconds"]), row["status"])
    console().print(table)


def _how(scoring: dict) -> str:
    if scoring.get("method") == "kfold":
        return f"{scoring['folds']}-fold cross-validation"
    return f"a validation split of {scoring.get('val_fraction', 0.2):g}"


def _score(scoring: dict) -> str:
    """What the score column holds: mean validation accuracy, or for regression the MSE."""
    text = str(scoring.get("score", ""))
    return text if text.startswith("mean validation MSE") else "mean validation accuracy"


def _counts(result) -> str:
    pruned = f", {result.n_pruned} pruned" if result.n_pruned else ""
    failed = f", {result.n_failed} failed" if result.n_failed else ""
    return (f"{len(result.trials)} of {result.total} trials finished{pruned}{failed} "
            f"({result.sampler} sampler)")


def _show(storage: Optional[str], study: Optional[str], folder: Optional[Path]) -> None:
    from neuralab.sweep import show_sweep

    result = show_sweep(storage, study, out=folder)
    _print_table(result, title=f"study {result.study} ({result.sampler} sampler): "
                               f"{_score(result.scoring)}, {_how(result.scoring)}")
    left = f"; {result.pending} waiting or running" if result.pending else ""
    typer.echo(f"{_counts(result)}{left} (study {result.study} in {result.storage})")


@app.command()
@with_settings("sweep")
def sweep(
    settings: dict,
    param: Annotated[Optional[list[str]], typer.Option("--param", "-p", help='A searched setting: a list (lr=0.01,0.1,1  hidden=32;100;64x32  batch_size=full,32  activation=relu,tanh) or a range (reg=loguniform:1e-5:1e-2  momentum=uniform:0.5:0.99  iterations=uniform:100:1000). Repeat.')] = None,
    dataset: Annotated[Optional[str], typer.Option("--dataset", "-d", help="A registered data set.")] = None,
    data: Annotated[Optional[Path], typer.Option("--data", help="Your own CSV or NPZ file.")] = None,
    target: Annotated[Optional[str], typer.Option("--target", help="CSV label column (default: the last).")] = None,
    data_dir: Annotated[Optional[Path], typer.Option("--data-dir", help="Folder of IDX files for fashion_mnist / mnist.")] = None,
    sampler: Annotated[Optional[str], typer.Option("--sampler", help="grid (every combination of listed values), tpe or random (--n-trials draws; ranges allowed). Default: grid when every --param is a list, else tpe.")] = None,
    n_trials: Annotated[Optional[int], typer.Option("--n-trials", help="How many trials the tpe or random sampler runs.")] = None,
    random: Annotated[Optional[int], typer.Option("--random", help="Short for --sampler random --n-trials N.")] = None,
    pruner: Annotated[Optional[str], typer.Option("--pruner", help="Stop trials whose validation loss lags the others' at the same step: median, hyperband or none. Default: none for grid, else median.")] = None,
    folds: Annotated[Optional[int], typer.Option("--folds", help="Score by stratified k-fold cross-validation.")] = None,
    val_fraction: Annotated[Optional[float], typer.Option("--val-fraction", help="Score on a stratified validation split of this share (default 0.2).")] = None,
    workers: Annotated[int, typer.Option("--workers", "--processes", "-j", min=1, help="Worker processes on this machine, sharing the study.")] = 1,
    storage: Annotated[Optional[str], typer.Option("--storage", help="The study's database (postgresql://USER:PASSWORD@HOST/DB, sqlite:///FILE) or journal file, shared by every machine that runs the same sweep. Default: study.journal in the sweep's folder.")] = None,
    study: Annotated[Optional[str], typer.Option("--study", help="The study's name in --storage (default: sweep).")] = None,
    show: Annotated[bool, typer.Option("--show", help="Print the leaderboard of the study in --storage (or --resume DIR) and exit; nothing runs.")] = False,
    n_per_class: NPerClass = None,
    noise: Noise = None,
    classes: Classes = None,
    out: Out = None,
    overwrite: Overwrite = False,
    resume: Annotated[Optional[Path], typer.Option("--resume", help="Continue the stopped sweep in this folder (repeat its options): its finished trials are kept, only the others run.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar and no line per trial; print the leaderboard and the result.")] = False,
) -> None:
    """Search hyperparameters with an Optuna study: trials scored on validation data, the best saved as a run."""
    from neuralab.config import TrainSettings
    from neuralab.runs import new_run_dir
    from neuralab.sweep import parse_space, run_sweep

    if show:
        if storage is None and resume is None:
            raise ArgumentError("show", "--show needs the study: give --storage URL (and --study "
                                        "NAME) or --resume DIR")
        _show(storage, study, resume)
        return
    if not param:
        raise ArgumentError("param", "param is missing: give at least one --param SETTING=VALUES")
    if random is not None:
        if sampler not in (None, "random") or n_trials is not None:
            raise ArgumentError("random", "--random N is short for --sampler random --n-trials N; "
                                          "give one form")
        sampler, n_trials = "random", random
    if resume is not None and out is not None and Path(out).resolve() != Path(resume).resolve():
        raise NeuralabError(f"--resume {resume} continues the sweep in that folder and --out {out} "
                            "names another; give one of them")
    check_data_options(dataset, data, target, None, settings)
    space = parse_space(param)
    base = TrainSettings(**settings)
    items, spec = training_data(dataset, data, target, data_dir, base.seed, base.task,
                                {"n_per_class": n_per_class, "noise": noise, "classes": classes})
    out = resume or out or new_run_dir("runs", "sweep")
    with _trial_bar(quiet) as on_trial:
        result = run_sweep(items, base, space, sampler=sampler, n_trials=n_trials, pruner=pruner,
                           folds=folds, val_fraction=val_fraction, workers=workers, out=out,
                           overwrite=overwrite, on_trial=on_trial, data_spec=spec,
                           progress=False, resume=resume is not None, storage=storage,
                           study=study)
    _report(result, out, resumed=resume is not None or storage is not None)


@contextlib.contextmanager
def _trial_bar(quiet: bool):
    """The sweep's ``on_trial``: a line per finished trial, under a bar of trials with its ETA.

    The bar only on a terminal; --quiet shows neither.
    """
    from neuralab.sweep import format_params

    if quiet:
        yield None
        return
    term = console()

    def line(done: int, total: int, trial) -> str:
        score = f"{trial.score:.4f}" if trial.ok else trial.status
        return f"[{done}/{total}] {format_params(trial.params)}: {score}"

    if not shows_progress():
        yield lambda done, total, trial: term.print(line(done, total, trial))
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(TextColumn("trials"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=term, transient=True) as bar:
        task = bar.add_task("trials", total=None)

        def on_trial(done: int, total: int, trial) -> None:
            bar.update(task, completed=done, total=total)
            bar.console.print(line(done, total, trial))

        yield on_trial


def _report(result, out: Path, *, resumed: bool) -> None:
    """The leaderboard and what happened, after a sweep ran."""
    from neuralab.sweep.study import STUDY_FILE

    _print_table(result, title=f"sweep over {', '.join(result.varied)}: "
                               f"{_score(result.scoring)}, {_how(result.scoring)}")
    read_back = f" ({result.resumed} finished before this run)" if resumed and result.resumed else ""
    typer.echo(f"{_counts(result)}{read_back}; all in {out / 'sweep.csv'}")
    # --resume keeps the folder's files (and reads its own study.journal unless --storage is
    # given); the leaderboard is read from the study wherever it is
    again = f"--resume {out}"
    board = (f"--resume {out}" if result.storage == f"journal:{out / STUDY_FILE}" else
             f"--storage {result.storage.removeprefix('journal:')} --study {result.study}")
    if result.interrupted:
        typer.echo(f"sweep interrupted: {len(result.trials)} of {result.total} trials are done and "
                   f"saved in the study; nothing was retrained; to run the rest, repeat the "
                   f"command with {again}", err=True)
        raise typer.Exit(130)
    if result.pending:
        typer.echo(f"{result.pending} trials are still waiting or running in other workers; the "
                   f"worker that finishes last retrains the best; see the leaderboard with "
                   f"neuralab sweep {board} --show")
        return
    if result.best_error:
        raise NeuralabError(f"no best run: {result.best_error}")
    best = result.best_run
    if best.interrupted:
        typer.echo(f"sweep's best trial: retraining interrupted after {best.fit.steps} steps and "
                   f"saved in {out / 'best'} as an interrupted run; every trial is in {out}; "
                   f"to retrain it, repeat the command with {again}", err=True)
        raise typer.Exit(130)
    if best.settings.task == "regression":
        parts = [f"{k} R^2 {m['r2']:.4f} (MSE {m['mse']:.4g})" for k, m in best.metrics.items()
                 if k in ("train", "test")]
        typer.echo(f"best trial retrained on all training data: {', '.join(parts)}; run written "
                   f"to {out / 'best'}")
        return
    test = "" if best.test_accuracy is None else f", test accuracy {percent(best.test_accuracy)}"
    typer.echo(f"best trial retrained on all training data: train accuracy "
               f"{percent(best.train_accuracy)}{test}; run written to {out / 'best'}")
