"""Admission control: one policy (:class:`Shedding`) and the ASGI layer that applies it. While
the policy sheds, a prediction request is answered at once, unread, with a 503, ``Retry-After``
and the documented error body, and no request line of its own (a summary line counts it);
otherwise it goes on with its deadline in the scope; other paths are never shed. The policy's
shed probability follows the event-loop lag the way PIE does (RFC 8033)."""

import asyncio
import json
import logging
import time
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.types import Message, Receive, Scope, Send

from app.api.admission import (
    DAMPING,
    DEADLINE_KEY,
    GAIN,
    MAX_QUIET_IN_FLIGHT,
    Admission,
    Shedding,
    deadline_of,
)
from app.loop_lag import LoopLag
from app.telemetry.request_context import RequestRecord, close_record, open_record

THRESHOLD_S = 0.025
DEADLINE_S = 5.0
ROUTES = ("/predict", "/predict/batch")


def test_the_gains_are_the_ones_these_hand_computed_cases_assume() -> None:
    assert (GAIN, DAMPING) == (2.0, 10.0)


class App:
    """The app behind admission: records what reached it, answers 200."""

    def __init__(self) -> None:
        self.scopes: list[Scope] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.scopes.append(dict(scope))
        if scope["type"] == "http":
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"{}"})


async def unread(*_: Any) -> Message:
    raise AssertionError("admission must not read the body of a request it sheds")


def policy(
    lag: LoopLag | None = None, retry_after_s: int = 7, max_quiet_in_flight: int = -1
) -> tuple[Shedding, list[str]]:
    """A policy whose worker counts as busy however few requests are in progress, unless
    ``max_quiet_in_flight`` says otherwise: PIE's safeguard has its own tests."""
    shed: list[str] = []
    refused: list[tuple[str, str, float]] = []
    shedding = Shedding(
        lag or LoopLag(0.01), THRESHOLD_S, retry_after_s, ROUTES,
        on_shed=shed.append, on_refused=lambda *args: refused.append(args),
        max_quiet_in_flight=max_quiet_in_flight,
    )  # fmt: skip
    return shedding, shed


class Layer:
    """Admission over the app, with a policy whose shed probability is ``probability``."""

    def __init__(
        self, probability: float = 0.0, retry_after_s: int = 7, lag: LoopLag | None = None
    ) -> None:
        self.app = App()
        self.shedding, self.shed = policy(lag, retry_after_s)
        self.shedding.probability = probability
        self.admission = Admission(self.app, self.shedding, deadline_s=DEADLINE_S)

    async def request(self, path: str, scope_type: str = "http") -> list[Message]:
        sent: list[Message] = []

        async def send(message: Message) -> None:
            sent.append(message)

        scope = {"type": scope_type, "path": path, "method": "POST", "headers": []}
        await self.admission(scope, unread, send)
        return sent

    def call(self, path: str, scope_type: str = "http") -> list[Message]:
        return asyncio.run(self.request(path, scope_type))


def headers_of(start: Message) -> dict[str, str]:
    return {k.decode(): v.decode() for k, v in start["headers"]}


@pytest.mark.parametrize("path", ROUTES)
def test_a_shed_prediction_gets_a_fast_503_with_retry_after_and_the_body(path: str) -> None:
    layer = Layer(probability=1.0, retry_after_s=7)
    start, body = layer.call(path)
    assert start["type"] == "http.response.start"
    assert start["status"] == 503
    headers = headers_of(start)
    assert headers["retry-after"] == "7"
    assert headers["content-type"] == "application/json"
    assert body["type"] == "http.response.body"
    assert not body.get("more_body", False)
    assert int(headers["content-length"]) == len(body["body"])
    document = json.loads(body["body"])
    # The one error body of the README's table: `overloaded`, a message, no detail.
    assert set(document) == {"error", "message", "detail"}
    assert document["error"] == "overloaded"
    assert document["detail"] == []
    assert "Retry-After" in document["message"]
    assert layer.app.scopes == []  # the app never saw it
    assert layer.shed == [path]


def test_a_shed_request_gets_no_request_line_of_its_own() -> None:
    layer = Layer(probability=1.0)
    record = RequestRecord(request_id="r", started_ns=0)
    token = open_record(record)
    try:
        layer.call("/predict")
    finally:
        close_record(token)
    assert record.line is False
    assert layer.shedding.unreported == 1


def test_at_probability_zero_a_prediction_is_admitted_with_its_deadline() -> None:
    layer = Layer(probability=0.0)
    before = time.monotonic()
    start, _ = layer.call("/predict")
    after = time.monotonic()
    assert start["status"] == 200
    assert layer.shed == []
    (scope,) = layer.app.scopes
    assert before + DEADLINE_S <= scope[DEADLINE_KEY] <= after + DEADLINE_S
    assert deadline_of(scope) == scope[DEADLINE_KEY]


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/metrics", "/model", "/drift", "/x"])
def test_other_paths_are_never_shed_and_get_no_deadline(path: str) -> None:
    layer = Layer(probability=1.0)
    start, _ = layer.call(path)
    assert start["status"] == 200
    assert layer.shed == []
    (scope,) = layer.app.scopes
    assert DEADLINE_KEY not in scope
    assert deadline_of(scope) == float("inf")


