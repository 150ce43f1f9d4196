"""Every metric the service exports, declared once, and the few calls that record them.

In multiprocess mode (``PROMETHEUS_MULTIPROC_DIR`` set before Python starts) each worker writes
its values to memory-mapped files and a scrape merges them, so every number describes the whole
pod. Each :class:`Metrics` registers into a registry of its own, never the global default, so a
second instance (a test, a second app) cannot collide; values live in the files either way.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

# Sub-millisecond to seconds; the latency SLO threshold is inserted as an exact boundary.
LATENCY_BUCKETS_SECONDS = (
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip
BATCH_SIZE_BUCKETS_ROWS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000)
UNMATCHED_ROUTE = "unmatched"
SPAN_DROP_REASONS = ("queue_full", "export_failed", "shutdown")


@dataclass(frozen=True, slots=True)
class ModelLabels:
    version: str
    short_sha: str
    trained_at_seconds: float
    probability_edges: tuple[float, ...]


def latency_buckets(slo_seconds: float) -> tuple[float, ...]:
    return tuple(sorted({*LATENCY_BUCKETS_SECONDS, slo_seconds}))


class Metrics:
    """The service's metrics. Create one per worker, in the app factory (after fork)."""

    def __init__(
        self,
        model: ModelLabels,
        routes: Sequence[str],
        failure_fields: Iterable[tuple[str, str]],
        latency_slo_seconds: float,
        registry: CollectorRegistry | None = None,
    ) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=True)
        r = self.registry
        self.model = model
        # --- RED, per route template --------------------------------------------------------
        self.requests = Counter(
            "glassbox_http_requests", "HTTP requests by route template, method and status.",
            ["route", "method", "status"], registry=r,
        )  # fmt: skip
        self.request_duration = Histogram(
            "glassbox_http_request_duration_seconds",
            "HTTP request latency; one bucket boundary is the latency SLO threshold.",
            ["route", "method"], buckets=latency_buckets(latency_slo_seconds), registry=r,
        )  # fmt: skip
        self.in_flight = Gauge(
            "glassbox_http_requests_in_flight", "Requests being served now, over all workers.",
            registry=r, multiprocess_mode="livesum",
        )  # fmt: skip
        # --- the model -------------------------------------------------------------------------
        self.inference_duration = Histogram(
            "glassbox_model_inference_duration_seconds",
            "Time spent in the model alone (encoding and predict), per request.",
            ["model_version", "route"], buckets=LATENCY_BUCKETS_SECONDS, registry=r,
        )  # fmt: skip
        self.predictions = Counter(
            "glassbox_predictions", "Predicted rows by model version and outcome.",
            ["model_version", "outcome"], registry=r,
        )  # fmt: skip
        self.probability = Histogram(
            "glassbox_prediction_probability",
            "Predicted churn probabilities; buckets are the reference profile's bins.",
            ["model_version"], buckets=model.probability_edges, registry=r,
        )  # fmt: skip
        self.batch_size = Histogram(
            "glassbox_batch_size_rows", "Rows per /predict/batch request.",
            buckets=BATCH_SIZE_BUCKETS_ROWS, registry=r,
        )  # fmt: skip
        self.validation_failures = Counter(
            "glassbox_validation_failures",
            "Rejected inputs by route, field and reason (one per error found).",
            ["route", "field", "reason"], registry=r,
        )  # fmt: skip
        self.model_info = Gauge(
            "glassbox_model_info", "The model this pod serves (always 1).",
            ["model_version", "model_sha"], registry=r, multiprocess_mode="max",
        )  # fmt: skip
        self.model_trained = Gauge(
            "glassbox_model_trained_timestamp_seconds", "When the model was trained.",
            ["model_version"], registry=r, multiprocess_mode="max",
        )  # fmt: skip
        self.model_ready = Gauge(
            "glassbox_model_ready", "1 when every live worker has the model loaded.",
            ["model_version"], registry=r, multiprocess_mode="livemin",
        )  # fmt: skip
        # --- declared now, driven by later features (drain, overload) --------------------------
        self.draining = Gauge(
            "glassbox_draining", "1 while the pod drains before shutdown.",
            registry=r, multiprocess_mode="livemax",
        )  # fmt: skip
        self.shed = Counter(
            "glassbox_requests_shed", "Requests refused because the in-flight limit was hit.",
            ["route"], registry=r,
        )  # fmt: skip
        self.in_flight_limit = Gauge(
            "glassbox_http_in_flight_limit", "Per-worker in-flight request limit (0: none).",
            registry=r, multiprocess_mode="livemax",
        )  # fmt: skip
        # --- tracing: every sampled span is exported or dropped with a reason ------------------
        self.spans_exported = Counter(
            "glassbox_trace_spans_exported", "Sampled spans the collector accepted.", registry=r
        )
        self.spans_dropped = Counter(
            "glassbox_trace_spans_dropped",
            "Sampled spans that never reached the collector, by reason.",
            ["reason"], registry=r,
        )  # fmt: skip
        # --- workers ---------------------------------------------------------------------------
        self.worker_starts = Counter(
            "glassbox_worker_starts", "Worker processes started (restart churn).", registry=r
        )

        # Series exist at zero from the start, so rate() and absent() behave from the first scrape.
        version = model.version
        self.model_info.labels(version, model.short_sha).set(1)
        self.model_trained.labels(version).set(model.trained_at_seconds)
        self.model_ready.labels(version).set(0)
        for outcome in ("churn", "no_churn"):
            self.predictions.labels(version, outcome)
        self.probability.labels(version)
        for route in routes:
            self.shed.labels(route)
            self.inference_duration.labels(version, route)
            self.request_duration.labels(route, "POST")
            self.requests.labels(route, "POST", "200")
            for field, reason in failure_fields:
                self.validation_failures.labels(route, field, reason)
        for reason in SPAN_DROP_REASONS:
            self.spans_dropped.labels(reason)
        self.draining.set(0)
        self.in_flight_limit.set(0)
        # Hot-path caches: a labels() lookup costs more than the update itself.
        self._request_children: dict[tuple[str, str, str], tuple[Any, Any]] = {}
        self._predicted = (
            self.predictions.labels(version, "churn"),
            self.predictions.labels(version, "no_churn"),
        )
        self._probability = self.probability.labels(version)
        self._inference: dict[str, Any] = {}

    # --- recording ---------------------------------------------------------------------------
    def worker_started(self) -> None:
        self.worker_starts.inc()

    def spans_were_exported(self, count: int) -> None:
        self.spans_exported.inc(count)

    def spans_were_dropped(self, reason: str, count: int) -> None:
        self.spans_dropped.labels(reason).inc(count)

    def set_model_ready(self, ready: bool) -> None:
        self.model_ready.labels(self.model.version).set(1 if ready else 0)

    def observe_request(self, route: str, method: str, status: int, seconds: float) -> None:
        key = (route, method, str(status))
        children = self._request_children.get(key)
        if children is None:
            children = (self.requests.labels(*key), self.request_duration.labels(route, method))
            self._request_children[key] = children
        children[0].inc()
        children[1].observe(seconds)

    def observe_predictions(
        self, route: str, probabilities: np.ndarray, churned: int, seconds: float
    ) -> None:
        """One request's predictions: O(1) metric updates whatever the number of rows."""
        rows = len(probabilities)
        if churned:
            self._predicted[0].inc(churned)
        if rows - churned:
            self._predicted[1].inc(rows - churned)
        if rows == 1:
            self._probability.observe(float(probabilities[0]))
        else:
            observe_many(self._probability, self.model.probability_edges, probabilities)
        child = self._inference.get(route)
        if child is None:
            child = self._inference[route] = self.inference_duration.labels(
                self.model.version, route
            )
        child.observe(seconds)

    def observe_batch_size(self, rows: int) -> None:
        self.batch_size.observe(rows)

    def count_validation_failures(self, route: str, failures: Iterable[tuple[str, str]]) -> None:
        for field, reason in failures:
            self.validation_failures.labels(route, field, reason).inc()


def observe_many(child: Any, upper_bounds: Sequence[float], values: np.ndarray) -> None:
    """Observe many values in one update per non-empty bucket, exactly as ``observe`` would.

    prometheus_client keeps non-cumulative bucket values (``_buckets``) and ``_sum`` per child;
    ``observe`` puts a value in the first bucket whose bound is >= the value. A test checks this
    against one ``observe`` per value, so a change in the library's internals fails loudly.
    """
    index = np.searchsorted(np.asarray(upper_bounds, dtype=np.float64), values, side="left")
    counts = np.bincount(index, minlength=len(upper_bounds) + 1)
    buckets = child._buckets
    for i in np.flatnonzero(counts).tolist():
        buckets[i].inc(int(counts[i]))
    child._sum.inc(float(values.sum()))
