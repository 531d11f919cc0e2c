"""Real data: the IDX reader, scikit-learn's bundled sets, Fashion-MNIST and MNIST, and
the registry's listing that loads nothing."""

from __future__ import annotations

import dataclasses
import gzip
import struct
import subprocess
import sys

import numpy as np
import pytest
from helpers import one_line

from neuralab import NeuralabError
from neuralab.data import REGISTRY, describe_all, load, names, read_idx, real, write_idx

FASHION_NEEDED = (f"needs Debian package {real.FASHION_MNIST_PACKAGE} "
                  f"(apt-get install {real.FASHION_MNIST_PACKAGE}; `make test` installs it as root)")


def idx_bytes(code: int, shape: tuple[int, ...], data: bytes) -> bytes:
    """An IDX file written out by hand from the format's description (not by write_idx)."""
    return bytes([0, 0, code, len(shape)]) + b"".join(struct.pack(">i", s) for s in shape) + data


def put(path, body: bytes, *, gz: bool = False):
    if gz:
        body = gzip.compress(body)
        path = path.with_name(path.name + ".gz")
    path.write_bytes(body)
    return path


# --------------------------------------------------------------------------- the IDX reader


DTYPES = [  # (type code, big-endian dtype the bytes are written in, values)
    (0x08, ">u1", [0, 1, 127, 128, 254, 255]),
    (0x09, ">i1", [-128, -1, 0, 1, 100, 127]),
    (0x0B, ">i2", [-32768, -2, 0, 1, 256, 32767]),
    (0x0C, ">i4", [-(2**31), -2, 0, 1, 65536, 2**31 - 1]),
    (0x0D, ">f4", [-1.5, 0.0, 0.25, 3.0e38, -7.0, 1.0e-3]),
    (0x0E, ">f8", [-1.5, 0.0, 0.1, 1.0e300, -7.0, 2.0**-40]),
]


@pytest.mark.parametrize("gz", [False, True], ids=["raw", "gzip"])
@pytest.mark.parametrize("shape", [(2, 3), (3, 1, 2), (6,)], ids=["2d", "3d", "1d"])
@pytest.mark.parametrize(("code", "dtype", "values"), DTYPES, ids=[d for _, d, _ in DTYPES])
def test_read_idx_gives_the_values_the_shape_and_native_byte_order(tmp_path, gz, shape, code, dtype, values):
    expected = np.array(values, dtype=dtype).reshape(shape)
    path = put(tmp_path / "a-idx", idx_bytes(code, shape, expected.tobytes()), gz=gz)
    got = read_idx(path)
    assert got.shape == shape
    assert got.dtype == np.dtype(dtype).newbyteorder("=")
    assert got.dtype.isnative
    np.testing.assert_array_equal(got, expected)
    got[(0,) * len(shape)] = 0  # writable: the caller owns it


def test_read_idx_reads_big_endian_ints_as_the_format_spells_them(tmp_path):
    path = put(tmp_path / "x", idx_bytes(0x0C, (3,), bytes.fromhex("00000001 FFFFFFFE 00010000")))
    assert read_idx(path).tolist() == [1, -2, 65536]


@pytest.mark.parametrize("name", ["x.idx", "x.gz"])
def test_write_idx_round_trips(tmp_path, name):
    a = np.arange(24, dtype=np.int16).reshape(2, 3, 4) - 7
    path = write_idx(tmp_path / name, a)
    assert (path.read_bytes()[:2] == b"\x1f\x8b") == name.endswith(".gz")
    np.testing.assert_array_equal(read_idx(path), a)


def check_error(path, *fragments, **kwargs) -> str:
    with pytest.raises(NeuralabError) as exc:
        read_idx(path, **kwargs)
    msg = one_line(exc)
    assert str(path) in msg, msg
    for fragment in fragments:
        assert fragment in msg, msg
    return msg


def test_read_idx_missing_file(tmp_path):
    check_error(tmp_path / "nope-idx1-ubyte.gz", "does not exist")


