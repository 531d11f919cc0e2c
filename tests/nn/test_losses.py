"""The cross-entropy of probabilities, written once: its floor, its weights and its
agreement with the training loss on logits and with scikit-learn."""

import numpy as np
import pytest
import sklearn.metrics as skm

from neuralab import NeuralabError
from neuralab.nn.losses import PROB_FLOOR, SoftmaxCrossEntropy, cross_entropy, softmax


def _probs(rng, n=40, K=4):
    logits = rng.uniform(-5, 5, size=(n, K))
    return logits, softmax(logits), rng.integers(0, K, n)


def test_cross_entropy_is_the_training_loss_of_the_same_logits(rng):
    logits, probs, y = _probs(rng)
    w = np.array([1.0, 2.0, 0.5, 3.0])
    assert cross_entropy(probs, y) == pytest.approx(SoftmaxCrossEntropy().forward(logits, y), rel=1e-12)
    weighted = SoftmaxCrossEntropy(class_weight=w).forward(logits, y)
    assert cross_entropy(probs, y, sample_weight=w[y]) == pytest.approx(weighted, rel=1e-12)
    per_row = SoftmaxCrossEntropy(reduction="none").forward(logits, y)
    np.testing.assert_allclose(cross_entropy(probs, y, reduction="none"), per_row, rtol=1e-12)
    assert cross_entropy(probs, y, reduction="sum") == pytest.approx(per_row.sum(), rel=1e-12)


def test_cross_entropy_matches_sklearns_log_loss(rng):
    _, probs, y = _probs(rng)
    weights = rng.uniform(0.1, 2.0, len(y))
    assert cross_entropy(probs, y) == pytest.approx(skm.log_loss(y, probs, labels=range(4)), rel=1e-12)
    assert cross_entropy(probs, y, sample_weight=weights) == pytest.approx(
        skm.log_loss(y, probs, sample_weight=weights, labels=range(4)), rel=1e-12)


def test_a_zero_probability_costs_the_floor_not_infinity():
    probs = np.array([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]])
    losses = cross_entropy(probs, np.array([1, 1, 0]), reduction="none")
    assert PROB_FLOOR == 1e-15
    assert losses.tolist() == [-np.log(PROB_FLOOR), 0.0, np.log(2)]
    # probabilities just above 1 (round-off) count as 1: no negative loss
    assert cross_entropy(np.array([[1 + 1e-12, 0.0]]), np.array([0])) == 0.0


def test_a_reduction_outside_the_list_is_refused():
    with pytest.raises(NeuralabError, match="reduction must be one of mean, sum, none; got 'avg'"):
        cross_entropy(np.array([[0.5, 0.5]]), np.array([0]), reduction="avg")