def test_a_lifespan_scope_passes_through() -> None:
    layer = Layer(probability=1.0)
    assert layer.call("/predict", scope_type="lifespan") == []
    assert [s["type"] for s in layer.app.scopes] == ["lifespan"]
    assert layer.shed == []


def test_each_shed_response_gets_headers_of_its_own() -> None:
    """Layers outside add their headers to the message: one response's must not leak into the
    next one's."""
    layer = Layer(probability=1.0)
    first, _ = layer.call("/predict")
    first["headers"].append((b"x-request-id", b"abc"))
    second, _ = layer.call("/predict")
    assert b"x-request-id" not in dict(second["headers"])
    assert layer.shed == ["/predict", "/predict"]


def test_a_request_is_shed_when_the_draw_falls_under_the_probability() -> None:
    layer = Layer(probability=0.3)
    draws: Iterator[float] = iter([0.29, 0.31, 0.0, 0.99])
    layer.shedding._random = lambda: next(draws)
    statuses = [layer.call("/predict")[0]["status"] for _ in range(4)]
    assert statuses == [503, 200, 503, 200]


def test_about_that_share_of_requests_is_shed() -> None:
    shedding, _ = policy()
    shedding.probability = 0.3
    shed = sum(shedding.overloaded(in_flight=10) for _ in range(20_000))
    assert 0.28 * 20_000 < shed < 0.32 * 20_000  # binomial sd ~65: ±9 sd


def measurements(lags: list[float]) -> list[float]:
    """The probability after each of ``lags`` measured in turn, from a quiet worker."""
    shedding, _ = policy()
    out = []
    for lag in lags:
        shedding.measured(lag)
        out.append(shedding.probability)
    return out


def test_a_lasting_queue_raises_the_probability_each_measurement() -> None:
    # By hand, threshold 25 ms, on the smaller of each two measurements: min(35, 0) = 0 keeps
    # it at 0; then +2 x 10 ms, +10 x 35 ms (from 0) = 0.37; then +0.02 each.
    assert measurements([0.035] * 4) == pytest.approx([0.0, 0.37, 0.39, 0.41])


def test_below_the_threshold_the_probability_falls_back_to_zero() -> None:
    # 0, 0.37, 0.39; then 0.39 - 2 x 20 ms - 10 x 30 ms = 0.05; then 0.05 - 0.04 = 0.01; then 0.
    assert measurements([0.035] * 3 + [0.005] * 3) == pytest.approx(
        [0.0, 0.37, 0.39, 0.05, 0.01, 0.0]
    )


def test_one_stall_that_is_over_moves_nothing() -> None:
    """A collection or one slow request: the next measurement is on time, so the smaller of
    the two is too."""
    assert measurements([0.0, 0.200, 0.0, 0.0]) == [0.0] * 4


def test_a_stall_seen_twice_sheds_a_little_and_stops() -> None:
    # min: 0, 60 ms, 0 -> 0; 2 x 35 ms + 10 x 60 ms = 0.67; 0.67 - 0.05 - 0.6 = 0.02.
    assert measurements([0.060, 0.060, 0.0]) == pytest.approx([0.0, 0.67, 0.02])


def test_a_lag_rising_below_the_threshold_sheds_nothing() -> None:
    """PIE's change term alone would raise it (from 1 to 20 ms: -2 x 5 ms + 10 x 19 ms > 0);
    below the threshold the probability only falls."""
    assert measurements([0.001, 0.001, 0.020, 0.020, 0.024]) == [0.0] * 5


def test_below_the_threshold_the_probability_keeps_falling() -> None:
    # 0, 0.37, 0.39; then 24 ms (min 24): 0.39 + 2 x -1 ms + 10 x -11 ms = 0.278; rising to
    # min(30, 24) = 24 again: 0.278 - 0.002 = 0.276.
    assert measurements([0.035] * 3 + [0.024, 0.030]) == pytest.approx(
        [0.0, 0.37, 0.39, 0.278, 0.276]
    )


def test_the_probability_stays_within_zero_and_one() -> None:
    assert measurements([0.5, 0.5, 0.5, 0.0]) == pytest.approx([0.0, 1.0, 1.0, 0.0])


def test_the_policy_hears_every_measurement_of_its_probe() -> None:
    lag = LoopLag(0.01)
    shedding, _ = policy(lag)
    assert lag.on_measure is not None
    lag.on_measure(0.035)
    lag.on_measure(0.035)
    assert shedding.probability == pytest.approx(0.37)


