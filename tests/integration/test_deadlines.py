"""Deadlines and disconnects on real gunicorn (one worker): a batch made slow (a pause before
each chunk of 100 rows, a test setting) that passes its deadline gets a 504; one whose client
goes away mid-batch is recorded as 499 and its work stops where it was."""

import json
import socket
import time
from collections.abc import Iterator

import httpx2
import pytest

from tests.support.closed_loop import request_bytes
from tests.support.metrics import value
from tests.support.processes import Server, gunicorn

ROWS = 1000
BATCH = json.dumps({"rows": [{"age": 30, "signup_month": "June"}] * ROWS}).encode()
# 10 chunks x 0.2 s: 2 s of work against a 1 s deadline.
ENV = {
    "GLASSBOX_TEST_CHUNK_DELAY_SECONDS": "0.2",
    "GLASSBOX_REQUEST_DEADLINE_SECONDS": "1",
    "GLASSBOX_LOG_FORMAT": "json",
    "GLASSBOX_TRACING_ENABLED": "false",
}


@pytest.fixture(scope="module")
def slow(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with gunicorn(tmp_path_factory.mktemp("slow"), workers=1, env=ENV) as server:
        yield server


def request_lines(server: Server, status: int) -> list[dict[str, object]]:
    return [
        e for e in server.log_events()
        if e.get("logger") == "glassbox.request" and e.get("status") == status
    ]  # fmt: skip


def wait_for_line(server: Server, status: int, timeout_s: float = 10) -> dict[str, object]:
    deadline = time.monotonic() + timeout_s
    while not (lines := request_lines(server, status)):
        assert time.monotonic() < deadline, server.log()
        time.sleep(0.05)
    assert len(lines) == 1, lines
    return lines[0]


def statuses(server: Server, status: str) -> float:
    text = httpx2.get(f"{server.url}/metrics", timeout=10).text
    return value(text, "http_server_request_duration_seconds_count",
                 http_route="/predict/batch", http_response_status_code=status)  # fmt: skip


def test_a_batch_past_its_deadline_gets_a_504(slow: Server) -> None:
    response = httpx2.post(f"{slow.url}/predict/batch", content=BATCH, timeout=30,
                           headers={"content-type": "application/json"})  # fmt: skip
    assert response.status_code == 504
    assert response.json()["error"] == "deadline_exceeded"
    line = wait_for_line(slow, 504)
    # Stopped at the first chunk boundary past 1 s: 5 or 6 chunks of 0.2 s, never all ten.
    assert line["rows"] == ROWS
    assert isinstance(line["rows_predicted"], int)
    assert 0 < line["rows_predicted"] < ROWS
    assert statuses(slow, "504") == 1


def test_a_client_gone_mid_batch_is_recorded_as_499_and_its_work_stops(slow: Server) -> None:
    with socket.create_connection(("127.0.0.1", slow.port)) as client:
        client.sendall(request_bytes("/predict/batch", BATCH))
        time.sleep(0.3)  # one or two chunks in
    line = wait_for_line(slow, 499)
    assert line["rows"] == ROWS
    assert isinstance(line["rows_predicted"], int)
    # Gone after ~0.3 s of 2 s of work: stopped within a chunk or two, well before the deadline.
    assert line["rows_predicted"] <= 300
    assert statuses(slow, "499") == 1
    # The worker is free again.
    response = httpx2.post(f"{slow.url}/predict", timeout=10,
                           content=json.dumps({"age": 30, "signup_month": "June"}).encode(),
                           headers={"content-type": "application/json"})  # fmt: skip
    assert response.status_code == 200
