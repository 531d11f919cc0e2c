"""Models: the multi-layer perceptron of the lecture's pseudocode, any depth.

The linear softmax classifier is the MLP with no hidden layer, ``MLP([D, K])``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from neuralab import NeuralabError
from neuralab.nn.activations import ReLU, get_activation
from neuralab.nn.init import as_generator
from neuralab.nn.layers import Linear
from neuralab.nn.losses import softmax
from neuralab.nn.module import Module, Parameter, as_dtype

#: A whole data set goes through a network in blocks of rows, each block's widest
#: activation at most this many bytes: a 784-1600-10 net over Fashion-MNIST's 60,000
#: images holds (2,609, 1600) float32 arrays (16 MiB) instead of (60,000, 1600) ones
#: (384 MB). Blocks of 1,250 rows and more keep the products as fast per row.
BLOCK_BYTES = 16 * 2**20

#: works on a pass's blocks in threads: ``side_by_side(blocks, make_work)`` (see
#: :meth:`MLP.over_blocks` and :func:`neuralab.cores.in_blocks_side_by_side`)
SideBySide = Callable[[list[tuple[int, int]], Callable[[], Callable[[int, int], object]]], None]


def row_blocks(n: int, row_bytes: int, block_bytes: int | None = None) -> list[tuple[int, int]]:
    """(start, stop) of blocks covering rows 0..n-1, each at most ``block_bytes`` of rows
    (default :data:`BLOCK_BYTES`).

    The blocks are of (almost) equal size, so that a pass over them makes arrays of two
    shapes at most; no rows give one empty block.

    >>> row_blocks(10, row_bytes=4, block_bytes=16)
    [(0, 4), (4, 8), (8, 10)]
    >>> row_blocks(0, row_bytes=4)
    [(0, 0)]
    """
    if n <= 0:
        return [(0, 0)]
    most = max(1, (block_bytes or BLOCK_BYTES) // max(1, row_bytes))
    size = -(-n // -(-n // most))  # n over the number of blocks, rounded up
    return [(a, min(a + size, n)) for a in range(0, n, size)]


def check_sizes(sizes: Sequence[int]) -> list[int]:
    """Validate layer widths ``[d_0, d_1, ..., d_L]``.

    >>> check_sizes([2, 100, 0])
    Traceback (most recent call last):
    ...
    neuralab.NeuralabError: layer sizes must be positive integers, got [2, 100, 0]
    """
    sizes = list(sizes)
    if len(sizes) < 2 or any(
        not isinstance(s, (int, np.integer)) or isinstance(s, bool) or s < 1 for s in sizes
    ):
        raise NeuralabError(
            f"layer sizes must be positive integers, at least [d_in, d_out], got {sizes}"
            if len(sizes) < 2
            else f"layer sizes must be positive integers, got {sizes}"
        )
    return [int(s) for s in sizes]


class MLP(Module):
    """z_i = o_{i-1} W_i + b_i, o_i = sigma(z_i) for the hidden layers; the last gives logits u.

    Args:
        sizes: widths ``[d_0, d_1, ..., d_L]``: inputs, hidden layers, classes.
            ``[2, 3]`` is the linear softmax classifier, ``[2, 100, 3]`` the
            lecture's 2-layer net.
        activation: ``"relu"`` (default), ``"tanh"``, ``"sigmoid"``,
            ``"leaky_relu"`` or ``"identity"``, used after every hidden layer.
        init: ``"lecture"`` (0.01 * N(0, 1), default), ``"he"`` or ``"glorot"``.
        seed: an int or a ``numpy.random.Generator``; W1, W2, ... are drawn in order.
        dtype: ``"float64"`` (default) or ``"float32"``.

    Shape:
        Input: (B, d_0). Output: (B, d_L), the logits (the lecture's ``scores``).

    Attributes:
        linears: the Linear layers, ``linears[i - 1]`` holding ``Wi`` and ``bi``.
        activations: the activation after each hidden layer.

    Example:
        >>> net = MLP([2, 100, 3], seed=0)
        >>> net
        MLP(2 -> 100 -> 3, activation=relu)
        >>> [p.name for p in net.parameters()]
        ['W1', 'b1', 'W2', 'b2']
        >>> net.forward(np.zeros((5, 2))).shape
        (5, 3)
    """

    def __init__(
        self,
        sizes: Sequence[int],
        *,
        activation: str = "relu",
        init: str = "lecture",
        seed=0,
        dtype="float64",
    ) -> None:
        super().__init__()
        self.sizes = check_sizes(sizes)
        self.activation = activation
        get_activation(activation)  # validate the name before building anything
        self.init = init
        self.dtype = as_dtype(dtype)
        rng = as_generator(seed)
        self.linears = [
            Linear(d_in, d_out, init=init, seed=rng, dtype=self.dtype, index=i)
            for i, (d_in, d_out) in enumerate(zip(self.sizes[:-1], self.sizes[1:]), start=1)
        ]
        self.activations = [get_activation(activation) for _ in self.linears[:-1]]
        self._layers = self._interleaved()
        self.scores: np.ndarray | None = None

    @property
    def n_inputs(self) -> int:
        return self.sizes[0]

    @property
    def n_classes(self) -> int:
        return self.sizes[-1]

    @property
    def depth(self) -> int:
        """Number of Linear layers, L."""
        return len(self.linears)

    def reset_parameters(self, seed) -> None:
        rng = as_generator(seed)
        for linear in self.linears:
            linear.reset_parameters(rng)

    def children(self) -> list[Module]:
        return list(self.linears)

    def weights(self) -> list[Parameter]:
        """The weight matrices W1..WL (what the L2 penalty covers; not the biases)."""
        return [linear.W for linear in self.linears]

    def _check_input(self, x: np.ndarray) -> None:
        if x.ndim != 2 or x.shape[1] != self.sizes[0]:
            raise NeuralabError(
                f"input must have shape (B, {self.sizes[0]}), got {tuple(x.shape)}"
            )

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._check_input(x)
        if x.dtype != self.dtype:
            x = x.astype(self.dtype)
        for layer in self._layers:
            x = layer.forward(x)
        self.scores = x
        return x

    def twin(self) -> MLP:
        """The same network on the same weight arrays, with work arrays of its own (see
        :meth:`Module.twin`): what each thread of a pass side by side runs."""
        twin = super().twin()
        twin.linears = [linear.twin() for linear in self.linears]
        twin.activations = [act.twin() for act in self.activations]
        twin._layers = twin._interleaved()
        twin.scores = None
        return twin

    def _interleaved(self) -> list[Module]:
        """The forward order: Linear 1, activation 1, ..., Linear L (no activation after it)."""
        layers: list[Module] = []
        for linear, act in zip(self.linears, self.activations + [None]):
            layers.append(linear)
            if act is not None:
                layers.append(act)
        return layers

    def backward(self, dscores: np.ndarray, *, input_grad: bool = False,
                 accumulate: bool = True) -> np.ndarray | None:
        """Backpropagate dL/dscores, adding into every parameter's ``grad``.

        Returns dL/dX when ``input_grad=True`` (for saliency), else None: training
        never needs the input's gradient, so the first layer skips it.
        ``accumulate=False`` writes the gradients instead of adding them, as
        ``zero_grad()`` before would (see :meth:`Linear.backward`).
        """
        grad = dscores
        layers = self._layers
        dz = {}
        for k in range(len(layers) - 1, 0, -1):
            if k % 2:  # an activation: grad is now dL/dz of hidden layer (k + 1) // 2
                grad = dz[(k + 1) // 2] = layers[k].backward(grad)
            else:
                grad = layers[k].backward(grad, accumulate=accumulate)
        self._dz = dz
        return layers[0].backward(grad, input_grad=input_grad, accumulate=accumulate)

    def blocks(self, n: int) -> list[tuple[int, int]]:
        """Row blocks for a pass over ``n`` rows, sized by :data:`BLOCK_BYTES` (see :func:`row_blocks`)."""
        return row_blocks(n, max(self.sizes) * self.dtype.itemsize)

    def over_blocks(self, n: int, make_work: Callable[[MLP], Callable[[int, int], object]],
                    side_by_side: SideBySide | None = None) -> None:
        """``work(a, b)`` for each of :meth:`blocks` over ``n`` rows, ``work = make_work(model)``.

        In turn, through this model (``model`` is ``self``), unless ``side_by_side`` is
        given: then ``side_by_side(blocks, make)`` works on them in threads
        (:func:`neuralab.threads.side_by_side` makes one), each thread through a
        :meth:`twin` of its own, and a block's numbers do not depend on which thread took
        it (a single block is worked on here, on the runner's terms all the same).
        """
        blocks = self.blocks(n)
        if side_by_side is None:
            work = make_work(self)
            for a, b in blocks:
                work(a, b)
            return
        side_by_side(blocks, lambda: make_work(self.twin()))

    def outputs(self, x: np.ndarray, side_by_side: SideBySide | None = None) -> np.ndarray:
        """The logits (the outputs) u for a whole data set, (n, d_L), as a new array.

        The rows go through in :meth:`blocks` (:meth:`over_blocks`), so the work arrays
        stay small whatever the number of rows; each row's result is its own forward pass's.
        """
        return self._by_blocks(x, lambda u: u, (self.sizes[-1],), self.dtype, side_by_side)

    def predict_proba(self, x: np.ndarray, side_by_side: SideBySide | None = None) -> np.ndarray:
        """softmax of the logits, (n, K), as a new array (computed in :meth:`blocks`)."""
        return self._by_blocks(x, softmax, (self.sizes[-1],), self.dtype, side_by_side)

    def predict(self, x: np.ndarray, side_by_side: SideBySide | None = None) -> np.ndarray:
        """The predicted class, argmax of the logits, (n,) (computed in :meth:`blocks`)."""
        return self._by_blocks(x, lambda u: np.argmax(u, axis=1), (), np.intp, side_by_side)

    def _by_blocks(self, x, fn, tail: tuple[int, ...], dtype, side_by_side) -> np.ndarray:
        x = np.asarray(x)
        self._check_input(x)
        out = np.empty((len(x), *tail), dtype)

        def make_work(model: MLP):
            def work(a: int, b: int) -> None:
                out[a:b] = fn(model.forward(x[a:b]))
            return work

        self.over_blocks(len(x), make_work, side_by_side)
        return out

    def intermediates(self) -> dict[str, np.ndarray]:
        """Every array of the last forward (and backward) pass, by the lecture's names.

        Forward: ``X`` (o_0), ``z1``, ``hidden1`` (o_1), ..., ``scores`` (u).
        Backward, after ``backward``: ``dscores`` is the argument that was passed
        in; for each hidden layer i, ``dhidden{i}`` = dL/do_i, ``mask{i}`` (ReLU:
        ``hidden{i} > 0``) and ``dz{i}`` = dL/dz_i (the lecture's ``dhidden`` after
        ``dhidden[hidden_layer <= 0] = 0``); for every layer ``dW{i}`` and ``db{i}``
        (the parameters' gradients, the L2 term included once it is added).
        Arrays are the engine's own; copy them to keep them past the next pass.
        """
        out: dict[str, np.ndarray] = {}
        if self.linears[0].x is None:
            return out
        out["X"] = self.linears[0].x
        L = self.depth
        for i, (linear, act) in enumerate(zip(self.linears, self.activations + [None]), 1):
            if i == L:
                out["scores"] = linear._buffers["z"]
                break
            out[f"z{i}"] = linear._buffers["z"]
            out[f"hidden{i}"] = act.out
        for i in range(L, 0, -1):
            linear = self.linears[i - 1]
            if i < L and "dx" in self.linears[i]._buffers:
                act = self.activations[i - 1]
                out[f"dhidden{i}"] = self.linears[i]._buffers["dx"]
                if isinstance(act, ReLU) and "mask" in act._buffers:
                    out[f"mask{i}"] = act.mask
                if i in getattr(self, "_dz", {}):
                    out[f"dz{i}"] = self._dz[i]
            if linear.has_grad:
                out[f"dW{i}"] = linear.W.grad
                out[f"db{i}"] = linear.b.grad
        return out

    def __repr__(self) -> str:
        arrows = " -> ".join(str(s) for s in self.sizes)
        extra = "" if self.init == "lecture" else f", init={self.init}"
        dt = "" if self.dtype == np.float64 else f", dtype={self.dtype.name}"
        return f"MLP({arrows}, activation={self.activation}{extra}{dt})"
