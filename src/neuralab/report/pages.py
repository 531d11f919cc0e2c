"""The two pages: a run's ``report.html`` and the demo's comparison page, from jinja2 templates.

The templates live in ``templates/`` beside this module and are rendered with
autoescaping on, so every text that comes from a run directory (names of classes,
features, files, the data's source) reaches the page as text, never as markup.
"""

from __future__ import annotations

import functools
from pathlib import Path
from urllib.parse import quote

import jinja2

from neuralab import NeuralabError
from neuralab.fileio import atomic_write
from neuralab.report.curve import curve
from neuralab.report.extras import evaluations_section, explain_section
from neuralab.report.figures import embed, embed_all, list_figures
from neuralab.report.formatting import (
    format_loss, format_number, format_percent, format_seconds, format_setting, format_sizes)
from neuralab.report.reading import dict_at, read_history, read_optional, read_required
from neuralab.report.scores import metrics_views
from neuralab.report.sections import (
    data_section, history_section, model_section, model_sizes, settings_section)
from neuralab.report.summary import summary, versions_line
from neuralab.report.tables import Cell, Table, header, help_for

REPORT = "report.html"
TEMPLATES = Path(__file__).parent / "templates"


@functools.cache
def environment() -> jinja2.Environment:
    """The templates' environment: autoescaping on; a key a section leaves out is falsy."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                             trim_blocks=True, lstrip_blocks=True)
    env.globals["help_for"] = help_for
    return env


def preload() -> None:
    """Compile the run page's templates now (:func:`render` finds them compiled)."""
    environment().get_template("run.html")


def render(template: str, **context) -> str:
    return environment().get_template(template).render(**context)


def load_run(run_dir: Path) -> tuple[dict, dict, dict | None, str | None]:
    """(config, metrics, model or None, why no model) of a run directory."""
    if not run_dir.is_dir():
        raise NeuralabError(f"cannot build a report: run directory {run_dir} does not exist")
    config = read_required(run_dir / "config.json")
    metrics = read_required(run_dir / "metrics.json")
    model, why = read_optional(run_dir / "model.json")
    return config, metrics, model, why


def render_report(run_dir: str | Path) -> str:
    """The HTML of a run directory's report (what :func:`build_report` writes)."""
    run_dir = Path(run_dir)
    config, metrics, model, why = load_run(run_dir)
    figures, explain_figures = list_figures(run_dir)
    history = read_history(run_dir / "history.csv")
    explain = explain_section(run_dir)
    if explain is not None or explain_figures:
        explain = {**(explain or {}), "figures": embed_all(explain_figures),
                   "captions": ", ".join(f.caption for f in explain_figures)}
    return render(
        "run.html", name=config.get("name") or run_dir.name, folder=run_dir.name,
        meta=versions_line(config), model_repr=dict_at(config, "model").get("repr"),
        summary=summary(config, metrics, model), settings=settings_section(config),
        data=data_section(config), model=model_section(config, model, why),
        history=history_section(history), curve=curve(history),
        splits=metrics_views(metrics, config, model), figures=embed_all(figures),
        explain=explain, evaluations=evaluations_section(run_dir))


def build_report(run_dir: str | Path) -> Path:
    """Write ``run_dir/report.html``: one self-contained page about the run.

    At the top a summary (data, model and training, the headline metrics of every
    split); then, in sections that fold: Settings, Data, Model, Training curve
    (drawn from history.csv, with a linear or log step axis), Metrics for every
    split (scalars, per-class table with macro and weighted averages, confusion
    matrix, operating point), Figures, and where the run has them Explain
    (explain.json and its figures) and Evaluations. Figures are embedded as base64
    PNG and open full size on click; nothing is loaded from the network.

    Raises NeuralabError when ``config.json`` or ``metrics.json`` is missing or not a
    JSON object; every other file is optional.
    """
    run_dir = Path(run_dir)
    return atomic_write(run_dir / REPORT, render_report(run_dir))


