"""The fully connected layer in the lecture's layout."""

from __future__ import annotations

import numpy as np

from neuralab import NeuralabError
from neuralab.nn.init import as_generator, get_init
from neuralab.nn.kernels import torch_matmul_into, wide
from neuralab.nn.module import Module, Parameter, as_dtype


#: A product with at most this many columns (or rows) on its narrow side is done as
#: one matrix-vector product per column (row): for the spiral's 300 x 100 x 3 shapes
#: OpenBLAS's gemv loop takes about 60 % of the time of one skinny gemm.
SKINNY = 4


def matmul_into(a: np.ndarray, b: np.ndarray, out: np.ndarray, *, in_torch: bool = False
                ) -> np.ndarray:
    """``out[...] = a @ b``, choosing the faster BLAS route for the shapes.

    ``in_torch=True`` (a wide float32 layer's products, see :mod:`neuralab.nn.kernels`)
    uses torch's BLAS; otherwise skinny products go as one matrix-vector product a
    column (row), the rest to ``np.matmul``.

    >>> a, b = np.arange(6.0).reshape(3, 2), np.arange(4.0).reshape(2, 2)
    >>> matmul_into(a, b, np.empty((3, 2))).tolist() == (a @ b).tolist()
    True
    """
    if in_torch:
        return torch_matmul_into(a, b, out)
    if b.shape[1] <= SKINNY:
        for k in range(b.shape[1]):
            out[:, k] = a @ b[:, k]
        return out
    if a.shape[0] <= SKINNY:
        for i in range(a.shape[0]):
            np.matmul(a[i], b, out=out[i])
        return out
    return np.matmul(a, b, out=out)


class Linear(Module):
    """z = x W + b.

    Args:
        d_in: width of the input, d_{i-1}.
        d_out: width of the output, d_i.
        init: ``"lecture"`` (0.01 * N(0, 1), the default), ``"he"`` or ``"glorot"``.
        seed: an int or a ``numpy.random.Generator`` for the initial weights.
        dtype: ``"float64"`` (default) or ``"float32"``.
        index: the layer's number i, which names its parameters ``Wi`` and ``bi``.

    Shape:
        Input: (B, d_in). Output: (B, d_out).

    Attributes:
        W: (d_in, d_out), the lecture's layout (torch stores (d_out, d_in)); drawn
            from 0.01 * N(0, 1) unless init= says otherwise.
        b: (d_out,), zeros.
        x: the input of the last forward pass (kept for backward).
        has_grad: whether a backward pass has filled ``W.grad`` and ``b.grad``.

    Example:
        >>> layer = Linear(2, 3, seed=0)
        >>> layer
        Linear(d_in=2, d_out=3)
        >>> layer.forward(np.ones((4, 2))).shape
        (4, 3)
    """

    def __init__(
        self,
        d_in: int,
        d_out: int,
        *,
        init: str = "lecture",
        seed=0,
        dtype="float64",
        index: int = 1,
    ) -> None:
        super().__init__()
        for arg, value in (("d_in", d_in), ("d_out", d_out)):
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
                raise NeuralabError(f"{arg} must be a positive integer, got {value!r}")
        self.d_in, self.d_out = int(d_in), int(d_out)
        self.dtype = as_dtype(dtype)
        self.init = init
        self._init_fn = get_init(init)
        # W and b are two views of one (d_in + 1, d_out) array, [W; b], so that a layer
        # with few inputs and many outputs can add its bias inside the matrix product
        self._Wb = np.zeros((self.d_in + 1, self.d_out), self.dtype)
        self.W = Parameter(self._Wb[: self.d_in], f"W{index}")
        self.b = Parameter(self._Wb[self.d_in], f"b{index}")
        self._fused = self.d_in <= SKINNY < self.d_out
        self.x: np.ndarray | None = None
        self.has_grad = False  # a backward pass has filled W.grad and b.grad
        self.reset_parameters(seed)

    def reset_parameters(self, seed) -> None:
        """Draw W from the initialiser and set b to zero."""
        rng = as_generator(seed)
        self.W.data[...] = self._init_fn(rng, self.d_in, self.d_out)
        self.b.data.fill(0)

    def own_parameters(self) -> list[Parameter]:
        return [self.W, self.b]

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.x = x
        out = self._buffer("z", (x.shape[0], self.d_out), self.dtype)
        if self._fused:
            # [x, 1] @ [W; b]: one product instead of a product and a pass adding b
            xa = self._buffers.get("x1")
            if xa is None or xa.shape != (x.shape[0], self.d_in + 1) or xa.dtype != self.dtype:
                xa = self._buffers["x1"] = np.ones((x.shape[0], self.d_in + 1), self.dtype)
            xa[:, : self.d_in] = x
            np.matmul(xa, self._Wb, out=out)
            return out
        matmul_into(x, self.W.data, out, in_torch=wide(self.d_in, self.d_out, self.dtype))
        out += self.b.data
        return out

    def backward(self, grad_out: np.ndarray, *, input_grad: bool = True,
                 accumulate: bool = True) -> np.ndarray | None:
        """Add dW = x^T grad_out and db = sum of grad_out's rows; return grad_out W^T.

        ``input_grad=False`` skips the input's gradient (the first layer's, which
        training never needs) and returns None. ``accumulate=False`` writes dW and db
        into the parameters' ``grad`` instead of adding them: the same as
        ``zero_grad()`` first, without the passes over the arrays (a training step's).
        """
        x = self.x
        if x is None:
            raise RuntimeError("Linear.backward called before forward")
        if accumulate:
            dW = self._buffer("dW", self.W.data.shape, self.dtype)
            db = self._buffer("db", self.b.data.shape, self.dtype)
        else:
            dW, db = self.W.grad, self.b.grad
        in_torch = wide(self.d_in, self.d_out, self.dtype)
        matmul_into(x.T, grad_out, dW, in_torch=in_torch)
        # the column sums as a product with a vector of ones: one BLAS call, faster
        # than numpy's reduction over the rows
        ones = self._buffers.get("ones")
        if ones is None or ones.shape[0] != x.shape[0] or ones.dtype != self.dtype:
            ones = self._buffers["ones"] = np.ones(x.shape[0], self.dtype)
        np.matmul(ones, grad_out, out=db)
        if accumulate:
            self.W.grad += dW
            self.b.grad += db
        self.has_grad = True
        if not input_grad:
            return None
        dx = self._buffer("dx", x.shape, self.dtype)
        if in_torch:
            return torch_matmul_into(grad_out, self.W.data.T, dx)
        return np.matmul(grad_out, self.W.data.T, out=dx)

    def __repr__(self) -> str:
        extra = "" if self.init == "lecture" else f", init={self.init}"
        return f"Linear(d_in={self.d_in}, d_out={self.d_out}{extra})"
