"""neuralab's NumPy metrics give scikit-learn's numbers, and computing metrics imports
neither scikit-learn nor SciPy."""

from __future__ import annotations

import math
import subprocess
import sys
import warnings

import numpy as np
import pytest
import sklearn.metrics as skm
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.preprocessing import label_binarize as sk_label_binarize

from neuralab import NeuralabError
from neuralab.metrics import UndefinedMetricWarning, confusion_matrix
from neuralab.metrics.ranking import (
    auc,
    average_precision_score,
    label_binarize,
    precision_recall_curve,
    roc_auc_score,
    roc_curve,
)

FAST = settings(max_examples=60, deadline=None)


def same(got, want):
    """Equal shapes and values to 1e-12 (NaN where the reference has NaN)."""
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)


def sk(fn, *args, **kwargs):
    """scikit-learn's result, its warnings silenced."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


def caught(fn, *args, **kwargs):
    """(neuralab's result, the categories of the warnings it raised)."""
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        out = fn(*args, **kwargs)
    return out, [w.category for w in rec]


@st.composite
def binary(draw, min_size=1):
    """(y_true as bool, scores): random scores, or scores on a coarse grid with many ties;
    either class may be missing."""
    n = draw(st.integers(min_size, 40))
    rng = np.random.default_rng(draw(st.integers(0, 2**31)))
    y = rng.random(n) < draw(st.sampled_from([0.0, 0.1, 0.5, 0.9, 1.0]))
    s = rng.random(n)
    if draw(st.booleans()):
        s = np.round(s * draw(st.sampled_from([1, 2, 4])))
    return y, s


@FAST
@given(binary(), st.booleans())
def test_roc_curve_is_sklearns_with_and_without_intermediate_points(data, drop):
    y, s = data
    got, cats = caught(roc_curve, y, s, drop_intermediate=drop)
    for g, w in zip(got, sk(skm.roc_curve, y, s, drop_intermediate=drop), strict=True):
        same(g, w)
    # a warning exactly when a rate is undefined (no negatives, or no positives)
    assert len(cats) == int(y.all()) + int(not y.any())
    assert all(c is UndefinedMetricWarning for c in cats)


@FAST
@given(binary())
def test_precision_recall_curve_and_average_precision_are_sklearns(data):
    y, s = data
    got, cats = caught(precision_recall_curve, y, s)
    for g, w in zip(got, sk(skm.precision_recall_curve, y, s), strict=True):
        same(g, w)
    assert cats == ([] if y.any() else [UndefinedMetricWarning])
    ap, _ = caught(average_precision_score, y, s)
    same(ap, sk(skm.average_precision_score, y, s))


@FAST
@given(binary())
def test_roc_auc_score_and_auc_are_sklearns(data):
    y, s = data
    got, cats = caught(roc_auc_score, y, s)
    same(got, sk(skm.roc_auc_score, y, s) if 0 < y.sum() < y.size else np.nan)
    assert cats == ([] if 0 < y.sum() < y.size else [UndefinedMetricWarning])
    if s.size >= 2:  # the trapezoid rule needs two points
        x = np.sort(s)
        same(auc(x, y.astype(float)), skm.auc(x, y.astype(float)))
        same(auc(x[::-1], y.astype(float)), skm.auc(x[::-1], y.astype(float)))


@FAST
@given(st.integers(3, 6), st.integers(1, 30), st.integers(0, 2**31), st.booleans())
def test_one_hot_and_micro_averages_are_sklearns(K, n, seed, tied):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, K, n)
    P = rng.random((n, K))
    if tied:
        P = np.round(P * 2) / 2
    Y = label_binarize(y, K)
    np.testing.assert_array_equal(Y, sk_label_binarize(y, classes=np.arange(K)))
    same(roc_auc_score(Y.ravel(), P.ravel()), skm.roc_auc_score(Y, P, average="micro"))
    same(average_precision_score(Y.ravel(), P.ravel()), skm.average_precision_score(Y, P, average="micro"))


