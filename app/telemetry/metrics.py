"""Every metric the service exports, declared once, and the few calls that record them.

HTTP server metrics carry OpenTelemetry's HTTP semantic-convention names as Prometheus exposes
them (``http.server.request.duration`` -> ``http_server_request_duration_seconds``), so RED
dashboards and alerts written for OpenTelemetry-instrumented services work unchanged; the
service's own metrics are ``glassbox_*``.

In multiprocess mode (``PROMETHEUS_MULTIPROC_DIR`` set before Python starts) each worker writes
its values to memory-mapped files and a scrape merges them, so every number describes the whole
pod. Each :class:`Metrics` registers into a registry of its own, never the global default, so a
second instance (a test, a second app) cannot collide; values live in the files either way.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from app.fast_paths import FastPaths
from app.fast_paths.metric_writers import HistogramWriter, histogram_writer

BATCH_SIZE_BUCKETS_ROWS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000)
# The statuses a prediction route's series exist at from the start: the availability SLO's
# total (200) and its bad events (5xx: a failure, and the 503s of an unready model or of
# shedding), so its ratios are 0 rather than absent before the first error. Any other status
# gets its series when it first happens.
ZERO_STATUSES = ("200", "500", "503")
SPAN_DROP_REASONS = ("queue_full", "export_failed", "shutdown")


@dataclass(frozen=True, slots=True)
class ModelLabels:
    version: str
    short_sha: str
    trained_at_seconds: float
    probability_edges: tuple[float, ...]
    outcomes: tuple[str, str]  # the card's positive and negative outcome labels


class Metrics:
    """The service's metrics. Create one per worker, in the app factory (after fork)."""

    def __init__(
        self,
        model: ModelLabels,
        routes: Sequence[str],
        failure_fields: Iterable[tuple[str, str]],
        request_buckets_seconds: Sequence[float],
        inference_buckets_seconds: Sequence[float],
        registry: CollectorRegistry | None = None,
        fast_paths: FastPaths | None = None,
    ) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=True)
        self.fast_paths = paths = fast_paths or FastPaths()
        r = self.registry
        self.model = model
        # --- RED, per route template: its _count is the request counter ---------------------
        self.request_duration = Histogram(
            "http_server_request_duration_seconds",
            "Duration of HTTP server requests; one bucket boundary is the latency SLO threshold.",
            ["http_request_method", "http_route", "http_response_status_code"],
            buckets=request_buckets_seconds, registry=r,
        )  # fmt: skip
        self.active_requests = Gauge(
            "http_server_active_requests",
            "HTTP server requests being served now, over all workers (each worker's count "
            "sampled every second).",
            registry=r, multiprocess_mode="livesum",
        )  # fmt: skip
        # --- the model -------------------------------------------------------------------------
        self.inference_duration = Histogram(
            "glassbox_model_inference_duration_seconds",
            "Time spent in the model alone (encoding and predict), per request.",
            ["model_version", "route"], buckets=inference_buckets_seconds, registry=r,
        )  # fmt: skip
        self.predictions = Counter(
            "glassbox_predictions", "Predicted rows by model version and outcome.",
            ["model_version", "outcome"], registry=r,
        )  # fmt: skip
        self.probability = Histogram(
            "glassbox_prediction_probability",
            "Predicted positive-class probabilities; buckets are the reference profile's bins.",
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
            "glassbox_model_info",
            "The model this pod serves and the engine computing its probabilities (always 1).",
            ["model_version", "model_sha", "engine"], registry=r, multiprocess_mode="max",
        )  # fmt: skip
        self.model_trained = Gauge(
            "glassbox_model_trained_timestamp_seconds", "When the model was trained.",
            ["model_version"], registry=r, multiprocess_mode="max",
        )  # fmt: skip
        self.model_ready = Gauge(
            "glassbox_model_ready", "1 when every live worker has the model loaded.",
            ["model_version"], registry=r, multiprocess_mode="livemin",
        )  # fmt: skip
        self.draining = Gauge(
            "glassbox_draining", "1 while the pod drains before shutdown.",
            registry=r, multiprocess_mode="livemax",
        )  # fmt: skip
        # --- overload: admission control on the event loop's lag -------------------------------
        self.shed = Counter(
            "glassbox_requests_shed",
            "Prediction requests refused with a 503 because the worker's event-loop lag was "
            "above glassbox_shed_threshold_seconds.",
            ["route"], registry=r,
        )  # fmt: skip
        self.shed_threshold = Gauge(
            "glassbox_shed_threshold_seconds",
            "Event-loop lag beyond which a worker sheds prediction requests.",
            registry=r, multiprocess_mode="livemax",
        )  # fmt: skip
        self.loop_lag = Gauge(
            "glassbox_event_loop_lag_seconds",
            "Largest event-loop lag a worker measured over the last second (the worst worker).",
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
        self.model_trained.labels(version).set(model.trained_at_seconds)
        self.model_ready.labels(version).set(0)
        for outcome in model.outcomes:
            self.predictions.labels(version, outcome)
        self.probability.labels(version)
        for route in routes:
            self.shed.labels(route)
            self.inference_duration.labels(version, route)
            for status in ZERO_STATUSES:
                self.request_duration.labels("POST", route, status)
            for field, reason in failure_fields:
                self.validation_failures.labels(route, field, reason)
        for reason in SPAN_DROP_REASONS:
            self.spans_dropped.labels(reason)
        self.draining.set(0)
        self.loop_lag.set(0)
        self._shed = {route: self.shed.labels(route).inc for route in routes}
        # Hot-path writers: a labels() lookup costs more than the update itself.
        self._request_writers: dict[tuple[str, str, int], HistogramWriter] = {}
        # Counted in Python on every request, written to the gauge by publish_in_flight (once a
        # second, from the lifespan): two file writes fewer per request, and a scrape samples
        # the gauge at a random moment anyway.
        self.requests_in_flight = 0
        self._predicted = (
            self.predictions.labels(version, model.outcomes[0]).inc,
            self.predictions.labels(version, model.outcomes[1]).inc,
        )
        self._probability = histogram_writer(paths, self.probability.labels(version))
        self._inference: dict[str, HistogramWriter] = {}

    # --- recording ---------------------------------------------------------------------------
    def worker_started(self) -> None:
        self.worker_starts.inc()

    def spans_were_exported(self, count: int) -> None:
        self.spans_exported.inc(count)

    def spans_were_dropped(self, reason: str, count: int) -> None:
        self.spans_dropped.labels(reason).inc(count)

    def set_draining(self, draining: bool) -> None:
        self.draining.set(1 if draining else 0)

    def set_model_engine(self, engine: str) -> None:
        """Once the worker has loaded its model (or failed to: ``none``), the engine serving
        it: the label of ``glassbox_model_info``. Set once per worker, never changed."""
        self.model_info.labels(self.model.version, self.model.short_sha, engine).set(1)

    def set_model_ready(self, ready: bool) -> None:
        self.model_ready.labels(self.model.version).set(1 if ready else 0)

    def set_shed_threshold(self, seconds: float) -> None:
        self.shed_threshold.set(seconds)

    def count_shed(self, route: str) -> None:
        self._shed[route](1)

    def publish_loop_lag(self, seconds: float) -> None:
        self.loop_lag.set(seconds)

    def request_started(self) -> None:
        self.requests_in_flight += 1

    def publish_in_flight(self) -> None:
        self.active_requests.set(self.requests_in_flight)

    def request_finished(self, method: str, route: str, status: int, seconds: float) -> None:
        """``method`` and ``route`` are labels already (see app.telemetry.http_labels)."""
        self.requests_in_flight -= 1
        self.request_answered(method, route, status, seconds)

    def request_answered(self, method: str, route: str, status: int, seconds: float) -> None:
        """A request's duration, also for one the HTTP protocol answered itself (it was never
        in flight in the app)."""
        key = (method, route, status)
        writer = self._request_writers.get(key)
        if writer is None:
            child = self.request_duration.labels(method, route, str(status))
            writer = self._request_writers[key] = histogram_writer(self.fast_paths, child)
        writer.observe(seconds)

    def observe_predictions(
        self, route: str, probabilities: np.ndarray, positives: int, seconds: float
    ) -> None:
        """One request's predictions: O(1) metric updates whatever the number of rows."""
        rows = len(probabilities)
        if positives:
            self._predicted[0](positives)
        if rows - positives:
            self._predicted[1](rows - positives)
        if rows == 1:
            self._probability.observe(float(probabilities[0]))
        else:
            self._probability.observe_many(probabilities)
        writer = self._inference.get(route)
        if writer is None:
            writer = self._inference[route] = histogram_writer(
                self.fast_paths, self.inference_duration.labels(self.model.version, route)
            )
        writer.observe(seconds)

    def observe_batch_size(self, rows: int) -> None:
        self.batch_size.observe(rows)

    def count_validation_failures(self, route: str, failures: Iterable[tuple[str, str]]) -> None:
        for field, reason in failures:
            self.validation_failures.labels(route, field, reason).inc()
