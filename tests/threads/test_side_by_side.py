"""A pass over a whole data set takes its blocks in Python threads, one BLAS thread each
(neuralab.threads.side_by_side): the numbers of one thread in turn, whoever took a block;
the model's own work arrays untouched; small passes, a user's thread variable, other
threads and a caller's one-thread limit keep the pass in turn."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from threadpoolctl import threadpool_info, threadpool_limits

from neuralab.cores import in_blocks_side_by_side
from neuralab.nn import MLP
from neuralab.runs.predictor import load_model
from neuralab.threads import side_by_side
from neuralab.train import make_engine_trainer


def blas_threads() -> int:
    return max(lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas")


def data(n: int, d: int, k: int, dtype, seed: int = 0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, d)).astype(dtype), rng.integers(0, k, n)


def test_every_block_is_worked_on_once_by_threads_that_each_make_their_own_work():
    done, makers = [], []
    lock = threading.Lock()

    def make_work():
        mine = object()
        makers.append((threading.get_ident(), mine))

        def work(a, b):
            with lock:
                done.append((a, b, mine))
        return work

    blocks = [(i, i + 3) for i in range(0, 60, 3)]
    in_blocks_side_by_side(blocks, make_work, workers=2)
    assert sorted((a, b) for a, b, _ in done) == blocks
    assert len(makers) == 2 and len({ident for ident, _ in makers}) == 2
    assert {w for _, _, w in done} <= {w for _, w in makers}
    # never more threads than blocks, and one worker runs here
    makers.clear()
    in_blocks_side_by_side([(0, 1)], make_work, workers=8)
    assert [ident for ident, _ in makers] == [threading.get_ident()]


def test_a_failing_block_is_raised_here_and_no_block_starts_after_it():
    started = []

    def make_work():
        def work(a, b):
            started.append(a)
            if a == 2:
                raise ValueError("block 2")
        return work

    with pytest.raises(ValueError, match="block 2"):
        in_blocks_side_by_side([(i, i + 1) for i in range(50)], make_work, workers=2)
    # the other thread may finish the block it had started; none is started later
    assert 2 in started and len(started) <= 4


@pytest.mark.parametrize("sizes, dtype, activation", [
    ([784, 100, 10], "float32", "relu"),    # Fashion-MNIST's net
    ([200, 64, 64, 5], "float64", "tanh"),
    ([300, 7], "float64", "relu"),          # the linear classifier
])
def test_a_pass_side_by_side_gives_one_threads_numbers_in_turn(monkeypatch, no_thread_env, sizes,
                                                               dtype, activation):
    trainer = make_engine_trainer(sizes, dtype=dtype, activation=activation, seed=3)
    n = 30_000
    X, y = data(n, sizes[0], sizes[-1], dtype)
    assert len(trainer.model.blocks(n)) >= 2
    taken = []
    monkeypatch.setattr("neuralab.threads.in_blocks_side_by_side",
                        lambda *a, run=in_blocks_side_by_side: taken.append(a[2]) or run(*a))
    with threadpool_limits(limits=2, user_api="blas"):
        loss, probs = trainer.evaluate(X, y)
        proba = trainer.predict_proba(X)
        assert blas_threads() == 2  # restored after the pass
    assert taken == [2, 2]
    monkeypatch.setattr("neuralab.train.side_by_side", lambda model, rows: None)
    with threadpool_limits(limits=1, user_api="blas"):  # in turn, one BLAS thread
        loss1, probs1 = trainer.evaluate(X, y)
        proba1 = trainer.model.predict_proba(X)
    assert loss == loss1
    assert np.array_equal(probs, probs1) and np.array_equal(proba, proba1)


def test_threads_of_a_pass_work_through_twins_and_leave_the_model_s_arrays_alone(no_thread_env):
    model = MLP([784, 100, 10], dtype="float32", seed=0)
    X, _ = data(20_000, 784, 10, "float32")
    model.forward(X[:5])
    before = {k: v.copy() for k, v in model.intermediates().items()}
    seen = []

    def make_work(m):
        seen.append((threading.get_ident(), m))
        return lambda a, b: m.forward(X[a:b])

    with threadpool_limits(limits=2, user_api="blas"):
        model.over_blocks(len(X), make_work, side_by_side(model, len(X)))
    assert len({ident for ident, _ in seen}) == 2
    assert all(m is not model for _, m in seen)
    assert all(m.linears[0].W is model.linears[0].W for _, m in seen)  # the same weights
    after = model.intermediates()
    assert after.keys() == before.keys()
    assert all(np.array_equal(after[k], before[k]) for k in before)


def test_small_passes_run_here_on_one_blas_thread_and_some_keep_the_threads(
        monkeypatch, no_thread_env):
    import neuralab.threads as threads

    taken = []
    monkeypatch.setattr(threads, "in_blocks_side_by_side",
                        lambda blocks, make_work, workers: taken.append((workers, blas_threads())))
    with threadpool_limits(limits=2, user_api="blas"):
        threads.side_by_side(MLP([30, 100, 2]), 569)([(0, 569)], None)  # breast_cancer
        assert taken.pop() == (1, 1)
        # products that OpenBLAS computes on one thread anyway: nothing to set
        assert threads.side_by_side(MLP([2, 100, 3]), 300) is None  # the spiral
        assert threads.side_by_side(MLP([784, 100, 10]), 1) is None  # predict --point
        big = MLP([784, 100, 10], dtype="float32")
        threads.side_by_side(big, 60_000)([(0, 1)], None)
        assert taken.pop() == (2, 1)
        # in turn with the threads as they are: off the main thread (the playground's
        # sessions), where torch computes the products, with a thread variable of the user's
        found = []
        thread = threading.Thread(target=lambda: found.append(side_by_side(big, 60_000)))
        thread.start()
        thread.join()
        assert found == [None]
        monkeypatch.setattr("neuralab.nn.kernels.products_in_torch", lambda *a: True)
        assert side_by_side(big, 60_000) is None
        monkeypatch.undo()
        monkeypatch.setenv("OPENBLAS_NUM_THREADS", "2")
        assert side_by_side(big, 60_000) is None


def test_a_saved_model_predicts_side_by_side_what_one_thread_predicts(monkeypatch, tmp_path,
                                                                      no_thread_env):
    from neuralab.config import TrainSettings
    from neuralab.data import Dataset
    from neuralab.lab import run_training

    X, y = data(24_000, 784, 3, "float32", seed=1)
    dataset = Dataset(X.astype(np.float64), y, classes=["a", "b", "c"], name="wide", source="drawn")
    settings = TrainSettings(hidden=[100], iterations=2, dtype="float32", lr=0.1, seed=0)
    run = run_training(dataset, settings, out=tmp_path / "run", echo=None, progress=False)
    with threadpool_limits(limits=1, user_api="blas"):
        in_turn = run.predictor.predict_proba(X)
    taken = []
    monkeypatch.setattr("neuralab.threads.in_blocks_side_by_side",
                        lambda *a, run=in_blocks_side_by_side: taken.append(a[2]) or run(*a))
    with threadpool_limits(limits=2, user_api="blas"):
        loaded = load_model(tmp_path / "run").predict_proba(X)
    assert 2 in taken  # the saved model's passes went side by side
    assert np.array_equal(loaded, in_turn)


def test_a_pass_takes_as_many_threads_as_its_size_calls_for_up_to_four(monkeypatch, no_thread_env):
    import neuralab.threads as threads

    taken = []
    monkeypatch.setattr(threads, "in_blocks_side_by_side",
                        lambda blocks, make_work, workers: taken.append(workers))
    model = MLP([784, 100, 10], dtype="float32")
    for cores, in_force, expected in ((64, 64, 4), (64, 3, 3), (2, 2, 2)):
        monkeypatch.setattr(threads, "available_cores", lambda cores=cores: cores)
        monkeypatch.setattr(threads, "thread_counts", lambda n=in_force: (n, None))
        threads.side_by_side(model, 60_000)([(0, 1)], lambda: None)
        assert taken.pop() == expected
