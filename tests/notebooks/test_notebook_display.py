"""Runs show themselves in a notebook: the results' ``_repr_html_``, LivePlot and show.

All without a kernel: IPython's display is replaced by a recorder where a test needs one.
"""

from __future__ import annotations

import math
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from helpers import one_line

from neuralab import NeuralabError
from neuralab import notebook
from neuralab.config import TrainSettings
from neuralab.data import load, spiral
from neuralab.lab import run_training
from neuralab.notebook import LivePlot, loss_curve_svg
from neuralab.train import fit, make_engine_trainer

HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'
#: every element the summaries may contain; anything else came from a name that was not escaped
ALLOWED_TAGS = {"div", "table", "caption", "tr", "th", "td", "svg", "rect", "polyline", "line",
                "circle", "text"}


class Tags(HTMLParser):
    def __init__(self, page: str) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.texts: list[str] = []
        self.feed(page)

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)

    def handle_data(self, data):
        self.texts.append(data)


def polylines(page: str) -> list[list[tuple[float, float]]]:
    return [[tuple(map(float, p.split(","))) for p in pts.split()]
            for pts in re.findall(r'<polyline[^>]* points="([^"]*)"', page)]


@pytest.fixture(scope="module")
def spiral_fit():
    X, y = spiral(n_per_class=30, seed=0)
    trainer = make_engine_trainer([2, 8, 3], seed=0)
    return fit(trainer, X[::2], y[::2], iterations=40, X_val=X[1::2], y_val=y[1::2], log_every=5)


def test_fit_result_shows_its_headline_metrics_and_both_loss_curves(spiral_fit):
    page = spiral_fit._repr_html_()
    parsed = Tags(page)
    assert set(parsed.tags) <= ALLOWED_TAGS
    text = " ".join(parsed.texts)
    assert f"{spiral_fit.final_loss:.4f}" in text
    assert f"{100 * spiral_fit.final_train_accuracy:.1f} %" in text
    assert f"{100 * spiral_fit.final_val_accuracy:.1f} %" in text
    assert "validation loss" in text and "40" in text
    train, val = polylines(page)  # train, then validation: one point per logged row
    assert len(train) == len(val) == len(spiral_fit.history.rows)
    # the curve falls where the loss falls: a lower loss is drawn higher up (smaller y)
    losses = spiral_fit.history.column("loss")
    ys = np.array([p[1] for p in train])
    assert np.argmin(ys) == np.argmax(losses) and np.argmax(ys) == np.argmin(losses)
    # the y axis is labelled with the range of both curves
    both = np.r_[losses, spiral_fit.history.column("val_loss")]
    assert f"{both.max():.4g}" in parsed.texts and f"{both.min():.4g}" in parsed.texts


def test_run_result_shows_every_split_and_escapes_every_name(tmp_path):
    settings = TrainSettings(hidden=[4], iterations=20, test_fraction=0.25, val_fraction=0.25)
    run = run_training(load("moons"), settings, name=HOSTILE, echo=None)
    run.run_dir = Path(tmp_path / HOSTILE)
    page = run._repr_html_()
    parsed = Tags(page)
    assert set(parsed.tags) <= ALLOWED_TAGS, parsed.tags
    assert "<script" not in page and "<img" not in page
    text = " ".join(parsed.texts)
    assert HOSTILE in text  # shown as text, not lost
    for split in ("train", "val", "test"):
        m = run.metrics[split]
        assert re.search(rf"{split}\s+{m['n_samples']}\s+{100 * m['accuracy']:.1f} %\s+"
                         rf"{m['loss']:.4f}\s+{m['roc_auc']:.4f}", text), text
    assert "mlp, hidden 4, relu" in text and "sgd, lr 1, reg 0.001" in text
    assert len(polylines(page)) == 2


def test_a_regression_run_shows_its_errors_instead_of_accuracy():
    settings = TrainSettings(task="regression", hidden=[4], iterations=10, test_fraction=0.25,
                             optimizer="adam", lr=0.01)
    run = run_training(load("diabetes"), settings, echo=None)
    text = " ".join(Tags(run._repr_html_()).texts)
    assert "R^2" in text and "accuracy" not in text
    test = run.metrics["test"]
    assert f"{test['mse']:.4f}" in text and f"{test['r2']:.4f}" in text


