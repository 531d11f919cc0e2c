"""Outliers and label noise: the training points the saved model finds hardest to believe.

The lecture lists outliers among the pitfalls of data collection. A point whose
label the trained model gives a low probability has a large cross-entropy loss,
``-log p[y]``; the largest losses of the training split are where mislabelled
examples (label noise) and genuine outliers collect. :func:`find_outliers` ranks
them; :func:`write_outlier_figure` circles them on the decision boundary of 2-D data.

The training split is rebuilt exactly as the run made it
(:func:`neuralab.runs.reader.training_split`): the data from ``config.json``'s
``data.spec`` (or a Dataset given explicitly), split with the run's settings and
seed. The loss is :func:`neuralab.nn.losses.cross_entropy` per row, its
probability floored at :data:`~neuralab.nn.losses.PROB_FLOOR`, so a confidently
wrong point costs at most -log(1e-15) = 34.5.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from neuralab import NeuralabError
from neuralab.data import Dataset
from neuralab.data.splits import Split
from neuralab.fileio import csv_text, write_csv, write_json
from neuralab.nn.losses import cross_entropy
from neuralab.runs import Predictor
from neuralab.runs.reader import training_split


@dataclass
class Outlier:
    """One suspicious training point.

    Attributes:
        rank: 1 for the largest loss.
        index: the row in the source data (as in predictions.csv).
        features: its raw features.
        label: the class name it is labelled with.
        predicted: the class name the model predicts.
        p_true: the probability the model gives its label.
        loss: ``-log p_true``.
    """

    rank: int
    index: int
    features: list[float]
    label: str
    predicted: str
    p_true: float
    loss: float

    def to_dict(self) -> dict:
        return {"rank": self.rank, "index": self.index, "features": list(self.features),
                "label": self.label, "predicted": self.predicted, "p_true": self.p_true,
                "loss": self.loss}


@dataclass
class OutlierReport:
    """The k training points with the largest loss, largest first.

    Attributes:
        run_dir: the run examined.
        k: how many points were asked for.
        n_train: the size of the training split.
        mean_loss: the mean cross-entropy over the training split (no L2 penalty).
        outliers: k :class:`Outlier`, sorted by loss, descending.
        feature_names, classes: the model's.
        split: the training split itself (for figures; not in :meth:`to_dict`).
    """

    run_dir: Path
    k: int
    n_train: int
    mean_loss: float
    outliers: list[Outlier]
    feature_names: list[str]
    classes: list[str]
    split: Split = field(repr=False)

    @property
    def indices(self) -> list[int]:
        """The source rows of the outliers, in rank order."""
        return [o.index for o in self.outliers]

    def to_dict(self) -> dict:
        return {
            "run_dir": str(self.run_dir),
            "k": self.k,
            "n_train": self.n_train,
            "mean_loss": self.mean_loss,
            "feature_names": list(self.feature_names),
            "classes": list(self.classes),
            "outliers": [o.to_dict() for o in self.outliers],
        }

    def csv_rows(self) -> tuple[list[str], list[list[str]]]:
        """(header, rows) of outliers.csv: ``rank,index,label,predicted,p_true,loss,<features>``."""
        head = ["rank", "index", "label", "predicted", "p_true", "loss", *self.feature_names]
        rows = [[str(o.rank), str(o.index), o.label, o.predicted, f"{o.p_true:.10g}",
                 f"{o.loss:.10g}", *(f"{v:.10g}" for v in o.features)] for o in self.outliers]
        return head, rows

    def to_csv(self) -> str:
        """``rank,index,label,predicted,p_true,loss,<feature names>``, one row per outlier."""
        return csv_text(*self.csv_rows())


def find_outliers(run_dir: str | Path, k: int, *, data: Dataset | None = None,
                  predictor: Predictor | None = None) -> OutlierReport:
    """The k training points with the largest cross-entropy loss under the saved model.

    Parameters
    ----------
    run_dir : path
        A run directory written by ``neuralab train``.
    k : int
        How many points to return, 1 <= k <= the size of the training split.
    data : Dataset, optional
        The data the run was trained on (by default reloaded from ``config.json``).
    predictor : Predictor, optional
        The run's model, when already loaded.

    Returns
    -------
    OutlierReport, its ``outliers`` sorted by loss ``-log p[y]`` descending (ties by
    source row).
    """
    split, predictor = training_split(run_dir, data=data, predictor=predictor)
    if getattr(predictor, "task", "classification") == "regression":
        raise NeuralabError(f"outliers are the training points whose class gets the lowest "
                            f"probability; {run_dir} is a regression run (no classes): its "
                            "largest residuals are in predictions.csv and the report's residual "
                            "plot")
    n = len(split.y)
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= n:
        raise NeuralabError(
            f"k must be a positive integer at most the training split's size {n}, got {k!r}"
        )
    probs = predictor.predict_proba(split.X)
    loss = cross_entropy(probs, split.y, reduction="none")
    pred = probs.argmax(axis=1)
    # stable sort on the negated loss: equal losses keep the order of the source rows
    order = np.argsort(-loss, kind="stable")[: int(k)]
    classes = predictor.classes
    outliers = [
        Outlier(rank=r, index=int(split.index[i]), features=[float(v) for v in split.X[i]],
                label=classes[split.y[i]], predicted=classes[pred[i]],
                p_true=float(probs[i, split.y[i]]), loss=float(loss[i]))
        for r, i in enumerate(order, start=1)
    ]
    return OutlierReport(run_dir=Path(run_dir), k=int(k), n_train=n, mean_loss=float(loss.mean()),
                         outliers=outliers, feature_names=list(predictor.feature_names),
                         classes=list(classes), split=split)


def outlier_figure(report: OutlierReport, predictor: Predictor, *, title: str | None = None):
    """The decision boundary over the training split, the outliers circled and numbered by rank.

    Only for 2-D data; anything else is a NeuralabError.
    """
    from neuralab.plots import draw_boundary, new_figure

    d = report.split.X.shape[1]
    if d != 2:
        raise NeuralabError(f"the outlier figure needs 2-D data; this run's data has {d} features")
    fig = new_figure(figsize=(6, 5.5))
    ax = fig.add_subplot()
    if title is None:
        title = f"top {report.k} training losses of {report.n_train}"
    draw_boundary(ax, predictor.predict_proba, report.split.X, report.split.y,
                  class_names=report.classes, title=title)
    pts = np.array([o.features for o in report.outliers])
    ax.scatter(pts[:, 0], pts[:, 1], s=170, facecolors="none", edgecolors="k", linewidths=1.6,
               label=f"top {report.k} loss")
    for o in report.outliers:
        ax.annotate(str(o.rank), (o.features[0], o.features[1]), xytext=(6, 6),
                    textcoords="offset points", fontsize=8, fontweight="bold")
    ax.legend(loc="upper right", fontsize=7, framealpha=0.8)
    fig.tight_layout()
    return fig


def write_outlier_figure(report: OutlierReport, predictor: Predictor, path: str | Path) -> Path:
    """Save :func:`outlier_figure` as PNG at ``path`` (atomically); 2-D data only."""
    from neuralab.plots import save_figure

    return save_figure(outlier_figure(report, predictor), path)


def write_outliers(report: OutlierReport, predictor: Predictor, out_dir: str | Path) -> dict[str, Path]:
    """Write ``outliers.json``, ``outliers.csv`` and, for 2-D data, ``outliers.png`` to ``out_dir``.

    Returns the paths written, by name (``json``, ``csv``, ``figure``).
    """
    out_dir = Path(out_dir)
    paths = {"json": write_json(out_dir / "outliers.json", report.to_dict()),
             "csv": write_csv(out_dir / "outliers.csv", *report.csv_rows())}
    if report.split.X.shape[1] == 2:
        paths["figure"] = write_outlier_figure(report, predictor, out_dir / "outliers.png")
    return paths
