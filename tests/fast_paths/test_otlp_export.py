"""The lean OTLP encoding: the same ExportTraceServiceRequest as the SDK's encoder, for spans
with every field and value type; the exporter that sends it, which behaves as the SDK's; and
the SDK's exporter when a private name it reads has moved."""

import importlib
import logging

import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans as sdk_encode
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanLimits, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import (
    Link,
    NonRecordingSpan,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
    TraceState,
    set_span_in_context,
)
from structlog.testing import capture_logs

from app.fast_paths import FastPaths
from app.fast_paths.otlp_export import (
    COMMON_MODULE,
    OTLP_EXPORT,
    LeanOTLPSpanExporter,
    encode_spans,
    span_exporter,
)
from tests.support.otlp import otlp_receiver

REMOTE = SpanContext(
    0x0AF7651916CD43DD8448EB211C80319C, 0xB7AD6B7169203331, True, TraceFlags(1),
    TraceState([("vendor", "v1"), ("other", "x")]),
)  # fmt: skip
LOCAL_LINK = SpanContext(0x1234, 0x5678, False, TraceFlags(0))
VALUES = {
    "str": "s", "int": 7, "float": 1.5, "bool": True, "bytes": b"\x00\x01",
    "strs": ("a", "b"), "ints": [1, 2], "floats": (0.5,), "bools": [True, False], "empty": (),
    "with.none": ["a", None],
}  # fmt: skip


def recorded_spans() -> list[ReadableSpan]:
    """Real SDK spans covering what the encoder handles: two resources and three scopes (one
    with a version, schema URL and attributes), a remote parent with trace state, a local
    parent, no parent, links local and remote, events, every status, every kind, every
    attribute value type, and attributes, events and links dropped by span limits."""
    spans: list[ReadableSpan] = []
    limits = SpanLimits(
        max_span_attributes=len(VALUES), max_events=2, max_links=2,
        max_event_attributes=1, max_link_attributes=1,
    )  # fmt: skip
    for name in ("svc-a", "svc-b"):
        exporter = InMemorySpanExporter()
        resource = Resource({"service.name": name, "n": 1}, schema_url="https://s/1")
        provider = TracerProvider(resource=resource, span_limits=limits)
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        plain = provider.get_tracer("plain")
        versioned = provider.get_tracer(
            "versioned", "1.2.3", schema_url="https://s/2", attributes={"scope.attr": "x"}
        )
        remote_parent = set_span_in_context(NonRecordingSpan(REMOTE))
        with versioned.start_as_current_span(
            "server", context=remote_parent, kind=SpanKind.SERVER, attributes=VALUES,
            links=[Link(LOCAL_LINK, {"l": 1, "m": 2}), Link(REMOTE), Link(REMOTE)],
        ) as server:  # fmt: skip
            server.set_attribute("over.limit.1", 1)
            server.set_attribute("over.limit.2", 2)
            for i in range(3):
                server.add_event(f"e{i}", {"i": i, "strs": ["x"]})
            server.set_status(Status(StatusCode.ERROR, "boom"))
            for kind in SpanKind:
                with plain.start_as_current_span(f"child-{kind.name}", kind=kind) as child:
                    child.set_status(Status(StatusCode.OK))
        root = plain.start_span("root-unset", start_time=10)
        root.end(end_time=20)
        spans.extend(exporter.get_finished_spans())
    return spans


def decoded(payload: bytes) -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    request.ParseFromString(payload)
    return request


def test_the_encoding_is_the_sdk_s() -> None:
    spans = recorded_spans()
    ours = decoded(encode_spans(spans))
    assert ours == sdk_encode(spans)
    assert len(ours.resource_spans) == 2
    assert {len(r.scope_spans) for r in ours.resource_spans} == {2}
    every = [s for r in ours.resource_spans for ss in r.scope_spans for s in ss.spans]
    server = next(s for s in every if s.name == "server")
    assert server.dropped_attributes_count == 2
    assert server.dropped_events_count == 1
    assert server.dropped_links_count == 1


def hand_built(attributes: dict[object, object], status: Status | None = None) -> ReadableSpan:
    """What the SDK's span API cannot make: any key, any value, no status."""
    return ReadableSpan(
        name="hand-built", context=LOCAL_LINK, parent=REMOTE, resource=Resource({}),
        attributes=attributes,  # type: ignore[arg-type]
        status=status,  # type: ignore[arg-type]
        kind=SpanKind.CLIENT, start_time=1, end_time=2,
    )  # fmt: skip


