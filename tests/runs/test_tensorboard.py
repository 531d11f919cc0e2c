"""Every run's TensorBoard events, read back with TensorBoard's own EventAccumulator.

The scalar series equal history.csv's columns (steps and values, in the events'
float32), a resumed run's too; the histograms, the boundary image and the hparams
are there; --no-tensorboard writes no folder; a Ctrl-C'd run's events match its
history, and on the engine's backend they import no torch; sweep trials are runs.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("tensorboard")
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402
from tensorboard.plugins.hparams import plugin_data_pb2  # noqa: E402

from neuralab.config import TrainSettings  # noqa: E402
from neuralab.data import load  # noqa: E402
from neuralab.lab import run_training  # noqa: E402
from neuralab.runs.tensorboard import TENSORBOARD, scalar_tag  # noqa: E402
from neuralab.train import lr_schedule  # noqa: E402


def events_of(folder) -> EventAccumulator:
    acc = EventAccumulator(str(folder), size_guidance={"scalars": 0, "histograms": 0,
                                                       "images": 0, "tensors": 0})
    acc.Reload()
    return acc


def history_of(run_dir) -> dict[str, list]:
    with open(run_dir / "history.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return {col: [r[col] for r in rows] for col in rows[0]}


def assert_scalars_equal_history(acc: EventAccumulator, run_dir) -> list[str]:
    """Each history column's tag holds exactly its steps and values; returns the columns."""
    history = history_of(run_dir)
    steps = [int(s) for s in history.pop("step")]
    for col, values in history.items():
        events = acc.Scalars(scalar_tag(col))
        assert [e.step for e in events] == steps, col
        want = [np.float32(float(v)) for v in values]  # the events keep float32
        assert [np.float32(e.value) for e in events] == want, col
    return list(history)


def hparams_of(acc: EventAccumulator) -> dict:
    tags = acc.PluginTagToContent("hparams")
    # no experiment summary: TensorBoard would take one run's for all of them
    assert set(tags) == {"_hparams_/session_start_info", "_hparams_/session_end_info"}
    content = tags["_hparams_/session_start_info"]
    info = plugin_data_pb2.HParamsPluginData.FromString(content).session_start_info
    return {k: (v.number_value if v.HasField("number_value") else
                v.bool_value if v.HasField("bool_value") else v.string_value)
            for k, v in info.hparams.items()}


def test_a_run_s_events_hold_its_history_histograms_boundary_and_hparams(spiral_run):
    run_dir = spiral_run.run_dir
    acc = events_of(run_dir / TENSORBOARD)
    columns = assert_scalars_equal_history(acc, run_dir)
    assert {"loss", "train_accuracy", "val_loss", "val_accuracy", "grad_norm_W1",
            "grad_norm_b3"} <= set(columns)
    assert {e.value for e in acc.Scalars("lr")} == {0.5}  # the constant schedule's rate
    # weights and each layer's output, about every tenth of the 800 steps and at the end
    tags = acc.Tags()["histograms"]
    assert set(tags) == {*(f"weights/{k}{i}" for k in "Wb" for i in (1, 2, 3)),
                         "activations/layer1", "activations/layer2", "activations/output"}
    steps = [h.step for h in acc.Histograms("weights/W1")]
    assert steps[0] == 0 and steps[-1] == 800 and 10 <= len(steps) <= 12
    w1 = acc.Histograms("weights/W1")[-1].histogram_value
    assert w1.num == 2 * 32 and sum(w1.bucket) == 64
    hidden = acc.Histograms("activations/layer1")[-1].histogram_value
    assert hidden.num == 32 * len(spiral_run.splits["train"].y) and hidden.min >= 0  # ReLU
    # the boundary figure, as the run drew it
    png = (run_dir / "figures" / "boundary.png").read_bytes()
    (image,) = acc.Images("boundary")
    assert image.encoded_image_string == png and image.step == 800
    # settings and final metrics, for TensorBoard's hparams comparison
    hp = hparams_of(acc)
    assert hp["lr"] == 0.5 and hp["hidden"] == "32x16" and hp["name"] == "spiral"
    assert hp["tensorboard"] is True and hp["val_fraction"] == "none"
    metrics = json.loads((run_dir / "metrics.json").read_text())
    (final,) = acc.Scalars("final/test_accuracy")
    assert np.float32(final.value) == np.float32(metrics["test"]["accuracy"])


def test_a_resumed_regression_run_adds_a_file_and_its_series_equal_history(tmp_path):
    from neuralab.lab import resume_training

    settings = TrainSettings(task="regression", hidden=[8], iterations=60, lr=0.1,
                             lr_schedule="cosine", val_fraction=0.25)
    data = load("plane", seed=0)
    out = tmp_path / "run"
    run_training(data, settings, out=out, echo=None, progress=False,
                 data_spec={"kind": "registry", "name": "plane", "seed": 0, "options": {}})
    first = events_of(out / TENSORBOARD)
    schedule = lr_schedule("cosine", 0.1, 60)
    assert [e.value for e in first.Scalars("lr")][:-1] == [
        np.float32(schedule(s)) for s in range(0, 60, 10)]
    resume_training(out, iterations=40, echo=None, progress=False)
    assert len(list((out / TENSORBOARD).iterdir())) == 2  # the first file stays as it was
    acc = events_of(out / TENSORBOARD)
    columns = assert_scalars_equal_history(acc, out)
    # regression: losses (mean squared errors) and gradient norms, no accuracy
    assert "loss" in columns and "val_loss" in columns and not any("accuracy" in c for c in columns)
    assert [e.step for e in acc.Scalars("loss/train")][-1] == 100
    assert "final/val_r2" in acc.Tags()["scalars"] and "boundary" not in acc.Tags()["images"]


