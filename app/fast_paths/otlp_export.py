"""``otlp_export``: the SDK's OTLP/HTTP span exporter with an encoding that copies no message.

The SDK's encoder (``opentelemetry.exporter.otlp.proto.common``) builds every protobuf message
bottom-up and passes it to its parent's constructor, and the upb runtime copies a message passed
that way by serializing and parsing it: a span is serialized and parsed once per level of
nesting before its final serialization, in the export thread that shares the GIL with request
handling. This encoder fills the same messages in place, top-down; its output is the SDK's
message (tests/fast_paths/test_otlp_export.py compares the two on spans with every field and
value type). The exporter is the SDK's (endpoint, headers, TLS, compression, timeouts and
retries from the ``OTEL_EXPORTER_OTLP_*`` variables, its request size limit and internal
metrics); its ``export`` is copied with the encoder swapped, since it calls the SDK's encoder
directly, and so reads the exporter's private ``_client``, ``_metrics``, ``_max_request_size``,
``_shutdown`` and its module's ``_is_request_too_large``. Without them: the SDK's exporter.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Mapping, Sequence
from typing import Any

import requests
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, InstrumentationScope
from opentelemetry.proto.trace.v1.trace_pb2 import Span as SpanMessage
from opentelemetry.proto.trace.v1.trace_pb2 import SpanFlags
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.sdk.util.instrumentation import InstrumentationScope as SdkScope
from opentelemetry.semconv.attributes.http_attributes import HTTP_RESPONSE_STATUS_CODE
from opentelemetry.trace import SpanContext, SpanKind, TraceState

from app.fast_paths import FastPaths

OTLP_EXPORT = "otlp_export"
# What the copied export reads of the SDK's exporter, checked when one is made.
EXPORTER_ATTRIBUTES = ("_client", "_metrics", "_max_request_size", "_shutdown")
# Where the SDK keeps its request-size check and error (a private module).
COMMON_MODULE = "opentelemetry.exporter.otlp.proto.http._common"

logger = logging.getLogger(__name__)

_KINDS = {
    SpanKind.INTERNAL: SpanMessage.SPAN_KIND_INTERNAL,
    SpanKind.SERVER: SpanMessage.SPAN_KIND_SERVER,
    SpanKind.CLIENT: SpanMessage.SPAN_KIND_CLIENT,
    SpanKind.PRODUCER: SpanMessage.SPAN_KIND_PRODUCER,
    SpanKind.CONSUMER: SpanMessage.SPAN_KIND_CONSUMER,
}
_HAS_IS_REMOTE = SpanFlags.SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE_MASK
_IS_REMOTE = SpanFlags.SPAN_FLAGS_CONTEXT_IS_REMOTE_MASK


def _set_value(out: AnyValue, value: Any) -> None:
    if value is None:
        out.SetInParent()  # an empty AnyValue, as the SDK writes it
        return
    if isinstance(value, bool):
        out.bool_value = value
    elif isinstance(value, str):
        out.string_value = value
    elif isinstance(value, int):
        out.int_value = value
    elif isinstance(value, float):
        out.double_value = value
    elif isinstance(value, bytes):
        out.bytes_value = value
    elif isinstance(value, Sequence):
        out.array_value.SetInParent()  # present even when empty, as the SDK writes it
        values = out.array_value.values
        for item in value:
            _set_value(values.add(), item)
    elif isinstance(value, Mapping):
        out.kvlist_value.SetInParent()
        entries = out.kvlist_value.values
        for key, item in value.items():
            _set_value(entries.add(key=str(key)).value, item)
    else:
        raise TypeError(f"Invalid type {type(value)} of value {value}")


def _add_attributes(out: Any, attributes: Mapping[str, Any] | None) -> None:
    """Append ``attributes`` to the repeated KeyValue field ``out``; like the SDK, an attribute
    that cannot be encoded is logged and left out."""
    if not attributes:
        return
    for key, value in attributes.items():
        added = False
        try:
            entry = out.add(key=key)  # a key protobuf refuses (a lone surrogate) raises here
            added = True
            _set_value(entry.value, value)
        except Exception:
            logger.exception("Failed to encode attribute %r", key)
            if added:
                del out[-1]


def _flags(context: SpanContext | None) -> int:
    if context is not None and context.is_remote:
        return _HAS_IS_REMOTE | _IS_REMOTE
    return _HAS_IS_REMOTE


def _trace_state(trace_state: TraceState | None) -> str:
    if not trace_state:
        return ""
    return ",".join(f"{key}={value}" for key, value in trace_state.items())


def _fill_span(out: SpanMessage, span: ReadableSpan) -> None:
    context = span.get_span_context()
    parent = span.parent
    assert context is not None  # a span the SDK made always has a context
    out.trace_id = context.trace_id.to_bytes(16, "big")
    out.span_id = context.span_id.to_bytes(8, "big")
    out.trace_state = _trace_state(context.trace_state)
    if parent is not None:
        out.parent_span_id = parent.span_id.to_bytes(8, "big")
    out.flags = _flags(parent)
    out.name = span.name
    out.kind = _KINDS[span.kind]
    out.start_time_unix_nano = span.start_time or 0
    out.end_time_unix_nano = span.end_time or 0
    _add_attributes(out.attributes, span.attributes)
    out.dropped_attributes_count = span.dropped_attributes
    for event in span.events:
        encoded = out.events.add(name=event.name, time_unix_nano=event.timestamp)
        _add_attributes(encoded.attributes, event.attributes)
        encoded.dropped_attributes_count = event.dropped_attributes
    out.dropped_events_count = span.dropped_events
    for link in span.links:
        encoded_link = out.links.add(
            trace_id=link.context.trace_id.to_bytes(16, "big"),
            span_id=link.context.span_id.to_bytes(8, "big"),
            flags=_flags(link.context),
        )
        _add_attributes(encoded_link.attributes, link.attributes)
        encoded_link.dropped_attributes_count = link.dropped_attributes
    out.dropped_links_count = span.dropped_links
    status = span.status
    if status is not None:  # the SDK's spans always have one; a hand-built one may not
        out.status.SetInParent()  # present even when unset, as the SDK writes it
        out.status.code = status.status_code.value  # type: ignore[assignment]
        if status.description:
            out.status.message = status.description


def _fill_scope(out: InstrumentationScope, scope: SdkScope | None) -> None:
    out.SetInParent()  # present even when empty, as the SDK writes it
    if scope is not None:
        out.name = scope.name
        if scope.version:
            out.version = scope.version
        _add_attributes(out.attributes, scope.attributes)


def encode_spans(spans: Sequence[ReadableSpan]) -> bytes:
    """The serialized ExportTraceServiceRequest of ``spans``, grouped by resource, then scope."""
    grouped: dict[Resource, dict[SdkScope | None, list[ReadableSpan]]] = {}
    for span in spans:
        scopes = grouped.setdefault(span.resource, {})
        scopes.setdefault(span.instrumentation_scope or None, []).append(span)
    request = ExportTraceServiceRequest()
    for resource, scopes in grouped.items():
        resource_spans = request.resource_spans.add(schema_url=resource.schema_url)
        resource_spans.resource.SetInParent()
        _add_attributes(resource_spans.resource.attributes, resource.attributes)
        for scope, members in scopes.items():
            scope_spans = resource_spans.scope_spans.add()
            _fill_scope(scope_spans.scope, scope)
            if scope is not None and scope.schema_url:
                scope_spans.schema_url = scope.schema_url
            for span in members:
                _fill_span(scope_spans.spans.add(), span)
    payload: bytes = request.SerializePartialToString()
    return payload


def span_exporter(paths: FastPaths, session: requests.Session | None = None) -> SpanExporter:
    """The exporter for ``OTEL_EXPORTER_OTLP_*``: the lean one, else the SDK's, sending with
    ``session`` (the exporter's public parameter; None: the SDK's own)."""
    return paths.choose(
        OTLP_EXPORT,
        lambda: LeanOTLPSpanExporter(session=session),
        lambda: OTLPSpanExporter(session=session),
    )


class LeanOTLPSpanExporter(OTLPSpanExporter):
    """The SDK's OTLP/HTTP span exporter with ``encode_spans`` as its encoder. ``export`` is
    the parent's, step for step (shutdown check, its internal metrics, the request size limit,
    its client), with the encoder swapped: the parent calls the SDK's encoder directly, so there
    is no narrower place to swap it. Made only if every private name it reads is there."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        common = importlib.import_module(COMMON_MODULE)
        self._too_large = common._is_request_too_large
        self._too_large_error: type[Exception] = common.RequestPayloadTooLargeError
        super().__init__(*args, **kwargs)
        for name in EXPORTER_ATTRIBUTES:
            getattr(self, name)
        self._metrics.export_operation  # noqa: B018 - raises AttributeError when it moved

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if self._shutdown:
            logger.warning("Exporter already shutdown, ignoring batch")
            return SpanExportResult.FAILURE
        with self._metrics.export_operation(len(spans)) as result:
            try:
                payload = encode_spans(spans)
            except Exception as error:
                logger.exception("Failed to encode a span batch")
                result.error = error
                return SpanExportResult.FAILURE
            if self._too_large(payload, self._max_request_size):
                logger.warning(
                    "Dropping span batch: serialized size %d bytes exceeds max_request_size "
                    "%d bytes.", len(payload), self._max_request_size,
                )  # fmt: skip
                result.error = self._too_large_error(
                    f"Serialized span request size {len(payload)} bytes exceeds "
                    f"max_request_size {self._max_request_size} bytes."
                )
                return SpanExportResult.FAILURE
            sent = self._client.export(payload)
            if not sent.success:
                result.error = sent.error
                if sent.status_code is not None:
                    result.error_attrs = {HTTP_RESPONSE_STATUS_CODE: sent.status_code}
                return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS
