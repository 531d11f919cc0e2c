"""The registry of named data sets that ``neuralab datasets`` lists and ``--dataset`` picks."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from neuralab import NeuralabError
from neuralab.data import real, toys


@dataclass
class Dataset:
    """Features, labels and where they came from.

    Attributes:
        X: (n_samples, n_features) float64; float32 for the image sets read from IDX
            files (``fashion_mnist``, ``mnist``: pixels in [0, 1]), which would take
            twice the memory in float64.
        y: (n_samples,) int64 labels in 0..K-1.
        classes: the name of each label, ``classes[k]`` for label k.
        name: the registry name or the file name.
        source: a sentence that says where the data came from.
        feature_names: one name per column of X.
        image_shape: (rows, cols) when each row of X is an image flattened in row-major
            order (``X[i].reshape(image_shape)``); None otherwise.
        test: the data set's own test part, where it comes with one (Fashion-MNIST's
            10,000 test images); None otherwise. Its own ``test`` is None.
    """

    X: np.ndarray
    y: np.ndarray
    classes: list[str]
    name: str
    source: str
    feature_names: list[str] = field(default_factory=list)
    image_shape: tuple[int, int] | None = None
    test: Dataset | None = None

    def __post_init__(self) -> None:
        if not self.feature_names:
            self.feature_names = [f"x{i + 1}" for i in range(self.X.shape[1])]

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    def describe(self) -> dict:
        out = {
            "name": self.name,
            "source": self.source,
            "n_samples": int(self.X.shape[0]),
            "n_features": int(self.X.shape[1]),
            "classes": list(self.classes),
            "class_counts": np.bincount(self.y, minlength=self.n_classes).tolist(),
        }
        if self.image_shape is not None:
            out["image_shape"] = list(self.image_shape)
        if self.test is not None:
            out["n_test"] = int(self.test.X.shape[0])
        return out


Status = Callable[[str | Path | None], str | None]


@dataclass(frozen=True)
class Entry:
    """A registered data set, with its shape known without loading it.

    ``make`` returns ``(X, y)`` (the toys: ``Entry.load`` names the classes "0".."K-1",
    or by ``class_names(K)``) or a whole :class:`Dataset` (the real sets). It receives
    ``seed`` and ``data_dir`` only where its signature has them.
    ``n_samples``, ``n_features``, ``n_classes`` (and ``n_test``, the size of a
    predefined test part) are those of the default options. ``status(data_dir)`` says
    why the data cannot be loaded, or None when it can; None for ``status`` itself
    means always.
    """

    name: str
    summary: str
    source: str
    make: Callable[..., tuple[np.ndarray, np.ndarray] | Dataset]
    class_names: Callable[[int], list[str]] | None = None
    kind: str = "toy"
    n_samples: int = 0
    n_features: int = 2
    n_classes: int = 2
    n_test: int = 0
    image_shape: tuple[int, int] | None = None
    status: Status | None = None

    @property
    def reads_files(self) -> bool:
        return "data_dir" in inspect.signature(self.make).parameters

    def load(self, *, seed: int = 0, data_dir: str | Path | None = None, **options) -> Dataset:
        params = inspect.signature(self.make).parameters
        accepted = [k for k in params if k not in ("seed", "data_dir")]
        unknown = sorted(set(options) - set(accepted))
        if unknown:
            takes = f"options {sorted(accepted)}" if accepted else "no options"
            raise NeuralabError(f"data set {self.name} takes {takes}; got {unknown}")
        kwargs = dict(options)
        if "seed" in params:
            kwargs["seed"] = seed
        if "data_dir" in params:
            kwargs["data_dir"] = data_dir
        elif data_dir is not None:
            readers = [e.name for e in REGISTRY.values() if e.reads_files]
            raise NeuralabError(
                f"data set {self.name} reads no files: --data-dir applies to "
                f"{', '.join(readers)}; got --data-dir {data_dir}"
            )
        out = self.make(**kwargs)
        if isinstance(out, Dataset):
            return out
        X, y = out
        K = int(y.max()) + 1
        classes = self.class_names(K) if self.class_names else [str(k) for k in range(K)]
        return Dataset(X=X, y=y, classes=classes, name=self.name, source=self.source)

    def describe(self, data_dir: str | Path | None = None) -> dict:
        """A row for ``neuralab datasets``: shapes from the registry, nothing loaded.

        ``status`` is "yes" when the data can be loaded, else why not and what to do.
        """
        reason = None
        if self.status is not None:
            reason = self.status(data_dir if self.reads_files else None)
        return {
            "name": self.name,
            "kind": self.kind,
            "summary": self.summary,
            "source": self.source,
            "n_samples": self.n_samples,
            "n_test": self.n_test,
            "n_features": self.n_features,
            "n_classes": self.n_classes,
            "image_shape": list(self.image_shape) if self.image_shape else None,
            "available": reason is None,
            "status": "yes" if reason is None else reason,
        }


TOY_SOURCE = "generated by neuralab.data (2-D toy, seeded)"
SKLEARN_SOURCE = "bundled with scikit-learn (sklearn.datasets.{}, no download)"
IDX_HINT = "28 x 28 grey images, pixels float32 in [0, 1]; own split 60,000 train + 10,000 test"


def _sklearn_status(data_dir) -> str | None:
    return real.sklearn_status()


def _idx_status(name: str) -> Status:
    return lambda data_dir: real.idx_status(name, data_dir)


def _sklearn(name: str, summary: str, n: int, d: int, k: int, image_shape=None) -> Entry:
    return Entry(name, summary, SKLEARN_SOURCE.format(real.SKLEARN_SETS[name] + "()"),
                 getattr(real, name), kind="real", n_samples=n, n_features=d, n_classes=k,
                 image_shape=image_shape, status=_sklearn_status)


REGISTRY: dict[str, Entry] = {
    e.name: e
    for e in (
        Entry("spiral", "the lecture's spiral: K arms of N points (default 3 x 100)",
              TOY_SOURCE, toys.spiral, n_samples=300, n_classes=3),
        Entry("moons", "two interleaving half circles", TOY_SOURCE, toys.moons, n_samples=200),
        Entry("circles", "a small circle inside a large one", TOY_SOURCE, toys.circles,
              n_samples=200),
        Entry("xor", "the four quadrants, opposite ones sharing a class", TOY_SOURCE, toys.xor,
              n_samples=200),
        Entry("gaussian", "Gaussian blobs around K centres (default 3)", TOY_SOURCE,
              toys.gaussian, n_samples=300, n_classes=3),
        _sklearn("digits", "8 x 8 handwritten digits, pixels 0..16", 1797, 64, 10, (8, 8)),
        _sklearn("iris", "Fisher's iris: 4 flower measurements, 3 species", 150, 4, 3),
        _sklearn("wine", "wine recognition: 13 chemical measurements, 3 cultivars", 178, 13, 3),
        _sklearn("breast_cancer", "Wisconsin breast cancer: 30 features, malignant/benign",
                 569, 30, 2),
        Entry("fashion_mnist", f"Zalando's clothing pictures, 10 classes; {IDX_HINT}",
              f"IDX files, default {real.FASHION_MNIST_DIR} (Debian {real.FASHION_MNIST_PACKAGE})",
              real.fashion_mnist, kind="real", n_samples=60_000, n_test=10_000, n_features=784,
              n_classes=10, image_shape=(28, 28), status=_idx_status("fashion_mnist")),
        Entry("mnist", f"handwritten digits 0-9; {IDX_HINT}", "IDX files in --data-dir",
              real.mnist, kind="real", n_samples=60_000, n_test=10_000, n_features=784,
              n_classes=10, image_shape=(28, 28), status=_idx_status("mnist")),
    )
}
KINDS = ("toy", "real", "all")


def names(kind: str = "toy") -> list[str]:
    """Registered names: the generated toys (the default), the real sets, or all.

    >>> names()
    ['spiral', 'moons', 'circles', 'xor', 'gaussian']
    >>> names("real")
    ['digits', 'iris', 'wine', 'breast_cancer', 'fashion_mnist', 'mnist']
    """
    if kind not in KINDS:
        raise NeuralabError(f"kind must be one of {', '.join(KINDS)}; got {kind!r}")
    return [name for name, e in REGISTRY.items() if kind in ("all", e.kind)]


def describe_all(data_dir: str | Path | None = None) -> list[dict]:
    """One row per registered data set, for ``neuralab datasets``; loads nothing.

    ``data_dir`` is where the IDX sets (fashion_mnist, mnist) would be read from, as
    ``--data-dir`` gives it; each row's ``status`` says whether the files are there.

    >>> rows = describe_all()
    >>> [(r["name"], r["n_samples"], r["n_features"], r["n_classes"]) for r in rows][:2]
    [('spiral', 300, 2, 3), ('moons', 200, 2, 2)]
    """
    return [entry.describe(data_dir) for entry in REGISTRY.values()]


def load(name: str, *, seed: int = 0, data_dir: str | Path | None = None, **options) -> Dataset:
    """Load a registered data set by name.

    ``seed`` and ``options`` go to the toys' generators (``n_per_class``, ``noise``, ...);
    ``data_dir`` is the folder of an IDX set (fashion_mnist, mnist).

    >>> load("moons", n_per_class=10).X.shape
    (20, 2)
    >>> load("mnist-typo")
    Traceback (most recent call last):
    ...
    neuralab.NeuralabError: dataset must be one of spiral, moons, circles, xor, gaussian, digits, iris, wine, breast_cancer, fashion_mnist, mnist; got 'mnist-typo'
    """
    entry = REGISTRY.get(name)
    if entry is None:
        raise NeuralabError(f"dataset must be one of {', '.join(REGISTRY)}; got {name!r}")
    return entry.load(seed=seed, data_dir=data_dir, **options)
