"""Inspection: linear weights in raw units reproduce the logits, weight images show the
weights, layer statistics find dead ReLU units, and the figures draw what the model computes."""

from __future__ import annotations

import csv
import io

import numpy as np
import pytest
from matplotlib.figure import Figure
from matplotlib.quiver import Quiver

from neuralab import NeuralabError, plots
from neuralab.data.preprocess import Standardizer
from neuralab.data.toys import spiral
from neuralab.explain import common
from neuralab.explain.inspection import (
    class_weight_images_figure,
    gradient_norm_figure,
    hidden_unit_maps_figure,
    layer_statistics,
    layer_statistics_figure,
    linear_weights,
    partial_dependence_figure,
    probability_gradient,
    probability_surface_figure,
)
from neuralab.nn import MLP
from neuralab.train import History


def randomised(model: MLP, seed: int = 0, scale: float = 1.0) -> MLP:
    """The model with N(0, scale^2) weights and biases (the lecture's init is tiny and b = 0)."""
    rng = np.random.default_rng(seed)
    for linear in model.linears:
        linear.W.data[...] = scale * rng.normal(size=linear.W.shape)
        linear.b.data[...] = scale * rng.normal(size=linear.b.shape)
    return model


def raw_data(n=60, d=3, seed=0):
    """Features far from standardised: means up to 50, scales from 0.01 to 100."""
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)) * np.logspace(-2, 2, d) + np.linspace(-50, 50, d)


def image_arrays(fig):
    return [ax.images[0].get_array() for ax in fig.axes if ax.images]


def assert_png(fig, tmp_path, name):
    path = plots.save_figure(fig, tmp_path / name)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# --------------------------------------------------------------------------- linear_weights


def test_linear_weights_in_raw_units_reproduce_the_logits():
    X = raw_data()
    scaler = Standardizer.fit(X)
    model = randomised(MLP([3, 4]), seed=1)
    lw = linear_weights(model, scaler, ["a", "b", "c"], ["w", "x", "y", "z"])
    expected = model.forward(scaler.transform(X))
    np.testing.assert_allclose(lw.logits(X), expected, rtol=0, atol=1e-10)
    np.testing.assert_allclose(X @ lw.W_raw + lw.b_raw, expected, rtol=0, atol=1e-10)
    # the stored weights are the model's own
    np.testing.assert_array_equal(lw.W, model.linears[0].W.data)
    np.testing.assert_array_equal(lw.b, model.linears[0].b.data)


def test_linear_weights_without_a_scaler_are_the_stored_weights():
    model = randomised(MLP([3, 2]), seed=2)
    lw = linear_weights(model, None)
    np.testing.assert_array_equal(lw.W_raw, lw.W)
    np.testing.assert_array_equal(lw.b_raw, lw.b)
    assert lw.feature_names == ["x1", "x2", "x3"] and lw.classes == ["0", "1"]


def test_linear_weights_rows_are_sorted_by_absolute_weight_and_cover_every_pair():
    X = raw_data(d=4)
    scaler = Standardizer.fit(X)
    model = randomised(MLP([4, 3]), seed=3)
    names, classes = ["f0", "f1", "f2", "f3"], ["A", "B", "C"]
    lw = linear_weights(model, scaler, names, classes)
    assert len(lw.rows) == 12
    magnitudes = [abs(r["weight"]) for r in lw.rows]
    assert magnitudes == sorted(magnitudes, reverse=True)
    assert abs(lw.rows[0]["weight"]) == np.abs(model.linears[0].W.data).max()
    pairs = {(r["feature"], r["class"]) for r in lw.rows}
    assert pairs == {(f, c) for f in names for c in classes}
    for r in lw.rows:
        i, k = names.index(r["feature"]), classes.index(r["class"])
        assert (r["feature_index"], r["class_index"]) == (i, k)
        assert r["weight"] == model.linears[0].W.data[i, k]
        assert r["weight_raw"] == pytest.approx(r["weight"] / scaler.scale[i], rel=1e-12)
    top_b = lw.top(2, cls="B")
    assert [r["class"] for r in top_b] == ["B", "B"]
    assert abs(top_b[0]["weight"]) == np.abs(model.linears[0].W.data[:, 1]).max()


