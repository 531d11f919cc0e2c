"""Files on disk: atomic writes, strict JSON, and CSV that quotes what needs it.

Every file neuralab writes goes through neuralab.fileio, so what is tested here holds
for every file of a run directory.
"""

from __future__ import annotations

import csv
import io
import math
import os

import numpy as np
import pytest
from helpers import one_line, strict_loads
from hypothesis import given, settings
from hypothesis import strategies as st

from neuralab import NeuralabError, fileio
from neuralab.fileio import (
    atomic_write,
    csv_text,
    read_csv,
    read_json,
    write_csv,
    write_json,
)

# --------------------------------------------------------------------------- atomic_write


def test_atomic_write_writes_and_replaces_leaving_no_temp_files(tmp_path):
    target = tmp_path / "sub" / "out.txt"
    atomic_write(target, "first")
    assert target.read_text() == "first"
    atomic_write(target, b"second\x00bytes")
    assert target.read_bytes() == b"second\x00bytes"
    assert os.listdir(target.parent) == ["out.txt"]


def test_atomic_write_failing_midway_keeps_the_old_file_and_no_temp(tmp_path, monkeypatch):
    target = tmp_path / "metrics.json"
    target.write_text("old content")

    def boom(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(fileio.os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        atomic_write(target, "new content")
    monkeypatch.undo()
    assert target.read_text() == "old content"
    assert os.listdir(tmp_path) == ["metrics.json"]


def test_atomic_write_interrupted_keeps_the_old_file_and_no_temp(tmp_path, monkeypatch):
    target = tmp_path / "history.json"
    target.write_text("old")

    def interrupt(fd):
        raise KeyboardInterrupt

    monkeypatch.setattr(fileio.os, "fsync", interrupt)
    with pytest.raises(KeyboardInterrupt):
        atomic_write(target, "new")
    monkeypatch.undo()
    assert target.read_text() == "old"
    assert os.listdir(tmp_path) == ["history.json"]


# --------------------------------------------------------------------------- JSON


def test_write_json_turns_nan_and_infinities_into_null(tmp_path):
    obj = {
        "nan": float("nan"),
        "inf": float("inf"),
        "ninf": -np.inf,
        "np_nan": np.float64("nan"),
        "f32": np.float32("inf"),
        "list": [1.5, float("nan"), (np.float32(2.0), np.inf)],
        "array": np.array([[1.0, np.nan], [-np.inf, 0.25]]),
        "nested": {"deep": {"x": np.nan}},
        "int": np.int64(7),
        "flag": np.bool_(True),
        "path": tmp_path,
        3: "int key",
    }
    path = write_json(tmp_path / "m.json", obj)
    got = strict_loads(path.read_text())
    assert got == {
        "nan": None,
        "inf": None,
        "ninf": None,
        "np_nan": None,
        "f32": None,
        "list": [1.5, None, [2.0, None]],
        "array": [[1.0, None], [None, 0.25]],
        "nested": {"deep": {"x": None}},
        "int": 7,
        "flag": True,
        "path": str(tmp_path),
        "3": "int key",
    }
    assert read_json(path) == got


json_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**40), 2**40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=5),
    st.floats(allow_nan=True, allow_infinity=True).map(np.float64),
    st.floats(width=32, allow_nan=True, allow_infinity=True).map(np.float32),
    st.integers(-(2**31), 2**31).map(np.int64),
    st.booleans().map(np.bool_),
)
json_tree = st.recursive(
    json_leaf,
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=4), kids, max_size=4),
    max_leaves=20,
)


