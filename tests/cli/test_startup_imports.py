"""What the quick commands load: `--help`, `datasets` and `predict --point` start in a
fraction of a second because they import neither the heavy libraries (torch,
scikit-learn, scipy, matplotlib, the playground's server, the report's templates) nor,
for `--help` and `datasets`, numpy; nor pydantic, nor what typer's help renderer would
import and not use. Each command runs in a fresh interpreter, which writes the names in
``sys.modules`` at exit; no timing is asserted.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

#: imported only by the commands that use them (train, plots, metrics, the torch backend, ...)
HEAVY = {"torch", "sklearn", "scipy", "matplotlib", "optuna", "starlette", "uvicorn", "jinja2",
         "tensorboardX", "pandas"}

#: runs ``neuralab ARGS`` as the console script does, then writes sys.modules' names to a file
#: (as it leaves: through os._exit, as neuralab.cli.run does, or at the interpreter's exit)
RUNNER = """
import atexit, json, os, runpy, sys
out = sys.argv.pop(1)
def write():
    with open(out, "w") as f:
        f.write(json.dumps(sorted(sys.modules)))
leave = os._exit
os._exit = lambda code: (write(), leave(code))
atexit.register(write)
sys.argv[0] = "neuralab"
runpy.run_module("neuralab", run_name="__main__", alter_sys=True)
"""


#: neither is a heavy library, but each costs start-up time that these commands do not need:
#: pydantic (which typer 0.29 coerces every parameter with), and the modules typer's help
#: renderer imports for help in Markdown and for pretty tracebacks
NOT_AT_START = {"pydantic", "markdown_it", "rich.markdown", "rich.traceback"}


def loaded_by(tmp_path, *args, before: str = "") -> tuple[set[str], str]:
    """The packages ``neuralab ARGS`` imported (top level, and the names of
    :data:`NOT_AT_START` in full), and its output; it must succeed. ``before`` is run first."""
    where = tmp_path / "modules.json"
    done = subprocess.run([sys.executable, "-c", before + RUNNER, str(where), *map(str, args)],
                          capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert done.returncode == 0, done.stderr
    names = set(json.loads(where.read_text()))
    return {name.split(".")[0] for name in names} | (names & NOT_AT_START), done.stdout


@pytest.mark.parametrize("args, shows", [(["--help"], "Usage: neuralab"),
                                         (["train", "--help"], "--dataset"),
                                         (["datasets"], "fashion_mnist")])
def test_help_and_datasets_load_neither_numpy_nor_a_heavy_library(tmp_path, args, shows):
    loaded, out = loaded_by(tmp_path, *args)
    assert shows in out
    assert "neuralab" in loaded and "typer" in loaded  # the command really ran
    assert not (HEAVY | NOT_AT_START | {"numpy"}) & loaded, \
        sorted((HEAVY | NOT_AT_START | {"numpy"}) & loaded)


@pytest.mark.parametrize("args", [["--help"], ["train", "--help"], ["sweep", "--help"]])
def test_help_reads_the_same_with_the_renderers_unused_modules_loaded(tmp_path, args):
    # the help renderer gets stand-ins for rich.markdown and rich.traceback; with the real
    # modules already imported it uses those, and the page must not differ by a byte
    lean = loaded_by(tmp_path, *args)[1]
    full = loaded_by(tmp_path, *args, before="import rich.markdown, rich.traceback\n")[1]
    assert "Usage: neuralab" in lean and "--help" in lean
    assert lean == full


def test_the_help_renderers_stand_ins_give_the_real_classes():
    # in a fresh interpreter: the stand-ins leave sys.modules once the renderer is imported,
    # and each builds the real thing when used
    script = """
import sys
from neuralab.cli.app import HELP_UNUSED, load_help_renderer
load_help_renderer()
import typer.rich_utils as renderer
assert not set(HELP_UNUSED) & set(sys.modules), sorted(sys.modules)
made = renderer.Markdown("# title")
import rich.markdown, rich.traceback
assert type(made) is rich.markdown.Markdown
assert renderer.Traceback.from_exception.__self__ is rich.traceback.Traceback
try:
    raise ValueError("x")
