"""``x-worker-pid`` on every response: which worker process served it. Off by default
(``GLASSBOX_WORKER_PID_HEADER``); tests switch it on to tell a pod's workers apart."""

from __future__ import annotations

import os

from starlette.types import ASGIApp, Message, Receive, Scope, Send

WORKER_PID_HEADER = "x-worker-pid"


class WorkerPidHeader:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.header = self.header_of_this_process()

    @staticmethod
    def header_of_this_process() -> tuple[bytes, bytes]:
        return (WORKER_PID_HEADER.encode(), str(os.getpid()).encode())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_pid(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), self.header]
            await send(message)

        await self.app(scope, receive, send_with_pid)
