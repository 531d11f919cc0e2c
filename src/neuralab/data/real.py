"""Real data sets, all offline: scikit-learn's bundled sets and MNIST-style IDX folders.

- ``digits``, ``iris``, ``wine``, ``breast_cancer`` ship inside scikit-learn
  (``sklearn.datasets.load_*``): nothing is downloaded. Their features are
  scikit-learn's values in float64 (the digits' pixels are counts 0..16, unscaled),
  read from its files without importing it (about a second of every command).
- ``diabetes`` (bundled, ``load_diabetes``, read and scaled as it does) and
  ``friedman1`` (``make_friedman1``'s numbers, seeded, drawn here) are regression
  sets: one numeric target per example.
- ``fashion_mnist`` and ``mnist`` read the four IDX files of a folder
  (:data:`IDX_FILES`, each raw or gzip). Fashion-MNIST's default folder is where
  Debian's package ``dataset-fashion-mnist`` puts it (:data:`FASHION_MNIST_DIR`);
  MNIST has no default folder. The pixels, unsigned bytes 0..255 in the files, are
  divided by 255 into **float32** values in [0, 1]: 70,000 x 784 float32 values take
  220 MB, float64 would take twice that. The data set's own split is kept: the
  returned :class:`~neuralab.data.dataset.Dataset` holds the 60,000 training images
  and its ``test`` attribute the 10,000 test images.

The functions here only read; the registry (:mod:`neuralab.data.registry`) lists them
with their shapes, so that listing never loads anything.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import TYPE_CHECKING

from neuralab import ArgumentError, NeuralabError

if TYPE_CHECKING:
    from neuralab.data.dataset import Dataset
# numpy, Dataset and the IDX reader load inside the loaders: `neuralab datasets`
# lists the sets from this module's names without importing numpy


FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_MNIST_PACKAGE = "dataset-fashion-mnist"
FASHION_MNIST_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                         "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
MNIST_CLASSES = [str(k) for k in range(10)]

#: part -> (images file, labels file), each looked for as it is and with ``.gz``
IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
IDX_NAMES = [stem for pair in IDX_FILES.values() for stem in pair]


# --------------------------------------------------------------------------- scikit-learn


SKLEARN_SETS = {  # registry name -> sklearn.datasets function
    "digits": "load_digits",
    "iris": "load_iris",
    "wine": "load_wine",
    "breast_cancer": "load_breast_cancer",
}


def sklearn_status() -> str | None:
    """None when scikit-learn can be imported, else what to do about it."""
    if importlib.util.find_spec("sklearn") is None:
        return "not installed: pip install scikit-learn"
    return None


#: The bundled sets' files inside scikit-learn's package, which neuralab reads itself: name
#: -> (file, feature names as ``sklearn.datasets.load_*`` gives them; None: the digits'
#: ``pixel_r_c``). Importing scikit-learn to read one (it imports SciPy) takes about a
#: second, which was half of a short ``neuralab train --dataset breast_cancer``; the
#: files are the same CSV files its loaders read, parsed as they parse them.
_TUMOUR_MEASURES = ("radius", "texture", "perimeter", "area", "smoothness", "compactness",
                    "concavity", "concave points", "symmetry", "fractal dimension")
BUNDLED = {
    "digits": ("digits.csv.gz", None),
    "iris": ("iris.csv", ["sepal length (cm)", "sepal width (cm)", "petal length (cm)",
                          "petal width (cm)"]),
    "wine": ("wine_data.csv", ["alcohol", "malic_acid", "ash", "alcalinity_of_ash", "magnesium",
                               "total_phenols", "flavanoids", "nonflavanoid_phenols",
                               "proanthocyanins", "color_intensity", "hue",
                               "od280/od315_of_diluted_wines", "proline"]),
    "breast_cancer": ("breast_cancer.csv", [f"mean {m}" for m in _TUMOUR_MEASURES]
                      + [f"{m} error" for m in _TUMOUR_MEASURES]
                      + [f"worst {m}" for m in _TUMOUR_MEASURES]),
}


def _bundled_file(name: str) -> Path | None:
    """scikit-learn's file of the bundled set ``name`` (:data:`BUNDLED`), or None."""
    return _sklearn_data_file(BUNDLED[name][0])


