"""The NumPy engine: layers, activations, losses and models with hand-written backward passes."""

from neuralab.nn.activations import (
    ACTIVATIONS,
    Identity,
    LeakyReLU,
    ReLU,
    Sigmoid,
    Tanh,
    get_activation,
)
from neuralab.nn.init import INITS
from neuralab.nn.layers import Linear
from neuralab.nn.losses import (
    L1Penalty,
    L2Penalty,
    MeanSquaredError,
    SoftmaxCrossEntropy,
    cross_entropy,
    softmax,
)
from neuralab.nn.models import MLP
from neuralab.nn.module import Module, Parameter

__all__ = [
    "ACTIVATIONS",
    "INITS",
    "Identity",
    "L1Penalty",
    "L2Penalty",
    "LeakyReLU",
    "Linear",
    "MLP",
    "MeanSquaredError",
    "Module",
    "Parameter",
    "ReLU",
    "Sigmoid",
    "SoftmaxCrossEntropy",
    "Tanh",
    "cross_entropy",
    "get_activation",
    "softmax",
]
