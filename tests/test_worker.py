"""The worker class: uvicorn gets a graceful shutdown timeout, the part of gunicorn's graceful
timeout that the shutdown's own bounded work (drift stop, span flush, a margin) leaves, and the
HTTP protocol with the settings' limits."""

from typing import Any

import pytest
from gunicorn.config import Config
from gunicorn.glogging import Logger
from uvicorn_worker import UvicornWorker

from app.http_protocol import HttpLimits, LimitedHttpToolsProtocol
from app.worker import Worker


def uvicorn_config(worker_class: type[UvicornWorker], graceful_timeout: int = 20) -> Any:
    """The uvicorn config of a worker built as the master builds one (before fork)."""
    cfg = Config()
    cfg.set("graceful_timeout", graceful_timeout)
    worker = worker_class(1, 0, [], object(), 30, cfg, Logger(cfg))
    worker.tmp.close()  # the heartbeat file every gunicorn worker opens
    return worker.config


def shutdown_timeout(worker_class: type[UvicornWorker], graceful_timeout: int) -> object:
    return uvicorn_config(worker_class, graceful_timeout).timeout_graceful_shutdown


@pytest.mark.parametrize(
    ("graceful", "stop", "flush", "expected"),
    [(20, "1", "3", 15.5), (9, "2", "1.5", 5.0), (1, "0", "0", 0.5), (2, "1", "1", 0.0)],
)  # fmt: skip
def test_uvicorn_waits_for_connections_what_the_shutdown_work_leaves(
    monkeypatch: pytest.MonkeyPatch, graceful: int, stop: str, flush: str, expected: float
) -> None:
    """20 - (1 + 3 + 0.5) = 15.5 at the defaults; gunicorn's value is the one it enforces (a
    command-line --graceful-timeout shorter than the settings' gets 0: cancel at once)."""
    monkeypatch.setenv("GLASSBOX_DRIFT_STOP_TIMEOUT_SECONDS", stop)
    monkeypatch.setenv("GLASSBOX_TRACES_FLUSH_TIMEOUT_SECONDS", flush)
    assert shutdown_timeout(Worker, graceful) == expected


def test_uvicorn_worker_alone_would_wait_for_connections_for_ever() -> None:
    """Why the subclass sets it: uvicorn-worker leaves uvicorn's default, no timeout at all."""
    assert shutdown_timeout(UvicornWorker, 20) is None


def test_the_http_protocol_has_the_settings_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GLASSBOX_MAX_HEADER_BYTES", "1234")
    monkeypatch.setenv("GLASSBOX_MAX_HEADERS", "12")
    monkeypatch.setenv("GLASSBOX_HEADER_TIMEOUT_SECONDS", "3.5")
    monkeypatch.setenv("GLASSBOX_MAX_CONNECTIONS", "77")
    monkeypatch.setenv("GLASSBOX_SHED_RETRY_AFTER_SECONDS", "4")
    protocol = uvicorn_config(Worker).http
    assert issubclass(protocol, LimitedHttpToolsProtocol)
    assert protocol.limits == HttpLimits(
        max_header_bytes=1234, max_headers=12, head_timeout_seconds=3.5, max_connections=77,
        retry_after_seconds=4,
    )  # fmt: skip
