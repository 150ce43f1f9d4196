"""Bodies over GLASSBOX_MAX_BODY_BYTES on the real server, sent by a plain blocking client: a 413
with the error body and `Connection: close`; a client that sends its whole body (declared 2x
and 4x the limit, chunked 2x) reads that 413 and a clean close, never a reset; a declared
100 MiB, past the discard bound, is refused or closed with the server reading no more than the
bound; each rejection is counted, whichever way it ended.

What the workers read is measured by the kernel: ``rchar`` in /proc/<pid>/io counts every byte
a process's read calls returned, sockets included."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest

from app.settings import Settings
from tests.support.bad_requests import check_error_body
from tests.support.metrics import value
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
# The shipped defaults, which this module serves with.
LIMIT = 4 * MiB
BOUND = 16 * MiB
HEAD = {"content-type": "application/json"}
# What a worker reads beyond what it means to (the drift leader's files, a scrape): far below
# the megabytes these tests tell apart.
READ_SLACK = 1 * MiB


def test_the_shipped_bound_is_at_least_four_times_the_limit() -> None:
    fields = Settings.model_fields
    assert fields["max_body_bytes"].default == LIMIT
    assert fields["body_discard_bytes"].default == BOUND
    assert BOUND >= 4 * LIMIT


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with gunicorn(tmp_path_factory.mktemp("bodies"), workers=2) as running:
        yield running


def refusals(server: Server) -> tuple[float, float]:
    """(413s counted for /predict, its body validation failures)."""
    response = exchange(server.port, request_bytes("GET", "/metrics"))
    assert response is not None
    text = response.body.decode()
    return (
        value(text, "http_server_request_duration_seconds_count", http_route="/predict",
              http_response_status_code="413"),
        value(text, "glassbox_validation_failures_total", route="/predict", field="_body"),
    )  # fmt: skip


@pytest.fixture
def counted_once(server: Server) -> Iterator[None]:
    """The test's one refusal is counted once, as a 413 and as a body rejection."""
    exchange(server.port, request_bytes("POST", "/predict", HEAD, b"x" * (LIMIT + 1)))
    before = refusals(server)
    yield
    time.sleep(1.0)  # the app counts a refusal when it returns: after its discard and close
    after = refusals(server)
    assert (after[0] - before[0], after[1] - before[1]) == (1, 1)


CHUNK = b"x" * 65536


def send_declared(sock: socket.socket, declared: int, send: int) -> int:
    """Headers declaring ``declared`` bytes, then ``send`` of them; what the kernel took before
    the connection failed, if it did."""
    sock.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 b"Content-Length: %d\r\n\r\n" % declared)  # fmt: skip
    sent = 0
    try:
        while sent < send:
            sock.sendall(CHUNK)
            sent += len(CHUNK)
    except (ConnectionResetError, BrokenPipeError):
        pass
    return sent


def send_chunked(sock: socket.socket, size: int) -> int:
    sock.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 b"Transfer-Encoding: chunked\r\n\r\n")  # fmt: skip
    sent = 0
    try:
        while sent < size:
            sock.sendall(b"%x\r\n%s\r\n" % (len(CHUNK), CHUNK))
            sent += len(CHUNK)
        sock.sendall(b"0\r\n\r\n")
    except (ConnectionResetError, BrokenPipeError):
        pass
    return sent


def check_413(response: RawResponse | None) -> None:
    assert response is not None, "no answer: the connection was cut"
    assert response.status == 413
    assert response.headers["connection"] == "close"
    assert check_error_body(413, response.body)["error"] == "body_too_large"


@pytest.mark.usefixtures("counted_once")
@pytest.mark.parametrize("multiple", [2, 4])
def test_a_client_that_sends_a_declared_body_in_full_reads_the_413(
    server: Server, multiple: int
) -> None:
    declared = multiple * LIMIT
    with connect(server.port) as sock:
        assert send_declared(sock, declared, declared) == declared  # no reset while sending
        response = read_response(sock)
        check_413(response)
        assert connection_end(sock, 10.0) == "eof"


@pytest.mark.usefixtures("counted_once")
def test_a_client_that_sends_a_chunked_body_in_full_reads_the_413(server: Server) -> None:
    with connect(server.port) as sock:
        assert send_chunked(sock, 2 * LIMIT) == 2 * LIMIT
        check_413(read_response(sock))
        assert connection_end(sock, 10.0) == "eof"


@pytest.mark.usefixtures("counted_once")
def test_a_declared_length_past_the_bound_is_not_read(server: Server) -> None:
    declared = 100 * MiB
    read_before = server.workers_bytes_read()
    with connect(server.port) as sock:
        sent = send_declared(sock, declared, declared)
        response = read_response(sock)
        if response is not None:  # the 413 made it through before the close, or not
            check_413(response)
        assert connection_end(sock, 10.0) in ("eof", "reset")
    assert sent < declared
    assert server.workers_bytes_read() - read_before <= BOUND + READ_SLACK


@pytest.mark.usefixtures("counted_once")
def test_a_chunked_body_past_the_bound_is_read_no_further(server: Server) -> None:
    size = 10 * LIMIT
    read_before, rss_before = server.workers_bytes_read(), server.workers_rss()
    with connect(server.port) as sock:
        sent = send_chunked(sock, size)
        response = read_response(sock)
        if response is not None:
            check_413(response)
        assert connection_end(sock, 10.0) in ("eof", "reset")
    assert sent < size
    read = server.workers_bytes_read() - read_before
    assert read <= BOUND + READ_SLACK
    assert read >= LIMIT  # it did read up to the limit, as a chunked body is counted as it comes
    # Never buffered beyond the limit: the app held at most the limit's bytes (twice, joined).
    assert server.workers_rss() - rss_before < 3 * LIMIT


@pytest.mark.usefixtures("counted_once")
def test_a_client_that_stops_sending_is_closed_after_the_discard_time(server: Server) -> None:
    with connect(server.port) as sock:
        send_declared(sock, 2 * LIMIT, LIMIT // 4)
        check_413(read_response(sock))  # answered at once, before the body
        # The server stops waiting for the rest after GLASSBOX_BODY_DISCARD_SECONDS (2 s).
        assert connection_end(sock, 15.0) in ("eof", "reset")


def test_a_body_within_the_limit_is_served_on_a_kept_connection(server: Server) -> None:
    body = b'{"age": 30, "signup_month": "June", "region": "' + b"n" * 100 + b'"}'
    with connect(server.port) as sock:
        for _ in range(2):
            sock.sendall(
                request_bytes("POST", "/predict", HEAD | {"connection": "keep-alive"}, body)
            )
            response = read_response(sock)
            assert response is not None
            assert response.status == 422  # an unknown region, read whole: no 413
            assert "connection" not in response.headers
