"""The HTTP layer's limits (app/http_protocol.py), on the protocol itself: bytes are fed to it as
uvicorn's event loop would, through an in-memory transport; what it writes is read back as
HTTP. The real server's behaviour is tests/integration/test_http_limits.py."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from uvicorn.config import Config
from uvicorn.server import ServerState

from app.api.admission import MAX_QUIET_IN_FLIGHT, SHEDDING_STATE_KEY, Shedding
from app.http_protocol import HttpLimits, limited_protocol
from app.loop_lag import LoopLag

LIMITS = HttpLimits(
    max_header_bytes=4096, max_headers=20, head_timeout_seconds=0.2, max_connections=3,
    retry_after_seconds=7,
)  # fmt: skip
KEEPALIVE_S = 1.0


async def ok_app(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-length", b"2")]})  # fmt: skip
    await send({"type": "http.response.body", "body": b"ok"})


class Transport(asyncio.Transport):
    """What the protocol writes, and whether it closed the connection."""

    def __init__(self) -> None:
        super().__init__()
        self.written = b""
        self.closed = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written += bytes(data)

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"sockname": ("127.0.0.1", 8000), "peername": ("127.0.0.1", 50000)}.get(name)

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    yield loop
    loop.run_until_complete(asyncio.sleep(0))
    loop.close()


@pytest.fixture
def state() -> ServerState:
    return ServerState()


def connect(
    loop: asyncio.AbstractEventLoop,
    state: ServerState,
    app_state: dict[str, Any] | None = None,
    app: Any = ok_app,
    limits: HttpLimits = LIMITS,
) -> tuple[Any, Transport]:
    config = Config(app=app, lifespan="off", timeout_keep_alive=KEEPALIVE_S)
    config.load()
    protocol = limited_protocol(limits)(
        config=config, server_state=state, app_state=app_state or {}, _loop=loop
    )
    transport = Transport()
    protocol.connection_made(transport)
    return protocol, transport


def answers(written: bytes) -> list[tuple[int, dict[str, str], bytes]]:
    """Every response in ``written``: (status, headers, body)."""
    out = []
    while written:
        head, _, rest = written.partition(b"\r\n\r\n")
        status_line, *lines = head.decode().split("\r\n")
        headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
        length = int(headers.get("content-length", 0))
        out.append((int(status_line.split()[1]), headers, rest[:length]))
        written = rest[length:]
    return out


def refusal(transport: Transport) -> tuple[int, str]:
    """The one answer written, a refusal with the error body and a close: (status, code)."""
    assert transport.closed
    ((status, headers, body),) = answers(transport.written)
    assert headers["connection"] == "close"
    assert headers["content-type"] == "application/json"
    document = json.loads(body)
    assert document.keys() == {"error", "message", "detail"}
    return status, document["error"]


def run(loop: asyncio.AbstractEventLoop, seconds: float = 0.0) -> None:
    loop.run_until_complete(asyncio.sleep(seconds))


GET = b"GET / HTTP/1.1\r\nHost: x\r\n"


def test_a_head_within_the_limits_is_served(loop: Any, state: ServerState) -> None:
    protocol, transport = connect(loop, state)
    headers = b"".join(b"X-%d: %s\r\n" % (i, b"v" * 100) for i in range(18))
    protocol.data_received(GET + headers + b"\r\n")
    run(loop)
    assert [status for status, _, _ in answers(transport.written)] == [200]
    assert not transport.closed


def test_a_head_over_the_size_limit_in_one_read_is_a_431(loop: Any, state: ServerState) -> None:
    protocol, transport = connect(loop, state)
    protocol.data_received(GET + b"X-Big: " + b"a" * 5000 + b"\r\n\r\n")
    assert refusal(transport) == (431, "headers_too_large")


def test_an_unfinished_header_is_refused_once_past_the_limit(loop: Any, state: ServerState) -> None:
    """The parser holds a header until it ends: the reads that held only head are counted."""
    protocol, transport = connect(loop, state)
    protocol.data_received(GET + b"X-Big: ")
    fed = 0
    while not transport.closed:
        protocol.data_received(b"a" * 512)
        fed += 512
        assert fed <= LIMITS.max_header_bytes + 512
    assert refusal(transport) == (431, "headers_too_large")


def test_an_unfinished_url_is_refused_once_past_the_limit(loop: Any, state: ServerState) -> None:
    protocol, transport = connect(loop, state)
    protocol.data_received(b"GET /?")
    for _ in range(20):
        protocol.data_received(b"q" * 512)
    assert refusal(transport) == (431, "headers_too_large")


def test_more_headers_than_the_limit_is_a_431(loop: Any, state: ServerState) -> None:
    protocol, transport = connect(loop, state)
    protocol.data_received(GET + b"".join(b"X-%d: v\r\n" % i for i in range(20)) + b"\r\n")
    assert refusal(transport) == (431, "headers_too_large")


def test_a_body_is_not_counted_as_head(loop: Any, state: ServerState) -> None:
    protocol, transport = connect(loop, state)
    body = b"x" * 100_000
    head = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body)
    protocol.data_received(head + body[:50_000])
    protocol.data_received(body[50_000:])
    run(loop)
    assert [status for status, _, _ in answers(transport.written)] == [200]


def test_pipelined_requests_are_each_their_own_head(loop: Any, state: ServerState) -> None:
    """Many small requests in one read, more bytes than the limit in all: none is refused."""
    protocol, transport = connect(loop, state)
    requests = (GET + b"X-Pad: " + b"p" * 100 + b"\r\n\r\n") * 40
    assert len(requests) > LIMITS.max_header_bytes
    protocol.data_received(requests)
    for _ in range(100):
        run(loop)
    assert [status for status, _, _ in answers(transport.written)] == [200] * 40


def test_a_connection_that_sends_nothing_is_closed_after_the_keep_alive(
    loop: Any, state: ServerState
) -> None:
    _, transport = connect(loop, state)
    run(loop, KEEPALIVE_S / 2)
    assert not transport.closed
    run(loop, KEEPALIVE_S)
    assert transport.closed
    assert transport.written == b""


def test_a_head_that_does_not_arrive_in_time_is_a_408(loop: Any, state: ServerState) -> None:
    protocol, transport = connect(loop, state)
    for byte in GET[:10]:
        protocol.data_received(bytes([byte]))  # each byte would reset an idle timer
        run(loop, LIMITS.head_timeout_seconds / 20)
    run(loop, LIMITS.head_timeout_seconds)
    assert refusal(transport) == (408, "request_timeout")


def test_the_head_timer_stops_with_the_head(loop: Any, state: ServerState) -> None:
    protocol, transport = connect(loop, state)
    protocol.data_received(GET + b"\r\n")
    run(loop, LIMITS.head_timeout_seconds * 2)
    assert [status for status, _, _ in answers(transport.written)] == [200]
    assert not transport.closed


def test_one_connection_more_than_the_bound_is_a_503(loop: Any, state: ServerState) -> None:
    held = [connect(loop, state) for _ in range(LIMITS.max_connections)]
    assert not any(transport.closed for _, transport in held)
    protocol, transport = connect(loop, state)
    assert refusal(transport) == (503, "overloaded")
    ((_, headers, _),) = answers(transport.written)
    assert headers["retry-after"] == "7"
    protocol.connection_lost(None)
    held[0][0].connection_lost(None)
    _, again = connect(loop, state)
    assert not again.closed


@pytest.mark.parametrize(
    "raw",
    [b"FOO / HTTP/1.1\r\n\r\n", b"GET / HTTP/1.1\r\nContent-Length: x\r\n\r\n", b"\x00\x01\x02"],
)
def test_what_is_not_http_is_a_400_with_the_error_body(
    loop: Any, state: ServerState, raw: bytes
) -> None:
    protocol, transport = connect(loop, state)
    protocol.data_received(raw)
    assert refusal(transport) == (400, "invalid_http")


# --- shedding in the protocol ------------------------------------------------------------------
ROW = b'{"age": 30}'
PREDICT = b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s" % (len(ROW), ROW)


class Policy:
    """A worker's shedding policy over a probe that reads ``probability``, and what the app
    saw and what the policy counted. Unless ``max_quiet_in_flight`` says otherwise the worker
    counts as busy however few requests are in progress (-1): these tests are about the refusal;
    PIE's safeguard has its own below. A request to ``/slow`` waits for ``release``."""

    def __init__(
        self,
        probability: float = 1.0,
        draining: bool = False,
        max_quiet_in_flight: int = -1,
        in_protocol: bool = True,
    ) -> None:
        self.shed: list[str] = []
        self.refused: list[tuple[str, str, float]] = []
        self.draining = draining
        self.shedding = Shedding(
            LoopLag(0.01), 0.025, 7, ("/predict", "/predict/batch"),
            on_shed=self.shed.append, on_refused=lambda *a: self.refused.append(a),
            draining=lambda: self.draining, extra_headers=[(b"x-worker-pid", b"42")],
            max_quiet_in_flight=max_quiet_in_flight, in_protocol=in_protocol,
        )  # fmt: skip
        self.shedding.probability = probability
        self.app_requests: list[str] = []
        self.release = asyncio.Event()

    def connect(
        self, loop: Any, state: ServerState, limits: HttpLimits = LIMITS
    ) -> tuple[Any, Transport]:
        async def app(scope: Any, receive: Any, send: Any) -> None:
            self.app_requests.append(scope["path"])
            if scope.get("path") == "/slow":
                await self.release.wait()
            await ok_app(scope, receive, send)

        return connect(loop, state, {SHEDDING_STATE_KEY: self.shedding}, app=app, limits=limits)