def test_linear_weights_refuse_a_model_with_hidden_layers():
    with pytest.raises(NeuralabError, match=r"^linear_weights needs a model without hidden "
                                            r"layers; this one is 2 -> 100 -> 3$"):
        linear_weights(MLP([2, 100, 3]), None, ["x1", "x2"], ["a", "b", "c"])


def test_linear_weights_check_the_names():
    with pytest.raises(NeuralabError, match="feature_names must have 2 names, got 3"):
        linear_weights(MLP([2, 3]), None, ["a", "b", "c"])
    with pytest.raises(NeuralabError, match="classes must have 3 names, got 2"):
        linear_weights(MLP([2, 3]), None, ["a", "b"], ["p", "q"])


# --------------------------------------------------------------------------- weight images


def test_class_weight_images_show_each_class_column_as_an_image(tmp_path):
    classes = [f"digit {k}" for k in range(10)]
    model = randomised(MLP([64, 10]), seed=4)
    fig = class_weight_images_figure(model, (8, 8), classes)
    assert isinstance(fig, Figure)
    image_axes = [ax for ax in fig.axes if ax.images]
    assert len(image_axes) == 10
    assert [ax.get_title() for ax in image_axes] == classes
    W = model.linears[0].W.data
    for k, ax in enumerate(image_axes):
        array = ax.images[0].get_array()
        assert array.shape == (8, 8)
        np.testing.assert_array_equal(array, W[:, k].reshape(8, 8))
        lo, hi = ax.images[0].get_clim()
        assert lo == -hi == -np.abs(W).max()  # one scale, centred at 0
    # 2 x 5 grid: two distinct rows of panels, five columns
    positions = {(round(ax.get_position().x0, 3), round(ax.get_position().y0, 3)) for ax in image_axes}
    assert len({x for x, _ in positions}) == 5 and len({y for _, y in positions}) == 2
    assert_png(fig, tmp_path, "classes.png")


def test_class_weight_images_of_a_hidden_layer_net_show_the_first_units():
    model = randomised(MLP([64, 30, 10]), seed=5)
    fig = class_weight_images_figure(model, (8, 8), None, units=6)
    arrays = image_arrays(fig)
    assert len(arrays) == 6
    for j, array in enumerate(arrays):
        np.testing.assert_array_equal(array, model.linears[0].W.data[:, j].reshape(8, 8))
    assert [ax.get_title() for ax in fig.axes if ax.images] == [f"unit {j}" for j in range(6)]


def test_class_weight_images_check_the_image_shape():
    with pytest.raises(NeuralabError, match="image_shape 28x28 has 784 pixels, but the model takes 64"):
        class_weight_images_figure(MLP([64, 10]), (28, 28), None)


# --------------------------------------------------------------------------- layer statistics


def relu_net_with_dead_units(dead=(2, 5)):
    """A 2 -> 8 -> 6 -> 3 ReLU net whose first-layer units ``dead`` never fire on spiral inputs."""
    model = randomised(MLP([2, 8, 6, 3]), seed=6)
    for j in dead:
        model.linears[0].W.data[:, j] = 0.0
        model.linears[0].b.data[j] = -0.5  # pre-activation -0.5 < 0 for every input
    return model


