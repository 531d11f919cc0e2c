"""Data: the seeded toys, the registry, the user's CSV/NPZ files, the stratified split and
the standardisation."""

from __future__ import annotations

import os

import numpy as np
import pytest
from helpers import one_line
from hypothesis import given, settings
from hypothesis import strategies as st

from neuralab import NeuralabError
from neuralab.data import (
    circles,
    gaussian,
    load,
    load_csv,
    load_file,
    load_npz,
    moons,
    names,
    spiral,
    train_test_split,
    xor,
)
from neuralab.data.preprocess import Standardizer

FAST = settings(max_examples=50, deadline=None)


# --------------------------------------------------------------------------- toys


def lecture_spiral(N, K, noise, seed):
    """The lecture's generator, written out with a seeded Generator in place of np.random."""
    rng = np.random.default_rng(seed)
    X = np.zeros((N * K, 2))
    y = np.zeros(N * K, dtype="uint8")
    for j in range(K):
        ix = range(N * j, N * (j + 1))
        r = np.linspace(0.0, 1, N)
        t = np.linspace(j * 4, (j + 1) * 4, N) + rng.standard_normal(N) * noise
        X[ix] = np.c_[r * np.sin(t), r * np.cos(t)]
        y[ix] = j
    return X, y


@FAST
@given(
    n=st.integers(1, 60),
    k=st.integers(2, 6),
    noise=st.floats(0.0, 1.0),
    seed=st.integers(0, 2**32 - 1),
)
def test_spiral_is_the_lecture_generator_value_for_value(n, k, noise, seed):
    X, y = spiral(n, k, noise, seed=seed)
    X_ref, y_ref = lecture_spiral(n, k, noise, seed)
    np.testing.assert_array_equal(X, X_ref)
    np.testing.assert_array_equal(y, y_ref)


def test_spiral_same_seed_same_arrays_different_seed_different():
    X0, y0 = spiral(50, 3, 0.2, seed=7)
    X1, y1 = spiral(50, 3, 0.2, seed=7)
    X2, _ = spiral(50, 3, 0.2, seed=8)
    np.testing.assert_array_equal(X0, X1)
    np.testing.assert_array_equal(y0, y1)
    assert not np.array_equal(X0, X2)


TOYS_K = {  # generator -> how to call it with n_per_class n and K classes
    "spiral": lambda n, k, seed, noise=0.2: spiral(n, k, noise, seed=seed),
    "gaussian": lambda n, k, seed, noise=0.5: gaussian(n, k, noise, seed=seed),
    "moons": lambda n, k, seed, noise=0.1: moons(n, noise, seed=seed),
    "circles": lambda n, k, seed, noise=0.05: circles(n, noise, seed=seed),
    "xor": lambda n, k, seed, noise=0.05: xor(n, noise, seed=seed),
}
MULTICLASS = {"spiral", "gaussian"}


@FAST
@given(
    name=st.sampled_from(sorted(TOYS_K)),
    n=st.integers(1, 40),
    k=st.integers(2, 5),
    seed=st.integers(0, 10_000),
)
def test_every_toy_has_the_documented_shapes_dtypes_and_balanced_labels(name, n, k, seed):
    K = k if name in MULTICLASS else 2
    X, y = TOYS_K[name](n, k, seed)
    assert X.shape == (n * K, 2)
    assert X.dtype == np.float64
    assert y.shape == (n * K,)
    assert np.issubdtype(y.dtype, np.integer)
    assert np.bincount(y, minlength=K).tolist() == [n] * K
    assert set(np.unique(y).tolist()) == set(range(K))
    assert np.isfinite(X).all()


@pytest.mark.parametrize("name", sorted(TOYS_K))
def test_every_toy_is_seeded(name):
    a = TOYS_K[name](30, 3, 5)
    b = TOYS_K[name](30, 3, 5)
    c = TOYS_K[name](30, 3, 6)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])


