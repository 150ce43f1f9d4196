"""Drift on /metrics: the pod's per-bin counts, the reference they are measured against, and
the leader's windowed statistics and statuses.

Counts are counters, labelled (model_version, feature, bin), merged over every worker's file at
scrape time; the reference proportions are gauges with the same labels, so Prometheus can compute
fleet-level drift from the same additive state (``sum by (model_version, feature, bin)``).
The prediction's bins are drift's own, counted beside the features' (the probability
histogram's buckets are the same bins, but drift never reads that metric's files): they appear
here as ``feature="_prediction"``. Everything comes from drift's own counts files, so a scrape
reads each of them once and merges prometheus_client's files once, in the exposition. The
windowed gauges come from the one report the pod's leader publishes: one series per feature and
window, whichever worker is scraped.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from app.drift.assembly import Drift
from app.drift.report import PREDICTION


class DriftCollector(Collector):
    def __init__(self, drift: Drift) -> None:
        self.drift = drift
        self.model_version = drift.model_version
        self.binner = drift.analysis.binner
        self.thresholds = drift.analysis.thresholds

    def _bins(self) -> Iterator[tuple[str, tuple[str, ...], tuple[float, ...], int, int]]:
        """(feature, labels incl. missing, reference of value bins, start, stop) per feature,
        then the prediction's."""
        for f in self.binner.features:
            yield f.name, f.labels, f.reference, f.start, f.stop
        p = self.binner.prediction
        yield PREDICTION, p.labels, p.reference, p.start, p.stop

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
        totals = self.drift.totals().tolist()
        for name, labels, shares, start, stop in self._bins():
            for label, value in zip(labels, totals[start:stop], strict=True):
                counts.add_metric([version, name, label], value)
            for label, share in zip(labels, shares, strict=False):
                reference.add_metric([version, name, label], share)
        for f in self.binner.features:
            missing.add_metric([version, f.name], f.reference_missing_rate)
        yield counts
        yield reference
        yield missing
        yield from self._windows()
        yield from self._thresholds()

    def _windows(self) -> Iterator[Metric]:
        labels = ["model_version", "feature", "window"]
        psi = GaugeMetricFamily("glassbox_drift_psi", "PSI over the window.", labels=labels)
        js = GaugeMetricFamily(
            "glassbox_drift_js_distance", "Jensen-Shannon distance (base 2) over the window.",
            labels=labels,
        )  # fmt: skip
        samples = GaugeMetricFamily(
            "glassbox_drift_window_samples", "Values present in the window.", labels=labels
        )
        status = GaugeMetricFamily(
            "glassbox_drift_status",
            "Drift status: -1 insufficient data, 0 ok, 1 warning, 2 drift.",
            labels=labels,
        )
        computed = GaugeMetricFamily(
            "glassbox_drift_computed_timestamp_seconds",
            "When the pod's drift report was last computed.", labels=["model_version"],
        )  # fmt: skip
        report = self.drift.published()
        if report is not None:
            computed.add_metric([self.model_version], report.computed_at_seconds)
            for window, section in report.windows.items():
                for name, entry in section.entries().items():
                    key = [self.model_version, name, window]
                    samples.add_metric(key, entry.count)
                    status.add_metric(key, entry.status.level)
                    if entry.psi is not None and entry.js_distance is not None:
                        psi.add_metric(key, entry.psi)
                        js.add_metric(key, entry.js_distance)
        yield from (psi, js, samples, status, computed)

    def _thresholds(self) -> Iterator[Metric]:
        t = self.thresholds
        gauge = GaugeMetricFamily(
            "glassbox_drift_threshold", "Thresholds of the drift statuses.",
            labels=["statistic", "level"],
        )  # fmt: skip
        gauge.add_metric(["psi", "warning"], t.psi_warning)
        gauge.add_metric(["psi", "drift"], t.psi_drift)
        gauge.add_metric(["js_distance", "warning"], t.js_warning)
        gauge.add_metric(["js_distance", "drift"], t.js_drift)
        gauge.add_metric(["missing_rate_difference", "warning"], t.missing_warning)
        gauge.add_metric(["missing_rate_difference", "drift"], t.missing_drift)
        yield gauge
        yield GaugeMetricFamily(
            "glassbox_drift_min_samples", "Samples a window needs before a verdict.",
            value=t.min_samples,
        )  # fmt: skip
