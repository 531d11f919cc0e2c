"""report.html: one self-contained page per run directory, and one for the demo.

:func:`build_report` reads a run directory (``config.json``, ``metrics.json`` and,
where they exist, ``model.json``, ``history.csv`` and ``figures/*.png``) and writes
``report.html`` beside them; :func:`build_comparison_report` writes the demo's page
that sets several runs side by side. Both pages stand alone: every figure is
embedded as a ``data:image/png;base64`` URI, the CSS is inline, and nothing is
fetched from the network, so a page can be mailed or archived as one file.

Only ``config.json`` and ``metrics.json`` are required; every other file and key
is optional and its section says so when it is absent. Missing and non-finite
numbers show as a dash (``–``). All text from the run directory is HTML-escaped.
"""

from __future__ import annotations

import base64
import csv
import datetime as _dt
import html
import json
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from neuralab import NeuralabError
from neuralab.runs import atomic_write, read_json

REPORT = "report.html"
#: What a missing, null or non-finite value shows as.
DASH = "–"
#: Splits in the order a reader expects them; any others follow alphabetically.
SPLIT_ORDER = ("train", "val", "validation", "test", "eval")
#: The per-class columns in the order they are shown; any others follow.
PER_CLASS_ORDER = ("precision", "recall", "f1", "fpr", "tpr", "tnr", "support")
#: Per-class dicts at split level (``roc_auc_per_class: {name: auc}``) join the per-class
#: table as a column named without the suffix.
PER_CLASS_SUFFIX = "_per_class"
#: Split-level keys that the metrics section shows in its own way (or not at all).
SPLIT_SPECIAL = ("per_class", "confusion_matrix", "confusion_matrix_normalized", "operating_point")
#: Scalar metrics in the order they are shown; any other scalar keys follow alphabetically.
SCALAR_ORDER = ("n_samples", "accuracy", "balanced_accuracy", "loss", "log_loss", "roc_auc",
                "roc_auc_macro", "roc_auc_micro", "average_precision_macro",
                "average_precision_micro")


# --- formatting ---------------------------------------------------------------------------

def esc(value) -> str:
    """``str(value)`` escaped for HTML text and attribute values.

    >>> esc('<b a="1">')
    '&lt;b a=&quot;1&quot;&gt;'
    """
    return html.escape(str(value), quote=True)


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and not math.isfinite(value))


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def format_number(value, *, decimals: int = 4) -> str:
    """A number for a table: ``decimals`` places, 3 significant digits when very small or large.

    >>> [format_number(v) for v in (0.7471871, 0.005, 1.23456e-05, 0.0, 0, 10000, None, float("nan"))]
    ['0.7472', '0.005', '1.23e-05', '0.0000', '0', '10,000', '–', '–']
    >>> format_number(0.98039, decimals=3)
    '0.980'
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if _missing(value) or not _is_number(value):
        return DASH
    if isinstance(value, int):
        return f"{value:,}"
    magnitude = abs(value)
    if magnitude == 0:
        return f"{0:.{decimals}f}"
    if magnitude < 0.01 or magnitude >= 1e6:
        return f"{value:.3g}"
    if magnitude >= 1000:
        return f"{value:,.1f}"
    return f"{value:.{decimals}f}"


def format_percent(value) -> str:
    """A fraction in [0, 1] as a percentage with one decimal.

    >>> format_percent(0.5333333), format_percent(1.0), format_percent(None)
    ('53.3 %', '100.0 %', '–')
    """
    if _missing(value) or not _is_number(value):
        return DASH
    return f"{100 * value:.1f} %"


def format_loss(value) -> str:
    """A loss with four decimals.

    >>> format_loss(0.2444757980355184), format_loss(float("inf"))
    ('0.2445', '–')
    """
    if _missing(value) or not _is_number(value):
        return DASH
    return f"{value:.4f}"


def format_seconds(value) -> str:
    """A duration: 3 significant digits under a second, then 0.01 s, then minutes.

    >>> format_seconds(0.00725533), format_seconds(1.37975), format_seconds(125.0)
    ('0.00726 s', '1.38 s', '2 min 5.0 s')
    """
    if _missing(value) or not _is_number(value):
        return DASH
    if value < 1:
        return f"{value:.3g} s"
    if value < 60:
        return f"{value:.2f} s"
    minutes, seconds = divmod(value, 60)
    return f"{int(minutes)} min {seconds:.1f} s"


def format_setting(value) -> str:
    """A setting as the user would type it: floats in ``%g``, lists and dicts as JSON.

    >>> [format_setting(v) for v in (0.001, 1.0, 10000, [100, 50], None, True, "relu")]
    ['0.001', '1', '10000', '[100, 50]', '–', 'true', 'relu']
    """
    if _missing(value):
        return DASH
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, tuple, dict)):
        return json.dumps(value)
    return str(value)


def format_metric(key: str, value) -> str:
    """A scalar metric by its name: accuracies as percent, losses with 4 decimals.

    >>> format_metric("accuracy", 0.99), format_metric("log_loss", 0.110198), format_metric("roc_auc", None)
    ('99.0 %', '0.1102', '–')
    """
    if "accuracy" in key:
        return format_percent(value)
    if key == "loss" or key.endswith("_loss"):
        return format_loss(value)
    return format_number(value)


def format_sizes(sizes) -> str:
    """Layer widths as the lecture draws them.

    >>> format_sizes([2, 100, 3])
    '2 -> 100 -> 3'
    """
    if not isinstance(sizes, (list, tuple)) or not sizes:
        return DASH
    return " -> ".join(str(s) for s in sizes)


def _anchor(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", str(text).lower()).strip("-") or "x"


# --- HTML building blocks -----------------------------------------------------------------

CSS = """
:root { color-scheme: light; }
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial,
       "Noto Sans", sans-serif; color: #1d2433; background: #fff; margin: 0; line-height: 1.45; }