def test_a_shed_prediction_is_answered_by_the_protocol_and_the_connection_kept(
    loop: Any, state: ServerState
) -> None:
    policy = Policy(probability=1.0)
    protocol, transport = policy.connect(loop, state)
    protocol.data_received(PREDICT)
    run(loop)
    ((status, headers, body),) = answers(transport.written)
    assert status == 503
    assert headers["retry-after"] == "7"
    assert headers["content-type"] == "application/json"
    assert headers["x-worker-pid"] == "42"
    assert "connection" not in headers
    assert json.loads(body)["error"] == "overloaded"
    assert not transport.closed
    assert policy.app_requests == []  # no layer of the app saw it
    assert policy.shed == []  # the edge did not time it: the policy counted and timed it
    ((method, route, seconds),) = policy.refused
    assert (method, route) == ("POST", "/predict")
    assert 0 <= seconds < 1
    assert state.total_requests == 1


def test_after_a_shed_request_the_next_on_the_connection_is_parsed_afresh(
    loop: Any, state: ServerState
) -> None:
    """The shed request's body is dropped as it comes, in pieces too; the next request on the
    connection, admitted, reaches the app whole."""
    policy = Policy(probability=1.0)
    protocol, transport = policy.connect(loop, state)
    protocol.data_received(PREDICT[:-5])
    protocol.data_received(PREDICT[-5:])
    policy.shedding.probability = 0.0
    protocol.data_received(PREDICT)
    run(loop)
    assert [status for status, _, _ in answers(transport.written)] == [503, 200]
    assert policy.app_requests == ["/predict"]
    assert not transport.closed