except ValueError as exc:
    shown = renderer.Traceback.from_exception(type(exc), exc, exc.__traceback__)
assert isinstance(shown, rich.traceback.Traceback)
print("ok")
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr


def test_predict_a_point_loads_numpy_and_the_checkpoint_but_no_heavy_library(tmp_path, spiral_run):
    loaded, out = loaded_by(tmp_path, "predict", spiral_run.run_dir, "--point", "0.3,-0.5",
                            "--label", "1")
    assert "predicted class: " in out and "-log p(1)" in out
    assert {"numpy", "safetensors"} <= loaded
    assert not (HEAVY | NOT_AT_START) & loaded, sorted((HEAVY | NOT_AT_START) & loaded)


def _command_names(typer_app) -> list[str]:
    import typer.main

    return [c.name or typer.main.get_command_name(c.callback.__name__)
            for c in typer_app.registered_commands]


def _outlined(typer_app) -> bool:
    """Whether every command of the app is a stand-in (name and help only)."""
    return all(c.callback.__name__ == "outlined" for c in typer_app.registered_commands)


def test_a_command_builds_the_parser_of_that_command_alone(monkeypatch):
    from neuralab.cli.app import app

    monkeypatch.delenv("_NEURALAB_COMPLETE", raising=False)
    every = _command_names(app)
    assert {"train", "datasets", "export", "sweep"} <= set(every)
    for args, holds in [(["datasets"], ["datasets"]),
                        (["--debug", "train", "--lr", "abc"], ["train"]),
                        (["export", "RUN", "--help"], ["export"]),  # a command named in full
                        (["train", "--version"], ["train"])]:  # train's args: it says no
        narrow = app.only(args)
        assert _command_names(narrow) == holds and not _outlined(narrow), args
    # no command runs: every command in outline, for the app's own --help or error
    for args in [[], ["--help"], ["--version"], ["nosuch"], ["--debug"],
                 ["--help", "train"], ["--version", "datasets"], ["--show-completion", "train"]]:
        outline = app.only(args)
        assert _command_names(outline) == every and _outlined(outline), args
    assert _command_names(app) == every and not _outlined(app)  # the app itself is left whole


def test_the_shell_asking_for_completions_gets_every_command_whole(monkeypatch):
    from neuralab.cli.app import app

    monkeypatch.setenv("_NEURALAB_COMPLETE", "complete_bash")
    assert app.only([]) is app


def test_a_command_in_outline_fails_if_ever_called():
    from neuralab.cli.app import app

    info = app.outline().registered_commands[0]
    with pytest.raises(RuntimeError, match="outline only"):
        info.callback()


@pytest.mark.parametrize("args", [["train", "--help"], ["sweep", "--help"], ["datasets"],
                                  ["--help"], ["--version"], ["nosuch"]])
def test_a_command_reads_the_same_from_its_own_parser_as_from_the_whole_app(args):
    # what the narrowed app or the outline prints (help included) is the whole app's,
    # byte for byte, an error's message and status too
    from typer.testing import CliRunner

    from neuralab.cli.app import app

    runner = CliRunner()
    whole = runner.invoke(app, args, prog_name="neuralab", env={"COLUMNS": "120"})
    narrow = runner.invoke(app.only(args), args, prog_name="neuralab", env={"COLUMNS": "120"})
    assert whole.exit_code == narrow.exit_code == (2 if args == ["nosuch"] else 0), (
        whole.output, narrow.output)
    assert narrow.output == whole.output


def test_the_apps_help_lists_every_command_with_a_command_named_after_it():
    """``neuralab --help train`` is the app's help (typer acts on --help first): every
    command listed, not train alone."""
    from typer.testing import CliRunner

    from neuralab.cli.app import app

    runner = CliRunner()
    plain = runner.invoke(app, ["--help"], prog_name="neuralab", env={"COLUMNS": "120"})
    named = runner.invoke(app.only(["--help", "train"]), ["--help", "train"], prog_name="neuralab",
                          env={"COLUMNS": "120"})
    assert named.exit_code == plain.exit_code == 0
    assert named.output == plain.output
    assert all(f" {name} " in named.output for name in _command_names(app))
