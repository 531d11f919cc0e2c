"""The run directory: checkpoints that round-trip or fail in one line, and its folder.

Atomic writes and strict JSON, which every run file goes through, are tested in
tests/fileio/.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from helpers import one_line

from neuralab import NeuralabError, runs
from neuralab.config import TrainSettings
from neuralab.data import load
from neuralab.lab import load_model, run_training
from neuralab.nn import MLP
from neuralab.runs import (
    CHECKPOINT,
    MODEL_JSON,
    load_checkpoint,
    prepare_run_dir,
    save_checkpoint,
)

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


def test_a_torch_trained_checkpoint_loads_in_the_engine(tmp_path):
    data = load("moons", seed=1)
    settings = TrainSettings(hidden=[12, 6], activation="tanh", iterations=200, lr=0.3,
                             backend="torch", device="cpu")
    run = run_training(data, settings, out=tmp_path / "t", echo=None, progress=False)
    engine = load_model(tmp_path / "t", backend="numpy")
    np.testing.assert_allclose(engine.predict_proba(data.X), run.predictor.predict_proba(data.X),
                               rtol=1e-10, atol=1e-14)


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