@pytest.mark.parametrize("name", sorted(TOYS_K))
def test_every_toy_accepts_a_generator_and_leaves_the_global_rng_alone(name):
    np.random.seed(0)
    before = np.random.get_state()[1].copy()
    X_seed, _ = TOYS_K[name](20, 3, 11)
    X_gen, _ = TOYS_K[name](20, 3, np.random.default_rng(11))
    np.testing.assert_array_equal(X_seed, X_gen)
    np.testing.assert_array_equal(np.random.get_state()[1], before)


@FAST
@given(n=st.integers(1, 50), seed=st.integers(0, 10_000))
def test_xor_labels_are_the_sign_of_x1_times_x2_without_noise(n, seed):
    X, y = xor(n, 0.0, seed=seed)
    prod = X[:, 0] * X[:, 1]
    np.testing.assert_array_equal(y, (prod < 0).astype(int))
    # drawn away from the axes, so no point sits on a class boundary
    assert np.all(np.abs(X) >= 0.1)


@FAST
@given(n=st.integers(1, 50), factor=st.floats(0.05, 0.95), seed=st.integers(0, 10_000))
def test_circles_without_noise_lie_on_radius_one_and_factor(n, factor, seed):
    X, y = circles(n, 0.0, factor=factor, seed=seed)
    radius = np.hypot(X[:, 0], X[:, 1])
    np.testing.assert_allclose(radius[y == 0], 1.0)
    np.testing.assert_allclose(radius[y == 1], factor)


@pytest.mark.parametrize("factor", [0.0, 1.0, -0.5, 2.0])
def test_circles_refuses_a_factor_outside_0_1(factor):
    with pytest.raises(NeuralabError, match="factor") as exc:
        circles(10, 0.0, factor=factor)
    one_line(exc)


def test_gaussian_without_noise_sits_on_k_centres_on_a_circle_of_radius_two():
    X, y = gaussian(4, 5, 0.0, seed=0)
    for k in range(5):
        pts = X[y == k]
        np.testing.assert_allclose(pts, np.repeat(pts[:1], 4, axis=0))
        np.testing.assert_allclose(np.hypot(*pts[0]), 2.0)


BAD_ARGS = [
    # (generator, kwargs, the argument the message must name)
    (spiral, dict(n_per_class=0, n_classes=3, noise=0.1), "n_per_class"),
    (spiral, dict(n_per_class=-5, n_classes=3, noise=0.1), "n_per_class"),
    (spiral, dict(n_per_class=2.5, n_classes=3, noise=0.1), "n_per_class"),
    (spiral, dict(n_per_class=10, n_classes=1, noise=0.1), "n_classes"),
    (spiral, dict(n_per_class=10, n_classes=3, noise=-0.1), "noise"),
    (spiral, dict(n_per_class=10, n_classes=3, noise=float("nan")), "noise"),
    (gaussian, dict(n_per_class=0, n_classes=3, noise=0.1), "n_per_class"),
    (gaussian, dict(n_per_class=10, n_classes=1, noise=0.1), "n_classes"),
    (gaussian, dict(n_per_class=10, n_classes=3, noise=-1.0), "noise"),
    (moons, dict(n_per_class=0, noise=0.1), "n_per_class"),
    (moons, dict(n_per_class=10, noise=-0.1), "noise"),
    (circles, dict(n_per_class=0, noise=0.1), "n_per_class"),
    (circles, dict(n_per_class=10, noise=-0.1), "noise"),
    (xor, dict(n_per_class=0, noise=0.1), "n_per_class"),
    (xor, dict(n_per_class=10, noise=float("inf")), "noise"),
]


@pytest.mark.parametrize(("make", "kwargs", "arg"), BAD_ARGS,
                         ids=[f"{m.__name__}-{a}-{i}" for i, (m, _, a) in enumerate(BAD_ARGS)])
def test_toys_reject_bad_arguments_naming_the_argument(make, kwargs, arg):
    with pytest.raises(NeuralabError) as exc:
        make(**kwargs)
    msg = one_line(exc)
    assert arg in msg


# --------------------------------------------------------------------------- registry