@pytest.mark.parametrize(
    "attributes",
    [
        {"dict": {"a": 1, 2: ["x", None], "nested": {"b": b"\x01"}}},
        {"nested.lists": [[1, 2], ["a"], []], "none": None},
        {"too.big": 2**63, "fine": -(2**63)},
        {"k\udcff": "lone surrogate key", "after": "kept"},
        {"bad.value": object(), "after": "kept"},
        {7: "a non-str key"},
    ],
)
def test_what_the_span_api_cannot_make_encodes_as_the_sdk_s(
    attributes: dict[object, object], caplog: pytest.LogCaptureFixture
) -> None:
    spans = [hand_built(attributes), hand_built(attributes, Status(StatusCode.OK))]
    with caplog.at_level(logging.CRITICAL, logger="opentelemetry"):
        expected = sdk_encode(spans)
    assert decoded(encode_spans(spans)) == expected


def test_one_span_and_no_spans_encode_as_the_sdk_s() -> None:
    spans = recorded_spans()
    assert decoded(encode_spans(spans[:1])) == sdk_encode(spans[:1])
    assert decoded(encode_spans([])) == sdk_encode([])


def test_an_attribute_that_cannot_be_encoded_is_left_out(caplog: pytest.LogCaptureFixture) -> None:
    span = next(s for s in recorded_spans() if s.name == "server")
    attributes = dict(span.attributes or {})
    attributes["bad"] = object()
    broken = ReadableSpan(
        name=span.name, context=span.context, parent=span.parent, resource=span.resource,
        attributes=attributes, kind=span.kind, status=span.status,
        start_time=span.start_time, end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )  # fmt: skip
    with caplog.at_level(logging.ERROR):
        request = decoded(encode_spans([broken]))
    keys = [a.key for a in request.resource_spans[0].scope_spans[0].spans[0].attributes]
    assert keys == list(span.attributes or {})  # all but the bad one, in order
    assert "bad" in caplog.text


EXPORTERS = {"lean": LeanOTLPSpanExporter, "sdk": OTLPSpanExporter}


@pytest.fixture(params=sorted(EXPORTERS))
def exporter_class(request: pytest.FixtureRequest) -> type[OTLPSpanExporter]:
    """The fast path's exporter and the SDK's: they answer alike."""
    return EXPORTERS[request.param]


def test_the_exporter_delivers_the_spans_through_the_sdk_s_client(
    exporter_class: type[OTLPSpanExporter],
) -> None:
    spans = recorded_spans()
    with otlp_receiver() as receiver:
        exporter = exporter_class(endpoint=f"{receiver.url}/v1/traces")
        assert exporter.export(spans) is SpanExportResult.SUCCESS
        exporter.shutdown()
        assert exporter.export(spans) is SpanExportResult.FAILURE
    assert len(receiver.spans) == len(spans)
    assert {s.name for s in receiver.spans} == {s.name for s in spans}


def test_a_batch_over_the_request_size_limit_is_not_sent(
    exporter_class: type[OTLPSpanExporter],
) -> None:
    with otlp_receiver() as receiver:
        exporter = exporter_class(endpoint=f"{receiver.url}/v1/traces", max_request_size=64)
        assert exporter.export(recorded_spans()) is SpanExportResult.FAILURE
    assert receiver.requests == 0


def test_a_collector_that_is_down_is_a_failed_export(
    exporter_class: type[OTLPSpanExporter],
) -> None:
    with otlp_receiver() as receiver:
        url = receiver.url
    exporter = exporter_class(endpoint=f"{url}/v1/traces", timeout=1)
    assert exporter.export(recorded_spans()) is SpanExportResult.FAILURE


def test_the_switch_chooses_the_exporter() -> None:
    assert type(span_exporter(FastPaths())) is LeanOTLPSpanExporter
    assert type(span_exporter(FastPaths.from_setting("none"))) is OTLPSpanExporter


@pytest.mark.parametrize(
    ("where", "name"),
    [("exporter", "_client"), ("exporter", "_max_request_size"), ("exporter", "_shutdown"),
     ("exporter", "_metrics"), ("common", "_is_request_too_large"),
     ("common", "RequestPayloadTooLargeError")],
)  # fmt: skip
def test_a_moved_private_name_means_the_sdk_s_exporter_and_one_warning(
    monkeypatch: pytest.MonkeyPatch, where: str, name: str
) -> None:
    if where == "common":
        monkeypatch.delattr(importlib.import_module(COMMON_MODULE), name)
    else:
        original = OTLPSpanExporter.__init__

        def init_without(self: OTLPSpanExporter, *args: object, **kwargs: object) -> None:
            original(self, *args, **kwargs)  # type: ignore[arg-type]
            delattr(self, name)

        monkeypatch.setattr(OTLPSpanExporter, "__init__", init_without)
    paths = FastPaths()
    with capture_logs() as logs:
        first = span_exporter(paths)
        second = span_exporter(paths)
    assert type(first) is type(second) is OTLPSpanExporter
    assert paths.fell_back == {OTLP_EXPORT: name}
    assert [(e["fast_path"], e["missing"], e["log_level"]) for e in logs] == [
        (OTLP_EXPORT, name, "warning")
    ]
