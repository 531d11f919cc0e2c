"""The training loop: determinism, logging, minibatches, callbacks and divergence."""

import numpy as np
import pytest

from neuralab import NeuralabError
from neuralab.data import spiral
from neuralab.train import PrintLogger, TrainingDiverged, fit, make_engine_trainer


@pytest.fixture(scope="module")
def data():
    return spiral(seed=0)


def _losses(data, **kwargs):
    X, y = data
    trainer = make_engine_trainer([2, 20, 3], seed=kwargs.pop("seed", 0), lr=1.0, reg=1e-3)
    result = fit(trainer, X, y, log_every=1, **kwargs)
    return result.history.column("loss")


def test_same_seed_gives_identical_losses(data):
    a = _losses(data, iterations=50)
    b = _losses(data, iterations=50)
    np.testing.assert_array_equal(a, b)
    c = _losses(data, iterations=50, seed=1)
    assert not np.array_equal(a, c)


def test_same_seed_gives_identical_minibatch_runs(data):
    a = _losses(data, epochs=3, batch_size=64)
    b = _losses(data, epochs=3, batch_size=64)
    np.testing.assert_array_equal(a, b)


def test_full_batch_history_logs_the_loss_before_each_update(data):
    X, y = data
    trainer = make_engine_trainer([2, 3], seed=0, lr=1.0, reg=1e-3)
    result = fit(trainer, X, y, iterations=200, log_every=10)
    steps = result.history.column("step")
    assert steps.tolist() == list(range(0, 200, 10)) + [200]
    assert result.history.column("loss")[0] == pytest.approx(np.log(3), abs=0.01)
    assert result.history.rows[-1]["loss"] == result.final_loss
    assert result.history.columns == ["step", "loss", "train_accuracy", "grad_norm_W1", "grad_norm_b1"]


def test_print_logger_prints_the_slides_lines(data, capsys):
    X, y = data
    trainer = make_engine_trainer([2, 3], seed=0, lr=1.0, reg=1e-3)
    fit(trainer, X, y, iterations=30, log_every=10, callbacks=[PrintLogger(10)], progress=False)
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in lines] == ["iteration 0", "iteration 10", "iteration 20"]
    assert lines[0] == "iteration 0: loss 1.099937"


def test_callbacks_receive_step_loss_and_metrics_including_validation(data):
    X, y = data
    Xv, yv = spiral(seed=5)
    seen = []
    trainer = make_engine_trainer([2, 10, 3], seed=0, lr=1.0, reg=1e-3)
    result = fit(trainer, X, y, iterations=25, log_every=5, X_val=Xv, y_val=yv,
                 callbacks=[lambda s, loss, m: seen.append((s, loss, dict(m)))])
    assert [s for s, _, _ in seen] == [0, 5, 10, 15, 20, 25]
    assert seen[-1][2]["final"] is True
    assert {"train_accuracy", "val_loss", "val_accuracy"} <= set(seen[0][2])
    assert result.history.columns[:5] == ["step", "loss", "train_accuracy", "val_loss", "val_accuracy"]
    assert result.final_val_accuracy == seen[-1][2]["val_accuracy"]


def test_minibatch_epochs_count_steps_and_log_once_per_epoch(data):
    X, y = data
    trainer = make_engine_trainer([2, 10, 3], seed=0, lr=0.5, reg=1e-3)
    result = fit(trainer, X, y, epochs=4, batch_size=128, log_every=1)
    assert result.steps == 4 * 3  # ceil(300 / 128) batches an epoch
    assert result.history.column("step").tolist() == [3, 6, 9, 12]


def test_minibatch_rows_hold_the_mean_of_their_batches_and_the_end_scores_all_the_data(data):
    """A minibatch row is the mean over the batches since the previous row (the loss weighted
    by rows, each taken in its step's forward pass); the closing evaluation scores the whole
    training set at the final weights, and fit hands its probabilities on."""
    X, y = data
    trainer = make_engine_trainer([2, 10, 3], seed=0, lr=0.5, reg=1e-3)
    batches, step = [], trainer.train_step

    def recorded(Xb, yb):
        loss, scores = step(Xb, yb)
        batches.append((loss, int((scores.argmax(axis=1) == yb).sum()), len(yb)))
        return loss, scores

    trainer.train_step = recorded
    result = fit(trainer, X, y, epochs=4, batch_size=128, log_every=2, progress=False)
    assert [len(b) for b in (batches,)] == [12] and [b[2] for b in batches[:3]] == [128, 128, 44]
    for row, since in zip(result.history.rows, (batches[:6], batches[6:])):
        rows = sum(n for _, _, n in since)
        assert row["loss"] == pytest.approx(sum(loss * n for loss, _, n in since) / rows, rel=1e-12)
        assert row["train_accuracy"] == sum(c for _, c, _ in since) / rows
    loss, probs = trainer.evaluate(X, y)
    assert result.final_loss == loss and result.final_train_accuracy == np.mean(probs.argmax(1) == y)
    np.testing.assert_array_equal(result.final_outputs, probs)