@pytest.mark.parametrize("name", [n for n in names() if n not in ("plane", "gaussians")])
def test_registry_loads_every_listed_name(name):
    ds = load(name, seed=3)
    assert ds.name == name
    assert ds.X.ndim == 2 and ds.X.shape[1] == 2 and ds.X.dtype == np.float64
    assert ds.y.shape == (ds.X.shape[0],)
    assert ds.classes == [str(k) for k in range(ds.n_classes)]
    assert ds.n_classes >= 2
    assert sorted(np.unique(ds.y).tolist()) == list(range(ds.n_classes))
    desc = ds.describe()
    assert desc["n_samples"] == ds.X.shape[0]
    assert sum(desc["class_counts"]) == ds.X.shape[0]
    # the same seed gives the same data
    np.testing.assert_array_equal(load(name, seed=3).X, ds.X)


def test_registry_names_are_the_five_toys_and_the_two_regression_toys():
    assert set(names()) == {"spiral", "moons", "circles", "xor", "gaussian", "plane", "gaussians"}
    for name in ("plane", "gaussians"):
        ds = load(name, seed=3)
        assert ds.task == "regression" and ds.classes == [] and ds.X.shape == (200, 2)
        assert ds.describe()["target"] == "y"
        np.testing.assert_array_equal(load(name, seed=3).y, ds.y)


def test_registry_passes_options_to_the_generator():
    ds = load("spiral", n_per_class=7, n_classes=4, seed=1)
    assert ds.X.shape == (28, 2)
    assert ds.classes == ["0", "1", "2", "3"]
    np.testing.assert_array_equal(ds.X, spiral(7, 4, 0.2, seed=1)[0])


def test_registry_unknown_name_lists_the_choices():
    with pytest.raises(NeuralabError) as exc:
        load("mnist-typo")
    msg = one_line(exc)
    assert "mnist-typo" in msg
    for name in names():
        assert name in msg


def test_registry_unknown_option_is_refused_naming_it():
    with pytest.raises(NeuralabError) as exc:
        load("moons", n_classes=3)
    msg = one_line(exc)
    assert "n_classes" in msg and "moons" in msg


# --------------------------------------------------------------------------- CSV files


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_csv_with_string_labels_maps_them_to_sorted_classes(tmp_path):
    path = write(tmp_path, "d.csv", "a,b,label\n1,2,dog\n3.5,-4,cat\n5,6e1,dog\n")
    ds = load_csv(path)
    np.testing.assert_array_equal(ds.X, [[1, 2], [3.5, -4], [5, 60]])
    assert ds.X.dtype == np.float64
    assert ds.classes == ["cat", "dog"]
    np.testing.assert_array_equal(ds.y, [1, 0, 1])
    assert ds.feature_names == ["a", "b"]
    assert ds.name == "d.csv"


def test_csv_with_integer_labels_sorts_them_numerically(tmp_path):
    path = write(tmp_path, "d.csv", "x,y\n0.1,10\n0.2,2\n0.3,10\n0.4,2\n")
    ds = load_csv(path)
    assert ds.classes == ["2", "10"]
    np.testing.assert_array_equal(ds.y, [1, 0, 1, 0])


def test_csv_target_may_be_a_middle_column(tmp_path):
    path = write(tmp_path, "d.csv", "a,label,b\n1,x,2\n3,y,4\n")
    ds = load_csv(path, target="label")
    np.testing.assert_array_equal(ds.X, [[1, 2], [3, 4]])
    assert ds.feature_names == ["a", "b"]
    assert ds.classes == ["x", "y"]
    np.testing.assert_array_equal(ds.y, [0, 1])


def test_csv_written_with_a_byte_order_mark_reads_its_first_column_name(tmp_path):
    path = tmp_path / "excel.csv"
    path.write_bytes("label,a\r\nx,1\r\ny,2\r\n".encode("utf-8-sig"))
    ds = load_csv(path, target="label")
    assert ds.feature_names == ["a"]
    np.testing.assert_array_equal(ds.y, [0, 1])


def test_csv_skips_blank_lines(tmp_path):
    path = write(tmp_path, "d.csv", "a,label\n\n1,x\n\n2,y\n\n")
    assert load_csv(path).X.tolist() == [[1.0], [2.0]]


