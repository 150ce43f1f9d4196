"""The HTTP/1.1 protocol of every worker: uvicorn's httptools protocol with the limits it lacks,
so that what one client sends costs a bounded share of a worker.

uvicorn's httptools protocol has no limit on a request's line or headers (a 10 MiB header block
was answered 200, and a connection sending one held ~15 MiB until it finished), never closes a
connection that has not sent a request (only a kept-alive one, after ``timeout_keep_alive``),
has no deadline on reading a request's head, and no bound on the connections a worker holds;
uvicorn-worker passes none of gunicorn's ``limit_request_*`` or ``worker_connections``. Here:

- a request's line and headers together are at most ``max_header_bytes``, in at most
  ``max_headers`` headers: past either, a 431 and the connection is closed. Held per connection:
  at most the limit, and two reads (uvloop reads 250 kB at a time) while the head is
  checked;
- a connection that sends nothing is closed after the keep-alive timeout, like one idle between
  requests;
- a request's head must be complete ``head_timeout_seconds`` after the first read that did
  not finish it, or the answer is a 408 and the connection is closed (a client dripping its
  headers byte by byte is not idle: nothing else would ever close it). The body's pace is not
  bounded here;
- a worker holds at most ``max_connections`` connections: one more is answered 503 overloaded
  and closed as soon as it is accepted;
- a request that is not valid HTTP/1.1 (framing, an unknown method, bytes a header cannot hold)
  gets the service's error body, a 400 ``invalid_http``, instead of uvicorn's plain text.

Each answer is the service's one error body, with ``Connection: close``. They are written before
the request reaches the app, so the app's metrics and request log never see them; uvicorn logs
a warning for each refused head, as it does for any request it cannot parse.

It also sheds: while the worker's admission policy (:class:`app.api.admission.Shedding`, found in
the lifespan's state) says the worker is overloaded, a prediction request is answered 503 as
soon as its head is parsed, before uvicorn makes it a task, and its body is dropped as it comes.
The connection stays open (unless the client or a drain closes it): reconnecting would cost the
worker more than the refusal. The policy counts it in the app's metrics. Only a request that
is alone on its connection is shed here; a pipelined one is left to the app's admission layer,
so responses stay in order.
"""

from __future__ import annotations

import asyncio
import http
import time
from dataclasses import dataclass
from typing import Any, ClassVar

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from app.api.admission import SHEDDING_STATE_KEY, Shedding
from app.api.errors import error_body
from app.telemetry.http_labels import method_label


@dataclass(frozen=True)
class HttpLimits:
    max_header_bytes: int
    max_headers: int
    head_timeout_seconds: float
    max_connections: int
    retry_after_seconds: int