def test_layer_statistics_find_the_dead_relu_units_and_count_zeros():
    X, _ = spiral(40, seed=0)
    model = relu_net_with_dead_units()
    stats = layer_statistics(model, X)
    assert [s["layer"] for s in stats] == [1, 2, 3]
    first, second, output = stats
    assert first["dead_units"] == 2 and first["dead_unit_indices"] == [2, 5]
    # by hand
    h1 = np.maximum(0, X @ model.linears[0].W.data + model.linears[0].b.data)
    h2 = np.maximum(0, h1 @ model.linears[1].W.data + model.linears[1].b.data)
    assert first["zero_share"] == pytest.approx(np.mean(h1 == 0), abs=1e-15)
    assert second["zero_share"] == pytest.approx(np.mean(h2 == 0), abs=1e-15)
    assert second["dead_unit_indices"] == np.flatnonzero((h2 == 0).all(axis=0)).tolist()
    assert first["activation_mean"] == pytest.approx(h1.mean(), rel=1e-12)
    assert first["activation_std"] == pytest.approx(h1.std(), rel=1e-10)
    assert first["activation"] == "relu"
    assert output["activation"] is None and output["dead_units"] is None
    W2 = model.linears[1].W.data
    assert second["weight_norm"] == pytest.approx(np.linalg.norm(W2), rel=1e-12)
    assert (second["weight_min"], second["weight_max"]) == (W2.min(), W2.max())
    assert second["weight_std"] == pytest.approx(W2.std(), rel=1e-12)
    assert first["bias_min"] == min(model.linears[0].b.data)
    assert first["activation_histogram"][0].sum() == h1.size
    assert first["weight_histogram"][0].sum() == model.linears[0].W.data.size


def test_layer_statistics_of_a_healthy_net_have_no_dead_units():
    X, _ = spiral(40, seed=0)
    model = randomised(MLP([2, 8, 3]), seed=6)
    model.linears[0].b.data[...] = 5.0  # every pre-activation positive on the unit spiral
    stats = layer_statistics(model, X)
    assert stats[0]["dead_units"] == 0 and stats[0]["dead_unit_indices"] == []


def test_layer_statistics_over_blocks_equal_one_pass(monkeypatch):
    X, _ = spiral(50, seed=1)
    model = relu_net_with_dead_units()
    whole = layer_statistics(model, X)
    monkeypatch.setattr(common, "BLOCK_ROWS", 7)  # 150 rows in 22 blocks
    blocks = layer_statistics(model, X)
    for a, b in zip(whole[:2], blocks[:2]):  # the two hidden layers
        for key in ("activation_mean", "activation_std", "zero_share"):
            assert a[key] == pytest.approx(b[key], rel=1e-12, abs=1e-15)
        assert a["dead_unit_indices"] == b["dead_unit_indices"]
        np.testing.assert_array_equal(a["activation_histogram"][0], b["activation_histogram"][0])


def test_layer_statistics_of_other_activations_report_no_dead_units():
    X, _ = spiral(20, seed=0)
    stats = layer_statistics(MLP([2, 5, 3], activation="tanh", seed=0), X)
    assert stats[0]["activation"] == "tanh"
    assert stats[0]["dead_units"] is None
    assert 0 <= stats[0]["zero_share"] <= 1


def test_layer_statistics_figure_has_weight_and_activation_histograms(tmp_path):
    X, _ = spiral(30, seed=0)
    stats = layer_statistics(relu_net_with_dead_units(), X)
    fig = layer_statistics_figure(stats)
    assert len(fig.axes) == 3 + 2  # three weight histograms, two hidden layers
    assert "2 dead" in fig.axes[1].get_title()  # hidden1, drawn after W1's histogram
    assert_png(fig, tmp_path, "layers.png")
    with pytest.raises(NeuralabError, match="layer_statistics"):
        layer_statistics_figure([])


# --------------------------------------------------------------------------- gradient norms


def history_csv_rows(n=6, layers=2):
    """Rows as csv.DictReader reads history.csv: every value a string, one empty cell."""
    buf = io.StringIO()
    cols = ["step", "loss", "train_accuracy"]
    cols += [f"grad_norm_{k}{i}" for i in range(1, layers + 1) for k in "Wb"]
    writer = csv.writer(buf)
    writer.writerow(cols)
    for s in range(n):
        values = [s * 10, 1.0 / (s + 1), 0.5]
        values += [10.0 ** -(i + s / 10) for i in range(1, layers + 1) for _ in "Wb"]
        writer.writerow(values)
    buf.seek(0)
    rows = list(csv.DictReader(buf))
    rows[3]["grad_norm_W2"] = ""
    return rows