def test_the_loss_curve_leaves_out_values_that_are_not_finite_and_escapes_its_labels():
    page = loss_curve_svg([0, 1, 2, 3, 4], {HOSTILE: [1.0, math.nan, math.inf, 0.5, None]},
                          title=HOSTILE)
    assert set(Tags(page).tags) <= ALLOWED_TAGS and "<script" not in page
    (line,) = polylines(page)
    assert len(line) == 2  # steps 0 and 3
    one = loss_curve_svg([5], {"train": [0.3]})
    assert "<circle" in one and not polylines(one)


def test_a_long_curve_is_thinned_but_keeps_its_ends():
    steps = list(range(5000))
    (line,) = polylines(loss_curve_svg(steps, {"train": [1 / (s + 1) for s in steps]}))
    assert 100 < len(line) <= 500
    xs = [p[0] for p in line]
    assert xs == sorted(xs) and xs[0] == 56.0 and xs[-1] == 420 - 12  # first and last step


def test_liveplot_outside_a_notebook_records_and_draws_nothing(capsys):
    X, y = spiral(n_per_class=10, seed=0)
    live = LivePlot()
    result = fit(make_engine_trainer([2, 3]), X, y, iterations=25, log_every=10, callbacks=[live])
    assert live.redraws == 0
    assert capsys.readouterr().out == ""
    # rows at 0, 10, 20 and the final evaluation at 25
    assert live.steps == [0, 10, 20, 25]
    assert live.losses[-1] == result.final_loss and live.val_losses == [None] * 4
    assert "iteration 25: loss" in live._repr_html_()


class FakeHandle:
    def __init__(self, log):
        self.log = log

    def update(self, obj):
        self.log.append(("update", obj.data))


def fake_notebook(monkeypatch) -> list:
    log = []

    class HTML:
        def __init__(self, data):
            self.data = data

    def display(obj, display_id=False):
        assert display_id is True
        log.append(("display", obj.data))
        return FakeHandle(log)

    monkeypatch.setattr(notebook, "_notebook_display", lambda: (display, HTML))
    return log


def test_liveplot_in_a_notebook_draws_once_and_then_updates_in_place(monkeypatch):
    log = fake_notebook(monkeypatch)
    X, y = spiral(n_per_class=10, seed=0)
    live = LivePlot(min_interval=0)
    fit(make_engine_trainer([2, 3]), X, y, iterations=30, log_every=10,
        X_val=X[::3], y_val=y[::3], callbacks=[live])
    kinds = [k for k, _ in log]
    assert kinds == ["display"] + ["update"] * (len(log) - 1) and live.redraws == len(log)
    # one draw per callback: steps 0, 10, 20 and the final one at 30
    assert len(log) == 4
    assert "iteration 30: loss" in log[-1][1] and "validation loss" in log[-1][1]
    assert len(polylines(log[-1][1])) == 2


def test_liveplot_redraws_at_most_every_min_interval_and_always_at_the_end(monkeypatch):
    log = fake_notebook(monkeypatch)
    X, y = spiral(n_per_class=10, seed=0)
    live = LivePlot(min_interval=3600)
    fit(make_engine_trainer([2, 3]), X, y, iterations=100, log_every=10, callbacks=[live])
    assert [k for k, _ in log] == ["display", "update"]
    assert "iteration 100: loss" in log[-1][1]


@pytest.mark.parametrize("bad", [-1, "soon", math.nan])
def test_liveplot_refuses_a_bad_interval_in_one_line(bad):
    with pytest.raises(NeuralabError) as err:
        LivePlot(min_interval=bad)
    assert "min_interval" in one_line(err) and repr(bad) in str(err.value)


def test_show_displays_a_figure_as_png(monkeypatch):
    ipython_display = pytest.importorskip("IPython.display")
    shown = []
    monkeypatch.setattr(ipython_display, "display", lambda obj: shown.append(obj))
    from neuralab.plots import boundary_figure
    from neuralab.nn import MLP

    X, y = spiral(n_per_class=5, seed=0)
    notebook.show(boundary_figure(MLP([2, 3]).predict_proba, X, y, steps=20))
    (image,) = shown
    assert image.data[:8] == b"\x89PNG\r\n\x1a\n"


def test_run_training_takes_a_live_plot_and_it_follows_the_history():
    live = LivePlot()
    run = run_training(load("xor", seed=0), TrainSettings(model="linear", iterations=50, log_every=10),
                       echo=None, progress=False, callbacks=[live])
    rows = run.fit.history.rows
    assert live.steps == [r["step"] for r in rows]
    assert live.losses == pytest.approx([r["loss"] for r in rows])
