"""A batch request's budget: its deadline and its client's connection, checked between chunks.

The checks run on whichever thread predicts the chunks; the connection is watched on the event
loop by a task that waits for the ASGI ``http.disconnect`` message and sets a flag the checks
read. What a stop means for HTTP (504, 499) is the error table's business.
"""

from __future__ import annotations

import time

from starlette.types import Receive

from app.api.errors import ClientDisconnectedError, DeadlineExceededError


class WorkBudget:
    def __init__(self, deadline: float, chunk_delay_s: float = 0.0) -> None:
        self.deadline = deadline
        self.chunk_delay_s = chunk_delay_s
        self.disconnected = False
        self.rows_done = 0

    async def watch(self, receive: Receive) -> None:
        """Until cancelled or the client goes: the body is read, so the next message the
        server has for this request is its disconnect."""
        while (await receive())["type"] != "http.disconnect":
            pass
        self.disconnected = True

    def before_chunk(self, rows_done: int) -> None:
        """Stop (raise) when the client is gone or the deadline passed; else go on."""
        self.rows_done = rows_done
        if self.disconnected:
            raise ClientDisconnectedError
        if time.monotonic() > self.deadline:
            raise DeadlineExceededError
        if self.chunk_delay_s:
            time.sleep(self.chunk_delay_s)  # tests only (a setting), on the batch's thread
