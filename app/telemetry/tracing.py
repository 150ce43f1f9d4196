"""Tracing: a tracer provider per worker, created after fork, and an exact account of spans.

Configuration is OpenTelemetry's own: the sampler from ``OTEL_TRACES_SAMPLER`` /
``OTEL_TRACES_SAMPLER_ARG`` (unset, the shipped default is parent-based with 10 % of new
traces; the parent-based ratio sampler is built here, every other one by the SDK), the
OTLP/HTTP exporter (the SDK's, or ``app.fast_paths.otlp_export``'s leaner one) from
``OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT``, ``..._HEADERS``, ``..._TIMEOUT`` and the batch
processor from ``OTEL_BSP_SCHEDULE_DELAY`` / ``OTEL_BSP_MAX_EXPORT_BATCH_SIZE``. With no
endpoint, spans are still created and sampled (their ids reach logs and response headers) but
nothing is exported.

Every sampled span is accounted for: exported, or dropped with a reason (``queue_full``,
``export_failed``, ``shutdown``). The processor refuses spans itself before the SDK's queue
could overflow (the SDK drops silently), and shutdown is bounded: a hanging collector never
stalls a request or a shutdown.
"""

from __future__ import annotations

import logging
import math
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.sampling import ParentBased, Sampler, TraceIdRatioBased
from opentelemetry.trace import NoOpTracer, Tracer

from app.fast_paths import FastPaths
from app.fast_paths.server_spans import ServerSpanStarter, id_generator, server_spans
from app.telemetry.export_session import export_session

logger = logging.getLogger(__name__)

DropHook = Callable[[str, int], None]
ExportHook = Callable[[int], None]

ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")


def sdk_disabled(environ: Mapping[str, str] = os.environ) -> bool:
    """OTEL_SDK_DISABLED=true: the SDK would make only invalid spans, so tracing is off."""
    return environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true"


def export_configured(environ: Mapping[str, str] = os.environ) -> bool:
    """True when an OTLP endpoint is set and OTEL_TRACES_EXPORTER does not say "none"."""
    if environ.get("OTEL_TRACES_EXPORTER", "otlp").strip().lower() == "none":
        return False
    return any(environ.get(name) for name in ENDPOINT_VARIABLES)


class CountingExporter(SpanExporter):
    """Wraps an exporter; reports how many spans each export delivered or lost."""

    def __init__(self, inner: SpanExporter, on_exported: ExportHook, on_dropped: DropHook) -> None:
        self.inner = inner
        self.on_exported = on_exported
        self.on_dropped = on_dropped
        self.settled = 0  # spans whose export finished, either way
        self._lock = threading.Lock()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        try:
            result = self.inner.export(spans)
        except Exception:  # an exporter bug must not kill the export thread
            result = SpanExportResult.FAILURE
        if result is SpanExportResult.SUCCESS:
            self.on_exported(len(spans))
        else:
            self.on_dropped("export_failed", len(spans))
        with self._lock:
            self.settled += len(spans)
        return result

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return self.inner.force_flush(timeout_millis)


# The export thread holds the GIL while it encodes a batch, and each batch is one HTTP request
# of ~1.5 ms CPU whatever its size: 256 spans (the SDK's default is 512) halve the export's CPU
# a span against 64 and hold the GIL ~9 ms at a time (bench/README.md, "Span export batches");
# OTEL_BSP_MAX_EXPORT_BATCH_SIZE still overrides.
DEFAULT_EXPORT_BATCH = "256"


class BoundedBatchProcessor(SpanProcessor):
    """A BatchSpanProcessor that never silently drops: past ``max_pending`` spans not yet
    settled by the exporter, it refuses new ones and counts them as ``queue_full``."""

    def __init__(self, exporter: CountingExporter, max_pending: int, on_dropped: DropHook) -> None:
        self.exporter = exporter
        self.max_pending = max_pending
        self.on_dropped = on_dropped
        self.accepted = 0
        batch_size = int(os.environ.get("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", DEFAULT_EXPORT_BATCH))
        self._batch = BatchSpanProcessor(
            exporter, max_queue_size=max_pending, max_export_batch_size=min(batch_size, max_pending)
        )

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        pass

    def on_end(self, span: ReadableSpan) -> None:
        if not (span.context and span.context.trace_flags.sampled):
            return
        if self.accepted - self.exporter.settled >= self.max_pending:
            self.on_dropped("queue_full", 1)
            return
        self.accepted += 1
        self._batch.on_end(span)

    @property
    def pending(self) -> int:
        return self.accepted - self.exporter.settled

    def shutdown(self) -> None:
        self._batch.shutdown()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return self._batch.force_flush(timeout_millis)


class HashedResource(Resource):
    """A resource whose hash is computed once. The OTLP encoder groups spans by resource, so it
    hashes the resource of every span it encodes, and ``Resource.__hash__`` serializes every
    attribute to JSON each time: a fifth of the encoding's CPU."""

    def __init__(self, resource: Resource) -> None:
        super().__init__(resource.attributes, resource.schema_url)
        self._hash = super().__hash__()

    def __hash__(self) -> int:
        return self._hash


class TracerRef:
    """Where the edge finds the tracer: the app is built before the lifespan creates the
    provider (after fork), so the middleware and handlers hold this and read ``.tracer`` and
    ``.server_spans``."""

    def __init__(self) -> None:
        self.tracer: Any = NoOpTracer()
        # None until a provider is set up (or never, with tracing off): no spans, no ids.
        self.server_spans: ServerSpanStarter | None = None

    def use(self, tracing: Tracing) -> None:
        self.tracer = tracing.tracer
        self.server_spans = tracing.server_spans


