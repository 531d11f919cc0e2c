"""The PyTorch twin of the engine: the same models as ``torch.nn``, trained the PyTorch way.

Weights convert both ways between the lecture's layout (W of shape (d_in, d_out))
and torch's ``nn.Linear`` layout ((d_out, d_in)); the same seeded initialisation
gives the same starting weights in both backends. Importing this package imports
torch, so the rest of neuralab imports it only when the torch backend is asked for.
"""

from neuralab.torch_backend.model import (
    TorchMLP,
    from_engine,
    lecture_state,
    load_lecture_state,
    resolve_device,
    to_engine,
)
from neuralab.torch_backend.trainer import TORCH_OPTIMIZERS, TorchTrainer, make_torch_trainer

__all__ = [
    "TORCH_OPTIMIZERS",
    "TorchMLP",
    "TorchTrainer",
    "from_engine",
    "lecture_state",
    "load_lecture_state",
    "make_torch_trainer",
    "resolve_device",
    "to_engine",
]
