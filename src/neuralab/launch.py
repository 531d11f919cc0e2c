"""Where this process stands when a launcher (torchrun, or ``neuralab train --nproc``) started
it as one rank of several, read from the variables the launcher sets; no torch import
until a world is joined.
"""

from __future__ import annotations

import contextlib
import os

from neuralab import ArgumentError, NeuralabError
from neuralab.config import TrainSettings


#: the variables that torchrun (and torch's other launchers) set in each process it starts
LAUNCH_VARIABLES = ("RANK", "WORLD_SIZE", "LOCAL_RANK")


def launch_place(environ=None) -> dict | None:
    """This process's rank, world size and local rank when a launcher started it as one of
    several (``WORLD_SIZE`` above 1), else None.

    >>> launch_place({"RANK": "1", "WORLD_SIZE": "2", "LOCAL_RANK": "1"})
    {'rank': 1, 'size': 2, 'local_rank': 1}
    >>> launch_place({}) is None, launch_place({"WORLD_SIZE": "1", "RANK": "0"}) is None
    (True, True)
    """
    env = os.environ if environ is None else environ
    if env.get("WORLD_SIZE") in (None, "", "1"):
        return None
    values = {}
    for name in LAUNCH_VARIABLES:
        text = env.get(name, "0" if name == "LOCAL_RANK" else None)
        try:
            values[name] = int(text)
        except (TypeError, ValueError):
            raise NeuralabError(f"the launcher's {name} must be a whole number; got {text!r} "
                                "(start the processes with torchrun)") from None
    rank, size, local = values["RANK"], values["WORLD_SIZE"], values["LOCAL_RANK"]
    if not (size >= 2 and 0 <= rank < size and 0 <= local <= rank):
        raise NeuralabError(f"the launcher's RANK={rank}, LOCAL_RANK={local}, WORLD_SIZE={size} "
                            "do not fit together (start the processes with torchrun)")
    return {"rank": rank, "size": size, "local_rank": local}


def writes_here() -> bool:
    """Whether this process writes: always, except a rank other than 0 of a launched world."""
    place = launch_place()
    return place is None or place["rank"] == 0


@contextlib.contextmanager
def launched_world(settings: TrainSettings):
    """Join the torch.distributed world this process was launched into, if any, for the block.

    Outside a launch (no ``WORLD_SIZE`` above 1) it does nothing and yields None.
    """
    place = launch_place()
    if place is None:
        yield None
        return
    if settings.backend != "torch":
        raise ArgumentError("backend", f"backend {settings.backend!r} cannot train across "
                                       f"{place['size']} processes; data-parallel training needs "
                                       "backend torch")
    from neuralab.torch_backend import distributed

    world = distributed.join(place, settings.device, settings.dist_timeout)
    try:
        yield world
    finally:
        distributed.leave()