def test_csv_non_numeric_cell_names_line_and_column(tmp_path):
    path = write(tmp_path, "d.csv", "a,b,label\n1,2,x\n3,oops,y\n")
    with pytest.raises(NeuralabError) as exc:
        load_csv(path)
    msg = one_line(exc)
    assert "line 3" in msg and "'b'" in msg and "oops" in msg


@pytest.mark.parametrize("cell", ["nan", "NaN", "inf", "-inf", "Infinity"])
def test_csv_non_finite_cell_is_refused_naming_line_and_column(tmp_path, cell):
    path = write(tmp_path, "d.csv", f"a,b,label\n1,2,x\n{cell},4,y\n")
    with pytest.raises(NeuralabError) as exc:
        load_csv(path)
    msg = one_line(exc)
    assert "line 3" in msg and "'a'" in msg and "finite" in msg


def test_csv_empty_cell_is_not_a_number(tmp_path):
    path = write(tmp_path, "d.csv", "a,b,label\n1,,x\n3,4,y\n")
    with pytest.raises(NeuralabError, match="line 2") as exc:
        load_csv(path)
    one_line(exc)


def test_csv_ragged_row_names_the_line(tmp_path):
    path = write(tmp_path, "d.csv", "a,b,label\n1,2,x\n3,y\n")
    with pytest.raises(NeuralabError) as exc:
        load_csv(path)
    msg = one_line(exc)
    assert "line 3" in msg and "2 cells" in msg and "expected 3" in msg


@pytest.mark.parametrize("text", ["", "\n\n", "a,b,label\n"])
def test_csv_without_data_rows_is_empty(tmp_path, text):
    path = write(tmp_path, "d.csv", text)
    with pytest.raises(NeuralabError, match="empty") as exc:
        load_csv(path)
    one_line(exc)


def test_csv_with_a_single_class_is_refused(tmp_path):
    path = write(tmp_path, "d.csv", "a,label\n1,x\n2,x\n")
    with pytest.raises(NeuralabError, match="two classes") as exc:
        load_csv(path)
    one_line(exc)


def test_csv_missing_label_is_refused_naming_the_row(tmp_path):
    path = write(tmp_path, "d.csv", "a,label\n1,x\n2, \n3,y\n")
    with pytest.raises(NeuralabError, match="label missing in row 2") as exc:
        load_csv(path)
    one_line(exc)


def test_csv_missing_target_column_lists_the_columns(tmp_path):
    path = write(tmp_path, "d.csv", "a,b,label\n1,2,x\n3,4,y\n")
    with pytest.raises(NeuralabError) as exc:
        load_csv(path, target="class")
    msg = one_line(exc)
    assert "'class'" in msg and "['a', 'b', 'label']" in msg


def test_csv_with_only_the_target_column_has_no_features(tmp_path):
    path = write(tmp_path, "d.csv", "label\nx\ny\n")
    with pytest.raises(NeuralabError, match="no feature columns") as exc:
        load_csv(path)
    one_line(exc)


def test_csv_missing_file(tmp_path):
    with pytest.raises(NeuralabError, match="does not exist") as exc:
        load_csv(tmp_path / "nope.csv")
    one_line(exc)


def test_csv_that_is_not_utf8_is_refused(tmp_path):
    path = tmp_path / "d.csv"
    path.write_bytes(b"a,label\n1,\xff\xfe\n")
    with pytest.raises(NeuralabError, match="UTF-8") as exc:
        load_csv(path)
    one_line(exc)


# --------------------------------------------------------------------------- NPZ files


def test_npz_good_file(tmp_path):
    X = np.arange(12, dtype=np.float32).reshape(6, 2)
    path = tmp_path / "d.npz"
    np.savez(path, X=X, y=np.array([3, 10, 3, 10, 3, 10]))
    ds = load_npz(path)
    assert ds.X.dtype == np.float64
    np.testing.assert_array_equal(ds.X, X)
    assert ds.classes == ["3", "10"]
    np.testing.assert_array_equal(ds.y, [0, 1, 0, 1, 0, 1])
    assert ds.name == "d.npz"


def test_npz_with_string_labels(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, X=np.zeros((3, 2)), y=np.array(["b", "a", "b"]))
    ds = load_npz(path)
    assert ds.classes == ["a", "b"]
    np.testing.assert_array_equal(ds.y, [1, 0, 1])


