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
import sys
import threading
from collections.abc import MutableMapping
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Literal, TextIO

import structlog
from opentelemetry import trace

LogFormat = Literal["auto", "json", "console"]
# The logger the canonical request lines go to.
REQUEST_LOGGER = "glassbox.request"


def add_trace_context(
    logger: Any, method: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """Add the current span's trace and span ids, unless the event names its own."""
    if "trace_id" not in event:
        context = trace.get_current_span().get_span_context()
        if context.is_valid:
            event["trace_id"] = format(context.trace_id, "032x")
            event["span_id"] = format(context.span_id, "016x")
    return event


def add_pid(logger: Any, method: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    event.setdefault("pid", os.getpid())
    return event


class StdoutHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever sys.stdout is at the time (tests swap it)."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stdout
        super().emit(record)


class StdoutLineLogger:
    """The cheapest structlog output: one write and one flush per rendered line."""

    def msg(self, message: str) -> None:
        out = sys.stdout
        out.write(message + "\n")
        out.flush()

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
    return [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True, key="ts"),
        add_trace_context,
        add_pid,
    ]


def _renderer(json_lines: bool) -> Any:
    if json_lines:
        return structlog.processors.JSONRenderer()
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
    """Configure structlog and the stdlib for this process. Safe to call more than once."""
    logging.config.dictConfig(stdlib_config(level, log_format))
    # Off then on: captureWarnings(True) is a no-op if an earlier call's hook was replaced.
    logging.captureWarnings(False)
    logging.captureWarnings(True)
    json_lines = wants_json(log_format)
    if json_lines and not isinstance(sys.stderr, JsonLinesStream):
        sys.stderr = JsonLinesStream(sys.stderr)
    structlog.configure(
        processors=_structlog_processors(json_lines),
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        logger_factory=lambda *args: StdoutLineLogger(),
        cache_logger_on_first_use=True,
    )
    _route_crashes()


def request_logger() -> Any:
    """The logger of the canonical request lines. Lazy: it binds to the configuration in force
    at its first line (so ``structlog.testing.capture_logs`` sees it), then caches itself."""
    return structlog.get_logger(REQUEST_LOGGER)


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
