"""The engine's behaviour: shapes, dtypes, invariants, named intermediates, reprs and errors."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from neuralab import NeuralabError
from neuralab.data import spiral
from neuralab.nn import MLP, L2Penalty, Linear, SoftmaxCrossEntropy, softmax

finite = st.floats(-50, 50, allow_nan=False, allow_infinity=False)


@st.composite
def logits_and_labels(draw):
    B = draw(st.integers(1, 16))
    K = draw(st.integers(2, 6))
    scores = draw(arrays(np.float64, (B, K), elements=finite))
    y = np.array(draw(st.lists(st.integers(0, K - 1), min_size=B, max_size=B)))
    return scores, y


@settings(max_examples=60, deadline=None)
@given(logits_and_labels())
def test_softmax_rows_sum_to_one_and_loss_is_non_negative(data):
    scores, y = data
    probs = softmax(scores)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-12)
    assert np.all(probs >= 0)
    losses = SoftmaxCrossEntropy(reduction="none").forward(scores, y)
    assert losses.shape == y.shape
    assert np.all(losses >= 0)


@settings(max_examples=60, deadline=None)
@given(logits_and_labels())
def test_sum_reduction_is_batch_size_times_mean(data):
    scores, y = data
    mean = SoftmaxCrossEntropy(reduction="mean").forward(scores, y)
    total = SoftmaxCrossEntropy(reduction="sum").forward(scores, y)
    assert total == pytest.approx(len(y) * mean, rel=1e-12, abs=1e-12)


@settings(max_examples=40, deadline=None)
@given(logits_and_labels())
def test_loss_matches_minus_log_softmax_and_survives_huge_logits(data):
    scores, y = data
    expected = -np.log(softmax(scores)[np.arange(len(y)), y])
    finite_mask = np.isfinite(expected)
    got = SoftmaxCrossEntropy(reduction="none").forward(scores, y)
    np.testing.assert_allclose(got[finite_mask], expected[finite_mask], rtol=1e-9, atol=1e-12)
    big = SoftmaxCrossEntropy().forward(scores * 1e6, y)
    assert np.isfinite(big)


@settings(max_examples=40, deadline=None)
@given(
    sizes=st.lists(st.integers(1, 12), min_size=2, max_size=5),
    batch=st.integers(1, 9),
    activation=st.sampled_from(["relu", "tanh", "sigmoid", "leaky_relu", "identity"]),
    dtype=st.sampled_from(["float32", "float64"]),
)
def test_mlp_shapes_and_dtypes(sizes, batch, activation, dtype):
    net = MLP(sizes, activation=activation, seed=0, dtype=dtype)
    X = np.random.default_rng(0).standard_normal((batch, sizes[0]))
    scores = net.forward(X)
    assert scores.shape == (batch, sizes[-1])
    assert scores.dtype == np.dtype(dtype)
    net.zero_grad()
    loss = SoftmaxCrossEntropy()
    y = np.zeros(batch, dtype=int)
    loss.forward(scores, y)
    dX = net.backward(loss.backward(), input_grad=True)
    assert dX.shape == X.shape
    for p in net.parameters():
        assert p.grad.shape == p.data.shape and p.grad.dtype == np.dtype(dtype)


def test_lecture_initialisation_is_seeded_and_scaled():
    a, b, c = MLP([2, 100, 3], seed=7), MLP([2, 100, 3], seed=7), MLP([2, 100, 3], seed=8)
    for name in ("W1", "W2"):
        np.testing.assert_array_equal(a.state_dict()[name], b.state_dict()[name])
        assert not np.array_equal(a.state_dict()[name], c.state_dict()[name])
    W1 = a.state_dict()["W1"]
    expected = 0.01 * np.random.default_rng(7).standard_normal((2, 100))
    np.testing.assert_array_equal(W1, expected)  # the lecture's 0.01 * randn, drawn first
    assert not a.state_dict()["b1"].any()


def test_he_and_glorot_scales():
    W = MLP([400, 300, 3], init="he", seed=0).state_dict()["W1"]
    assert W.std() == pytest.approx(np.sqrt(2 / 400), rel=0.02)
    W = MLP([400, 300, 3], init="glorot", seed=0).state_dict()["W1"]
    assert np.abs(W).max() <= np.sqrt(6 / 700)
    assert W.std() == pytest.approx(np.sqrt(6 / 700) / np.sqrt(3), rel=0.02)


def test_intermediates_equal_the_lecture_computation():
    """After one pass, every array the slides print can be read by name and is right."""
    X, y = spiral(seed=0)
    net = MLP([2, 100, 3], seed=0)
    net.linears[0].b.data[:] = 0.001 * np.arange(100)  # make the biases visible
    p = {k: v.copy() for k, v in net.state_dict().items()}
    loss_fn, penalty = SoftmaxCrossEntropy(), L2Penalty(1e-3)
    net.zero_grad()
    scores = net.forward(X)
    loss = loss_fn.forward(scores, y) + penalty.forward(net.weights())
    net.backward(loss_fn.backward())
    penalty.backward(net.weights())
    got = net.intermediates()

    # the lecture's NumPy code, line by line
    num = X.shape[0]
    hidden_layer = np.maximum(0, X @ p["W1"] + p["b1"])
    ref_scores = hidden_layer @ p["W2"] + p["b2"]
    exp_scores = np.exp(ref_scores)
    probs = exp_scores / exp_scores.sum(axis=1, keepdims=True)
    data_loss = np.sum(-np.log(probs[range(num), y])) / num
    reg_loss = 0.5 * 1e-3 * np.sum(p["W1"] ** 2) + 0.5 * 1e-3 * np.sum(p["W2"] ** 2)
    dscores = probs.copy()
    dscores[range(num), y] -= 1
    dscores /= num
    dW2 = hidden_layer.T @ dscores + 1e-3 * p["W2"]
    db2 = dscores.sum(axis=0)
    dhidden = dscores @ p["W2"].T
    dhidden_before = dhidden.copy()
    dhidden[hidden_layer <= 0] = 0
    dW = X.T @ dhidden + 1e-3 * p["W1"]
    db = dhidden.sum(axis=0)

    assert loss == pytest.approx(data_loss + reg_loss, rel=1e-12)
    expected = {"X": X, "hidden1": hidden_layer, "scores": ref_scores, "dhidden1": dhidden_before,
                "mask1": hidden_layer > 0, "dz1": dhidden, "dW1": dW, "db1": db, "dW2": dW2, "db2": db2}
    for name, value in expected.items():
        np.testing.assert_allclose(got[name], value, rtol=1e-10, atol=1e-14, err_msg=name)
    np.testing.assert_allclose(loss_fn.probs, probs, rtol=1e-12)
    np.testing.assert_allclose(loss_fn.dscores, dscores, rtol=1e-12, atol=1e-15)
    assert set(got) == {"X", "z1", "hidden1", "scores", "dhidden1", "mask1", "dz1",
                        "dW1", "db1", "dW2", "db2"}


def test_gradients_accumulate_until_zero_grad(rng):
    layer = Linear(3, 2, seed=0)
    x, g = rng.standard_normal((4, 3)), rng.standard_normal((4, 2))
    layer.forward(x)
    layer.backward(g)
    once = layer.W.grad.copy()
    layer.forward(x)
    layer.backward(g)
    np.testing.assert_allclose(layer.W.grad, 2 * once)
    layer.zero_grad()
    assert not layer.W.grad.any() and not layer.b.grad.any()


def test_call_returns_an_independent_copy_while_forward_reuses_its_buffer(rng):
    net = MLP([2, 4, 3], seed=0)
    X1, X2 = rng.standard_normal((5, 2)), rng.standard_normal((5, 2))
    kept = net(X1)
    before = kept.copy()
    net(X2)
    np.testing.assert_array_equal(kept, before)


def test_reprs():
    assert repr(MLP([2, 100, 3])) == "MLP(2 -> 100 -> 3, activation=relu)"
    assert repr(MLP([2, 3])) == "MLP(2 -> 3, activation=relu)"
    assert repr(Linear(2, 100)) == "Linear(d_in=2, d_out=100)"
    assert repr(MLP([4, 8, 8, 2], activation="tanh", init="he", dtype="float32")) == (
        "MLP(4 -> 8 -> 8 -> 2, activation=tanh, init=he, dtype=float32)")


@pytest.mark.parametrize("kwargs, message", [
    ({"sizes": [2, 0, 3]}, r"layer sizes must be positive integers, got \[2, 0, 3\]"),
    ({"sizes": [2, 3], "activation": "rellu"}, "activation must be one of relu, tanh, sigmoid, leaky_relu, identity; got 'rellu'"),
    ({"sizes": [2, 3], "init": "zeros"}, "init must be one of lecture, he, glorot; got 'zeros'"),
    ({"sizes": [2, 3], "dtype": "float16"}, "dtype must be one of float32, float64; got 'float16'"),
    ({"sizes": [2, 3], "seed": -1}, "seed must be a non-negative integer"),
])
def test_bad_model_arguments_are_one_line_errors(kwargs, message):
    with pytest.raises(NeuralabError, match=message):
        MLP(**kwargs)


def test_wrong_input_width_and_labels_are_errors():
    net = MLP([2, 3])
    with pytest.raises(NeuralabError, match=r"input must have shape \(B, 2\), got \(4, 5\)"):
        net.forward(np.zeros((4, 5)))
    with pytest.raises(NeuralabError, match="labels y must lie in 0..2"):
        SoftmaxCrossEntropy().forward(np.zeros((2, 3)), np.array([0, 3]))


def test_float32_model_keeps_float32_everywhere():
    X, y = spiral(seed=0)
    net = MLP([2, 16, 3], dtype="float32", seed=0)
    loss = SoftmaxCrossEntropy()
    value = loss.forward(net.forward(X), y)
    net.backward(loss.backward())
    assert np.asarray(value).dtype == np.float32
    assert all(p.grad.dtype == np.float32 for p in net.parameters())
