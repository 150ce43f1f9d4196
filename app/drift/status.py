"""Drift verdicts from effect sizes: PSI, Jensen-Shannon distance and the change in the missing
rate, against thresholds, once a window holds enough rows. p-values are not used: with enough
rows every difference is "significant", while effect sizes say whether it matters."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import StrEnum


class Status(StrEnum):
    INSUFFICIENT_DATA = "insufficient_data"
    OK = "ok"
    WARNING = "warning"
    DRIFT = "drift"

    @property
    def level(self) -> int:
        """For gauges: -1 insufficient data, 0 ok, 1 warning, 2 drift."""
        return _LEVELS[self]


_LEVELS = {Status.INSUFFICIENT_DATA: -1, Status.OK: 0, Status.WARNING: 1, Status.DRIFT: 2}


@dataclass(frozen=True)
class Thresholds:
    """The statistics' warning and drift levels, and the rows a window needs before any
    verdict. Their defaults live with the settings (``app/settings.py``)."""

    psi_warning: float
    psi_drift: float
    js_warning: float
    js_drift: float
    missing_warning: float
    missing_drift: float
    min_samples: int

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def status(
    psi: float | None,
    js: float | None,
    missing_change: float | None,
    rows: int,
    thresholds: Thresholds,
) -> Status:
    """``rows`` counts the window's rows (values present and missing): the verdict waits for
    ``min_samples`` of them."""
    if rows < thresholds.min_samples:
        return Status.INSUFFICIENT_DATA
    t = thresholds
    moved = abs(missing_change or 0.0)
    if moved >= t.missing_drift:
        return Status.DRIFT
    if psi is None or js is None:  # every value missing: only the missing rate speaks
        return Status.WARNING if moved >= t.missing_warning else Status.INSUFFICIENT_DATA
    if psi >= t.psi_drift or js >= t.js_drift:
        return Status.DRIFT
    if psi >= t.psi_warning or js >= t.js_warning or moved >= t.missing_warning:
        return Status.WARNING
    return Status.OK
