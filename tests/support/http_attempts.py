"""HTTP clients for shutdown tests, on raw sockets: each request's start time and exactly how it
ended (refused at connect, failed before any response byte, cut mid-response, or answered).

A library client folds these together (a reset is a reset, wherever it came); the drain's
promises are about which one happens when, so the tests classify them themselves.
"""

from __future__ import annotations

import errno
import json
import socket
import threading
import time
from dataclasses import dataclass, field

OK = "ok"  # a complete response, status 2xx
STATUS = "status"  # a complete response, another status
REFUSED = "refused"  # connect() refused: nothing listens
CONNECT_FAILED = "connect_failed"  # connect() failed otherwise (a timeout, a reset)
BEFORE_RESPONSE = "before_response"  # connected, then closed or reset before any response byte
MID_RESPONSE = "mid_response"  # some of a response, then closed or reset
TIMEOUT = "timeout"  # connected, no complete response in time

ROW = {"age": 30, "signup_month": "June"}


def predict_request(keep_alive: bool) -> bytes:
    body = json.dumps(ROW).encode()
    connection = b"" if keep_alive else b"Connection: close\r\n"
    return (
        b"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        + connection
        + f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body
    )


@dataclass(frozen=True)
class Attempt:
    started: float  # time.time() before connect
    outcome: str
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    answered: float | None = None  # time.time() once the response's head was read (kept-alive)


class _Partial(Exception):
    """The peer closed or reset the connection after ``received`` bytes of a response."""

    def __init__(self, received: int) -> None:
        self.received = received


def read_response(sock: socket.socket) -> tuple[int, dict[str, str]]:
    """One response (headers and a Content-Length body) from ``sock``; raises _Partial if the
    connection ends first, socket.timeout if it takes too long."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += _recv(sock, len(data))
    head, body = data.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        body += _recv(sock, len(head) + 4 + len(body))
    return status, headers


def _recv(sock: socket.socket, received: int) -> bytes:
    try:
        chunk = sock.recv(65536)
    except ConnectionResetError:
        raise _Partial(received) from None
    if not chunk:
        raise _Partial(received)
    return chunk


def _outcome(status: int) -> str:
    return OK if 200 <= status < 300 else STATUS


def new_connection_attempt(port: int, timeout_s: float = 10.0) -> Attempt:
    """One POST /predict on a connection of its own (``Connection: close``)."""
    started = time.time()
    try:
        sock = socket.create_connection(("127.0.0.1", port), timeout=timeout_s)
    except ConnectionRefusedError:
        return Attempt(started, REFUSED)
    except OSError:
        return Attempt(started, CONNECT_FAILED)
    with sock:
        try:
            sock.sendall(predict_request(keep_alive=False))
            status, headers = read_response(sock)
        except (BrokenPipeError, ConnectionResetError):
            return Attempt(started, BEFORE_RESPONSE)  # while sending: nothing received
        except _Partial as cut:
            return Attempt(started, MID_RESPONSE if cut.received else BEFORE_RESPONSE)
        except TimeoutError:
            return Attempt(started, TIMEOUT)
    return Attempt(started, _outcome(status), status, headers)


def stuck_upload(port: int) -> socket.socket:
    """A POST /predict whose body stops halfway: the app waits for the rest for ever."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(
        b"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Content-Length: 100\r\n\r\n" + b'{"age": 30, '
    )
    return sock


class NewConnectionClients:
    """``threads`` clients, each sending POST /predict on a new connection every ``pause_s``
    (plus the request's own time) until stopped."""

    def __init__(self, port: int, threads: int = 4, pause_s: float = 0.01) -> None:
        self.port = port
        self.pause_s = pause_s
        self.attempts: list[Attempt] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]

    def _run(self) -> None:
        while not self._stop.is_set():
            attempt = new_connection_attempt(self.port)
            with self._lock:
                self.attempts.append(attempt)
            self._stop.wait(self.pause_s)

    def count(self, outcome: str) -> int:
        with self._lock:
            return sum(1 for a in self.attempts if a.outcome == outcome)

    def __enter__(self) -> NewConnectionClients:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)


@dataclass
class KeepAliveClient:
    """POST /predict again and again on one kept-alive connection until the server answers
    ``Connection: close`` (or the connection fails); then checks the server did close it."""

    port: int
    pause_s: float = 0.01
    responses: list[Attempt] = field(default_factory=list)
    failure: str | None = None  # how the connection ended if not by a Connection: close
    closed_by_server: bool = False
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def _run(self) -> None:
        try:
            sock = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        except OSError as exc:
            self.failure = f"connect: {exc}"
            return
        with sock:
            while not self._stop.is_set():
                started = time.time()
                try:
                    sock.sendall(predict_request(keep_alive=True))
                    status, headers = read_response(sock)
                except (OSError, _Partial) as exc:
                    self.failure = f"{type(exc).__name__} after {len(self.responses)} responses"
                    return
                self.responses.append(
                    Attempt(started, _outcome(status), status, headers, answered=time.time())
                )
                if headers.get("connection", "").lower() == "close":
                    self.closed_by_server = _closed(sock)
                    return
                self._stop.wait(self.pause_s)

    def __enter__(self) -> KeepAliveClient:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)


def _closed(sock: socket.socket) -> bool:
    """The server closed its end: the next read is the end of the stream (or a reset)."""
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True
    except OSError as exc:
        return exc.errno == errno.ECONNRESET
