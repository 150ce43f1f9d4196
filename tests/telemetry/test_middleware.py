"""The telemetry middleware: for every request but the probes and /metrics, in one pass, the
server span (named by method and route template, a caller's W3C ``traceparent`` as its
parent), the RED histogram under the method, route and status, and the canonical log line;
``x-request-id`` and ``traceresponse`` on the response; a record in a context variable that
the handler annotates and finds the request's ids on.

``RequestTelemetryMiddleware`` is driven as an ASGI callable around an inner app of the test's
own, with real parts at its edges: a real ``Metrics`` in a registry of its own, a real SDK
tracer provider (sampler chosen per test) exporting to memory, and a request log that keeps the
lines it is given. The oracles are README.md's words (the headers, the line's fields) and the
W3C Trace Context formats.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ALWAYS_ON, Sampler
from opentelemetry.trace import SpanKind, StatusCode

from app.fast_paths.server_spans import RootTraceIds, ServerSpans
from app.telemetry.http_labels import RouteLabels
from app.telemetry.logging import REQUEST_LOGGER, RequestLog
from app.telemetry.metrics import Metrics, ModelLabels
from app.telemetry.middleware import RequestTelemetryMiddleware
from app.telemetry.request_context import RequestRecord, current_request
from app.telemetry.tracing import TracerRef
from tests.support.asgi import LIFESPAN_SCOPE, Body, Endpoint, Scope, Sent, http_scope

# The W3C Trace Context specification's own example.
CALLER_TRACE = "0af7651916cd43dd8448eb211c80319c"
CALLER_SPAN = "b7ad6b7169203331"
TRACEPARENT = f"00-{CALLER_TRACE}-{CALLER_SPAN}-01"
TRACERESPONSE = re.compile(r"00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})")
LATENCY = "http_server_request_duration_seconds"


class KeptLines(RequestLog):
    """A request log that keeps each line the middleware writes, as it was given."""

    def __init__(self) -> None:
        super().__init__(sample_ratio=1.0, slow_seconds=1.0, level="INFO", log_format="json")
        self.lines: list[tuple[int, float, dict[str, Any]]] = []

    def write(self, status: int, seconds: float, fields: dict[str, Any]) -> None:
        self.lines.append((status, seconds, dict(fields)))


def traced_with(sampler: Sampler) -> tuple[TracerRef, InMemorySpanExporter]:
    """A tracer reference as the lifespan sets it up, on a real provider exporting to memory."""
    ids = RootTraceIds()
    provider = TracerProvider(sampler=sampler, id_generator=ids)
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")
    ref = TracerRef()
    ref.tracer, ref.server_spans = tracer, ServerSpans(tracer, provider.sampler, ids)
    return ref, exporter


class Edge:
    """The middleware around ``endpoint``, with everything it reports to."""

    def __init__(self, endpoint: Endpoint | None = None, sampler: Sampler | None = ALWAYS_ON):
        self.endpoint = endpoint or Endpoint()
        self.metrics = Metrics(
            ModelLabels("v1", "abcdef12", 0.0, (0.5,), ("yes", "no")), ["/predict"], [],
            request_buckets_seconds=(0.01, 0.1, 1.0), inference_buckets_seconds=(0.1,),
        )  # fmt: skip
        if sampler is None:
            self.tracer_ref, self.exporter = TracerRef(), InMemorySpanExporter()
        else:
            self.tracer_ref, self.exporter = traced_with(sampler)
        self.log = KeptLines()
        self.middleware = RequestTelemetryMiddleware(
            self.endpoint, RouteLabels(["/predict"]), self.metrics, self.tracer_ref, self.log
        )

    def call(self, scope: Scope) -> Sent:
        sent = Sent()
        asyncio.run(self.middleware(scope, Body(b"{}"), sent))
        return sent

    def count(self, method: str, route: str, status: int) -> float:
        labels = {"http_request_method": method, "http_route": route,
                  "http_response_status_code": str(status)}  # fmt: skip
        return self.metrics.registry.get_sample_value(f"{LATENCY}_count", labels) or 0.0

    def total_count(self) -> float:
        return sum(s.value for family in self.metrics.registry.collect() if family.name == LATENCY
                   for s in family.samples if s.name == f"{LATENCY}_count")  # fmt: skip

    def spans(self) -> list[ReadableSpan]:
        return list(self.exporter.get_finished_spans())

    def line(self) -> dict[str, Any]:
        (line,) = self.log.lines
        return line[2]


def traceresponse(sent: Sent) -> tuple[str, str, int]:
    """The response's ``traceresponse``: trace id, span id (hex) and flags."""
    match = TRACERESPONSE.fullmatch(sent.header("traceresponse") or "")
    assert match is not None, sent.header("traceresponse")
    return match.group(1), match.group(2), int(match.group(3), 16)


