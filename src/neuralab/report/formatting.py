"""How the report writes numbers, settings and names: one place for every format.

Every function returns plain text; the templates escape it. Missing, null and
non-finite values show as :data:`DASH`.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re

#: What a missing, null or non-finite value shows as.
DASH = "–"


def is_number(value) -> bool:
    """True for ints and floats (not bools).

    >>> is_number(1), is_number(0.5), is_number(True), is_number("1")
    (True, True, False, False)
    """
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def missing(value) -> bool:
    """True for None and for non-finite floats."""
    return value is None or (isinstance(value, float) and not math.isfinite(value))


def finite(value) -> bool:
    """True for a number that is neither missing nor infinite."""
    return is_number(value) and not missing(value)


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
    if not finite(value):
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
    return f"{100 * value:.1f} %" if finite(value) else DASH


def format_loss(value) -> str:
    """A loss with four decimals.

    >>> format_loss(0.2444757980355184), format_loss(float("inf"))
    ('0.2445', '–')
    """
    return f"{value:.4f}" if finite(value) else DASH


def format_seconds(value) -> str:
    """A duration: 3 significant digits under a second, then 0.01 s, then minutes.

    >>> format_seconds(0.00725533), format_seconds(1.37975), format_seconds(125.0)
    ('0.00726 s', '1.38 s', '2 min 5.0 s')
    """
    if not finite(value):
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
    if missing(value):
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
    >>> format_metric("n_samples", 1500)
    '1,500'
    """
    if "accuracy" in key:
        return format_percent(value)
    if key == "loss" or key.endswith("_loss"):
        return format_loss(value)
    return format_number(value)


def format_value(key: str, value) -> str:
    """Any value of a metrics dict: numbers by :func:`format_metric`, the rest as text.

    >>> format_value("threshold", 0.35), format_value("tp", 20), format_value("chosen_on", "train")
    ('0.3500', '20', 'train')
    """
    if value is None or is_number(value):
        return format_metric(key, value) if isinstance(value, float) else format_number(value)
    if isinstance(value, str):
        return value
    return format_setting(value)


def format_sizes(sizes) -> str:
    """Layer widths as the lecture draws them.

    >>> format_sizes([2, 100, 3]), format_sizes(None)
    ('2 -> 100 -> 3', '–')
    """
    if not isinstance(sizes, (list, tuple)) or not sizes:
        return DASH
    return " -> ".join(str(s) for s in sizes)


def format_shape(value) -> str:
    """An array shape as rows × columns.

    >>> format_shape([150, 2]), format_shape([]), format_shape(None)
    ('150 × 2', '–', '–')
    """
    if isinstance(value, (list, tuple)) and value:
        return " × ".join(str(v) for v in value)
    return DASH if missing(value) or value == [] else str(value)


def format_inline(value) -> str:
    """A nested value on one line: dicts as ``key=value`` pairs.

    >>> format_inline({"kind": "registry", "name": "moons", "options": {}})
    'kind=registry, name=moons, options={}'
    """
    if isinstance(value, dict):
        return ", ".join(f"{k}={format_setting(v)}" for k, v in value.items()) if value else "{}"
    return format_setting(value)


def format_names(names, *, most: int = 12) -> str:
    """A list of names on one line, shortened when it is long.

    >>> format_names(["a", "b"]), format_names([f"x{i}" for i in range(20)])
    ('a, b', 'x0, x1, x2, x3, x4, …, x19 (20)')
    """
    if not isinstance(names, (list, tuple)) or not names:
        return DASH
    if len(names) <= most:
        return ", ".join(map(str, names))
    return f"{', '.join(map(str, names[:5]))}, …, {names[-1]} ({len(names)})"


def format_range(values) -> str:
    """The smallest and largest of some numbers.

    >>> format_range([0.5, 0.25, None]), format_range([1.0, 1.0]), format_range([])
    ('0.2500 to 0.5000', '1.0000', '–')
    """
    nums = [v for v in values if finite(v)]
    if not nums:
        return DASH
    lo, hi = min(nums), max(nums)
    return format_number(lo) if lo == hi else f"{format_number(lo)} to {format_number(hi)}"


def format_created(raw) -> str:
    """config.json's creation time in a readable form.

    >>> format_created("2026-12-01T04:04:44+0000"), format_created(None), format_created("soon")
    ('2026-12-01 04:04:44 +0000', '–', 'soon')
    """
    if not raw:
        return DASH
    try:
        return dt.datetime.strptime(str(raw), "%Y-%m-%dT%H:%M:%S%z").strftime("%Y-%m-%d %H:%M:%S %z")
    except ValueError:
        return str(raw)


def anchor(text) -> str:
    """An HTML id made of text.

    >>> anchor("Test (2024)"), anchor("<>")
    ('test-2024', 'x')
    """
    return re.sub(r"[^a-z0-9]+", "-", str(text).lower()).strip("-") or "x"


def humanise(text: str) -> str:
    """A file or key name as words.

    >>> humanise("partial_dependence-x1")
    'Partial dependence x1'
    """
    text = re.sub(r"[_\-]+", " ", text).strip()
    return text[:1].upper() + text[1:]


def parse_cell(text: str | None):
    """A CSV cell as None (empty), int, float or the text itself.

    >>> [parse_cell(t) for t in ("", "3", "0.5", "1e-3", "relu", None)]
    [None, 3, 0.5, 0.001, 'relu', None]
    """
    if text is None or text.strip() == "":
        return None
    try:
        value = float(text)
    except ValueError:
        return text
    if value.is_integer() and re.fullmatch(r"[+-]?\d+", text.strip()):
        return int(value)
    return value
