"""An open-loop HTTP/1.1 load, "a spike": requests arrive on a fixed schedule whatever the server
does with them, from clients that give up after a timeout, as real callers do.

A closed loop (wrk, ``tests/support/closed_loop.py``) sends a connection's next request only
once the last one is answered, so it never offers more than the server serves: 16 connections
keep a queue of at most 16 requests, however slow the server gets. Here request ``i`` is due
``i / rate`` seconds after the start. It takes an idle kept-alive connection or opens a new one,
and its client waits at most ``timeout_s`` from when the request was due (connecting included);
then it closes the connection, as a client's timeout does, and counts a timeout. Latency is
taken from when a request was due, not from when it was sent, so a driver that falls behind its
schedule shows it as latency rather than hiding it (coordinated omission); how far behind it
ever fell is reported too.

Lean on purpose, because a Python client costs about what a Python server does per request
with asyncio streams: one protocol object per connection, one timer per request, no task per
request, uvloop, a pre-encoded request. Only for 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import resource
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import cast

import uvloop

from tests.support.closed_loop import parse_head, request_bytes

_HEAD_END = b"\r\n\r\n"


@dataclass
class SpikeResult:
    rate_per_s: float
    seconds: float
    timeout_s: float
    statuses: Counter[int] = field(default_factory=Counter)
    # seconds from when a request was due to its whole answer, per status
    latencies_s: dict[int, list[float]] = field(default_factory=dict)
    timeouts: int = 0  # no whole answer within timeout_s: the client gave up and closed
    errors: int = 0  # the connection failed (refused, reset, closed before the answer)
    behind_s: float = 0.0  # the most the driver ever fell behind its schedule

    @property
    def offered(self) -> int:
        return sum(self.statuses.values()) + self.timeouts + self.errors

    def answered_within(self, status: int, seconds: float) -> int:
        return sum(1 for latency in self.latencies_s.get(status, ()) if latency <= seconds)


def connection_cap() -> int:
    """Most connections open at once: what the descriptor limit leaves, less a margin."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return max(64, min(soft - 256, 16_000))


class _Client(asyncio.Protocol):
    """One connection, with at most one request in flight."""

    def __init__(self, driver: _Driver) -> None:
        self.driver = driver
        self.transport: asyncio.Transport | None = None
        self.connecting: asyncio.Task[object] | None = None
        self.buffer = bytearray()
        self.due = 0.0
        self.in_flight = False
        self.closed = False
        self.timer: asyncio.TimerHandle | None = None

    def send(self, due: float) -> None:
        self.due, self.in_flight = due, True
        self.driver.in_flight += 1
        self.buffer.clear()
        delay = due + self.driver.result.timeout_s - time.monotonic()
        self.timer = self.driver.loop.call_later(delay, self.give_up)
        if self.transport is not None:
            self.transport.write(self.driver.request)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but have its methods.
        self.transport = cast(asyncio.Transport, transport)
        if self.closed:
            self.transport.close()
        elif self.in_flight:
            self.transport.write(self.driver.request)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        end = self.buffer.find(_HEAD_END)
        if end < 0 or not self.in_flight:
            return
        status, headers = parse_head(bytes(self.buffer[:end]))
        if len(self.buffer) < end + len(_HEAD_END) + int(headers["content-length"]):
            return
        latency = time.monotonic() - self.due
        if latency > self.driver.result.timeout_s:
            self.give_up()  # its timer is late behind a busy loop: the client has given up
            return
        self.finish()
        self.driver.answered(status, latency)
        if headers.get("connection", "").lower() == "close":
            self.close()
        else:
            self.driver.idle.append(self)

    def give_up(self) -> None:
        self.finish()
        self.driver.result.timeouts += 1
        self.close()

    def failed(self) -> None:
        if self.in_flight:
            self.finish()
            self.driver.result.errors += 1
        self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.failed()

    def finish(self) -> None:
        if self.in_flight:
            self.in_flight = False
            self.driver.in_flight -= 1
            if self.driver.scheduled and not self.driver.in_flight:
                self.driver.done.set()
        if self.timer is not None:
            self.timer.cancel()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.driver.open -= 1
        if self.transport is not None:
            self.transport.close()
        elif self.connecting is not None:
            self.connecting.cancel()


class _Driver:
    def __init__(self, result: SpikeResult, port: int, request: bytes) -> None:
        self.result = result
        self.port = port
        self.request = request
        self.loop = asyncio.get_running_loop()
        self.idle: list[_Client] = []
        self.open = 0
        self.in_flight = 0
        self.cap = connection_cap()
        self.scheduled = False  # every request of the run has been started
        self.done = asyncio.Event()  # ... and every one is over

    def answered(self, status: int, latency_s: float) -> None:
        self.result.statuses[status] += 1
        self.result.latencies_s.setdefault(status, []).append(latency_s)

    def start(self, due: float) -> None:
        while self.idle:
            client = self.idle.pop()
            if not client.closed:
                client.send(due)
                return
        if self.open >= self.cap:
            self.result.errors += 1  # this client could not even open a connection
            return
        client = _Client(self)
        self.open += 1
        client.send(due)
        client.connecting = self.loop.create_task(
            self.loop.create_connection(lambda: client, "127.0.0.1", self.port)
        )
        client.connecting.add_done_callback(lambda task: self.connected(task, client))

    def connected(self, task: asyncio.Task[object], client: _Client) -> None:
        client.connecting = None
        if not task.cancelled() and task.exception() is not None:
            client.failed()  # refused, or reset while connecting

    async def run(self) -> None:
        result = self.result
        total = round(result.rate_per_s * result.seconds)
        start = time.monotonic() + 0.05
        i = 0
        while i < total:
            now = time.monotonic()
            due = start + i / result.rate_per_s
            if due > now:
                # At least a millisecond (the loop's timer resolution): each wake sends every
                # request due by then, rather than waking thousands of times a second.
                await asyncio.sleep(max(due - now, 0.001))
                continue
            result.behind_s = max(result.behind_s, now - due)
            while i < total and (due := start + i / result.rate_per_s) <= now:
                self.start(due)
                i += 1
        # Every request is answered, failed or given up on within timeout_s of when it was due.
        self.scheduled = True
        if self.in_flight:
            await self.done.wait()
        for client in self.idle:
            client.close()


def spike(
    port: int, path: str, body: bytes, rate_per_s: float, seconds: float, timeout_s: float
) -> SpikeResult:
    """``rate_per_s`` requests a second for ``seconds``; returns once every one of them is
    answered or given up on (at most ``timeout_s`` after the last was due)."""
    result = SpikeResult(rate_per_s, seconds, timeout_s)

    async def main() -> None:
        await _Driver(result, port, request_bytes(path, body)).run()

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(main())
    return result
