"""The command line's app and what its commands share: options, settings as flags, messages.

A user error (a bad value, a missing file, malformed data) prints one line that
names what was wrong and exits with status 2, with no traceback unless --debug.
"""

from __future__ import annotations

import contextlib
import copy
import functools
from inspect import Parameter, getdoc, signature
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Optional

import typer

from neuralab import NeuralabError

from typer.core import TyperCommand, TyperGroup

#: The panels of a command's --help, in the order they appear; a setting's ``group`` maps to one.
DATA, MODEL, OPTIMISATION, EVALUATION, BACKEND, OUTPUT = (
    "Data", "Model", "Optimisation", "Evaluation", "Backend", "Output")
PANEL_OF_GROUP = {"data": DATA, "pitfalls": DATA, "model": MODEL, "optimiser": OPTIMISATION,
                  "training": OPTIMISATION, "evaluation": EVALUATION, "backend": BACKEND}
#: The value names --help shows for the settings' kinds (a flag shows none).
METAVARS = {"int": "N", "float": "F", "choice": "NAME", "int_list": "N", "choice_list": "LIST"}


_PANEL_ORDER = (DATA, MODEL, OPTIMISATION, EVALUATION, BACKEND, OUTPUT)


def _tidy_help(command, ctx, params: list) -> list:
    """Flags show no ``<bool>``; where a command groups its options, the panels come in
    :data:`_PANEL_ORDER` and --help joins Output."""
    for p in params:
        if getattr(p, "is_flag", False) and p.metavar is None:
            p.metavar = ""
    help_option = command.get_help_option(ctx)
    if help_option is not None and any(getattr(p, "rich_help_panel", None) for p in params):
        help_option.rich_help_panel = OUTPUT
    rank = {name: i for i, name in enumerate(_PANEL_ORDER)}
    return sorted(params, key=lambda p: rank.get(getattr(p, "rich_help_panel", None), -1))


#: What typer's help renderer (``typer.rich_utils``) imports at its top but uses only for
#: help written in Markdown and for pretty tracebacks, neither of which neuralab's app uses:
#: module -> the one name taken from it. Importing the two (rich.markdown brings the
#: markdown_it parser) cost ``neuralab --help`` about 0.08 s of its 0.21 s.
HELP_UNUSED = {"rich.markdown": "Markdown", "rich.traceback": "Traceback"}


class _Deferred(type):
    """The class of a stand-in for ``module.name`` (:data:`HELP_UNUSED`): calling the
    stand-in, or reading an attribute of it, imports the real class and uses that."""

    def real(cls):
        import importlib

        return getattr(importlib.import_module(cls.home), cls.__name__)

    def __call__(cls, *args, **kwargs):
        return cls.real()(*args, **kwargs)

    def __getattr__(cls, attr):
        return getattr(cls.real(), attr)


def load_help_renderer() -> None:
    """Import typer's help renderer, with stand-ins for the modules of :data:`HELP_UNUSED`.

    The stand-ins are in ``sys.modules`` only while the renderer is imported, so any
    later ``import rich.markdown`` gets the real module. What the renderer holds are
    classes of :class:`_Deferred`, which import the real ones if ever used.
    """
    from typer.core import HAS_RICH

    if not HAS_RICH or "typer.rich_utils" in sys.modules:  # TYPER_USE_RICH=0: plain help
        return
    import types

    placed = {}
    for module, name in HELP_UNUSED.items():
        if module not in sys.modules:
            placed[module] = types.ModuleType(module)
            setattr(placed[module], name, _Deferred(name, (), {"home": module}))
    sys.modules.update(placed)
    try:
        import typer.rich_utils  # noqa: F401
    finally:
        for module, stand_in in placed.items():
            if sys.modules.get(module) is stand_in:
                del sys.modules[module]


class _Help:
    """What the app's command and group share: the tidied options (:func:`_tidy_help`), and
    help rendered without the modules the renderer would not use (:func:`load_help_renderer`)."""

    def get_params(self, ctx) -> list:
        return _tidy_help(self, ctx, super().get_params(ctx))

    def format_help(self, ctx, formatter) -> None:
        load_help_renderer()
        return super().format_help(ctx, formatter)


