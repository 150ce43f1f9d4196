"""A request body larger than GLASSBOX_MAX_BODY_BYTES is refused with a 413 ``body_too_large``,
whether its length is declared or it arrives chunked.

``BodyLimit`` is driven here as an ASGI callable: a declared Content-Length over the limit is
answered before the body is read, in the one error body, and counted as a ``_body`` rejection
of its route; a body without a declared length is counted as it arrives and, past the limit,
reading it raises the 413 that the error table renders; anything within the limit passes
through untouched.
"""

import json

import orjson
import pytest
from starlette.exceptions import HTTPException

from app.api.body_limit import BodyLimit
from app.telemetry.http_labels import RouteLabels
from tests.api.conftest import make_client
from tests.support.asgi import LIFESPAN_SCOPE, Body, Endpoint, Sent, call, http_scope
from tests.support.bad_requests import JSON

LIMIT = 1024
# What is read and dropped after a 413 so the client reads it rather than a reset.
DISCARD_BYTES = 4 * LIMIT
DISCARD_SECONDS = 2.0


class Layer:
    """A BodyLimit of LIMIT bytes over an Endpoint, and the rejections it reported."""

    def __init__(self) -> None:
        self.endpoint = Endpoint()
        self.rejections: list[tuple[str, list[tuple[str, str]]]] = []
        self.limit = BodyLimit(
            self.endpoint, LIMIT, DISCARD_BYTES, DISCARD_SECONDS,
            lambda route, failures: self.rejections.append((route, failures)),
            RouteLabels(["/predict", "/predict/batch"]),
        )  # fmt: skip


def declared(length: int | str) -> list[tuple[str, str]]:
    return [("content-type", "application/json"), ("content-length", str(length))]


def test_a_declared_length_over_the_limit_is_answered_413_before_the_body_is_read() -> None:
    layer = Layer()
    events: list[str] = []
    body = Body(*[b"x" * 512] * 4)  # 2 KiB: over the limit, within what is discarded

    async def receive() -> dict[str, object]:
        events.append("read")
        return await body()

    sent = Sent()

    async def send(message: dict[str, object]) -> None:
        events.append(str(message["type"]))
        await sent(message)

    call(layer.limit, http_scope("/predict/batch", headers=declared(4 * 512)), receive, send)
    assert layer.endpoint.calls == 0, "the app never sees the request"
    assert events[0] == "http.response.start", "the 413 goes out before any byte is read"
    assert sent.status == 413
    assert sent.header("content-type") == "application/json"
    assert sent.header("connection") == "close", "the client learns the connection ends"
    answer = orjson.loads(sent.body)
    assert answer.keys() == {"error", "message", "detail"}
    assert answer["error"] == "body_too_large"
    assert str(LIMIT) in answer["message"], "the message states the limit"
    assert answer["detail"] == []
    assert body.messages == [], "then the body is read and dropped, so the client sees no reset"
    assert events[-1] == "http.response.body", "and the response ends after it"


def test_a_declared_length_past_the_discard_bound_is_not_read_at_all() -> None:
    layer = Layer()
    body = Body(b"x" * (DISCARD_BYTES + 1))
    sent = call(layer.limit, http_scope("/predict", headers=declared(DISCARD_BYTES + 1)), body)
    assert sent.status == 413
    assert body.reads == 0
    assert sent.header("connection") == "close"


def test_the_refusal_is_counted_once_as_a_body_rejection_of_its_route() -> None:
    layer = Layer()
    call(layer.limit, http_scope("/predict/batch", headers=declared(10 * LIMIT)))
    assert layer.rejections == [("/predict/batch", [("_body", "body")])]


def test_before_routing_a_path_that_is_no_route_is_counted_as_unmatched() -> None:
    layer = Layer()
    sent = call(layer.limit, http_scope("/no/such/path", headers=declared(LIMIT + 1)))
    assert sent.status == 413
    assert layer.rejections == [("unmatched", [("_body", "body")])]


@pytest.mark.parametrize("length", [0, 1, LIMIT], ids=["empty", "one byte", "at the limit"])
def test_a_declared_length_within_the_limit_passes_through_untouched(length: int) -> None:
    layer = Layer()
    body, sent = Body(b"x" * length), Sent()
    call(layer.limit, http_scope(headers=declared(length)), body, sent)
    assert layer.endpoint.receive is body, "the app reads the server's own receive"
    assert layer.endpoint.send is sent
    assert layer.endpoint.body_read == b"x" * length
    assert sent.status == 200
    assert layer.rejections == []


def test_a_chunked_body_within_the_limit_reaches_the_app_whole() -> None:
    layer = Layer()
    chunks = [b"a" * 300, b"b" * 300, b"c" * (LIMIT - 600)]
    sent = call(layer.limit, http_scope(headers=[("content-type", "application/json")]),
                Body(*chunks))  # fmt: skip
    assert layer.endpoint.body_read == b"".join(chunks)
    assert sent.status == 200


def test_a_chunked_body_past_the_limit_raises_a_413_as_it_is_read() -> None:
    layer = Layer()
    body = Body(b"a" * 600, b"b" * 600, b"c" * 600)
    with pytest.raises(HTTPException) as raised:
        call(layer.limit, http_scope(headers=[("content-type", "application/json")]), body)
    assert raised.value.status_code == 413
    assert str(LIMIT) in raised.value.detail
    assert body.reads == 2, "reading stops at the chunk that passes the limit"
    assert layer.rejections == [], "the error table's 413 handler counts it, not the layer"


def test_a_content_length_that_is_not_a_number_is_counted_as_the_body_arrives() -> None:
    layer = Layer()
    with pytest.raises(HTTPException) as raised:
        call(layer.limit, http_scope(headers=declared("12abc")), Body(b"x" * (LIMIT + 1)))
    assert raised.value.status_code == 413
    small = Layer()
    assert call(small.limit, http_scope(headers=declared("-1")), Body(b"{}")).status == 200


def test_a_client_disconnect_reaches_the_app_as_it_came() -> None:
    layer = Layer()

    async def disconnected() -> dict[str, object]:
        return {"type": "http.disconnect"}

    call(layer.limit, http_scope(headers=[]), disconnected)
    assert layer.endpoint.received == [{"type": "http.disconnect"}]


def test_a_lifespan_scope_passes_through() -> None:
    layer = Layer()
    body, sent = Body(), Sent()
    call(layer.limit, LIFESPAN_SCOPE, body, sent)
    assert layer.endpoint.calls == 1
    assert layer.endpoint.receive is body
    assert layer.endpoint.send is sent


# --- through the app ------------------------------------------------------------------------------


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
def test_too_large_a_body_is_a_413(declared: bool) -> None:
    body = json.dumps({"rows": [{"age": 30, "signup_month": "June"}] * 100}).encode()
    content = body if declared else iter([body[:1000], body[1000:]])
    with make_client(max_body_bytes=1024) as small:
        response = small.post("/predict/batch", headers=JSON, content=content)
    assert response.status_code == 413
    assert response.json()["error"] == "body_too_large"
