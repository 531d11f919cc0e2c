"""The standardiser's column moments: one pass over blocks of rows, in row ranges side by
side (neuralab.data.preprocess, neuralab.cores)."""

from __future__ import annotations

import threading

import numpy as np
import pytest

import neuralab.data.preprocess as preprocess
from neuralab.cores import in_row_ranges
from neuralab.data.preprocess import Standardizer


@pytest.mark.parametrize("parts", [1, 2, 3])
def test_moments_over_blocks_and_ranges_are_numpy_s_mean_and_std(monkeypatch, parts):
    """Many small blocks (a 4 KiB budget), cut into 1-3 row ranges, with a large offset and
    a constant column: NumPy's two-pass numbers, to float64's last digits."""
    monkeypatch.setattr(preprocess, "MOMENT_BLOCK_BYTES", 4096)
    monkeypatch.setattr(preprocess, "available_cores", lambda: parts)
    rng = np.random.default_rng(7)
    X = (1e6 + rng.normal(size=(5003, 9)) * np.arange(1, 10)).astype(np.float32)
    X[:, 4] = 3.5
    s = Standardizer.fit(X)
    X64 = X.astype(np.float64)
    np.testing.assert_allclose(s.mean, X64.mean(axis=0), rtol=1e-14)
    std = X64.std(axis=0)
    np.testing.assert_allclose(s.scale[std > 0], std[std > 0], rtol=1e-9)
    assert s.scale[4] == 1.0  # a constant column is left unscaled
    again = Standardizer.fit(X)
    assert np.array_equal(again.mean, s.mean) and np.array_equal(again.scale, s.scale)


def test_row_ranges_cut_evenly_in_order_and_run_side_by_side():
    seen = []

    def work(a, b):
        seen.append(threading.current_thread() is threading.main_thread())
        return (a, b)

    assert in_row_ranges(work, 10, 3) == [(0, 3), (3, 6), (6, 10)]
    assert sorted(seen) == [False, False, True]  # the first range here, the others in threads
    assert in_row_ranges(work, 2, 5) == [(0, 1), (1, 2)]  # no empty range


def test_an_error_in_a_range_s_thread_is_raised_once_every_thread_has_ended():
    ended = []

    def work(a, b):
        if a > 0:
            raise MemoryError(f"rows {a}..{b}")
        ended.append(a)
        return a

    with pytest.raises(MemoryError, match="rows 5..10"):
        in_row_ranges(work, 10, 2)
    assert ended == [0]
    assert threading.active_count() == 1 or all(
        not t.name.startswith("neuralab-at-once") for t in threading.enumerate())