class _Command(_Help, TyperCommand):
    pass


class _Group(_Help, TyperGroup):
    pass


class _App(typer.Typer):
    """The app; every command gets the tidied --help (:func:`_tidy_help`)."""

    def command(self, *args, cls=None, **kwargs):
        return super().command(*args, cls=cls or _Command, **kwargs)

    def only(self, args: Sequence[str]) -> typer.Typer:
        """The app holding only the command that ``args`` runs; where they run none, the
        app's :meth:`outline`.

        Typer builds the parser of every command an app holds, reading each one's
        signature and type hints (0.03-0.05 s for all of them, 0.08 s with --help's
        renderer at work) where one command runs, or none. The app's own options are
        flags, so the first word that is not an option names the command. None runs
        where there is no such word, where the word names no command (typer then
        suggests one), or where one of the app's own options that end the command line
        (:data:`_ENDS_LINE`: --help, --version, completion) comes before it.
        """
        at = next((i for i, a in enumerate(args) if not a.startswith("-")), len(args))
        chosen = [c for c in self.registered_commands
                  if at < len(args) and _command_name(c) == args[at]]
        if len(chosen) != 1 or any(a.split("=")[0] in _ENDS_LINE for a in args[:at]):
            return self if _completing() else self.outline()
        narrow = copy.copy(self)
        narrow.registered_commands = chosen
        return narrow

    def outline(self) -> typer.Typer:
        """The app with each command reduced to its name and help, which is all that the
        app's own --help lists of it: a parameterless stand-in callback that no command
        line can reach (the app's own options end it first), and that fails if called."""
        outline = copy.copy(self)
        outline.registered_commands = [_outlined(c) for c in self.registered_commands]
        return outline


#: the app's own options that end a command line before its command, if any, runs
_ENDS_LINE = ("--help", "--version", "--install-completion", "--show-completion")


def _command_name(info) -> str:
    return info.name or typer.main.get_command_name(info.callback.__name__)


def _completing() -> bool:
    """Whether the shell asks for completions (``_NEURALAB_COMPLETE`` and the like), which
    need every command's options."""
    import os

    return any(name.startswith("_") and name.endswith("_COMPLETE") for name in os.environ)


def _outlined(info):
    """A copy of a command's registration with its name and help, and a stand-in callback."""
    name = _command_name(info)

    def outlined() -> None:
        raise RuntimeError(f"{name!r} was registered in outline only, for the app's --help")

    copied = copy.copy(info)
    copied.name = name
    copied.help = info.help if info.help is not None else getdoc(info.callback)
    copied.callback = outlined
    return copied


app = _App(
    name="neuralab",
    help="A neural-network lab: the lecture's experiment, training runs and gradient checks.",
    cls=_Group,
    pretty_exceptions_enable=False,
    no_args_is_help=True,
)

_DEBUG = False


def _print_version(value: bool) -> None:
    if value:
        from neuralab import __version__

        typer.echo(f"neuralab {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")] = False,
    version: Annotated[Optional[bool], typer.Option(
        "--version", callback=_print_version, is_eager=True,
        help="Print neuralab's version and exit.")] = None,
) -> None:
    global _DEBUG
    _DEBUG = debug


def console():
    """A rich console; piped output gets a wide page instead of rich's 80 columns."""
    from rich.console import Console

    return Console() if sys.stdout.isatty() else Console(width=160)


def shows_progress(quiet: bool = False) -> bool:
    """Whether a command shows a progress bar: on a terminal, unless --quiet."""
    return not quiet and sys.stdout.isatty()


@contextlib.contextmanager
def working(description: str, quiet: bool = False):
    """A transient bar with the elapsed time while a command works (a terminal only, not --quiet).

    For the steps whose length the command cannot know beforehand (evaluate, explain);
    training and sweeps count their steps and trials instead.
    """
    if not shows_progress(quiet):
        yield
        return
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(),
                  transient=True) as bar:
        bar.add_task(description, total=None)
        yield


