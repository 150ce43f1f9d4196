"""Refuses a request body larger than the limit: one pure ASGI layer for both cases.

A declared Content-Length over the limit is answered at once, before the body is read, with the
service's error body. A body without a declared length (chunked) is counted as it arrives; past
the limit, reading it raises a 413 that the error table renders. Requests with a declared length
within the limit pass through untouched: no per-request cost on the common path.
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.api.errors import BODY, RejectionHook, error_response
from app.telemetry.http_labels import RouteLabels


class BodyLimit:
    def __init__(
        self, app: ASGIApp, max_body_bytes: int, on_rejected: RejectionHook, routes: RouteLabels
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
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
                await response(scope, receive, send)
                return
            await self.app(scope, receive, send)
            return

        received = 0
        limit = self.max_body_bytes

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    # Rendered (and counted as a rejection) by the error table's 413 handler.
                    raise HTTPException(413, f"The body is larger than {limit} bytes.")
            return message

        await self.app(scope, counting_receive, send)
