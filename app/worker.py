"""The gunicorn worker class: uvicorn-worker's, with the choices this service makes explicit."""

from __future__ import annotations

import signal
from types import FrameType
from typing import Any, ClassVar

from uvicorn_worker import UvicornWorker

from app.http_protocol import HttpLimits, limited_protocol
from app.settings import Settings


class Worker(UvicornWorker):  # type: ignore[misc]
    # uvloop and httptools (from uvicorn[standard]) for speed (``http`` is replaced by the
    # limited httptools protocol below); no uvicorn access line: the service writes its own
    # request log; the lifespan must run (it loads the model).
    CONFIG_KWARGS: ClassVar[dict[str, Any]] = {
        "loop": "uvloop",
        "http": "httptools",
        "access_log": False,
        "lifespan": "on",
    }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # uvicorn-worker maps keepalive, timeout, max_requests, forwarded_allow_ips, ssl and
        # backlog, not graceful_timeout: uvicorn would wait for open connections for ever, and
        # gunicorn would kill the worker before its lifespan shutdown (drift loop stop, span
        # flush, log flush) ran. uvicorn gets what the shutdown's own work leaves of gunicorn's
        # graceful timeout, then cancels what is still running.
        settings = Settings()
        self.config.timeout_graceful_shutdown = connections_timeout_seconds(
            self.cfg.graceful_timeout, settings
        )
        # httptools, with the header, head-timeout and connection limits uvicorn lacks.
        self.config.http = limited_protocol(http_limits(settings))

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        """SIGQUIT: gunicorn's quick stop, which the master sends its workers on SIGINT or
        SIGQUIT. uvicorn-worker routes it here, to gunicorn's ``handle_exit``, which only clears
        a flag uvicorn never reads: the worker kept serving until the master's graceful timeout
        ran out and it was killed, its shutdown unrun. Now uvicorn stops at once, waits for no
        open connection, and still runs the lifespan shutdown (bounded: flushes, drift stop)."""
        super().handle_exit(sig, frame)
        if sig == signal.SIGQUIT:
            self.config.timeout_graceful_shutdown = 0
            # uvicorn's own handler (it takes SIGTERM and SIGINT alike): stop serving.
            signal.raise_signal(signal.SIGTERM)


def connections_timeout_seconds(graceful_timeout_seconds: float, settings: Settings) -> float:
    """How long uvicorn waits for open connections at shutdown (0: cancel them at once)."""
    return max(0.0, graceful_timeout_seconds - settings.shutdown_work_seconds)


def http_limits(settings: Settings) -> HttpLimits:
    server = settings.server
    return HttpLimits(
        max_header_bytes=server.max_header_bytes, max_headers=server.max_headers,
        head_timeout_seconds=server.header_timeout_seconds,
        max_connections=server.max_connections,
        retry_after_seconds=settings.overload.shed_retry_after_seconds,
    )  # fmt: skip
