"""A cell whose every run must answer a number of requests (issue 29's tails) gets a window long
enough at its slowest warm-up, with headroom for a slower round."""

from __future__ import annotations

from bench.runner import window_for


def test_the_window_covers_the_requests_at_the_slowest_warm_up_with_30_percent_headroom() -> None:
    assert window_for(4.0, 50_000, 2500.0) == 26.0  # 1.3 * 50,000 / 2,500
    assert window_for(30.0, 50_000, 2500.0) == 30.0  # already longer


def test_without_a_request_count_or_a_warm_up_figure_the_window_is_as_asked() -> None:
    assert window_for(4.0, 0, 2500.0) == 4.0
    assert window_for(4.0, 50_000, 0.0) == 4.0