class _HeadRefused(Exception):
    """Raised from a parser callback once the refusal is written: stops the parser."""


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    limits: ClassVar[HttpLimits]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.reading_head = True  # the next bytes belong to a request's line and headers
        self.head_started = False  # the parser has begun a request whose head is not complete
        self.heads_done = 0
        self.head_read = 0  # bytes of the reads that held nothing but the head being read
        self.head_timer: asyncio.TimerHandle | None = None
        self.dropping = False  # the body coming belongs to a request already shed

    # --- connection --------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self.limits.max_connections:
            self.refuse(
                503, "overloaded", "The server is overloaded; retry after Retry-After seconds.",
                retry_after=self.limits.retry_after_seconds,
            )  # fmt: skip
            return
        # uvicorn arms its keep-alive timeout only after a response: a connection that never
        # sends a request would be held for ever.
        self.timeout_keep_alive_task = self.loop.call_later(
            self.timeout_keep_alive, self.timeout_keep_alive_handler
        )

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_head_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self.transport.is_closing():
            return  # refused: nothing more is parsed
        in_head, heads_done = self.reading_head, self.heads_done
        super().data_received(data)
        if self.transport.is_closing() or not self.reading_head:
            return
        if self.heads_done != heads_done and not self.head_started:
            return  # a request ended with this read, and nothing of the next has come yet
        # The read ended inside a head (or in bytes before one). A head that comes in one read,
        # as nearly every one does, never gets here: it costs no timer.
        if in_head and self.heads_done == heads_done:
            # All of it was head, which the parser holds until its header is complete.
            self.head_read += len(data)
            if self.head_read > self.limits.max_header_bytes:
                self._refuse_head_size()
                return
        if self.head_timer is None:
            self.head_timer = self.loop.call_later(
                self.limits.head_timeout_seconds, self._head_timed_out
            )

    # --- parser callbacks ----------------------------------------------------------------------
    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.head_started = True

    def on_headers_complete(self) -> None:
        self._stop_head_timer()
        self.reading_head = self.head_started = False
        self.heads_done += 1
        self.head_read = 0
        headers = self.headers
        if len(headers) > self.limits.max_headers:
            self.refuse(431, "headers_too_large", f"More than {self.limits.max_headers} headers.")
            raise _HeadRefused
        # Each header as it came: "name: value\r\n".
        size = len(self.url) + sum(len(name) + len(value) + 4 for name, value in headers)
        if size > self.limits.max_header_bytes:
            self._refuse_head_size()
            raise _HeadRefused
        shedding: Shedding | None = self.app_state.get(SHEDDING_STATE_KEY)
        if shedding is not None:
            shedding.requests = self.tasks  # the worker's one set, the admission layer's too
            if shedding.in_protocol and self._shed(shedding):
                return
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        if not self.dropping:
            super().on_body(body)

    def on_message_complete(self) -> None:
        if self.dropping:
            self.dropping = False
            if not self.transport.is_closing():  # as after any response: wait for the next
                self.timeout_keep_alive_task = self.loop.call_later(
                    self.timeout_keep_alive, self.timeout_keep_alive_handler
                )
        else:
            super().on_message_complete()
        self.reading_head = True

    def _shed(self, shedding: Shedding) -> bool:
        """Answer a prediction request 503 now if the policy sheds it; whether it did."""
        started = time.perf_counter()
        url = self.url
        query = url.find(b"?")
        raw_path = url if query < 0 else url[:query]
        if raw_path not in shedding.raw_routes or self.root_path:
            return False
        cycle = self.cycle
        if (cycle is not None and not cycle.response_complete) or self.pipeline:
            return False  # pipelined: this answer would overtake the one before it
        if not shedding.overloaded(len(self.tasks)):  # every request in progress, any path
            return False
        # A client waiting for 100-continue sends no body: the connection cannot be reused.
        close = (
            self.expect_100_continue or not self.parser.should_keep_alive() or shedding.draining()
        )
        # Counted before it is written: a count survives a kill -9 once the client has its answer.
        method = method_label(self.parser.get_method().decode("ascii"))
        shedding.refused(method, raw_path.decode("ascii"), time.perf_counter() - started)
        self.transport.write(
            self.response_head(shedding.status, shedding.protocol_headers, close) + shedding.body
        )
        self.server_state.total_requests += 1
        if close:
            self.transport.close()
        else:
            self.dropping = True
        return True

    def send_400_response(self, msg: str) -> None:
        # uvicorn's answer to bytes its parser refuses, also after a refusal of ours stopped it.
        if not self.transport.is_closing():
            self.refuse(400, "invalid_http", "The request is not valid HTTP/1.1.")

    # --- refusals --------------------------------------------------------------------------------
    def _refuse_head_size(self) -> None:
        self.refuse(
            431, "headers_too_large",
            f"The request line and headers exceed {self.limits.max_header_bytes} bytes.",
        )  # fmt: skip

    def _head_timed_out(self) -> None:
        self.head_timer = None
        if not self.transport.is_closing():
            self.refuse(
                408, "request_timeout",
                f"The request's headers did not arrive within "
                f"{self.limits.head_timeout_seconds:g} seconds.",
            )  # fmt: skip

    def _stop_head_timer(self) -> None:
        if self.head_timer is not None:
            self.head_timer.cancel()
            self.head_timer = None

    def refuse(self, status: int, code: str, message: str, retry_after: int | None = None) -> None:
        """Answer with the error body and close; only close if a response has started on this
        connection and is not finished (a pipelined request's, or the app's)."""
        self._stop_head_timer()
        cycle = self.cycle
        idle = cycle is None or cycle.response_complete
        if cycle is not None and not idle and not cycle.response_started and not self.pipeline:
            # The app is reading this request (its body turned out malformed): it now sees a
            # disconnect, and whatever it sends is dropped, as after a client's close.
            cycle.disconnected = True
            cycle.message_event.set()
            idle = True
        if idle:
            body = error_body(code, message)
            headers = [(b"content-type", b"application/json"),
                       (b"content-length", b"%d" % len(body))]  # fmt: skip
            if retry_after is not None:
                headers.append((b"retry-after", b"%d" % retry_after))
            self.transport.write(self.response_head(status, headers, close=True) + body)
        self.transport.close()

    def response_head(self, status: int, headers: list[tuple[bytes, bytes]], close: bool) -> bytes:
        """A response's status line and headers, uvicorn's own (date, server) first."""
        lines = [f"HTTP/1.1 {status} {http.HTTPStatus(status).phrase}\r\n".encode()]
        for name, value in (*self.server_state.default_headers, *headers):
            lines.append(name + b": " + value + b"\r\n")
        if close:
            lines.append(b"connection: close\r\n")
        lines.append(b"\r\n")
        return b"".join(lines)


def limited_protocol(limits: HttpLimits) -> type[LimitedHttpToolsProtocol]:
    """The protocol class for uvicorn's ``Config(http=...)``, with these limits."""
    return type("LimitedHttpToolsProtocol", (LimitedHttpToolsProtocol,), {"limits": limits})
