"""Central-difference gradient checks of every layer, activation, the loss and whole models (float64)."""

import numpy as np
import pytest

from neuralab.data import sample_batch
from neuralab.gradcheck import TOLERANCE, check_function, check_model
from neuralab.nn import ACTIVATIONS, MLP, L2Penalty, Linear, Parameter, SoftmaxCrossEntropy, get_activation


def _max_error(results):
    return max(r.max_rel_error for r in results)


def test_linear_layer_gradients(rng):
    layer = Linear(4, 3, init="he", seed=0)
    layer.b.data[:] = rng.standard_normal(3)
    x = rng.standard_normal((6, 4))
    G = rng.standard_normal((6, 3))  # a random upstream gradient: f = sum(G * layer(x))

    def f():
        return float(np.sum(G * layer.forward(x)))

    layer.zero_grad()
    layer.forward(x)
    dx = layer.backward(G).copy()
    analytic = {"W1": layer.W.grad.copy(), "b1": layer.b.grad.copy(), "x": dx}
    results = check_function(f, analytic, {"W1": layer.W.data, "b1": layer.b.data, "x": x})
    assert _max_error(results) < TOLERANCE, results


@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_activation_gradients(name, rng):
    act = get_activation(name)
    # keep inputs away from the ReLU kink at 0, where the derivative is undefined
    z = rng.standard_normal((5, 7))
    z[np.abs(z) < 1e-3] = 0.5
    G = rng.standard_normal((5, 7))

    def f():
        return float(np.sum(G * act.forward(z)))

    act.forward(z)
    dz = np.array(act.backward(G), copy=True)
    results = check_function(f, {"z": dz}, {"z": z})
    assert _max_error(results) < TOLERANCE, results


@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("weighted", [False, True])
def test_softmax_cross_entropy_gradients(reduction, weighted, rng):
    scores = 3 * rng.standard_normal((8, 4))
    y = rng.integers(0, 4, 8)
    loss = SoftmaxCrossEntropy(reduction=reduction,
                               class_weight=[1.0, 2.0, 0.5, 3.0] if weighted else None)

    def f():
        return float(loss.forward(scores, y))

    f()
    dscores = loss.backward().copy()
    assert _max_error(check_function(f, {"u": dscores}, {"u": scores})) < TOLERANCE


def test_softmax_cross_entropy_none_reduction_gradients(rng):
    scores = rng.standard_normal((5, 3))
    y = rng.integers(0, 3, 5)
    G = rng.standard_normal(5)
    loss = SoftmaxCrossEntropy(reduction="none")

    def f():
        return float(np.dot(G, loss.forward(scores, y)))

    f()
    dscores = loss.backward(G).copy()
    assert _max_error(check_function(f, {"u": dscores}, {"u": scores})) < TOLERANCE


def test_l2_penalty_gradient_is_reg_times_w(rng):
    W = Parameter(rng.standard_normal((3, 4)), "W1")
    penalty = L2Penalty(0.3)
    assert penalty.forward([W]) == pytest.approx(0.5 * 0.3 * np.sum(W.data**2))
    penalty.backward([W])
    np.testing.assert_allclose(W.grad, 0.3 * W.data)
    results = check_function(lambda: penalty.forward([W]), {"W1": W.grad.copy()}, {"W1": W.data})
    assert _max_error(results) < TOLERANCE


@pytest.mark.parametrize("activation", list(ACTIVATIONS))
@pytest.mark.parametrize("sizes, init", [([2, 3], "lecture"), ([2, 100, 3], "lecture"),
                                          ([2, 8, 5, 3], "he"), ([2, 6, 6, 6, 4], "glorot")])
def test_whole_model_gradients(activation, sizes, init):
    X, y = sample_batch("spiral", 20, seed=3)
    y = y % sizes[-1]
    net = MLP(sizes, activation=activation, init=init, seed=2)
    results = check_model(net, X, y, reg=1e-2)
    assert [r.name for r in results] == [f"{k}{i}" for i in range(1, len(sizes)) for k in "Wb"]
    assert _max_error(results) < TOLERANCE, results


def test_gradient_check_catches_a_wrong_backward(monkeypatch):
    """A check that cannot fail is worse than none: break ReLU's backward and see it fail."""
    from neuralab.nn import activations

    monkeypatch.setattr(activations.ReLU, "backward", lambda self, g: g)  # forgets the mask
    X, y = sample_batch("spiral", 20, seed=0)
    results = check_model(MLP([2, 16, 3], init="he", seed=0), X, y)
    assert _max_error(results) > 1e-3


def test_gradient_check_refuses_float32():
    from neuralab import NeuralabError

    X, y = sample_batch("spiral", 5)
    with pytest.raises(NeuralabError, match="float64"):
        check_model(MLP([2, 3], dtype="float32"), X, y)
