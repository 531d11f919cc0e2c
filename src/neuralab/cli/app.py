"""The command line's app and what its commands share: options, settings as flags, messages.

A user error (a bad value, a missing file, malformed data) prints one line that
names what was wrong and exits with status 2, with no traceback unless --debug.
"""

from __future__ import annotations

import contextlib
import functools
from inspect import Parameter, signature
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from neuralab import NeuralabError

app = typer.Typer(
    name="neuralab",
    help="A neural-network lab: the lecture's experiment, training runs and gradient checks.",
    add_completion=False,
    pretty_exceptions_enable=False,
    no_args_is_help=True,
)

_DEBUG = False


@app.callback()
def _root(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")] = False,
) -> None:
    global _DEBUG
    _DEBUG = debug


def console():
    """A rich console; piped output gets a wide page instead of rich's 80 columns."""
    from rich.console import Console

    return Console() if sys.stdout.isatty() else Console(width=160)


def percent(x) -> str:
    return "-" if x is None else f"{100 * x:.1f} %"


Out = Annotated[Optional[Path], typer.Option("--out", "-o", help="Run directory to write (default: a new folder under runs/).")]
Seed = Annotated[int, typer.Option("--seed", "-s", min=0, help="Seed for data, initial weights and shuffling.")]
Backend = Annotated[str, typer.Option("--backend", help="numpy (the engine) or torch (its PyTorch twin).")]
Overwrite = Annotated[bool, typer.Option("--overwrite", help="Allow writing into a non-empty --out folder.")]


#: The short flags of settings; every other flag is ``--`` and the setting's name with dashes.
SHORT_FLAGS = {"model": "-m", "activation": "-a", "iterations": "-n", "batch_size": "-b",
               "seed": "-s"}
_CLI_TYPES = {"int": int, "float": float, "choice": str, "int_list": list[int], "bool": bool,
              "choice_list": str}


@contextlib.contextmanager
def exits_130_on_abandoned_write():
    """A second Ctrl-C that abandoned a write: one line saying what stayed, exit status 130."""
    from neuralab.runs import WriteInterrupted

    try:
        yield
    except WriteInterrupted as exc:
        typer.echo(f"neuralab: {exc}", err=True)
        raise typer.Exit(130) from None


def flag(name: str) -> str:
    """The command-line flag of a setting: ``batch_size`` -> ``--batch-size``."""
    return "--" + name.replace("_", "-")


def _setting_option(s) -> Parameter:
    """A typer option for a setting of :mod:`neuralab.config`, None when not given."""
    decls = [f"{flag(s.name)}/--no-{flag(s.name)[2:]}" if s.kind == "bool" else flag(s.name)]
    decls += [SHORT_FLAGS[s.name]] if s.name in SHORT_FLAGS else []
    default = s.default if not isinstance(s.default, tuple) else " ".join(map(str, s.default))
    extra = {"choice": f" One of {', '.join(s.choices)}.",
             "choice_list": f" Comma-separated, from {', '.join(s.choices)}."}.get(s.kind, "")
    shown = "" if default is None else f" Default: {str(default).lower() if s.kind == 'bool' else default}."
    option = typer.Option(*decls, help=f"{s.help}{extra}{shown}", show_default=False,
                          rich_help_panel=f"{s.group.capitalize()} settings")
    return Parameter(s.name, Parameter.KEYWORD_ONLY, default=None,
                             annotation=Annotated[Optional[_CLI_TYPES[s.kind]], option])


def with_settings(surface: str):
    """Add an option for every setting ``surface`` offers; the command gets the given ones.

    The wrapped command receives ``settings``: a dict of the settings the user
    gave (the rest keep the schema's defaults), still to be checked by
    :mod:`neuralab.config`.
    """
    from neuralab.config import settings_for

    declared = [s for s in settings_for(surface)]

    def decorate(fn):
        sig = signature(fn, eval_str=True)
        own = [p for p in sig.parameters.values() if p.name != "settings"]
        taken = {p.name for p in own}
        added = [_setting_option(s) for s in declared if s.name not in taken]

        @functools.wraps(fn)
        def command(**kwargs):
            given = {p.name: kwargs.pop(p.name) for p in added}
            return fn(settings={k: v for k, v in given.items() if v is not None}, **kwargs)

        command.__signature__ = sig.replace(parameters=own + added)
        del command.__wrapped__
        return command

    return decorate