def _sklearn_data_file(file: str) -> Path | None:
    """``file`` of scikit-learn's bundled data, found without importing scikit-learn; None
    where this scikit-learn keeps it elsewhere."""
    spec = importlib.util.find_spec("sklearn")
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        path = Path(folder) / "datasets" / "data" / file
        if path.is_file():
            return path
    return None


def _read_bundled(name: str, path: Path):
    """(X, y, class names) from a bundled file as scikit-learn's loader parses it, or None
    when the file is not laid out as that loader expects or holds what no such file holds
    (then the loader itself is asked, :func:`load_sklearn`).

    The digits are ``np.loadtxt`` of the gzipped CSV, the target its last column; the
    others start with a row ``n_samples,n_features,class names...``, then one row per
    example, its features then its class index, each row's numbers cast from text by
    NumPy as ``load_csv_data`` casts them."""
    import csv

    import numpy as np

    if name == "digits":
        data = _loadtxt_gz(path, delimiter=",")
        if data is None or data.ndim != 2 or data.shape[1] != 65:
            return None
        labels, classes = data[:, -1], [str(k) for k in range(10)]
        if not np.array_equal(labels, np.round(labels)):  # NaN too
            return None
        X, y = data[:, :-1], labels.astype(np.int64)
    else:
        try:
            with path.open("r", encoding="utf-8", newline="") as fh:
                rows = list(csv.reader(fh))
            n, d, classes = int(rows[0][0]), int(rows[0][1]), rows[0][2:]
            body = rows[1:]
            if (d != len(BUNDLED[name][1]) or len(body) != n
                    or any(len(r) != d + 1 for r in body)):
                return None
            X = np.array([r[:-1] for r in body], dtype=np.float64).reshape(n, d)
            y = np.array([r[-1] for r in body], dtype=np.int64)
        except (OSError, UnicodeDecodeError, ValueError, IndexError, csv.Error):
            return None
    return (X, y, classes) if _bundled_problem(X, y, classes) is None else None


def _loadtxt_gz(path: Path, **kwargs):
    """``np.loadtxt`` of a gzipped text file, as scikit-learn's loaders read theirs; None when
    it cannot be read (a damaged stream, text that is not numbers; an empty file, whose
    NumPy warning is kept from the user)."""
    import gzip
    import warnings
    import zlib

    import numpy as np

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            with gzip.open(path, "rt", encoding="utf-8") as fh:
                return np.loadtxt(fh, **kwargs)
    except (OSError, UnicodeDecodeError, EOFError, ValueError, zlib.error):
        return None


def _bundled_problem(X, y, classes) -> str | None:
    """What a bundled set's arrays hold that no such set holds, or None: no rows, a value
    that is not finite, a class index outside the class names."""
    import numpy as np

    if X.ndim != 2 or X.shape[0] == 0 or y.shape != (X.shape[0],):
        return f"{X.shape} features for {y.shape} labels"
    if not np.all(np.isfinite(X)):
        return "a feature value that is not finite"
    if not classes or y.min() < 0 or y.max() >= len(classes):
        return f"class indices {y.min()}..{y.max()} for {len(classes)} class names"
    return None


def load_sklearn(name: str) -> Dataset:
    """One of scikit-learn's bundled sets, named as in :data:`SKLEARN_SETS`.

    Class names are scikit-learn's ``target_names`` as strings; feature names are its
    ``feature_names`` (the digits' are ``pixel_r_c``, row and column in the 8 x 8 image).
    The values are those of its ``sklearn.datasets.load_*`` function, read from the
    same file without importing scikit-learn (:data:`BUNDLED`); a scikit-learn whose
    file is elsewhere or laid out otherwise is asked through that function.

    >>> d = load_sklearn("iris")
    >>> d.X.shape, d.classes
    ((150, 4), ['setosa', 'versicolor', 'virginica'])
    """

    if name not in SKLEARN_SETS:
        raise NeuralabError(f"scikit-learn set must be one of {', '.join(SKLEARN_SETS)}; got {name!r}")
    if (reason := sklearn_status()) is not None:
        raise NeuralabError(f"data set {name}: scikit-learn is {reason}")
    from neuralab.data.dataset import Dataset

    path = _bundled_file(name)
    read = None if path is None else _read_bundled(name, path)
    if read is not None:
        X, y, classes = read
        feature_names = BUNDLED[name][1] or [f"pixel_{r}_{c}" for r in range(8) for c in range(8)]
        version = _sklearn_version()
    else:
        X, y, classes, feature_names, version = _sklearn_loader(name)
        if (problem := _bundled_problem(X, y, classes)) is not None:
            raise NeuralabError(f"data set {name}: scikit-learn {version}'s copy holds {problem}; "
                                f"reinstall scikit-learn")
    return Dataset(
        X=X, y=y, classes=[str(c) for c in classes], name=name,
        source=f"scikit-learn {version}, sklearn.datasets.{SKLEARN_SETS[name]}() (bundled)",
        feature_names=[str(f) for f in feature_names],
        image_shape=(8, 8) if name == "digits" else None,
    )


