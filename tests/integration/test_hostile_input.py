"""Hostile input against the real server (gunicorn, two workers, plain sockets): every case of
the table in tests/support/bad_requests.py and every method but POST gets its status and the one
documented error body; edge inputs that are valid are served; no worker dies; junk field names
and methods add no metric series."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.support.bad_requests import (
    ACCEPTED,
    BAD_REQUESTS,
    JSON,
    OK,
    Accepted,
    BadRequest,
    check_error_body,
    check_error_response,
)
from tests.support.metrics import samples, value
from tests.support.processes import Server, gunicorn
from tests.support.raw_http import RawResponse, exchange, request_bytes

MAX_BATCH_ROWS = 20
TOO_MANY_ROWS = BadRequest(
    "batch-too-many-rows",
    json.dumps({"rows": [{"age": 30, "signup_month": "June"}] * (MAX_BATCH_ROWS + 1)}).encode(),
    422, "validation_error", (("body", "rows"),), path="/predict/batch",
)  # fmt: skip
PATHS = ("/predict", "/predict/batch")
# Methods the HTTP parser knows (llhttp's list, WebDAV's included) reach the app: a 405.
OTHER_METHODS = ("GET", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "PROPFIND", "MKCOL",
                 "PURGE", "SEARCH", "LINK")  # fmt: skip


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    env = {"GLASSBOX_MAX_BATCH_ROWS": str(MAX_BATCH_ROWS)}
    with gunicorn(tmp_path_factory.mktemp("hostile"), workers=2, env=env) as running:
        yield running


@pytest.fixture(scope="module")
def workers(server: Server) -> list[int]:
    return server.worker_pids()


@pytest.fixture(autouse=True)
def survives(server: Server, workers: list[int]) -> Iterator[None]:
    """After each case: the same workers, and nothing in the log but expected warnings."""
    start = server.log_path.stat().st_size
    yield
    assert server.worker_pids() == workers
    with server.log_path.open("rb") as log:
        log.seek(start)
        written = log.read().decode(errors="replace")
    assert "Traceback" not in written
    assert "RecursionError" not in written


def send(
    server: Server, method: str, path: str, body: bytes, headers: dict[str, str]
) -> RawResponse:
    response = exchange(server.port, request_bytes(method, path, headers, body))
    assert response is not None, "the connection ended without an answer"
    return response


@pytest.mark.parametrize("case", [*BAD_REQUESTS, TOO_MANY_ROWS], ids=lambda c: c.id)
def test_a_bad_request_gets_its_status_and_the_error_body(server: Server, case: BadRequest) -> None:
    response = send(server, "POST", case.path, case.body, case.headers)
    check_error_response(response.status, response.headers.get("content-type"), response.body, case)


@pytest.mark.parametrize("case", ACCEPTED, ids=lambda c: c.id)
def test_an_edge_input_that_is_valid_is_served(server: Server, case: Accepted) -> None:
    response = send(server, "POST", "/predict", case.body, case.headers)
    assert response.status == 200, response.body
    assert 0.0 <= json.loads(response.body)["churn_probability"] <= 1.0


def test_duplicate_keys_take_the_last_value(server: Server) -> None:
    first = send(
        server, "POST", "/predict", b'{"age": 90, "age": 30, "signup_month": "June"}', JSON
    )
    last = send(server, "POST", "/predict", b'{"age": 30, "signup_month": "June"}', JSON)
    other = send(server, "POST", "/predict", b'{"age": 90, "signup_month": "June"}', JSON)
    probability = [json.loads(r.body)["churn_probability"] for r in (first, last, other)]
    assert probability[0] == probability[1] != probability[2]


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("method", OTHER_METHODS)
def test_a_method_other_than_post_is_a_405(server: Server, method: str, path: str) -> None:
    response = send(server, method, path, b"", {})
    assert response.status == 405
    assert response.headers["allow"] == "POST"
    assert response.headers["content-type"] == "application/json"
    assert check_error_body(405, response.body)["error"] == "method_not_allowed"


@pytest.mark.parametrize("path", PATHS)
def test_head_is_a_405_without_a_body(server: Server, path: str) -> None:
    response = send(server, "HEAD", path, b"", {})
    assert response.status == 405
    assert response.headers["allow"] == "POST"
    assert response.body == b""


# Refused by the HTTP parser before the app: the HTTP layer's error body, and a close.
MALFORMED = {
    "unknown-method": request_bytes("FOO", "/predict"),
    "junk-method": request_bytes("GL4SSB0X", "/predict"),
    "lowercase-method": request_bytes("post", "/predict"),
    "bad-content-length": request_bytes("POST", "/predict", {"content-length": "abc"}),
    "negative-content-length": request_bytes("POST", "/predict", {"content-length": "-1"}),
    "two-content-lengths": request_bytes(
        "POST", "/predict", {"content-length": "2", "Content-Length": "3"}, b"{}"
    ),
    "length-and-chunked": request_bytes(
        "POST", "/predict", {"content-length": "2", "transfer-encoding": "chunked"}, b"{}"
    ),
    "bad-chunk-size": request_bytes(
        "POST", "/predict", {"transfer-encoding": "chunked"} | JSON, b"zz\r\n{}\r\n0\r\n\r\n"
    ),
    "space-in-header-name": request_bytes("POST", "/predict", {"bad name": "1"}),
    "nul-in-header-value": request_bytes("POST", "/predict", {"x-junk": "a\x00b"}),
    "http-2-preface-over-http-1": b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
    "binary-garbage": bytes(range(256)) * 4,
}


@pytest.mark.parametrize("raw", MALFORMED.values(), ids=MALFORMED.keys())
def test_a_request_that_is_not_http_gets_a_400_and_a_close(server: Server, raw: bytes) -> None:
    response = exchange(server.port, raw)
    assert response is not None
    assert response.status == 400
    assert response.headers["connection"] == "close"
    assert response.headers["content-type"] == "application/json"
    assert check_error_body(400, response.body, raw)["error"] == "invalid_http"
    assert response.end in ("eof", "reset")


def _series(text: str) -> set[tuple[str, frozenset[tuple[str, str]]]]:
    families = ("glassbox_validation_failures_total", "http_server_request_duration_seconds")
    return {key for key in samples(text) if key[0].startswith(families)}


def _scrape(server: Server) -> str:
    response = send(server, "GET", "/metrics", b"", {})
    assert response.status == 200
    return response.body.decode()


JUNK_NAMES = ("junk_{}", "ключ_{}", "\u202e{}", "\U0001f600{}", "a\x00{}", "k" * 1000 + "{}",
              "{}" + "\\" * 3, "<script>{}</script>", "__proto__{}", "{}.age")  # fmt: skip
JUNK_METHODS = ("PROPFIND", "MKCOL", "PURGE", "SEARCH", "LINK", "UNLINK", "REPORT", "FOO")


def junk(server: Server, round: int) -> int:
    """One request per junk field name, method and path; the junk field requests sent."""
    for name in JUNK_NAMES:
        body = json.dumps({"age": 30, "signup_month": "June", name.format(round): 1}).encode()
        response = send(server, "POST", "/predict", body, JSON)
        assert response.status == 422
    for method in JUNK_METHODS:
        assert send(server, method, "/predict", b"", {}).status in (400, 405)
        assert send(server, method, f"/no/such/{round}", b"", {}).status in (400, 404)
    return len(JUNK_NAMES)


def test_junk_names_and_methods_add_no_series(server: Server) -> None:
    junk(server, 0)  # every status each kind of junk gets now has its series
    before = _scrape(server)
    sent = sum(junk(server, round) for round in range(1, 11))
    after = _scrape(server)
    assert _series(after) == _series(before)
    extra = "glassbox_validation_failures_total"
    assert value(after, extra, field="_extra") - value(before, extra, field="_extra") == sent


def test_every_table_case_was_counted_as_a_rejection(server: Server) -> None:
    """One more pass over the app-level cases: each adds at least one validation failure."""
    before = value(_scrape(server), "glassbox_validation_failures_total")
    for case in BAD_REQUESTS:
        send(server, "POST", case.path, case.body, case.headers)
    after = value(_scrape(server), "glassbox_validation_failures_total")
    assert after - before >= len(BAD_REQUESTS)


def test_the_valid_request_the_table_is_built_on_is_served(server: Server) -> None:
    response = send(server, "POST", "/predict", b"{" + OK + b"}", JSON)
    assert response.status == 200
