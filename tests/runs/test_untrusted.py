"""Everything read back from a run directory is untrusted input.

config.json, model.json, history.csv and the safetensors files of a run are
checked (structure, types, sizes, option ranges, tensor dtypes, finite values)
before anything acts on them; each crafted file below is a one-line
NeuralabError that names the file, never a traceback, a silent cast or a
huge allocation.
"""

import inspect
import json
import shutil
import tracemalloc

import numpy as np
import pytest
from safetensors.numpy import load as st_load
from safetensors.numpy import save as st_save

from neuralab import ArgumentError, NeuralabError
from neuralab.cli import main
from neuralab.data import REGISTRY, load, toys
from neuralab.data.preprocess import BLOCK_BYTES, Standardizer
from neuralab.runs import (
    Predictor,
    load_model,
    load_run_data,
    read_config,
    read_model,
    store,
)
from neuralab.runs.predictor import parse_point
from neuralab.runs.reader import check_data_spec, read_resume


@pytest.fixture(scope="module")
def base_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("untrusted") / "run"
    assert main(["train", "--dataset", "moons", "--hidden", "8", "--iterations", "20",
                 "--optimizer", "momentum", "--quiet", "--out", str(out)]) == 0
    return out


@pytest.fixture
def run(base_run, tmp_path):
    """A copy of the run without its manifest: a crafted folder, or one written before
    manifests, whose every file is checked by its own reader (the manifest would
    refuse an edited file before that; tests/runs/test_state.py covers it)."""
    run = shutil.copytree(base_run, tmp_path / "run")
    (run / "manifest.json").unlink()
    return run


def edit_json(path, change):
    """Apply ``change`` to the JSON in ``path``, which it edits in place."""
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def edit_tensors(path, change):
    """Rewrite a safetensors file with ``change(tensors)``, keeping its metadata."""
    from safetensors import safe_open

    with safe_open(str(path), framework="numpy") as fh:
        metadata = fh.metadata()
    path.write_bytes(st_save(change(st_load(path.read_bytes())), metadata=metadata))


def bf16_checkpoint(run):
    torch = pytest.importorskip("torch")
    from safetensors.torch import save

    state = {k: torch.from_numpy(v) for k, v in st_load((run / "model.safetensors").read_bytes()).items()}
    state["W1"] = state["W1"].to(torch.bfloat16)
    (run / "model.safetensors").write_bytes(save(state))


def one_line(exc_info) -> str:
    msg = str(exc_info.value)
    assert "\n" not in msg and msg
    return msg


def resume(run):
    return read_resume(run, read_config(run), "momentum")


def model(change):
    return lambda run: edit_json(run / "model.json", change)


def tensors(change):
    return lambda run: edit_tensors(run / "model.safetensors", change)


def put(key, value):
    return model(lambda m: m.__setitem__(key, value))


# --------------------------------------------------------------------------- model.json, checkpoint

