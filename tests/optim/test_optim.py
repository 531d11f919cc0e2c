"""The optimisers follow torch.optim's update rules step for step."""

import numpy as np
import pytest
import torch

from neuralab import NeuralabError
from neuralab.nn import Parameter
from neuralab.optim import SGD, Adam, make_optimizer


def test_plain_sgd_is_the_lecture_update(rng):
    w = rng.standard_normal((3, 2))
    p = Parameter(w.copy(), "W1")
    p.grad[:] = rng.standard_normal((3, 2))
    SGD([p], lr=0.5).step()
    np.testing.assert_array_equal(p.data, w - 0.5 * p.grad)


def _run(make_ours, make_torch, steps=50, seed=0):
    rng = np.random.default_rng(seed)
    w0 = rng.standard_normal((4, 3))
    grads = [rng.standard_normal((4, 3)) for _ in range(steps)]
    p = Parameter(w0.copy(), "W")
    ours = make_ours([p])
    t = torch.tensor(w0.copy(), requires_grad=True)
    theirs = make_torch([t])
    for g in grads:
        # the gradient depends on the weights, as a real one does
        p.grad[:] = g + 0.1 * p.data
        ours.step()
        t.grad = torch.tensor(g) + 0.1 * t.detach()
        theirs.step()
    return p.data, t.detach().numpy()


@pytest.mark.parametrize("kwargs", [
    {"momentum": 0.0},
    {"momentum": 0.9},
    {"momentum": 0.9, "nesterov": True},
    {"momentum": 0.5, "weight_decay": 0.01},
    {"weight_decay": 0.1},
])
def test_sgd_matches_torch(kwargs):
    ours, theirs = _run(lambda ps: SGD(ps, lr=0.05, **kwargs),
                        lambda ps: torch.optim.SGD(ps, lr=0.05, **kwargs))
    np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kwargs", [{}, {"weight_decay": 0.01}, {"betas": (0.8, 0.99), "eps": 1e-6}])
def test_adam_matches_torch(kwargs):
    ours, theirs = _run(lambda ps: Adam(ps, lr=0.01, **kwargs),
                        lambda ps: torch.optim.Adam(ps, lr=0.01, **kwargs))
    np.testing.assert_allclose(ours, theirs, rtol=1e-11, atol=1e-12)


@pytest.mark.parametrize("call, message", [
    (lambda p: SGD(p, lr=0.1, nesterov=True), "nesterov needs momentum > 0"),
    (lambda p: Adam(p, lr=0.1, betas=(0.9, 1.0)), r"betas must be two numbers in \[0, 1\), got \(0.9, 1.0\)"),
    (lambda p: Adam(p, lr=0.1, betas=(float("nan"), 0.9)), r"betas must be two numbers in \[0, 1\)"),
    (lambda p: Adam(p, lr=0.1, eps=0.0), "eps must be a finite number > 0, got 0.0"),
    (lambda p: SGD([], lr=0.1), "optimizer got an empty parameter list"),
    (lambda p: make_optimizer("rmsprop", p, lr=0.1), "optimizer must be one of sgd, momentum, nesterov, adam; got 'rmsprop'"),
])
def test_bad_optimizer_arguments(call, message):
    """What no run setting covers is checked where it enters: here."""
    with pytest.raises(NeuralabError, match=message):
        call([Parameter(np.zeros(2), "w")])


@pytest.mark.parametrize("setting, message", [
    ({"lr": -1.0}, "lr must be a finite number > 0; got -1.0"),
    ({"lr": float("nan")}, "lr must be a finite number > 0; got nan"),
    ({"momentum": 1.5}, r"momentum must be a number in \[0, 1\); got 1.5"),
    ({"weight_decay": -0.1}, "weight_decay must be a finite number >= 0; got -0.1"),
])
def test_bad_optimizer_settings_are_refused_where_settings_enter(setting, message):
    """The optimisers trust lr, momentum and weight decay: the settings check them once."""
    from neuralab.config import TrainSettings

    with pytest.raises(NeuralabError, match=message):
        TrainSettings(**setting)
