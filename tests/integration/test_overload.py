"""Admission control on real gunicorn (one worker): a low lag threshold sheds under load, with
exactly as many shed 503s counted by the server (and in its summary log lines) as the client
read; the shipped threshold sheds nothing at one connection; the worker survives and answers
again as soon as the load stops."""

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest

from tests.support.closed_loop import run_load
from tests.support.metrics import value
from tests.support.processes import Server, gunicorn

ROW = json.dumps({"age": 30, "signup_month": "June"}).encode()
QUIET = {"GLASSBOX_LOG_SAMPLE_RATIO": "0", "GLASSBOX_TRACING_ENABLED": "false"}


def scrape(server: Server) -> str:
    return httpx2.get(f"{server.url}/metrics", timeout=10).text


def assert_no_restarts(server: Server, workers: list[int]) -> None:
    assert server.worker_pids() == workers
    assert value(scrape(server), "glassbox_worker_starts_total") == 1
    assert "WORKER TIMEOUT" not in server.log()


@pytest.fixture(params=["all", "none"], ids=["refused-by-the-protocol", "refused-by-the-app"])
def low_threshold(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Server]:
    """With every fast path the HTTP protocol refuses shed requests; with none, the app's
    admission layer does."""
    env = {**QUIET, "GLASSBOX_SHED_LAG_SECONDS": "0.005", "GLASSBOX_FAST_PATHS": request.param}
    with gunicorn(tmp_path, workers=1, env=env) as server:
        yield server


def test_a_queue_sheds_with_503s_the_server_counts_exactly(low_threshold: Server) -> None:
    server = low_threshold
    workers = server.worker_pids()
    probes: list[int] = []
    stop = threading.Event()

    def probe() -> None:  # probes and /metrics are never shed
        while not stop.is_set():
            for path in ("/healthz", "/readyz", "/metrics"):
                probes.append(httpx2.get(f"{server.url}{path}", timeout=10).status_code)
            time.sleep(0.2)

    prober = threading.Thread(target=probe)
    prober.start()
    try:
        result = run_load(server.port, "/predict", ROW, connections=64, seconds=5)
    finally:
        stop.set()
        prober.join()
    assert len(probes) >= 9
    assert set(probes) == {200}, probes
    assert result.errors == 0
    assert set(result.statuses) <= {200, 503}, result.statuses
    shed = result.statuses[503]
    assert shed > 0, result.statuses
    assert result.statuses[200] > 0, result.statuses
    assert result.retry_after == {"1": shed}
    text = scrape(server)
    assert value(text, "glassbox_requests_shed_total", route="/predict") == shed
    # Through the telemetry edge: a 503 of the availability SLO's bad events.
    assert value(text, "http_server_request_duration_seconds_count", http_route="/predict",
                 http_response_status_code="503") == shed  # fmt: skip
    assert value(text, "glassbox_shed_threshold_seconds") == 0.005
    assert_no_restarts(server, workers)

    # In the log: summary lines (one a second while shedding: the last one comes within a
    # second of the load's end) that add up to the 503s, and no request line for any of them.
    def logged() -> tuple[int, list[dict[str, object]]]:
        lines = [json.loads(line) for line in server.log().splitlines() if line.startswith("{")]
        summaries = [str(line["event"]) for line in lines
                     if line.get("logger") == "glassbox.admission"]  # fmt: skip
        return sum(int(event.split()[1]) for event in summaries), lines

    deadline = time.monotonic() + 5
    while (summed := logged())[0] != shed and time.monotonic() < deadline:
        time.sleep(0.2)
    assert summed[0] == shed, "the summary lines add up to the 503s"
    assert not [line for line in summed[1] if line.get("logger") == "glassbox.request"
                and line.get("status") == 503]  # fmt: skip
    # No hidden queue: a second after the load, every request is answered.
    time.sleep(1.0)
    started = time.monotonic()
    statuses = [
        httpx2.post(f"{server.url}/predict", content=ROW, timeout=10,
                    headers={"content-type": "application/json"}).status_code
        for _ in range(20)
    ]  # fmt: skip
    assert statuses == [200] * 20
    assert time.monotonic() - started < 9.0


def test_one_connection_at_the_shipped_threshold_sheds_nothing(tmp_path: Path) -> None:
    with gunicorn(tmp_path, workers=1, env=QUIET) as server:
        workers = server.worker_pids()
        result = run_load(server.port, "/predict", ROW, connections=1, seconds=5)
        assert result.errors == 0
        assert result.statuses[200] > 100
        assert set(result.statuses) == {200}, result.statuses
        assert value(scrape(server), "glassbox_requests_shed_total") == 0
        assert_no_restarts(server, workers)
