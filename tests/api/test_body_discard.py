"""What BodyLimit does after it refuses a body (app/api/body_limit.py): the 413 goes out first,
then the rest of the body is read and dropped up to the discard bound, in bytes and in time,
before the response ends with Connection: close. Driven with an in-memory receive and send;
the real server's side is tests/integration/test_refused_bodies.py."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from starlette.exceptions import HTTPException

from app.api.body_limit import BodyLimit
from app.telemetry.http_labels import RouteLabels

LIMIT = 1000
BOUND = 4000
CHUNK = 100
Message = dict[str, Any]


class Client:
    """A request body sent in CHUNK-byte messages, and what the server sends back, in order."""

    def __init__(self, size: int | None, stall_after: int | None = None) -> None:
        self.left = size  # None: never ends
        self.stall_after = stall_after
        self.read = 0
        self.log: list[tuple[str, Any]] = []

    async def receive(self) -> Message:
        if self.stall_after is not None and self.read >= self.stall_after:
            await asyncio.Event().wait()  # the client stops sending
        size = CHUNK if self.left is None else min(CHUNK, self.left)
        self.read += size
        if self.left is not None:
            self.left -= size
        more = self.left is None or self.left > 0
        self.log.append(("read", size))
        return {"type": "http.request", "body": b"x" * size, "more_body": more}

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.log.append(("start", (message["status"], dict(message["headers"]))))
        else:
            self.log.append(("body", (message.get("body", b""), message.get("more_body", False))))

    def sent(self) -> list[str]:
        """The kinds of what happened, with consecutive reads folded into one."""
        kinds: list[str] = []
        for kind, _ in self.log:
            if not (kind == "read" and kinds and kinds[-1] == "read"):
                kinds.append(kind)
        return kinds

    def response(self) -> tuple[int, dict[bytes, bytes], bytes]:
        (status, headers) = next(v for k, v in self.log if k == "start")
        body = b"".join(v[0] for k, v in self.log if k == "body")
        return status, headers, body


async def reading_app(scope: Any, receive: Any, send: Any) -> None:
    """Reads the whole body; a 413 raised while reading is rendered as the error table does."""
    try:
        while (await receive()).get("more_body"):
            pass
    except HTTPException as exc:
        body = json.dumps({"error": "body_too_large", "message": exc.detail, "detail": []})
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-length", str(len(body)).encode())]})  # fmt: skip
        await send({"type": "http.response.body", "body": body.encode()})
        return
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


def limit(seconds: float = 1.0) -> tuple[BodyLimit, list[Any]]:
    rejected: list[Any] = []
    layer = BodyLimit(
        reading_app, max_body_bytes=LIMIT, discard_bytes=BOUND, discard_seconds=seconds,
        on_rejected=lambda route, failures: rejected.append((route, failures)),
        routes=RouteLabels(("/predict",)),
    )  # fmt: skip
    return layer, rejected


def scope(declared: int | None) -> dict[str, Any]:
    headers = [] if declared is None else [(b"content-length", str(declared).encode())]
    return {"type": "http", "method": "POST", "path": "/predict", "headers": headers}


def call(layer: BodyLimit, declared: int | None, client: Client) -> None:
    asyncio.run(asyncio.wait_for(layer(scope(declared), client.receive, client.send), 5.0))


def test_a_declared_body_within_the_bound_is_answered_then_read_to_its_end() -> None:
    layer, rejected = limit()
    client = Client(3 * LIMIT)
    call(layer, 3 * LIMIT, client)
    assert client.sent() == ["start", "body", "read", "body"]  # the 413 goes out before any read
    assert client.read == 3 * LIMIT
    status, headers, body = client.response()
    assert status == 413
    assert headers[b"connection"] == b"close"
    assert json.loads(body)["error"] == "body_too_large"
    assert client.log[-1] == ("body", (b"", False))  # the response ends after the discard
    assert len(rejected) == 1


def test_a_declared_length_past_the_bound_is_not_read_at_all() -> None:
    layer, rejected = limit()
    client = Client(BOUND + 1)
    call(layer, BOUND + 1, client)
    assert client.sent() == ["start", "body"]
    assert client.read == 0
    status, headers, _ = client.response()
    assert (status, headers[b"connection"]) == (413, b"close")
    assert len(rejected) == 1


def test_a_chunked_body_is_read_no_further_than_the_bound() -> None:
    layer, _ = limit()
    client = Client(None)  # it never ends
    call(layer, None, client)
    assert client.sent() == ["read", "start", "body", "read", "body"]
    assert BOUND <= client.read <= BOUND + CHUNK
    status, headers, _ = client.response()
    assert (status, headers[b"connection"]) == (413, b"close")


def test_a_chunked_body_within_the_bound_is_read_to_its_end() -> None:
    layer, _ = limit()
    client = Client(2 * LIMIT)
    call(layer, None, client)
    assert client.read == 2 * LIMIT
    assert client.response()[0] == 413


def test_the_discard_stops_after_its_time_when_the_client_stops_sending() -> None:
    layer, _ = limit(seconds=0.2)
    client = Client(3 * LIMIT, stall_after=LIMIT // 2)
    call(layer, 3 * LIMIT, client)  # would hang without the time bound
    assert client.read == LIMIT // 2
    assert client.log[-1] == ("body", (b"", False))


def test_the_discard_stops_when_the_client_goes_away() -> None:
    layer, _ = limit()
    disconnected = Client(0)

    async def gone() -> Message:
        return {"type": "http.disconnect"}

    disconnected.receive = gone  # type: ignore[method-assign]
    call(layer, 3 * LIMIT, disconnected)
    assert disconnected.log[-1] == ("body", (b"", False))


@pytest.mark.parametrize("declared", [LIMIT, None], ids=["declared", "chunked"])
def test_a_body_within_the_limit_passes_untouched(declared: int | None) -> None:
    layer, rejected = limit()
    client = Client(LIMIT)
    call(layer, declared, client)
    status, headers, body = client.response()
    assert (status, body) == (200, b"ok")
    assert b"connection" not in headers
    assert rejected == []
