"""`make bench-soak`'s figure: the least-squares slope of a worker's RSS against time after the
warm-up, in MiB per minute, and its verdict against 1 MiB/min."""

from __future__ import annotations

import math

import pytest

from bench.runner import Run
from bench.soak import after_warmup, samples_by_worker, slope_mib_per_min, verdict


def test_the_slope_is_the_least_squares_one() -> None:
    # x = 0, 1, 2 (mean 1), y = 100, 101, 102.5 (mean 101.1667): Sxy = (-1)(-1.1667) + 0 +
    # (1)(1.3333) = 2.5, Sxx = 2: slope 1.25 MiB/min.
    assert slope_mib_per_min([(0.0, 100.0), (1.0, 101.0), (2.0, 102.5)]) == pytest.approx(1.25)
    # A flat series with one outlier in the middle has no slope.
    assert slope_mib_per_min([(1.0, 50.0), (2.0, 80.0), (3.0, 50.0)]) == pytest.approx(0.0)


def test_too_few_samples_or_no_time_between_them_give_no_slope() -> None:
    assert math.isnan(slope_mib_per_min([(0.0, 1.0), (1.0, 2.0)]))
    assert math.isnan(slope_mib_per_min([(1.0, 1.0), (1.0, 2.0), (1.0, 3.0)]))


def test_the_warm_up_is_left_out() -> None:
    samples = [(0.5, 90.0), (0.99, 95.0), (1.0, 100.0), (2.0, 100.5)]
    assert after_warmup(samples, 1.0) == [(1.0, 100.0), (2.0, 100.5)]


def test_every_worker_must_be_under_the_limit_and_every_one_needs_a_slope() -> None:
    assert verdict({1: 0.2, 2: 0.99}) == "met"
    assert verdict({1: 0.2, 2: 1.0}) == "NOT met"
    assert verdict({1: -3.0}) == "met"
    assert verdict({1: 0.2, 2: math.nan}) == "invalid"
    assert verdict({}) == "invalid"


def test_samples_are_minutes_since_the_load_began_and_mib_per_worker() -> None:
    runs = [
        Run(0, "x", "single", 16, 5, rss_kib={7: 1024, 8: 2048}, wrk_end=130.0),
        Run(1, "x", "single", 16, 5, rss_kib={7: 1536, 8: 2048}, wrk_end=160.0),
        Run(2, "x", "single", 16, 5, error="failed", wrk_end=190.0),
    ]
    assert samples_by_worker(runs, start=100.0) == {
        7: [(0.5, 1.0), (1.0, 1.5)],
        8: [(0.5, 2.0), (1.0, 2.0)],
    }
