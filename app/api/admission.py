"""Admission control: whether a prediction request is refused, and its refusal.

The signal is the worker's event-loop lag (:class:`app.loop_lag.LoopLag`): the time a request
arriving now waits before the worker looks at it. Each of the probe's measurements (every
``GLASSBOX_LAG_PROBE_INTERVAL_SECONDS``) moves a shed probability, as PIE does for a router's
queue (RFC 8033): up while the lag is above the threshold, down while it is below, and with the
lag's change since the last measurement (which never raises it while the lag is below). It
sees the smaller of the last two measurements, so one stall that is already over moves nothing.
A prediction request is shed with that probability, and always while the probe is overdue by
more than the threshold (one pass of the loop running that long: whatever it reads has waited
at least as long), but never while at most two requests are in progress in the worker: PIE's
own safeguard (it never drops from a queue of two packets or fewer), so a stall from outside
(a CPU quota's throttling, a busy neighbour, a start-up beside it) with no queue behind it sheds
nothing. Shedding a share rather than everything at once keeps the worker busy
serving what it admits at about the threshold's queueing delay; all-or-nothing shedding on the
lag alternated between a queue and an idle worker.

A shed request is answered at once with the error table's 503 ``overloaded`` and a
``Retry-After``, its body unread. Every other path (probes, ``/metrics``) is never shed. The
refusal is made in two places, and :class:`Shedding` is the one policy both use:

- the HTTP protocol (:mod:`app.http_protocol`), as soon as a request's head is parsed, before
  uvicorn makes it a task and the app's layers see it, for a fraction of what a refusal costs
  through the app's layers (README: Overload has the figures). The protocol finds the policy in
  the lifespan's state;
- :class:`Admission`, an ASGI layer inside the telemetry edge, for what the protocol leaves to
  it (a pipelined request, a server without the protocol such as an in-process client). It
  also gives every admitted request its deadline.

Either way a shed request is counted in ``glassbox_requests_shed_total`` and in the request
duration histogram as a 503 (it counts against the availability SLO). It gets no request line
of its own: a worker that is shedding writes one summary line a second instead, so a spike does
not also flood the log.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Collection

from starlette.types import ASGIApp, Receive, Scope, Send

from app.api.errors import ERROR_TABLE, OverloadedError, error_body
from app.loop_lag import LoopLag
from app.telemetry.request_context import current_request

logger = logging.getLogger("glassbox.admission")

# The scope key of an admitted prediction request's deadline (time.monotonic seconds).
DEADLINE_KEY = "glassbox.deadline"
# PIE's gains (RFC 8033): per measurement, the shed probability moves by GAIN times the lag
# over the threshold plus DAMPING times the lag's change since the last measurement.
GAIN = 2.0
DAMPING = 10.0

# PIE's safeguard: no shedding while at most this many requests are in progress.
MAX_QUIET_IN_FLIGHT = 2

# How often a shedding worker writes its summary line.
REPORT_SECONDS = 1.0

# The lifespan state key under which the protocol finds the worker's policy.
SHEDDING_STATE_KEY = "glassbox.shedding"


def deadline_of(scope: Scope) -> float:
    """The request's deadline; none (infinity) for a request admission did not see."""
    deadline: float = scope.get(DEADLINE_KEY, float("inf"))
    return deadline


