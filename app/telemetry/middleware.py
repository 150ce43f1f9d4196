"""Pure ASGI middleware recording RED metrics per route template.

Pure ASGI (not ``BaseHTTPMiddleware``) so context variables propagate and the cost stays a few
microseconds. The route label is the matched route's template, read from the scope after
routing; unmatched paths share one label value. Operational paths are not counted.
"""

from __future__ import annotations

import time
from collections.abc import Collection

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.telemetry.metrics import UNMATCHED_ROUTE, Metrics

EXCLUDED_PATHS = frozenset({"/metrics", "/healthz", "/readyz"})


class RequestMetricsMiddleware:
    def __init__(self, app: ASGIApp, metrics: Metrics, routes: Collection[str]) -> None:
        self.app = app
        self.metrics = metrics
        # Static route paths, for responses sent before routing (e.g. a declared body too large).
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in EXCLUDED_PATHS:
            await self.app(scope, receive, send)
            return

        status = 500  # what the client gets if the app fails before starting a response

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        metrics = self.metrics
        metrics.in_flight.inc()
        started = time.perf_counter()
        try:
            await self.app(scope, receive, send_with_status)
        finally:
            elapsed = time.perf_counter() - started
            metrics.in_flight.dec()
            route = scope.get("route")
            if route is not None:
                template = route.path
            else:
                template = scope["path"] if scope["path"] in self.routes else UNMATCHED_ROUTE
            metrics.observe_request(template, scope["method"], status, elapsed)