def routed(template: str) -> Any:
    """What routing does to the scope: the matched route's template, read after the app ran."""

    async def route(scope: Scope) -> None:
        scope["route"] = SimpleNamespace(path=template)

    return route


# --- what gets through, what is left alone --------------------------------------------------------


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/metrics"])
def test_probes_and_metrics_are_not_traced_logged_or_counted(path: str) -> None:
    edge = Edge()
    sent = edge.call(http_scope(path, "GET"))
    assert edge.endpoint.send is sent, "the app sends straight to the server"
    assert sent.header("x-request-id") is None
    assert sent.header("traceresponse") is None
    assert edge.total_count() == 0
    assert edge.spans() == []
    assert edge.log.lines == []


def test_a_lifespan_scope_passes_through() -> None:
    edge = Edge()
    body, sent = Body(), Sent()
    asyncio.run(edge.middleware(LIFESPAN_SCOPE, body, sent))
    assert (edge.endpoint.calls, edge.endpoint.receive, edge.endpoint.send) == (1, body, sent)


def test_the_response_is_the_app_s_with_the_request_s_headers_added() -> None:
    own = [(b"content-type", b"application/json"), (b"x-own", b"1")]
    edge = Edge(Endpoint(status=201, body=b'{"a":1}', headers=own))
    sent = edge.call(http_scope())
    assert sent.status == 201
    assert sent.body == b'{"a":1}'
    assert sent.header_list[:2] == own
    assert [k for k, _ in sent.header_list[2:]] == [b"x-request-id", b"traceresponse"]
    assert edge.endpoint.body_read == b"{}", "the body reaches the app"


# --- the request id -------------------------------------------------------------------------------


@pytest.mark.parametrize("request_id", ["abc-123", "A.b_C-9", "x" * 64])
def test_a_well_formed_request_id_from_the_caller_is_kept(request_id: str) -> None:
    edge = Edge()
    sent = edge.call(http_scope(headers=[("x-request-id", request_id)]))
    assert sent.header("x-request-id") == request_id
    assert edge.line()["request_id"] == request_id


@pytest.mark.parametrize("request_id", ["", "has space", "x" * 65, "a/b", "é"])
def test_any_other_request_id_is_replaced_by_a_new_one(request_id: str) -> None:
    edge = Edge()
    sent = edge.call(http_scope(headers=[("x-request-id", request_id)]))
    new = sent.header("x-request-id")
    assert new is not None
    assert new != request_id
    assert re.fullmatch(r"[A-Za-z0-9._-]{1,64}", new)
    assert edge.line()["request_id"] == new


def test_without_a_request_id_each_request_gets_its_own() -> None:
    edge = Edge()
    made = {edge.call(http_scope()).header("x-request-id") for _ in range(50)}
    assert len(made) == 50


# --- the RED histogram ----------------------------------------------------------------------------


def test_a_request_is_counted_under_its_method_route_template_and_status() -> None:
    edge = Edge(Endpoint(status=201, during=routed("/items/{item_id}")))
    edge.call(http_scope("/items/42", "GET"))
    assert edge.count("GET", "/items/{item_id}", 201) == 1
    assert edge.total_count() == 1


def test_a_path_that_matched_no_route_is_counted_as_unmatched() -> None:
    edge = Edge(Endpoint(status=404))
    edge.call(http_scope("/wp-login.php", "GET"))
    assert edge.count("GET", "unmatched", 404) == 1


def test_a_method_http_does_not_define_is_counted_as_other() -> None:
    edge = Edge(Endpoint(status=405))
    edge.call(http_scope("/predict", "BREW"))
    assert edge.count("_OTHER", "/predict", 405) == 1


