"""What a request's handler tells the edge about it: fields for the canonical log line.

The telemetry middleware opens a record per request in a context variable; handlers annotate
it; the middleware writes it out once, when the response is done.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class RequestRecord:
    request_id: str
    started_ns: int  # wall clock, for spans timed after the fact
    fields: dict[str, Any] = field(default_factory=dict)


_current: ContextVar[RequestRecord | None] = ContextVar("glassbox_request", default=None)


def current_request() -> RequestRecord | None:
    return _current.get()


def annotate(**fields: Any) -> None:
    """Add fields to the current request's log line (no-op outside a request)."""
    record = _current.get()
    if record is not None:
        record.fields.update(fields)


def open_record(record: RequestRecord) -> object:
    return _current.set(record)


def close_record(token: object) -> None:
    _current.reset(token)  # type: ignore[arg-type]
