"""Data-parallel training with torch.distributed: every rank trains its shard of each batch.

A process launched by ``torchrun`` (or by ``neuralab train --nproc N``, which
calls torch's launcher) finds its place in the world in the environment that
the launcher sets: ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and
``MASTER_PORT``. :func:`join` forms the process group (gloo on the CPU, NCCL on
GPUs, one GPU per local rank); :class:`DistributedTrainer` then wraps the model
in ``DistributedDataParallel``.

Every rank runs the same training loop on the same data with the same seed, so
every rank draws the same global minibatch; each takes its contiguous shard of
it (rank r of N: rows ``r*B//N`` to ``(r+1)*B//N``). A rank's loss is its
shard's summed cross-entropy over the whole batch's weight, times N, plus the
L2 penalty; DDP averages the gradients over the N ranks, which gives exactly
the gradient of the global batch's mean loss. So the global batch size is what
``batch_size`` says, and N processes reach the weights that one reaches, up to
the order of the all-reduce's sums. Weights and optimiser state are the same on
every rank: rank 0 alone writes the run, and its checkpoint resumes on any
number of processes.
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel

from neuralab import NeuralabError
from neuralab.nn.models import MLP
from neuralab.torch_backend.model import from_engine, resolve_device
from neuralab.torch_backend.trainer import TorchTrainer


class DistributedError(NeuralabError):
    """A rank lost its peers, or the world never formed."""


@dataclass(frozen=True)
class World:
    """This process's place among the ranks, and its device."""

    rank: int
    size: int
    local_rank: int
    device: torch.device

    @property
    def main(self) -> bool:
        return self.rank == 0


_CURRENT: World | None = None


def current() -> World | None:
    """The world this process has joined, or None."""
    return _CURRENT


def join(place: Mapping[str, int], device: str, timeout: float) -> World:
    """Form the process group of ``place`` (see :func:`neuralab.launch.launch_place`).

    Args:
        device: ``auto``, ``cpu`` or ``cuda``; with CUDA each rank takes the GPU of its
            local rank, and the group talks NCCL, else gloo.
        timeout: seconds to wait for the other ranks, to form the world and at each step.

    Raises:
        DistributedError: the world did not form in time, or the launch was malformed.
    """
    global _CURRENT
    dev = resolve_device(device)
    if dev.type == "cuda":
        if place["local_rank"] >= torch.cuda.device_count():
            raise DistributedError(f"local rank {place['local_rank']} has no GPU: this machine "
                                   f"has {torch.cuda.device_count()}; launch at most that many "
                                   "processes per node")
        dev = torch.device("cuda", place["local_rank"])
        torch.cuda.set_device(dev)
    backend = "nccl" if dev.type == "cuda" else "gloo"
    try:
        dist.init_process_group(backend, rank=place["rank"], world_size=place["size"],
                                timeout=datetime.timedelta(seconds=timeout))
        agree(False)  # every rank is there: a world that never forms fails here, not mid-run
    except (RuntimeError, ValueError) as exc:
        leave()
        where = f"{os.environ.get('MASTER_ADDR', '?')}:{os.environ.get('MASTER_PORT', '?')}"
        raise DistributedError(
            f"rank {place['rank']} of {place['size']}: the torch.distributed world did not form "
            f"within {timeout:g} s at {where} ({_first_line(exc)}); check that every node was "
            "started with the same rendezvous address and number of nodes") from None
    _CURRENT = World(place["rank"], place["size"], place["local_rank"], dev)
    return _CURRENT


def leave() -> None:
    """Leave the process group (on any exit)."""
    global _CURRENT
    _CURRENT = None
    if dist.is_available() and dist.is_initialized():
        try:
            dist.destroy_process_group()
        except Exception:  # noqa: BLE001 - a group whose peers have gone: nothing to tidy
            pass


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]


def _lost(exc: BaseException) -> DistributedError:
    world = current()
    who = "" if world is None else f"rank {world.rank} of {world.size}: "
    return DistributedError(f"{who}lost contact with the other ranks during training "
                            f"({_first_line(exc)}); a rank stopped or died, so every rank stops")


def agree(flag: bool) -> bool:
    """Whether any rank says ``flag`` (a stop asked for on any rank stops them all together)."""
    t = torch.tensor([1.0 if flag else 0.0],
                     device=_CURRENT.device if _CURRENT is not None else "cpu")
    try:
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
    except (RuntimeError, dist.DistBackendError) as exc:
        raise _lost(exc) from None
    return bool(t.item())


