"""Drift statistics: values worked by hand, identities, edge cases."""

import math

import numpy as np
import pytest
from scipy.stats import chisquare

from app.drift.stats import EPSILON, chi_square, compare, js_distance, proportions, psi


def test_psi_worked_by_hand() -> None:
    # (0.25 - 0.5) ln(0.25/0.5) + (0.75 - 0.5) ln(0.75/0.5)
    expected = -0.25 * math.log(0.5) + 0.25 * math.log(1.5)
    assert psi(np.array([0.5, 0.5]), np.array([0.25, 0.75])) == pytest.approx(expected, abs=1e-15)
    assert expected == pytest.approx(0.274653, abs=1e-6)


def test_psi_of_a_distribution_with_itself_is_zero() -> None:
    p = np.array([0.1, 0.2, 0.3, 0.4])
    assert psi(p, p) == 0.0


def test_empty_bins_are_clamped_to_epsilon() -> None:
    value = psi(np.array([1.0, 0.0]), np.array([0.0, 1.0]))
    assert value == pytest.approx(2 * (1 - EPSILON) * math.log(1 / EPSILON))


def test_js_distance_bounds() -> None:
    assert js_distance(np.array([0.5, 0.5]), np.array([0.5, 0.5])) == 0.0
    assert js_distance(np.array([1.0, 0.0]), np.array([0.0, 1.0])) == pytest.approx(1.0)
    assert js_distance(np.array([1.0]), np.array([1.0])) == 0.0


def test_js_distance_worked_by_hand() -> None:
    # JS distance = sqrt(JSD), JSD = KL(p || m) / 2 + KL(q || m) / 2 with m = (p + q) / 2, and
    # every log base 2 (so the distance is in [0, 1]). p = (1, 0), q = (1/2, 1/2): m = (3/4, 1/4)
    #   KL(p || m) = 1 log2(1 / (3/4))                          = 2 - log2 3
    #   KL(q || m) = 1/2 log2((1/2) / (3/4)) + 1/2 log2((1/2) / (1/4)) = 1 - (log2 3) / 2
    #   JSD = 3/2 - (3/4) log2 3 = 0.311278..., distance = 0.557923...
    # (natural logs would give sqrt(0.311278 ln 2) = 0.464502...)
    expected = math.sqrt(1.5 - 0.75 * math.log2(3))
    assert expected == pytest.approx(0.557923, abs=1e-6)
    assert js_distance(np.array([1.0, 0.0]), np.array([0.5, 0.5])) == pytest.approx(
        expected, abs=1e-12
    )
    assert js_distance(np.array([0.5, 0.5]), np.array([1.0, 0.0])) == pytest.approx(
        expected, abs=1e-12
    )


def test_chi_square_matches_scipy_on_unsmoothed_input() -> None:
    counts = np.array([30, 50, 20])
    ref = np.array([0.3, 0.4, 0.3])
    result = chi_square(ref, counts)
    direct = chisquare(counts, ref * 100)
    assert result.statistic == pytest.approx(direct.statistic)
    assert result.p_value == pytest.approx(direct.pvalue)


def test_no_observations_means_no_statistics() -> None:
    drift = compare(("a", "b"), (0.5, 0.5), np.array([0, 0]))
    assert drift.psi is None
    assert drift.js_distance is None
    assert drift.missing_rate is None


def test_single_bin_features_never_drift() -> None:
    drift = compare(("all",), (1.0,), np.array([42]), categorical=True)
    assert drift.psi == 0.0
    assert drift.js_distance == 0.0


def test_missing_rate_difference() -> None:
    drift = compare(("a",), (1.0,), np.array([6]), missing=4, reference_missing_rate=0.1)
    assert drift.missing_rate == pytest.approx(0.4)
    assert drift.missing_rate_difference == pytest.approx(0.3)


def test_counts_merge_by_addition() -> None:
    a, b = np.array([1, 5, 0, 2]), np.array([3, 0, 0, 4])
    merged = proportions(a + b)
    assert merged.tolist() == pytest.approx([4 / 15, 5 / 15, 0, 6 / 15])
