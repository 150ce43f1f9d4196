"""Admission control: one pure ASGI layer in front of the prediction routes.

While the worker's event loop lags beyond the threshold (:meth:`app.loop_lag.LoopLag.now`), a
prediction request is answered at once with the error table's 503 ``overloaded`` and a
``Retry-After``, before its body is read: the cheapest answer the worker can give, so shedding
frees the loop rather than adding to its queue. Admitted requests get their deadline in the
scope. Every other path (probes, ``/metrics``) passes untouched and is never shed.

It sits inside the telemetry middleware: a shed request is timed, counted and logged as a 503
like any other (it counts against the availability SLO).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection

from starlette.types import ASGIApp, Receive, Scope, Send

from app.api.errors import ERROR_TABLE, OverloadedError, error_body
from app.loop_lag import LoopLag

# The scope key of an admitted prediction request's deadline (time.monotonic seconds).
DEADLINE_KEY = "glassbox.deadline"


def deadline_of(scope: Scope) -> float:
    """The request's deadline; none (infinity) for a request admission did not see."""
    deadline: float = scope.get(DEADLINE_KEY, float("inf"))
    return deadline


class Admission:
    def __init__(
        self,
        app: ASGIApp,
        lag: LoopLag,
        threshold_s: float,
        retry_after_s: int,
        deadline_s: float,
        routes: Collection[str],
        on_shed: Callable[[str], None],
    ) -> None:
        self.app = app
        self.lag = lag
        self.threshold_s = threshold_s
        self.deadline_s = deadline_s
        self.routes = frozenset(routes)
        self.on_shed = on_shed
        status, code, message = ERROR_TABLE[OverloadedError]
        body = error_body(code, message)
        self._status = status
        self._headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"retry-after", str(retry_after_s).encode()),
        ]
        self._body = body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] not in self.routes:
            await self.app(scope, receive, send)
            return
        if self.lag.now() > self.threshold_s:
            self.on_shed(scope["path"])
            # Fresh dicts: layers outside (telemetry) add their headers to the message.
            await send(
                {"type": "http.response.start", "status": self._status,
                 "headers": list(self._headers)}
            )  # fmt: skip
            await send({"type": "http.response.body", "body": self._body})
            return
        scope[DEADLINE_KEY] = time.monotonic() + self.deadline_s
        await self.app(scope, receive, send)