def test_a_kept_connection_after_a_shed_is_closed_once_idle_past_the_keep_alive(
    loop: Any, state: ServerState
) -> None:
    policy = Policy(probability=1.0)
    protocol, transport = policy.connect(loop, state)
    protocol.data_received(PREDICT)
    run(loop, KEEPALIVE_S / 2)
    assert not transport.closed
    run(loop, KEEPALIVE_S)
    assert transport.closed


@pytest.mark.parametrize(
    ("request_bytes", "why"),
    [
        (PREDICT.replace(b"HTTP/1.1", b"HTTP/1.0"), "HTTP/1.0"),
        (PREDICT.replace(b"Host: x", b"Host: x\r\nConnection: close"), "the client's close"),
        (PREDICT.replace(b"Host: x", b"Host: x\r\nExpect: 100-continue"), "100-continue"),
    ],
)
def test_a_shed_closes_the_connection_when_it_cannot_be_reused(
    loop: Any, state: ServerState, request_bytes: bytes, why: str
) -> None:
    policy = Policy(probability=1.0)
    protocol, transport = policy.connect(loop, state)
    protocol.data_received(request_bytes)
    assert refusal(transport) == (503, "overloaded"), why


def test_while_the_pod_drains_a_shed_closes_its_connection(loop: Any, state: ServerState) -> None:
    policy = Policy(probability=1.0, draining=True)
    protocol, transport = policy.connect(loop, state)
    protocol.data_received(PREDICT)
    assert refusal(transport) == (503, "overloaded")


