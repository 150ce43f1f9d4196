"""``request_line``: the JSON canonical request line rendered by orjson directly, rather than
through the structlog chain (the public path).

The middleware has already put in everything the chain's processors would add (logger, pid,
trace and span ids), so only the event, the level and the timestamp are left: the line is the
chain's, byte for byte (tests/fast_paths/test_request_line.py), without the bound logger and its
processors' calls. Both render into the request log's buffer: only the rendering differs.
"""

from __future__ import annotations

from collections.abc import Callable, MutableMapping
from typing import Any

import orjson
import structlog

from app.fast_paths import FastPaths

REQUEST_LINE = "request_line"
EVENT = "request"

# (fields, level) -> the line, newline included. ``fields`` may be changed.
Render = Callable[[dict[str, Any], str], bytes]
# A structlog processor: the chain's timestamp, which the direct render applies itself.
Processor = Callable[[Any, str, MutableMapping[str, Any]], MutableMapping[str, Any]]


def request_line_renderer(paths: FastPaths, timestamp: Processor) -> Render:
    """Call after structlog is configured: the public path renders through its chain."""

    def direct() -> Render:
        return DirectRender(timestamp)

    def chain() -> Render:
        return ChainRender()

    return paths.choose(REQUEST_LINE, direct, chain)


class DirectRender:
    def __init__(self, timestamp: Processor) -> None:
        self._timestamp = timestamp

    def __call__(self, fields: dict[str, Any], level: str) -> bytes:
        fields["event"] = EVENT
        fields["level"] = level
        self._timestamp(None, level, fields)
        return orjson.dumps(fields, default=repr, option=orjson.OPT_APPEND_NEWLINE)


class _Captured:
    """A structlog output that keeps the last rendered line."""

    def __init__(self) -> None:
        self.line = ""

    def msg(self, message: str) -> None:
        self.line = message

    info = error = msg


class ChainRender:
    """The configured structlog chain, its output captured: a logger bound once, as
    ``cache_logger_on_first_use`` would keep it."""

    def __init__(self) -> None:
        self._out = _Captured()
        self._logger = structlog.wrap_logger(self._out).bind()

    def __call__(self, fields: dict[str, Any], level: str) -> bytes:
        getattr(self._logger, level)(EVENT, **fields)
        return (self._out.line + "\n").encode()