def run_link(run: str) -> str:
    """The relative link from the comparison page to a run's report.

    >>> run_link("mlp"), run_link("a b")
    ('mlp/report.html', 'a%20b/report.html')
    """
    return quote(Path(run).as_posix() + "/" + REPORT)


def comparison_row(run: str, config: dict, metrics: dict, model: dict | None) -> list[Cell]:
    """One run's line of the comparison table."""
    settings = dict_at(config, "settings")
    sizes = model_sizes(config, model)
    train, test = dict_at(metrics, "train"), dict_at(metrics, "test")
    label = settings.get("model") or dict_at(config, "model").get("repr")
    activation = (model or {}).get("activation") or settings.get("activation")
    if isinstance(sizes, list) and len(sizes) > 2 and activation:
        label = f"{label} ({activation})"
    link = run_link(run)
    return [Cell(str(config.get("name") or run), href=link),
            Cell(format_setting(label)),
            Cell(format_sizes(sizes)),
            Cell(format_number(config.get("steps", settings.get("iterations"))), num=True),
            Cell(format_loss(train.get("loss")), num=True),
            Cell(format_percent(train.get("accuracy")), num=True),
            Cell(format_percent(test.get("accuracy")), num=True),
            Cell(format_seconds(config.get("train_seconds")), num=True),
            Cell(link, href=link)]


def data_line(config: dict) -> str | None:
    """The comparison page's line on the data the runs share."""
    data = dict_at(config, "data")
    if not data:
        return None
    text = f"Data: {format_setting(data.get('source'))}"
    if data.get("test_source"):
        text += f"; tested on {data['test_source']}"
    return text + "."


def boundary_figures(out_dir: Path, loaded: list[tuple]) -> list | None:
    """Each run's ``figures/boundary.png`` (or a note where one is missing); None if none has one."""
    paths = [(run, str(config.get("name") or run), out_dir / run / "figures" / "boundary.png")
             for run, config, _, _ in loaded]
    if not any(p.is_file() for _, _, p in paths):
        return None
    return [embed(p, f"{name}: decision boundary", name=f"{Path(run).as_posix()}/figures/boundary.png")
            if p.is_file() else f"{run} has no boundary figure." for run, name, p in paths]


def render_comparison_report(out_dir: str | Path, runs: list[str]) -> str:
    """The HTML of the demo's comparison page (what :func:`build_comparison_report` writes)."""
    out_dir = Path(out_dir)
    if not runs:
        raise NeuralabError("runs must name at least one run directory, got []")
    loaded = [(run, *load_run(out_dir / run)[:3]) for run in runs]
    names = ["run", "model", "sizes", "iterations", "final loss", "train accuracy",
             "test accuracy", "train time"]
    results = Table(header(names, num_from=3) + [Cell("report")],
                    [comparison_row(*r) for r in loaded])
    comparison = out_dir / "comparison.png"
    return render(
        "comparison.html", title=" vs ".join(str(c.get("name") or r) for r, c, _, _ in loaded),
        meta=versions_line(loaded[0][1], all_versions=False), data_text=data_line(loaded[0][1]),
        results=results, boundaries=boundary_figures(out_dir, loaded),
        comparison=embed(comparison, "The runs' decision boundaries on the training data",
                         name="comparison.png", wide=True) if comparison.is_file() else None,
        links=[(str(c.get("name") or r), run_link(r)) for r, c, _, _ in loaded])


def build_comparison_report(out_dir: str | Path, runs: list[str], *,
                            build_runs: bool = True) -> Path:
    """Write ``out_dir/report.html`` comparing the run directories ``out_dir/<run>``.

    A table sets the runs side by side (model, sizes, iterations, final loss, train
    and test accuracy, train time); ``out_dir/comparison.png`` and each run's
    boundary figure are embedded; each run's name links to its own ``report.html``
    (relative, e.g. ``linear/report.html``), which ``build_runs`` writes first so
    that the links work.
    """
    out_dir = Path(out_dir)
    page = render_comparison_report(out_dir, runs)
    if build_runs:
        for run in runs:
            build_report(out_dir / run)
    return atomic_write(out_dir / REPORT, page)