def test_gradient_norm_figure_plots_each_weight_norm_against_the_step(tmp_path):
    rows = history_csv_rows()
    fig = gradient_norm_figure(rows)
    ax = fig.axes[0]
    assert ax.get_yscale() == "log"
    lines = ax.get_lines()
    assert [line.get_label() for line in lines] == ["||dW1||", "||dW2||"]
    np.testing.assert_array_equal(lines[0].get_xdata(), [0, 10, 20, 30, 40, 50])
    np.testing.assert_allclose(lines[0].get_ydata(), [10.0 ** -(1 + s / 10) for s in range(6)])
    assert np.isnan(lines[1].get_ydata()[3])  # the empty cell is a gap
    assert_png(fig, tmp_path, "grads.png")
    with_biases = gradient_norm_figure(rows, biases=True)
    assert len(with_biases.axes[0].get_lines()) == 4


def test_gradient_norm_figure_takes_a_history():
    history = History(rows=[{"step": s, "loss": 1.0, "train_accuracy": 0.5,
                             "grad_norm_W1": 0.1 * (s + 1), "grad_norm_b1": 0.01}
                            for s in range(4)])
    lines = gradient_norm_figure(history).axes[0].get_lines()
    assert len(lines) == 1
    np.testing.assert_allclose(lines[0].get_ydata(), [0.1, 0.2, 0.3, 0.4])


def test_gradient_norm_figure_names_the_missing_columns():
    rows = [{"step": "0", "loss": "1.1", "train_accuracy": "0.3"}]
    with pytest.raises(NeuralabError, match=r"no per-layer gradient norm columns grad_norm_W1.*"
                                            r"columns present: step, loss, train_accuracy"):
        gradient_norm_figure(rows)


# --------------------------------------------------------------------------- hidden unit maps


def test_hidden_unit_maps_draw_max_0_z_for_each_unit(tmp_path):
    X, y = spiral(30, seed=0)
    X = X * 3 + 1  # raw units that the scaler has to undo
    scaler = Standardizer.fit(X)
    model = randomised(MLP([2, 10, 3]), seed=7)
    steps = 40
    fig = hidden_unit_maps_figure(model, scaler, X, y, "first", steps=steps)
    assert len(fig.axes) == 10
    _, _, grid = plots.grid_over(X, steps=steps)
    z = scaler.transform(grid) @ model.linears[0].W.data + model.linears[0].b.data
    for j in (0, 7):
        drawn = fig.axes[j].images[0].get_array()
        assert drawn.shape == (steps, steps)
        np.testing.assert_allclose(drawn, np.maximum(0, z[:, j]).reshape(steps, steps),
                                   rtol=0, atol=1e-12)
    assert "all 10 units" in fig.get_suptitle()
    assert_png(fig, tmp_path, "units.png")


def test_hidden_unit_maps_cap_the_units_and_say_how_many_were_left_out():
    X, y = spiral(20, seed=0)
    model = MLP([2, 70, 3], seed=0)
    fig = hidden_unit_maps_figure(model, None, X, y, 1, steps=12)
    assert len(fig.axes) == 64
    assert "6 left out" in fig.get_suptitle()
    fig = hidden_unit_maps_figure(model, None, X, y, 1, steps=12, max_units=5)
    assert len(fig.axes) == 5 and "65 left out" in fig.get_suptitle()


def test_hidden_unit_maps_of_the_last_layer_read_that_layer():
    X, y = spiral(20, seed=0)
    model = randomised(MLP([2, 5, 4, 3]), seed=8)
    steps = 15
    fig = hidden_unit_maps_figure(model, None, X, y, "last", steps=steps)
    assert len(fig.axes) == 4
    _, _, grid = plots.grid_over(X, steps=steps)
    (W1, b1), (W2, b2) = [(lin.W.data, lin.b.data) for lin in model.linears[:2]]
    h2 = np.maximum(0, np.maximum(0, grid @ W1 + b1) @ W2 + b2)
    np.testing.assert_allclose(fig.axes[2].images[0].get_array(), h2[:, 2].reshape(steps, steps),
                               atol=1e-12)