MODEL_CASES = {
    # the cases
    "list-shaped model.json": ((lambda run: (run / "model.json").write_text("[1, 2]")),
                               "model.json must hold a JSON object; got list"),
    "classes 7": (put("classes", 7), "classes must be a list of 2 distinct strings"),
    "feature_names 5": (put("feature_names", 5), "feature_names must be a list of 2 distinct strings"),
    "preprocessing [1, 2]": (put("preprocessing", [1, 2]), "preprocessing must be an object"),
    "a BF16 tensor": (bf16_checkpoint, "tensor W1 has dtype BF16; expected one of F32, F64"),
    "dtype 5": (put("dtype", 5), "dtype must be one of float64, float32; got 5"),
    "classes of objects": (put("classes", [{"a": 1}, [1]]), "classes must be a list of 2 distinct"),
    "NaN weights": (tensors(lambda s: {**s, "W1": s["W1"] * np.nan}), "tensor W1 holds NaN or infinite"),
    "infinite weights": (tensors(lambda s: {**s, "b2": s["b2"] + np.inf}), "tensor b2 holds NaN or infinite"),
    "F16 tensor": (tensors(lambda s: {**s, "W2": s["W2"].astype(np.float16)}), "tensor W2 has dtype F16"),
    "I8 tensor": (tensors(lambda s: {**s, "W1": s["W1"].astype(np.int8)}), "tensor W1 has dtype I8"),
    "BOOL tensor": (tensors(lambda s: {**s, "W1": s["W1"] > 0}), "tensor W1 has dtype BOOL"),
    "U64 tensor": (tensors(lambda s: {**s, "b1": s["b1"].astype(np.uint64)}), "tensor b1 has dtype U64"),
    # siblings
    "an extra tensor": (tensors(lambda s: {**s, "W9": np.zeros(3)}), "unexpected tensor 'W9'"),
    "duplicate class names": (put("classes", ["a", "a"]), "classes must be a list of 2 distinct"),
    "duplicate feature names": (put("feature_names", ["x1", "x1"]), "feature_names must be a list"),
    "unknown activation": (put("activation", "rellu"), "activation must be one of relu"),
    "sizes as text": (put("sizes", ["2", 8, 2]), "sizes must be a list of at least two positive"),
    "a boolean size": (put("sizes", [2, True, 2]), "sizes must be a list of at least two positive"),
    "one size": (put("sizes", [2]), "sizes must be a list of at least two positive"),
    "no sizes": (model(lambda m: m.pop("sizes")), "sizes must be a list of at least two positive"),
    "a hidden width over the setting's bound": (put("sizes", [2, 100_001, 2]), "hidden must be"),
    "means as text": (model(lambda m: m["preprocessing"].__setitem__("mean", ["1", "2"])),
                      "preprocessing needs lists of 2 finite means"),
    "a zero scale": (model(lambda m: m["preprocessing"].__setitem__("scale", [0.0, 1.0])),
                     "preprocessing needs lists of 2 finite means and 2 positive scales"),
}


def explainer(run):
    from neuralab.explain.attributions import Explainer

    return Explainer.from_run(run)


def torch_predictor(run):
    pytest.importorskip("torch")
    from neuralab.lab import load_model as lab_load_model

    return lab_load_model(run, backend="torch")


@pytest.mark.parametrize("loader", [load_model, read_model, explainer, torch_predictor,
                                    resume])
@pytest.mark.parametrize("case", ["classes 7", "NaN weights", "dtype 5", "a BF16 tensor"])
def test_every_loader_checks_the_checkpoint_the_same_way(run, loader, case):
    craft, fragment = MODEL_CASES[case]
    craft(run)
    with pytest.raises(NeuralabError) as exc:
        loader(run)
    assert fragment in one_line(exc)


def test_the_explainer_reads_names_and_scaling_through_read_model(run):
    edit_json(run / "model.json", lambda m: m.update(classes=["no", "yes"], feature_names=["a", "b"]))
    ex = explainer(run)
    scaler = read_model(run)[2]
    assert ex.classes == ["no", "yes"] and ex.feature_names == ["a", "b"]
    np.testing.assert_array_equal(ex.scaler.mean, scaler.mean)


def test_missing_optional_entries_get_their_defaults(run):
    edit_json(run / "model.json", lambda m: [m.pop(k) for k in
                                             ("classes", "feature_names", "activation", "dtype")])
    _, meta, _ = read_model(run)
    assert meta["classes"] == ["0", "1"] and meta["feature_names"] == ["x1", "x2"]
    assert meta["activation"] == "relu" and meta["dtype"] == "float64"


def test_a_model_too_large_for_memory_is_refused_with_the_figure(run):
    edit_json(run / "model.json", lambda m: m.update(sizes=[2] + [100_000] * 50 + [2]))
    with pytest.raises(NeuralabError) as exc:
        load_model(run)
    msg = one_line(exc)
    assert "490,005,400,002 parameters" in msg and "GiB of memory to load" in msg


