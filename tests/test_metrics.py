"""Metrics agree with scikit-learn and with the lecture, and degenerate input warns instead of failing."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import sklearn.metrics as skm
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from neuralab.metrics import (
    UndefinedMetricWarning,
    accuracy,
    confusion_matrix,
    evaluate_predictions,
    log_loss,
    per_class,
    roc_auc,
)

FAST = settings(max_examples=50, deadline=None)


@st.composite
def labels(draw, min_size=1, max_size=60):
    """(K, y_true, y_pred) with labels in 0..K-1; classes may be missing from either."""
    K = draw(st.integers(2, 5))
    n = draw(st.integers(min_size, max_size))
    lab = st.lists(st.integers(0, K - 1), min_size=n, max_size=n)
    return K, np.array(draw(lab)), np.array(draw(lab))


@st.composite
def scored(draw, all_present=False):
    """(K, y_true, probs) with probs the softmax of bounded logits (rows sum to 1)."""
    K = draw(st.integers(2, 5))
    n = draw(st.integers(K if all_present else 2, 60))
    y = np.array(draw(st.lists(st.integers(0, K - 1), min_size=n, max_size=n)))
    if all_present:
        y[:K] = np.arange(K)
    seed = draw(st.integers(0, 2**31))
    logits = np.random.default_rng(seed).uniform(-8, 8, size=(n, K))
    # round to a coarse grid so that ties between scores (which AUC must handle) happen
    if draw(st.booleans()):
        logits = np.round(logits)
    probs = np.exp(logits - logits.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    return K, y, probs


def quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        return fn(*args, **kwargs)


# --------------------------------------------------------------------------- confusion matrix


@FAST
@given(labels())
def test_confusion_matrix_counts_every_pair_and_matches_sklearn(data):
    K, y_true, y_pred = data
    cm = confusion_matrix(y_true, y_pred, K)
    by_hand = np.zeros((K, K), dtype=int)
    np.add.at(by_hand, (y_true, y_pred), 1)
    assert cm.shape == (K, K)
    assert cm.sum() == len(y_true)
    np.testing.assert_array_equal(cm, by_hand)
    np.testing.assert_array_equal(cm, skm.confusion_matrix(y_true, y_pred, labels=np.arange(K)))
    # rows are the true class
    np.testing.assert_array_equal(cm.sum(axis=1), np.bincount(y_true, minlength=K))
    np.testing.assert_array_equal(cm.sum(axis=0), np.bincount(y_pred, minlength=K))


# --------------------------------------------------------------------------- per-class rates


@FAST
@given(labels())
def test_per_class_matches_sklearn_and_the_definitions(data):
    K, y_true, y_pred = data
    cm = confusion_matrix(y_true, y_pred, K)
    rates = quiet(per_class, cm)
    assert list(rates) == [str(k) for k in range(K)]
    p, r, f, s = skm.precision_recall_fscore_support(
        y_true, y_pred, labels=np.arange(K), zero_division=np.nan, average=None
    )
    for k in range(K):
        got = rates[str(k)]
        # NaN exactly where sklearn's rate is undefined, equal elsewhere
        np.testing.assert_allclose(got["precision"], p[k], equal_nan=True)
        np.testing.assert_allclose(got["recall"], r[k], equal_nan=True)
        np.testing.assert_allclose(got["f1"], f[k], equal_nan=True)
        assert got["tpr"] == got["recall"] or (np.isnan(got["tpr"]) and np.isnan(got["recall"]))
        assert got["support"] == s[k] == np.sum(y_true == k)
        fp = np.sum((y_pred == k) & (y_true != k))
        tn = np.sum((y_pred != k) & (y_true != k))
        if fp + tn:
            assert got["fpr"] == pytest.approx(fp / (fp + tn))
            assert got["tnr"] == pytest.approx(tn / (fp + tn))
        else:
            assert np.isnan(got["fpr"]) and np.isnan(got["tnr"])


@FAST
@given(labels())
def test_per_class_warns_exactly_when_a_rate_is_undefined(data):
    K, y_true, y_pred = data
    cm = confusion_matrix(y_true, y_pred, K)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rates = per_class(cm)
    undefined = any(np.isnan(v[m]) for v in rates.values() for m in ("precision", "recall", "fpr"))
    warned = [w for w in caught if issubclass(w.category, UndefinedMetricWarning)]
    assert bool(warned) == undefined
    assert len(warned) == len(caught)  # and nothing else (no RuntimeWarning from 0/0)


def test_the_lectures_worked_example():
    # 12 patients, 8 with cancer (class 1): 6 found, 2 missed, 1 healthy flagged, 3 cleared
    y_true = np.array([1] * 8 + [0] * 4)
    y_pred = np.array([1] * 6 + [0] * 2 + [1] * 1 + [0] * 3)
    cm = confusion_matrix(y_true, y_pred, 2)
    tn, fp, fn, tp = cm.ravel()
    assert (tp, fn, fp, tn) == (6, 2, 1, 3)
    cancer = per_class(cm, ["healthy", "cancer"])["cancer"]
    assert cancer["recall"] == 0.75
    assert cancer["tpr"] == 0.75
    assert cancer["precision"] == pytest.approx(6 / 7)
    assert cancer["fpr"] == 0.25
    assert cancer["tnr"] == 0.75
    assert cancer["support"] == 8
    assert cancer["f1"] == pytest.approx(2 * (6 / 7) * 0.75 / (6 / 7 + 0.75))
    assert accuracy(y_true, y_pred) == pytest.approx(9 / 12)


def test_a_class_absent_from_y_true_warns_and_gives_nan():
    y_true = np.array([0, 0, 1, 1])
    y_pred = np.array([0, 2, 1, 1])
    cm = confusion_matrix(y_true, y_pred, 3)
    with pytest.warns(UndefinedMetricWarning, match="recall.*class 2"):
        rates = per_class(cm)
    assert np.isnan(rates["2"]["recall"]) and np.isnan(rates["2"]["tpr"])
    assert rates["2"]["support"] == 0
    # the rates that stay defined are still reported
    assert rates["2"]["precision"] == 0.0
    assert rates["2"]["fpr"] == 0.25
    assert rates["2"]["f1"] == 0.0
    assert rates["0"]["recall"] == 0.5


def test_a_class_never_true_nor_predicted_has_nan_f1():
    cm = confusion_matrix([0, 1, 1], [0, 1, 0], 3)
    with pytest.warns(UndefinedMetricWarning):
        rates = per_class(cm)
    assert np.isnan(rates["2"]["precision"]) and np.isnan(rates["2"]["recall"])
    assert np.isnan(rates["2"]["f1"])


def test_a_class_present_but_never_predicted_has_f1_zero():
    cm = confusion_matrix([0, 1, 2, 2], [0, 1, 0, 1], 3)
    with pytest.warns(UndefinedMetricWarning, match="precision"):
        rates = per_class(cm)
    assert np.isnan(rates["2"]["precision"])
    assert rates["2"]["recall"] == 0.0
    assert rates["2"]["f1"] == 0.0


def test_per_class_uses_the_class_names():
    rates = per_class(np.array([[2, 0], [0, 2]]), ["cat", "dog"])
    assert list(rates) == ["cat", "dog"]


# --------------------------------------------------------------------------- ROC AUC


@FAST
@given(scored())
def test_binary_roc_auc_matches_sklearn(data):
    _, y, probs = data
    y = (y > 0).astype(int)
    assume(0 < y.sum() < len(y))
    probs = np.c_[probs[:, 0], 1 - probs[:, 0]]
    assert roc_auc(y, probs) == pytest.approx(skm.roc_auc_score(y, probs[:, 1]))


@FAST
@given(scored(all_present=True))
def test_multiclass_roc_auc_is_sklearns_one_vs_rest_macro(data):
    K, y, probs = data
    expected = (
        skm.roc_auc_score(y, probs[:, 1])
        if K == 2
        else skm.roc_auc_score(y, probs, multi_class="ovr", average="macro", labels=np.arange(K))
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error", UndefinedMetricWarning)  # all present: no warning
        got = roc_auc(y, probs)
    assert got == pytest.approx(expected)


@FAST
@given(scored())
def test_roc_auc_lies_in_0_1_or_is_nan(data):
    _, y, probs = data
    auc = quiet(roc_auc, y, probs)
    assert np.isnan(auc) == (np.unique(y).size < 2)
    if not np.isnan(auc):
        assert 0.0 <= auc <= 1.0


def test_roc_auc_of_perfect_and_reversed_scores():
    y = np.array([0, 0, 1, 1])
    good = np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.1, 0.9]])
    assert roc_auc(y, good) == 1.0
    assert roc_auc(y, good[:, ::-1]) == 0.0


@pytest.mark.parametrize("K", [2, 3])
def test_roc_auc_with_one_class_present_warns_and_is_nan(K):
    y = np.zeros(5, dtype=int)
    probs = np.full((5, K), 1.0 / K)
    with pytest.warns(UndefinedMetricWarning, match="fewer than two classes"):
        auc = roc_auc(y, probs)
    assert np.isnan(auc)


def test_roc_auc_with_a_class_missing_averages_over_those_present_and_warns():
    y = np.array([0, 0, 1, 1])
    probs = np.array([[0.8, 0.1, 0.1], [0.6, 0.3, 0.1], [0.2, 0.7, 0.1], [0.1, 0.8, 0.1]])
    with pytest.warns(UndefinedMetricWarning, match="present"):
        auc = roc_auc(y, probs)
    expected = np.mean([skm.roc_auc_score(y == k, probs[:, k]) for k in (0, 1)])
    assert auc == pytest.approx(expected)


# --------------------------------------------------------------------------- accuracy, log-loss


@FAST
@given(labels())
def test_accuracy_matches_sklearn(data):
    _, y_true, y_pred = data
    assert accuracy(y_true, y_pred) == pytest.approx(skm.accuracy_score(y_true, y_pred))


def test_accuracy_of_nothing_is_nan():
    assert np.isnan(accuracy(np.array([], dtype=int), np.array([], dtype=int)))


@FAST
@given(scored())
def test_log_loss_matches_sklearn(data):
    K, y, probs = data
    got = log_loss(y, probs)
    assert got >= 0.0
    assert got == pytest.approx(skm.log_loss(y, probs, labels=np.arange(K)), rel=1e-9)


def test_log_loss_of_a_confident_mistake_is_finite():
    loss = log_loss(np.array([0]), np.array([[0.0, 1.0]]))
    assert np.isfinite(loss)
    assert loss == pytest.approx(-np.log(1e-15))


def test_log_loss_of_uniform_probabilities_is_log_k():
    y = np.array([0, 1, 2, 1])
    assert log_loss(y, np.full((4, 3), 1 / 3)) == pytest.approx(np.log(3))


# --------------------------------------------------------------------------- evaluate_predictions


def test_evaluate_predictions_holds_every_metric():
    y = np.array([0, 0, 1, 1, 2, 2])
    probs = np.array([
        [0.7, 0.2, 0.1],
        [0.2, 0.5, 0.3],   # true 0, predicted 1
        [0.1, 0.8, 0.1],
        [0.3, 0.6, 0.1],
        [0.1, 0.1, 0.8],
        [0.5, 0.2, 0.3],   # true 2, predicted 0
    ])
    out = evaluate_predictions(y, probs, class_names=["a", "b", "c"])
    assert {"accuracy", "loss", "confusion_matrix", "per_class", "roc_auc"} <= set(out)
    assert out["n_samples"] == 6
    assert out["accuracy"] == pytest.approx(4 / 6)
    assert out["loss"] == pytest.approx(skm.log_loss(y, probs))
    assert out["log_loss"] == out["loss"]
    # rows are the true class
    assert out["confusion_matrix"] == [[1, 1, 0], [0, 2, 0], [1, 0, 1]]
    assert list(out["per_class"]) == ["a", "b", "c"]
    for rates in out["per_class"].values():
        assert {"precision", "recall", "f1", "fpr", "tpr", "support"} <= set(rates)
    assert out["per_class"]["b"]["precision"] == pytest.approx(2 / 3)
    assert out["per_class"]["c"]["recall"] == 0.5
    assert out["per_class"]["a"]["fpr"] == 0.25
    assert out["per_class"]["a"]["support"] == 2
    assert out["roc_auc"] == pytest.approx(
        skm.roc_auc_score(y, probs, multi_class="ovr", average="macro")
    )


def test_evaluate_predictions_reports_a_given_loss_and_names_classes_by_default():
    y = np.array([0, 1])
    probs = np.array([[0.6, 0.4], [0.3, 0.7]])
    out = evaluate_predictions(y, probs, loss=0.123)
    assert out["loss"] == 0.123
    assert out["log_loss"] == pytest.approx(skm.log_loss(y, probs))
    assert list(out["per_class"]) == ["0", "1"]
    assert out["roc_auc"] == 1.0
