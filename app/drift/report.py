"""The drift report: per feature and for the prediction, observed bins against the reference,
with a status once there are enough samples.

Typed until it is serialized: :class:`Section` (one set of counts: since start, or a window),
:class:`PublishedReport` (the leader's windows, written to a file every worker reads back) and
:class:`DriftView` (what ``GET /drift`` answers). Their ``as_dict`` is the JSON body, keys in the
order clients have always seen them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict

from app.drift.binning import Binner
from app.drift.stats import FeatureDrift, compare
from app.drift.status import Status, Thresholds, status

PREDICTION = "_prediction"


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True)

    def as_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


class FeatureReport(FeatureDrift, _Record):
    """One feature (or the prediction) over one set of counts, and its verdict."""

    status: Status


class Section(_Record):
    features: dict[str, FeatureReport]
    prediction: FeatureReport

    def entries(self) -> dict[str, FeatureReport]:
        """Every feature's entry, then the prediction's under ``PREDICTION``."""
        return {**self.features, PREDICTION: self.prediction}


# Section's fields after the window's own, in the body: ``WindowReport(Section, _Window)``
# collects fields base by base from the last (pydantic follows the MRO in reverse).
class _Window(_Record):
    seconds: float
    covered_seconds: float  # less than the window while the history is younger than it


class WindowReport(Section, _Window):
    """A window's section: the counts of its last ``seconds``."""


class PublishedReport(_Record):
    """The leader's report: written to a file each interval, served by every worker."""

    model_version: str
    computed_at: str
    computed_at_seconds: float
    leader_pid: int
    interval_seconds: float
    thresholds: Thresholds
    windows: dict[str, WindowReport]


@dataclass(frozen=True)
class DriftView:
    """``GET /drift``: the leader's windows (once published) and, computed live, since start."""

    model_version: str
    published: PublishedReport | None
    interval_seconds: float
    thresholds: Thresholds
    since_start: Section

    def as_dict(self) -> dict[str, Any]:
        if self.published is None:
            return {
                "computed_at": None,
                "leader_pid": None,
                "windows": None,
                "interval_seconds": self.interval_seconds,
                "thresholds": self.thresholds.as_dict(),
                "model_version": self.model_version,
                "since_start": self.since_start.as_dict(),
            }
        return {**self.published.as_dict(), "since_start": self.since_start.as_dict()}


class DriftAnalysis:
    """Turns one count vector in the binner's layout (the features' bins, then the prediction's)
    into a report section."""

    def __init__(self, binner: Binner, thresholds: Thresholds) -> None:
        self.binner = binner
        self.thresholds = thresholds
        self.size = binner.size

    def drifts(self, counts: np.ndarray) -> dict[str, FeatureDrift]:
        """Every feature's statistics, then the prediction's (under ``PREDICTION``)."""
        if counts.shape != (self.size,):
            raise ValueError(f"counts of shape {counts.shape} for a layout of {self.size} bins")
        out = {}
        for f in self.binner.features:
            bins = counts[f.start : f.stop]
            out[f.name] = compare(
                f.labels[:-1],
                f.reference,
                bins[:-1],
                missing=int(bins[-1]),
                reference_missing_rate=f.reference_missing_rate,
                categorical=f.kind == "categorical",
            )
        p = self.binner.prediction
        out[PREDICTION] = compare(p.labels, p.reference, counts[p.start : p.stop])
        return out

    def section(self, counts: np.ndarray) -> Section:
        """Every feature's and the prediction's entry, each with its status."""
        entries = {}
        for name, drift in self.drifts(counts).items():
            verdict = status(
                drift.psi, drift.js_distance, drift.missing_rate_difference,
                drift.count + drift.missing, self.thresholds,
            )  # fmt: skip
            entries[name] = FeatureReport(**dict(drift), status=verdict)
        prediction = entries.pop(PREDICTION)
        return Section(features=entries, prediction=prediction)
