"""The opening both generated scripts share, in plain NumPy: settings, data, split, features, scaling.

Each piece computes what neuralab computes for the session, operation by
operation, so that a script's numbers equal the playground's: the toy's
generator (:mod:`neuralab.data.toys`), the seeded split
(:func:`neuralab.data.splits.train_test_split`: scikit-learn's
``StratifiedShuffleSplit`` for classes, its ``ShuffleSplit`` for a regression
target), the points added by hand, the feature columns
(:data:`neuralab.config.FEATURES`), the standardisation
(:class:`neuralab.data.preprocess.Standardizer`), a regression target's
standardisation (:class:`neuralab.data.target.TargetScaler`) and the starting
weights (:mod:`neuralab.nn.init`). Every value enters as a Python literal (``repr``).
"""

from __future__ import annotations

import inspect

import numpy as np

from neuralab.config import FEATURES, REGRESSION_TOYS, TWO_CLASS_TOYS

#: The column a generated line should stay within (literal arrays are wrapped to it).
WIDTH = 100

#: Each toy's generator, as neuralab.data.toys writes it, over the constants N_POINTS,
#: N_CLASSES (spiral, gaussian), NOISE (BUMPS, BUMP_WIDTH: gaussians) and the generator ``rng``.
#: A classification toy gives X and the labels y; a regression toy X and the numeric target y.
TOY_CODE = {
    "spiral": '''# the data: the lecture's spiral, N_CLASSES arms of N_POINTS points; arm j has radius
# linspace(0, 1) and angle linspace(4j, 4(j + 1)) + NOISE * N(0, 1); x = (r sin t, r cos t)
rng = np.random.default_rng(SEED)
X = np.zeros((N_POINTS * N_CLASSES, 2))
y = np.zeros(N_POINTS * N_CLASSES, dtype=np.int64)
for j in range(N_CLASSES):
    ix = slice(N_POINTS * j, N_POINTS * (j + 1))
    r = np.linspace(0.0, 1, N_POINTS)
    t = np.linspace(j * 4, (j + 1) * 4, N_POINTS) + rng.standard_normal(N_POINTS) * NOISE
    X[ix] = np.c_[r * np.sin(t), r * np.cos(t)]
    y[ix] = j
''',
    "moons": '''# the data: two interleaving half circles of N_POINTS points, plus NOISE * N(0, 1)
rng = np.random.default_rng(SEED)
t = np.linspace(0, np.pi, N_POINTS)
upper = np.c_[np.cos(t), np.sin(t)]
lower = np.c_[1 - np.cos(t), 0.5 - np.sin(t)]
X = np.vstack([upper, lower]) + NOISE * rng.standard_normal((2 * N_POINTS, 2))
y = np.repeat(np.arange(2), N_POINTS)
''',
    "circles": '''# the data: a circle of radius FACTOR (class 1) inside one of radius 1 (class 0),
# N_POINTS points each, plus NOISE * N(0, 1)
rng = np.random.default_rng(SEED)
t = np.linspace(0, 2 * np.pi, N_POINTS, endpoint=False)
ring = np.c_[np.cos(t), np.sin(t)]
X = np.vstack([ring, FACTOR * ring]) + NOISE * rng.standard_normal((2 * N_POINTS, 2))
y = np.repeat(np.arange(2), N_POINTS)
''',
    "xor": '''# the data: the four quadrants, class 1 where x1 * x2 < 0, N_POINTS points a class drawn
# away from the axes, plus NOISE * N(0, 1)
rng = np.random.default_rng(SEED)
parts = []
for signs in (((1, 1), (-1, -1)), ((1, -1), (-1, 1))):  # class 0's quadrants, then class 1's
    n_first = (N_POINTS + 1) // 2
    for k, (sx, sy) in enumerate(signs):
        n = n_first if k == 0 else N_POINTS - n_first
        parts.append(rng.uniform(0.1, 1.0, size=(n, 2)) * np.array([sx, sy]))
X = np.vstack(parts) + NOISE * rng.standard_normal((2 * N_POINTS, 2))
y = np.repeat(np.arange(2), N_POINTS)
''',
    "gaussian": '''# the data: N_CLASSES Gaussian blobs of N_POINTS points and std NOISE around centres
# evenly spaced on a circle of radius 2
rng = np.random.default_rng(SEED)
angles = 2 * np.pi * np.arange(N_CLASSES) / N_CLASSES
centres = 2 * np.c_[np.cos(angles), np.sin(angles)]
X = np.repeat(centres, N_POINTS, axis=0) + NOISE * rng.standard_normal((N_CLASSES * N_POINTS, 2))
y = np.repeat(np.arange(N_CLASSES), N_POINTS)
''',
    "plane": '''# the data: N_POINTS points uniform in [-1, 1]^2 and the target y = (x1 + x2) / 2 plus
# NOISE * N(0, 1), a tilted plane
rng = np.random.default_rng(SEED)
X = rng.uniform(-1.0, 1.0, size=(N_POINTS, 2))
y = X.sum(axis=1) / 2 + NOISE * rng.standard_normal(len(X))
''',
    "gaussians": '''# the data: N_POINTS points uniform in [-1, 1]^2 and the target y = sum over the BUMPS
# (cx, cy, h) of h exp(-|x - c|^2 / (2 BUMP_WIDTH^2)), plus NOISE * N(0, 1)
rng = np.random.default_rng(SEED)
X = rng.uniform(-1.0, 1.0, size=(N_POINTS, 2))
y = np.zeros(len(X))
for cx, cy, h in BUMPS:
    y += h * np.exp(-((X[:, 0] - cx) ** 2 + (X[:, 1] - cy) ** 2) / (2 * BUMP_WIDTH ** 2))
y = y + NOISE * rng.standard_normal(len(X))
''',
}