@pytest.mark.parametrize("arrays", [{"X": np.zeros((3, 2))}, {"y": np.zeros(3)}, {"x": np.zeros((3, 2)), "Y": np.zeros(3)}])
def test_npz_missing_key_names_what_is_missing(tmp_path, arrays):
    path = tmp_path / "d.npz"
    np.savez(path, **arrays)
    with pytest.raises(NeuralabError) as exc:
        load_npz(path)
    msg = one_line(exc)
    assert "must hold arrays X and y" in msg
    assert "missing" in msg
    # the file is a readable archive; the message must not claim otherwise
    assert "not a readable" not in msg


def test_npz_with_non_numeric_X(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, X=np.array([["a", "b"], ["c", "d"]]), y=np.array([0, 1]))
    with pytest.raises(NeuralabError, match="numeric") as exc:
        load_npz(path)
    one_line(exc)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_npz_non_finite_X_names_the_index(tmp_path, bad):
    X = np.zeros((4, 3))
    X[2, 1] = bad
    path = tmp_path / "d.npz"
    np.savez(path, X=X, y=np.array([0, 1, 0, 1]))
    with pytest.raises(NeuralabError) as exc:
        load_npz(path)
    msg = one_line(exc)
    assert "X[2, 1]" in msg


@pytest.mark.parametrize(("X", "y"), [
    (np.zeros(4), np.array([0, 1, 0, 1])),
    (np.zeros((4, 2)), np.array([0, 1, 0])),
    (np.zeros((4, 2)), np.zeros((4, 1))),
    (np.zeros((0, 2)), np.zeros(0)),
])
def test_npz_with_inconsistent_shapes(tmp_path, X, y):
    path = tmp_path / "d.npz"
    np.savez(path, X=X, y=y)
    with pytest.raises(NeuralabError, match="must be") as exc:
        load_npz(path)
    one_line(exc)


