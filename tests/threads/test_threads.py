"""neuralab.threads: the thread count by problem size, the user's variables, and the limits'
restoration; fit trains small problems on one BLAS (and torch) thread."""

from __future__ import annotations

import numpy as np
import pytest
from threadpoolctl import threadpool_info, threadpool_limits

from neuralab.threads import (
    PARALLEL_WORK,
    THREAD_ENV,
    available_cores,
    limit_threads,
    pick_threads,
    step_work,
)
from neuralab.train import fit, make_engine_trainer


def blas_threads() -> list[int]:
    return [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]


def test_small_problems_get_one_thread_and_large_ones_every_core():
    assert pick_threads([2, 100, 3], 300, cores=8) == 1  # the spiral
    assert pick_threads([30, 100, 2], 569, cores=8) == 1  # breast_cancer
    assert pick_threads([784, 100, 10], 128, "float32", cores=8) == 1  # Fashion-MNIST's net
    assert pick_threads([784, 1600, 10], 128, "float32", cores=8) == 8
    assert pick_threads([784, 1600, 10], 128, "float32") == available_cores()
    # the criterion is the widest layer's product, float32 counting half
    rows = int(PARALLEL_WORK // (784 * 400)) + 1
    assert pick_threads([784, 400, 10], rows, cores=4) == 4
    assert pick_threads([784, 400, 10], rows, "float32", cores=4) == 1
    assert step_work([10, 20, 30, 5], 7) == 7 * 20 * 30


def test_limits_apply_in_the_block_and_are_restored(no_thread_env):
    with threadpool_limits(limits=2, user_api="blas"):
        before = blas_threads()
        with limit_threads(1) as n:
            assert n == 1 and blas_threads() == [1] * len(before)
        assert blas_threads() == before
        with pytest.raises(KeyError), limit_threads(1):  # restored after an exception too
            raise KeyError("x")
        assert blas_threads() == before
    # a caller's lower limit stays
    with threadpool_limits(limits=1, user_api="blas"), limit_threads(2) as n:
        assert n == 1 and blas_threads() == [1] * len(before)


@pytest.mark.parametrize("name", THREAD_ENV)
def test_a_users_thread_variable_wins(monkeypatch, no_thread_env, name):
    monkeypatch.setenv(name, "2")
    with threadpool_limits(limits=2, user_api="blas"):
        before = blas_threads()
        with limit_threads(1) as n:
            assert n is None and blas_threads() == before


def test_fit_trains_a_small_problem_on_one_thread_and_restores_the_count(no_thread_env):
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((60, 2)), rng.integers(0, 3, 60)
    seen = []
    with threadpool_limits(limits=2, user_api="blas"):
        before = blas_threads()
        fit(make_engine_trainer([2, 10, 3]), X, y, iterations=20, log_every=10, progress=False,
            callbacks=[lambda step, loss, metrics: seen.append(blas_threads())])
        assert seen and all(s == [1] * len(before) for s in seen)
        assert blas_threads() == before


def test_the_torch_backend_trains_a_small_problem_on_one_intra_op_thread(no_thread_env):
    torch = pytest.importorskip("torch")
    from neuralab.torch_backend.trainer import make_torch_trainer

    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((60, 2)), rng.integers(0, 3, 60)
    before, seen = torch.get_num_threads(), []
    torch.set_num_threads(2)
    try:
        fit(make_torch_trainer([2, 10, 3], device="cpu"), X, y, iterations=10, log_every=5,
            progress=False, callbacks=[lambda *_: seen.append(torch.get_num_threads())])
        assert seen and set(seen) == {1} and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize("limit", [1, 2])
def test_the_held_out_pass_gets_the_threads_its_rows_call_for_up_to_the_callers(no_thread_env,
                                                                               limit):
    """Small steps train on one thread; scoring 40,000 held-out rows at each logged row is a
    large product and goes back up to the count fit was called with, never above it."""
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((64, 50)), rng.integers(0, 3, 64)
    X_val, y_val = rng.standard_normal((40_000, 50)), rng.integers(0, 3, 40_000)
    trainer = make_engine_trainer([50, 20, 3])
    assert pick_threads([50, 20, 3], 32, cores=2) == 1
    assert pick_threads([50, 20, 3], 40_000, cores=2) == 2
    scoring, steps = [], []
    evaluate, train_step = trainer.evaluate, trainer.train_step
    trainer.evaluate = lambda *a: scoring.append(max(blas_threads())) or evaluate(*a)
    trainer.train_step = lambda *a: steps.append(max(blas_threads())) or train_step(*a)
    with threadpool_limits(limits=limit, user_api="blas"):
        before = blas_threads()
        result = fit(trainer, X, y, epochs=2, batch_size=32, X_val=X_val, y_val=y_val,
                     log_every=1, progress=False)
        assert blas_threads() == before
    assert len(result.history.rows) == 2 and "val_loss" in result.history.rows[0]
    assert set(steps) == {1}
    # the two logged rows' held-out passes (the closing pass over the 64 training rows: 1)
    assert scoring[:2] == [min(limit, available_cores())] * 2
