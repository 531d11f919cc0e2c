"""L1 regularisation beside the lecture's L2: the penalty ``l1 * sum |W|`` and its subgradient
``l1 * sign(W)``, gradient-checked in the engine, equal to torch autograd's, and doing what
it is for: weights with little use shrink toward zero."""

from __future__ import annotations

import json

import numpy as np
import pytest

from neuralab.config import SettingError, TrainSettings, check
from neuralab.data import load, spiral
from neuralab.gradcheck import check_model
from neuralab.nn import MLP, L1Penalty, Parameter
from neuralab.torch_backend import make_torch_trainer
from neuralab.train import fit, make_engine_trainer


def test_the_penalty_and_its_subgradient():
    W = Parameter(np.array([[1.5, -2.0], [0.0, 0.25]]), "W1")
    V = Parameter(np.array([[-0.5]]), "W2")
    pen = L1Penalty(0.1)
    assert pen.forward([W, V]) == pytest.approx(0.1 * (1.5 + 2.0 + 0.25 + 0.5))
    pen.backward([W, V])
    np.testing.assert_array_equal(W.grad, [[0.1, -0.1], [0.0, 0.1]])  # 0 at 0, as torch's
    np.testing.assert_array_equal(V.grad, [[-0.1]])
    assert L1Penalty(0.0).forward([W]) == 0.0
    with pytest.raises(Exception, match="l1 must be a finite number >= 0"):
        L1Penalty(-1.0)


@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_gradcheck_passes_with_l1_and_catches_a_wrong_sign(activation, monkeypatch):
    X, y = spiral(n_per_class=5, seed=0)
    net = MLP([2, 8, 3], activation=activation, init="he", seed=1)
    assert all(r.passed() for r in check_model(net, X, y, reg=1e-3, l1=0.05))
    # a subgradient with the wrong sign is caught, on every weight matrix
    monkeypatch.setattr(L1Penalty, "backward", lambda self, ws: [w.grad.__isub__(
        self.l1 * np.sign(w.data)) for w in ws])
    failed = {r.name for r in check_model(net, X, y, l1=0.05) if not r.passed()}
    assert failed == {"W1", "W2"}


@pytest.mark.parametrize("optimizer, lr", [("sgd", 0.1), ("adam", 0.01)])
def test_two_hundred_steps_with_l1_give_torchs_weights(optimizer, lr):
    X, y = spiral(n_per_class=40, seed=3)
    kwargs = dict(init="he", seed=1, optimizer=optimizer, lr=lr, reg=1e-3, l1=1e-3)
    a = make_engine_trainer([2, 32, 16, 3], **kwargs)
    b = make_torch_trainer([2, 32, 16, 3], device="cpu", **kwargs)
    ra = fit(a, X, y, iterations=200, log_every=1)
    rb = fit(b, X, y, iterations=200, log_every=1)
    np.testing.assert_allclose(ra.history.column("loss"), rb.history.column("loss"), rtol=1e-9)
    for name, w in a.state_dict().items():
        np.testing.assert_allclose(w, b.state_dict()[name], rtol=1e-8, atol=1e-12, err_msg=name)


def test_l1_shrinks_the_weights_that_the_task_does_not_need():
    # gaussian blobs in 2-D plus 8 columns of noise: L1 drives the noise columns' weights down
    data = load("gaussian", seed=0, n_per_class=60)
    rng = np.random.default_rng(0)
    X = np.hstack([data.X, rng.normal(size=(len(data.y), 8))])
    noise_share = {}
    for l1 in (0.0, 0.01):
        trainer = make_engine_trainer([10, 3], init="he", seed=0, lr=0.1, reg=0.0, l1=l1)
        fit(trainer, X, data.y, iterations=2000, log_every=2000)
        W = np.abs(trainer.state_dict()["W1"])
        noise_share[l1] = W[2:].sum() / W.sum()
    assert noise_share[0.01] < 0.5 * noise_share[0.0]


def test_l1_is_a_setting_of_train_sweep_and_playground(tmp_path, cli):
    assert TrainSettings().l1 == 0.0
    with pytest.raises(SettingError, match="l1 must be a finite number >= 0"):
        check("l1", -0.5)
    code, _, err = cli("train", "--dataset", "moons", "--l1", "0.001", "--iterations", "50",
                       "--quiet", "--out", tmp_path / "run")
    assert code == 0, err
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["settings"]["l1"] == 0.001
    code, _, err = cli("train", "--dataset", "moons", "--l1", "-1", "--out", tmp_path / "bad")
    assert code == 2 and "--l1 must be a finite number >= 0" in err
    from neuralab.sweep import parse_space

    assert parse_space(["l1=0,1e-3"]) == {"l1": [0.0, 1e-3]}