def test_no_tensorboard_writes_no_folder(cli, tmp_path):
    out = tmp_path / "run"
    code, _, err = cli("train", "--dataset", "iris", "--iterations", "20", "--no-tensorboard",
                       "--out", out, "--quiet")
    assert code == 0, err
    assert (out / "history.csv").is_file() and not (out / TENSORBOARD).exists()
    assert json.loads((out / "config.json").read_text())["settings"]["tensorboard"] is False


#: a run on the engine's backend, stopped as by Ctrl-C after step 40 of 200; prints what it imported
CTRL_C_RUN = """
import json, signal, sys
from neuralab import lab
from neuralab.config import TrainSettings
from neuralab.data import load

real_fit = lab.Prepared.fit

def fit(self, *, callbacks=(), **kw):
    def interrupt(step, loss, metrics):
        if step == 40:
            signal.raise_signal(signal.SIGINT)  # as Ctrl-C: fit stops after this step
    return real_fit(self, callbacks=[*callbacks, interrupt], **kw)

lab.Prepared.fit = fit
run = lab.run_training(load("iris", seed=0), TrainSettings(hidden=[4], iterations=200, lr=0.1),
                       out=sys.argv[1], echo=None, progress=False)
print(json.dumps(["tensorboardX" in sys.modules, "torch" in sys.modules, run.interrupted,
                  run.fit.steps]))
"""


def test_a_ctrl_c_run_s_events_match_its_history_and_torch_stays_unimported(tmp_path):
    out = tmp_path / "run"
    proc = subprocess.run([sys.executable, "-c", CTRL_C_RUN, str(out)], capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == [True, False, True, 41]
    acc = events_of(out / TENSORBOARD)
    assert_scalars_equal_history(acc, out)
    assert acc.Histograms("weights/W1")[-1].step == 41  # the weights it stopped with
    assert hparams_of(acc)["iterations"] == 200
    assert "boundary" not in acc.Tags()["images"]  # 4-D data: no boundary figure


def test_a_saved_run_s_events_replay_its_history(spiral_run, tmp_path):
    from neuralab.lab import save_run

    run = dataclasses.replace(spiral_run, run_dir=tmp_path / "saved")
    save_run(run, load("spiral", seed=0))
    acc = events_of(run.run_dir / TENSORBOARD)
    assert_scalars_equal_history(acc, run.run_dir)
    assert "lr" not in acc.Tags()["scalars"]  # not kept per row: not invented
    assert [h.step for h in acc.Histograms("weights/W1")] == [800]


def test_each_sweep_trial_is_a_tensorboard_run_with_its_parameters(tmp_path):
    from neuralab.sweep import run_sweep

    out = tmp_path / "sweep"
    result = run_sweep(load("moons", seed=0, n_per_class=30), TrainSettings(iterations=40),
                       {"lr": [0.1, 0.5]}, out=out, retrain=False)
    folders = sorted(p.name for p in (out / TENSORBOARD).iterdir())
    assert folders == ["trial-000", "trial-001"]
    for trial in result.trials:
        acc = events_of(out / TENSORBOARD / f"trial-{trial.number:03d}")
        hp = hparams_of(acc)
        assert hp["lr"] == trial.params["lr"] and hp["status"] == trial.status
        (score,) = acc.Scalars("trial/score")
        assert math.isclose(score.value, trial.score, rel_tol=1e-6)


@pytest.mark.parametrize("case", ["normal", "rounded", "relu", "constant", "one", "float32",
                                  "non-finite", "tiny", "offset"])
def test_histogram_counts_are_numpy_s_histogram(case):
    """The histograms' bins and counts are np.histogram's (BINS equal bins over the finite
    values), edges the product rounds across included; nothing finite: no histogram."""
    from neuralab.runs.tensorboard import BINS, histogram_counts

    rng = np.random.default_rng(7)
    for trial in range(200):
        v = rng.normal(size=int(rng.integers(1, 2000))) * 10 ** rng.uniform(-6, 6)
        v = {"rounded": np.round(v, 1), "relu": np.maximum(v, 0), "constant": np.full(9, 3.25),
             "one": v[:1], "float32": v.astype(np.float32), "tiny": v * 1e-300,
             "non-finite": np.concatenate([v, [np.nan, np.inf, -np.inf]]),
             "offset": v + rng.normal() * 10 ** rng.uniform(-3, 9)}.get(case, v)
        (lo, hi, num, total, squares), edges, counts = histogram_counts(v)
        finite = np.asarray(v, dtype=float)[np.isfinite(v)]
        want_counts, want_edges = np.histogram(finite, bins=BINS)
        np.testing.assert_array_equal(counts, want_counts)
        np.testing.assert_array_equal(edges, want_edges)
        assert (lo, hi, num) == (finite.min(), finite.max(), finite.size)
        assert total == pytest.approx(finite.sum()) and squares == pytest.approx(finite @ finite)
    assert histogram_counts(np.array([np.nan, np.inf])) is None
