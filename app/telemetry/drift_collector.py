"""Drift on /metrics: the pod's per-bin counts and the reference they are measured against.

Counts are counters, labelled (model_version, feature, bin), merged over every worker's file at
scrape time; the reference proportions are gauges with the same labels, so Prometheus can compute
fleet-level drift from the same additive state (``sum by (model_version, feature, bin)``).
The prediction distribution is recorded once, by the probability histogram; its bins appear here
as ``feature="_prediction"``, de-cumulated from that histogram at scrape time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from app.drift.binning import Binner
from app.drift.report import PREDICTION, prediction_labels


class DriftCollector(Collector):
    def __init__(
        self,
        model_version: str,
        binner: Binner,
        profile: dict[str, object],
        feature_totals: Callable[[], np.ndarray | None],
        prediction_counts: Callable[[], np.ndarray],
    ) -> None:
        self.model_version = model_version
        self.binner = binner
        prediction = profile["prediction"]
        assert isinstance(prediction, dict)
        self.prediction_labels = prediction_labels(prediction["edges"])
        self.prediction_reference = tuple(prediction["proportions"])
        self.feature_totals = feature_totals
        self.prediction_counts = prediction_counts

    def collect(self) -> Iterator[Metric]:
        version = self.model_version
        counts = CounterMetricFamily(
            "glassbox_drift_bin_observations",
            "Observed values per reference bin, over the pod's workers.",
            labels=["model_version", "feature", "bin"],
        )
        reference = GaugeMetricFamily(
            "glassbox_drift_reference_proportion",
            "Reference proportion of each value bin (values present).",
            labels=["model_version", "feature", "bin"],
        )
        missing = GaugeMetricFamily(
            "glassbox_drift_reference_missing_ratio",
            "Reference share of missing values per feature.",
            labels=["model_version", "feature"],
        )
        totals = self.feature_totals()
        for f in self.binner.features:
            if totals is not None:
                for label, value in zip(f.labels, totals[f.start : f.stop].tolist(), strict=True):
                    counts.add_metric([version, f.name, label], value)
            for label, share in zip(f.labels, f.reference, strict=False):
                reference.add_metric([version, f.name, label], share)
            missing.add_metric([version, f.name], f.reference_missing_rate)
        prediction = self.prediction_counts()
        if prediction.size == len(self.prediction_labels):
            for label, value in zip(self.prediction_labels, prediction.tolist(), strict=True):
                counts.add_metric([version, PREDICTION, label], value)
        for label, share in zip(self.prediction_labels, self.prediction_reference, strict=True):
            reference.add_metric([version, PREDICTION, label], share)
        yield counts
        yield reference
        yield missing