def test_the_time_counted_and_logged_covers_the_app_s_work() -> None:
    async def slow(scope: Scope) -> None:
        await asyncio.sleep(0.03)

    edge = Edge(Endpoint(during=slow))
    edge.call(http_scope())
    labels = {"http_request_method": "POST", "http_route": "/predict",
              "http_response_status_code": "200"}  # fmt: skip
    assert (edge.metrics.registry.get_sample_value(f"{LATENCY}_sum", labels) or 0) >= 0.03
    _, seconds, fields = edge.log.lines[0]
    assert seconds >= 0.03
    assert fields["duration_ms"] >= 30


def test_a_request_is_in_flight_while_the_app_serves_it() -> None:
    seen: list[int] = []
    edge: Edge

    async def look(scope: Scope) -> None:
        seen.append(edge.metrics.requests_in_flight)

    edge = Edge(Endpoint(during=look))
    edge.call(http_scope())
    assert seen == [1]
    assert edge.metrics.requests_in_flight == 0


def test_an_app_that_fails_before_responding_is_counted_and_logged_as_a_500() -> None:
    async def fail(scope: Scope) -> None:
        raise RuntimeError("boom")

    edge = Edge(Endpoint(during=fail))
    with pytest.raises(RuntimeError, match="boom"):
        edge.call(http_scope())
    assert edge.count("POST", "/predict", 500) == 1
    assert edge.line()["status"] == 500
    (span,) = edge.spans()
    assert span.status.status_code is StatusCode.ERROR
    assert edge.metrics.requests_in_flight == 0
    assert current_request() is None


def test_without_metrics_or_a_request_log_the_request_is_still_served() -> None:
    endpoint = Endpoint(status=201)
    ref, _ = traced_with(ALWAYS_ON)
    middleware = RequestTelemetryMiddleware(endpoint, RouteLabels([]), None, ref, None)
    sent = Sent()
    asyncio.run(middleware(http_scope(), Body(), sent))
    assert sent.status == 201
    assert sent.header("x-request-id") is not None


# --- the canonical log line -----------------------------------------------------------------------


def test_the_line_has_the_documented_fields_and_what_the_handler_added() -> None:
    async def handler(scope: Scope) -> None:
        record = current_request()
        assert record is not None
        record.annotate(prediction_id="01" * 16, model_version="v1")
        scope["route"] = SimpleNamespace(path="/predict")

    edge = Edge(Endpoint(status=200, during=handler))
    sent = edge.call(http_scope(headers=[("x-request-id", "req-1")]))
    status, _, fields = edge.log.lines[0]
    assert status == 200
    trace_id, span_id, _ = traceresponse(sent)
    assert fields == {
        "logger": REQUEST_LOGGER, "method": "POST", "route": "/predict", "status": 200,
        "duration_ms": fields["duration_ms"], "request_id": "req-1", "pid": os.getpid(),
        "prediction_id": "01" * 16, "model_version": "v1",
        "trace_id": trace_id, "span_id": span_id,
    }  # fmt: skip
    assert REQUEST_LOGGER == "glassbox.request"


def test_a_request_whose_record_declines_a_line_is_counted_but_not_logged() -> None:
    """What admission does to a shed request: a summary line counts it instead."""

    async def handler(scope: Scope) -> None:
        record = current_request()
        assert record is not None
        record.line = False

    edge = Edge(Endpoint(status=503, during=handler))
    edge.call(http_scope())
    assert edge.log.lines == []
    assert edge.count("POST", "/predict", 503) == 1


def test_with_tracing_off_there_are_no_trace_ids_anywhere() -> None:
    edge = Edge(sampler=None)
    sent = edge.call(http_scope())
    assert sent.header("traceresponse") is None
    assert "trace_id" not in edge.line()
    assert "span_id" not in edge.line()
    assert sent.header("x-request-id") is not None, "the request id does not need tracing"


# --- the server span ------------------------------------------------------------------------------


def test_a_sampled_request_has_one_server_span_named_by_method_and_route_template() -> None:
    edge = Edge(Endpoint(status=422, during=routed("/predict")))
    sent = edge.call(http_scope("/predict"))
    (span,) = edge.spans()
    assert span.name == "POST /predict"
    assert span.kind is SpanKind.SERVER
    assert dict(span.attributes or {}) == {
        "http.request.method": "POST", "url.path": "/predict", "http.route": "/predict",
        "http.response.status_code": 422,
    }  # fmt: skip
    assert span.status.status_code is StatusCode.UNSET, "a 4xx is the caller's, not an error"
    assert span.parent is None
    trace_id, span_id, flags = traceresponse(sent)
    assert (int(trace_id, 16), int(span_id, 16)) == (span.context.trace_id, span.context.span_id)
    assert flags & 0x01, "sampled"


