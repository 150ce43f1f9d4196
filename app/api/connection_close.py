"""While the pod drains, every response tells its client to close the connection.

A keep-alive client (a load balancer's pool, a service mesh, a client library) otherwise keeps
sending on a connection to a pod that is about to stop; with ``Connection: close`` it opens its
next connection through the load balancer, which by then routes it elsewhere. uvicorn closes
the connection once such a response is sent. Outside a drain this costs one byte read a request.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.drain_flag import DrainFlag

_CLOSE = (b"connection", b"close")


class CloseConnectionsWhileDraining:
    def __init__(self, app: ASGIApp, drain: DrainFlag) -> None:
        self.app = app
        self.drain = drain

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.drain.is_set:
            await self.app(scope, receive, send)
            return

        async def send_closing(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), _CLOSE]
            await send(message)

        await self.app(scope, receive, send_closing)
