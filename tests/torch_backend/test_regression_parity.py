"""The torch twin's mean-squared-error loss agrees with the engine's to float64 precision."""

import numpy as np
import pytest
import torch

from neuralab.nn import MLP, L1Penalty, L2Penalty, MeanSquaredError
from neuralab.torch_backend import TorchTrainer, from_engine, make_torch_trainer
from neuralab.train import fit, make_engine_trainer

torch.set_num_threads(1)


@pytest.mark.parametrize("hidden, activation, reg, l1", [([], "relu", 0.0, 0.0),
                                                          ([9], "tanh", 1e-2, 0.0),
                                                          ([16, 8], "relu", 1e-3, 1e-3)])
def test_loss_and_gradients_agree(hidden, activation, reg, l1):
    rng = np.random.default_rng(3)
    X, y = rng.standard_normal((20, 5)), rng.standard_normal(20)
    net = MLP([5, *hidden, 1], activation=activation, init="he", seed=4)
    for linear in net.linears:  # non-zero biases, so that they matter
        linear.b.data[:] = 0.1 * rng.standard_normal(linear.b.data.shape)
    tnet = from_engine(net)
    loss_fn, penalties = MeanSquaredError(), (L2Penalty(reg), L1Penalty(l1))
    net.zero_grad()
    u = net.forward(X).copy()
    loss = float(loss_fn.forward(u, y)) + sum(p.forward(net.weights()) for p in penalties)
    net.backward(loss_fn.backward())
    for p in penalties:
        p.backward(net.weights())
    trainer = TorchTrainer(tnet, reg=reg, l1=l1, task="regression")
    tu = tnet(torch.from_numpy(X))
    tloss = trainer.loss(tu, torch.from_numpy(y))
    tloss.backward()
    np.testing.assert_allclose(u, tu.detach().numpy(), rtol=1e-12)
    assert loss == pytest.approx(tloss.item(), rel=1e-12)
    for i, linear in enumerate(tnet.linears, start=1):
        np.testing.assert_allclose(net.linears[i - 1].W.grad, linear.weight.grad.numpy().T,
                                   rtol=1e-10, atol=1e-14)
        np.testing.assert_allclose(net.linears[i - 1].b.grad, linear.bias.grad.numpy(),
                                   rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("optimizer, lr", [("adam", 0.01), ("momentum", 0.05)])
def test_hundred_steps_give_the_same_weights(optimizer, lr):
    rng = np.random.default_rng(5)
    X = rng.standard_normal((40, 3))
    y = np.sin(X[:, 0]) + X[:, 1] ** 2
    kwargs = dict(activation="relu", init="he", seed=1, optimizer=optimizer, lr=lr, reg=1e-3,
                  task="regression")
    a = make_engine_trainer([3, 16, 1], **kwargs)
    b = make_torch_trainer([3, 16, 1], device="cpu", **kwargs)
    ra = fit(a, X, y, iterations=100, log_every=10, X_val=X[:10], y_val=y[:10], progress=False)
    rb = fit(b, X, y, iterations=100, log_every=10, X_val=X[:10], y_val=y[:10], progress=False)
    for name, value in a.state_dict().items():
        np.testing.assert_allclose(value, b.state_dict()[name], rtol=1e-8, atol=1e-12)
    assert ra.history.columns[:3] == ["step", "loss", "val_loss"]  # no accuracy in regression
    np.testing.assert_allclose(ra.history.column("val_loss"), rb.history.column("val_loss"),
                               rtol=1e-9)
    assert ra.final_train_accuracy is None and ra.final_loss < ra.history.rows[0]["loss"]
    np.testing.assert_allclose(a.predict_output(X), b.predict_output(X), rtol=1e-9, atol=1e-12)