def test_the_memory_check_compares_with_the_memory_limit(run, monkeypatch):
    from neuralab.data import files

    load_model(run)  # 42 parameters fit
    monkeypatch.setattr(files, "memory_limit", lambda: 100)
    with pytest.raises(NeuralabError) as exc:
        load_model(run)
    msg = one_line(exc)
    assert "has 42 parameters and needs about 0.0 GiB" in msg and "more than the 0.0 GiB" in msg


# --------------------------------------------------------------------------- optimizer state

def optimizer(change, metadata=None):
    def craft(run):
        path = run / "optimizer.safetensors"
        tensors = change(st_load(path.read_bytes()))
        path.write_bytes(st_save(tensors, metadata=metadata or {"optimizer": "momentum"}))
    return craft


OPTIMIZER_CASES = {
    "NaN velocity": (optimizer(lambda t: {**t, "velocity.W1": t["velocity.W1"] * np.nan}),
                     "tensor velocity.W1 holds NaN or infinite"),
    "an unknown slot": (optimizer(lambda t: {**t, "bogus.W1": t["velocity.W1"]}),
                        "unexpected tensor 'bogus.W1'"),
    "a slot of the wrong shape": (optimizer(lambda t: {**t, "velocity.b1": np.zeros(3)}),
                                  "tensor velocity.b1 must have shape (8,), got (3,)"),
    "an I8 slot": (optimizer(lambda t: {**t, "velocity.W2": np.zeros((8, 2), np.int8)}),
                   "tensor velocity.W2 has dtype I8"),
    "a negative second moment": (optimizer(lambda t: {**t, "v.b2": -np.ones(2)}),
                                 "tensor v.b2 holds negative values"),
    "a step count in words": (optimizer(lambda t: t, {"optimizer": "momentum", "t": "many"}),
                              "step count t must be a non-negative integer; got 'many'"),
}


def test_optimizer_state_is_checked_against_model_json_by_default(run):
    tensors, scalars = store.load_optimizer_state(run)
    assert tensors["velocity.W1"].shape == (2, 8) and scalars["optimizer"] == "momentum"
    edit_json(run / "model.json", lambda m: m.update(sizes=[2, 9, 2]))
    with pytest.raises(NeuralabError, match=r"velocity\.\w+ must have shape"):
        store.load_optimizer_state(run)


def test_resume_refuses_settings_that_disagree_with_the_checkpoint(run):
    edit_json(run / "config.json", lambda c: c["settings"].update(hidden=[16]))
    with pytest.raises(NeuralabError) as exc:
        resume(run)
    msg = one_line(exc)
    assert "disagree" in msg and "hidden [16]" in msg and "sizes [2, 8, 2]" in msg


def test_a_history_without_a_step_column_is_refused_on_resume(run):
    path = run / "history.csv"
    path.write_text(path.read_text().replace("step,", "stp,", 1))
    with pytest.raises(NeuralabError) as exc:
        resume(run)
    assert "has no step column" in one_line(exc)


def test_an_intact_run_resumes_from_its_files(run):
    start = resume(run)
    assert start.start_step == 20 and sorted(start.optimizer_tensors) == [
        "velocity.W1", "velocity.W2", "velocity.b1", "velocity.b2"]
    assert start.history_rows[-1]["step"] == 20


# --------------------------------------------------------------------------- config.json

def config(change):
    return lambda run: edit_json(run / "config.json", change)


def spec(**changes):
    return config(lambda c: c["data"]["spec"].update(changes))


