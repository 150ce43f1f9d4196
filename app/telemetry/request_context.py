"""What a request's handler tells the edge about it: fields for the canonical log line.

The telemetry middleware opens a record per request in a context variable; handlers annotate
it; the middleware writes it out once, when the response is done.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.trace import Span


@dataclass(slots=True)
class RequestRecord:
    request_id: str
    started_ns: int  # wall clock, for spans timed after the fact
    fields: dict[str, Any] = field(default_factory=dict)
    # The server span's ids (hex), sampled or not; None with tracing off.
    trace_id: str | None = None
    span_id: str | None = None
    # The server span when this request is sampled (recording), else None: handlers check this
    # rather than looking the current span up in the OpenTelemetry context.
    sampled_span: Span | None = None
    # False: the request gets no line of its own (a shed request: a summary line counts it).
    line: bool = True

    def annotate(self, **fields: Any) -> None:
        """Add fields to this request's log line."""
        self.fields.update(fields)


_current: ContextVar[RequestRecord | None] = ContextVar("glassbox_request", default=None)


def current_request() -> RequestRecord | None:
    return _current.get()


def open_record(record: RequestRecord) -> object:
    return _current.set(record)


def close_record(token: object) -> None:
    _current.reset(token)  # type: ignore[arg-type]
