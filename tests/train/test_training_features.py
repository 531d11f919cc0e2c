"""Minibatch training options: schedules, early stopping, clipping, class weights,
oversampling and augmentation, in both backends where they apply."""

import signal
import warnings

import numpy as np
import pytest

from neuralab import NeuralabError
from neuralab.config import TrainSettings
from neuralab.data import Dataset, load, spiral
from neuralab.lab import ImbalanceWarning, run_training
from neuralab.torch_backend import make_torch_trainer
from neuralab.train import balanced_class_weights, fit, lr_schedule, make_engine_trainer


def test_schedules_set_the_rate_of_every_step():
    seen = []

    class Spy:
        def __init__(self, inner):
            self.inner = inner

        def __getattr__(self, name):
            return getattr(self.inner, name)

        def set_lr(self, lr):
            seen.append(lr)
            self.inner.set_lr(lr)

    X, y = spiral(n_per_class=20, seed=0)
    fit(Spy(make_engine_trainer([2, 8, 3])), X, y, iterations=9,
        schedule=lr_schedule("step", 0.9, 9, step_size=3, gamma=0.5))
    assert seen == pytest.approx([0.9] * 3 + [0.45] * 3 + [0.225] * 3)
    cos = lr_schedule("cosine", 1.0, 11, min_lr=0.1)
    assert cos(0) == 1.0 and cos(10) == pytest.approx(0.1) and cos(5) == pytest.approx(0.55)
    assert lr_schedule("constant", 1.0, 10) is None
    with pytest.raises(NeuralabError, match="lr schedule must be one of constant, step, cosine"):
        lr_schedule("exp", 1.0, 10)


@pytest.mark.parametrize("options", [
    {"clip_norm": 0.05},
    {"class_weight": [1.0, 3.0, 0.5]},
])
def test_clipping_and_class_weights_agree_across_backends(options):
    X, y = spiral(seed=0)
    kwargs = dict(seed=0, lr=0.5, reg=1e-3, optimizer="momentum", **options)
    a = make_engine_trainer([2, 30, 3], **kwargs)
    b = make_torch_trainer([2, 30, 3], device="cpu", **kwargs)
    schedule = lr_schedule("cosine", 0.5, 100)
    ra = fit(a, X, y, iterations=100, log_every=1, schedule=schedule)
    rb = fit(b, X, y, iterations=100, log_every=1, schedule=schedule)
    np.testing.assert_allclose(ra.history.column("loss"), rb.history.column("loss"), rtol=1e-9)
    for name, value in a.state_dict().items():
        np.testing.assert_allclose(value, b.state_dict()[name], rtol=1e-8, atol=1e-12)


def test_clipping_bounds_the_gradient_norm():
    X, y = spiral(seed=0)
    t = make_engine_trainer([2, 30, 3], seed=0, clip_norm=1e-3)
    t.train_step(X, y)
    t.set_lr(1.0)
    before = {k: v.copy() for k, v in t.state_dict().items()}
    t.train_step(X, y)
    moved = np.sqrt(sum(np.sum((t.state_dict()[k] - v) ** 2) for k, v in before.items()))
    assert moved <= 1e-3 * (1 + 1e-9)  # plain SGD: the step is lr times the clipped gradient


def test_early_stopping_restores_the_best_validation_weights():
    data = load("moons", seed=0, n_per_class=40, noise=0.35)
    settings = TrainSettings(hidden=[128, 128], init="he", optimizer="adam", lr=0.02, reg=0.0,
                             iterations=3000, val_fraction=0.3, early_stopping=5, log_every=20)
    run = run_training(data, settings, echo=None, progress=False)
    f = run.fit
    assert f.stopped_early and f.steps < 3000
    val = run.fit.history.column("val_loss")
    steps = run.fit.history.column("step")
    best = int(np.nanargmin(val))
    assert f.best_step == steps[best]
    # the final model is the restored one: its validation loss is the best logged
    assert run.metrics["val"]["loss"] == pytest.approx(val[best], rel=1e-9)
    assert steps[-1] - f.best_step >= 5 * 20


def test_early_stopping_needs_validation_data():
    with pytest.raises(NeuralabError, match="early stopping needs validation data"):
        run_training(load("moons"), TrainSettings(iterations=10, early_stopping=3),
                     echo=None, progress=False)


@pytest.fixture(scope="module")
def unbalanced():
    X, y = load("gaussian", seed=0, n_per_class=400, noise=1.1).X, load("gaussian", seed=0, n_per_class=400, noise=1.1).y
    rng = np.random.default_rng(0)
    keep = np.concatenate([np.flatnonzero(y == 0), np.flatnonzero(y == 1),
                           rng.choice(np.flatnonzero(y == 2), 24, replace=False)])
    return Dataset(X[keep], y[keep], ["a", "b", "rare"], "unbalanced", "gaussian, class 2 cut to 24")