_STRATIFIED = '''
# the split: TEST_FRACTION of the points held out, stratified by class and seeded, as neuralab
# cuts it (scikit-learn's StratifiedShuffleSplit, written out with NumPy's RandomState)
def per_class(counts, n_draws, rs):
    """How many of n_draws rows each class gives: its share, floored, and the rows left over
    to the classes with the largest remainders (ties drawn at random)."""
    share = counts / counts.sum() * n_draws
    drawn = np.floor(share)
    need = int(n_draws - drawn.sum())
    left = share - drawn
    for value in np.sort(np.unique(left))[::-1]:
        if need == 0:
            break
        tied = np.flatnonzero(left == value)
        take = min(len(tied), need)
        drawn[rs.choice(tied, size=take, replace=False)] += 1
        need -= take
    return drawn.astype(int)


def split(y, test_fraction, seed):
    """(training rows, test rows), each sorted."""
    rs = np.random.RandomState(seed)
    n_test = int(np.ceil(test_fraction * len(y)))
    classes, counts = np.unique(y, return_counts=True)
    n_train = per_class(counts, len(y) - n_test, rs)
    n_held = per_class(counts - n_train, n_test, rs)
    train, test = [], []
    for k, c in enumerate(classes):
        rows = np.flatnonzero(y == c)[rs.permutation(counts[k])]
        train += list(rows[:n_train[k]])
        test += list(rows[n_train[k]:n_train[k] + n_held[k]])
    return np.sort(train), np.sort(test)


train_rows, test_rows = split(y, TEST_FRACTION, SEED)
X_train, y_train, X_test, y_test = X[train_rows], y[train_rows], X[test_rows], y[test_rows]
'''

#: Why the split is not stratified, by task: the comment over the shuffled split.
_UNSTRATIFIED = {
    "classification": "# the split: TEST_FRACTION of the points held out at random, seeded, as "
                      "neuralab cuts it when a\n# class has too few points to stratify "
                      "(scikit-learn's ShuffleSplit, with NumPy's RandomState)",
    "regression": "# the split: TEST_FRACTION of the points held out at random, seeded, as "
                  "neuralab cuts a\n# regression set, which has no classes to stratify by "
                  "(scikit-learn's ShuffleSplit, with\n# NumPy's RandomState)",
}

_SHUFFLED = '''n_test = int(np.ceil(TEST_FRACTION * len(y)))
order = np.random.RandomState(SEED).permutation(len(y))
train_rows, test_rows = np.sort(order[n_test:]), np.sort(order[:n_test])
X_train, y_train, X_test, y_test = X[train_rows], y[train_rows], X[test_rows], y[test_rows]
'''

