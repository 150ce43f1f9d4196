"""Refuses a request whose declared Content-Length exceeds the limit, before reading its body.

FastAPI's own limit (set on the prediction router) covers bodies without a declared length, and
its errors reach the error table; for a declared length Starlette answers with plain text, so
this pure ASGI middleware answers first, with the service's error body.
"""

from __future__ import annotations

from collections.abc import Collection

from starlette.types import ASGIApp, Receive, Scope, Send

from app.api.errors import BODY, RejectionHook, error_response


class DeclaredBodyLimit:
    def __init__(
        self, app: ASGIApp, max_body_bytes: int, on_rejected: RejectionHook, routes: Collection[str]
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.on_rejected = on_rejected
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            for name, value in scope["headers"]:
                if name == b"content-length":
                    if value.isdigit() and int(value) > self.max_body_bytes:
                        path = scope["path"]
                        route = path if path in self.routes else "unmatched"
                        self.on_rejected(route, [(BODY, "body")])
                        response = error_response(
                            413, "body_too_large",
                            f"The body is larger than {self.max_body_bytes} bytes.",
                        )  # fmt: skip
                        await response(scope, receive, send)
                        return
                    break
        await self.app(scope, receive, send)
