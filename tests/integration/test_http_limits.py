"""The HTTP layer's limits on the real server (app/http_protocol.py): huge or many headers are
refused with bounded memory, idle connections are closed after the keep-alive timeout, a client
dripping its headers is answered 408, a worker holds a bounded number of connections, and other
clients are served throughout. Each test is bounded in connections and time."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from tests.support.bad_requests import check_error_body
from tests.support.processes import Server, gunicorn
from tests.support.raw_http import (
    RawResponse,
    connect,
    connection_end,
    exchange,
    read_response,
    request_bytes,
)

MiB = 1024 * 1024
HEADER_TIMEOUT_S = 3.0
# gunicorn.conf.py's keepalive, uvicorn's timeout_keep_alive.
KEEPALIVE_S = 5.0
MAX_CONNECTIONS = 10
ENV = {"GLASSBOX_HEADER_TIMEOUT_SECONDS": str(HEADER_TIMEOUT_S)}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with gunicorn(tmp_path_factory.mktemp("limits"), workers=2, env=ENV) as running:
        yield running


@pytest.fixture(scope="module")
def one_worker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    env = ENV | {"GLASSBOX_MAX_CONNECTIONS": str(MAX_CONNECTIONS)}
    with gunicorn(tmp_path_factory.mktemp("one"), workers=1, env=env) as running:
        yield running


def served(server: Server) -> bool:
    response = exchange(server.port, request_bytes("GET", "/healthz"))
    return response is not None and response.status == 200


def check_refusal(response: RawResponse | None, status: int, error: str) -> None:
    assert response is not None
    assert response.status == status
    assert response.headers["connection"] == "close"
    assert check_error_body(status, response.body)["error"] == error


HEALTHZ = b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"


def test_a_64_kib_header_is_refused(server: Server) -> None:
    workers = server.worker_pids()
    response = exchange(server.port, HEALTHZ + b"X-Big: " + b"a" * 65536 + b"\r\n\r\n")
    # A 431, or, when some of the head was still unread as the server closed, a reset.
    if response is not None:
        check_refusal(response, 431, "headers_too_large")
    assert served(server)
    assert server.worker_pids() == workers


def test_a_thousand_headers_get_a_431(server: Server) -> None:
    head = HEALTHZ + b"".join(b"X-H%d: v\r\n" % i for i in range(1000)) + b"\r\n"
    check_refusal(exchange(server.port, head), 431, "headers_too_large")
    assert served(server)


def test_a_head_at_the_limits_is_served(server: Server) -> None:
    head = HEALTHZ + b"".join(b"X-H%d: v\r\n" % i for i in range(96))  # 100 with Host etc.
    head += b"X-Pad: " + b"p" * (32 * 1024 - len(head) - 200) + b"\r\n\r\n"
    response = exchange(server.port, head)
    assert response is not None
    assert response.status == 200


def _send_head(sock: socket.socket, head: bytes) -> None:
    with contextlib.suppress(ConnectionResetError, BrokenPipeError):
        sock.sendall(head)


# (what is sent, never finished: the server must refuse it before it ends)
TEN_MIB_HEADS = {
    "one-header": HEALTHZ + b"X-Big: " + b"a" * (10 * MiB),
    "many-headers": HEALTHZ + b"".join(b"X-H%d: %s\r\n" % (i, b"v" * 10_480) for i in range(1000)),
    "url": b"GET /healthz?" + b"q" * (10 * MiB),
}
HELD = 8


@pytest.mark.parametrize("head", TEN_MIB_HEADS.values(), ids=TEN_MIB_HEADS.keys())
def test_ten_mib_heads_are_refused_with_bounded_memory(server: Server, head: bytes) -> None:
    """HELD connections at once, each sending 10 MiB of an unfinished head: every one is closed
    (after a 431, or reset while it sends), and the workers grow by less than 20 MiB in all."""
    before = server.workers_rss()
    socks = [connect(server.port) for _ in range(HELD)]
    try:
        threads = [threading.Thread(target=_send_head, args=(s, head)) for s in socks]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=20)
        grown = server.workers_rss() - before
        for sock in socks:
            response = read_response(sock)
            if response is not None:
                check_refusal(response, 431, "headers_too_large")
            assert connection_end(sock, 10.0) in ("eof", "reset")
    finally:
        for sock in socks:
            sock.close()
    assert grown < 20 * MiB
    assert served(server)


IDLE = 50


def test_idle_connections_are_closed_after_the_keep_alive_timeout(server: Server) -> None:
    socks = [connect(server.port) for _ in range(IDLE)]
    opened = time.monotonic()
    try:
        # Others are served meanwhile; the idle ones are still open at the first check.
        assert served(server)
        assert all(connection_end(sock, 0.01) == "open" for sock in socks)
        ends = [
            connection_end(sock, KEEPALIVE_S + 10 - (time.monotonic() - opened)) for sock in socks
        ]
    finally:
        for sock in socks:
            sock.close()
    assert ends == ["eof"] * IDLE
    assert time.monotonic() - opened >= KEEPALIVE_S - 0.5  # not closed before the timeout


DRIPPING = 20


def _drip(sock: socket.socket, result: list[RawResponse | None], stop: threading.Event) -> None:
    """Send a request's head one byte every 0.2 s (it would take ~7 s), then read the answer."""
    request = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    for i in range(len(request) - 2):  # never the final CRLF
        if stop.wait(0.2):
            break
        try:
            sock.sendall(request[i : i + 1])
        except OSError:
            break
    result.append(read_response(sock))


def test_a_client_dripping_its_headers_gets_a_408(server: Server) -> None:
    socks = [connect(server.port) for _ in range(DRIPPING)]
    results: list[RawResponse | None] = []
    stop = threading.Event()
    threads = [threading.Thread(target=_drip, args=(s, results, stop)) for s in socks]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    try:
        served_meanwhile = 0
        while time.monotonic() - started < HEADER_TIMEOUT_S - 0.5:
            served_meanwhile += served(server)
            time.sleep(0.1)
        for thread in threads:
            thread.join(timeout=HEADER_TIMEOUT_S + 10)
    finally:
        stop.set()
        for sock in socks:
            sock.close()
    assert served_meanwhile > 0
    assert len(results) == DRIPPING
    for response in results:
        check_refusal(response, 408, "request_timeout")


def test_a_worker_holds_at_most_its_connections(one_worker: Server) -> None:
    held = [connect(one_worker.port) for _ in range(MAX_CONNECTIONS)]
    try:
        time.sleep(0.2)  # accepted by the worker
        for _ in range(3):
            check_refusal(
                exchange(one_worker.port, request_bytes("GET", "/healthz")), 503, "overloaded"
            )
        # One of them is used: it is served; then it goes, and a new connection is served too.
        held[0].sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        response = read_response(held[0])
        assert response is not None
        assert response.status == 200
        held.pop(0).close()
        time.sleep(0.2)
        assert served(one_worker)
    finally:
        for sock in held:
            sock.close()


def test_a_refused_connection_says_when_to_retry(one_worker: Server) -> None:
    held = [connect(one_worker.port) for _ in range(MAX_CONNECTIONS)]
    try:
        time.sleep(0.2)
        response = exchange(one_worker.port, request_bytes("GET", "/healthz"))
        assert response is not None
        assert response.headers["retry-after"] == "1"
    finally:
        for sock in held:
            sock.close()