#: Each feature column as NumPy computes it from the raw columns x1, x2.
FEATURE_CODE = {"x1": "x1", "x2": "x2", "x1^2": "x1 ** 2", "x2^2": "x2 ** 2",
                "x1*x2": "x1 * x2", "sin(x1)": "np.sin(x1)", "sin(x2)": "np.sin(x2)"}

_STANDARDIZE = '''
# standardise with the training split's mean and standard deviation (a constant column is
# left unscaled)
mean = X_train.mean(axis=0)
std = np.sqrt(((X_train - mean) ** 2).mean(axis=0))
scale = np.where(std > 1e-12 * np.maximum(np.abs(mean), 1.0), std, 1.0)
'''

_TARGET = '''
# the target as the network learns it: t = (y - t_mean) / t_scale, with the training split's
# mean and standard deviation (a constant target is left unscaled); the output u means
# u * t_scale + t_mean in the target's units
t_mean, t_std = float(y_train.mean()), float(y_train.std())
t_scale = t_std if t_std > 1e-12 * max(abs(t_mean), 1.0) else 1.0
'''

_RAW_TARGET = '''
# the target as the network learns it: y itself (standardize is off), t = (y - 0) / 1
t_mean, t_scale = 0.0, 1.0
'''

#: Each initialiser's draw of W (d_in, d_out) from ``rng``, as neuralab.nn.init writes it.
INIT_CODE = {
    "lecture": ("the lecture's 0.01 * N(0, 1)",
                ["Ws.append(0.01 * rng.standard_normal((d_in, d_out)))"]),
    "he": ("He's N(0, 2 / d_in)",
           ["Ws.append(rng.standard_normal((d_in, d_out)) * np.sqrt(2.0 / d_in))"]),
    "glorot": ("Glorot's U(-r, r), r = sqrt(6 / (d_in + d_out))",
               ["r = np.sqrt(6.0 / (d_in + d_out))",
                "Ws.append(rng.uniform(-r, r, size=(d_in, d_out)))"]),
}


def packed(items: list[str], indent: str = "    ", width: int = WIDTH) -> str:
    """``items`` joined by commas, as many a line as fit within ``width`` columns.

    >>> print(packed(["1", "2", "3"], width=11))
        1, 2,
        3,
    """
    lines, line = [], []
    for item in items:
        if line and len(indent) + len(", ".join([*line, item])) + 1 > width:
            lines.append(indent + ", ".join(line) + ",")
            line = []
        line.append(item)
    if line:
        lines.append(indent + ", ".join(line) + ",")
    return "\n".join(lines)


def float_rows(a) -> str:
    """A 2-D array's rows as exact literals (``repr`` of each float), wrapped."""
    return packed([f"[{', '.join(repr(float(v)) for v in row)}]" for row in np.asarray(a)])


def int_items(a) -> str:
    return packed([repr(int(v)) for v in np.asarray(a)])


def features_code(features, test: bool) -> str:
    """The expansion of the raw points into the chosen feature columns (FEATURES order)."""
    chosen = [f for f in FEATURES if f in features]
    columns = ", ".join(FEATURE_CODE[f] for f in chosen)
    return ("\n# the model's inputs, computed from the raw columns x1, x2: "
            + ", ".join(chosen) + "\n"
            "def features(X):\n"
            "    x1, x2 = X[:, 0], X[:, 1]\n"
            f"    return np.column_stack([{columns}])\n\n\n"
            + ("X_train, X_test = features(X_train), features(X_test)\n" if test
               else "X_train = features(X_train)\n"))


def expands(config: dict) -> bool:
    """Whether the config's inputs are other columns than the raw x1, x2."""
    return list(config.get("features") or ["x1", "x2"]) != ["x1", "x2"]


def stratifies(y: np.ndarray, test_fraction: float) -> bool:
    """Whether neuralab's split stratifies y (:func:`neuralab.data.splits.train_test_split`)."""
    counts = np.bincount(y)
    n_test = int(np.ceil(test_fraction * len(y)))
    return bool(counts[counts > 0].min() >= 2 and n_test >= np.count_nonzero(counts))


def regresses(config: dict) -> bool:
    """Whether the config's task is regression (a numeric target, one linear output)."""
    return config.get("task", "classification") == "regression"


