"""The server's app with a drift computation far slower than its stop bound: the real
``create_server_app()``, whose drift monitor's tick first sleeps a minute on its daemon thread
(a computation stuck, without taking the CPU of a loaded test machine). gunicorn loads it as
the APP_MODULE ``tests.support.slow_drift_app:create_app()``."""

from __future__ import annotations

import logging
import time
from typing import Any

from fastapi import FastAPI

from app.main import create_server_app

STUCK_SECONDS = 60.0
STARTED_EVENT = "slow drift computation started"


def create_app() -> FastAPI:
    app = create_server_app()
    monitor = app.state.service.drift.monitor
    tick = monitor.tick

    def slow_tick() -> dict[str, Any]:
        logging.getLogger("tests.slow_drift").info(STARTED_EVENT)
        time.sleep(STUCK_SECONDS)
        return tick()  # type: ignore[no-any-return]

    monitor.tick = slow_tick
    return app
