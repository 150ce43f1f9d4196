"""Structured logs: one structlog chain for the service's own events and for every stdlib logger
(gunicorn master and workers, uvicorn, OpenTelemetry, LightGBM, Python warnings, crashes).

JSON lines in containers, readable output on a terminal. Each processor is a small function over
the event dict; trace and span ids come from the current OpenTelemetry span, so every line
written while a request is being served carries its trace.
"""

from __future__ import annotations

import io
import json
import logging
import logging.config
import os
import random
import sys
import threading
import time
from collections.abc import MutableMapping
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Literal, TextIO

import orjson
import structlog
from opentelemetry import trace

from app.fast_paths import FastPaths
from app.fast_paths.request_line import request_line_renderer
from app.telemetry.request_context import current_request

LogFormat = Literal["auto", "json", "console"]
# The logger the canonical request lines go to.
REQUEST_LOGGER = "glassbox.request"


def add_trace_context(
    logger: Any, method: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """Add the trace and span ids of the current span (a sampled one is made current) or, for
    an unsampled request, of its server span; unless the event names its own."""
    if "trace_id" not in event:
        context = trace.get_current_span().get_span_context()
        if context.is_valid:
            event["trace_id"] = format(context.trace_id, "032x")
            event["span_id"] = format(context.span_id, "016x")
        else:
            record = current_request()
            if record is not None and record.trace_id is not None:
                event["trace_id"] = record.trace_id
                event["span_id"] = record.span_id
    return event


def add_pid(logger: Any, method: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    event.setdefault("pid", os.getpid())
    return event


class IsoTimestamp:
    """``ts``: UTC ISO 8601 with microseconds, like structlog's ``TimeStamper(fmt="iso",
    utc=True)`` at a third of its cost: the date and time are formatted once per second."""

    def __init__(self) -> None:
        self._second = -1
        self._prefix = ""

    def __call__(
        self, logger: Any, method: str, event: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        now_us = time.time_ns() // 1000
        second, micros = divmod(now_us, 1_000_000)
        if second != self._second:
            self._prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
            self._second = second
        event["ts"] = f"{self._prefix}.{micros:06d}Z"
        return event


def render_json(event: Any, **kwargs: Any) -> str:
    """JSON text by orjson: ~6x faster than json.dumps on a request line. NaN becomes null."""
    return orjson.dumps(event, **kwargs).decode()


_timestamp = IsoTimestamp()


class StdoutHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever sys.stdout is at the time (tests swap it)."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stdout
        super().emit(record)


def write_line(line: str) -> None:
    """One line to whatever sys.stdout is now (tests swap it): one write, one flush."""
    out = sys.stdout
    out.write(line)
    out.flush()


class _StdoutFd:
    """sys.stdout's file descriptor, while sys.stdout is the stream it was read from."""

    def __init__(self) -> None:
        self._stream: object = None
        self._fd: int | None = None

    def get(self) -> int | None:
        out = sys.stdout
        if out is not self._stream:
            self._stream = out
            try:
                self._fd = out.fileno()
            except (AttributeError, OSError, ValueError):  # io.UnsupportedOperation included
                self._fd = None
        return self._fd


_stdout_fd = _StdoutFd()


def write_bytes_line(data: bytes) -> None:
    """Lines already encoded, newlines included: straight to stdout's descriptor when it has
    one (every line written through sys.stdout is flushed at once, so nothing is buffered
    ahead of it), else through sys.stdout."""
    fd = _stdout_fd.get()
    if fd is None:
        write_line(data.decode())
        return
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


class StdoutLineLogger:
    """The cheapest structlog output: one write and one flush per rendered line."""

    def msg(self, message: str) -> None:
        write_line(message + "\n")

    debug = info = warning = error = critical = exception = msg


class JsonLinesStream(io.TextIOBase):
    """Stands in for sys.stderr in JSON mode: whatever a library prints there raw (gunicorn
    prints a worker's boot error, for one) leaves as one JSON line per line of text."""

    def __init__(self, raw: TextIO, logger_name: str = "stderr") -> None:
        self._raw = raw
        self._logger_name = logger_name
        self._pending = ""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self._pending += text
        while "\n" in self._pending:
            line, self._pending = self._pending.split("\n", 1)
            self._emit(line)
        return len(text)

    def flush(self) -> None:
        if self._pending:
            self._emit(self._pending)
            self._pending = ""
        self._raw.flush()

    def fileno(self) -> int:
        return self._raw.fileno()

    def _emit(self, line: str) -> None:
        if line.strip():
            event = {
                "event": line, "logger": self._logger_name, "level": "error",
                "ts": datetime.now(UTC).isoformat().replace("+00:00", "Z"), "pid": os.getpid(),
            }  # fmt: skip
            self._raw.write(json.dumps(event) + "\n")


def wants_json(log_format: LogFormat) -> bool:
    if log_format == "auto":
        return not sys.stdout.isatty()
    return log_format == "json"


def _shared_processors() -> list[Any]:
    # No merge_contextvars: nothing binds context variables; request fields reach the
    # canonical line through app.telemetry.request_context.
    return [structlog.processors.add_log_level, _timestamp, add_trace_context, add_pid]


def _renderer(json_lines: bool) -> Any:
    if json_lines:
        return structlog.processors.JSONRenderer(serializer=render_json)
    return structlog.dev.ConsoleRenderer(colors=sys.stdout.isatty())


def stdlib_config(level: str, log_format: LogFormat) -> dict[str, Any]:
    """A logging.config.dictConfig for every stdlib logger, rendered by structlog.

    gunicorn takes it as ``logconfig_dict`` in the master; workers apply it again. uvicorn-worker
    copies gunicorn.error's handlers to uvicorn.error, so gunicorn.error has its own handler.
    """
    json_lines = wants_json(log_format)
    formatter = {
        "()": structlog.stdlib.ProcessorFormatter,
        "foreign_pre_chain": [structlog.stdlib.add_logger_name, *_shared_processors()],
        "processors": [
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info if json_lines else _keep,
            _renderer(json_lines),
        ],
    }
    handler = {"()": StdoutHandler, "formatter": "structlog"}
    quiet = {"level": "WARNING"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"structlog": formatter},
        "handlers": {"default": handler},
        "root": {"level": level, "handlers": ["default"]},
        "loggers": {
            "gunicorn.error": {"level": level, "handlers": ["default"], "propagate": False},
            "gunicorn.access": {"level": "WARNING", "handlers": ["default"], "propagate": False},
            "uvicorn.access": {"level": "WARNING"},
            # The OTLP exporter's own retries are reported as metrics; keep its chatter out.
            "opentelemetry": quiet,
            "urllib3": quiet,
        },
    }


def _keep(logger: Any, method: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    return event


def _structlog_processors(json_lines: bool) -> list[Any]:
    return [
        *_shared_processors(),
        structlog.processors.format_exc_info if json_lines else _keep,
        _renderer(json_lines),
    ]


def configure_logging(level: str = "INFO", log_format: LogFormat = "auto") -> None:
    """Configure structlog and the stdlib loggers for this process. Safe to call more than
    once. Leaves the interpreter's hooks alone: :func:`install_process_hooks` is for servers."""
    logging.config.dictConfig(stdlib_config(level, log_format))
    structlog.configure(
        processors=_structlog_processors(wants_json(log_format)),
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        logger_factory=lambda *args: StdoutLineLogger(),
        cache_logger_on_first_use=True,
    )


def install_process_hooks(log_format: LogFormat = "auto") -> None:
    """Route what the interpreter itself reports through the log chain: uncaught exceptions
    (main thread and others), Python warnings and, in JSON mode, raw text on stderr.

    For server entry points only (the gunicorn master, whose workers inherit the hooks by fork,
    and the app factory the servers call): these hooks belong to whoever owns the process, and
    an app built in-process (a test) must leave a test runner's own hooks in place. Safe to
    call more than once.
    """
    # Off then on: captureWarnings(True) is a no-op if an earlier call's hook was replaced.
    logging.captureWarnings(False)
    logging.captureWarnings(True)
    if wants_json(log_format) and not isinstance(sys.stderr, JsonLinesStream):
        sys.stderr = JsonLinesStream(sys.stderr)
    _route_crashes()


class RequestLog:
    """The canonical request lines: successful fast requests may be sampled, the rest never.

    In JSON mode a line is rendered by the ``request_line`` fast path (app/fast_paths), or by
    the structlog chain, into a buffer; on a terminal it takes the chain, for its colours.

    With ``flush_seconds`` > 0 (JSON mode), lines are buffered, like nginx's buffered access
    log: one ``write(2)`` per flush instead of per request. The lifespan calls :meth:`flush`
    every ``flush_seconds`` and at shutdown; an error line (5xx) or a full buffer flushes at
    once. A worker killed outright loses at most ``flush_seconds`` of successful lines.
    """

    BUFFER_BYTES = 32 * 1024

    def __init__(
        self,
        sample_ratio: float,
        slow_seconds: float,
        level: str,
        log_format: LogFormat,
        flush_seconds: float = 0.0,
        fast_paths: FastPaths | None = None,
    ) -> None:
        """Build after :func:`configure_logging`: the chain renders lines in JSON mode too
        when the ``request_line`` fast path is off."""
        self.sample_ratio = sample_ratio
        self.slow_seconds = slow_seconds
        self.flush_seconds = flush_seconds
        self._info_enabled = logging.getLevelName(level) <= logging.INFO
        self._json = wants_json(log_format)
        self._console = structlog.get_logger(REQUEST_LOGGER)
        self._render = request_line_renderer(fast_paths or FastPaths(), _timestamp)
        self._pending: list[bytes] = []
        self._pending_bytes = 0
        self.lines_lost = 0

    def write(self, status: int, seconds: float, fields: dict[str, Any]) -> None:
        """Write (or sample away) one request's line. ``fields`` becomes the line."""
        if status >= 500:
            level = "error"
        else:
            if not self._info_enabled:
                return
            keep = status >= 400 or seconds >= self.slow_seconds or self.sample_ratio >= 1.0
            if not keep and random.random() >= self.sample_ratio:
                return
            level = "info"
        if not self._json:
            getattr(self._console, level)("request", **fields)
            return
        line = self._render(fields, level)
        self._pending.append(line)
        self._pending_bytes += len(line)
        if status >= 500 or self.flush_seconds <= 0 or self._pending_bytes >= self.BUFFER_BYTES:
            self.flush()

    def warm(self) -> None:
        """Render one line and drop it: the renderer's first call, before any request."""
        if self._json:
            self._render({"logger": REQUEST_LOGGER, "method": "POST", "status": 200}, "info")

    def flush(self) -> None:
        """Write the buffered lines, if any, in one write."""
        if self._pending:
            pending, self._pending, self._pending_bytes = self._pending, [], 0
            try:
                write_bytes_line(b"".join(pending))
            except OSError:
                # A log sink that fails (a closed pipe, a full disk) must not fail requests;
                # the lines are lost, as the logging module's own handlers lose them.
                self.lines_lost += len(pending)


def _route_crashes() -> None:
    """Uncaught exceptions, in the main thread or any other, become one log event each."""
    crash_log = logging.getLogger("glassbox.crash")

    def excepthook(
        kind: type[BaseException], value: BaseException, tb: TracebackType | None
    ) -> None:
        crash_log.critical("uncaught exception", exc_info=(kind, value, tb))

    def thread_excepthook(args: threading.ExceptHookArgs) -> None:
        crash_log.critical(
            "uncaught exception in thread %s",
            getattr(args.thread, "name", "?"),
            exc_info=args.exc_value or True,
        )

    sys.excepthook = excepthook
    threading.excepthook = thread_excepthook


def route_lightgbm_logs() -> None:
    """LightGBM's own messages (C++ and Python) through the same chain."""
    import lightgbm

    lightgbm.register_logger(logging.getLogger("lightgbm"))