def test_a_caller_s_traceparent_becomes_the_parent_and_its_tracestate_is_kept() -> None:
    edge = Edge()
    headers = [("traceparent", TRACEPARENT), ("tracestate", "congo=t61rcWkgMzE")]
    sent = edge.call(http_scope(headers=headers))
    (span,) = edge.spans()
    assert span.parent is not None
    assert span.parent.is_remote
    assert f"{span.parent.trace_id:032x}" == CALLER_TRACE
    assert f"{span.parent.span_id:016x}" == CALLER_SPAN
    assert f"{span.context.trace_id:032x}" == CALLER_TRACE
    assert span.context.trace_state.get("congo") == "t61rcWkgMzE"
    assert (sent.header("traceresponse") or "").startswith(f"00-{CALLER_TRACE}-")


def test_a_malformed_traceparent_starts_a_new_trace() -> None:
    edge = Edge()
    edge.call(http_scope(headers=[("traceparent", "00-not-a-trace-01")]))
    (span,) = edge.spans()
    assert span.parent is None


def test_a_sampled_span_is_current_while_the_app_serves_and_the_record_holds_it() -> None:
    seen: dict[str, Any] = {}

    async def look(scope: Scope) -> None:
        record = current_request()
        seen["record"] = record
        seen["current"] = trace.get_current_span()

    edge = Edge(Endpoint(during=look))
    edge.call(http_scope())
    (span,) = edge.spans()
    record: RequestRecord = seen["record"]
    assert record.sampled_span is seen["current"]
    assert seen["current"].get_span_context().span_id == span.context.span_id
    assert record.trace_id == f"{span.context.trace_id:032x}"
    assert record.span_id == f"{span.context.span_id:016x}"


def test_an_unsampled_request_has_ids_and_no_span() -> None:
    seen: dict[str, Any] = {}

    async def look(scope: Scope) -> None:
        seen["record"] = current_request()
        seen["current"] = trace.get_current_span()

    edge = Edge(Endpoint(during=look), sampler=ALWAYS_OFF)
    sent = edge.call(http_scope())
    assert edge.spans() == []
    record: RequestRecord = seen["record"]
    assert record.sampled_span is None
    assert not seen["current"].get_span_context().is_valid, "nothing is made current"
    trace_id, span_id, flags = traceresponse(sent)
    assert not flags & 0x01, "not sampled"
    assert (record.trace_id, record.span_id) == (trace_id, span_id)
    assert (edge.line()["trace_id"], edge.line()["span_id"]) == (trace_id, span_id)


# --- the request's record -------------------------------------------------------------------------


def test_concurrent_requests_each_find_their_own_record_and_leave_none_behind() -> None:
    seen: list[tuple[str, str]] = []

    async def look(scope: Scope) -> None:
        await asyncio.sleep(0.001)  # the other request opens its record meanwhile
        record = current_request()
        assert record is not None
        sent_id = dict(scope["headers"])[b"x-request-id"].decode()
        seen.append((sent_id, record.request_id))

    edge = Edge(Endpoint(during=look))

    async def two_requests() -> tuple[RequestRecord | None, bool]:
        await asyncio.gather(
            edge.middleware(http_scope(headers=[("x-request-id", "one")]), Body(), Sent()),
            edge.middleware(http_scope(headers=[("x-request-id", "two")]), Body(), Sent()),
        )
        return current_request(), trace.get_current_span().get_span_context().is_valid

    assert asyncio.run(two_requests()) == (None, False), "no record or span left behind"
    assert sorted(seen) == [("one", "one"), ("two", "two")]


def test_once_the_response_is_done_the_record_is_closed_and_the_span_detached() -> None:
    edge = Edge()

    async def serve_then_look() -> tuple[RequestRecord | None, bool]:
        await edge.middleware(http_scope(), Body(), Sent())  # in this task, not a new one
        return current_request(), trace.get_current_span().get_span_context().is_valid

    assert asyncio.run(serve_then_look()) == (None, False)


@pytest.fixture(autouse=True)
def _no_record_outside_a_request() -> Iterator[None]:
    assert current_request() is None
    yield
    assert current_request() is None
