"""Statuses from effect sizes and the minimum sample count."""

import pytest

from app.drift.status import Status, status
from app.settings import DriftSettings

T = DriftSettings(min_samples=100).thresholds()


@pytest.mark.parametrize(
    ("psi", "js", "missing", "rows", "expected"),
    [
        (0.0, 0.0, 0.0, 99, Status.INSUFFICIENT_DATA),
        (5.0, 0.9, 0.0, 99, Status.INSUFFICIENT_DATA),
        (0.0, 0.0, 0.0, 100, Status.OK),
        (0.0999, 0.0999, 0.0499, 100, Status.OK),
        (0.1, 0.0, 0.0, 100, Status.WARNING),
        (0.0, 0.1, 0.0, 100, Status.WARNING),
        (0.0, 0.0, -0.05, 100, Status.WARNING),
        (0.25, 0.0, 0.0, 100, Status.DRIFT),
        (0.0, 0.2, 0.0, 100, Status.DRIFT),
        (0.0, 0.0, 0.15, 100, Status.DRIFT),
        (None, None, 0.0, 100, Status.INSUFFICIENT_DATA),
        (None, None, 0.9, 100, Status.DRIFT),
    ],
)
def test_status_boundaries(
    psi: float | None, js: float | None, missing: float, rows: int, expected: Status
) -> None:
    assert status(psi, js, missing, rows, T) is expected


def test_levels_for_gauges() -> None:
    assert [s.level for s in Status] == [-1, 0, 1, 2]
