"""Refuses a request body larger than the limit: one pure ASGI layer for both cases.

A declared Content-Length over the limit is answered at once, before the body is read, with the
service's error body. A body without a declared length (chunked) is counted as it arrives; past
the limit, reading it raises a 413 that the error table renders. Requests with a declared length
within the limit pass through untouched: no per-request cost on the common path.

A refused body is never buffered. But a server that answers early and closes a socket that still
holds unread request bytes makes the kernel send a reset, and an ordinary client, still sending,
sees ``ECONNRESET`` or ``EPIPE`` instead of the 413. So the 413 is written at once and the rest of
the body is then read and dropped, up to ``discard_bytes`` of body in all and for at most
``discard_seconds``, before the connection is closed (``Connection: close``: the client learns
it is not kept). A declared length past that bound is not read at all: the connection is closed
right after the 413, which such a client may or may not read.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from functools import partial

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.api.errors import BODY, RejectionHook, error_response
from app.telemetry.http_labels import RouteLabels

_CLOSE = (b"connection", b"close")


class BodyLimit:
    def __init__(
        self,
        app: ASGIApp,
        max_body_bytes: int,
        discard_bytes: int,
        discard_seconds: float,
        on_rejected: RejectionHook,
        routes: RouteLabels,
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.discard_bytes = discard_bytes
        self.discard_seconds = discard_seconds
        self.on_rejected = on_rejected
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = None
        for name, value in scope["headers"]:
            if name == b"content-length":
                declared = int(value) if value.isdigit() else None
                break
        if declared is not None:
            if declared > self.max_body_bytes:
                self.on_rejected(self.routes.of(scope), [(BODY, "body")])
                response = error_response(
                    413, "body_too_large", f"The body is larger than {self.max_body_bytes} bytes."
                )
                # Past the bound the body would be cut anyway: close at once rather than read.
                fits = declared <= self.discard_bytes
                discard = partial(self._discard, receive, 0) if fits else None
                await response(scope, receive, _closing(send, discard))
                return
            await self.app(scope, receive, send)
            return

        received = 0
        refused = False
        limit = self.max_body_bytes

        async def counting_receive() -> Message:
            nonlocal received, refused
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    refused = True
                    # Rendered (and counted as a rejection) by the error table's 413 handler.
                    raise HTTPException(413, f"The body is larger than {limit} bytes.")
            return message

        refusal_send = _closing(send, lambda: self._discard(receive, received))

        async def send_after_refusal(message: Message) -> None:
            await (refusal_send if refused else send)(message)

        await self.app(scope, counting_receive, send_after_refusal)

    async def _discard(self, receive: Receive, already_read: int) -> None:
        """Read and drop the rest of a refused body: until its end, the client's disconnect,
        ``discard_bytes`` read in all, or ``discard_seconds``, whichever comes first."""
        read = already_read
        try:
            async with asyncio.timeout(self.discard_seconds):
                while read < self.discard_bytes:
                    message = await receive()
                    if message["type"] != "http.request":
                        return  # the client went away
                    read += len(message.get("body", b""))
                    if not message.get("more_body", False):
                        return
        except TimeoutError:
            return


def _closing(send: Send, discard: Callable[[], Awaitable[None]] | None) -> Send:
    """``send`` for a refusal: the response says ``Connection: close``; its last body message
    goes out as a middle one, then ``discard()`` runs, then the response ends (and the server
    closes the connection)."""

    async def send_then_discard(message: Message) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", ()), _CLOSE]}
        elif discard is not None and not message.get("more_body", False):
            # Every byte of the 413 is on its way; uvicorn keeps reading the request's body
            # for a response that has not ended.
            await send({**message, "more_body": True})
            await discard()
            message = {"type": "http.response.body", "body": b"", "more_body": False}
        await send(message)

    return send_then_discard
