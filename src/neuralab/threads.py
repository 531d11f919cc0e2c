"""How many threads training's matrix products use: one for small problems, every core for large.

A second BLAS (or torch) thread only pays when a matrix product is large enough to
outweigh the threads' hand-over at every call; below that it costs wall time, and
with another process busy on the machine the waiting threads cost many times the
work itself (benchmarks/threads.py measures both). So :func:`pick_threads` reads the
size of one training step's largest product, and :func:`limit_threads` applies it
around :func:`neuralab.train.fit`: to the BLAS that NumPy calls (through threadpoolctl)
and, where torch is loaded, to torch's intra-op threads.

The choice depends on the problem and the cores this process may use, never on the
machine's load: the thread count changes the last bits of some products (OpenBLAS
splits the inner dimension among its threads), and the same command with the same
seed must give the same numbers however busy the machine is. On a machine that other
work keeps busy, a large run is faster with one thread: set ``OPENBLAS_NUM_THREADS=1``.

Two things win over the choice: the user's ``OPENBLAS_NUM_THREADS``,
``OMP_NUM_THREADS`` or ``MKL_NUM_THREADS`` (then nothing is changed), and a limit
that the caller already set lower (a sweep worker's share of the cores): the choice
only ever lowers the thread count, never raises it, except back up to the counts fit
was called with, for a held-out pass inside its loop (:func:`scoring_threads`).

A pass over a whole data set (fit's closing evaluation, the held-out scoring, a saved
model's predictions) takes its blocks of rows in Python threads instead, each product
on one BLAS thread (:func:`side_by_side`): a block's numbers are then those of one
thread whatever the cores or the load, and a thread that another process slows takes
fewer blocks instead of holding up every product.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import os
import sys
from collections.abc import Callable, Iterator, Sequence

import numpy as np

from neuralab.cores import available_cores, in_blocks_side_by_side

__all__ = ["ONE_THREAD_PRODUCT", "PARALLEL_WORK", "PASS_THREADS", "THREAD_ENV",
           "available_cores", "limit_threads", "pick_threads", "scoring_threads",
           "side_by_side", "step_work", "thread_counts", "training_threads", "user_threads"]

#: environment variables through which a user sets the thread count themselves
THREAD_ENV = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")

#: the step work (see :func:`step_work`) below which one thread is used. On the 2-core
#: development machine (benchmarks/threads.py, table in benchmarks/README.md) a second
#: OpenBLAS or torch thread never paid below it: a Fashion-MNIST epoch of 784-100-10 at
#: batch 128 (5.0e6 in float32) took 0.99 of one thread's time on a quiet machine (issue
#: 15) and 3.6-11 times it on a busy one; at load 1.5, 784-H-10 float64 steps of 1e7
#: took 0.91 of one thread's time, of 2e7-4e7 0.67-1.02
PARALLEL_WORK = 2.0e7

#: the most Python threads a pass over a data set takes its blocks in (:func:`side_by_side`):
#: each holds a block's work arrays (up to 16 MiB of activations, ``nn.models.BLOCK_BYTES``,
#: and as much again of standardised inputs), so a pass holds at most four blocks at once
#: however many cores the machine has. On the 2-core development machine the two blocks
#: raised the peak of the Fashion-MNIST run from 413 to 430 MB
PASS_THREADS = 4

#: the multiply-adds up to which OpenBLAS computes a product on one thread whatever its
#: thread count (its GEMM_MULTITHREAD_THRESHOLD, 4, times 65,536): a pass whose largest
#: product is no larger gives one thread's numbers as it is, and :func:`side_by_side`
#: leaves it alone (``predict --point`` loads no thread control for one row)
ONE_THREAD_PRODUCT = 4 * 65_536


def step_work(sizes: Sequence[int], rows: int, dtype=np.float64) -> float:
    """The multiply-adds of one training step's largest matrix product, in float64 units.

    The largest product of a step through ``sizes`` ``[d_0, ..., d_L]`` on ``rows``
    rows is ``rows * d_{i-1} * d_i`` for the widest layer ``i`` (its forward product
    and its weight gradient ``o_{i-1}^T dz_i`` have the same size). A float32
    product takes about half the time of a float64 one (twice the numbers per SIMD
    register), so it counts half.

    >>> step_work([2, 100, 3], 300)
    90000.0
    >>> step_work([784, 100, 10], 128, "float32")
    5017600.0
    """
    widest = max(a * b for a, b in itertools.pairwise(sizes))
    return float(rows) * widest * _itemsize(dtype) / 8


def _itemsize(dtype) -> int:
    try:
        return np.dtype(dtype).itemsize
    except TypeError:  # a torch dtype (torch.float32.itemsize == 4)
        return int(getattr(dtype, "itemsize", 8))


def pick_threads(sizes: Sequence[int], rows: int, dtype=np.float64, *,
                 cores: int | None = None) -> int:
    """The thread count for training ``sizes`` on batches of ``rows`` rows: 1 when
    :func:`step_work` is below :data:`PARALLEL_WORK`, else ``cores`` (default
    :func:`available_cores`).

    >>> pick_threads([2, 100, 3], 300, cores=2)
    1
    >>> pick_threads([784, 1600, 10], 128, cores=2)
    2
    """
    if step_work(sizes, rows, dtype) < PARALLEL_WORK:
        return 1
    return available_cores() if cores is None else cores


def user_threads() -> str | None:
    """The first of :data:`THREAD_ENV` that the environment sets, or None."""
    return next((name for name in THREAD_ENV if os.environ.get(name, "").strip()), None)


@functools.cache
def _blas():
    # threadpoolctl is imported on first use (about 10 ms); its controller finds the
    # BLAS libraries loaded so far once (numpy's is loaded with numpy)
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController().select(user_api="blas")


def thread_counts() -> tuple[int | None, int | None]:
    """The BLAS and torch intra-op thread counts in force now (None: no BLAS found, or torch
    not loaded): the ``up_to`` of a pass inside training that may use more threads than its
    steps (:func:`limit_threads`)."""
    current = [lib["num_threads"] for lib in _blas().info()]
    torch = sys.modules.get("torch")
    return (max(current) if current else None,
            torch.get_num_threads() if torch is not None else None)


@contextlib.contextmanager
def limit_threads(n: int, *, blas: int | None = None,
                  up_to: tuple[int | None, int | None] | None = None) -> Iterator[int | None]:
    """Run the block with at most ``n`` BLAS threads, and at most ``n`` torch intra-op
    threads where torch is loaded (the torch backend's, or the engine's large float32
    products, see :mod:`neuralab.nn.kernels`); torch is never imported here.

    Each count is lowered only (a caller's lower limit stays) and restored after the
    block; with ``up_to`` (:func:`thread_counts` taken before an enclosing limit, such as
    training's), a count may also be raised again, to at most that count: a pass over
    many rows inside a loop of small steps. ``blas`` lowers the BLAS count further (1
    where torch computes the large products: two thread pools must not spin against
    each other). With a thread
    variable of :data:`THREAD_ENV` set, nothing changes. Yields the BLAS thread count
    in force, or None when the user's variable decided.
    """
    if user_threads() is not None:
        yield None
        return
    n = max(1, int(n))
    n_blas = n if blas is None else max(1, min(n, int(blas)))
    controller = _blas()
    current = [lib["num_threads"] for lib in controller.info()]
    torch = sys.modules.get("torch")
    torch_before = torch.get_num_threads() if torch is not None else None
    blas_top, torch_top = up_to if up_to is not None else (None, None)
    if current and blas_top is not None:
        n_blas = min(n_blas, blas_top)
    n_torch = n if torch_top is None else min(n, torch_top)
    def changes(want: int, now: int, top: int | None) -> bool:
        # lowered only; under an ``up_to``, set to the count asked for whichever way it goes
        return want != now if top is not None else want < now

    set_blas = bool(current) and changes(n_blas, max(current), blas_top)
    set_torch = torch_before is not None and changes(n_torch, torch_before, torch_top)
    with contextlib.ExitStack() as stack:
        if set_blas:
            stack.enter_context(controller.limit(limits=n_blas))
        if set_torch:
            torch.set_num_threads(n_torch)
            stack.callback(torch.set_num_threads, torch_before)
        yield n_blas if set_blas or not current else min(current)


def _sets_threads(trainer) -> bool:
    """Whether fit may set the thread counts for ``trainer``: its model gives ``sizes``, no
    thread variable of the user's is set, and this is the main thread."""
    return _may_set(getattr(trainer, "model", None))


def _may_set(model) -> bool:
    """Whether the thread counts may be set for a pass of ``model``: it gives ``sizes``, no
    thread variable of the user's is set, and this is the main thread."""
    import threading

    return (bool(getattr(model, "sizes", None))
            and user_threads() is None
            and threading.current_thread() is threading.main_thread())


def training_threads(trainer, rows: int, *,
                     up_to: tuple[int | None, int | None] | None = None
                     ) -> contextlib.AbstractContextManager:
    """:func:`limit_threads` with :func:`pick_threads`'s count for ``trainer``'s model
    (its ``model.sizes`` and dtype) on batches of ``rows`` rows; what :func:`neuralab.train.fit`
    enters. A trainer without ``model.sizes`` trains with the threads as they are, and so
    does a fit called from any thread but the main one (the playground's sessions): the
    thread counts are the process's, and changing them while another thread is in a
    product, or while the interpreter shuts down, is not safe."""
    if not _sets_threads(trainer):
        return contextlib.nullcontext()
    sizes = trainer.model.sizes
    dtype = getattr(trainer, "dtype", None) or getattr(trainer.model, "dtype", np.float64)
    # the engine hands its large float32 products to torch (neuralab.nn.kernels): then
    # torch's pool takes the threads and NumPy's BLAS keeps one for the small products
    in_torch = getattr(trainer, "products_in_torch", None)
    blas = 1 if in_torch is not None and in_torch(rows) else None
    return limit_threads(pick_threads(sizes, rows, dtype), blas=blas, up_to=up_to)


def scoring_threads(trainer) -> Callable[[int], contextlib.AbstractContextManager]:
    """For a pass over ``rows`` held-out rows inside training's thread limit: the count
    those rows call for (:func:`training_threads`), up to the counts in force now, taken
    before training lowers them. Scoring 10,000 Fashion-MNIST images at every epoch is a
    large product between small steps: on two cores it takes half the time on two
    threads. Where fit sets no thread counts, nothing changes."""
    if not _sets_threads(trainer):
        return lambda rows: contextlib.nullcontext()
    counts = thread_counts()
    return lambda rows: training_threads(trainer, rows, up_to=counts)


def side_by_side(model, rows: int):
    """How a pass of ``model`` (an engine :class:`~neuralab.nn.MLP`) over ``rows`` rows takes
    its blocks (:meth:`~neuralab.nn.MLP.over_blocks`): with the BLAS at one thread, in as
    many Python threads as :func:`pick_threads` gives the pass (at most the BLAS threads in
    force: a sweep worker's share, and at most :data:`PASS_THREADS`), each taking the next
    block when it is free; a small pass in this thread alone.

    With one BLAS thread a block's products give the same numbers whichever thread ran
    them, so a pass gives one thread's numbers however many cores or how busy. None (in
    turn, with the threads as they are) for a pass that OpenBLAS computes on one thread
    anyway (:data:`ONE_THREAD_PRODUCT`), off the main thread, with a thread variable of the
    user's set, and where torch computes the model's products (:mod:`neuralab.nn.kernels`).
    """
    from neuralab.nn.kernels import products_in_torch

    if (step_work(model.sizes, rows) <= ONE_THREAD_PRODUCT or not _may_set(model)
            or products_in_torch(model.sizes, model.dtype)):
        return None
    workers = min(pick_threads(model.sizes, rows, model.dtype), PASS_THREADS)
    in_force = thread_counts()[0]
    workers = min(workers, in_force) if in_force else 1

    def run(blocks, make_work) -> None:
        with limit_threads(1):
            in_blocks_side_by_side(blocks, make_work, workers)

    return run
