"""Drift, assembled: the one place its parts are made and wired, from the model card, the
reference profile, the drift settings and the multiprocess directory.

- ``recorder``: the prediction routes count every answered row's bins into it, the features' and
  the probability's, in this worker's memory-mapped counts file (None when drift is switched
  off, ``GLASSBOX_DRIFT_ENABLED=false``).
- ``monitor``: the windowed-statistics loop the lifespan starts and stops (None when off).
- ``totals``, ``published`` and ``report``: what ``GET /drift`` and the ``/metrics`` drift
  collector (``app/telemetry/drift_collector.py``) read: the pod's counts, the leader's last
  report, and the two together with the statistics since start.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from app.drift.binning import Binner
from app.drift.monitor import DriftMonitor
from app.drift.recorder import DriftRecorder
from app.drift.report import DriftAnalysis, DriftView, PublishedReport
from app.drift.store import MemoryCounts, SharedCounts, open_counts
from app.model.card import ModelCard
from app.model.profile import ReferenceProfile
from app.settings import DriftSettings


@dataclass(frozen=True)
class Drift:
    model_version: str
    analysis: DriftAnalysis
    counts: MemoryCounts | SharedCounts
    interval_seconds: float
    recorder: DriftRecorder | None
    monitor: DriftMonitor | None

    def totals(self) -> np.ndarray:
        """The pod's cumulative counts, in the binner's layout (features, then prediction)."""
        return self.counts.total()

    def published(self) -> PublishedReport | None:
        """The leader's last windowed report, or None (none yet, or drift switched off)."""
        return self.monitor.report() if self.monitor is not None else None

    def report(self) -> DriftView:
        """``GET /drift``: the published windows and the statistics since start, live."""
        return DriftView(
            model_version=self.model_version,
            published=self.published(),
            interval_seconds=self.interval_seconds,
            thresholds=self.analysis.thresholds,
            since_start=self.analysis.section(self.totals()),
        )


def assemble_drift(
    card: ModelCard, profile: ReferenceProfile, settings: DriftSettings, directory: Path | None
) -> Drift:
    """Every part of drift for the model of ``card``. ``directory`` is the multiprocess
    directory (the workers' counts files, the leader lock, the published report), or None for
    a single process (counts in memory)."""
    binner = Binner(card.contract, profile)
    analysis = DriftAnalysis(binner, settings.thresholds())
    counts = open_counts(directory, card.version, binner.size)
    monitor = None
    if settings.enabled:
        monitor = DriftMonitor(
            analysis=analysis, snapshot=counts.total, windows_s=settings.windows_seconds,
            interval_s=settings.interval_seconds, directory=directory,
            model_version=card.version, step_pause_s=settings.step_pause_seconds,
        )  # fmt: skip
    return Drift(
        model_version=card.version,
        analysis=analysis,
        counts=counts,
        interval_seconds=settings.interval_seconds,
        recorder=DriftRecorder(binner, counts) if settings.enabled else None,
        monitor=monitor,
    )
