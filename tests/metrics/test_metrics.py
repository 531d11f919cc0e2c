"""Metrics agree with scikit-learn and with the lecture, and degenerate input warns instead of failing."""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pytest
import sklearn.metrics as skm
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from sklearn.preprocessing import label_binarize

from neuralab import NeuralabError
from neuralab.metrics import (
    OperatingPoint,
    UndefinedMetricWarning,
    accuracy,
    average_precision,
    confusion_matrix,
    evaluate_predictions,
    log_loss,
    normalized_confusion,
    per_class,
    pr_curves,
    rates_at_threshold,
    roc_auc,
    roc_auc_scores,
    roc_curves,
    threshold_for_fpr,
)
from neuralab.metrics.thresholds import TooFewNegativesWarning

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
        assert 0.0 <= auc <= 1.0 + 1e-12


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


# --------------------------------------------------------------------------- helpers for the new metrics


def recorded(fn, *args, **kwargs):
    """(result, warnings raised) with every warning recorded."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = fn(*args, **kwargs)
    return out, caught


def ours(caught):
    """The UndefinedMetricWarnings among ``caught``, after checking nothing else was raised
    (no RuntimeWarning from 0/0, no warning of scikit-learn's own leaking through)."""
    assert all(issubclass(w.category, UndefinedMetricWarning) for w in caught), \
        [str(w.message) for w in caught]
    return caught


def defined_classes(y, K, need_negatives):
    """The classes whose one-vs-rest problem is defined (binary: class 1 only)."""
    ks = [1] if K == 2 else list(range(K))
    return [k for k in ks if np.any(y == k) and (not need_negatives or not np.all(y == k))]


LECTURE_Y = np.array([1] * 8 + [0] * 4)
# scores that give the lecture's counts at 0.5: TP 6, FN 2, FP 1, TN 3
LECTURE_S = np.array([.95, .9, .8, .75, .7, .6, .4, .3, .55, .2, .1, .05])


# --------------------------------------------------------------------------- normalised confusion


@FAST
@given(labels())
def test_normalized_confusion_is_sklearns_normalize_true_with_nan_rows(data):
    K, y_true, y_pred = data
    cm = confusion_matrix(y_true, y_pred, K)
    out, caught = recorded(normalized_confusion, cm)
    absent = np.bincount(y_true, minlength=K) == 0
    assert out.shape == (K, K) and out.dtype == float
    assert bool(ours(caught)) == absent.any()
    np.testing.assert_array_equal(np.isnan(out).all(axis=1), absent)
    assert not np.isnan(out[~absent]).any()
    np.testing.assert_allclose(out[~absent].sum(axis=1), 1.0)
    expected = skm.confusion_matrix(y_true, y_pred, labels=np.arange(K), normalize="true")
    np.testing.assert_allclose(out[~absent], expected[~absent])


def test_normalized_confusion_names_the_empty_row_and_rejects_a_non_square_matrix():
    with pytest.warns(UndefinedMetricWarning, match="class cancer sums to 0"):
        out = normalized_confusion(np.array([[3, 1], [0, 0]]), class_names=["healthy", "cancer"])
    assert out[0].tolist() == [0.75, 0.25] and np.isnan(out[1]).all()
    with pytest.raises(NeuralabError, match=r"cm must be a square .* got shape \(2, 3\)"):
        normalized_confusion(np.zeros((2, 3)))


# --------------------------------------------------------------------------- curves


@FAST
@given(scored())
def test_roc_curves_are_sklearns_one_vs_rest_curves(data):
    K, y, probs = data
    curves, caught = recorded(roc_curves, y, probs)
    expected_keys = defined_classes(y, K, need_negatives=True)
    assert list(curves) == expected_keys
    skipped = (1 if K == 2 else K) - len(expected_keys)
    assert len(ours(caught)) == (1 if skipped else 0)
    for k in expected_keys:
        for got, want in zip(curves[k], skm.roc_curve(y == k, probs[:, k]), strict=True):
            np.testing.assert_array_equal(got, want)
        fpr, tpr, thresholds = curves[k]
        assert fpr[0] == tpr[0] == 0.0 and fpr[-1] == tpr[-1] == 1.0
        assert np.all(np.diff(fpr) >= 0) and np.all(np.diff(tpr) >= 0)
        assert thresholds[0] == np.inf


@FAST
@given(scored())
def test_pr_curves_are_sklearns_one_vs_rest_curves(data):
    K, y, probs = data
    curves, caught = recorded(pr_curves, y, probs)
    expected_keys = defined_classes(y, K, need_negatives=False)
    assert list(curves) == expected_keys
    assert bool(ours(caught)) == ((1 if K == 2 else K) > len(expected_keys))
    for k in expected_keys:
        for got, want in zip(curves[k], skm.precision_recall_curve(y == k, probs[:, k]), strict=True):
            np.testing.assert_array_equal(got, want)


def test_a_class_absent_has_no_curve_and_a_warning():
    y = np.array([0, 0, 1, 1])
    probs = np.array([[.8, .1, .1], [.6, .3, .1], [.2, .7, .1], [.1, .8, .1]])
    with pytest.warns(UndefinedMetricWarning, match=r"ROC curve is undefined for class 2 \(absent"):
        assert list(roc_curves(y, probs)) == [0, 1]
    with pytest.warns(UndefinedMetricWarning, match=r"precision-recall curve .* class 2 \(absent"):
        assert list(pr_curves(y, probs)) == [0, 1]
    # a class that is alone in y_true has a PR curve but no ROC curve (no negatives)
    with pytest.warns(UndefinedMetricWarning, match=r"class 0 \(the only class"):
        assert roc_curves(np.zeros(3, dtype=int), probs[:3]) == {}
    with pytest.warns(UndefinedMetricWarning, match=r"class 1, 2 \(absent from y_true\); skipped"):
        assert list(pr_curves(np.zeros(3, dtype=int), probs[:3])) == [0]


def test_binary_curves_are_for_the_positive_class_only():
    probs = np.c_[1 - LECTURE_S, LECTURE_S]
    fpr, tpr, thresholds = roc_curves(LECTURE_Y, probs)[1]
    assert list(roc_curves(LECTURE_Y, probs)) == [1]
    assert fpr.tolist() == [0, 0, 0, 0.25, 0.25, 1]
    assert tpr.tolist() == [0, 0.125, 0.75, 0.75, 1, 1]
    assert list(pr_curves(LECTURE_Y, probs)) == [1]


@pytest.mark.parametrize("bad, match", [
    (dict(y_true=[0, 1, 1], probs=np.full((2, 2), .5)), r"y_true must have shape \(2,\)"),
    (dict(y_true=[0, 3], probs=np.full((2, 3), .5)), r"class indices 0..2 .* got 3"),
    (dict(y_true=[0, -1], probs=np.full((2, 3), .5)), r"got -1"),
    (dict(y_true=[0, 1], probs=np.full(2, .5)), r"probs must have shape \(n_samples, n_classes\)"),
    (dict(y_true=[0, 1], probs=np.full((2, 1), 1.)), r"n_classes >= 2, got shape \(2, 1\)"),
    (dict(y_true=[0, 1], probs=np.array([[.5, np.nan], [.5, .5]])), r"probs must be finite"),
])
@pytest.mark.parametrize("fn", [roc_curves, pr_curves, roc_auc_scores, average_precision,
                                evaluate_predictions])
def test_malformed_input_raises_a_one_line_neuralab_error(fn, bad, match):
    with pytest.raises(NeuralabError, match=match) as err:
        fn(**bad)
    assert "\n" not in str(err.value)


# --------------------------------------------------------------------------- areas under the curves


@FAST
@given(scored())
def test_roc_auc_scores_match_sklearn(data):
    K, y, probs = data
    out, caught = recorded(roc_auc_scores, y, probs)
    ks = defined_classes(y, K, need_negatives=True)
    per = out["per_class"]
    assert list(per) == ([1] if K == 2 else list(range(K)))
    assert bool(ours(caught)) == (len(ks) < len(per))
    for k, auc in per.items():
        if k in ks:
            assert auc == pytest.approx(skm.roc_auc_score(y == k, probs[:, k]))
        else:
            assert math.isnan(auc)
    # macro averages the defined classes; it is what roc_auc() has always returned
    expected_macro = np.mean([per[k] for k in ks]) if ks else np.nan
    np.testing.assert_allclose(out["macro"], expected_macro, equal_nan=True)
    np.testing.assert_array_equal(out["macro"], quiet(roc_auc, y, probs))
    if K == 2:
        assert set(out) == {"per_class", "binary", "macro", "micro"}
        np.testing.assert_array_equal([out["binary"], out["micro"]], [out["macro"]] * 2)
        if ks:
            assert out["binary"] == pytest.approx(skm.roc_auc_score(y, probs[:, 1]))
    else:
        assert set(out) == {"per_class", "macro", "micro"}
        Y = label_binarize(y, classes=np.arange(K))
        assert out["micro"] == pytest.approx(skm.roc_auc_score(Y, probs, average="micro"))
        assert out["micro"] == pytest.approx(skm.roc_auc_score(Y.ravel(), probs.ravel()))
        if len(ks) == K:
            assert out["macro"] == pytest.approx(
                skm.roc_auc_score(y, probs, multi_class="ovr", average="macro", labels=np.arange(K)))


@FAST
@given(scored())
def test_average_precision_matches_sklearn(data):
    K, y, probs = data
    out, caught = recorded(average_precision, y, probs)
    ks = defined_classes(y, K, need_negatives=False)
    per = out["per_class"]
    assert bool(ours(caught)) == (len(ks) < len(per))
    for k, ap in per.items():
        if k in ks:
            assert ap == pytest.approx(skm.average_precision_score(y == k, probs[:, k]))
            assert 0.0 <= ap <= 1.0 + 1e-12  # sklearn sums rounded steps
        else:
            assert math.isnan(ap)
    expected_macro = np.mean([per[k] for k in ks]) if ks else np.nan
    np.testing.assert_allclose(out["macro"], expected_macro, equal_nan=True)
    if K == 2:
        np.testing.assert_array_equal([out["binary"], out["micro"]], [out["macro"]] * 2)
    else:
        Y = label_binarize(y, classes=np.arange(K))
        assert out["micro"] == pytest.approx(skm.average_precision_score(Y, probs, average="micro"))
        if len(ks) == K:
            assert out["macro"] == pytest.approx(
                skm.average_precision_score(Y, probs, average="macro"))


def test_areas_with_a_class_absent_are_nan_with_a_warning_and_the_rest_still_count():
    y = np.array([0, 0, 1, 1])
    probs = np.array([[.8, .1, .1], [.6, .3, .1], [.2, .7, .1], [.1, .8, .1]])
    names = ["cat", "dog", "fox"]
    with pytest.warns(UndefinedMetricWarning, match=r"ROC AUC is undefined for class fox .*macro"):
        auc = roc_auc_scores(y, probs, class_names=names)
    assert math.isnan(auc["per_class"]["fox"])
    assert auc["per_class"]["cat"] == auc["per_class"]["dog"] == 1.0
    assert auc["macro"] == 1.0
    assert auc["micro"] == pytest.approx(skm.roc_auc_score(label_binarize(y, classes=[0, 1, 2]).ravel(),
                                                           probs.ravel()))
    with pytest.warns(UndefinedMetricWarning, match="average precision is undefined for class fox"):
        ap = average_precision(y, probs, class_names=names)
    assert math.isnan(ap["per_class"]["fox"]) and ap["macro"] == 1.0


@pytest.mark.parametrize("fn", [roc_auc_scores, average_precision])
def test_binary_areas_with_one_class_are_nan(fn):
    with pytest.warns(UndefinedMetricWarning, match="class 1 \\(absent from y_true\\)"):
        out = fn(np.zeros(3, dtype=int), np.full((3, 2), .5))
    assert all(math.isnan(out[key]) for key in ("binary", "macro", "micro"))


def test_class_names_must_name_every_class():
    with pytest.raises(NeuralabError, match=r"class_names must name the 3 classes, got 2"):
        roc_auc_scores(np.array([0, 1, 2]), np.eye(3), class_names=["a", "b"])


# --------------------------------------------------------------------------- thresholds


@st.composite
def binary_scores(draw):
    """(y, scores, max_fpr) with both classes present; scores often tied; max_fpr sometimes
    exactly an attainable FPR k / n_negatives, the edge of the constraint."""
    n = draw(st.integers(2, 50))
    y = np.array(draw(st.lists(st.integers(0, 1), min_size=n, max_size=n)))
    y[:2] = [0, 1]
    grid = draw(st.sampled_from([None, 2, 5, 20]))
    seed = draw(st.integers(0, 2**31))
    s = np.random.default_rng(seed).uniform(-3, 3, size=n)
    if grid is not None:
        s = np.round(s * grid / 6) / grid
    n_neg = int(np.sum(y == 0))
    if draw(st.booleans()):
        max_fpr = draw(st.integers(0, n_neg)) / n_neg
    else:
        max_fpr = draw(st.floats(0.0, 1.0))
    return y, s, max_fpr


def brute_force(y, s, max_fpr):
    """Every threshold t in the scores and +inf: (tpr, fpr, t) for those with FPR <= max_fpr."""
    pos = y == 1
    out = []
    for t in [*np.unique(s), np.inf]:
        pred = s >= t
        fpr = np.sum(pred & ~pos) / np.sum(~pos)
        tpr = np.sum(pred & pos) / np.sum(pos)
        if fpr <= max_fpr:
            out.append((tpr, fpr, t))
    return out


@FAST
@given(binary_scores())
def test_threshold_for_fpr_gives_the_highest_tpr_within_the_fpr_limit(data):
    y, s, max_fpr = data
    op, caught = recorded(threshold_for_fpr, y, s, max_fpr=max_fpr)
    feasible = brute_force(y, s, max_fpr)
    best_tpr = max(tpr for tpr, _, _ in feasible)
    assert op.fpr <= max_fpr
    assert op.tpr == pytest.approx(best_tpr)
    # of the thresholds that reach it, the one with the fewest false positives
    assert op.fpr == pytest.approx(min(fpr for tpr, fpr, _ in feasible if tpr == pytest.approx(best_tpr)))
    assert op.max_fpr == max_fpr
    # the rates are those of the threshold applied to the same data
    again = quiet(rates_at_threshold, y, s, op.threshold)
    assert (again.fpr, again.tpr, again.tp, again.fp, again.fn, again.tn) == \
        (op.fpr, op.tpr, op.tp, op.fp, op.fn, op.tn)
    np.testing.assert_array_equal(again.precision, op.precision)
    # a warning exactly when nothing but "never predict positive" keeps the limit, and one
    # when the data has too few negatives to estimate max_fpr

    few = [w for w in ours(caught) if issubclass(w.category, TooFewNegativesWarning)]
    n_neg = int(np.count_nonzero(y == 0))
    assert bool(few) == (0 < n_neg and max_fpr > 0 and n_neg * max_fpr < 1)
    assert bool([w for w in ours(caught) if w not in few]) == (best_tpr == 0)
    if best_tpr == 0:
        assert op.threshold == np.inf and op.tp == op.fp == 0 and op.fpr == op.tpr == 0.0
    else:
        assert op.threshold in s


def test_threshold_for_fpr_on_the_lecture_example_and_the_spam_filter():
    op = threshold_for_fpr(LECTURE_Y, LECTURE_S, max_fpr=0.25)
    assert (op.threshold, op.fpr, op.tpr) == (0.3, 0.25, 1.0)
    assert op.precision == pytest.approx(8 / 9)
    with pytest.warns(TooFewNegativesWarning, match="only 4 negatives"):  # 1/0.2 = 5 needed
        op = threshold_for_fpr(LECTURE_Y, LECTURE_S, max_fpr=0.2)
    assert (op.threshold, op.fpr, op.tpr, op.precision) == (0.6, 0.0, 0.75, 1.0)
    assert op.as_dict() == {"threshold": 0.6, "fpr": 0.0, "tpr": 0.75, "precision": 1.0,
                            "tp": 6, "fp": 0, "fn": 2, "tn": 4, "max_fpr": 0.2}
    # spam filter: choose a threshold for FPR <= 1 % on validation data, then score it on test
    rng = np.random.default_rng(0)
    y_val, y_test = rng.integers(0, 2, 2000), rng.integers(0, 2, 2000)
    s_val, s_test = rng.normal(2.0 * y_val), rng.normal(2.0 * y_test)
    op = threshold_for_fpr(y_val, s_val, max_fpr=0.01)
    assert op.fpr <= 0.01 and 0.1 < op.tpr < 0.5
    test = rates_at_threshold(y_test, s_test, op.threshold)
    assert test.max_fpr is None and test.fpr < 0.03 and abs(test.tpr - op.tpr) < 0.1


def test_threshold_for_fpr_accepts_any_two_labels_with_pos_label():
    labels_ = np.where(LECTURE_Y == 1, "spam", "ham")
    op = threshold_for_fpr(labels_, LECTURE_S, max_fpr=0.0, pos_label="spam")
    assert (op.threshold, op.tpr) == (0.6, 0.75)
    # with ham as the positive class, its score must rise as spam's falls
    op = threshold_for_fpr(labels_, -LECTURE_S, max_fpr=0.0, pos_label="ham")
    assert op.tpr == 0.75  # -0.3 lets 3 of the 4 healthy through before any spam


def test_threshold_for_fpr_when_only_never_positive_keeps_the_limit():
    # the highest score belongs to a negative: any threshold that flags anyone flags it
    with pytest.warns(UndefinedMetricWarning, match="never predicting positive"):
        op = threshold_for_fpr(np.array([0, 1, 1]), np.array([0.9, 0.5, 0.4]), max_fpr=0.0)
    assert op.threshold == np.inf
    assert (op.fpr, op.tpr, op.tp, op.fp, op.fn, op.tn) == (0.0, 0.0, 0, 0, 2, 1)
    assert math.isnan(op.precision)


def test_threshold_for_fpr_without_positives_or_negatives_warns():
    with pytest.warns(UndefinedMetricWarning, match="no positive"):
        op = threshold_for_fpr(np.zeros(3, dtype=int), np.array([.1, .5, .9]), max_fpr=0.5)
    assert op.threshold == np.inf and op.fpr == 0.0 and math.isnan(op.tpr)
    with pytest.warns(UndefinedMetricWarning, match="no negative"):
        op = threshold_for_fpr(np.ones(3, dtype=int), np.array([.1, .5, .9]), max_fpr=0.0)
    assert op.threshold == 0.1 and op.tpr == 1.0 and math.isnan(op.fpr)


@pytest.mark.parametrize("max_fpr", [-0.01, 1.5, float("nan"), float("inf"), "0.01", None, True])
def test_threshold_for_fpr_rejects_a_max_fpr_outside_0_1(max_fpr):
    with pytest.raises(NeuralabError, match=r"max_fpr must be a number in \[0, 1\], got ") as err:
        threshold_for_fpr(LECTURE_Y, LECTURE_S, max_fpr=max_fpr)
    assert repr(max_fpr) in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("y, s, match", [
    ([0, 1, 2], [.1, .2, .3], "at most two classes"),
    ([0, 1], [[.1, .9], [.2, .8]], "scores must be a 1-D array"),
    ([0, 1, 1], [.1, .2], r"y_true must have shape \(2,\)"),
    ([], [], "empty"),
    ([0, 1], [.1, np.inf], "scores must be finite"),
])
@pytest.mark.parametrize("call", [lambda y, s: threshold_for_fpr(y, s, max_fpr=0.1),
                                  lambda y, s: rates_at_threshold(y, s, 0.5)])
def test_binary_threshold_functions_reject_malformed_input(call, y, s, match):
    with pytest.raises(NeuralabError, match=match):
        call(np.array(y), np.array(s))


@FAST
@given(binary_scores(), st.floats(-4, 4))
def test_rates_at_threshold_match_sklearn(data, threshold):
    y, s, _ = data
    r, caught = recorded(rates_at_threshold, y, s, threshold)
    pred = (s >= threshold).astype(int)
    tn, fp, fn, tp = skm.confusion_matrix(y, pred, labels=[0, 1]).ravel()
    assert isinstance(r, OperatingPoint)
    assert (r.tp, r.fp, r.fn, r.tn) == (tp, fp, fn, tn)
    assert r.tpr == pytest.approx(skm.recall_score(y, pred))
    assert r.fpr == pytest.approx(fp / (fp + tn))
    np.testing.assert_allclose(r.precision, skm.precision_score(y, pred, zero_division=np.nan),
                               equal_nan=True)
    assert bool(ours(caught)) == (tp + fp == 0)  # precision is the only rate that can be 0/0 here


def test_rates_at_threshold_on_the_lecture_example():
    r = rates_at_threshold(LECTURE_Y, LECTURE_S, 0.5)
    assert (r.tp, r.fn, r.fp, r.tn) == (6, 2, 1, 3)
    assert (r.tpr, r.fpr) == (0.75, 0.25) and r.precision == pytest.approx(6 / 7)
    with pytest.warns(UndefinedMetricWarning, match="precision"):
        never = rates_at_threshold(LECTURE_Y, LECTURE_S, np.inf)
    assert (never.tp, never.fp, never.tpr, never.fpr) == (0, 0, 0.0, 0.0)
    assert math.isnan(never.precision)
    with pytest.raises(NeuralabError, match="threshold must be a number"):
        rates_at_threshold(LECTURE_Y, LECTURE_S, float("nan"))


# --------------------------------------------------------------------------- evaluate_predictions, new keys


NEW_KEYS = {"confusion_matrix_normalized", "roc_auc_macro", "roc_auc_micro", "roc_auc_per_class",
            "average_precision_macro", "average_precision_micro", "average_precision_per_class"}


@FAST
@given(scored())
def test_evaluate_predictions_agrees_with_the_functions_it_gathers(data):
    K, y, probs = data
    names = [f"c{k}" for k in range(K)]
    out = quiet(evaluate_predictions, y, probs, class_names=names)
    assert NEW_KEYS | {"accuracy", "loss", "confusion_matrix", "per_class", "roc_auc"} <= set(out)
    np.testing.assert_array_equal(out["roc_auc"], quiet(roc_auc, y, probs))
    np.testing.assert_array_equal(out["roc_auc_macro"], out["roc_auc"])
    auc = quiet(roc_auc_scores, y, probs, class_names=names)
    ap = quiet(average_precision, y, probs, class_names=names)
    np.testing.assert_array_equal(out["roc_auc_micro"], auc["micro"])
    np.testing.assert_array_equal(out["average_precision_macro"], ap["macro"])
    np.testing.assert_array_equal(out["average_precision_micro"], ap["micro"])
    assert list(out["roc_auc_per_class"]) == list(out["average_precision_per_class"]) == \
        (names[1:] if K == 2 else names)
    cm = np.array(out["confusion_matrix"])
    np.testing.assert_array_equal(out["confusion_matrix_normalized"], quiet(normalized_confusion, cm))
    for rates in out["per_class"].values():
        assert {"precision", "recall", "f1", "fpr", "tpr", "tnr", "support"} <= set(rates)


def test_evaluate_predictions_new_keys_on_a_small_case():
    y = np.array([0, 0, 1, 1, 2, 2])
    probs = np.array([[.7, .2, .1], [.2, .5, .3], [.1, .8, .1],
                      [.3, .6, .1], [.1, .1, .8], [.5, .2, .3]])
    out = evaluate_predictions(y, probs, class_names=["a", "b", "c"])
    assert out["confusion_matrix_normalized"] == [[.5, .5, 0], [0, 1, 0], [.5, 0, .5]]
    for k, name in enumerate("abc"):
        assert out["roc_auc_per_class"][name] == pytest.approx(skm.roc_auc_score(y == k, probs[:, k]))
        assert out["average_precision_per_class"][name] == pytest.approx(
            skm.average_precision_score(y == k, probs[:, k]))
    Y = label_binarize(y, classes=[0, 1, 2])
    assert out["roc_auc_macro"] == pytest.approx(skm.roc_auc_score(y, probs, multi_class="ovr"))
    assert out["roc_auc_micro"] == pytest.approx(skm.roc_auc_score(Y, probs, average="micro"))
    assert out["average_precision_macro"] == pytest.approx(skm.average_precision_score(Y, probs))


def test_evaluate_predictions_with_a_class_absent_warns_and_writes_null(tmp_path):
    from neuralab.runs import write_json

    y = np.array([0, 0, 1, 1])
    probs = np.array([[.8, .1, .1], [.6, .3, .1], [.2, .7, .1], [.1, .8, .1]])
    with pytest.warns(UndefinedMetricWarning):
        out = evaluate_predictions(y, probs, class_names=["a", "b", "c"])
    assert np.isnan(out["confusion_matrix_normalized"][2]).all()
    assert math.isnan(out["roc_auc_per_class"]["c"]) and out["roc_auc_macro"] == 1.0
    assert math.isnan(out["average_precision_per_class"]["c"])
    # metrics.json stays strict JSON: NaN becomes null
    saved = json.loads(write_json(tmp_path / "metrics.json", out).read_text())
    assert saved["confusion_matrix_normalized"][2] == [None, None, None]
    assert saved["roc_auc_per_class"]["c"] is None


def test_a_max_fpr_too_small_to_invert_still_warns_in_one_piece():
    # 1 / 5e-324 overflows to inf: the warning says so instead of failing to print a count
    with pytest.warns(TooFewNegativesWarning, match="needs more than can be counted"):
        op = threshold_for_fpr(np.array([0, 1]), np.array([0.8, -1.4]), max_fpr=5e-324)
    assert op.threshold == np.inf and op.fp == 0
