"""The gunicorn worker class: uvicorn-worker's, with the choices this service makes explicit."""

from __future__ import annotations

from typing import Any, ClassVar

from uvicorn_worker import UvicornWorker


class Worker(UvicornWorker):  # type: ignore[misc]
    # uvloop and httptools (from uvicorn[standard]) for speed; no uvicorn access line: the
    # service writes its own request log; the lifespan must run (it loads the model).
    CONFIG_KWARGS: ClassVar[dict[str, Any]] = {
        "loop": "uvloop",
        "http": "httptools",
        "access_log": False,
        "lifespan": "on",
    }
