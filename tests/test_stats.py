"""The ledger's statistics against scipy's own test and against brute force."""
import math

import numpy as np
import pytest
from scipy import stats as sst

from gsnas import stats


def test_welch_interval_is_scipys():
    a, b = [86.1, 86.3, 86.0, 86.6], [87.0, 87.5, 86.6]
    d = stats.difference(a, b)
    ci = sst.ttest_ind(a, b, equal_var=False).confidence_interval(0.95)
    assert (d.lo, d.hi) == pytest.approx((ci.low, ci.high))
    one = stats.against(a, 86.0)
    ci = sst.ttest_1samp(a, 86.0).confidence_interval(0.95)
    assert (one.lo + 86.0, one.hi + 86.0) == pytest.approx((ci.low, ci.high))


def test_one_run_has_no_interval():
    d = stats.difference([1.0], [2.0, 3.0])
    assert not d.known and stats.directional(d) == "inconclusive" and "no interval" in str(d)


@pytest.mark.parametrize("n_a,n_b", [(3, 3), (5, 4), (8, None)])
def test_detectable_difference_has_80_percent_power(n_a, n_b):
    """Brute force: t-tests on simulated runs, the true difference set to the detectable one."""
    delta = stats.detectable(1.0, n_a, n_b)
    rng = np.random.default_rng(0)
    a = rng.normal(delta, 1.0, (20000, n_a))
    if n_b is None:
        p = sst.ttest_1samp(a, 0.0, axis=1).pvalue
    else:
        p = sst.ttest_ind(a, rng.normal(0.0, 1.0, (20000, n_b)), axis=1).pvalue
    assert (p < 0.05).mean() == pytest.approx(0.8, abs=0.015)


@pytest.mark.parametrize("lo,hi,margin,verdict", [
    (-0.3, 0.4, 0.5, "reproduced"), (-0.6, 0.4, 0.5, "inconclusive"), (0.5, 1.2, 0.5, "not reproduced"),
    (-2.0, -0.7, 0.5, "not reproduced")])
def test_equivalence_reading(lo, hi, margin, verdict):
    d = stats.Difference((lo + hi) / 2, 1.0, math.inf, (3, 3), 1.0)
    d = stats.Difference(d.diff, (hi - lo) / 2 / sst.norm.ppf(0.975), math.inf, (3, 3), 1.0)
    assert (d.lo, d.hi) == pytest.approx((lo, hi)) and stats.equivalent(d, margin) == verdict


def test_combined_strata_match_a_single_stratum():
    d = stats.difference([1.0, 1.2, 0.8], [0.0, 0.1, -0.1])
    c = stats.combined([d])
    assert (c.diff, c.se, c.df) == pytest.approx((d.diff, d.se, d.df))


def test_a_papers_table_gives_the_same_interval_as_its_runs_would():
    a, b = [97.0, 97.3, 97.2], [96.9, 97.1, 96.8]
    runs = stats.difference(a, b)
    table = stats.from_summary(np.mean(a), np.std(a, ddof=1), 3, np.mean(b), np.std(b, ddof=1), 3)
    assert (table.lo, table.hi, table.df) == pytest.approx((runs.lo, runs.hi, runs.df))


def test_a_curve_read_between_two_points_is_welch_at_either_point():
    a, below, above = [85.0, 85.4, 85.1], [84.7, 85.1], [86.1, 86.3, 86.6]
    for w, other in ((1.0, below), (0.0, above)):
        d, ref = stats.interpolated(a, below, above, w), stats.difference(a, other)
        assert (d.diff, d.lo, d.hi, d.df) == pytest.approx((ref.diff, ref.lo, ref.hi, ref.df))
    with pytest.raises(ValueError, match="1.5"):
        stats.interpolated(a, below, above, 1.5)


def test_a_curve_read_between_two_points_covers_the_truth_95_percent_of_the_time():
    """Brute force: runs drawn with unequal spreads whose true contrast is 0; the interval must hold 0 ~95 % of times."""
    rng = np.random.default_rng(0)
    w, hits, reps = 0.3, 0, 2000
    for _ in range(reps):
        a, below, above = rng.normal(0.6, 1.0, 3), rng.normal(0.0, 0.5, 3), rng.normal(2.0, 1.5, 4)
        d = stats.interpolated(a, below, above, w)  # truth: 0.6 - (0.3 * 0 + 0.7 * 2.0) = -0.8
        hits += d.lo <= -0.8 <= d.hi
    assert 0.93 <= hits / reps <= 0.975


def test_a_two_group_contrast_is_welchs_difference():
    a, b = [86.1, 86.3, 86.0, 86.6], [87.0, 87.5, 86.6]
    d, ref = stats.contrast([a, b], [1, -1]), stats.difference(a, b)
    assert (d.diff, d.lo, d.hi, d.df) == pytest.approx((ref.diff, ref.lo, ref.hi, ref.df)) and d.n == ref.n
