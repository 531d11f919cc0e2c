"""The run's PNG figures: which kind each is, its caption, its place, and its embedding.

A figure is embedded as a ``data:image/png;base64`` URI, so the page needs no other file.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from pathlib import Path

from neuralab.report.formatting import humanise
from neuralab.report.reading import SPLIT_ORDER

#: (kind, pattern on the lower-case file stem, caption); the order is the page's order.
FIGURE_KINDS = (
    ("loss", re.compile(r"^(loss|history|learning_curves?|curves?)(?=_|$)"),
     "Loss (and accuracy, for a classifier) per step"),
    ("predicted", re.compile(r"^predicted(?=_|$)"), "Predicted against true, with the line y = x"),
    ("residuals", re.compile(r"^residuals?(?=_|$)"), "Residual (true − predicted) against predicted"),
    ("boundary", re.compile(r"^(decision_)?boundar(y|ies)(?=_|$)"), "Decision boundary"),
    ("confusion", re.compile(r"^confusion(_matrix)?(?=_|$)"), "Confusion matrix"),
    ("roc", re.compile(r"^roc(_curves?)?(?=_|$)"), "ROC curve"),
    ("pr", re.compile(r"^(pr|precision_recall)(_curves?)?(?=_|$)"), "Precision–recall curve"),
)
EXPLAIN = re.compile(r"^explain(?=_|$)")


@dataclass(frozen=True)
class Figure:
    """One PNG of ``figures/``: where it is, its name there, its caption and its place."""

    path: Path
    name: str
    caption: str
    explain: bool
    order: tuple


@dataclass(frozen=True)
class Embedded:
    """A figure as the page shows it: the image's data URI (or why it has none)."""

    caption: str
    name: str | None
    uri: str | None
    why: str | None = None
    wide: bool = False


#: A PNG this many times wider than high spans the whole row of the figure grid.
WIDE = 1.8
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_size(raw: bytes) -> tuple[int, int] | None:
    """(width, height) from a PNG's header, or None for anything else.

    >>> png_size(PNG_SIGNATURE + bytes(8) + (640).to_bytes(4, "big") + (480).to_bytes(4, "big"))
    (640, 480)
    >>> png_size(b"GIF89a")
    """
    if len(raw) < 24 or not raw.startswith(PNG_SIGNATURE):
        return None
    return int.from_bytes(raw[16:20], "big"), int.from_bytes(raw[20:24], "big")


def embed(path: Path, caption: str, *, name: str | None = None, wide: bool = False) -> Embedded:
    """The PNG at ``path`` as a data URI, or a note saying why it could not be read.

    A figure much wider than high (``WIDE``) is marked wide, so that it is not shrunk
    into one column of the grid.
    """
    try:
        raw = path.read_bytes()
    except OSError as exc:
        return Embedded(caption, name, None,
                        f"figure {name or path.name} could not be read: {exc.strerror}", wide)
    size = png_size(raw)
    wide = wide or (size is not None and size[1] > 0 and size[0] > WIDE * size[1])
    data = base64.b64encode(raw).decode("ascii")
    return Embedded(caption, name, f"data:image/png;base64,{data}", None, wide)


def split_rank(rest: str) -> int:
    """Where a split named in a file stem stands in :data:`SPLIT_ORDER` (unknown last)."""
    for i, split in enumerate(SPLIT_ORDER):
        if rest == split or rest.startswith(split + "_") or rest.endswith("_" + split):
            return i
    return len(SPLIT_ORDER)


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
    m = EXPLAIN.match(low)
    if m:
        explain = True
        stem, low = stem[m.end():].lstrip("_-") or stem, low[m.end():].lstrip("_-") or low
    if not explain and len(parts) == 1:
        for rank, (kind, pattern, caption) in enumerate(FIGURE_KINDS):
            m = pattern.match(low)
            if m:
                rest = low[m.end():].lstrip("_")
                order = (rank, split_rank(rest), low)
                words = rest.split("_", 1)
                if len(words) == 2 and words[0] in SPLIT_ORDER:
                    rest = f"{words[0]}, {words[1]}"
                text = caption + (f" ({humanise(rest).lower()})" if rest else "")
                return kind, text, False, order
    folder = "/".join(parts[1 if explain and len(parts) > 1 else 0:-1])
    caption = humanise(stem) + (f" ({folder})" if folder else "")
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


def embed_all(figures: list[Figure]) -> list[Embedded]:
    """Each figure embedded, captioned with its path under the run directory."""
    return [embed(f.path, f.caption, name=f"figures/{f.name}") for f in figures]