def _sklearn_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("scikit-learn")
    except PackageNotFoundError:  # importable, but installed without its metadata
        import sklearn

        return sklearn.__version__


def _sklearn_loader(name: str):
    """(X, y, class names, feature names, version) from ``sklearn.datasets.load_*`` itself."""
    import numpy as np

    bunch, version = _ask_sklearn(name, SKLEARN_SETS[name])
    return (np.asarray(bunch.data, dtype=np.float64), np.asarray(bunch.target, dtype=np.int64),
            list(bunch.target_names), list(bunch.feature_names), version)


def _ask_sklearn(name: str, loader: str):
    """(``sklearn.datasets.<loader>()``'s bunch, scikit-learn's version); a file it cannot
    read is a one-line NeuralabError naming the set ``name``."""
    import sklearn
    from sklearn import datasets

    try:
        return getattr(datasets, loader)(), sklearn.__version__
    except Exception as exc:  # noqa: BLE001 - a damaged install: said in one line
        raise NeuralabError(f"data set {name}: scikit-learn {sklearn.__version__} cannot read "
                            f"its own copy ({type(exc).__name__}: {exc}); reinstall "
                            f"scikit-learn") from None


def digits() -> Dataset:
    """scikit-learn's 8 x 8 handwritten digits: 1,797 images, 64 pixels 0..16, 10 classes."""
    return load_sklearn("digits")


def iris() -> Dataset:
    """Fisher's iris: 150 flowers, 4 measurements in cm, 3 species."""
    return load_sklearn("iris")


def wine() -> Dataset:
    """The UCI wine recognition set: 178 wines, 13 chemical measurements, 3 cultivars."""
    return load_sklearn("wine")


def breast_cancer() -> Dataset:
    """The Wisconsin diagnostic breast cancer set: 569 tumours, 30 features, malignant/benign."""
    return load_sklearn("breast_cancer")


#: diabetes' two files in scikit-learn's bundled data, and its feature names
DIABETES_FILES = ("diabetes_data_raw.csv.gz", "diabetes_target.csv.gz")
DIABETES_FEATURES = ["age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6"]


def diabetes() -> Dataset:
    """scikit-learn's diabetes set (regression): 442 patients, 10 baseline variables
    (already centred and scaled by scikit-learn), the target a measure of disease
    progression one year later (25..346).

    The values are ``sklearn.datasets.load_diabetes()``'s, read from its two files and
    scaled as it scales them (:func:`_read_diabetes`), without importing scikit-learn;
    a scikit-learn whose files are elsewhere or laid out otherwise is asked itself."""
    if (reason := sklearn_status()) is not None:
        raise NeuralabError(f"data set diabetes: scikit-learn is {reason}")
    import numpy as np

    from neuralab.data.dataset import Dataset

    paths = [_sklearn_data_file(f) for f in DIABETES_FILES]
    read = None if None in paths else _read_diabetes(*paths)
    if read is not None:
        (X, y), version = read, _sklearn_version()
    else:
        bunch, version = _ask_sklearn("diabetes", "load_diabetes")
        X, y = bunch.data, bunch.target
    return Dataset(X=np.asarray(X, dtype=np.float64), y=np.asarray(y, dtype=np.float64),
                   classes=[], name="diabetes",
                   source=f"scikit-learn {version}, sklearn.datasets.load_diabetes() (bundled)",
                   feature_names=list(DIABETES_FEATURES), task="regression",
                   target="progression")


