"""fit keeps its numbers: history rows, callback calls and results, step for step.

Every mode of the one loop is run on a small spiral (full batch, minibatches over
epochs or iterations, early stopping with and without patience running out, the
step and cosine schedules, augmentation, a resumed start, clipping, Ctrl-C) and
compared with ``fit_reference.json``, recorded before fit was split into small steps.
A change that moves a shuffle, a log row or a callback by one step fails here.
Regenerate the file only for a deliberate change of behaviour:

    PYTHONPATH=src python tests/train/test_fit_reference.py
"""

from __future__ import annotations

import json
import math
import signal
import sys
import threading
from pathlib import Path

import pytest

from neuralab.data import spiral
from neuralab.data.augment import jitter
from neuralab.train import fit, lr_schedule, make_engine_trainer

REFERENCE = Path(__file__).with_name("fit_reference.json")
ADAM_DEEP = dict(sizes=[2, 64, 64, 3], trainer=dict(optimizer="adam", lr=0.05, reg=0.0, init="he"))

CASES = {
    "full": dict(iterations=30, log_every=5),
    "full_val": dict(iterations=30, log_every=7, val=True),
    "mini_epochs": dict(epochs=4, batch_size=32, log_every=1, val=True),
    "mini_epochs_log2": dict(epochs=5, batch_size=50, log_every=2),
    "mini_iters": dict(iterations=25, batch_size=50, log_every=4, val=True),
    "batch_ge_n": dict(iterations=12, batch_size=1000, log_every=5),
    "early_full": dict(iterations=400, log_every=5, val=True, early_stopping=3, **ADAM_DEEP),
    "early_mini": dict(epochs=60, batch_size=16, log_every=1, val=True, early_stopping=2, **ADAM_DEEP),
    "early_nostop": dict(iterations=30, log_every=5, val=True, early_stopping=50),
    "early_mini_nolog": dict(epochs=2, batch_size=40, log_every=5, val=True, early_stopping=1),
    "cosine": dict(iterations=30, log_every=3, schedule=("cosine", 1.0, 30)),
    "step_mini": dict(epochs=6, batch_size=40, log_every=1, schedule=("step", 0.5, 18)),
    "augment_full": dict(iterations=20, log_every=4, augment=0.1),
    "augment_mini": dict(epochs=3, batch_size=30, log_every=1, augment=0.1, seed=3),
    "resume_mini": dict(epochs=2, batch_size=40, log_every=1, start_step=6),
    "resume_full": dict(iterations=10, log_every=3, start_step=7, val=True),
    "momentum_clip": dict(iterations=20, log_every=2,
                          trainer=dict(optimizer="momentum", lr=0.5, clip_norm=0.1)),
    "interrupt_full": dict(iterations=50, log_every=5, interrupt_at=10),
    "interrupt_mini": dict(epochs=20, batch_size=40, log_every=1, interrupt_at=9, val=True),
    "last_logged": dict(iterations=20, log_every=4, val=True),
    "diverge_full": dict(iterations=50, log_every=5, trainer=dict(lr=1e6)),
    "diverge_mini": dict(epochs=50, batch_size=20, log_every=1, trainer=dict(lr=1e6)),
    "bad_epochs_resume": dict(epochs=3, batch_size=40, start_step=4),
    "bad_es_noval": dict(iterations=3, early_stopping=2),
}


def outcome(name: str) -> dict:
    """Run one case; everything fit reports except the wall-clock time, JSON-ready."""
    kw = dict(CASES[name])
    X, y = spiral(n_per_class=40, seed=0)
    settings = {"seed": 0, "lr": 1.0, "reg": 1e-3, **kw.pop("trainer", {})}
    trainer = make_engine_trainer(kw.pop("sizes", [2, 16, 3]), **settings)
    calls = []
    callbacks = [lambda s, loss, m: calls.append([s, loss, dict(m)])]
    interrupt_at = kw.pop("interrupt_at", None)
    if interrupt_at is not None:
        # Ctrl-C during the callback of step interrupt_at: fit stops after that step
        callbacks.append(lambda s, loss, m: signal.raise_signal(signal.SIGINT)
                         if s == interrupt_at and not m.get("final") else None)
    if kw.pop("val", False):
        kw["X_val"], kw["y_val"] = spiral(n_per_class=20, seed=7)
    if "schedule" in kw:
        kind, lr, total = kw["schedule"]
        kw["schedule"] = lr_schedule(kind, lr, total, gamma=0.5)
    if "augment" in kw:
        kw["augment"] = jitter(kw["augment"])
    try:
        r = fit(trainer, X, y, callbacks=callbacks, progress=False, **kw)
    except Exception as exc:  # noqa: BLE001 - the message is part of the reference
        return json.loads(json.dumps({"error": f"{type(exc).__name__}: {exc}", "calls": calls}))
    state = {k: [float(v.sum()), float((v * v).sum())] for k, v in trainer.state_dict().items()}
    return json.loads(json.dumps({
        "rows": r.history.rows, "columns": r.history.columns, "calls": calls, "steps": r.steps,
        "final": [r.final_loss, r.final_train_accuracy, r.final_val_loss, r.final_val_accuracy],
        "flags": [r.interrupted, r.stopped_early, r.best_step], "state": state,
    }))


def assert_matches(got, want, where: str = "") -> None:
    """Equal structure, keys, ints, strings and flags; floats to 1e-9 (BLAS may round apart)."""
    if isinstance(want, float) and isinstance(got, float):
        assert got == pytest.approx(want, rel=1e-9, abs=1e-12) or (math.isnan(got) and math.isnan(want)), where
    elif isinstance(want, dict):
        assert isinstance(got, dict) and list(got) == list(want), where
        for k in want:
            assert_matches(got[k], want[k], f"{where}.{k}")
    elif isinstance(want, list):
        assert isinstance(got, list) and len(got) == len(want), where
        for i, (g, w) in enumerate(zip(got, want)):
            assert_matches(g, w, f"{where}[{i}]")
    else:
        assert type(got) is type(want) and got == want, where


@pytest.fixture(scope="module")
def reference() -> dict:
    return json.loads(REFERENCE.read_text())


@pytest.mark.parametrize("name", list(CASES))
def test_fit_reproduces_its_reference(name, reference):
    if "interrupt_at" in CASES[name] and threading.current_thread() is not threading.main_thread():
        pytest.skip("signals reach only the main thread")
    assert_matches(outcome(name), reference[name], name)


if __name__ == "__main__":
    cases = (f"{json.dumps(name)}: {json.dumps(outcome(name))}" for name in CASES)
    REFERENCE.write_text("{\n" + ",\n".join(cases) + "\n}\n")  # a line a case
    print(f"wrote {REFERENCE}", file=sys.stderr)