class Shedding:
    """One worker's admission policy. ``on_shed(route)`` counts a shed request whose response
    the telemetry edge times; ``on_refused(method, route, seconds)`` counts and times one the
    protocol answered itself, which no layer of the app sees. ``draining()``: whether the pod
    drains (a refusal then closes its connection, as every response does); ``extra_headers``:
    what the app's outer layers add to every response (``x-worker-pid``)."""

    def __init__(
        self,
        lag: LoopLag,
        threshold_s: float,
        retry_after_s: int,
        routes: Collection[str],
        on_shed: Callable[[str], None],
        on_refused: Callable[[str, str, float], None],
        draining: Callable[[], bool] = lambda: False,
        extra_headers: Collection[tuple[bytes, bytes]] = (),
        max_quiet_in_flight: int = MAX_QUIET_IN_FLIGHT,
        in_protocol: bool = True,
    ) -> None:
        self.lag = lag
        self.max_quiet_in_flight = max_quiet_in_flight
        self.in_protocol = in_protocol  # whether the protocol refuses, or leaves all to Admission
        # The worker's requests in progress as its HTTP server tracks them (uvicorn's request
        # tasks, begun or not), handed over by app.http_protocol; None without that protocol.
        self.requests: Collection[object] | None = None
        self.threshold_s = threshold_s
        self.routes = frozenset(routes)
        self.raw_routes = frozenset(route.encode() for route in self.routes)
        self.draining = draining
        self._on_shed = on_shed
        self._on_refused = on_refused
        status, code, message = ERROR_TABLE[OverloadedError]
        self.status = status
        self.body = body = error_body(code, message)
        self.headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"retry-after", str(retry_after_s).encode()),
        ]
        # The protocol's refusal also carries what the app's outer layers add to a response.
        self.protocol_headers = [*self.headers, *extra_headers]
        self.unreported = 0  # shed since the last summary line
        self.report_seconds = REPORT_SECONDS
        self.probability = 0.0
        self._last_lag = self._last_queued = 0.0
        self._random = random.random
        lag.on_measure = self.measured

    def measured(self, lag_s: float) -> None:
        """One measurement of the lag moves the shed probability (kept within 0 and 1). The
        controller sees the smaller of this measurement and the one before: one stall that is
        already over (a collection, a slow request) leaves no queue behind and moves nothing,
        while a queue keeps every measurement high."""
        queued = lag_s if lag_s < self._last_lag else self._last_lag
        self._last_lag = lag_s
        p = (self.probability + GAIN * (queued - self.threshold_s)
             + DAMPING * (queued - self._last_queued))  # fmt: skip
        self._last_queued = queued
        if queued <= self.threshold_s and p > self.probability:
            p = self.probability  # a lag rising below the threshold sheds nothing yet
        self.probability = 0.0 if p < 0.0 else 1.0 if p > 1.0 else p

    def overloaded(self, in_flight: int) -> bool:
        """Whether to shed a request that arrives while ``in_flight`` others are in progress."""
        if in_flight <= self.max_quiet_in_flight:
            return False
        if self.lag.overdue() > self.threshold_s:
            return True
        p = self.probability
        return p > 0.0 and self._random() < p

    def shed(self, route: str) -> None:
        self.unreported += 1
        self._on_shed(route)

    def refused(self, method: str, route: str, seconds: float) -> None:
        self.unreported += 1
        self._on_refused(method, route, seconds)

    def report(self) -> None:
        """The summary line, when anything was shed since the last one (the lifespan calls it
        every ``report_seconds``)."""
        if self.unreported:
            count, self.unreported = self.unreported, 0
            logger.warning(
                "shed %d prediction requests in %g s: shed probability %.2f, event-loop lag "
                "%.1f ms, threshold %.1f ms",
                count, self.report_seconds, self.probability, self.lag.last * 1000,
                self.threshold_s * 1000,
            )  # fmt: skip


class Admission:
    """The ASGI layer: sheds what reaches it while the policy says so, and sets the deadline
    of what it admits."""

    def __init__(self, app: ASGIApp, shedding: Shedding, deadline_s: float) -> None:
        self.app = app
        self.shedding = shedding
        self.routes = shedding.routes
        self.deadline_s = deadline_s
        # Admitted prediction requests in progress: the count when no protocol hands over the
        # server's (a request runs here once its task has begun, so this misses the queue).
        self.in_flight = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] not in self.routes:
            await self.app(scope, receive, send)
            return
        shedding = self.shedding
        requests = shedding.requests  # this request's own task is one of them
        if shedding.overloaded(self.in_flight if requests is None else len(requests) - 1):
            shedding.shed(scope["path"])
            record = current_request()
            if record is not None:
                record.line = False  # the summary line counts it
            # Fresh dicts: layers outside (telemetry) add their headers to the message.
            await send(
                {"type": "http.response.start", "status": shedding.status,
                 "headers": list(shedding.headers)}
            )  # fmt: skip
            await send({"type": "http.response.body", "body": shedding.body})
            return
        scope[DEADLINE_KEY] = time.monotonic() + self.deadline_s
        self.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1
