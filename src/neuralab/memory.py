"""What a training run needs in memory, estimated before any of it is taken.

A model too large for the machine is refused with a one-line error naming the
setting to change, before the weights, the optimiser's slots or the activations
are allocated (:func:`check_memory`); the playground bounds its sessions with the
same estimate (:func:`memory_estimate`).
"""

from __future__ import annotations

import itertools

import numpy as np

from neuralab import ArgumentError, NeuralabError
from neuralab.config import TrainSettings
from neuralab.data.splits import Split

#: bytes of a standardised training split above which the engine's minibatch training
#: standardises its rows as it reads them (:class:`~neuralab.data.preprocess.ScaledRows`)
LAZY_INPUTS = 64 * 2**20

#: optimiser slots per parameter: momentum's velocity, Adam's two moments
OPTIMIZER_SLOTS = {"sgd": 0, "manual": 0, "momentum": 1, "nesterov": 1, "adam": 2}


def memory_estimate(settings: TrainSettings, sizes: list[int], rows: dict[str, int]
                    ) -> tuple[int, int, int]:
    """Bytes that training needs: (weights and optimiser state, activations, data).

    ``rows`` counts the rows of each split (``train`` among them; a caller may
    add other blocks it evaluates at once). The estimate counts, in the
    settings' dtype: weights, gradients, optimiser slots and one temporary per
    parameter; the activations of a training batch (z and o of each layer, and
    their gradients) and of a whole block evaluated at once; and the
    standardised copy of the data.
    """
    item = np.dtype(settings.dtype).itemsize
    params = sum(a * b + b for a, b in itertools.pairwise(sizes))
    state = params * (3 + OPTIMIZER_SLOTS.get(settings.optimizer, 2)) * item
    batch = rows["train"] if settings.batch_size is None else min(settings.batch_size, rows["train"])
    activations = max(4 * batch, 2 * max(rows.values())) * sum(sizes[1:]) * item
    return state, activations, sum(rows.values()) * sizes[0] * item


def check_memory(settings: TrainSettings, sizes: list[int], splits: dict[str, Split]) -> None:
    """Refuse a model whose training needs more memory than this machine allows, before any is taken
    (the estimate of :func:`memory_estimate`)."""
    from neuralab.data.files import gib, memory_limit

    rows = {k: len(sp.y) for k, sp in splits.items()}
    batch = rows["train"] if settings.batch_size is None else min(settings.batch_size, rows["train"])
    state, activations, data = memory_estimate(settings, sizes, rows)
    needed, limit = state + activations + data, memory_limit()
    if needed <= limit:
        return
    advice = "use smaller hidden sizes"
    if 4 * batch > 2 * max(rows.values()) and activations > state:
        advice += " or a smaller batch (set batch_size)"
    message = (f"the model {' -> '.join(map(str, sizes))} needs about {gib(needed)} of memory "
               f"(weights, gradients and optimizer state {gib(state)}, activations "
               f"{gib(activations)}, data {gib(data)}), more than the {gib(limit)} this machine "
               f"allows; {advice}")
    if settings.hidden:
        raise ArgumentError("hidden", f"hidden {list(settings.hidden)}: {message}", hint="batch_size")
    raise NeuralabError(message)