def test_minibatch_training_learns(data):
    X, y = data
    trainer = make_engine_trainer([2, 100, 3], seed=0, lr=0.5, reg=1e-3, optimizer="momentum")
    result = fit(trainer, X, y, epochs=300, batch_size=32, log_every=50)
    assert result.final_train_accuracy > 0.9


def test_adam_trains_the_spiral(data):
    X, y = data
    trainer = make_engine_trainer([2, 100, 3], seed=0, lr=0.01, reg=1e-3, optimizer="adam")
    result = fit(trainer, X, y, iterations=1500)
    assert result.final_train_accuracy > 0.95


def test_divergence_stops_with_a_message(data):
    X, y = data
    trainer = make_engine_trainer([2, 100, 3], seed=0, lr=1e6, reg=1e-3)
    with pytest.raises(TrainingDiverged, match=r"loss became (nan|inf) at iteration \d+.*rate lr \(now 1e\+06\)"):
        fit(trainer, X, y, iterations=200)


def test_float32_training_tracks_float64(data):
    X, y = data
    results = {}
    for dtype in ("float64", "float32"):
        trainer = make_engine_trainer([2, 100, 3], seed=0, lr=1.0, reg=1e-3, dtype=dtype)
        results[dtype] = fit(trainer, X.astype(dtype), y, iterations=500, log_every=10)
    l64, l32 = (results[d].history.column("loss") for d in ("float64", "float32"))
    # float32 round-off is amplified once the loss passes its bump near step 200
    np.testing.assert_allclose(l32[:16], l64[:16], rtol=1e-5)
    assert results["float32"].final_loss == pytest.approx(results["float64"].final_loss, rel=1e-2)
    assert abs(results["float32"].final_train_accuracy - results["float64"].final_train_accuracy) <= 0.02


@pytest.mark.parametrize("kwargs, message", [
    ({}, "give exactly one of iterations and epochs"),
    ({"iterations": 10, "epochs": 1}, "give exactly one of iterations and epochs"),
    ({"iterations": 0}, "iterations must be a positive integer, got 0"),
    ({"iterations": 5, "batch_size": 0}, "batch_size must be a positive integer, got 0"),
    ({"iterations": 5, "log_every": -1}, "log_every must be a positive integer, got -1"),
])
def test_bad_loop_settings(data, kwargs, message):
    X, y = data
    with pytest.raises(NeuralabError, match=message):
        fit(make_engine_trainer([2, 3]), X, y, **kwargs)


def test_history_logs_each_parameters_gradient_norm(data):
    X, y = data
    trainer = make_engine_trainer([2, 10, 3], seed=0, lr=1.0, reg=1e-3)
    result = fit(trainer, X, y, iterations=1, log_every=1)
    row = result.history.rows[0]
    # a fresh trainer's first step: recompute the gradients by hand and compare
    fresh = make_engine_trainer([2, 10, 3], seed=0, lr=1.0, reg=1e-3)
    fresh.model.zero_grad()
    scores = fresh.model.forward(X)
    fresh.loss_fn.forward(scores, y)
    fresh.model.backward(fresh.loss_fn.backward())
    fresh.penalty.backward(fresh.model.weights())
    for p in fresh.model.parameters():
        assert row[f"grad_norm_{p.name}"] == pytest.approx(np.linalg.norm(p.grad), rel=1e-12)


@pytest.mark.parametrize("augment", [False, True])
def test_fit_in_chunks_takes_the_path_of_one_call(augment):
    # the playground trains in frames that a time budget may cut anywhere, and a resumed run
    # continues at any step: minibatches and augmentation depend on the seed and the step alone
    from neuralab.data.augment import jitter

    X, y = spiral(seed=2)
    aug = jitter(0.05) if augment else None
    whole = make_engine_trainer([2, 16, 3], seed=1, optimizer="adam", lr=0.02)
    fit(whole, X, y, iterations=100, batch_size=32, seed=5, augment=aug, log_every=100)
    chunked = make_engine_trainer([2, 16, 3], seed=1, optimizer="adam", lr=0.02)
    done = 0
    for n in (3, 11, 7, 25, 1, 13, 40):  # chunks that end mid-epoch (10 batches an epoch)
        fit(chunked, X, y, iterations=n, batch_size=32, seed=5, augment=aug, start_step=done,
            log_every=n)
        done += n
    for name, w in whole.state_dict().items():
        np.testing.assert_array_equal(w, chunked.state_dict()[name], err_msg=name)