def _read_diabetes(data_path: Path, target_path: Path):
    """(X, y) as ``load_diabetes()`` gives them, or None when the files are not laid out as it
    expects: each file ``np.loadtxt`` of the gzipped text, then every column centred on its
    mean and divided by its standard deviation as ``sklearn.preprocessing.scale`` does
    (NumPy's nanmean and nanstd; centred again where the mean is not yet 0; a constant
    column divided by 1), then by the square root of the number of rows."""
    import numpy as np

    X, y = _loadtxt_gz(data_path), _loadtxt_gz(target_path)
    if X is None or y is None:
        return None
    if X.ndim != 2 or X.shape[1] != len(DIABETES_FEATURES) or y.shape != (X.shape[0],) \
            or not X.shape[0] or not (np.all(np.isfinite(X)) and np.all(np.isfinite(y))):
        return None
    mean, std = np.nanmean(X, axis=0), np.nanstd(X, axis=0)
    X -= mean
    again = np.nanmean(X, axis=0)
    if not np.allclose(again, 0):
        X -= again
    std[std < 10 * np.finfo(std.dtype).eps] = 1.0
    X /= std
    again = np.nanmean(X, axis=0)
    if not np.allclose(again, 0):
        X -= again
    X /= X.shape[0] ** 0.5
    return X, y


def friedman1(n_samples: int = 1000, noise: float = 1.0, *, seed: int = 0) -> Dataset:
    """Friedman's first regression problem, the numbers of ``sklearn.datasets.make_friedman1``
    with ``random_state=seed``, drawn here without scikit-learn.

    Ten inputs uniform on [0, 1], of which five matter:
    ``y = 10 sin(pi x1 x2) + 20 (x3 - 0.5)^2 + 10 x4 + 5 x5 + noise * N(0, 1)``; the
    uniform draws and then the normal ones come from ``numpy.random.RandomState(seed)``,
    in the order scikit-learn draws them.

    >>> d = friedman1(n_samples=50, seed=0)
    >>> d.X.shape, d.task
    ((50, 10), 'regression')
    """
    import numpy as np

    from neuralab.data.dataset import Dataset

    generator = np.random.RandomState(seed)
    X = generator.uniform(size=(n_samples, 10))
    y = (10 * np.sin(np.pi * X[:, 0] * X[:, 1]) + 20 * (X[:, 2] - 0.5) ** 2 + 10 * X[:, 3]
         + 5 * X[:, 4] + noise * generator.standard_normal(size=(n_samples)))
    return Dataset(X=X, y=y, classes=[], name="friedman1",
                   source=f"sklearn.datasets.make_friedman1(n_samples={n_samples}, "
                          f"noise={noise}, random_state={seed})",
                   task="regression", target="y")


# --------------------------------------------------------------------------- IDX folders