@pytest.mark.parametrize("gz", [False, True], ids=["raw", "gzip"])
def test_read_idx_empty_file(tmp_path, gz):
    check_error(put(tmp_path / "e", b"", gz=gz), "empty")


def test_read_idx_wrong_magic_says_what_was_found_and_what_is_expected(tmp_path):
    path = put(tmp_path / "zip", b"PK\x03\x04" + bytes(20))
    check_error(path, "wrong magic number 0x504B0304", "expected 0x0000")
    check_error(path, "0x504B0304", "expected 0x00000803", ndim=3, dtype=np.uint8)


def test_read_idx_refuses_labels_where_images_are_expected(tmp_path):
    path = put(tmp_path / "labels", idx_bytes(0x08, (3,), bytes([1, 2, 3])), gz=True)
    check_error(path, "wrong magic number 0x00000801", "expected 0x00000803", ndim=3, dtype=np.uint8)
    floats = put(tmp_path / "floats", idx_bytes(0x0D, (1, 1, 1), bytes(4)))
    check_error(floats, "0x00000D03", "float", "expected 0x00000803", "unsigned byte", dtype=np.uint8)


@pytest.mark.parametrize("code", [0x00, 0x07, 0x0A, 0x0F, 0xFF])
def test_read_idx_unknown_type_code(tmp_path, code):
    path = put(tmp_path / "t", idx_bytes(code, (2,), bytes(2)))
    check_error(path, f"unknown type code 0x{code:02X}", "0x08 (unsigned byte)")


@pytest.mark.parametrize("gz", [False, True], ids=["raw", "gzip"])
def test_read_idx_truncated_data_says_how_many_bytes(tmp_path, gz):
    path = put(tmp_path / "t", idx_bytes(0x0B, (2, 3), bytes(8)), gz=gz)
    check_error(path, "truncated", "promises 12 bytes", "found 8")


@pytest.mark.parametrize("gz", [False, True], ids=["raw", "gzip"])
def test_read_idx_truncated_header(tmp_path, gz):
    check_error(put(tmp_path / "a", b"\0\0\x08", gz=gz), "truncated", "3 bytes")
    check_error(put(tmp_path / "b", bytes([0, 0, 8, 3]) + struct.pack(">ii", 5, 28), gz=gz),
                "truncated", "12 bytes of sizes", "found 8")


def test_read_idx_raw_header_promising_more_than_the_file_holds_is_refused_before_allocating(tmp_path):
    path = put(tmp_path / "huge", idx_bytes(0x0E, (2**31 - 1, 2**31 - 1, 2**31 - 1), bytes(16)))
    check_error(path, "truncated", "found 16")


@pytest.mark.parametrize("gz", [False, True], ids=["raw", "gzip"])
def test_read_idx_trailing_garbage(tmp_path, gz):
    path = put(tmp_path / "t", idx_bytes(0x08, (2, 2), bytes(4)) + b"xyz", gz=gz)
    check_error(path, "trailing garbage", "3 bytes", "4 bytes")


@pytest.fixture(params=["isal", "zlib"])
def inflater(request, monkeypatch):
    """The gzip cases with each inflater neuralab.data.idx can use: ISA-L's, and zlib's
    (what it falls back to without the isal package)."""
    import zlib

    import neuralab.data.idx as idx

    if request.param == "zlib":
        monkeypatch.setattr(idx, "_INFLATER", zlib)
    else:
        assert idx._INFLATER is not zlib, "isal is a dependency: neuralab.data.idx should use it"
    return request.param


