"""report.html: one self-contained page per run directory, and one for the demo.

:func:`build_report` reads a run directory (``config.json``, ``metrics.json`` and,
where they exist, ``model.json``, ``history.csv``, ``explain.json``,
``evaluations/*/metrics.json`` and ``figures/*.png``) and writes ``report.html``
beside them; :func:`build_comparison_report` writes the demo's page that sets
several runs side by side. The pages are rendered from the jinja2 templates in
``templates/`` with autoescaping on. Both stand alone: every figure is embedded as
a ``data:image/png;base64`` URI, the CSS is inline, the training curve is inline
SVG, and nothing is fetched from the network, so a page can be mailed or archived
as one file.

Only ``config.json`` and ``metrics.json`` are required; every other file and key
is optional and its section says so when it is absent. Missing and non-finite
numbers show as a dash (``–``).

Modules, from the bottom up: ``formatting`` (numbers and names as text),
``reading`` (the run's files), ``tables`` (cells and the metrics' help lines),
``figures``, ``scores`` (the metrics of each split), ``sections`` (settings, data,
model, history), ``summary``, ``curve`` (the SVG training curve), ``extras``
(explain.json, evaluations) and ``pages`` (rendering and writing).
"""

from neuralab.report.figures import list_figures
from neuralab.report.pages import (
    REPORT, build_comparison_report, build_report, render_comparison_report, render_report)

__all__ = [
    "REPORT",
    "build_comparison_report",
    "build_report",
    "list_figures",
    "render_comparison_report",
    "render_report",
]
