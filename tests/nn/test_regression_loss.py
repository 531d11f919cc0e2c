"""The mean-squared-error loss: its value and gradient by hand, the trainer's objective, gradcheck."""

import numpy as np
import pytest

from neuralab import NeuralabError
from neuralab.gradcheck import check_model
from neuralab.nn import MLP, MeanSquaredError
from neuralab.train import make_engine_trainer


def test_value_and_gradient_by_hand():
    u = np.array([[1.0], [3.0], [-1.0]])
    y = np.array([0.0, 1.0, 1.0])
    loss = MeanSquaredError()
    # ((1 - 0)^2 + (3 - 1)^2 + (-1 - 1)^2) / 3 = 9 / 3
    assert float(loss.forward(u, y)) == pytest.approx(3.0, rel=1e-15)
    # dL/du = 2 (u - y) / B
    np.testing.assert_allclose(loss.backward(), [[2 / 3], [4 / 3], [-4 / 3]], rtol=1e-15)
    total = MeanSquaredError(reduction="sum")
    assert float(total.forward(u, y)) == pytest.approx(9.0)
    np.testing.assert_allclose(total.backward(), [[2.0], [4.0], [-4.0]])
    none = MeanSquaredError(reduction="none")
    np.testing.assert_allclose(none.forward(u, y), [1.0, 4.0, 4.0])
    np.testing.assert_allclose(none.backward(np.array([1.0, 0.0, 0.5])), [[2.0], [0.0], [-2.0]])


def test_a_second_output_column_is_refused():
    with pytest.raises(NeuralabError, match=r"outputs must be \(B, 1\)"):
        MeanSquaredError().forward(np.zeros((3, 2)), np.zeros(3))


def test_the_trainers_objective_adds_the_penalties():
    trainer = make_engine_trainer([3, 5, 1], seed=0, init="he", reg=0.1, l1=0.01,
                                  task="regression")
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((8, 3)), rng.standard_normal(8)
    W = [trainer.state_dict()[k] for k in ("W1", "W2")]
    u = trainer.model.forward(X).copy()
    expected = (np.mean((u[:, 0] - y) ** 2) + 0.5 * 0.1 * sum((w ** 2).sum() for w in W)
                + 0.01 * sum(np.abs(w).sum() for w in W))
    loss, outputs = trainer.evaluate(X, y)
    assert loss == pytest.approx(expected, rel=1e-12)
    np.testing.assert_array_equal(outputs, u)
    with pytest.raises(NeuralabError, match="one output"):
        make_engine_trainer([3, 5, 2], task="regression")


@pytest.mark.parametrize("sizes, activation", [([4, 1], "relu"), ([4, 7, 1], "tanh"),
                                               ([4, 6, 5, 1], "relu")])
def test_gradient_check(sizes, activation):
    rng = np.random.default_rng(1)
    X, y = rng.standard_normal((12, 4)), rng.standard_normal(12)
    net = MLP(sizes, activation=activation, init="he", seed=2)
    results = check_model(net, X, y, reg=1e-2, l1=1e-3, task="regression")
    assert [r.name for r in results] == [n for n, _ in net.named_parameters()]
    assert all(r.passed() for r in results), results


def test_cli_gradcheck_regression(cli):
    code, out, _ = cli("gradcheck", "--task", "regression", "--samples", "10")
    assert code == 0 and "MLP(10 -> 16 -> 1" in out and "friedman1" in out
    assert "all 4 parameters agree" in out
    code, _, err = cli("gradcheck", "--task", "regression", "--dataset", "spiral")
    assert code == 2 and "spiral is for classification" in err and len(err.strip().splitlines()) == 1