@pytest.mark.usefixtures("inflater")
def test_read_idx_corrupt_gzip_streams(tmp_path):
    body = gzip.compress(idx_bytes(0x08, (50, 20), np.arange(1000, dtype=np.uint8).tobytes()))
    check_error(put(tmp_path / "cut.gz", body[: len(body) // 2]), "corrupt gzip")
    bad_crc = body[:-8] + bytes(b ^ 0xFF for b in body[-8:-4]) + body[-4:]
    check_error(put(tmp_path / "crc.gz", bad_crc), "corrupt gzip")
    check_error(put(tmp_path / "junk.gz", body + b"not gzip at all"), "corrupt gzip")
    raw_named_gz = put(tmp_path / "plain.gz", idx_bytes(0x08, (1,), b"\x01"))
    check_error(raw_named_gz, "corrupt gzip", "1f 8b")


@pytest.mark.usefixtures("inflater")
def test_read_idx_reads_gzip_as_gzip_does_across_members_padding_and_piece_sizes(tmp_path, monkeypatch):
    """A file split into several gzip members, with zero padding between and after them,
    reads as its whole body, whatever the size of the compressed pieces read at a time."""
    import neuralab.data.idx as idx

    rng = np.random.default_rng(3)
    data = rng.integers(0, 256, size=(40, 7, 9), dtype=np.uint8)
    body = idx_bytes(0x08, data.shape, data.tobytes())
    cut = [0, 5, 700, 1900, len(body)]
    members = [gzip.compress(body[a:b], mtime=0) for a, b in zip(cut, cut[1:])]
    blob = members[0] + members[1] + bytes(3) + members[2] + members[3] + bytes(5)
    assert gzip.decompress(blob) == body  # the reference reader agrees on this file
    path = put(tmp_path / "members.gz", blob)
    for piece in (1, 7, 64, 1 << 20):
        monkeypatch.setattr(idx, "_GZIP_READ", piece)
        np.testing.assert_array_equal(read_idx(path, ndim=3, dtype=np.uint8), data)
    check_error(put(tmp_path / "late_junk.gz", blob + b"junk"), "corrupt gzip")


# --------------------------------------------------------------------------- scikit-learn sets


SKLEARN = {  # name -> (sklearn loader, n, d, class names)
    "digits": ("load_digits", 1797, 64, [str(k) for k in range(10)]),
    "iris": ("load_iris", 150, 4, ["setosa", "versicolor", "virginica"]),
    "wine": ("load_wine", 178, 13, ["class_0", "class_1", "class_2"]),
    "breast_cancer": ("load_breast_cancer", 569, 30, ["malignant", "benign"]),
}


@pytest.mark.parametrize("name", sorted(SKLEARN))
def test_sklearn_sets_are_sklearns_values_with_its_names(name):
    from sklearn import datasets

    func, n, d, classes = SKLEARN[name]
    ds = load(name)
    bunch = getattr(datasets, func)()
    assert ds.name == name
    assert ds.X.shape == (n, d) and ds.X.dtype == np.float64
    assert ds.y.shape == (n,) and ds.y.dtype == np.int64
    np.testing.assert_array_equal(ds.X, bunch.data)
    np.testing.assert_array_equal(ds.y, bunch.target)
    assert ds.classes == classes
    assert ds.feature_names == [str(f) for f in bunch.feature_names]
    assert ds.test is None
    assert "scikit-learn" in ds.source
    row = REGISTRY[name].describe()
    assert (row["n_samples"], row["n_features"], row["n_classes"]) == (n, d, len(classes))


def test_sklearn_sets_load_without_importing_scikit_learn_or_scipy():
    """The bundled files are read by neuralab: importing scikit-learn (and SciPy with it)
    would take about a second of every command on these sets."""
    code = ("import sys; from neuralab.data import load; "
            "[load(n) for n in ('digits', 'iris', 'wine', 'breast_cancer')]; "
            "print(sorted(m for m in ('sklearn', 'scipy') if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=False, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


@pytest.mark.parametrize("name", sorted(SKLEARN))
def test_sklearn_set_whose_file_is_elsewhere_comes_from_scikit_learns_loader(name, monkeypatch):
    from sklearn import datasets

    monkeypatch.setattr(real, "_bundled_file", lambda name: None)
    ds = load(name)
    bunch = getattr(datasets, SKLEARN[name][0])()
    np.testing.assert_array_equal(ds.X, bunch.data)
    np.testing.assert_array_equal(ds.y, bunch.target)
    assert ds.classes == SKLEARN[name][3]
    assert ds.feature_names == [str(f) for f in bunch.feature_names]


BUNDLED_LAYOUTS = {  # iris.csv that scikit-learn's loader would not parse as neuralab does
    "too few rows": "3,4,a,b\n1,2,3,4,0\n5,6,7,8,1\n",
    "a row too short": "2,4,a,b\n1,2,3,4,0\n5,6,7,1\n",
    "a width that is not iris'": "2,2,a,b\n1,2,0\n3,4,1\n",
    "no rows": "0,4,a,b\n",
    "a class past the names": "2,4,a,b\n1,2,3,4,0\n5,6,7,8,2\n",
    "a negative class": "2,4,a,b\n1,2,3,4,0\n5,6,7,8,-1\n",
    "text for a number": "2,4,a,b\n1,x,3,4,0\n5,6,7,8,1\n",
    "a value that is not finite": "2,4,a,b\n1,nan,3,4,0\n5,6,7,8,1\n",
    "no class names": "2,4\n1,2,3,4,0\n5,6,7,8,0\n",
    "no header": "",
}


@pytest.mark.parametrize("layout", sorted(BUNDLED_LAYOUTS))
def test_a_bundled_file_laid_out_otherwise_is_left_to_scikit_learn(layout, tmp_path, monkeypatch):
    path = tmp_path / "iris.csv"
    path.write_text(BUNDLED_LAYOUTS[layout], encoding="utf-8")
    assert real._read_bundled("iris", path) is None
    monkeypatch.setattr(real, "_bundled_file", lambda name: path)
    from sklearn.datasets import load_iris

    np.testing.assert_array_equal(load("iris").X, load_iris().data)


def test_a_bundled_file_as_scikit_learn_lays_it_out_is_read_as_it_reads_it(tmp_path):
    path = tmp_path / "iris.csv"
    path.write_text("2,4,a,b\n1.5,2e-3,0,1,1\n3,0.1,2,2,0\n", encoding="utf-8")
    X, y, classes = real._read_bundled("iris", path)
    assert X.tolist() == [[1.5, 0.002, 0.0, 1.0], [3.0, 0.1, 2.0, 2.0]] and X.dtype == np.float64
    assert y.tolist() == [1, 0] and y.dtype == np.int64 and classes == ["a", "b"]


DIGITS_ROWS = {  # digits.csv.gz's rows: 64 pixels, then the digit
    "two columns": b"1,2\n",
    "a digit past 9": b",".join([b"0"] * 64) + b",10\n",
    "a negative digit": b",".join([b"0"] * 64) + b",-1\n",
    "a digit that is not whole": b",".join([b"0"] * 64) + b",2.5\n",
    "a digit that is not a number": b",".join([b"0"] * 64) + b",nan\n",
}


@pytest.mark.parametrize("rows", sorted(DIGITS_ROWS))
def test_a_digits_file_with_what_no_digits_hold_is_left_to_scikit_learn(rows, tmp_path):
    digits = tmp_path / "digits.csv.gz"
    digits.write_bytes(gzip.compress(DIGITS_ROWS[rows] * 2))
    assert real._read_bundled("digits", digits) is None


def test_a_damaged_gzip_is_left_to_scikit_learn(tmp_path):
    good = gzip.compress(b",".join([b"0"] * 64) + b",3\n" * 50)
    damaged = good[:10] + b"\xff" + good[11:]  # a deflate block of the reserved type
    digits = tmp_path / "digits.csv.gz"
    digits.write_bytes(damaged)
    assert real._read_bundled("digits", digits) is None


def test_scikit_learns_own_loader_failing_is_one_line_naming_the_set(monkeypatch):
    from sklearn import datasets

    def damaged():
        raise ValueError("could not convert string to float: 'x'")

    monkeypatch.setattr(real, "_bundled_file", lambda name: None)
    monkeypatch.setattr(datasets, "load_wine", damaged)
    with pytest.raises(NeuralabError) as exc:
        load("wine")
    msg = one_line(exc)
    assert msg.startswith("data set wine: scikit-learn") and "reinstall scikit-learn" in msg
    assert "could not convert string to float" in msg


def test_scikit_learns_loader_giving_what_no_such_set_holds_is_refused(monkeypatch):
    X, y = np.ones((3, 4)), np.array([0, 1, 5])
    monkeypatch.setattr(real, "_bundled_file", lambda name: None)
    monkeypatch.setattr(real, "_sklearn_loader",
                        lambda name: (X, y, ["a", "b", "c"], ["f"] * 4, "9.9"))
    with pytest.raises(NeuralabError, match=r"data set iris: scikit-learn 9.9's copy holds "
                                            r"class indices 0..5 for 3 class names"):
        load("iris")


def test_digits_are_8_by_8_images_named_by_row_and_column():
    ds = load("digits")
    assert ds.image_shape == (8, 8)
    assert ds.feature_names[9] == "pixel_1_1"
    assert ds.X.min() == 0 and ds.X.max() == 16


def test_sets_without_options_refuse_options_and_a_data_dir(tmp_path):
    with pytest.raises(NeuralabError) as exc:
        load("iris", n_per_class=5)
    msg = one_line(exc)
    assert "iris" in msg and "no options" in msg and "n_per_class" in msg
    with pytest.raises(NeuralabError) as exc:
        load("spiral", data_dir=tmp_path)
    msg = one_line(exc)
    assert "--data-dir" in msg and "fashion_mnist" in msg and "mnist" in msg


# --------------------------------------------------------------------------- MNIST-style folders


def mnist_folder(folder, *, n_train=20, n_test=10, rows=5, cols=4, gz=True, labels=None, seed=0):
    """Write the four IDX files of a small MNIST-like set; return the arrays written."""
    folder.mkdir(exist_ok=True)
    rng = np.random.default_rng(seed)
    out = {}
    for part, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, size=(n, rows, cols), dtype=np.uint8)
        if n:  # so that the scaled values reach both ends, 0 and 1
            images[0, 0, :2] = 0, 255
        y = (np.arange(n) % 10).astype(np.uint8) if labels is None else np.asarray(labels[part], np.uint8)
        put(folder / f"{part}-images-idx3-ubyte", idx_bytes(0x08, images.shape, images.tobytes()), gz=gz)
        put(folder / f"{part}-labels-idx1-ubyte", idx_bytes(0x08, y.shape, y.tobytes()), gz=not gz)
        out[part] = (images, y)
    return out


@pytest.mark.parametrize("gz", [True, False], ids=["images-gzip", "images-raw"])
def test_mnist_reads_a_folder_with_its_own_split_as_float32_over_255(tmp_path, gz):
    written = mnist_folder(tmp_path / "m", gz=gz)
    ds = load("mnist", data_dir=tmp_path / "m")
    for part, d in (("train", ds), ("t10k", ds.test)):
        images, y = written[part]
        n = images.shape[0]
        assert d.X.shape == (n, 20) and d.X.dtype == np.float32
        np.testing.assert_array_equal(d.X, images.reshape(n, -1).astype(np.float32) / np.float32(255))
        np.testing.assert_array_equal(d.y, y)
        assert d.y.dtype == np.int64
        assert d.X.min() == 0.0 and d.X.max() == 1.0
        assert d.classes == [str(k) for k in range(10)]
        assert d.image_shape == (5, 4)
        assert d.name == "mnist"
    assert ds.test.test is None
    assert ds.feature_names[:5] == ["px_0_0", "px_0_1", "px_0_2", "px_0_3", "px_1_0"]
    np.testing.assert_array_equal(ds.X[3].reshape(ds.image_shape), written["train"][0][3] / np.float32(255))
    assert ds.describe()["n_test"] == 10 and ds.describe()["image_shape"] == [5, 4]


def test_fashion_mnist_takes_a_data_dir_and_names_the_clothes(tmp_path):
    mnist_folder(tmp_path / "f")
    ds = load("fashion_mnist", data_dir=tmp_path / "f")
    assert ds.classes == ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                          "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
    assert ds.test.classes == ds.classes
    assert ds.X.shape == (20, 20)


def test_mnist_without_a_folder_says_to_pass_data_dir_naming_the_files():
    with pytest.raises(NeuralabError) as exc:
        load("mnist")
    msg = one_line(exc)
    assert "--data-dir" in msg
    for stem in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                 "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        assert stem in msg


def load_error(folder, name="mnist") -> str:
    with pytest.raises(NeuralabError) as exc:
        load(name, data_dir=folder)
    return one_line(exc)


def test_mnist_labels_count_must_equal_images_count(tmp_path):
    mnist_folder(tmp_path, labels={"train": np.arange(19) % 10, "t10k": np.arange(10)})
    msg = load_error(tmp_path)
    assert "19 labels" in msg and "20 images" in msg and "train-labels-idx1-ubyte" in msg


def test_mnist_labels_outside_the_classes_are_refused(tmp_path):
    mnist_folder(tmp_path, labels={"train": np.arange(20) % 10, "t10k": [0, 1, 2, 3, 4, 5, 6, 10, 8, 9]})
    msg = load_error(tmp_path)
    assert "label 10 at index 7" in msg and "0..9" in msg and "t10k-labels" in msg


def test_mnist_with_a_single_class_is_refused(tmp_path):
    mnist_folder(tmp_path, labels={"train": np.full(20, 3), "t10k": np.full(10, 3)})
    msg = load_error(tmp_path)
    assert "two classes" in msg and "'3'" in msg


def test_mnist_with_no_images_is_refused(tmp_path):
    mnist_folder(tmp_path, n_train=0, labels={"train": [], "t10k": np.arange(10)})
    assert "no images" in load_error(tmp_path)


def test_mnist_empty_file_is_refused_naming_it(tmp_path):
    mnist_folder(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(b"")
    msg = load_error(tmp_path)
    assert "empty" in msg and "t10k-labels-idx1-ubyte" in msg


def test_mnist_missing_file_is_named(tmp_path):
    mnist_folder(tmp_path)
    (tmp_path / "t10k-images-idx3-ubyte.gz").unlink()
    msg = load_error(tmp_path)
    assert "t10k-images-idx3-ubyte" in msg


def test_mnist_train_and_test_images_must_have_one_shape(tmp_path):
    mnist_folder(tmp_path)
    mnist_folder(tmp_path / "other", rows=6)
    (tmp_path / "other" / "t10k-images-idx3-ubyte.gz").replace(tmp_path / "t10k-images-idx3-ubyte.gz")
    msg = load_error(tmp_path)
    assert "5 x 4" in msg and "6 x 4" in msg


def test_mnist_data_dir_that_is_not_a_folder(tmp_path):
    msg = load_error(tmp_path / "nowhere")
    assert "nowhere" in msg and "not a folder" in msg


def test_fashion_mnist_not_installed_says_which_package(tmp_path, monkeypatch):
    monkeypatch.setattr(real, "FASHION_MNIST_DIR", tmp_path / "absent")
    with pytest.raises(NeuralabError) as exc:
        load("fashion_mnist")
    msg = one_line(exc)
    assert "apt-get install dataset-fashion-mnist" in msg and "--data-dir" in msg
    row = {r["name"]: r for r in describe_all()}["fashion_mnist"]
    assert row["available"] is False
    assert row["status"] == "not installed: apt-get install dataset-fashion-mnist or pass --data-dir"


# --------------------------------------------------------------------------- the listing


def test_describe_all_lists_every_name_with_static_shapes_and_loads_nothing(monkeypatch):
    def boom(*args, **kwargs):
        raise AssertionError("describe_all must not load data")

    for name, entry in list(REGISTRY.items()):
        monkeypatch.setitem(REGISTRY, name, dataclasses.replace(entry, make=boom))
    monkeypatch.setattr("neuralab.data.idx.read_idx", boom)  # real imports it when it reads
    monkeypatch.setattr(real, "load_sklearn", boom)

    rows = describe_all()
    assert [r["name"] for r in rows] == names("all") == list(REGISTRY)
    by_name = {r["name"]: r for r in rows}
    assert set(by_name) >= {"spiral", "moons", "circles", "xor", "gaussian", "digits", "iris",
                            "wine", "breast_cancer", "fashion_mnist", "mnist"}
    fashion = by_name["fashion_mnist"]
    assert (fashion["n_samples"], fashion["n_test"], fashion["n_features"], fashion["n_classes"]) == (
        60_000, 10_000, 784, 10)
    assert fashion["image_shape"] == [28, 28]
    assert by_name["mnist"]["available"] is False and "--data-dir" in by_name["mnist"]["status"]
    for r in rows:
        assert {"name", "summary", "source", "n_samples", "n_features", "n_classes",
                "available", "status"} <= set(r)
        assert r["status"] == "yes" if r["available"] else r["status"] != "yes"


def test_describe_all_with_a_data_dir_finds_the_idx_files(tmp_path):
    mnist_folder(tmp_path)
    by_name = {r["name"]: r for r in describe_all(tmp_path)}
    assert by_name["mnist"]["available"] and by_name["fashion_mnist"]["available"]
    assert by_name["iris"]["available"]
    (tmp_path / "train-labels-idx1-ubyte").unlink()
    row = {r["name"]: r for r in describe_all(tmp_path)}["mnist"]
    assert not row["available"] and "train-labels-idx1-ubyte" in row["status"]


@pytest.mark.parametrize("name", names("toy") + sorted(SKLEARN))
def test_static_shapes_agree_with_what_loading_gives(name):
    row = REGISTRY[name].describe()
    ds = load(name)
    assert (row["n_samples"], row["n_features"], row["n_classes"]) == (
        ds.X.shape[0], ds.X.shape[1], ds.n_classes)


def test_names_by_kind():
    assert names() == names("toy") == ["spiral", "moons", "circles", "xor", "gaussian",
                                        "plane", "gaussians"]
    assert names("real") == ["digits", "iris", "wine", "breast_cancer", "diabetes", "friedman1",
                             "fashion_mnist", "mnist"]
    assert names("all") == names("toy") + names("real")
    with pytest.raises(NeuralabError, match="kind must be one of toy, real, all; got 'image'"):
        names("image")


# --------------------------------------------------------------------------- real Fashion-MNIST


@pytest.fixture(scope="module")
def fashion():
    if not real.FASHION_MNIST_DIR.is_dir():
        pytest.skip(FASHION_NEEDED)
    return load("fashion_mnist")


@pytest.mark.xdist_group("fashion_mnist")
def test_fashion_mnist_from_the_debian_package(fashion):
    ds, test = fashion, fashion.test
    assert ds.X.shape == (60_000, 784) and test.X.shape == (10_000, 784)
    for d in (ds, test):
        assert d.X.dtype == np.float32 and d.X.flags.c_contiguous
        assert d.X.min() == 0.0 and d.X.max() == 1.0
        # every value is a byte over 255
        np.testing.assert_array_equal(np.rint(d.X[:500] * 255) / np.float32(255), d.X[:500])
        assert d.image_shape == (28, 28)
        assert d.classes == real.FASHION_MNIST_CLASSES
    assert np.bincount(ds.y, minlength=10).tolist() == [6000] * 10
    assert np.bincount(test.y, minlength=10).tolist() == [1000] * 10
    assert test.test is None


@pytest.mark.xdist_group("fashion_mnist")
def test_fashion_mnist_first_image_is_the_files_first_784_bytes(fashion):
    for stem, d in (("train", fashion), ("t10k", fashion.test)):
        with gzip.open(real.FASHION_MNIST_DIR / f"{stem}-images-idx3-ubyte.gz") as fh:
            head = fh.read(16 + 784)
        assert struct.unpack(">4i", head[:16]) == (0x803, d.X.shape[0], 28, 28)
        pixels = np.frombuffer(head[16:], np.uint8)
        np.testing.assert_array_equal(d.X[0], pixels.astype(np.float32) / np.float32(255))
        with gzip.open(real.FASHION_MNIST_DIR / f"{stem}-labels-idx1-ubyte.gz") as fh:
            assert d.y[0] == fh.read(9)[8]