main { max-width: 1100px; margin: 0 auto; padding: 1.5rem 1.25rem 4rem; }
h1 { font-size: 1.7rem; margin: 0 0 .25rem; }
h2 { font-size: 1.3rem; margin: 2.2rem 0 .6rem; padding-bottom: .25rem; border-bottom: 2px solid #e4e7ee; }
h3 { font-size: 1.05rem; margin: 1.4rem 0 .4rem; }
p.meta, p.note, figcaption { color: #5b6478; }
p.meta { margin: 0 0 .6rem; font-size: .92rem; }
p.note { font-style: italic; }
nav { font-size: .92rem; margin: .6rem 0 0; }
nav a { margin-right: .9rem; }
a { color: #1f5fbf; }
code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: .88em;
       background: #f3f5f9; padding: .05em .3em; border-radius: 3px; }
.headline { display: flex; flex-wrap: wrap; gap: .6rem; margin: .9rem 0 0; }
.headline div { background: #f3f5f9; border-radius: 6px; padding: .45rem .8rem; }
.headline b { display: block; font-size: 1.15rem; }
.headline span { font-size: .8rem; color: #5b6478; }
table { border-collapse: collapse; margin: .4rem 0 1rem; font-size: .92rem; }
th, td { border: 1px solid #dde1ea; padding: .3rem .6rem; text-align: left; vertical-align: top; }
thead th { background: #eef1f6; }
tbody tr:nth-child(even) td { background: #fafbfd; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
table.kv th { background: #f6f7fa; font-weight: 600; white-space: nowrap; }
table.cm td { text-align: right; font-variant-numeric: tabular-nums; min-width: 3.2em; }
table.cm td.diag { font-weight: 700; }
table.cm th.corner { font-weight: 400; font-size: .8rem; color: #5b6478; }
.figures { display: grid; grid-template-columns: repeat(auto-fill, minmax(420px, 1fr)); gap: 1rem; }
.figures.side { grid-template-columns: repeat(auto-fit, minmax(320px, 1fr)); }
figure { margin: 0; border: 1px solid #e4e7ee; border-radius: 6px; padding: .6rem; background: #fff; }
figure img { max-width: 100%; height: auto; display: block; margin: 0 auto; }
figure.wide { grid-column: 1 / -1; }
figcaption { font-size: .88rem; margin-top: .4rem; text-align: center; }
.scroll { overflow-x: auto; }
"""


def _page(title: str, body: str) -> str:
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<meta name="generator" content="neuralab">\n'
        f"<title>{esc(title)}</title>\n<style>{CSS}</style>\n</head>\n"
        f"<body>\n<main>\n{body}\n</main>\n</body>\n</html>\n"
    )


def _cls(cls: str) -> str:
    return f' class="{esc(cls)}"' if cls else ""


def _table(header: Sequence[str] | None, rows: Iterable[Sequence[tuple[str, bool]]], *,
           cls: str = "") -> str:
    """A table from already-escaped cells; each cell is ``(html, is_number)``."""
    out = [f'<div class="scroll"><table{_cls(cls)}>']
    if header:
        out.append("<thead><tr>" + "".join(f"<th>{h}</th>" for h in header) + "</tr></thead>")
    out.append("<tbody>")
    for row in rows:
        out.append("<tr>" + "".join(
            f'<td class="num">{c}</td>' if num else f"<td>{c}</td>" for c, num in row) + "</tr>")
    out.append("</tbody></table></div>")
    return "".join(out)


def _kv_table(pairs: Iterable[tuple[str, str]]) -> str:
    """A two-column table of (escaped key, escaped value) rows."""
    rows = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in pairs)
    return f'<div class="scroll"><table class="kv"><tbody>{rows}</tbody></table></div>'


def _note(text: str) -> str:
    return f'<p class="note">{esc(text)}</p>'


def _img(path: Path, caption: str, *, name: str | None = None, cls: str = "") -> str:
    """A <figure> with the PNG at ``path`` embedded, or a note when it cannot be read."""
    try:
        data = base64.b64encode(path.read_bytes()).decode("ascii")
    except OSError as exc:
        return _note(f"figure {name or path.name} could not be read: {exc.strerror}")
    code = f" <code>{esc(name)}</code>" if name else ""
    return (f"<figure{_cls(cls)}>"
            f'<img src="data:image/png;base64,{data}" alt="{esc(caption)}">'
            f"<figcaption>{esc(caption)}{code}</figcaption></figure>")


# --- figures ------------------------------------------------------------------------------

#: (kind, pattern on the lower-case file stem, caption); the order is the page's order.
FIGURE_KINDS = (
    ("loss", re.compile(r"^(loss|history|learning_curves?|curves?)(?=_|$)"),
     "Loss and accuracy per step"),
    ("boundary", re.compile(r"^(decision_)?boundar(y|ies)(?=_|$)"), "Decision boundary"),
    ("confusion", re.compile(r"^confusion(_matrix)?(?=_|$)"), "Confusion matrix"),
    ("roc", re.compile(r"^roc(_curves?)?(?=_|$)"), "ROC curve"),
    ("pr", re.compile(r"^(pr|precision_recall)(_curves?)?(?=_|$)"), "Precision–recall curve"),
)
_EXPLAIN = re.compile(r"^explain(?=_|$)")


@dataclass(frozen=True)
class Figure:
    """One PNG of ``figures/``: where it is, its name there, its caption and its place."""

    path: Path
    name: str
    caption: str
    explain: bool
    order: tuple


def _split_rank(rest: str) -> int:
    for i, split in enumerate(SPLIT_ORDER):
        if rest == split or rest.startswith(split + "_") or rest.endswith("_" + split):
            return i
    return len(SPLIT_ORDER)


def _humanise(text: str) -> str:
    text = re.sub(r"[_\-]+", " ", text).strip()
    return text[:1].upper() + text[1:]


def classify_figure(rel: str) -> tuple[str, str, bool, tuple]:
    """(kind, caption, explain, sort key) of a figure by its path under ``figures/``.

    >>> classify_figure("confusion_test.png")[:3]
    ('confusion', 'Confusion matrix (test)', False)
    >>> classify_figure("confusion_train_normalized.png")[:2]
    ('confusion', 'Confusion matrix (train, normalized)')
    >>> classify_figure("explain_saliency.png")[:3]
    ('other', 'Saliency', True)
    >>> classify_figure("explain/occlusion_class_1.png")[:3]
    ('other', 'Occlusion class 1', True)
    """
    parts = rel.split("/")
    stem = parts[-1].rsplit(".", 1)[0]
    low = stem.lower()
    explain = parts[0].lower() == "explain" and len(parts) > 1
    m = _EXPLAIN.match(low)
    if m:
        explain = True
        stem, low = stem[m.end():].lstrip("_-") or stem, low[m.end():].lstrip("_-") or low
    if not explain:
        for rank, (kind, pattern, caption) in enumerate(FIGURE_KINDS):
            m = pattern.match(low)
            if m and len(parts) == 1:
                rest = low[m.end():].lstrip("_")
                order = (rank, _split_rank(rest), low)
                words = rest.split("_", 1)
                if len(words) == 2 and words[0] in SPLIT_ORDER:
                    rest = f"{words[0]}, {words[1]}"
                text = caption + (f" ({_humanise(rest).lower()})" if rest else "")
                return kind, text, False, order
    folder = "/".join(parts[1 if explain and len(parts) > 1 else 0:-1])
    caption = _humanise(stem) + (f" ({folder})" if folder else "")
    return "other", caption, explain, (len(FIGURE_KINDS), 0, rel.lower())


def list_figures(run_dir: str | Path) -> tuple[list[Figure], list[Figure]]:
    """The run's PNG figures as (main, explain), each in the page's order.

    Main figures come as loss curves, boundary, confusion matrices, ROC, PR, then any
    others alphabetically; within a kind, train before val before test. PNGs under
    ``figures/explain/`` or named ``explain_*.png`` are the explain figures.
    """
    root = Path(run_dir) / "figures"
    if not root.is_dir():
        return [], []
    main, explain = [], []
    for path in sorted(root.rglob("*")):
        if not path.is_file() or path.suffix.lower() != ".png" or path.name.startswith("."):
            continue
        rel = path.relative_to(root).as_posix()
        _, caption, is_explain, order = classify_figure(rel)
        fig = Figure(path, rel, caption, is_explain, order)
        (explain if is_explain else main).append(fig)
    main.sort(key=lambda f: f.order)
    explain.sort(key=lambda f: f.name.lower())
    return main, explain


def _figure_grid(figures: Sequence[Figure]) -> str:
    return ('<div class="figures">'
            + "".join(_img(f.path, f.caption, name=f"figures/{f.name}") for f in figures)
            + "</div>")


# --- reading a run directory --------------------------------------------------------------

def _read_required(path: Path) -> dict:
    try:
        obj = read_json(path)
    except NeuralabError as exc:
        raise NeuralabError(f"cannot build a report: {exc}") from None
    if not isinstance(obj, dict):
        raise NeuralabError(f"cannot build a report: {path} must hold a JSON object, "
                            f"got {type(obj).__name__}")
    return obj


def _read_optional(path: Path) -> tuple[dict | None, str | None]:
    """(object, None), or (None, why not) for a missing or unreadable JSON file."""
    if not path.is_file():
        return None, f"No {path.name} in this run."
    try:
        obj = read_json(path)
    except NeuralabError as exc:
        return None, str(exc)
    if not isinstance(obj, dict):
        return None, f"{path.name} does not hold a JSON object."
    return obj, None


def _parse_cell(text: str | None):
    if text is None or text.strip() == "":
        return None
    try:
        value = float(text)
    except ValueError:
        return text
    if value.is_integer() and re.fullmatch(r"[+-]?\d+", text.strip()):
        return int(value)
    return value


def read_history(path: str | Path) -> tuple[list[str], list[dict]]:
    """(columns, rows) of a ``history.csv``; empty cells become None, numbers numbers."""
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        columns = list(reader.fieldnames or [])
        rows = [{c: _parse_cell(row.get(c)) for c in columns} for row in reader]
    return columns, rows


def _split_names(metrics: dict) -> list[str]:
    splits = [k for k, v in metrics.items() if isinstance(v, dict)]
    known = [s for s in SPLIT_ORDER if s in splits]
    return known + sorted(s for s in splits if s not in SPLIT_ORDER)


def _class_names(metrics: dict, config: dict, model: dict | None, k: int) -> list[str]:
    for split in _split_names(metrics):
        per_class = metrics[split].get("per_class")
        if isinstance(per_class, dict) and len(per_class) == k:
            return [str(c) for c in per_class]
    for classes in ((model or {}).get("classes"), (config.get("data") or {}).get("classes")):
        if isinstance(classes, list) and len(classes) == k:
            return [str(c) for c in classes]
    return [str(i) for i in range(k)]


# --- sections -----------------------------------------------------------------------------

def _created(config: dict) -> str:
    raw = config.get("created")
    if not raw:
        return DASH
    try:
        return _dt.datetime.strptime(str(raw), "%Y-%m-%dT%H:%M:%S%z").strftime(
            "%Y-%m-%d %H:%M:%S %z")
    except ValueError:
        return str(raw)


def _header(run_dir: Path, config: dict, metrics: dict, sections: list[tuple[str, str]]) -> str:
    name = config.get("name") or run_dir.name
    versions = config.get("versions") if isinstance(config.get("versions"), dict) else {}
    meta = [f"created {_created(config)}"]
    meta += [f"{pkg} {format_setting(versions.get(pkg))}" for pkg in ("neuralab", "numpy", "torch")]
    meta += [f"{k} {format_setting(v)}" for k, v in versions.items()
             if k not in ("neuralab", "numpy", "torch")]
    if config.get("python"):
        meta.append(f"python {config['python']}")
    repr_ = (config.get("model") or {}).get("repr") if isinstance(config.get("model"), dict) else None
    cards = []
    for split in _split_names(metrics):
        cards.append((format_percent(metrics[split].get("accuracy")), f"{split} accuracy"))
    if "train" in metrics:
        cards.append((format_loss(metrics["train"].get("loss")), "final train loss"))
    cards.append((format_seconds(config.get("train_seconds")), "train time"))
    out = [f"<h1>neuralab run: {esc(name)}</h1>",
           f'<p class="meta">{esc(" · ".join(meta))}</p>',
           f'<p class="meta">folder <code>{esc(run_dir.name)}</code>'
           + (f" · model <code>{esc(repr_)}</code>" if repr_ else "") + "</p>",
           '<div class="headline">'
           + "".join(f"<div><b>{esc(v)}</b><span>{esc(k)}</span></div>" for v, k in cards)
           + "</div>",
           "<nav>" + "".join(f'<a href="#{a}">{esc(t)}</a>' for a, t in sections) + "</nav>"]
    return "\n".join(out)


def _settings_section(config: dict) -> str:
    out = ['<h2 id="settings">Settings</h2>']
    settings = config.get("settings")
    if isinstance(settings, dict) and settings:
        out.append(_kv_table((esc(k), esc(format_setting(v))) for k, v in settings.items()))
    else:
        out.append(_note("config.json has no settings."))
    out.append("<h3>Run</h3>")
    out.append(_kv_table([
        ("backend", esc(format_setting(config.get("backend")))),
        ("device", esc(format_setting(config.get("device")))),
        ("steps", esc(format_number(config.get("steps")))),
        ("train_seconds", esc(format_seconds(config.get("train_seconds")))),
        ("seed", esc(format_setting(config.get("seed")))),
    ] + ([("interrupted", esc(format_setting(config["interrupted"])))]
         if "interrupted" in config else [])))
    return "\n".join(out)


def _inline(value) -> str:
    """A nested value on one line: dicts as ``key=value`` pairs.

    >>> _inline({"kind": "registry", "name": "moons", "options": {}})
    'kind=registry, name=moons, options={}'
    """
    if isinstance(value, dict):
        return ", ".join(f"{k}={format_setting(v)}" for k, v in value.items()) if value else "{}"
    return format_setting(value)


def _shape(value) -> str:
    if isinstance(value, (list, tuple)) and value:
        return " × ".join(str(v) for v in value)
    return DASH if _missing(value) or value == [] else str(value)


def _data_section(config: dict) -> str:
    out = ['<h2 id="data">Data</h2>']
    data = config.get("data")
    if not isinstance(data, dict) or not data:
        out.append(_note("config.json has no data description."))
        return "\n".join(out)
    shown = ("name", "source", "n_samples", "n_features", "train_shape", "test_shape",
             "test_source", "classes", "class_counts", "splits", "feature_names")
    pairs = [
        ("name", format_setting(data.get("name"))),
        ("source", format_setting(data.get("source"))),
        ("samples", format_number(data.get("n_samples"))),
        ("features", format_number(data.get("n_features"))),
        ("train shape", _shape(data.get("train_shape"))),
        ("test shape", _shape(data.get("test_shape"))),
        ("test source", format_setting(data.get("test_source"))),
    ]
    names = data.get("feature_names")
    if isinstance(names, list) and names:
        pairs.append(("feature names", ", ".join(map(str, names)) if len(names) <= 12 else
                      f"{', '.join(map(str, names[:5]))}, …, {names[-1]} ({len(names)})"))
    pairs += [(k, _inline(v)) for k, v in data.items() if k not in shown]
    out.append(_kv_table((esc(k), esc(v)) for k, v in pairs))
    splits = data.get("splits")
    if isinstance(splits, dict) and splits:
        rows = [[(esc(k), False),
                 (esc(_shape(v.get("shape")) if isinstance(v, dict) else DASH), True),
                 (esc(format_setting(v.get("source")) if isinstance(v, dict) else DASH), False)]
                for k, v in splits.items()]
        out.append("<h3>Splits</h3>")
        out.append(_table(["split", "shape", "source"], rows))
    classes = data.get("classes")
    counts = data.get("class_counts")
    if isinstance(classes, list) and classes:
        counts = counts if isinstance(counts, list) and len(counts) == len(classes) else None
        total = sum(c for c in counts if _is_number(c)) if counts else 0
        rows = []
        for i, name in enumerate(classes):
            n = counts[i] if counts else None
            share = n / total if counts and total and _is_number(n) else None
            rows.append([(esc(i), True), (esc(name), False), (esc(format_number(n)), True),
                         (esc(format_percent(share)), True)])
        out.append("<h3>Classes</h3>")
        out.append(_table(["label", "class", "count", "share"], rows))
    return "\n".join(out)


def _range(values) -> str:
    nums = [v for v in values if _is_number(v) and not _missing(v)]
    if not nums:
        return DASH
    lo, hi = min(nums), max(nums)
    return format_number(lo) if lo == hi else f"{format_number(lo)} to {format_number(hi)}"


def _model_section(config: dict, model: dict | None, why: str | None) -> str:
    out = ['<h2 id="model">Model</h2>']
    fallback = config.get("model") if isinstance(config.get("model"), dict) else {}
    if model is None:
        out.append(_note(why or "No model.json in this run."))
        if fallback.get("sizes"):
            out.append(_kv_table([("sizes", esc(format_sizes(fallback.get("sizes")))),
                                  ("model", esc(format_setting(fallback.get("repr"))))]))
        return "\n".join(out)
    sizes = model.get("sizes") if isinstance(model.get("sizes"), list) else fallback.get("sizes")
    valid = isinstance(sizes, list) and len(sizes) >= 2 and all(
        isinstance(s, int) and not isinstance(s, bool) for s in sizes)
    pairs = [("sizes", format_sizes(sizes)),
             ("layers", str(len(sizes) - 1) if valid else DASH),
             ("parameters", format_number(sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:])))
              if valid else DASH),
             ("activation", format_setting(model.get("activation")) if model.get("activation")
              else "none (no hidden layer)"),
             ("dtype", format_setting(model.get("dtype"))),
             ("classes", ", ".join(map(str, model["classes"]))
              if isinstance(model.get("classes"), list) else DASH),
             ("features", ", ".join(map(str, model["feature_names"]))
              if isinstance(model.get("feature_names"), list) else DASH)]
    if fallback.get("repr"):
        pairs.append(("model", str(fallback["repr"])))
    if model.get("format"):
        pairs.append(("format", f"{model['format']} v{format_setting(model.get('format_version'))}"))
    out.append(_kv_table((esc(k), esc(v)) for k, v in pairs))

    pre = model.get("preprocessing")
    out.append("<h3>Preprocessing</h3>")
    if isinstance(pre, dict) and isinstance(pre.get("mean"), list) and isinstance(pre.get("scale"), list):
        mean, scale = pre["mean"], pre["scale"]
        if all(m == 0 for m in mean) and all(s == 1 for s in scale):
            out.append(f"<p>Identity: x is used as it is (mean 0, scale 1 for all "
                       f"{len(mean)} features).</p>")
        else:
            method = f" (method {pre['method']})" if pre.get("method") else ""
            out.append(f"<p>Standardised as (x − mean) / scale{esc(method)} over {len(mean)} "
                       f"features, fitted on the training split: mean {esc(_range(mean))}, "
                       f"scale {esc(_range(scale))}.</p>")
            names = model.get("feature_names") if isinstance(model.get("feature_names"), list) else []
            if len(mean) == len(scale) and len(mean) <= 20:
                rows = [[(esc(names[i] if i < len(names) else i), False),
                         (esc(format_number(m)), True), (esc(format_number(s)), True)]
                        for i, (m, s) in enumerate(zip(mean, scale))]
                out.append(_table(["feature", "mean", "scale"], rows))
    else:
        out.append(_note("model.json has no preprocessing (mean and scale)."))

    if valid:
        out.append("<h3>Tensors</h3>")
        names = model.get("tensors") if isinstance(model.get("tensors"), list) else []
        rows = []
        for i, (d_in, d_out) in enumerate(zip(sizes[:-1], sizes[1:]), start=1):
            for name, shape in ((f"W{i}", f"({d_in}, {d_out})"), (f"b{i}", f"({d_out},)")):
                if names and name not in names:
                    continue
                n = d_in * d_out if name.startswith("W") else d_out
                rows.append([(f"<code>{esc(name)}</code>", False), (esc(shape), False),
                             (esc(format_number(n)), True)])
        out.append(_table(["tensor", "shape", "values"], rows))
    if model.get("layout"):
        out.append(f"<p>Layout: {esc(str(model['layout']).rstrip('.'))}.</p>")
    return "\n".join(out)


def _history_section(run_dir: Path) -> str:
    out = ['<h2 id="training">Training curve</h2>']
    path = run_dir / "history.csv"
    if not path.is_file():
        out.append(_note("No history.csv in this run."))
        return "\n".join(out)
    try:
        columns, rows = read_history(path)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        out.append(_note(f"history.csv could not be read: {exc}"))
        return "\n".join(out)
    if not rows:
        out.append(_note("history.csv has no rows."))
        return "\n".join(out)

    def cell(col, value):
        if col == "step" or (isinstance(value, int) and "loss" not in col):
            return esc(format_number(value)), True
        if isinstance(value, str):
            return esc(value), False
        return esc(format_metric(col, value)), True

    picked = [("first", rows[0])] + ([("last", rows[-1])] if len(rows) > 1 else [])
    body = [[(esc(label), False)] + [cell(c, row.get(c)) for c in columns] for label, row in picked]
    out.append(f"<p>{esc(format_number(len(rows)))} logged rows"
               + (f", steps {esc(format_number(rows[0].get('step')))} to "
                  f"{esc(format_number(rows[-1].get('step')))}" if "step" in columns else "")
               + ".</p>")
    out.append(_table([""] + [esc(c) for c in columns], body))
    if "val_loss" in columns:
        scored = [r for r in rows if _is_number(r.get("val_loss")) and not _missing(r["val_loss"])]
        if scored:
            best = min(scored, key=lambda r: r["val_loss"])
            text = f"Best val loss {format_loss(best['val_loss'])}"
            if "step" in best:
                text += f" at step {format_number(best.get('step'))}"
            if "val_accuracy" in best:
                text += f" (val accuracy {format_percent(best.get('val_accuracy'))})"
            out.append(f"<p>{esc(text)}.</p>")
        else:
            out.append(_note("The val_loss column holds no numbers."))
    return "\n".join(out)


def _scalar_value(value) -> bool:
    return value is None or _is_number(value)


def _confusion_table(cm, classes: list[str]) -> str:
    if not (isinstance(cm, list) and cm and all(isinstance(r, list) and len(r) == len(cm) for r in cm)):
        return _note("confusion_matrix is not a square table.")
    head = ['<th class="corner">true ↓ · predicted →</th>'] + [
        f'<th class="num">{esc(c)}</th>' for c in classes] + ['<th class="num">total</th>']
    body = []
    for i, row in enumerate(cm):
        total = sum(v for v in row if _is_number(v))
        tds = []
        for j, v in enumerate(row):
            share = v / total if total and _is_number(v) else 0
            tint = (f"rgba(46, 139, 87, {0.1 + 0.5 * share:.2f})" if i == j
                    else f"rgba(214, 39, 40, {0.6 * share:.2f})")
            cls = ' class="diag"' if i == j else ""
            tip = f' title="{esc(format_percent(share))} of true {esc(classes[i])}"' if total else ""
            tds.append(f'<td{cls}{tip} style="background: {tint}">{esc(format_number(v))}</td>')
        body.append(f"<tr><th>{esc(classes[i])}</th>{''.join(tds)}"
                    f"<td>{esc(format_number(total))}</td></tr>")
    return (f'<div class="scroll"><table class="cm"><thead><tr>{"".join(head)}</tr></thead>'
            f"<tbody>{''.join(body)}</tbody></table></div>")


def _per_class_columns(m: dict) -> dict[str, dict]:
    """``{"roc_auc": {name: auc}, ...}`` from the split's ``*_per_class`` dicts."""
    return {k[:-len(PER_CLASS_SUFFIX)]: v for k, v in m.items()
            if k.endswith(PER_CLASS_SUFFIX) and k != "per_class" and isinstance(v, dict)
            and all(_scalar_value(x) for x in v.values())}


def _per_class_table(per_class: dict, extra: dict[str, dict]) -> str:
    keys = []
    for row in per_class.values():
        if isinstance(row, dict):
            keys += [k for k in row if k not in keys]
    cols = [k for k in PER_CLASS_ORDER if k in keys] + [k for k in keys if k not in PER_CLASS_ORDER]
    cols += [k for k in extra if k not in cols]
    rows = []
    for name, row in per_class.items():
        row = {**(row if isinstance(row, dict) else {}),
               **{k: v.get(name) for k, v in extra.items() if k not in row}}
        cells = [(esc(name), False)]
        for c in cols:
            cells.append((esc(format_number(row.get(c), decimals=3)), True))
        rows.append(cells)
    return _table(["class"] + [esc(c) for c in cols], rows)


def _value_cell(key: str, value) -> str:
    if _scalar_value(value):
        return format_metric(key, value) if isinstance(value, float) else format_number(value)
    if isinstance(value, str):
        return value
    return format_setting(value)


def _metrics_section(metrics: dict, config: dict, model: dict | None) -> str:
    out = ['<h2 id="metrics">Metrics</h2>']
    splits = _split_names(metrics)
    if not splits:
        out.append(_note("metrics.json holds no split."))
    for split in splits:
        m = metrics[split]
        out.append(f'<h3 id="metrics-{_anchor(split)}">{esc(split)}</h3>')
        scalars = [k for k, v in m.items() if _scalar_value(v)]
        ordered = [k for k in SCALAR_ORDER if k in scalars] + sorted(
            k for k in scalars if k not in SCALAR_ORDER)
        if ordered:
            out.append(_kv_table((esc(k), esc(format_metric(k, m[k]) if k != "n_samples"
                                              else format_number(m[k]))) for k in ordered))
        per_class = m.get("per_class")
        extra = _per_class_columns(m)
        if isinstance(per_class, dict) and per_class:
            out.append("<h4>Per class</h4>")
            out.append(_per_class_table(per_class, extra))
        cm = m.get("confusion_matrix")
        if cm is not None:
            k = len(cm) if isinstance(cm, list) else 0
            out.append("<h4>Confusion matrix (rows: true class, columns: predicted class)</h4>")
            out.append(_confusion_table(cm, _class_names(metrics, config, model, k)))
        op = m.get("operating_point")
        if isinstance(op, dict) and op:
            out.append("<h4>Operating point</h4>")
            out.append(_kv_table((esc(k), esc(_value_cell(k, v))) for k, v in op.items()))
        for key, value in m.items():
            if key in SPLIT_SPECIAL or _scalar_value(value) or (
                    key[:-len(PER_CLASS_SUFFIX)] in extra and isinstance(per_class, dict)):
                continue
            if isinstance(value, dict) and value and all(_scalar_value(v) or isinstance(v, str)
                                                        for v in value.values()):
                out.append(f"<h4>{esc(_humanise(key))}</h4>")
                out.append(_kv_table((esc(k), esc(_value_cell(k, v))) for k, v in value.items()))
            elif isinstance(value, str):
                out.append(f"<p>{esc(key)}: {esc(value)}</p>")
    return "\n".join(out)


# --- the pages ----------------------------------------------------------------------------

def render_report(run_dir: str | Path) -> str:
    """The HTML of a run directory's report (what :func:`build_report` writes)."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise NeuralabError(f"cannot build a report: run directory {run_dir} does not exist")
    config = _read_required(run_dir / "config.json")
    metrics = _read_required(run_dir / "metrics.json")
    model, why = _read_optional(run_dir / "model.json")
    figures, explain = list_figures(run_dir)

    sections = [("settings", "Settings"), ("data", "Data"), ("model", "Model"),
                ("training", "Training curve"), ("metrics", "Metrics"), ("figures", "Figures")]
    if explain:
        sections.append(("explain", "Explain"))
    body = [
        _header(run_dir, config, metrics, sections),
        _settings_section(config),
        _data_section(config),
        _model_section(config, model, why),
        _history_section(run_dir),
        _metrics_section(metrics, config, model),
        '<h2 id="figures">Figures</h2>',
        _figure_grid(figures) if figures else _note("No figures in this run."),
    ]
    if explain:
        body += ['<h2 id="explain">Explain</h2>',
                 "<p>Explanation figures: "
                 + esc(", ".join(f.caption for f in explain)) + ".</p>",
                 _figure_grid(explain)]
    name = config.get("name") or run_dir.name
    return _page(f"neuralab run {name}", "\n".join(body))


def build_report(run_dir: str | Path) -> Path:
    """Write ``run_dir/report.html``: one self-contained page about the run.

    Sections: a header (run name, creation time, versions), Settings, Data, Model,
    Training curve, Metrics for every split (scalars, per-class table, confusion
    matrix, operating point), Figures and, when there are any, Explain. Figures are
    embedded as base64 PNG; nothing is loaded from the network.

    Raises NeuralabError when ``config.json`` or ``metrics.json`` is missing or not a
    JSON object; every other file is optional.
    """
    run_dir = Path(run_dir)
    return atomic_write(run_dir / REPORT, render_report(run_dir))


def _run_link(run: str) -> str:
    return quote(Path(run).as_posix() + "/" + REPORT)


def render_comparison_report(out_dir: str | Path, runs: Sequence[str]) -> str:
    """The HTML of the demo's comparison page (what :func:`build_comparison_report` writes)."""
    out_dir = Path(out_dir)
    if not runs:
        raise NeuralabError("runs must name at least one run directory, got []")
    loaded = []
    for run in runs:
        run_dir = out_dir / run
        if not run_dir.is_dir():
            raise NeuralabError(f"cannot build a report: run directory {run_dir} does not exist")
        config = _read_required(run_dir / "config.json")
        metrics = _read_required(run_dir / "metrics.json")
        model, _ = _read_optional(run_dir / "model.json")
        loaded.append((run, run_dir, config, metrics, model))

    first = loaded[0][2]
    versions = first.get("versions") if isinstance(first.get("versions"), dict) else {}
    meta = [f"created {_created(first)}"] + [
        f"{pkg} {format_setting(versions.get(pkg))}" for pkg in ("neuralab", "numpy", "torch")]
    body = [f"<h1>neuralab: {esc(' vs '.join(str(c.get('name') or r) for r, _, c, _, _ in loaded))}</h1>",
            f'<p class="meta">{esc(" · ".join(meta))}</p>']
    data = first.get("data") if isinstance(first.get("data"), dict) else {}
    if data:
        text = f"Data: {format_setting(data.get('source'))}"
        if data.get("test_source"):
            text += f"; tested on {data['test_source']}"
        body.append(f"<p>{esc(text)}.</p>")

    header = ["run", "model", "sizes", "iterations", "final loss", "train accuracy",
              "test accuracy", "train time", "report"]
    rows = []
    for run, _, config, metrics, model in loaded:
        settings = config.get("settings") if isinstance(config.get("settings"), dict) else {}
        cfg_model = config.get("model") if isinstance(config.get("model"), dict) else {}
        sizes = (model or {}).get("sizes") or cfg_model.get("sizes")
        train = metrics.get("train") if isinstance(metrics.get("train"), dict) else {}
        test = metrics.get("test") if isinstance(metrics.get("test"), dict) else {}
        label = settings.get("model") or cfg_model.get("repr")
        activation = (model or {}).get("activation") or settings.get("activation")
        if isinstance(sizes, list) and len(sizes) > 2 and activation:
            label = f"{label} ({activation})"
        rows.append([
            (f'<a href="{esc(_run_link(run))}">{esc(config.get("name") or run)}</a>', False),
            (esc(format_setting(label)), False),
            (esc(format_sizes(sizes)), False),
            (esc(format_number(config.get("steps", settings.get("iterations")))), True),
            (esc(format_loss(train.get("loss"))), True),
            (esc(format_percent(train.get("accuracy"))), True),
            (esc(format_percent(test.get("accuracy"))), True),
            (esc(format_seconds(config.get("train_seconds"))), True),
            (f'<a href="{esc(_run_link(run))}">{esc(_run_link(run))}</a>', False),
        ])
    body += ["<h2>Results</h2>", _table(header, rows),
             "<p>Final loss is the training loss with the L2 penalty, "
             "0.5 · reg · Σ W², as the run reports it.</p>"]

    comparison = out_dir / "comparison.png"
    if comparison.is_file():
        body += ["<h2>Decision boundaries side by side</h2>",
                 '<div class="figures">'
                 + _img(comparison, "The runs' decision boundaries on the training data",
                        name="comparison.png", cls="wide") + "</div>"]
    boundaries = [(run, run_dir / "figures" / "boundary.png", config)
                  for run, run_dir, config, _, _ in loaded]
    if any(p.is_file() for _, p, _ in boundaries):
        body.append("<h2>Each run's boundary</h2>")
        body.append('<div class="figures side">' + "".join(
            _img(p, f"{config.get('name') or run}: decision boundary",
                 name=f"{Path(run).as_posix()}/figures/boundary.png")
            if p.is_file() else _note(f"{run} has no boundary figure.")
            for run, p, config in boundaries) + "</div>")
    body.append("<h2>Run reports</h2><ul>" + "".join(
        f'<li><a href="{esc(_run_link(run))}">{esc(config.get("name") or run)}</a> '
        f"<code>{esc(_run_link(run))}</code></li>" for run, _, config, _, _ in loaded) + "</ul>")
    return _page("neuralab comparison", "\n".join(body))


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


__all__ = [
    "REPORT",
    "build_comparison_report",
    "build_report",
    "list_figures",
    "render_comparison_report",
    "render_report",
]