def _find(folder: Path, stem: str) -> Path | None:
    """``stem`` or ``stem.gz`` in ``folder`` (the raw file first: it reads faster)."""
    for candidate in (folder / stem, folder / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    return None


def _files_hint() -> str:
    return ", ".join(f"{stem}[.gz]" for stem in IDX_NAMES)


def idx_status(name: str, data_dir: str | Path | None) -> str | None:
    """None when the IDX folder of ``name`` holds its four files, else why not and what to do.

    Only looks at file names: nothing is read.
    """
    if data_dir is None:
        if name == "mnist":
            return f"no default folder: pass --data-dir DIR holding {_files_hint()}"
        data_dir = FASHION_MNIST_DIR
        if not data_dir.is_dir():
            return f"not installed: apt-get install {FASHION_MNIST_PACKAGE} or pass --data-dir"
    folder = Path(data_dir)
    if not folder.is_dir():
        return f"--data-dir {folder} is not a folder"
    missing = [stem for stem in IDX_NAMES if _find(folder, stem) is None]
    if missing:
        return f"{folder} lacks {', '.join(f'{m}[.gz]' for m in missing)}"
    return None


def _read_part(folder: Path, part: str, classes: list[str], where: str):
    """Images as float32 (n, rows * cols) in [0, 1], labels as int64, and (rows, cols)."""
    import numpy as np

    from neuralab.data.idx import read_idx

    images_stem, labels_stem = IDX_FILES[part]
    images_path, labels_path = _find(folder, images_stem), _find(folder, labels_stem)
    for stem, found in ((images_stem, images_path), (labels_stem, labels_path)):
        if found is None:
            raise NeuralabError(f"{where}: {folder} has no {stem} or {stem}.gz")
    images = read_idx(images_path, ndim=3, dtype=np.uint8)
    labels = read_idx(labels_path, ndim=1, dtype=np.uint8)
    n = images.shape[0]
    if n == 0:
        raise NeuralabError(f"{where}: IDX file {images_path} holds no images")
    if labels.shape[0] != n:
        raise NeuralabError(
            f"{where}: IDX file {labels_path} has {labels.shape[0]} labels but "
            f"{images_path} has {n} images"
        )
    K = len(classes)
    bad = np.flatnonzero(labels >= K)
    if bad.size:
        raise NeuralabError(
            f"{where}: IDX file {labels_path}: label {int(labels[bad[0]])} at index {int(bad[0])} "
            f"is outside 0..{K - 1} ({K} classes)"
        )
    # [0, 255] -> [0, 1] in float32, with no float64 copy in between: the bytes are cast,
    # then divided in place (a ufunc that casts as it writes into ``out`` takes ten times
    # as long; the numbers are the same, each byte's float32 divided by float32 255)
    X = images.reshape(n, -1).astype(np.float32)
    X /= np.float32(255)
    return X, labels.astype(np.int64), images.shape[1:]


def load_idx_folder(data_dir: str | Path, *, name: str, classes: list[str], source: str) -> Dataset:
    """The training and test parts of an MNIST-style folder (:data:`IDX_FILES`).

    Returns the training part with the test part as its ``test`` attribute; X is
    float32 of shape (n, rows * cols), the pixels divided by 255, and ``image_shape``
    is (rows, cols). Labels must lie in 0..len(classes) - 1, at least two of them present.
    """
    import numpy as np

    from neuralab.data.dataset import Dataset

    folder = Path(data_dir)
    where = f"data set {name}"
    if not folder.is_dir():
        raise ArgumentError("data_dir", f"data_dir {folder} is not a folder (data set {name})")
    parts = {part: _read_part(folder, part, classes, where) for part in IDX_FILES}
    shapes = {part: parts[part][2] for part in IDX_FILES}
    if shapes["train"] != shapes["test"]:
        raise NeuralabError(
            f"{where}: training images are {shapes['train'][0]} x {shapes['train'][1]} but test "
            f"images are {shapes['test'][0]} x {shapes['test'][1]}"
        )
    y_train = parts["train"][1]
    present = np.unique(y_train)
    if present.size < 2:
        raise NeuralabError(
            f"{where}: needs at least two classes, the training labels hold only "
            f"{[classes[k] for k in present]}"
        )
    rows, cols = shapes["train"]
    feature_names = [f"px_{r}_{c}" for r in range(rows) for c in range(cols)]
    test = Dataset(X=parts["test"][0], y=parts["test"][1], classes=list(classes), name=name,
                   source=f"{source}, test part", feature_names=feature_names,
                   image_shape=(rows, cols))
    return Dataset(X=parts["train"][0], y=y_train, classes=list(classes), name=name,
                   source=f"{source}, training part", feature_names=feature_names,
                   image_shape=(rows, cols), test=test)


def fashion_mnist(*, data_dir: str | Path | None = None) -> Dataset:
    """Zalando's Fashion-MNIST: 60,000 + 10,000 grey 28 x 28 images of 10 kinds of clothing.

    ``data_dir`` defaults to :data:`FASHION_MNIST_DIR`, where Debian's
    ``dataset-fashion-mnist`` installs it. Pixels are float32 in [0, 1] (divided by 255).
    """
    if data_dir is None:
        if not FASHION_MNIST_DIR.is_dir():
            raise NeuralabError(
                f"data set fashion_mnist is not installed: {FASHION_MNIST_DIR} is missing; "
                f"apt-get install {FASHION_MNIST_PACKAGE} or pass --data-dir DIR holding {_files_hint()}"
            )
        data_dir = FASHION_MNIST_DIR
    return load_idx_folder(data_dir, name="fashion_mnist", classes=FASHION_MNIST_CLASSES,
                           source=f"Fashion-MNIST IDX files in {data_dir}")


def mnist(*, data_dir: str | Path | None = None) -> Dataset:
    """LeCun's MNIST digits: 60,000 + 10,000 grey 28 x 28 images, classes "0".."9".

    There is no default folder: pass the folder that holds the four IDX files.
    Pixels are float32 in [0, 1] (divided by 255).
    """
    if data_dir is None:
        raise NeuralabError(f"data set mnist needs --data-dir DIR holding {_files_hint()}")
    return load_idx_folder(data_dir, name="mnist", classes=MNIST_CLASSES,
                           source=f"MNIST IDX files in {data_dir}")
