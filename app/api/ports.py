"""Two listeners, one app: with an admin port, each path is answered on its own port only.

gunicorn binds both addresses and every worker accepts on both (no extra server or thread);
this pure ASGI layer, outside everything else, reads the port a request arrived on
(``scope["server"]``) and answers a path asked on the other port with the service's 404, before
any telemetry: the admin port's paths are never exposed on the public one, and a request on the
wrong port is not the service's traffic (not counted, logged or traced).
"""

from __future__ import annotations

from collections.abc import Collection
from http import HTTPStatus

from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

from app.api.errors import error_response
from app.api.routes import ADMIN_ROUTES


class PortSplit:
    """``admin_only`` paths only on ``admin_port`` (without one: nowhere); every other path
    only on the other port(s)."""

    def __init__(self, app: ASGIApp, admin_port: int | None, admin_only: Collection[str]) -> None:
        self.app = app
        self.admin_port = admin_port
        self.admin_only = frozenset(admin_only)
        # The body the app's own 404 has (app/api/errors.py).
        self.not_found = error_response(404, "not_found", HTTPStatus.NOT_FOUND.phrase)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            server = scope.get("server")
            on_admin_port = server is not None and server[1] == self.admin_port
            if (scope["path"] in self.admin_only) != on_admin_port:
                await self.not_found(scope, receive, send)
                return
        await self.app(scope, receive, send)


def admin_only(app: FastAPI, admin_port: int | None, public_docs: bool) -> frozenset[str]:
    """/metrics and /drift when there is an admin port; the OpenAPI document and its pages
    unless ``public_docs``."""
    paths = set(ADMIN_ROUTES) if admin_port is not None else set()
    if not public_docs:
        docs = (app.openapi_url, app.docs_url, app.redoc_url, app.swagger_ui_oauth2_redirect_url)
        paths.update(path for path in docs if path)
    return frozenset(paths)


def split_ports(app: FastAPI, admin_port: int | None, public_docs: bool) -> None:
    """Add the split as the app's outermost layer (call after every other middleware); with
    one port and the docs public there is nothing to split, and nothing is added."""
    paths = admin_only(app, admin_port, public_docs)
    if paths:
        app.add_middleware(PortSplit, admin_port=admin_port, admin_only=paths)