CONFIG_CASES = {
    # the cases
    "a spec without a name": (config(lambda c: c["data"]["spec"].pop("name")),
                              "data.spec: a spec of kind registry needs a data set name"),
    "settings as a list": (config(lambda c: c.update(settings=[1, 2])),
                           "settings must be an object"),
    "steps many": (config(lambda c: c.update(steps="many")),
                   "steps must be a non-negative integer"),
    # siblings
    "a list-shaped config": ((lambda run: (run / "config.json").write_text("[{}]")),
                             "config.json must hold a JSON object"),
    "data as a list": (config(lambda c: c.update(data=[1])), "data must be an object"),
    "train_seconds NaN": (config(lambda c: c.update(train_seconds=float("nan"))),
                          "train_seconds a non-negative number"),
    "a seed in words": (spec(seed="abc"), "data.spec: seed must be an integer; got 'abc'"),
    "a negative seed": (spec(seed=-1), "data.spec: seed must be an integer from 0 to"),
    "noise in words": (spec(options={"noise": "x"}), "noise must be a number in [0, 10], got 'x'"),
    "an option moons does not take": (spec(options={"n_classes": 3}), "takes options"),
    "options as a list": (spec(options=[1]), "needs a data set name and an options object"),
    "an unknown data set": (spec(name="nope"), "dataset must be one of spiral"),
    "an unknown kind": (spec(kind="url"), "data.spec must be an object of kind registry or file"),
    "a file spec without a path": (config(lambda c: c["data"].update(spec={"kind": "file"})),
                                   "a spec of kind file needs a path"),
    "a data_dir that is no path": (spec(options={"data_dir": 5}), "data_dir must be a folder"),
    "splits as a list": (config(lambda c: c["data"].update(splits=[1])),
                         "data.splits must be an object"),
    "a train shape in words": (config(lambda c: c["data"].update(train_shape=["a", 2])),
                               "data.train_shape must be [rows, columns]"),
    "a test_spec of the wrong kind": (config(lambda c: c["data"].update(test_spec=[1])),
                                      "data.test_spec must be an object of kind"),
}


GROUPS = ((MODEL_CASES, load_model, ("model.json", "model.safetensors")),
          (OPTIMIZER_CASES, resume, ("optimizer.safetensors",)),
          (CONFIG_CASES, load_run_data, ("config.json",)))
ALL_CASES = {case: (*cases[case], loader, files)
             for cases, loader, files in GROUPS for case in cases}


@pytest.mark.parametrize("case", list(ALL_CASES))
def test_a_crafted_run_file_is_a_one_line_error_naming_the_file(run, case):
    craft, fragment, loader, files = ALL_CASES[case]
    craft(run)
    with pytest.raises(NeuralabError) as exc:
        loader(run)
    msg = one_line(exc)
    assert fragment in msg
    assert any(str(run / name) in msg for name in files), msg


def test_a_huge_generator_option_is_refused_before_any_allocation(run):
    spec(options={"n_per_class": 1_000_000_000})(run)
    tracemalloc.start()
    try:
        with pytest.raises(NeuralabError) as exc:
            load_run_data(run)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    msg = one_line(exc)
    assert "data.spec: n_per_class must be an integer from 1 to 250,000, got 1000000000" in msg
    assert peak < 5 * 2**20


def test_read_config_checks_the_structure_of_every_reader(run):
    edit_json(run / "config.json", lambda c: c.update(steps=-1))
    with pytest.raises(NeuralabError, match="steps must be a non-negative integer"):
        read_config(run)


def test_a_valid_spec_passes_unchanged():
    good = {"kind": "registry", "name": "spiral", "seed": 3, "options": {"n_classes": 4}}
    assert check_data_spec(good) == good
    assert check_data_spec({"kind": "file", "path": "d.csv", "target": None})["path"] == "d.csv"


# --------------------------------------------------------------------------- generator options

def test_every_toy_declares_a_range_for_each_option():
    for entry in REGISTRY.values():
        params = inspect.signature(entry.make).parameters
        assert set(entry.options) == set(params) - {"seed", "data_dir"}, entry.name
        assert all(isinstance(o, toys.Option) for o in entry.options.values())


