"""Kernels for wide layers: large float32 matrix products through torch's BLAS, updates in blocks.

The engine computes with NumPy, whose matrix product is OpenBLAS's. For the wide
layers of a real data set (Fashion-MNIST's 784 inputs into 1600 hidden units,
batches of 128) the BLAS that torch ships (oneMKL) computes the same float32
products faster. So a float32 layer above a size measured on the benchmark machine (see
:data:`TORCH_MIN_WEIGHTS`) computes its products in torch, on ``torch.from_numpy``
views of the engine's own arrays: no copy, the result lands in the engine's buffer.
The updates of such a layer's weights (the optimiser's step, the L2 penalty and its
gradient) run in torch too, in one pass and on its threads; other large updates stay
in NumPy, in blocks that fit the cache (:func:`add_scaled`).

torch is imported when such a layer is first used, never before: small
networks (the spiral's, the lecture's) and float64 runs never import it, and their
results stay NumPy's bit for bit. float64 never takes this route, so the engine
and the PyTorch twin keep agreeing to float64 precision. Without torch installed,
everything runs in NumPy.
"""

from __future__ import annotations

import itertools

import numpy as np

#: A float32 layer with at least this many weights (d_in * d_out) computes its
#: products in torch, whatever the batch: 784 x 400 (313,600) and wider do,
#: 784 x 100 (78,400) does not. Measured with benchmarks/wide.py's ``--products`` on
#: the benchmark machine: one thread of torch's product takes 0.82-0.93 of NumPy's
#: time for 784 x 400 and 784 x 1600 in batches of 128, and 0.87-0.95 for 784 x 100,
#: too little there to pay for importing torch (1.5-3 s, 200 MB) in every run of the
#: lecture's Fashion-MNIST net. The decision is per layer, not per call, so that
#: evaluating a whole data set in large blocks does not import torch either.
TORCH_MIN_WEIGHTS = 150_000

#: ``y += a * x`` on arrays larger than this goes block by block, each block's
#: ``a * x`` in a small work array that stays in the cache (128 Ki numbers, 512 KB in
#: float32): the same numbers, in about two thirds of the time for 784 x 1600.
UPDATE_BLOCK = 131_072

_torch = None  # the torch module once imported; False where it cannot be imported


def torch_module():
    """torch, imported on the first call; None where it is not installed."""
    global _torch
    if _torch is None:
        try:
            import torch
        except ImportError:  # pragma: no cover - torch is a dependency of neuralab
            _torch = False
        else:
            _torch = torch
    return _torch or None


def wide(d_in: int, d_out: int, dtype) -> bool:
    """Whether a layer of these widths and dtype computes its products in torch
    (float32 and at least :data:`TORCH_MIN_WEIGHTS` weights, torch installed).

    >>> wide(784, 1600, np.float32), wide(784, 1600, np.float64), wide(784, 100, np.float32)
    (True, False, False)
    """
    return (d_in * d_out >= TORCH_MIN_WEIGHTS and np.dtype(dtype) == np.float32
            and torch_module() is not None)


def torch_matmul_into(a: np.ndarray, b: np.ndarray, out: np.ndarray) -> np.ndarray:
    """``out[...] = a @ b`` by torch's BLAS, on views of the three arrays (no copy).

    ``a`` and ``b`` may be transposed views (``x.T``), of ``out``'s dtype; views that
    torch cannot share (negative strides, an ``out`` that is not C-contiguous) go to
    ``np.matmul``.
    """
    if not out.flags.c_contiguous or any(s < 0 for s in a.strides + b.strides):
        return np.matmul(a, b, out=out)  # views torch cannot share (reversed rows)
    torch = torch_module()
    torch.matmul(torch.from_numpy(a), torch.from_numpy(b), out=torch.from_numpy(out))
    return out


def _wide_array(a: np.ndarray) -> bool:
    """A wide layer's weight matrix (or its gradient): what :func:`wide` sends to torch."""
    return a.ndim == 2 and a.flags.c_contiguous and wide(a.shape[0], a.shape[1], a.dtype)


def add_scaled(y: np.ndarray, alpha: float, x: np.ndarray, tmp: np.ndarray) -> np.ndarray:
    """``y += alpha * x`` in place; ``tmp`` is a work array of y's shape and dtype.

    A wide layer's weights (see :func:`wide`) take torch's one pass over the arrays,
    on its threads (``y.add_(x, alpha=alpha)``, what ``torch.optim.SGD`` does). Other
    arrays take NumPy's ``y + (alpha * x)``, exactly; large contiguous ones in blocks
    of :data:`UPDATE_BLOCK` numbers, so that the products pass through the cache
    instead of a whole temporary through memory.

    >>> y = np.ones(3); add_scaled(y, -0.5, np.arange(3.0), np.empty(3)).tolist()
    [1.0, 0.5, 0.0]
    """
    if _wide_array(y) and x.dtype == y.dtype and x.flags.c_contiguous:
        torch = torch_module()
        torch.from_numpy(y).add_(torch.from_numpy(x), alpha=alpha)
        return y
    n = y.size
    if n <= UPDATE_BLOCK or not (y.flags.c_contiguous and x.flags.c_contiguous
                                 and tmp.flags.c_contiguous):
        np.multiply(x, alpha, out=tmp)
        y += tmp
        return y
    yf, xf, tf = y.reshape(-1), x.reshape(-1), tmp.reshape(-1)
    for a in range(0, n, UPDATE_BLOCK):
        b = min(a + UPDATE_BLOCK, n)
        t = tf[: b - a]
        np.multiply(xf[a:b], alpha, out=t)
        np.add(yf[a:b], t, out=yf[a:b])
    return y


def sum_of_squares(a: np.ndarray):
    """The sum of the squares of ``a``'s elements, a scalar of a's dtype (``np.vdot``;
    a wide layer's weights in torch).

    >>> float(sum_of_squares(np.array([[1.0, 2.0], [3.0, 0.0]])))
    14.0
    """
    if _wide_array(a):
        flat = torch_module().from_numpy(a).view(-1)
        return a.dtype.type(flat.dot(flat).item())
    return np.vdot(a, a)


def products_in_torch(sizes, dtype) -> bool:
    """Whether any layer of a network of widths ``sizes`` computes in torch (see
    :func:`wide`); imports torch when one does, so that its threads can be set before
    the first product.

    >>> products_in_torch([2, 100, 3], np.float32), products_in_torch([784, 1600, 10], "float64")
    (False, False)
    """
    return any(wide(a, b, dtype) for a, b in itertools.pairwise(sizes))