def percent(x) -> str:
    return "-" if x is None else f"{100 * x:.1f} %"


Out = Annotated[Optional[Path], typer.Option("--out", "-o", metavar="DIR", rich_help_panel=OUTPUT, help="Run directory to write (default: a new folder under runs/).")]
Seed = Annotated[int, typer.Option("--seed", "-s", min=0, help="Seed for data, initial weights and shuffling.")]
Backend = Annotated[str, typer.Option("--backend", help="numpy (the engine) or torch (its PyTorch twin).")]
Overwrite = Annotated[bool, typer.Option("--overwrite", rich_help_panel=OUTPUT, help="Allow writing into a non-empty --out folder.")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", rich_help_panel=OUTPUT, help="No progress bar; print only the result.")]
# the options of the data set to train on, shared by train and sweep
DatasetName = Annotated[Optional[str], typer.Option("--dataset", "-d", metavar="NAME", rich_help_panel=DATA, help="A registered data set (see `neuralab datasets`).")]
DataFile = Annotated[Optional[Path], typer.Option("--data", metavar="FILE", rich_help_panel=DATA, help="Your own CSV (header row) or NPZ (X, y) file.")]
DataDir = Annotated[Optional[Path], typer.Option("--data-dir", metavar="DIR", rich_help_panel=DATA, help="Folder of IDX files for fashion_mnist / mnist.")]
Target = Annotated[Optional[str], typer.Option("--target", metavar="COLUMN", rich_help_panel=DATA, help="CSV label column (default: the last).")]
NPerClass = Annotated[Optional[int], typer.Option("--n-per-class", metavar="N", rich_help_panel=DATA, help="Generated data: points per class (plane, gaussians: in all).")]
Noise = Annotated[Optional[float], typer.Option("--noise", metavar="F", rich_help_panel=DATA, help="Generated data: its noise (spiral 0.2, moons 0.1, circles and xor 0.05, gaussian 0.5).")]
Classes = Annotated[Optional[int], typer.Option("--classes", metavar="K", rich_help_panel=DATA, help="spiral, gaussian: how many classes (default 3).")]

#: The toys' generator options that the command line offers: flag -> generator option(s).
TOY_FLAGS = {"n_per_class": ("--n-per-class", ("n_per_class", "n_samples")),
             "noise": ("--noise", ("noise",)), "classes": ("--classes", ("n_classes",))}


def toy_options(dataset: str | None, given: dict) -> dict:
    """The generator options of --n-per-class, --noise, --classes for ``dataset``, each checked.

    ``given`` maps ``n_per_class``, ``noise``, ``classes`` to the values the user gave (None:
    not given). An option the data set does not take, or a value outside its range, is a
    one-line error naming the flag.
    """
    from neuralab.data.registry import REGISTRY, entry

    given = {k: v for k, v in given.items() if v is not None}
    if not given:
        return {}
    if dataset is None:
        raise NeuralabError(f"{TOY_FLAGS[next(iter(given))][0]} applies to a generated --dataset, "
                            "not to --data FILE")
    taken = entry(dataset).options
    options = {}
    for key, value in given.items():
        name, names = TOY_FLAGS[key]
        option = next((n for n in names if n in taken), None)
        if option is None:
            takers = [e.name for e in REGISTRY.values() if any(n in e.options for n in names)]
            raise NeuralabError(f"{name} does not apply to data set {dataset}; it applies to "
                                f"{', '.join(takers)}; got {name} {value}")
        try:
            options[option] = taken[option].check(value)
        except NeuralabError as exc:
            raise NeuralabError(name + str(exc).removeprefix(option)) from None
    return options


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
                          metavar=METAVARS.get(s.kind),
                          rich_help_panel=PANEL_OF_GROUP.get(s.group, s.group.capitalize()))
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
                   data_dir: Path | None, seed: int, task: str = "classification",
                   toys: dict | None = None):
    """The data of --dataset NAME or --data FILE, and the spec config.json records for it.

    ``task`` regression reads a file's target column as numbers; ``toys`` holds the
    values of --n-per-class, --noise and --classes (see :func:`toy_options`), which
    the spec records so that evaluate and resume make the same data again.
    """
    from neuralab.data import load, load_file

    generated = toy_options(dataset, toys or {})
    if dataset:
        extra = {"data_dir": str(Path(data_dir).resolve())} if data_dir else {}
        extra.update(generated)
        return (load(dataset, seed=seed, **extra),
                {"kind": "registry", "name": dataset, "seed": seed, "options": extra})
    return (load_file(data, target=target, task=task),
            {"kind": "file", "path": str(Path(data).resolve()), "target": target})


