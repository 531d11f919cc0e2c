"""neuralab's seeded splits are scikit-learn's train_test_split rows, without importing it."""

import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from neuralab import NeuralabError
from neuralab.data.splits import train_test_split


@settings(max_examples=300, deadline=None)
@given(labels=st.lists(st.integers(0, 4), min_size=2, max_size=60),
       fraction=st.floats(0.01, 0.99), seed=st.integers(0, 2**32 - 1), stratified=st.booleans(),
       ordered=st.booleans())
def test_the_rows_are_scikit_learns_for_every_seed_and_fraction(labels, fraction, seed, stratified,
                                                              ordered):
    from sklearn.model_selection import train_test_split as sk_split

    y = np.sort(labels) if ordered else np.asarray(labels)
    n, counts = len(y), np.bincount(y)
    n_test = int(np.ceil(fraction * n))
    stratify = (y if stratified and counts[counts > 0].min() >= 2
                and n_test >= np.count_nonzero(counts) else None)
    try:
        tr, te = sk_split(np.arange(n), test_size=fraction, random_state=seed, stratify=stratify)
    except ValueError:
        with pytest.raises(NeuralabError, match=f"^cannot split {n} samples"):
            train_test_split(np.zeros((n, 1)), y, test_fraction=fraction, seed=seed,
                             stratified=stratified)
        return
    got = train_test_split(np.zeros((n, 1)), y, test_fraction=fraction, seed=seed,
                           stratified=stratified)
    np.testing.assert_array_equal(got[4], np.sort(tr))
    np.testing.assert_array_equal(got[5], np.sort(te))


def test_a_split_imports_neither_scikit_learn_nor_scipy():
    code = ("import sys, numpy as np\n"
            "from neuralab.data.splits import three_way_split\n"
            "y = np.repeat([0, 1, 2], 20)\n"
            "three_way_split(np.zeros((60, 1)), y, val_fraction=0.2, test_fraction=0.2, seed=3)\n"
            "print(sorted(m for m in ('sklearn', 'scipy') if m in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
