"""Issue 14's command-line polish: version, completion, --help, progress, toys, retrieve, max-fpr."""

import json
import os
import re
import subprocess
import sys
import warnings

import numpy as np
import pytest


class _FakeProgress:
    """Stands in for rich.progress.Progress and records every bar a command started."""

    started: list = []

    def __init__(self, *columns, console=None, **kwargs):
        from rich.console import Console

        self.console = console or Console(file=sys.stderr)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return None

    def add_task(self, description, total=None, **fields):
        _FakeProgress.started.append(description)
        return 0

    def update(self, task, **kwargs):
        pass

    def refresh(self):
        pass


@pytest.fixture
def bars(monkeypatch):
    """The descriptions of the progress bars started (call ``terminal()`` in the test first)."""
    import rich.progress

    _FakeProgress.started = []
    monkeypatch.setattr(rich.progress, "Progress", _FakeProgress)
    return _FakeProgress.started


def _as_terminal(monkeypatch):
    # capsys swaps sys.stdout when the test starts: patch the stream the commands see
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True, raising=False)


def test_version_and_python_m(cli):
    from neuralab import __version__

    code, out, _ = cli("--version")
    assert code == 0 and out.strip() == f"neuralab {__version__}"
    done = subprocess.run([sys.executable, "-m", "neuralab", "--version"], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == f"neuralab {__version__}"


def test_shell_completion_is_offered(cli, capsys):
    from neuralab.cli import main

    with pytest.raises(SystemExit) as exited:  # typer's completion exits by itself
        main(["--show-completion", "bash"])
    assert exited.value.code == 0 and "_neuralab_completion" in capsys.readouterr().out
    code, out, _ = cli("--help")
    assert "--install-completion" in out


def _help(command: str) -> str:
    env = {"COLUMNS": "80", "PATH": "/usr/bin:/bin", "TERM": "dumb"}
    done = subprocess.run([sys.executable, "-m", "neuralab", command, "--help"], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_train_help_has_panels_whole_words_and_no_bool():
    from neuralab.config import settings_for

    text = _help("train")
    assert "<bool>" not in text and "<str>" not in text
    panels = re.findall(r"╭─ (\w[\w ]*?) ─", text)
    assert panels == ["Data", "Model", "Optimisation", "Evaluation", "Backend", "Output"]
    # every word of every setting's help stands whole on one line of the page
    words = set(re.sub(r"[│╭╮╰╯─]", " ", text).split())
    for s in settings_for("train"):
        for word in s.help.split():
            assert word in words, f"{s.name}: {word!r} is cut in --help"
    assert max(len(line) for line in text.splitlines()) <= 80


def test_progress_bars_on_a_terminal_only_and_not_with_quiet(cli, bars, tmp_path, monkeypatch):
    code, _, err = cli("train", "--dataset", "xor", "--n-per-class", "20", "-n", "20",
                       "--model", "linear", "--out", tmp_path / "piped")
    assert code == 0 and not bars  # not a terminal: no bar
    _as_terminal(monkeypatch)
    code, _, err = cli("train", "--dataset", "xor", "--n-per-class", "20", "-n", "20",
                       "--model", "linear", "--out", tmp_path / "a")
    assert code == 0, err
    assert bars, "train showed no progress bar on a terminal"
    bars.clear()
    code, _, err = cli("train", "--dataset", "xor", "--n-per-class", "20", "-n", "20",
                       "--model", "linear", "--quiet", "--out", tmp_path / "b")
    assert code == 0 and not bars
    code, _, err = cli("evaluate", tmp_path / "a")
    assert code == 0 and any("evaluating" in b for b in bars)
    bars.clear()
    code, _, err = cli("evaluate", tmp_path / "a", "--quiet")
    assert code == 0 and not bars


def test_train_bar_shows_loss_and_eta():
    from rich.progress import TimeRemainingColumn

    from neuralab.train_log import _RichBar

    bar = _RichBar(10, "training")
    columns = bar.progress.columns
    assert any(isinstance(c, TimeRemainingColumn) for c in columns)
    assert any("loss" in getattr(c, "text_format", "") for c in columns)


def test_spiral_says_why_its_numbers_differ_from_the_lecture(cli, tmp_path):
    code, out, err = cli("train", "--dataset", "spiral", "--model", "linear", "-n", "5", "-q",
                         "--out", tmp_path / "a")
    assert code == 0, err
    assert "--no-standardize for their numbers" in out
    code, out, err = cli("train", "--dataset", "spiral", "--model", "linear", "-n", "5", "-q",
                         "--no-standardize", "--out", tmp_path / "b")
    assert code == 0 and "--no-standardize" not in out


def test_spiral_without_standardising_gives_the_demos_numbers(tmp_path):
    from neuralab.config import TrainSettings
    from neuralab.data import load
    from neuralab.lab import run_training

    settings = TrainSettings(model="linear", standardize=False)
    run = run_training(load("spiral", seed=0), settings, out=None, print_every=None, echo=None,
                       progress=False)
    # the demo's linear row (README): loss 0.7472, train accuracy 53.3 %
    assert run.final_loss == pytest.approx(0.7472, abs=5e-5)
    assert run.train_accuracy == pytest.approx(0.533, abs=1e-3)


def test_toy_options_are_recorded_and_reloaded(cli, tmp_path):
    run = tmp_path / "moons"
    code, out, err = cli("train", "--dataset", "moons", "--n-per-class", "40", "--noise", "0.4",
                         "-n", "30", "--model", "linear", "--test-fraction", "0.25", "-q",
                         "--out", run)
    assert code == 0, err
    config = json.loads((run / "config.json").read_text())
    assert config["data"]["spec"]["options"] == {"n_per_class": 40, "noise": 0.4}
    assert config["data"]["train_shape"] == [60, 2]
    code, out, err = cli("evaluate", run, "--quiet")
    assert code == 0, err
    assert re.search(r"test\s*│\s*20\b", out), out
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["test"]["accuracy"] < 1.0  # noisy moons are not trivially separable


@pytest.mark.parametrize("args, message", [
    (["--dataset", "moons", "--classes", "3"],
     "--classes does not apply to data set moons; it applies to spiral, gaussian; got --classes 3"),
    (["--dataset", "spiral", "--noise", "20"], "--noise must be a number in [0, 10], got 20.0"),
    (["--dataset", "spiral", "--n-per-class", "0"], "--n-per-class must be an integer from 1"),
    (["--data", "x.csv", "--noise", "0.1"], "--noise applies to a generated --dataset"),
])
def test_toy_options_are_checked_where_they_enter(cli, tmp_path, args, message):
    code, _, err = cli("train", *args, "--out", tmp_path / "r")
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert message in err


def test_retrieve_searches_the_held_out_split_by_default(cli, spiral_run, tmp_path):
    code, out, err = cli("retrieve", spiral_run.run_dir, "--label", "1", "--out", tmp_path / "r")
    assert code == 0, err
    assert "the run's test split (60" in out and "warning" not in err
    summary = json.loads((tmp_path / "r" / "retrieval.json").read_text())
    assert summary["n_items"] == 60
    code, out, err = cli("retrieve", spiral_run.run_dir, "--label", "1", "--split", "train",
                         "--out", tmp_path / "t")
    assert code == 0, err
    assert "neuralab: warning: searching the run's training split" in err


def test_max_fpr_warns_on_too_few_negatives_and_prints_digits():
    from neuralab.cli.runs import threshold_text
    from neuralab.metrics import UndefinedMetricWarning, threshold_for_fpr
    from neuralab.metrics.thresholds import TooFewNegativesWarning

    y = np.array([0] * 8 + [1] * 8)
    s = np.linspace(0.1, 0.99995, 16)
    with pytest.warns(TooFewNegativesWarning, match="the val split has only 8 negatives, too few "
                                                    "to estimate a false positive rate of 0.01"):
        threshold_for_fpr(y, s, max_fpr=0.01, where="the val split")
    with warnings.catch_warnings():
        warnings.simplefilter("error", UndefinedMetricWarning)
        threshold_for_fpr(y, s, max_fpr=0.125)  # 8 negatives estimate 1/8
    assert threshold_text(0.99995) == "0.99995"
    assert threshold_text(0.999999871) == "0.9999999"
    assert threshold_text(0.25) == "0.25" and threshold_text(1.0) == "1"


def test_imbalance_warning_reads_well():
    from neuralab.lab import ImbalanceWarning, warn_if_unbalanced

    with pytest.warns(ImbalanceWarning) as caught:
        warn_if_unbalanced(np.array([0] * 148 + [1] * 5), ["0", "1"])
    text = str(caught[0].message)
    assert "'s" not in text and "under 10% of the 148 of class '0'" in text


def test_figures_colour_classes_as_the_playground():
    from matplotlib.colors import to_hex

    from neuralab import plots
    from neuralab.playground.frames import VALUE_COLOURS

    assert VALUE_COLOURS == plots.VALUE_COLOURS
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(3), 10)
    probs = rng.dirichlet(np.ones(3), size=30)
    for figure in (plots.roc_figure, plots.pr_figure):
        fig = figure(y, probs, ["a", "b", "c"])
        colours = [to_hex(line.get_color()) for ax in fig.axes for line in ax.get_lines()]
        assert colours[:3] == plots.CLASS_COLOURS[:3], figure.__name__
    X = rng.normal(size=(30, 2))
    fig = plots.boundary_figure(lambda G: np.tile([0.2, 0.3, 0.5], (len(G), 1)), X, y)
    faces = [to_hex(c.get_facecolor()[0]) for c in fig.axes[0].collections]
    assert faces[:3] == plots.CLASS_COLOURS[:3]


def test_the_train_bar_is_redrawn_by_the_loop_at_most_four_times_a_second(monkeypatch):
    """No refresh thread takes the interpreter from the training loop: the loop's updates
    redraw the bar, at most every REFRESH_SECONDS of the clock."""
    import io
    import threading

    from rich.console import Console

    from neuralab import train_log

    clock = [0.0]
    monkeypatch.setattr(train_log.time, "monotonic", lambda: clock[0])
    bar = train_log._RichBar(100, "training")
    bar.progress.live.console = Console(file=io.StringIO(), force_terminal=True, width=80)
    drawn = []
    refresh = bar.progress.refresh
    monkeypatch.setattr(bar.progress, "refresh", lambda: drawn.append(clock[0]) or refresh())
    before = threading.active_count()
    with bar:
        assert threading.active_count() == before
        for k in range(1, 21):
            clock[0] = k / 10
            bar.update(k * 5, 0.5)
    assert drawn[0] == 0.0  # on entry
    gaps = [b - a for a, b in zip(drawn, drawn[1:])]
    assert gaps and min(gaps) >= train_log._RichBar.REFRESH_SECONDS
    assert len(drawn) == 1 + 20 // 3  # 0.3 s apart with updates every 0.1 s
    # rich's task is told the count only when the bar is redrawn: what the last redraw showed
    assert bar.progress.tasks[0].completed == 90  # at 1.8 s


@pytest.mark.parametrize("args, status", [(["datasets"], 0), (["train", "--dataset", "nope"], 2)])
def test_the_program_leaves_with_main_s_status_and_every_line_written(cli, args, status):
    """`neuralab` ends its process without the interpreter's teardown (neuralab.cli.run):
    what main printed reaches a pipe whole, and the status is main's."""
    code, out, err = cli(*args)
    done = subprocess.run([sys.executable, "-m", "neuralab", *args], capture_output=True,
                          text=True, timeout=120)
    assert code == status and done.returncode == status
    assert done.stdout == out and done.stderr == err



def _program_sets(name: str, given: str | None, main_body: str) -> list[str]:
    """What ``main_body`` (the lines of a ``main`` run by :func:`neuralab.cli.run`) prints
    when ``name`` is ``given`` in the environment (None: absent), split into words."""
    env = {k: v for k, v in os.environ.items() if k != name}
    if given is not None:
        env[name] = given
    probe = ("import os, sys, neuralab.cli as c\n"
             "def main():\n" + "".join(f"    {line}\n" for line in main_body.splitlines())
             + "    return 0\n"
             "c.main = main\n"
             "c.run()\n")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


@pytest.mark.parametrize("given, pages", [(None, "0"), ("1", "1")])
def test_the_program_gives_numpy_small_pages_unless_told(given, pages):
    """`neuralab` sets NUMPY_MADVISE_HUGEPAGE=0 before NumPy loads (neuralab.cli.SMALL_PAGES),
    so NumPy asks for no transparent huge pages; a value in the environment is kept."""
    value, seen = _program_sets("NUMPY_MADVISE_HUGEPAGE", given, (
        "assert 'numpy' not in sys.modules\n"
        "import numpy._core.multiarray as m\n"
        "seen = getattr(m, '_get_madvise_hugepage', lambda: None)()\n"
        "print(os.environ['NUMPY_MADVISE_HUGEPAGE'], seen)"))
    assert value == pages
    if seen != "None":  # NumPy's own answer, where it offers one
        assert seen == str(pages == "1")


@pytest.mark.parametrize("given, lean", [(None, "1"), ("", "")])
def test_the_program_imports_matplotlib_lean_unless_told(given, lean):
    """`neuralab` sets NEURALAB_LEAN_MATPLOTLIB (neuralab.cli.LEAN_MATPLOTLIB): it shows no
    help of matplotlib's artists; a value in the environment, even empty, is kept."""
    import matplotlib

    from neuralab import plots

    printed = _program_sets(plots.LEAN, given, (
        "from neuralab import plots\n"
        "plots.preload()\n"
        "from matplotlib.lines import Line2D\n"
        "print(repr(os.environ[plots.LEAN]), Line2D.set.__doc__ is None)"))
    version = tuple(int(p) for p in matplotlib.__version__.split(".")[:2])
    checked = plots.LEAN_VERSIONS[0] <= version < plots.LEAN_VERSIONS[1]
    assert printed == [repr(lean), str(bool(lean) and checked)]


def test_a_data_set_loads_beside_the_writings_imports_with_quick_handovers():
    """`train` reads its data in a thread while matplotlib is imported: the interpreter
    hands over every LOADER_SWITCH_SECONDS meanwhile (the inflater gets it back at once
    after each piece), and the interval is as it was afterwards, also after an error."""
    from neuralab.cli import runs

    before = sys.getswitchinterval()
    seen = []

    def load(x):
        seen.append(sys.getswitchinterval())
        if x == "bad":
            raise ValueError("bad data")
        return x * 2

    assert runs.beside_writing_imports(load, 21) == 42
    with pytest.raises(ValueError, match="bad data"):
        runs.beside_writing_imports(load, "bad")
    assert seen == pytest.approx([runs.LOADER_SWITCH_SECONDS] * 2)  # held in microseconds
    assert runs.LOADER_SWITCH_SECONDS < before
    assert sys.getswitchinterval() == before