def test_a_pass_of_the_loop_running_past_the_threshold_sheds_before_any_measurement_does() -> None:
    """Every measurement on time, but the probe cannot wake: the requests read in this long
    pass are shed once it is overdue by more than the threshold."""
    clock = [0.0]

    async def asleep(seconds: float) -> None:
        await asyncio.Event().wait()  # the busy loop never lets it wake

    lag = LoopLag(0.01, clock=lambda: clock[0], sleep=asleep)
    layer = Layer(lag=lag)

    async def scenario() -> list[int]:
        probe = asyncio.create_task(lag.run())
        await asyncio.sleep(0)  # the probe goes to sleep, due at 0.01
        statuses = []
        for overdue_s in (0.0, THRESHOLD_S - 0.001, THRESHOLD_S + 0.001, 1.0):
            clock[0] = 0.01 + overdue_s
            statuses.append((await layer.request("/predict"))[0]["status"])
        probe.cancel()
        return statuses

    assert asyncio.run(scenario()) == [200, 200, 503, 503]
    assert layer.shedding.probability == 0.0
    assert layer.shed == ["/predict", "/predict"]


def test_a_shedding_worker_writes_one_summary_line_per_report(
    caplog: pytest.LogCaptureFixture,
) -> None:
    layer = Layer(probability=1.0)
    for _ in range(3):
        layer.call("/predict")
    layer.shedding.refused("POST", "/predict", 0.0001)  # one the protocol answered
    with caplog.at_level(logging.WARNING, logger="glassbox.admission"):
        layer.shedding.report()
        layer.shedding.report()  # nothing shed since: no line
    (line,) = [r.getMessage() for r in caplog.records if r.name == "glassbox.admission"]
    assert line.startswith("shed 4 prediction requests in 1 s: shed probability 1.00")
    assert "threshold 25.0 ms" in line


class Waiting:
    """An app whose requests wait until released: requests in progress behind admission."""

    def __init__(self) -> None:
        self.release = asyncio.Event()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.release.wait()
        await App()(scope, receive, send)


async def statuses_while_in_progress(in_progress: int, max_quiet_in_flight: int) -> list[int]:
    """The status of a prediction request arriving while ``in_progress`` admitted ones wait,
    and then those of the waiting ones, at shed probability 1."""
    shedding, _ = policy(max_quiet_in_flight=max_quiet_in_flight)
    shedding.probability = 1.0
    app = Waiting()
    admission = Admission(app, shedding, deadline_s=DEADLINE_S)

    async def status_of() -> int:
        sent: list[Message] = []

        async def send(message: Message) -> None:
            sent.append(message)

        scope = {"type": "http", "path": "/predict", "method": "POST", "headers": []}
        await admission(scope, unread, send)
        return int(sent[0]["status"])

    shedding.probability = 0.0  # the waiting ones are admitted...
    waiting = [asyncio.create_task(status_of()) for _ in range(in_progress)]
    await asyncio.sleep(0)
    assert admission.in_flight == in_progress
    shedding.probability = 1.0  # ...then the worker sheds all it may
    arriving = asyncio.create_task(status_of())
    await asyncio.sleep(0)
    app.release.set()
    statuses = [await arriving] + [await task for task in waiting]
    assert admission.in_flight == 0
    return statuses


@pytest.mark.parametrize(("in_progress", "first"), [(0, 200), (2, 200), (3, 503)])
def test_a_worker_sheds_only_while_more_than_two_requests_are_in_progress(
    in_progress: int, first: int
) -> None:
    """PIE's safeguard, with the shipped count: a stall from outside the worker (a CPU quota's
    throttling, a neighbour) with no queue behind it sheds nothing."""
    statuses = asyncio.run(statuses_while_in_progress(in_progress, MAX_QUIET_IN_FLIGHT))
    assert statuses == [first] + [200] * in_progress


def test_a_request_that_fails_leaves_the_in_progress_count() -> None:
    shedding, _ = policy()

    async def failing(scope: Scope, receive: Receive, send: Send) -> None:
        raise RuntimeError("the app failed")

    admission = Admission(failing, shedding, deadline_s=DEADLINE_S)
    scope = {"type": "http", "path": "/predict", "method": "POST", "headers": []}
    with pytest.raises(RuntimeError):
        asyncio.run(admission(scope, unread, lambda message: asyncio.sleep(0)))
    assert admission.in_flight == 0


@pytest.mark.parametrize(("server_requests", "status"), [(3, 200), (4, 503)])
def test_the_servers_requests_in_progress_are_the_queue_when_handed_over(
    server_requests: int, status: int
) -> None:
    """Under uvicorn a request runs in admission only once its task begins, so the queue is the
    HTTP server's set of request tasks (begun or not), this request's own among them."""
    layer = Layer(probability=1.0)
    layer.shedding.max_quiet_in_flight = MAX_QUIET_IN_FLIGHT
    layer.shedding.requests = {object() for _ in range(server_requests)}
    assert layer.call("/predict")[0]["status"] == status