def data_constants(config: dict, uploaded) -> list[str]:
    """The data's constants: the toy generator's options (none for an upload)."""
    if uploaded is not None:
        return []
    from neuralab.data import toys

    toy = config["dataset"]
    if toy in REGRESSION_TOYS:
        lines = [f"N_POINTS = {config['n_points']!r}", f"NOISE = {config['noise']!r}"]
        if toy == "gaussians":
            bumps = packed([repr(tuple(b)) for b in toys.BUMPS])
            lines += [f"BUMPS = [  # each bump's centre (cx, cy) and height h\n{bumps}\n]",
                      f"BUMP_WIDTH = {toys.BUMP_WIDTH!r}"]
        return lines
    lines = [f"N_POINTS = {config['n_points']!r}  # points per class"]
    if toy not in TWO_CLASS_TOYS:
        lines.append(f"N_CLASSES = {config['classes']!r}")
    lines.append(f"NOISE = {config['noise']!r}")
    if toy == "circles":
        factor = inspect.signature(toys.circles).parameters["factor"].default
        lines.append(f"FACTOR = {factor!r}  # the inner circle's radius")
    return lines


def _split_code(config: dict, labels: np.ndarray | None) -> str:
    """The test split as neuralab cuts it: stratified by class where it can be, else shuffled."""
    if not config["test_fraction"]:
        return "# no test split: every point trains\nX_train, y_train = X, y\n"
    if labels is not None and stratifies(labels, config["test_fraction"]):
        return _STRATIFIED
    task = "regression" if regresses(config) else "classification"
    return "\n" + _UNSTRATIFIED[task] + "\n" + _SHUFFLED


def data_code(config: dict, extra: list, uploaded, labels: np.ndarray | None) -> str:
    """Data, split, added points, features and scaling; ends with X_train, y_train (and the
    test split's X_test, y_test when there is one), as the model sees them, and for a
    regression the target's scaling t_mean, t_scale.

    ``labels`` are the classes the split stratifies by (None for a regression target).
    """
    if uploaded is not None:
        names = packed([repr(c) for c in uploaded.classes])
        out = ["# the data: the points uploaded to the playground; label k is class CLASSES[k]",
               f"CLASSES = [\n{names}\n]",
               f"X = np.array([\n{float_rows(uploaded.X)}\n])",
               f"y = np.array([\n{int_items(uploaded.y)}\n], dtype=np.int64)\n"]
    else:
        out = [TOY_CODE[config["dataset"]]]
    test = bool(config["test_fraction"])
    out.append(_split_code(config, labels))
    if extra:
        out.append("# the points added by hand in the playground (x1, x2, label): training points\n"
                   f"added = np.array([\n{float_rows(extra)}\n])\n"
                   "X_train = np.vstack([X_train, added[:, :2]])\n"
                   "y_train = np.concatenate([y_train, added[:, 2].astype(np.int64)])\n")
    if expands(config):
        out.append(features_code(config["features"], test))
    if config["standardize"]:
        out.append(_STANDARDIZE + "X_train = (X_train - mean) / scale\n"
                   + ("X_test = (X_test - mean) / scale\n" if test else ""))
    if regresses(config):
        out.append((_TARGET if config["standardize"] else _RAW_TARGET)
                   + "t_train = (y_train - t_mean) / t_scale\n")
    return "\n".join(out)


def init_code(sizes: list[int], init: str, outputs: str = "the classes") -> str:
    """SIZES and the starting weights Ws, bs in the lecture's layout, drawn as neuralab draws;
    ``outputs`` says what d_L counts."""
    what, draw = INIT_CODE[init]
    return (f"\n\n# the layers' widths: d_0 (the inputs), the hidden layers', d_L ({outputs})\n"
            f"SIZES = {sizes!r}\n"
            "# the starting weights, as neuralab draws them: W_i of shape (d_{i-1}, d_i), drawn in "
            f"order\n# with SEED from {what}; the biases start at 0\n"
            "rng = np.random.default_rng(SEED)\n"
            "Ws = []\n"
            "for d_in, d_out in zip(SIZES[:-1], SIZES[1:]):\n"
            + "".join(f"    {line}\n" for line in draw)
            + "bs = [np.zeros(d) for d in SIZES[1:]]\n")
