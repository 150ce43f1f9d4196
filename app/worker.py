"""The gunicorn worker class: uvicorn-worker's, with the choices this service makes explicit."""

from __future__ import annotations

from typing import Any, ClassVar

from uvicorn_worker import UvicornWorker

from app.settings import Settings


class Worker(UvicornWorker):  # type: ignore[misc]
    # uvloop and httptools (from uvicorn[standard]) for speed; no uvicorn access line: the
    # service writes its own request log; the lifespan must run (it loads the model).
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
        self.config.timeout_graceful_shutdown = connections_timeout_seconds(
            self.cfg.graceful_timeout, Settings()
        )


def connections_timeout_seconds(graceful_timeout_seconds: float, settings: Settings) -> float:
    """How long uvicorn waits for open connections at shutdown (0: cancel them at once)."""
    return max(0.0, graceful_timeout_seconds - settings.shutdown_work_seconds)
