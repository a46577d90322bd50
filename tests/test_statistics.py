"""`paired_difference` against a paired t-test written out here with numpy and scipy.stats.t."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from reports.statistics import paired_difference

REFERENCE = {0: 60.0, 1: 70.0, 2: 65.0, 3: 75.0, 4: 68.0}  # accuracy points; the seed-to-seed spread is large


def by_hand(method: dict, reference: dict) -> tuple[float, float, float, float]:
    """Mean difference, 95% interval and two-sided p over the shared seeds, from the t distribution."""
    seeds = sorted(method.keys() & reference.keys())
    d = np.array([method[s] - reference[s] for s in seeds])
    n = len(d)
    se = d.std(ddof=1) / np.sqrt(n)
    half = stats.t.ppf(0.975, n - 1) * se
    p = 2 * stats.t.sf(abs(d.mean() / se), n - 1)
    return d.mean(), d.mean() - half, d.mean() + half, p


def test_a_clear_difference_is_significant():
    """Ahead by 3 ± 0.3 points on every seed: far less than the spread across seeds, yet certain."""
    ahead = dict(zip(REFERENCE, [2.7, 3.0, 3.3, 2.8, 3.2]))
    method = {s: REFERENCE[s] + ahead[s] for s in REFERENCE}
    d = paired_difference(method, REFERENCE)
    mean, low, high, p = by_hand(method, REFERENCE)
    assert d.n == 5
    assert d.mean == pytest.approx(3.0, abs=1e-12) and d.mean == pytest.approx(mean, abs=1e-12)
    assert (d.low, d.high) == (pytest.approx(low, abs=1e-9), pytest.approx(high, abs=1e-9))
    assert d.p == pytest.approx(p, rel=1e-9)
    assert 0 < d.low < 3 < d.high and d.p < 0.01 and not d.contains_zero


def test_differences_symmetric_around_zero_are_not_significant():
    method = {s: REFERENCE[s] + delta for s, delta in zip(REFERENCE, [-1.0, 1.0, -2.0, 2.0, 0.0])}
    d = paired_difference(method, REFERENCE)
    mean, low, high, p = by_hand(method, REFERENCE)
    assert d.n == 5 and d.mean == pytest.approx(0.0, abs=1e-12)
    assert (d.low, d.high) == (pytest.approx(low, abs=1e-9), pytest.approx(high, abs=1e-9))
    assert d.p == pytest.approx(p) and d.p > 0.9
    assert d.low < 0 < d.high and d.contains_zero


def test_only_the_seeds_both_have_are_paired():
    """Seeds 0 and 3 would swing the mean by 100 points if they were used."""
    method = {0: 200.0, 1: 71.0, 2: 67.5}
    reference = {1: 70.0, 2: 65.0, 3: -100.0}
    d = paired_difference(method, reference)
    mean, low, high, p = by_hand({1: 71.0, 2: 67.5}, {1: 70.0, 2: 65.0})
    assert d.n == 2 and d.mean == pytest.approx(1.75) and d.mean == pytest.approx(mean)
    assert (d.low, d.high, d.p) == (pytest.approx(low), pytest.approx(high), pytest.approx(p))


def test_fewer_than_two_shared_seeds_give_no_interval():
    one = paired_difference({0: 72.0, 1: 80.0}, {1: 70.0, 2: 60.0})
    assert (one.n, one.mean, one.low, one.high, one.p) == (1, pytest.approx(10.0), None, None, None)
    assert not one.contains_zero  # no interval: nothing to mark
    none = paired_difference({0: 72.0}, {1: 70.0})
    assert (none.n, none.mean, none.p) == (0, None, None)


def test_undefined_values_are_not_paired():
    """Joint training has no A-bar: a None is a missing seed, not a zero."""
    d = paired_difference({0: 70.0, 1: None, 2: 72.0}, {0: 60.0, 1: 61.0, 2: 62.0})
    assert d.n == 2 and d.mean == pytest.approx(10.0)