class _Trap:
    """Unpickling this creates a folder: a test can see whether anything was unpickled."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


def test_npz_object_array_is_refused_and_never_unpickled(tmp_path):
    marker = str(tmp_path / "unpickled")
    X = np.empty((2, 2), dtype=object)
    X[:] = _Trap(marker)
    path = tmp_path / "evil.npz"
    np.savez(path, X=X, y=np.array([0, 1]))
    assert not os.path.exists(marker)

    with pytest.raises(NeuralabError) as exc:
        load_npz(path)
    one_line(exc)
    assert not os.path.exists(marker)

    with np.load(path, allow_pickle=True) as npz:
        npz["X"]
    assert os.path.exists(marker)  # proves the check above could fail


def test_npz_corrupt_file_of_random_bytes(tmp_path):
    path = tmp_path / "d.npz"
    path.write_bytes(np.random.default_rng(0).bytes(512))
    with pytest.raises(NeuralabError) as exc:
        load_npz(path)
    one_line(exc)


def test_npz_truncated_archive(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, X=np.zeros((50, 2)), y=np.arange(50) % 2)
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(NeuralabError, match="not a readable NPZ") as exc:
        load_npz(path)
    one_line(exc)


def test_npz_suffix_holding_a_plain_npy_array(tmp_path):
    path = tmp_path / "d.npz"
    with path.open("wb") as fh:
        np.save(fh, np.zeros((3, 2)))
    with pytest.raises(NeuralabError, match="npy") as exc:
        load_npz(path)
    one_line(exc)


def test_npz_missing_file(tmp_path):
    with pytest.raises(NeuralabError, match="does not exist") as exc:
        load_npz(tmp_path / "nope.npz")
    one_line(exc)


# --------------------------------------------------------------------------- load_file


def test_load_file_dispatches_on_suffix(tmp_path):
    csv_path = write(tmp_path, "d.CSV", "a,label\n1,x\n2,y\n")
    txt_path = write(tmp_path, "d.txt", "label,a\nx,1\ny,2\n")
    npz_path = tmp_path / "d.npz"
    np.savez(npz_path, X=np.ones((2, 3)), y=np.array([0, 1]))
    assert load_file(csv_path).source.startswith("CSV")
    assert load_file(txt_path, target="label").X.tolist() == [[1.0], [2.0]]
    ds = load_file(npz_path)
    assert ds.source.startswith("NPZ") and ds.X.shape == (2, 3)


def test_load_file_refuses_target_with_npz(tmp_path):
    npz_path = tmp_path / "d.npz"
    np.savez(npz_path, X=np.ones((2, 3)), y=np.array([0, 1]))
    with pytest.raises(NeuralabError, match="target") as exc:
        load_file(npz_path, target="y")
    one_line(exc)


@pytest.mark.parametrize("name", ["d.json", "d.xlsx", "d", "d.npy"])
def test_load_file_refuses_other_suffixes(tmp_path, name):
    path = write(tmp_path, name, "a,label\n1,x\n2,y\n")
    with pytest.raises(NeuralabError, match=r"\.csv or \.npz") as exc:
        load_file(path)
    one_line(exc)


# --------------------------------------------------------------------------- splits


@st.composite
def labelled(draw):
    counts = draw(st.lists(st.integers(2, 25), min_size=2, max_size=4))
    y = np.repeat(np.arange(len(counts)), counts)
    perm = np.random.default_rng(draw(st.integers(0, 1000))).permutation(len(y))
    y = y[perm]
    X = np.c_[np.arange(len(y), dtype=float), np.zeros(len(y))]
    return X, y


@FAST
@given(data=labelled(), frac=st.floats(0.2, 0.5), seed=st.integers(0, 10_000))
def test_split_is_disjoint_covering_and_stratified(data, frac, seed):
    X, y = data
    X_tr, X_te, y_tr, y_te, tr, te = train_test_split(X, y, test_fraction=frac, seed=seed)
    assert np.intersect1d(tr, te).size == 0
    np.testing.assert_array_equal(np.sort(np.r_[tr, te]), np.arange(len(y)))
    np.testing.assert_array_equal(X_tr, X[tr])
    np.testing.assert_array_equal(X_te, X[te])
    np.testing.assert_array_equal(y_tr, y[tr])
    np.testing.assert_array_equal(y_te, y[te])
    assert len(te) == int(np.ceil(frac * len(y)))
    counts = np.bincount(y)
    if len(te) < len(counts):
        return  # a test set smaller than K cannot hold every class; the split is then plain random
    # stratified: each class's share of the test set is its share of the data, to one example
    test_counts = np.bincount(y_te, minlength=len(counts))
    assert np.all(np.abs(test_counts - counts * len(te) / len(y)) <= 1.0)


def test_split_keeps_rare_class_proportions_where_a_random_split_might_not():
    y = np.r_[np.zeros(90, int), np.ones(10, int)]
    X = np.zeros((100, 2))
    for seed in range(20):
        y_te = train_test_split(X, y, test_fraction=0.2, seed=seed)[3]
        assert np.bincount(y_te).tolist() == [18, 2]


def test_split_is_seeded():
    X, y = spiral(40, 3, 0.2, seed=0)
    a = train_test_split(X, y, test_fraction=0.25, seed=1)
    b = train_test_split(X, y, test_fraction=0.25, seed=1)
    c = train_test_split(X, y, test_fraction=0.25, seed=2)
    np.testing.assert_array_equal(a[5], b[5])
    np.testing.assert_array_equal(a[4], b[4])
    assert not np.array_equal(a[5], c[5])


@pytest.mark.parametrize("frac", [0, 0.0, 1, 1.0, 1.5, -0.2, float("nan"), True, "0.2"])
def test_split_rejects_a_test_fraction_outside_0_1(frac):
    X, y = spiral(10, 2, 0.2, seed=0)
    with pytest.raises(NeuralabError, match="test_fraction") as exc:
        train_test_split(X, y, test_fraction=frac)
    one_line(exc)


def test_standardizer_ignores_constant_features():
    s = Standardizer.fit(np.array([[1.0, 7.0], [3.0, 7.0]]))
    assert s.scale.tolist() == [1.0, 1.0]
    assert np.isfinite(s.transform(np.array([[2.0, 9.0]]))).all()