def _expected(value):
    if isinstance(value, dict):
        return {k: _expected(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_expected(v) for v in value]
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


@settings(max_examples=50, deadline=None)
@given(obj=json_tree)
def test_write_json_always_writes_strict_json_that_reads_back(tmp_path_factory, obj):
    path = tmp_path_factory.mktemp("j") / "x.json"
    write_json(path, obj)
    assert strict_loads(path.read_text(encoding="utf-8")) == _expected(obj)


# --------------------------------------------------------------------------- CSV


def test_csv_text_quotes_commas_quotes_and_newlines_and_reads_back():
    cells = ["plain", "a,b", 'say "hi"', "two\nlines", ""]
    text = csv_text(["name", "value"], [[c, k] for k, c in enumerate(cells)])
    assert text.splitlines()[:3] == ["name,value", "plain,0", '"a,b",1']
    assert '"say ""hi""",2' in text
    assert list(csv.reader(io.StringIO(text))) == [["name", "value"]] + [
        [c, str(k)] for k, c in enumerate(cells)]


def test_csv_text_formats_cells_exactly():
    text = csv_text(["x"], [[None], [True], [np.bool_(False)], [np.int64(7)], [0.1],
                            [np.float32(0.5)], [1 / 3], [float("nan")], ["x"]])
    cells = [row[0] for row in csv.reader(io.StringIO(text))][1:]
    assert cells == ["", "True", "False", "7", "0.1", "0.5", repr(1 / 3), "nan", "x"]
    assert float(cells[6]) == 1 / 3  # every digit kept: it reads back exactly
    assert math.isnan(float(cells[7]))


def test_write_csv_then_read_csv_round_trips_text_cells(tmp_path):
    rows = [["a,b", 1, 2.5], ['q"uote', 2, None]]
    path = write_csv(tmp_path / "sub" / "t.csv", ["name", "n", "x"], rows)
    assert path == tmp_path / "sub" / "t.csv"
    header, got = read_csv(path)
    assert header == ["name", "n", "x"]
    assert got == [["a,b", "1", "2.5"], ['q"uote', "2", ""]]
    assert os.listdir(path.parent) == ["t.csv"]  # no temporary file left


def test_read_csv_skips_blank_lines(tmp_path):
    path = tmp_path / "gaps.csv"
    path.write_text("a,b\n1,2\n\n3,4\n\n", encoding="utf-8")
    assert read_csv(path) == (["a", "b"], [["1", "2"], ["3", "4"]])


# --------------------------------------------------------------------------- reading errors


@pytest.mark.parametrize(("read", "name", "content", "fragment"), [
    (read_json, "none.json", None, "does not exist"),
    (read_json, "bad.json", b"{not json", "is not valid JSON"),
    (read_json, "latin1.json", b'{"a": "\xe9"}', "is not valid JSON"),
    (read_csv, "none.csv", None, "does not exist"),
    (read_csv, "empty.csv", b"", "is empty: it needs a header row"),
    (read_csv, "latin1.csv", b"a,b\n\xe9,1\n", "cannot be read as CSV"),
    (read_csv, "folder.csv", "a folder", "is a folder; give a regular file"),
])
def test_read_errors_are_one_line_naming_the_file(tmp_path, read, name, content, fragment):
    path = tmp_path / name
    if content == "a folder":
        path.mkdir()
    elif content is not None:
        path.write_bytes(content)
    with pytest.raises(NeuralabError, match=fragment) as exc:
        read(path)
    assert str(path) in one_line(exc)


def test_write_columns_formats_as_a_cell_at_a_time_would(tmp_path, monkeypatch):
    """predictions.csv's writer: one % per block of rows gives the text that formatting
    each cell (f"{v:.10g}") gives, float32, NaN, infinities and block edges included."""
    import csv

    from neuralab import fileio

    monkeypatch.setattr(fileio, "BLOCK_ROWS", 7)  # blocks end inside each split
    rng = np.random.default_rng(0)
    blocks, want = [], [["split", "index", "label", "p_0", "p_1"]]
    for label, n, dtype in (("train", 23, np.float32), ("test", 7, np.float64), ("val", 1, float)):
        index, labels = rng.permutation(1000)[:n], rng.integers(0, 3, n)
        probs = rng.dirichlet([1, 1], size=n).astype(dtype) * 10.0 ** rng.integers(-12, 3, (n, 1))
        probs[0, 0] = np.nan if label == "train" else np.inf
        blocks.append((label, (index, labels), probs.T))
        want += [[label, str(i), str(c), *(f"{p:.10g}" for p in row)]
                 for i, c, row in zip(index, labels, probs)]
    path = fileio.write_columns(tmp_path / "p.csv", want[0], blocks)
    with open(path, newline="") as f:
        assert list(csv.reader(f)) == want
    with pytest.raises(ValueError, match="comma"):
        list(fileio.column_lines("a,b", [np.arange(2)], []))