@FAST
@given(st.integers(1, 6), st.integers(1, 40), st.integers(0, 2**31), st.booleans())
def test_confusion_matrix_is_sklearns_and_skips_labels_out_of_range(K, n, seed, as_float):
    rng = np.random.default_rng(seed)
    # labels -1..K: some pairs fall outside 0..K-1, and sklearn leaves those out
    t, p = rng.integers(-1, K + 1, n), rng.integers(-1, K + 1, n)
    t[0] = rng.integers(0, K)  # at least one label of y_true in range
    if as_float:
        t = t.astype(float)
    got = confusion_matrix(t, p, K)
    want = sk(skm.confusion_matrix, t, p, labels=np.arange(K))
    assert got.dtype == want.dtype == np.int64
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(confusion_matrix(t > 0, p > 0, 2),
                                  sk(skm.confusion_matrix, t > 0, p > 0, labels=np.arange(2)))


@pytest.mark.parametrize("t, p, K, match", [
    ([], [], 2, "empty"),
    ([0, 1], [0], 2, r"y_pred must have shape \(2,\)"),
    ([0.5, 1], [0, 1], 2, "y_true must hold class indices .* got 0.5"),
    (["a", "b"], [0, 1], 2, "y_true must hold class indices .* dtype"),
    ([[0, 1]], [[0, 1]], 2, "y_true must be a 1-D array"),
    ([5, 7], [0, 1], 2, r"at least one class index in 0..1, got only \[5, 7\]"),
    ([0, 1], [0, 1], 0, "n_classes must be a positive integer, got 0"),
])
def test_confusion_matrix_rejects_what_sklearn_rejects_with_a_one_line_error(t, p, K, match):
    with pytest.raises(NeuralabError, match=match) as err:
        confusion_matrix(t, p, K)
    assert "\n" not in str(err.value)


def test_the_curves_reject_malformed_scores():
    with pytest.raises(NeuralabError, match="y_score must be finite"):
        roc_curve([0, 1], [0.5, np.nan])
    with pytest.raises(NeuralabError, match=r"y_true must have shape \(2,\)"):
        precision_recall_curve([0, 1, 1], [0.5, 0.2])
    with pytest.raises(NeuralabError, match="y_score must be a 1-D array"):
        roc_auc_score([0, 1], [[0.5, 0.2]])


def test_computing_metrics_imports_neither_sklearn_nor_scipy():
    code = (
        "import sys, numpy as np\n"
        "import neuralab.metrics as m\n"
        "rng = np.random.default_rng(0)\n"
        "for K in (2, 3):\n"
        "    y = np.arange(30) % K\n"
        "    P = rng.dirichlet(np.ones(K), 30)\n"
        "    m.evaluate_predictions(y, P)\n"
        "    m.roc_curves(y, P); m.pr_curves(y, P); m.roc_auc(y, P)\n"
        "m.threshold_for_fpr(y % 2, P[:, 1], max_fpr=0.2)\n"
        "print(sorted({k.split('.')[0] for k in sys.modules} & {'sklearn', 'scipy'}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("K, absent", [(2, None), (3, None), (10, None), (4, 2)])
def test_both_areas_from_one_sort_are_the_areas_computed_apart(K, absent):
    # ovr_areas sorts each one-vs-rest problem once for ROC AUC and average precision; its
    # numbers are exactly those of the two functions called one problem at a time
    from neuralab.metrics.curves import ovr_areas
    from neuralab.metrics.ranking import average_precision_score, label_binarize, roc_auc_score

    rng = np.random.default_rng(K)
    y = rng.integers(0, K, 500)
    if absent is not None:
        y[y == absent] = (absent + 1) % K
    P = rng.random((500, K)).round(2)  # rounded: many tied scores
    P /= P.sum(axis=1, keepdims=True)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        areas = ovr_areas(y, P)
    assert len(seen) == (0 if absent is None else 2)  # one warning per area
    for area, score in (("roc_auc", roc_auc_score), ("average_precision", average_precision_score)):
        for k in ([1] if K == 2 else range(K)):
            got = areas[area]["per_class"][k]
            if k == absent:
                assert math.isnan(got)
            else:
                assert got == score(y == k, P[:, k])
        if K > 2:
            assert areas[area]["micro"] == score(label_binarize(y, K).ravel(), P.ravel())
