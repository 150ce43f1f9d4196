"""One pure ASGI middleware at the edge: the server span, the RED metrics and the canonical log
line of every request, in one pass.

Pure ASGI (not ``BaseHTTPMiddleware``) so context variables propagate and the cost stays a few
microseconds; one middleware rather than three so the request is timed, labelled and wrapped
once. Labels and span names use the matched route's *template*, read from the scope after
routing; unmatched paths share one label value. Probes and /metrics are left alone.
"""

from __future__ import annotations

import os
import random
import re
import time

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.telemetry.http_labels import RouteLabels, method_label
from app.telemetry.logging import REQUEST_LOGGER, RequestLog
from app.telemetry.metrics import Metrics
from app.telemetry.request_context import RequestRecord, close_record, open_record
from app.telemetry.tracing import TracerRef

EXCLUDED_PATHS = frozenset({"/metrics", "/healthz", "/readyz"})
REQUEST_ID = re.compile(rb"[A-Za-z0-9._-]{1,64}")
_PROPAGATOR = TraceContextTextMapPropagator()


class RequestTelemetryMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        routes: RouteLabels,
        metrics: Metrics | None,
        tracer_ref: TracerRef,
        request_log: RequestLog | None,
    ) -> None:
        self.app = app
        self.routes = routes
        self.metrics = metrics
        self.tracer_ref = tracer_ref
        self.request_log = request_log
        self.pid = os.getpid()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in EXCLUDED_PATHS:
            await self.app(scope, receive, send)
            return

        started = time.perf_counter()
        started_ns = time.time_ns()
        request_id = traceparent = tracestate = None
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                if REQUEST_ID.fullmatch(value):
                    request_id = value.decode("ascii")
            elif name == b"traceparent":
                traceparent = value.decode("latin-1")
            elif name == b"tracestate":
                tracestate = value.decode("latin-1")
        if request_id is None:
            # Not a secret: the random module (reseeded in every forked worker) is ~10x
            # cheaper than os.urandom's system call.
            request_id = f"{random.getrandbits(64):016x}"
        response_headers = [(b"x-request-id", request_id.encode("ascii"))]

        method = method_label(scope["method"])
        record = RequestRecord(request_id=request_id, started_ns=started_ns)
        span = context_token = None
        server_spans = self.tracer_ref.server_spans
        if server_spans is not None:
            parent = None
            if traceparent is not None:
                carrier = {"traceparent": traceparent}
                if tracestate is not None:
                    carrier["tracestate"] = tracestate
                parent = _PROPAGATOR.extract(carrier)
            span, trace_id, span_id, flags = server_spans.start(
                method,
                parent,
                started_ns,
                {"http.request.method": method, "url.path": scope["path"]},
            )
            record.trace_id = trace_id_hex = f"{trace_id:032x}"
            record.span_id = span_id_hex = f"{span_id:016x}"
            response_headers.append(
                (b"traceresponse", f"00-{trace_id_hex}-{span_id_hex}-{flags:02x}".encode())
            )
            if span is not None:
                record.sampled_span = span
                # Only a recorded span is made current, for its children. An unsampled request
                # has no span object at all: log lines find its ids on the record.
                context_token = otel_context.attach(trace.set_span_in_context(span, parent))
        record_token = open_record(record)
        status = 500  # what the client gets if the app fails before starting a response

        async def send_with_telemetry(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), *response_headers]
            await send(message)

        metrics = self.metrics
        if metrics is not None:
            metrics.request_started()
        try:
            await self.app(scope, receive, send_with_telemetry)
        finally:
            seconds = time.perf_counter() - started
            template = self.routes.of(scope)
            if metrics is not None:
                metrics.request_finished(method, template, status, seconds)
            if span is not None:
                span.update_name(f"{method} {template}")
                span.set_attributes({"http.route": template, "http.response.status_code": status})
                if status >= 500:
                    span.set_status(StatusCode.ERROR)
                span.end()
            if context_token is not None:
                otel_context.detach(context_token)
            if self.request_log is not None and record.line:
                fields = {
                    "logger": REQUEST_LOGGER, "method": method, "route": template, "status": status,
                    "duration_ms": round(seconds * 1000, 3), "request_id": request_id,
                    "pid": self.pid, **record.fields,
                }  # fmt: skip
                if record.trace_id is not None:
                    fields["trace_id"] = record.trace_id
                    fields["span_id"] = record.span_id
                self.request_log.write(status, seconds, fields)
            close_record(record_token)