RunDir = Annotated[Path, typer.Argument(help="A run directory written by train or demo.")]


def stamped(run_dir: Path, kind: str, label: str) -> Path:
    """``RUN_DIR/kind/<time>-label``, with a suffix when a command of the same second made it."""
    from neuralab.runs.store import new_run_dir

    return new_run_dir(run_dir / kind, label)


def labelled_data(dataset: str | None, data: Path | None, target: str | None, split: str | None,
                  data_dir: Path | None, run_dir: Path | None = None):
    """The labelled items to search: (Dataset, what they are, a warning or None).

    With neither --dataset nor --data (or --dataset naming the run's own data set),
    the run's own splits, cut again as the run cut them: by default its held-out
    split (test, else val); its training split only when asked for, or when it has
    no other, and then with a warning. --dataset NAME of another data set: its own
    test part (the default, where it has one) or all of it (train); --data FILE: all of it.
    """
    from neuralab.data import Dataset, load, load_file

    if dataset is not None and data is not None:
        raise NeuralabError("give at most one of --dataset NAME and --data FILE")
    if data is not None:
        if split is not None:
            raise NeuralabError(f"--split picks a part of the run's data or of --dataset; "
                                f"--data {data} is searched whole; got --split {split}")
        return load_file(data, target=target), f"all of {data}", None
    own = None
    if run_dir is not None:
        from neuralab.runs import read_config

        spec = (read_config(run_dir).get("data") or {}).get("spec") or {}
        own = spec.get("name") if spec.get("kind") == "registry" else None
    if dataset is None or dataset == own:
        if run_dir is None:
            raise NeuralabError("give exactly one of --dataset NAME and --data FILE")
        return _run_split(run_dir, split, Dataset)
    loaded = load(dataset, seed=0, **({"data_dir": str(data_dir)} if data_dir else {}))
    has_test = getattr(loaded, "test", None) is not None
    if split not in (None, "train", "test"):
        raise NeuralabError(f"--split of another data set than the run's must be train or test; "
                            f"got {split!r}")
    if split == "test" or (split is None and has_test):
        if not has_test:
            raise NeuralabError(f"data set {dataset} has no test part of its own; use --split "
                                "train (all of it)")
        return loaded.test, f"the test part of {dataset}", None
    return loaded, f"all of {dataset}", None


def _run_split(run_dir: Path, split: str | None, Dataset):
    """The run's own split ``split`` (default: its held-out one) as a Dataset to search."""
    from neuralab.runs import load_run_data

    source = load_run_data(run_dir)
    splits = source.splits()
    if split is None:
        split = next((k for k in ("test", "val") if k in splits), "train")
    if split not in splits:
        raise NeuralabError(f"--split must be one of the run's splits {', '.join(splits)}; "
                            f"got {split!r}")
    part, data = splits[split], source.data
    items = Dataset(X=part.X, y=part.y, classes=list(data.classes), name=f"{data.name} {split}",
                    source=part.source, feature_names=list(data.feature_names),
                    image_shape=data.image_shape)
    warning = None
    if split == "train":
        held = "" if len(splits) > 1 else "; the run holds out no rows (train with --test-fraction)"
        warning = (f"searching the run's training split, the {len(part.y)} rows the model was "
                   f"fitted on: precision and recall there are optimistic{held}")
    return items, f"the run's {split} split ({len(part.y)} rows)", warning


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