@dataclass
class Tracing:
    """A worker's tracer, and how to shut it down within a bound."""

    provider: TracerProvider
    tracer: Tracer
    server_spans: ServerSpanStarter
    processor: BoundedBatchProcessor | None
    on_dropped: DropHook

    def shutdown(self, timeout_s: float) -> None:
        """Flush and stop. Called on a thread; a hanging collector cannot hold it past
        ``timeout_s``: whatever has not been exported by then is counted as dropped."""
        worker = threading.Thread(target=self.provider.shutdown, name="trace-shutdown", daemon=True)
        worker.start()
        worker.join(timeout_s)
        if self.processor is not None and self.processor.pending > 0:
            self.on_dropped("shutdown", self.processor.pending)
            # Settle the account so a late export cannot count twice.
            self.processor.exporter.settled = self.processor.accepted


# The shipped default when OTEL_TRACES_SAMPLER is unset (the SDK's own default samples every
# request, which costs ~200 µs of CPU per request here): honour the caller's decision, else
# sample 10 % of new traces.
DEFAULT_SAMPLING_RATIO = 0.1
PARENT_BASED_RATIO = "parentbased_traceidratio"


class ParentBasedRatio(ParentBased):
    """``ParentBased(TraceIdRatioBased(ratio))``: the caller's decision, else the ratio for a
    new trace. The SDK builds the same sampler for ``OTEL_TRACES_SAMPLER=parentbased_traceidratio``;
    this one keeps its root sampler at hand for the ``ratio_rule`` fast path, which applies the
    ratio's own rule (``TraceIdRatioBased.bound``) to a new trace without the sampler's calls."""

    def __init__(self, ratio: float) -> None:
        self.new_traces = TraceIdRatioBased(ratio)
        super().__init__(self.new_traces)


def sampler_ratio(environ: Mapping[str, str]) -> float:
    """``OTEL_TRACES_SAMPLER_ARG`` as the SDK reads it: a ratio in [0, 1], else 1.0 (the SDK
    falls back to 1.0 on anything it cannot make a ratio sampler of) with a warning."""
    try:
        ratio = float(environ.get("OTEL_TRACES_SAMPLER_ARG", ""))
    except ValueError:
        ratio = math.nan
    if not 0.0 <= ratio <= 1.0:
        logger.warning("Could not convert TRACES_SAMPLER_ARG to a ratio. Using default rate 1.0.")
        return 1.0
    return ratio


def default_sampler(environ: Mapping[str, str] = os.environ) -> Sampler | None:
    """The provider's sampler: ours when OTEL_TRACES_SAMPLER is unset (the shipped default) or
    names the parent-based ratio sampler; else None, and the SDK builds it from the variables."""
    name = environ.get("OTEL_TRACES_SAMPLER")
    if not name:
        return ParentBasedRatio(DEFAULT_SAMPLING_RATIO)
    if name.lower() == PARENT_BASED_RATIO:
        return ParentBasedRatio(sampler_ratio(environ))
    return None


def resource_attributes(
    service_version: str, environment: str, pod: str | None, namespace: str | None
) -> dict[str, Any]:
    attributes: dict[str, Any] = {
        "service.version": service_version,
        "deployment.environment.name": environment,
    }
    if pod:
        attributes["k8s.pod.name"] = pod
    if namespace:
        attributes["k8s.namespace.name"] = namespace
    return attributes


def setup_tracing(
    attributes: Mapping[str, Any],
    max_pending: int,
    on_exported: ExportHook,
    on_dropped: DropHook,
    exporter: SpanExporter | None = None,
    fast_paths: FastPaths | None = None,
) -> Tracing | None:
    """Build this worker's provider, or None when ``OTEL_SDK_DISABLED`` is true (the SDK's
    tracers would make only invalid spans). Call after fork: the batch processor starts a
    thread. ``exporter`` overrides the OTLP exporter (tests pass an in-memory one).
    """
    paths = fast_paths or FastPaths()
    if sdk_disabled():
        return None
    # Resource.create merges OTEL_SERVICE_NAME / OTEL_RESOURCE_ATTRIBUTES; the service name
    # defaults to "glassbox" instead of the SDK's "unknown_service".
    resource = Resource.create({"service.name": "glassbox", **attributes})
    if "OTEL_SERVICE_NAME" in os.environ:
        resource = resource.merge(Resource({"service.name": os.environ["OTEL_SERVICE_NAME"]}))
    ids = id_generator(paths)
    sampler = default_sampler()
    provider = TracerProvider(resource=HashedResource(resource), sampler=sampler, id_generator=ids)
    processor = None
    if exporter is None and export_configured():
        from app.fast_paths.otlp_export import span_exporter

        exporter = span_exporter(paths, export_session())
    if exporter is not None:
        counting = CountingExporter(exporter, on_exported, on_dropped)
        processor = BoundedBatchProcessor(counting, max_pending, on_dropped)
        provider.add_span_processor(processor)
    tracer = provider.get_tracer("glassbox")
    new_traces = sampler.new_traces if isinstance(sampler, ParentBasedRatio) else None
    starter = server_spans(paths, tracer, provider.sampler, ids, new_traces)
    return Tracing(
        provider=provider, tracer=tracer, server_spans=starter, processor=processor,
        on_dropped=on_dropped,
    )  # fmt: skip