def shard(n: int, world: World) -> slice:
    """Rank ``world.rank``'s rows of a batch of ``n``: contiguous, sizes differing by at most one.

    >>> w = World(1, 3, 1, torch.device("cpu"))
    >>> shard(10, w), shard(2, World(2, 3, 2, torch.device("cpu")))
    (slice(3, 6, None), slice(1, 2, None))
    """
    return slice(world.rank * n // world.size, (world.rank + 1) * n // world.size)


class DistributedTrainer(TorchTrainer):
    """A :class:`TorchTrainer` whose steps run data-parallel under DistributedDataParallel.

    ``train_step`` takes the whole (global) batch, as the training loop draws it
    on every rank, and trains this rank's shard; the loss it returns is the
    global batch's, the same on every rank. Evaluation and prediction run whole
    on each rank (the weights are the same everywhere).
    """

    def __init__(self, model, world: World, **kwargs) -> None:
        super().__init__(model, **kwargs)
        self.world = world
        ids = [world.device.index] if world.device.type == "cuda" else None
        self.ddp = DistributedDataParallel(model, device_ids=ids)
        self._shard_cache: tuple[int, torch.Tensor] | None = None

    def agree(self, flag: bool) -> bool:
        return agree(flag)

    def _shard(self, X: np.ndarray, rows: slice) -> torch.Tensor:
        if self._shard_cache is not None and self._shard_cache[0] is X:
            return self._shard_cache[1]
        t = torch.as_tensor(np.ascontiguousarray(X[rows]), device=self.device).to(self.dtype)
        self._shard_cache = (X, t)  # full batch: the same array every step, converted once
        return t

    def train_step(self, X: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
        n = len(y)
        rows = shard(n, self.world)
        Xs, ys = self._shard(X, rows), self._labels(y[rows])
        # the whole batch's normaliser, known on every rank without a message
        total = (float(n) if self.class_weight is None
                 else float(self.class_weight[self._labels(y)].sum()))
        params = list(self.model.parameters())
        for p in params:
            p.grad = None
        try:
            scores = self.ddp(Xs)
            ce = F.cross_entropy(scores, ys, weight=self.class_weight, reduction="sum")
            penalty = self.penalty()
            # DDP averages the gradients over the ranks: N * (shard sum / total) averages to
            # the whole batch's mean; the penalty, the same on every rank, averages to itself
            (ce * (self.world.size / total) + penalty).backward()
            gathered = self._gather(ce.detach(), scores.detach(), n)
        except (RuntimeError, dist.DistBackendError) as exc:
            raise _lost(exc) from None
        ce_total, all_scores = gathered
        if self.clip_norm is not None:
            torch.nn.utils.clip_grad_norm_(params, self.clip_norm)
        if self.optimizer is not None:
            self.optimizer.step()
        else:
            with torch.no_grad():
                for p in params:
                    p.data.sub_(p.grad * self.lr)  # the slides' by-hand update
        loss = ce_total / total + float(penalty.detach() if torch.is_tensor(penalty) else penalty)
        return loss, all_scores

    def _gather(self, ce: torch.Tensor, scores: torch.Tensor, n: int) -> tuple[float, np.ndarray]:
        """The batch's summed cross-entropy and every rank's scores, in the batch's order."""
        size, k = self.world.size, scores.shape[1]
        width = -(-n // size)  # the largest shard
        block = torch.zeros(width + 1, k, dtype=scores.dtype, device=scores.device)
        block[:len(scores)] = scores
        block[width, 0] = ce
        parts = [torch.empty_like(block) for _ in range(size)]
        dist.all_gather(parts, block)
        rows, total = [], 0.0
        for r, part in enumerate(parts):
            count = (r + 1) * n // size - r * n // size
            rows.append(part[:count])
            total += float(part[width, 0])
        return total, torch.cat(rows).cpu().numpy()


def make_distributed_trainer(sizes, *, activation: str = "relu", init: str = "lecture",
                             seed: int = 0, dtype: str = "float64", **kwargs) -> DistributedTrainer:
    """:func:`~neuralab.torch_backend.make_torch_trainer` for this process's rank of the world
    it has joined: the same seeded starting weights on every rank, on the rank's device."""
    world = current()
    if world is None:
        raise NeuralabError("no torch.distributed world has been joined")
    if kwargs.pop("task", "classification") == "regression":
        raise NeuralabError("data-parallel training (nproc) trains classifiers only; "
                            "train a regression model in one process")
    engine = MLP(sizes, activation=activation, init=init, seed=seed, dtype=dtype)
    return DistributedTrainer(from_engine(engine, device=world.device), world, **kwargs)
