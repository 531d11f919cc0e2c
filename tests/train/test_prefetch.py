"""Minibatches gathered ahead in a second thread (neuralab.prefetch): the same numbers as
gathering them in the step, and no thread left behind however the loop ends."""

from __future__ import annotations

import threading

import numpy as np
import pytest

import neuralab.train as train_module
from neuralab.data.preprocess import ScaledRows, Standardizer
from neuralab.prefetch import DEPTH, Prefetch, prefetching
from neuralab.train import TrainingDiverged, fit, make_engine_trainer
from neuralab.threads import available_cores

pytestmark = pytest.mark.skipif(available_cores() < 2, reason="fit gathers ahead on 2+ cores only")


def _batch_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "neuralab-batches"]


def _data(n=203, d=12, k=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, d)), rng.integers(0, k, n)


def _fit(X, y, *, ahead: bool, monkeypatch, **kwargs):
    seen = []
    real = Prefetch.__init__

    def spy(self, *args):
        seen.append(args[1:])
        real(self, *args)

    monkeypatch.setattr(Prefetch, "__init__", spy)
    monkeypatch.setattr(train_module, "prefetching",
                        (lambda *a: True) if ahead else (lambda *a: False))
    trainer = make_engine_trainer([X.shape[1], 16, 3], optimizer="momentum", lr=0.05, seed=1)
    result = fit(trainer, X, y, progress=False, seed=7, **kwargs)
    assert bool(seen) == ahead and not _batch_threads()
    return result, trainer.state_dict()


@pytest.mark.parametrize("case", ["plain", "scaled rows", "augmented", "from step 9"])
def test_gathering_ahead_trains_to_the_same_numbers(monkeypatch, case):
    X, y = _data()
    kwargs = dict(epochs=3, batch_size=32, log_every=1)
    if case == "scaled rows":
        scaler = Standardizer.fit(X)
        X = ScaledRows(X, scaler, "float64")
    elif case == "augmented":
        kwargs["augment"] = lambda rows, rng: rows + 0.01 * rng.standard_normal(rows.shape)
    elif case == "from step 9":  # a resume in the middle of the second epoch (7 steps an epoch)
        kwargs = dict(iterations=12, batch_size=32, log_every=5, start_step=9)
    plain, w_plain = _fit(X, y, ahead=False, monkeypatch=monkeypatch, **kwargs)
    ahead, w_ahead = _fit(X, y, ahead=True, monkeypatch=monkeypatch, **kwargs)
    assert ahead.history.rows == plain.history.rows
    assert ahead.final_loss == plain.final_loss and ahead.steps == plain.steps
    for name in w_plain:
        np.testing.assert_array_equal(w_ahead[name], w_plain[name])


def test_fit_gathers_ahead_for_minibatches_on_the_main_thread_only():
    assert prefetching(32, 100) is True
    assert prefetching(None, 100) is False  # full batch: one array, nothing to gather
    assert prefetching(32, 1) is False
    inside = []
    worker = threading.Thread(target=lambda: inside.append(prefetching(32, 100)))
    worker.start()
    worker.join()
    assert inside == [False]  # the playground's sessions train in threads of their own


def test_the_thread_has_ended_however_the_loop_ends(monkeypatch):
    X, y = _data(n=400)
    monkeypatch.setattr(train_module, "prefetching", lambda *a: True)
    trainer = make_engine_trainer([12, 16, 3], seed=1)
    calls = iter(range(10**6))
    fit(trainer, X, y, epochs=50, batch_size=16, progress=False, stop=lambda: next(calls) == 5)
    assert not _batch_threads()
    half = len(y) // 2
    fit(make_engine_trainer([12, 16, 3], seed=1), X[:half], y[:half], epochs=40, batch_size=16,
        X_val=X[half:], y_val=y[half:], early_stopping=1, log_every=1, progress=False)
    assert not _batch_threads()
    with pytest.raises(TrainingDiverged):
        fit(make_engine_trainer([12, 16, 3], lr=1e30, seed=1), X * 1e30, y, epochs=5,
            batch_size=16, progress=False)
    assert not _batch_threads()


def test_an_error_while_gathering_is_raised_at_its_step_and_the_thread_ends():
    def take(step):
        if step == 3:
            raise MemoryError("no room for step 3's rows")
        return np.full(2, step)

    with Prefetch(take, 0, 10) as batches:
        assert [int(batches.get(s)[0]) for s in range(3)] == [0, 1, 2]
        with pytest.raises(MemoryError, match="step 3"):
            batches.get(3)
    assert not _batch_threads()


def test_leaving_early_ends_a_thread_blocked_on_a_full_queue():
    gathered = []

    def take(step):
        gathered.append(step)
        return np.zeros(1)

    with Prefetch(take, 0, 1000) as batches:
        batches.get(0)
    assert not _batch_threads()
    assert len(gathered) <= 2 + DEPTH  # the thread ran at most DEPTH steps ahead
