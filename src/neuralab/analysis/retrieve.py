"""Retrieval: "find all photos that match a term", the lecture's problem formulation.

A classifier answers a search: the items it predicts as class ``label``, ranked by
the probability it gives that class, most certain first. Against the data's true
labels, precision at k says how many of the first k hits are right, and recall how
many of the items that truly carry the label were found.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from neuralab import NeuralabError
from neuralab.data import Dataset
from neuralab.data.splits import remap_labels
from neuralab.fileio import csv_text, write_csv, write_json
from neuralab.runs import Predictor, load_model
from neuralab.runs.reader import check_features

#: The cutoffs at which :func:`retrieve` reports precision (those <= the number retrieved).
CUTOFFS = (1, 5, 10, 50, 100)


@dataclass
class Hit:
    """One retrieved item.

    Attributes:
        rank: 1 for the most probable.
        index: its row in the data.
        probability: the probability the model gives the searched class.
        true_label: the class name the data gives it.
        relevant: whether the true label is the searched one.
    """

    rank: int
    index: int
    probability: float
    true_label: str
    relevant: bool


@dataclass
class Retrieval:
    """The ranked answer to a search, with its precision and recall.

    Attributes:
        label: the class searched for.
        n_items: the number of items searched.
        n_relevant: how many of them truly carry the label.
        n_predicted: how many the model predicts as the label (all, before ``k``).
        k: the cutoff asked for (None: every item predicted as the label).
        hits: the ranked list, by probability descending, at most k long.
        precision_at: precision of the first c hits, for c in :data:`CUTOFFS` (and k)
            up to the number of hits.
        precision: the share of relevant items among the hits (NaN for no hits).
        recall: the share of the relevant items that are among the hits (NaN when
            the data has none).
    """

    label: str
    n_items: int
    n_relevant: int
    n_predicted: int
    k: int | None
    hits: list[Hit]
    precision_at: dict[int, float]
    precision: float
    recall: float

    @property
    def indices(self) -> list[int]:
        return [h.index for h in self.hits]

    @property
    def probabilities(self) -> np.ndarray:
        return np.array([h.probability for h in self.hits])

    def to_dict(self) -> dict:
        """A summary for JSON (the ranked list itself goes to retrieval.csv)."""
        return {
            "label": self.label, "n_items": self.n_items, "n_relevant": self.n_relevant,
            "n_predicted": self.n_predicted, "k": self.k, "n_retrieved": len(self.hits),
            "precision_at": {str(c): v for c, v in self.precision_at.items()},
            "precision": self.precision, "recall": self.recall,
        }

    def csv_rows(self) -> tuple[list[str], list[list[str]]]:
        """(header, rows) of retrieval.csv: ``rank,index,probability,true_label,relevant``."""
        rows = [[str(h.rank), str(h.index), f"{h.probability:.10g}", h.true_label,
                 str(int(h.relevant))] for h in self.hits]
        return ["rank", "index", "probability", "true_label", "relevant"], rows

    def to_csv(self) -> str:
        """``rank,index,probability,true_label,relevant``, one row per hit."""
        return csv_text(*self.csv_rows())


def retrieve(run_dir: str | Path, label, data: Dataset, *, k: int | None = None,
             predictor: Predictor | None = None) -> Retrieval:
    """Items of ``data`` that the run's model predicts as ``label``, most probable first.

    Parameters
    ----------
    run_dir : path
        A run directory.
    label : str
        A class name of the model (an int is read as its name, ``3`` as ``"3"``).
    data : Dataset
        The items to search, with true labels; its class names must all be known
        to the model (they are matched by name). Columns are reordered to the
        model's by name.
    k : int, optional
        Keep only the first k hits.
    predictor : Predictor, optional
        The run's model, when already loaded.

    Returns
    -------
    Retrieval
    """
    from neuralab.metrics import UndefinedMetricWarning

    if predictor is None:
        predictor = load_model(run_dir)
    if getattr(predictor, "task", "classification") == "regression":
        raise NeuralabError(f"retrieve ranks items by the probability of a class; {run_dir} is a "
                            "regression run (no classes)")
    label = str(label)
    if label not in predictor.classes:
        raise NeuralabError(f"label must be one of the model's classes "
                            f"{', '.join(predictor.classes)}; got {label!r}")
    if k is not None and (isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1):
        raise NeuralabError(f"k must be a positive integer, got {k!r}")
    check_features(data, predictor)
    y = remap_labels(data, predictor.classes)
    c = predictor.classes.index(label)
    probs = predictor.predict_proba(data.X)
    chosen = np.flatnonzero(probs.argmax(axis=1) == c)
    # stable sort on the negated probability: equal probabilities keep the data's order
    ranked = chosen[np.argsort(-probs[chosen, c], kind="stable")]
    n_predicted = len(ranked)
    if k is not None:
        ranked = ranked[: int(k)]
    relevant = y[ranked] == c
    hits = [Hit(rank=r, index=int(i), probability=float(probs[i, c]),
                true_label=predictor.classes[y[i]], relevant=bool(rel))
            for r, (i, rel) in enumerate(zip(ranked, relevant), start=1)]
    cutoffs = sorted({*CUTOFFS, *([int(k)] if k is not None else [])})
    precision_at = {cut: float(relevant[:cut].mean()) for cut in cutoffs if cut <= len(hits)}
    n_relevant = int(np.count_nonzero(y == c))
    if not hits:
        warnings.warn(f"no item of {data.name} is predicted as {label!r}: precision is undefined",
                      UndefinedMetricWarning, stacklevel=2)
    if n_relevant == 0:
        warnings.warn(f"{data.name} has no item labelled {label!r}: recall is undefined",
                      UndefinedMetricWarning, stacklevel=2)
    return Retrieval(
        label=label, n_items=len(y), n_relevant=n_relevant, n_predicted=n_predicted,
        k=None if k is None else int(k), hits=hits, precision_at=precision_at,
        precision=float(relevant.mean()) if hits else math.nan,
        recall=float(relevant.sum() / n_relevant) if n_relevant else math.nan,
    )


def image_shape_of(data: Dataset) -> tuple[int, ...] | None:
    """How one row of ``data.X`` reshapes to an image, or None when it is not one.

    ``data.image_shape`` when the data set gives one (it must hold exactly the
    row's values); otherwise a square side x side when the width is a perfect
    square of at least 16 (4 x 4), such as 64 (8 x 8) or 784 (28 x 28).
    """
    d = int(data.X.shape[1])
    shape = getattr(data, "image_shape", None)
    if shape is not None:
        shape = tuple(int(s) for s in shape)
        if int(np.prod(shape)) != d:
            raise NeuralabError(f"image_shape {shape} holds {int(np.prod(shape))} values, "
                                f"but {data.name} has {d} features")
        return shape
    side = math.isqrt(d)
    return (side, side) if d >= 16 and side * side == d else None


def contact_sheet(result: Retrieval, data: Dataset, *, max_images: int = 50, columns: int = 10):
    """A grid of the first ``max_images`` hits as images, titled "#rank p", wrong ones in red.

    A hit whose true label is not the searched one gets a red border and its true
    label in the title. NeuralabError if ``data`` is not image data.
    """
    from neuralab.plots import new_figure

    shape = image_shape_of(data)
    if shape is None:
        raise NeuralabError(f"{data.name} is not image data: give it an image_shape, or rows "
                            "whose width is a perfect square")
    hits = result.hits[:max_images]
    if not hits:
        raise NeuralabError(f"no hits for {result.label!r} to show")
    cols = min(columns, len(hits))
    rows = -(-len(hits) // cols)
    fig = new_figure(figsize=(1.25 * cols, 1.45 * rows + 0.4))
    # one grey scale for the whole sheet, so that the images compare with each other
    lo, hi = float(np.min(data.X)), float(np.max(data.X))
    for n, h in enumerate(hits, start=1):
        ax = fig.add_subplot(rows, cols, n)
        ax.imshow(data.X[h.index].reshape(shape), cmap="gray_r", vmin=lo, vmax=hi,
                  interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        title = f"#{h.rank} {h.probability:.2f}"
        if not h.relevant:
            title += f"\ntrue {h.true_label}"
            for spine in ax.spines.values():
                spine.set_edgecolor("red")
                spine.set_linewidth(3)
        ax.set_title(title, fontsize=7, color="black" if h.relevant else "red")
    shown = f"first {len(hits)} of {len(result.hits)}" if len(hits) < len(result.hits) else f"{len(hits)}"
    fig.suptitle(f"items predicted as {result.label!r} ({shown}); red: true label differs",
                 fontsize=9)
    fig.tight_layout()
    return fig


def write_retrieval(result: Retrieval, out_dir: str | Path, data: Dataset, *,
                    max_images: int = 50) -> dict[str, Path]:
    """Write the ranked list and, for image data with hits, a contact sheet, to ``out_dir``.

    Files (each atomically): ``retrieval.csv`` (:meth:`Retrieval.to_csv`),
    ``retrieval.json`` (:meth:`Retrieval.to_dict`) and ``retrieval.png``, the
    contact sheet of the first ``max_images`` hits, when ``data`` is image data
    (see :func:`image_shape_of`). Returns the paths, by name (``csv``, ``json``,
    ``figure``).
    """
    from neuralab.plots import save_figure

    out_dir = Path(out_dir)
    paths = {"csv": write_csv(out_dir / "retrieval.csv", *result.csv_rows()),
             "json": write_json(out_dir / "retrieval.json", result.to_dict())}
    if result.hits and image_shape_of(data) is not None:
        paths["figure"] = save_figure(contact_sheet(result, data, max_images=max_images),
                                      out_dir / "retrieval.png")
    return paths