@pytest.mark.parametrize("options, fragment", [
    ({"n_per_class": 10**9}, "n_per_class must be an integer from 1 to 250,000"),
    ({"n_per_class": 0}, "n_per_class must be an integer from 1"),
    ({"n_per_class": 10.0}, "n_per_class must be an integer"),
    ({"n_per_class": True}, "n_per_class must be an integer"),
    ({"n_classes": 21}, "n_classes must be an integer from 2 to 20"),
    ({"noise": float("nan")}, "noise must be a number in [0, 10]"),
    ({"noise": 11}, "noise must be a number in [0, 10]"),
])
def test_registry_options_are_checked_against_their_declared_ranges(options, fragment):
    tracemalloc.start()
    try:
        with pytest.raises(NeuralabError) as exc:
            load("spiral", **options)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert fragment in one_line(exc) and peak < 2**20


def test_the_bounds_themselves_are_accepted():
    option = toys.OPTIONS["n_per_class"]
    assert option.check(toys.MAX_PER_CLASS) == toys.MAX_PER_CLASS and option.check(1) == 1
    assert toys.OPTIONS["factor"].check(0.5) == 0.5
    with pytest.raises(NeuralabError, match="factor must be a number in \\(0, 1\\)"):
        toys.OPTIONS["factor"].check(1.0)


# --------------------------------------------------------------------------- prediction

def recording_predictor(sizes, calls):
    def proba(Z):
        calls.append(len(Z))
        return np.full((len(Z), sizes[-1]), 1.0 / sizes[-1])
    return Predictor(proba, Standardizer.identity(sizes[0]), [str(k) for k in range(sizes[-1])],
                     [f"x{i + 1}" for i in range(sizes[0])], {"sizes": sizes})


def test_prediction_blocks_are_sized_by_bytes_not_rows():
    calls = []
    probs = recording_predictor([2, 100_000, 2], calls).predict_proba(np.zeros((1000, 2)))
    assert probs.shape == (1000, 2) and sum(calls) == 1000
    assert max(calls) * 100_000 * 8 <= BLOCK_BYTES and max(calls) == BLOCK_BYTES // 800_000
    calls.clear()
    recording_predictor([2, 8, 2], calls).predict_proba(np.zeros((100_000, 2)))
    assert calls == [100_000]  # narrow layers: one block


def test_non_finite_probabilities_are_an_error_not_nan():
    pred = Predictor(lambda Z: np.full((len(Z), 2), np.nan), Standardizer.identity(2), ["0", "1"],
                     ["x1", "x2"], {"sizes": [2, 2]})
    with pytest.raises(NeuralabError) as exc:
        pred.predict_proba(np.zeros((3, 2)))
    assert "probabilities for input row 0 are not finite" in one_line(exc)


def test_inputs_too_large_for_the_weights_are_refused(run):
    with pytest.raises(NeuralabError, match="not finite"):
        load_model(run).predict_proba(np.array([[1e308, -1e308]]))


@pytest.mark.parametrize("point, fragment", [
    ("nan,1", "point needs 2 finite numbers (x1, x2), got 'nan,1'"),
    ("inf,1", "point needs 2 finite numbers"),
    ("1,2,3", "point needs 2 finite numbers"),
    ("a,b", "point must be comma-separated numbers, got 'a,b'"),
    ([float("nan"), 1.0], "point needs 2 finite numbers (x1, x2), got [nan, 1.0]"),
])
def test_a_point_is_checked_once_for_predict_and_explain(point, fragment):
    with pytest.raises(ArgumentError) as exc:
        parse_point(point, ["x1", "x2"])
    assert exc.value.argument == "point" and fragment in one_line(exc)


def test_explain_refuses_a_nan_point_before_writing_anything(run):
    from neuralab.explain import explain_run

    before = {p: p.stat().st_mtime_ns for p in run.rglob("*")}
    with pytest.raises(ArgumentError, match="point needs 2 finite numbers"):
        explain_run(run, point=[float("nan"), 1.0])
    assert {p: p.stat().st_mtime_ns for p in run.rglob("*")} == before
