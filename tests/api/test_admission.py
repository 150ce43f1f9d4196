"""Admission control as an ASGI layer: while the loop lags beyond the threshold a prediction
request is answered at once, unread, with a 503, ``Retry-After`` and the documented error body;
below it the request goes on with its deadline in the scope; other paths are never shed."""

import asyncio
import json
import time
from typing import Any

import pytest
from starlette.types import Message, Receive, Scope, Send

from app.api.admission import DEADLINE_KEY, Admission, deadline_of
from app.loop_lag import LoopLag

THRESHOLD_S = 0.025
DEADLINE_S = 5.0
ROUTES = ("/predict", "/predict/batch")


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


class Layer:
    """Admission over the app, with a lag probe that measured ``lag_s`` (or the one given)."""

    def __init__(self, lag_s: float = 0.0, retry_after_s: int = 7, lag: LoopLag | None = None):
        self.app = App()
        self.lag = lag or LoopLag(0.01)
        if lag is None:
            self.lag.seconds = lag_s
        self.shed: list[str] = []
        self.admission = Admission(
            self.app, self.lag, threshold_s=THRESHOLD_S, retry_after_s=retry_after_s,
            deadline_s=DEADLINE_S, routes=ROUTES, on_shed=self.shed.append,
        )  # fmt: skip

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
def test_over_the_threshold_a_prediction_gets_a_fast_503_with_retry_after_and_the_body(
    path: str,
) -> None:
    layer = Layer(lag_s=THRESHOLD_S + 0.001, retry_after_s=7)
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


def test_at_the_threshold_a_prediction_is_admitted_with_its_deadline() -> None:
    layer = Layer(lag_s=THRESHOLD_S)
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
    layer = Layer(lag_s=10.0)
    start, _ = layer.call(path)
    assert start["status"] == 200
    assert layer.shed == []
    (scope,) = layer.app.scopes
    assert DEADLINE_KEY not in scope
    assert deadline_of(scope) == float("inf")


def test_a_lifespan_scope_passes_through() -> None:
    layer = Layer(lag_s=10.0)
    assert layer.call("/predict", scope_type="lifespan") == []
    assert [s["type"] for s in layer.app.scopes] == ["lifespan"]
    assert layer.shed == []


def test_each_shed_response_gets_headers_of_its_own() -> None:
    """Layers outside add their headers to the message: one response's must not leak into the
    next one's."""
    layer = Layer(lag_s=1.0)
    first, _ = layer.call("/predict")
    first["headers"].append((b"x-request-id", b"abc"))
    second, _ = layer.call("/predict")
    assert b"x-request-id" not in dict(second["headers"])
    assert layer.shed == ["/predict", "/predict"]


def test_the_layer_reads_the_lag_of_the_moment() -> None:
    layer = Layer(lag_s=1.0)
    assert layer.call("/predict")[0]["status"] == 503
    layer.lag.seconds = 0.0  # the queue is gone
    assert layer.call("/predict")[0]["status"] == 200
    assert layer.shed == ["/predict"]


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
    assert lag.seconds == 0.0
    assert layer.shed == ["/predict", "/predict"]
