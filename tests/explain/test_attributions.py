"""Attributions in raw input units: gradients, integrated gradients, flip steps, partial dependence.

Facts checked: the engine's input gradient equals central differences and PyTorch
autograd (1e-10 relative) through the standardisation; integrated gradients add up
to f(x) - f(baseline) within 1 % for ReLU, tanh and sigmoid nets and both outputs,
and agree with autograd on the same path points; the flip step of a linear model
is the distance to its hyperplane; the flip step of a network lands just past a
class change; partial dependence of a linear model is monotone; a run directory
loads into an explainer that predicts what the run's predictor does.
"""

import numpy as np
import pytest
import torch

from neuralab import NeuralabError
from neuralab.data.preprocess import Standardizer
from neuralab.explain import common
from neuralab.explain.attributions import (
    Explainer,
    torch_input_gradient,
    torch_integrated_gradients,
)
from neuralab.nn import ACTIVATIONS, MLP

torch.set_num_threads(1)

D = 4  # inputs of the test nets


def assert_close(a, b, rel, name=""):
    """|a - b| <= rel * max|b| entrywise: tiny entries are judged against the array's scale."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    assert a.shape == b.shape, f"{name}: shapes {a.shape} and {b.shape}"
    scale = max(np.abs(b).max(initial=0.0), 1e-300)
    err = np.abs(a - b).max(initial=0.0)
    assert err <= rel * scale, f"{name}: max |a - b| = {err:.3e}, scale {scale:.3e}"


def make_scaler(d=D, seed=7):
    """A standardiser far from the identity, so that a missing chain-rule factor shows."""
    rng = np.random.default_rng(seed)
    return Standardizer(mean=rng.normal(0, 3, d), scale=rng.uniform(0.3, 4.0, d))


def make_net(hidden, activation, *, d=D, k=3, seed=0):
    """He-initialised float64 net with non-zero biases (as a trained net has)."""
    net = MLP([d, *hidden, k], activation=activation, init="he", seed=seed)
    rng = np.random.default_rng(seed + 100)
    for linear in net.linears:
        linear.b.data[...] = rng.normal(0, 0.5, linear.b.data.shape)
    return net


def raw_inputs(scaler, n, seed=3):
    rng = np.random.default_rng(seed)
    return scaler.mean + scaler.scale * rng.normal(size=(n, len(scaler.mean)))


NETS = [(hidden, act) for act in ACTIVATIONS for hidden in ([9], [9, 7], [9, 7, 5])]
NETS.append(([], "identity"))  # depth 1: the linear softmax classifier


def net_id(case):
    hidden, act = case
    return f"{act}-{'x'.join(map(str, hidden)) or 'linear'}"


# ----------------------------------------------------------------------------- gradients


@pytest.mark.parametrize("output", ["logit", "probability"])
@pytest.mark.parametrize("activation", list(ACTIVATIONS))
def test_input_gradient_matches_central_differences(activation, output):
    scaler = make_scaler()
    net = make_net([8, 6], activation)
    ex = Explainer(net, scaler)
    X = raw_inputs(scaler, 30)
    # keep inputs away from kinks: every pre-activation at least 1e-3 from 0
    net.forward(scaler.transform(X))
    inter = net.intermediates()
    z = np.concatenate([inter[f"z{i}"] for i in range(1, net.depth)], axis=1)
    X = X[np.abs(z).min(axis=1) > 1e-3]
    assert len(X) >= 5
    target = np.arange(len(X)) % 3
    grad = ex.input_gradient(X, target, output)
    numeric = np.empty_like(X)
    for j in range(D):
        h = 1e-6 * scaler.scale[j]
        step = np.zeros(D)
        step[j] = h
        numeric[:, j] = (ex.outputs(X + step, target, output)
                         - ex.outputs(X - step, target, output)) / (2 * h)
    assert_close(grad, numeric, 1e-6, f"{activation} {output}")


@pytest.mark.parametrize("output", ["logit", "probability"])
@pytest.mark.parametrize("case", NETS, ids=net_id)
def test_input_gradient_and_gradient_x_input_equal_torch_autograd(case, output):
    hidden, activation = case
    scaler = make_scaler()
    ex = Explainer(make_net(hidden, activation, seed=len(hidden)), scaler)
    X = raw_inputs(scaler, 25)
    target = np.arange(25) % 3
    engine = ex.input_gradient(X, target, output)
    autograd = torch_input_gradient(ex, X, target, output)
    assert_close(engine, autograd, 1e-10, "input gradient")
    # gradient x input, default baseline = the training mean for a standardised model
    assert_close(ex.gradient_x_input(X, target, output),
                 (X - scaler.mean) * autograd, 1e-10, "gradient x input")
    assert_close(ex.saliency(X, target, output), np.abs(autograd), 1e-10, "saliency")
    assert_close(ex.saliency(X, target, output, signed=True), autograd, 1e-10, "signed saliency")


@pytest.mark.parametrize("output", ["logit", "probability"])
@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid", "leaky_relu"])
def test_integrated_gradients_equal_torch_autograd_on_the_same_path(activation, output):
    scaler = make_scaler()
    ex = Explainer(make_net([9, 7], activation), scaler)
    X = raw_inputs(scaler, 6)
    baseline = raw_inputs(scaler, 1, seed=9)[0]
    engine = ex.integrated_gradients(X, 1, output, baseline=baseline, steps=32)
    autograd = torch_integrated_gradients(ex, X, 1, output, baseline=baseline, steps=32)
    assert_close(engine.attributions, autograd.attributions, 1e-10, "IG attributions")
    assert_close(engine.outputs, autograd.outputs, 1e-12, "f(x)")
    assert_close(engine.baseline_outputs, autograd.baseline_outputs, 1e-12, "f(baseline)")


def test_gradient_of_a_linear_model_is_its_weight_over_the_scale():
    scaler = make_scaler()
    net = make_net([], "identity")
    ex = Explainer(net, scaler)
    X = raw_inputs(scaler, 5)
    W = net.linears[0].W.data
    assert_close(ex.input_gradient(X, 2), np.tile(W[:, 2] / scaler.scale, (5, 1)), 1e-14)


# ----------------------------------------------------------------------------- integrated gradients


@pytest.mark.parametrize("output", ["logit", "probability"])
@pytest.mark.parametrize("hidden", [[16], [12, 10, 8]], ids=["1hidden", "3hidden"])
@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid"])
def test_integrated_gradients_are_complete_within_one_percent(activation, hidden, output):
    scaler = make_scaler()
    ex = Explainer(make_net(hidden, activation, seed=5), scaler)
    X = raw_inputs(scaler, 40)
    # predicted class, training-mean baseline, 128 steps; rows above 1 % get more steps
    res = ex.integrated_gradients(X, None, output, rtol=0.01)
    assert res.attributions.shape == (40, D)
    assert np.all(res.baseline == scaler.mean)
    delta = res.outputs - res.baseline_outputs
    assert np.all(np.abs(delta) > 0)
    assert_close(res.residual, res.attributions.sum(axis=1) - delta, 1e-12)
    assert np.all(np.abs(res.gap) < 0.01), f"max gap {res.max_gap:.2e}"
    if activation != "relu":
        # a smooth net needs no refinement: the trapezoid rule's error is O(1 / steps^2)
        assert np.all(res.steps == 128)
        finer = ex.integrated_gradients(X, None, output, steps=256)
        assert finer.max_gap < 0.4 * res.max_gap
    else:
        # kinks make the error O(1 / steps); most rows are within 1 % at 128 steps
        assert np.mean(res.steps == 128) > 0.5


def test_refinement_redoes_only_the_rows_above_rtol():
    scaler = make_scaler()
    ex = Explainer(make_net([12, 10, 8], "relu", seed=5), scaler)
    X = raw_inputs(scaler, 40)
    plain = ex.integrated_gradients(X, None, steps=128)
    refined = ex.integrated_gradients(X, None, steps=128, rtol=0.01)
    within = np.abs(plain.gap) <= 0.01
    assert 0 < within.sum() < 40
    assert np.all(refined.steps[within] == 128) and np.all(refined.steps[~within] > 128)
    assert np.array_equal(refined.attributions[within], plain.attributions[within])
    again = ex.integrated_gradients(X[~within], None, steps=int(refined.steps[~within].max()))
    assert np.all(np.abs(again.gap) < 0.01)


def test_integrated_gradients_of_a_linear_logit_are_gradient_x_input():
    scaler = make_scaler()
    ex = Explainer(make_net([], "identity"), scaler)
    X = raw_inputs(scaler, 10)
    res = ex.integrated_gradients(X, 0, steps=3)
    assert_close(res.attributions, ex.gradient_x_input(X, 0), 1e-12)
    assert np.all(np.abs(res.gap) < 1e-12)


def test_blocked_passes_give_the_unblocked_results(monkeypatch):
    scaler = make_scaler()
    ex = Explainer(make_net([9], "tanh"), scaler)
    X = raw_inputs(scaler, 11)
    whole = ex.integrated_gradients(X, 2, "probability", steps=16)
    grad = ex.input_gradient(X, 2)
    pd = ex.partial_dependence(X, 1, n_grid=9)
    monkeypatch.setattr(common, "BLOCK_ROWS", 7)  # fewer rows than one path
    blocked = ex.integrated_gradients(X, 2, "probability", steps=16)
    assert_close(blocked.attributions, whole.attributions, 1e-14)
    assert_close(ex.input_gradient(X, 2), grad, 1e-14)
    assert_close(ex.partial_dependence(X, 1, n_grid=9).probs, pd.probs, 1e-14)


def test_explaining_leaves_the_parameter_gradients_alone():
    scaler = make_scaler()
    net = make_net([9], "relu")
    rng = np.random.default_rng(0)
    for p in net.parameters():
        p.grad[...] = rng.normal(size=p.grad.shape)
    before = [p.grad.copy() for p in net.parameters()]
    ex = Explainer(net, scaler)
    X = raw_inputs(scaler, 5)
    ex.input_gradient(X, 0, "probability")
    ex.integrated_gradients(X, 1, steps=8)
    ex.flip_step(X[0])
    for p, g in zip(net.parameters(), before):
        assert np.array_equal(p.grad, g), p.name


def test_default_baseline_is_zero_without_scaling():
    ex = Explainer(make_net([5], "tanh"))
    X = raw_inputs(Standardizer.identity(D), 3)
    assert np.all(ex.default_baseline() == 0)
    assert_close(ex.gradient_x_input(X, 0), X * ex.input_gradient(X, 0), 1e-15)


# ----------------------------------------------------------------------------- flip step


def test_flip_step_of_a_linear_model_is_the_distance_to_its_hyperplane():
    scaler = make_scaler(d=3)
    net = make_net([], "identity", d=3, k=2, seed=11)
    ex = Explainer(net, scaler)
    W, b = net.linears[0].W.data, net.linears[0].b.data
    # u_0 - u_1 = w . x + c in raw units: z = (x - mean) / scale
    w = (W[:, 0] - W[:, 1]) / scaler.scale
    c = (b[0] - b[1]) - w @ scaler.mean
    X = raw_inputs(scaler, 12, seed=4)
    for x in X:
        fs = ex.flip_step(x)
        analytic = abs(w @ x + c) / np.linalg.norm(w)
        assert fs.found
        assert fs.distance == pytest.approx(analytic, rel=1e-6)
        assert fs.first_order_distance == pytest.approx(analytic, rel=1e-12)
        assert fs.original_class == int(w @ x + c < 0) and fs.new_class == 1 - fs.original_class
        assert abs(w @ fs.point + c) <= 1e-6 * analytic * np.linalg.norm(w)
        assert_close(fs.direction, -np.sign(w @ x + c) * w / np.linalg.norm(w), 1e-12)


def test_flip_step_stops_at_max_distance():
    scaler = make_scaler(d=3)
    ex = Explainer(make_net([], "identity", d=3, k=2, seed=11), scaler)
    x = raw_inputs(scaler, 1, seed=4)[0]
    distance = ex.flip_step(x).distance
    assert not ex.flip_step(x, max_distance=0.5 * distance).found
    assert ex.flip_step(x, max_distance=2 * distance).distance == pytest.approx(distance, rel=1e-6)


@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_flip_step_of_a_network_lands_just_past_a_class_change(activation):
    scaler = make_scaler(d=2)
    ex = Explainer(make_net([16, 16], activation, d=2, k=3, seed=2), scaler)
    found = 0
    # 60 points: with seed 8, points 17 and 52 of the ReLU net have a first-scan grid
    # point on the boundary itself, where one-row and batched passes round differently
    for x in raw_inputs(scaler, 60, seed=8):
        fs = ex.flip_step(x)
        if not fs.found:
            continue
        found += 1
        assert fs.new_class != fs.original_class
        assert ex.predict(fs.point[None])[0] == fs.new_class
        assert_close(fs.point, x + fs.distance * fs.direction, 1e-15)
        for fraction in (0.999, 1 - 2e-6):  # rtol = 1e-6: the boundary is within the last step
            before = x + fraction * fs.distance * fs.direction
            assert ex.predict(before[None])[0] == fs.original_class, fraction
        assert np.linalg.norm(fs.direction) == pytest.approx(1.0)
    assert found >= 45


def test_flip_step_reports_none_where_the_margin_gradient_vanishes():
    net = make_net([4], "relu", d=2, k=3)
    net.linears[0].b.data[...] = -100.0  # every hidden unit dead: the logits are b2
    net.linears[1].b.data[...] = [0.0, 1.0, 0.5]
    fs = Explainer(net).flip_step(np.array([0.3, -0.2]))
    assert fs.gradient_norm == 0 and not fs.found
    assert fs.distance is None and fs.new_class is None and fs.point is None
    assert (fs.original_class, fs.runner_up, fs.margin) == (1, 2, 0.5)


# ----------------------------------------------------------------------------- what-if probes


def test_partial_dependence_of_a_linear_model_is_monotone():
    scaler = make_scaler(d=3)
    net = make_net([], "identity", d=3, k=2, seed=1)
    net.linears[0].W.data[0] = [-0.8, 0.7]  # feature 0 pushes towards class 1
    ex = Explainer(net, scaler, feature_names=["a", "b", "c"])
    X = raw_inputs(scaler, 200)
    grid, probs = ex.partial_dependence(X, 0)
    lo, hi = np.quantile(X[:, 0], [0.025, 0.975])
    assert_close(grid, np.linspace(lo, hi, 50), 1e-15)
    assert probs.shape == (50, 2)
    assert_close(probs.sum(axis=1), np.ones(50), 1e-15)
    assert np.all(np.diff(probs[:, 1]) > 0) and np.all(np.diff(probs[:, 0]) < 0)
    # by name, on a given grid, and by hand for one value
    pd = ex.partial_dependence(X, "a", grid=[lo, 0.0, hi])
    X0 = X.copy()
    X0[:, 0] = 0.0
    assert_close(pd.probs[1], ex.predict_proba(X0).mean(axis=0), 1e-14)


def test_probability_surface_shapes_and_gradient():
    scaler = make_scaler(d=2)
    ex = Explainer(make_net([8], "tanh", d=2, k=3), scaler)
    X = raw_inputs(scaler, 30)
    xx, yy, probs, gradient = ex.probability_surface(X, steps=12)
    assert xx.shape == yy.shape == (12, 12)
    assert probs.shape == (12, 12, 3) and gradient.shape == (12, 12, 2)
    assert_close(probs.sum(axis=2), np.ones((12, 12)), 1e-14)
    assert xx.min() < X[:, 0].min() and xx.max() > X[:, 0].max()
    assert yy.min() < X[:, 1].min() and yy.max() > X[:, 1].max()
    points = np.c_[xx.ravel(), yy.ravel()]
    expected = ex.input_gradient(points, probs.reshape(-1, 3).argmax(axis=1), "probability")
    assert_close(gradient.reshape(-1, 2), expected, 1e-15)
    with pytest.raises(NeuralabError, match="2 inputs"):
        Explainer(make_net([8], "tanh")).probability_surface(raw_inputs(make_scaler(), 5))


# ----------------------------------------------------------------------------- runs and errors


def test_from_run_explains_the_runs_model(spiral_run, tmp_path):
    from neuralab.runs import load_model

    ex = Explainer.from_run(spiral_run.run_dir)
    predictor = load_model(spiral_run.run_dir)
    assert not ex.scaler.is_identity
    assert_close(ex.default_baseline(), predictor.scaler.mean, 0)
    assert ex.classes == predictor.classes and ex.feature_names == predictor.feature_names
    X = spiral_run.splits["test"].X[:40]
    assert_close(ex.predict_proba(X), predictor.predict_proba(X), 1e-12)
    res = ex.integrated_gradients(X, None, "probability")
    assert res.max_gap < 0.01
    assert_close(ex.input_gradient(X, 1), torch_input_gradient(ex, X, 1), 1e-10)
    with pytest.raises(NeuralabError, match="does not exist"):
        Explainer.from_run(tmp_path / "missing")


def test_bad_arguments_are_one_line_errors():
    ex = Explainer(make_net([5], "relu"), make_scaler())
    X = raw_inputs(make_scaler(), 3)
    with pytest.raises(NeuralabError, match="output must be one of logit, probability; got 'prob'"):
        ex.input_gradient(X, 0, "prob")
    with pytest.raises(NeuralabError, match=r"target must be a class index in 0\.\.2"):
        ex.outputs(X, 3)
    with pytest.raises(NeuralabError, match=r"X must have shape \(n, 4\)"):
        ex.input_gradient(X[:, :3], 0)
    with pytest.raises(NeuralabError, match="steps must be a positive integer"):
        ex.integrated_gradients(X, 0, steps=0)
    with pytest.raises(NeuralabError, match="baseline must be"):
        ex.integrated_gradients(X, 0, baseline=np.zeros(3))
    with pytest.raises(NeuralabError, match="feature must be one of"):
        ex.partial_dependence(X, "nope")
    with pytest.raises(NeuralabError, match="scaler must have 4 means"):
        Explainer(make_net([5], "relu"), make_scaler(d=3))