@pytest.mark.parametrize("path", [b"/healthz", b"/readyz", b"/metrics", b"/predict/", b"/x"])
def test_only_the_prediction_routes_are_shed(loop: Any, state: ServerState, path: bytes) -> None:
    policy = Policy(probability=1.0)
    protocol, transport = policy.connect(loop, state)
    protocol.data_received(PREDICT.replace(b"/predict", path))
    run(loop)
    assert [status for status, _, _ in answers(transport.written)] == [200]
    assert policy.refused == []


SLOW = GET.replace(b"GET / ", b"GET /slow ") + b"\r\n"


@pytest.mark.parametrize(("in_progress", "statuses"), [(2, [200]), (3, [503])])
def test_a_worker_sheds_only_while_more_than_two_requests_are_in_progress(
    loop: Any, state: ServerState, in_progress: int, statuses: list[int]
) -> None:
    """PIE's safeguard, with the shipped count: requests in progress on the worker's other
    connections (any path) make the queue; with one or two, a stall from outside sheds
    nothing."""
    limits = replace(LIMITS, max_connections=8)
    policy = Policy(probability=1.0, max_quiet_in_flight=MAX_QUIET_IN_FLIGHT)
    waiting = [policy.connect(loop, state, limits) for _ in range(in_progress)]
    for protocol, _ in waiting:
        protocol.data_received(SLOW)
    run(loop)
    protocol, transport = policy.connect(loop, state, limits)
    protocol.data_received(PREDICT)
    run(loop)
    assert [status for status, _, _ in answers(transport.written)] == statuses
    policy.release.set()
    for _ in range(10):
        run(loop)
    assert all(answers(t.written)[0][0] == 200 for _, t in waiting)


def test_without_protocol_shed_the_protocol_refuses_nothing_and_hands_over_its_requests(
    loop: Any, state: ServerState
) -> None:
    """The app's admission layer then refuses; the queue it counts is the server's."""
    policy = Policy(probability=1.0, in_protocol=False)
    protocol, transport = policy.connect(loop, state)
    protocol.data_received(PREDICT)
    assert policy.shedding.requests is state.tasks
    run(loop)
    assert [status for status, _, _ in answers(transport.written)] == [200]
    assert policy.refused == []
    assert policy.app_requests == ["/predict"]


def test_a_query_string_does_not_hide_a_prediction_route(loop: Any, state: ServerState) -> None:
    policy = Policy(probability=1.0)
    protocol, transport = policy.connect(loop, state)
    protocol.data_received(PREDICT.replace(b"/predict", b"/predict/batch?x=1"))
    run(loop)
    assert [status for status, _, _ in answers(transport.written)] == [503]
    assert [route for _, route, _ in policy.refused] == ["/predict/batch"]


def test_a_pipelined_request_is_left_to_the_app_so_answers_stay_in_order(
    loop: Any, state: ServerState
) -> None:
    """Admitted, then shed while the first is still being answered: the protocol must not
    answer the second before the first; the app's own admission layer sees it in turn."""
    policy = Policy(probability=0.0)
    protocol, transport = policy.connect(loop, state)
    protocol.data_received(PREDICT)  # admitted: its task has not run yet
    policy.shedding.probability = 1.0
    protocol.data_received(PREDICT)
    for _ in range(10):
        run(loop)
    assert [status for status, _, _ in answers(transport.written)] == [200, 200]
    assert policy.refused == []
    assert policy.app_requests == ["/predict", "/predict"]


def test_at_probability_zero_nothing_is_shed(loop: Any, state: ServerState) -> None:
    policy = Policy(probability=0.0)
    protocol, transport = policy.connect(loop, state)
    for _ in range(3):
        protocol.data_received(PREDICT)
        run(loop)
    assert [status for status, _, _ in answers(transport.written)] == [200] * 3
    assert policy.refused == []