def check_data_options(dataset, data, target, test_data, settings: dict) -> None:
    """The options that exclude each other, refused before any data is read."""
    if (dataset is None) == (data is None):
        raise NeuralabError("give exactly one of --dataset NAME and --data FILE")
    if target is not None and data is None:
        raise NeuralabError("--target needs --data FILE")
    if test_data is not None and settings.get("test_fraction") is not None:
        raise NeuralabError("give --test-data or --test-fraction, not both")
    if settings.get("model") == "linear" and settings.get("hidden"):
        raise NeuralabError(f"--model linear has no hidden layers, got --hidden {settings['hidden']}")


def training_data(dataset: str | None, data: Path | None, target: str | None,
                   data_dir: Path | None, seed: int, task: str = "classification"):
    """The data of --dataset NAME or --data FILE, and the spec config.json records for it.

    ``task`` regression reads a file's target column as numbers.
    """
    from neuralab.data import load, load_file

    if dataset:
        extra = {"data_dir": str(Path(data_dir).resolve())} if data_dir else {}
        return (load(dataset, seed=seed, **extra),
                {"kind": "registry", "name": dataset, "seed": seed, "options": extra})
    return (load_file(data, target=target, task=task),
            {"kind": "file", "path": str(Path(data).resolve()), "target": target})


RunDir = Annotated[Path, typer.Argument(help="A run directory written by train or demo.")]


def stamped(run_dir: Path, kind: str, label: str) -> Path:
    import time

    return run_dir / kind / f"{time.strftime('%Y%m%d-%H%M%S')}-{label}"


def labelled_data(dataset: str | None, data: Path | None, target: str | None, split: str,
                   data_dir: Path | None):
    """A Dataset from --dataset NAME [--split] or --data FILE [--target]."""
    from neuralab.data import load, load_file

    if (dataset is None) == (data is None):
        raise NeuralabError("give exactly one of --dataset NAME and --data FILE")
    if data is not None:
        return load_file(data, target=target)
    loaded = load(dataset, seed=0, **({"data_dir": str(data_dir)} if data_dir else {}))
    if split == "test":
        if getattr(loaded, "test", None) is None:
            raise NeuralabError(f"data set {dataset} has no test part of its own; use --split train")
        return loaded.test
    if split != "train":
        raise NeuralabError(f"split must be one of train, test; got {split!r}")
    return loaded


DataDir = Annotated[Optional[Path], typer.Option("--data-dir", help="Folder of IDX files for fashion_mnist / mnist.")]


def offending_value(exc, args: list[str]) -> str | None:
    """The value the user gave for the option that the parser refused, if any."""
    opts = getattr(getattr(exc, "param", None), "opts", None) or []
    value = None
    for i, arg in enumerate(args):
        for opt in opts:
            if arg == opt and i + 1 < len(args):
                value = args[i + 1]
            elif arg.startswith(opt + "="):
                value = arg.split("=", 1)[1]
    return value


def flags_named(message: str, settings) -> str:
    """``message`` with each of ``settings`` named as a word shown as its flag."""
    import re

    return re.sub(r"\b(" + "|".join(map(re.escape, settings)) + r")\b",
                  lambda m: flag(m.group(1)), message)


def flag_message(exc: NeuralabError) -> str:
    """The error's message, with the argument's name at its start shown as its flag."""
    from neuralab import ArgumentError

    message = str(exc)
    if isinstance(exc, ArgumentError):
        if message.startswith(exc.argument + " "):
            message = flag(exc.argument) + message[len(exc.argument):]
        if exc.hint:
            message = message.replace(f"set {exc.hint}", f"pass {flag(exc.hint)}")
    return message