def test_unbalanced_training_warns(unbalanced):
    from neuralab.metrics import UndefinedMetricWarning

    with warnings.catch_warnings():
        # five iterations never predict the rare class: its precision is 0/0
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        with pytest.warns(ImbalanceWarning, match="class 'rare' has .* under 10%"):
            run_training(unbalanced, TrainSettings(model="linear", iterations=5), echo=None,
                         progress=False)


@pytest.mark.parametrize("option", [{"class_weight": "balanced"}, {"oversample": True}])
def test_rebalancing_raises_the_rare_class_recall(unbalanced, option):
    base = dict(hidden=[32], lr=0.5, iterations=600, test_fraction=0.3, seed=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ImbalanceWarning)
        plain = run_training(unbalanced, TrainSettings(**base), echo=None, progress=False)
        fixed = run_training(unbalanced, TrainSettings(**base, **option), echo=None, progress=False)
    recall = lambda run: run.metrics["test"]["per_class"]["rare"]["recall"]
    assert recall(fixed) >= recall(plain) + 0.2


def test_balanced_weights_formula():
    w = balanced_class_weights(np.array([0] * 90 + [1] * 10), 2)
    assert w.tolist() == pytest.approx([100 / 180, 100 / 20])
    with pytest.raises(NeuralabError, match="need every class"):
        balanced_class_weights(np.array([0, 0]), 2)


@pytest.mark.slow
def test_jitter_augmentation_raises_held_out_accuracy_on_little_data():
    """30 training points of the moons, a large net, no regularisation: jitter helps."""
    full = load("moons", seed=0, n_per_class=500, noise=0.15)
    gains = []
    for seed in range(6):
        rng = np.random.default_rng(seed)
        idx = rng.choice(len(full.y), 30, replace=False)
        rest = np.setdiff1d(np.arange(len(full.y)), idx)
        train = Dataset(full.X[idx], full.y[idx], full.classes, "moons", "30 points")
        test = Dataset(full.X[rest], full.y[rest], full.classes, "moons", "the rest")
        acc = {}
        for augment in (False, True):
            s = TrainSettings(hidden=[64, 64], init="he", lr=0.01, reg=0.0, optimizer="adam",
                              iterations=800, seed=seed, augment=augment, augment_noise=0.3)
            acc[augment] = run_training(train, s, test=test, echo=None, progress=False).test_accuracy
        gains.append(acc[True] - acc[False])
    assert np.mean(gains) >= 0.02
    assert sum(g > 0 for g in gains) >= 5


def test_image_shift_augmentation_moves_pixels_not_labels():
    from neuralab.data.augment import shift_images

    X = np.zeros((500, 16))
    X[:, 5] = 1.0  # a single bright pixel at (1, 1) of a 4x4 image
    Z = shift_images((4, 4), max_shift=1)(X, np.random.default_rng(0))
    assert np.allclose(Z.sum(axis=1), 1.0)  # nothing lost: the pixel stays inside
    positions = set(np.argmax(Z, axis=1).tolist())
    assert positions == {0, 1, 2, 4, 5, 6, 8, 9, 10}  # every shift within one pixel occurs


class _RankSignalledWhileAgreeing:
    """A data-parallel rank's trainer whose Ctrl-C comes while the ranks agree on step 3:
    their answer (no one asked to stop) is already given when the signal lands."""

    def __init__(self, trainer):
        self._trainer, self.asked = trainer, []

    def __getattr__(self, name):
        return getattr(self._trainer, name)

    def agree(self, flag: bool) -> bool:
        self.asked.append(flag)
        if len(self.asked) == 3:
            signal.raise_signal(signal.SIGINT)
        return flag  # the other ranks' flags were False: the agreement is this rank's flag


@pytest.mark.parametrize("batch_size", [None, 40])
def test_a_signal_while_the_ranks_agree_stops_them_together_one_step_later(batch_size):
    # every rank must act on what they agreed: a rank that stopped on its own flag, set just
    # after the others were told "go on", would leave them waiting in the next step's
    # all-reduce for a peer that has gone
    X, y = spiral(n_per_class=40, seed=0)
    trainer = _RankSignalledWhileAgreeing(make_engine_trainer([2, 8, 3], seed=0))
    result = fit(trainer, X, y, iterations=50, batch_size=batch_size, progress=False)
    assert trainer.asked == [False, False, False, True]  # told at step 3's agreement, asks at 4
    assert result.interrupted and result.steps == 3  # steps 0, 1 and 2 (the one agreed) ran