def test_hidden_unit_maps_refuse_what_they_cannot_draw():
    X, y = spiral(10, seed=0)
    with pytest.raises(NeuralabError, match="needs a model with hidden layers; this one is 2 -> 3"):
        hidden_unit_maps_figure(MLP([2, 3]), None, X, y, "first")
    with pytest.raises(NeuralabError, match="needs a model with 2 inputs"):
        hidden_unit_maps_figure(MLP([3, 4, 3]), None, np.zeros((5, 3)), None, "first")
    with pytest.raises(NeuralabError, match=r"layer must be 'first', 'last' or an int in 1\.\.1; got 2"):
        hidden_unit_maps_figure(MLP([2, 4, 3]), None, X, y, 2)


# --------------------------------------------------------------------------- probability surface


def test_probability_gradient_matches_central_differences_and_keeps_the_grads():
    X = raw_data(n=12, d=2, seed=3)
    scaler = Standardizer.fit(X)
    model = randomised(MLP([2, 6, 5, 3], activation="tanh"), seed=9)
    before = [p.grad.copy() + 1.5 for p in model.parameters()]
    for p, g in zip(model.parameters(), before):
        p.grad[...] = g
    cls, p, grad = probability_gradient(model, scaler, X)
    for param, g in zip(model.parameters(), before):
        np.testing.assert_array_equal(param.grad, g)
    probs = model.predict_proba(scaler.transform(X))
    np.testing.assert_array_equal(cls, probs.argmax(axis=1))
    np.testing.assert_allclose(p, probs.max(axis=1), rtol=1e-14)
    numeric = np.empty_like(X)
    for i in range(X.shape[1]):
        h = 1e-6 * scaler.scale[i]
        step = np.zeros(X.shape[1])
        step[i] = h
        up = model.predict_proba(scaler.transform(X + step))[np.arange(len(X)), cls]
        down = model.predict_proba(scaler.transform(X - step))[np.arange(len(X)), cls]
        numeric[:, i] = (up - down) / (2 * h)
    np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-9 * np.abs(numeric).max())


def test_probability_surface_figure_has_the_shading_and_a_quiver(tmp_path):
    X, y = spiral(30, seed=0)
    scaler = Standardizer.fit(X)
    model = randomised(MLP([2, 12, 3]), seed=10)
    fig = probability_surface_figure(model, scaler, X, y, ["a", "b", "c"], steps=60, arrows=9)
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    assert len(ax.images) == 1 and ax.images[0].get_array().shape == (60, 60, 3)
    quivers = [c for c in ax.collections if isinstance(c, Quiver)]
    assert len(quivers) == 1
    q = quivers[0]
    assert q.U.size == 81
    _, _, coarse = plots.grid_over(X, steps=9)
    _, _, grad = probability_gradient(model, scaler, coarse)
    np.testing.assert_allclose(q.U, grad[:, 0])
    np.testing.assert_allclose(q.V, grad[:, 1])
    assert_png(fig, tmp_path, "surface.png")


# --------------------------------------------------------------------------- partial dependence


def test_partial_dependence_figure_has_one_curve_per_class(tmp_path):
    grid = np.linspace(-2, 2, 25)
    logits = np.c_[grid, -grid, 0 * grid]
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    fig = partial_dependence_figure(grid, probs, "petal length (cm)", ["setosa", "versicolor", "virginica"])
    lines = fig.axes[0].get_lines()
    assert [line.get_label() for line in lines] == ["setosa", "versicolor", "virginica"]
    np.testing.assert_array_equal(lines[1].get_ydata(), probs[:, 1])
    assert fig.axes[0].get_xlabel() == "petal length (cm)"
    assert_png(fig, tmp_path, "pd.png")
    with pytest.raises(NeuralabError, match=r"probs must have shape \(25, K\)"):
        partial_dependence_figure(grid, probs[:-1], "x", None)
