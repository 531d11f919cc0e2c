"""The run directory: atomic writes, strict JSON, checkpoints that round-trip or fail in one line."""

from __future__ import annotations

import json
import math
import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from neuralab import fileio
from neuralab import NeuralabError
from neuralab import runs
from neuralab.nn import MLP
from neuralab.runs import (
    CHECKPOINT,
    MODEL_JSON,
    atomic_write,
    load_checkpoint,
    prepare_run_dir,
    read_json,
    save_checkpoint,
    write_json,
)


def one_line(excinfo) -> str:
    msg = str(excinfo.value)
    assert "\n" not in msg, msg
    return msg


def strict_loads(text: str):
    def refuse(name):
        raise ValueError(f"non-standard JSON constant {name}")

    return json.loads(text, parse_constant=refuse)


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


def test_read_json_errors_are_one_line(tmp_path):
    with pytest.raises(NeuralabError, match="does not exist") as exc:
        read_json(tmp_path / "none.json")
    one_line(exc)
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(NeuralabError, match="not valid JSON") as exc:
        read_json(bad)
    one_line(exc)


# --------------------------------------------------------------------------- checkpoints


META = {"sizes": [2, 5, 3], "activation": "relu"}


def saved(tmp_path):
    state = MLP([2, 5, 3], seed=0).state_dict()
    save_checkpoint(tmp_path, state, META)
    return state


def test_checkpoint_round_trips_exactly(tmp_path):
    state = saved(tmp_path)
    assert sorted(state) == ["W1", "W2", "b1", "b2"]
    loaded, meta = load_checkpoint(tmp_path)
    assert sorted(loaded) == sorted(state)
    for name, value in state.items():
        assert loaded[name].dtype == value.dtype
        np.testing.assert_array_equal(loaded[name], value)
    assert meta == META
    # the weights are not all zero, so equality above compared real values
    assert np.abs(loaded["W1"]).max() > 0
    assert sorted(os.listdir(tmp_path)) == sorted([CHECKPOINT, MODEL_JSON])


def test_checkpoint_loads_back_into_a_model(tmp_path):
    net = MLP([2, 5, 3], seed=0)
    x = np.random.default_rng(0).standard_normal((4, 2))
    save_checkpoint(tmp_path, net.state_dict(), META)
    other = MLP([2, 5, 3], seed=1)
    other.load_state_dict(load_checkpoint(tmp_path)[0])
    np.testing.assert_array_equal(other.forward(x), net.forward(x))


@pytest.mark.parametrize("keep", [0, 5, 8, 40, -1])
def test_truncated_checkpoint_is_corrupt_or_truncated(tmp_path, keep):
    saved(tmp_path)
    path = tmp_path / CHECKPOINT
    raw = path.read_bytes()
    path.write_bytes(raw[:keep] if keep >= 0 else raw[:-7])
    with pytest.raises(NeuralabError) as exc:
        load_checkpoint(tmp_path)
    msg = one_line(exc)
    assert "corrupt or truncated" in msg


@pytest.mark.parametrize(("name", "shape"), [("W1", (5, 2)), ("b1", (1, 5)), ("W2", (5, 4)), ("b2", (2,))])
def test_checkpoint_tensor_of_the_wrong_shape_is_named(tmp_path, name, shape):
    state = MLP([2, 5, 3], seed=0).state_dict()
    state[name] = np.zeros(shape)
    save_checkpoint(tmp_path, state, META)
    with pytest.raises(NeuralabError) as exc:
        load_checkpoint(tmp_path)
    msg = one_line(exc)
    assert f"tensor {name}" in msg and str(shape) in msg


def test_checkpoint_missing_tensor_is_named(tmp_path):
    state = MLP([2, 5, 3], seed=0).state_dict()
    del state["b2"]
    save_checkpoint(tmp_path, state, META)
    with pytest.raises(NeuralabError, match="tensor b2.*missing") as exc:
        load_checkpoint(tmp_path)
    one_line(exc)


def test_checkpoint_without_model_json(tmp_path):
    saved(tmp_path)
    (tmp_path / MODEL_JSON).unlink()
    with pytest.raises(NeuralabError) as exc:
        load_checkpoint(tmp_path)
    assert MODEL_JSON in one_line(exc)


def test_checkpoint_without_safetensors(tmp_path):
    saved(tmp_path)
    (tmp_path / CHECKPOINT).unlink()
    with pytest.raises(NeuralabError, match="does not exist") as exc:
        load_checkpoint(tmp_path)
    one_line(exc)


@pytest.mark.parametrize("meta", [{}, {"sizes": [3]}, {"sizes": "2,5,3"}])
def test_checkpoint_with_no_valid_sizes(tmp_path, meta):
    save_checkpoint(tmp_path, MLP([2, 5, 3], seed=0).state_dict(), meta)
    with pytest.raises(NeuralabError, match="sizes") as exc:
        load_checkpoint(tmp_path)
    one_line(exc)


# --------------------------------------------------------------------------- run directory


def test_prepare_run_dir_refuses_a_non_empty_folder_without_overwrite(tmp_path):
    (tmp_path / "metrics.json").write_text("{}")
    with pytest.raises(NeuralabError) as exc:
        prepare_run_dir(tmp_path)
    # the library names the argument; the command line shows it as --overwrite
    assert exc.value.argument == "out" and exc.value.hint == "overwrite"
    assert "set overwrite" in one_line(exc)
    assert os.listdir(tmp_path) == ["metrics.json"]  # nothing was created


def test_prepare_run_dir_with_overwrite_accepts_a_non_empty_folder(tmp_path):
    (tmp_path / "metrics.json").write_text("{}")
    assert prepare_run_dir(tmp_path, overwrite=True) == tmp_path
    assert (tmp_path / "figures").is_dir()


def test_prepare_run_dir_accepts_an_empty_folder_and_creates_figures(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    assert prepare_run_dir(out) == out
    assert (out / "figures").is_dir()


def test_prepare_run_dir_creates_missing_parents(tmp_path):
    out = tmp_path / "a" / "b" / "run"
    prepare_run_dir(out)
    assert (out / "figures").is_dir()
    prepare_run_dir(tmp_path / "nofig", figures=False)
    assert os.listdir(tmp_path / "nofig") == []


def test_prepare_run_dir_refuses_a_file(tmp_path):
    target = tmp_path / "file"
    target.write_text("x")
    with pytest.raises(NeuralabError, match="not a directory") as exc:
        prepare_run_dir(target, overwrite=True)
    one_line(exc)


def test_new_run_dir_never_returns_an_existing_folder(tmp_path):
    first = runs.new_run_dir(tmp_path, "train")
    first.mkdir()
    second = runs.new_run_dir(tmp_path, "train")
    assert second != first and not second.exists()
    assert second.name.endswith("-train") or second.name.endswith("-train-2")
