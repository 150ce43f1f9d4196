"""Drive one pure ASGI layer in process, without a server: a request scope, a ``receive`` that
plays the request body and counts its reads, a ``send`` that records what went out, and an
inner app that reads the body and answers. For unit tests of the middlewares; the app-level
tests use the real app through TestClient."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

Message = dict[str, Any]
Scope = dict[str, Any]


def http_scope(
    path: str = "/predict", method: str = "POST", headers: Iterable[tuple[str, str]] = ()
) -> Scope:
    """An HTTP request's scope as uvicorn makes it (header names lower-case bytes)."""
    return {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "scheme": "http",
        "method": method, "path": path, "raw_path": path.encode(), "root_path": "",
        "query_string": b"", "server": ("127.0.0.1", 8000), "client": ("127.0.0.1", 50000),
        "headers": [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers],
    }  # fmt: skip


LIFESPAN_SCOPE: Scope = {"type": "lifespan", "asgi": {"version": "3.0"}}


class Body:
    """``receive``: the request body as ``http.request`` messages, one per chunk, then
    ``http.disconnect`` for ever after. ``reads`` counts the calls."""

    def __init__(self, *chunks: bytes) -> None:
        chunks = chunks or (b"",)
        self.messages: list[Message] = [
            {"type": "http.request", "body": c, "more_body": i < len(chunks) - 1}
            for i, c in enumerate(chunks)
        ]
        self.reads = 0

    async def __call__(self) -> Message:
        self.reads += 1
        if self.messages:
            return self.messages.pop(0)
        return {"type": "http.disconnect"}


class Sent:
    """``send``: records every message."""

    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def __call__(self, message: Message) -> None:
        self.messages.append(message)

    @property
    def start(self) -> Message:
        (start,) = [m for m in self.messages if m["type"] == "http.response.start"]
        return start

    @property
    def status(self) -> int:
        status: int = self.start["status"]
        return status

    @property
    def header_list(self) -> list[tuple[bytes, bytes]]:
        return list(self.start.get("headers", []))

    def header(self, name: str) -> str | None:
        """The one value of header ``name``; None if absent (two values fail the test)."""
        values = [v.decode("latin-1") for k, v in self.header_list if k.decode().lower() == name]
        assert len(values) <= 1, f"{name} sent {len(values)} times: {values}"
        return values[0] if values else None

    @property
    def body(self) -> bytes:
        return b"".join(
            m.get("body", b"") for m in self.messages if m["type"] == "http.response.body"
        )


class Endpoint:
    """The app inside the layer under test: reads the whole body, then answers ``status`` with
    ``body`` and ``headers``. Records what it was given, and what it read."""

    def __init__(
        self,
        status: int = 200,
        body: bytes = b'{"ok":true}',
        headers: Iterable[tuple[bytes, bytes]] = ((b"content-type", b"application/json"),),
        during: Callable[[Scope], Awaitable[None]] | None = None,
    ) -> None:
        self.status = status
        self.response_body = body
        self.headers = list(headers)
        self.during = during  # run after the body is read, before the response starts
        self.calls = 0
        self.scope: Scope | None = None
        self.receive: Any = None
        self.send: Any = None
        self.received: list[Message] = []
        self.body_read = b""

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        self.calls += 1
        self.scope, self.receive, self.send = scope, receive, send
        if scope["type"] != "http":
            return
        chunks = []
        while True:
            message = await receive()
            self.received.append(message)
            if message["type"] != "http.request":
                break
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        self.body_read = b"".join(chunks)
        if self.during is not None:
            await self.during(scope)
        await send({"type": "http.response.start", "status": self.status, "headers": self.headers})
        await send({"type": "http.response.body", "body": self.response_body})


def call(layer: Any, scope: Scope, receive: Any = None, sent: Sent | None = None) -> Sent:
    """Run one request through ``layer`` on a fresh event loop; what it sent."""
    sent = sent if sent is not None else Sent()
    asyncio.run(layer(scope, receive if receive is not None else Body(), sent))
    return sent
