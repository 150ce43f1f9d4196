"""SIGTERM to the master drains the pod: real gunicorn, real workers, real sockets.

Times are taken from the master's own ``drain started`` line (not from the test's kill), and
the tests count outcomes in time ranges with slack on every side; the window is tested at two
lengths with a graceful timeout of 1 s, so that no constant window passes both: with 1 s,
connections must be refused from 2 s on; with 3 s, served until 2.5 s.
"""

import signal
import threading
import time
from pathlib import Path

import httpx2
import pytest

from tests.support.http_attempts import (
    BEFORE_RESPONSE,
    CONNECT_FAILED,
    OK,
    REFUSED,
    KeepAliveClient,
    NewConnectionClients,
    stuck_upload,
)
from tests.support.metrics import value
from tests.support.processes import Server, gunicorn

# The shortest graceful timeout gunicorn takes, the shutdown's own work at zero (tracing off, the
# drift loop stopped without waiting): uvicorn gets 0.5 s for open connections.
FAST_SHUTDOWN_ENV = {
    "GLASSBOX_GRACEFUL_TIMEOUT_SECONDS": "1",
    "GLASSBOX_DRIFT_STOP_TIMEOUT_SECONDS": "0",
    "GLASSBOX_TRACES_FLUSH_TIMEOUT_SECONDS": "0",
    "GLASSBOX_TRACING_ENABLED": "false",
    "GLASSBOX_LOG_FORMAT": "json",
}
GRACEFUL_S = 1.0
SERVED_UNTIL_BEFORE_END_S = 0.5  # requests started up to this long before the window ends: 200


def wait_until(condition: object, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        time.sleep(0.02)


@pytest.mark.parametrize("drain_s", [1, 3])
def test_the_drain_window_serves_every_request_then_the_listener_closes(
    tmp_path: Path, drain_s: int
) -> None:
    env = FAST_SHUTDOWN_ENV | {"GLASSBOX_DRAIN_SECONDS": str(drain_s)}
    with gunicorn(tmp_path, workers=2, env=env) as server:
        with NewConnectionClients(server.port) as clients, KeepAliveClient(server.port) as kept:
            wait_until(lambda: clients.count(OK) >= 20, 30, "the clients are not being served")
            wait_until(lambda: len(kept.responses) >= 3, 30, "the keep-alive client is not served")
            killed_at = time.time()
            server.process.send_signal(signal.SIGTERM)
            started = server.drain_started_at()
            window_end = started + drain_s
            assert server.process.wait(timeout=drain_s + GRACEFUL_S + 30) == 0
            # Keep connecting past window end + graceful timeout: those must all be refused.
            while time.time() < window_end + GRACEFUL_S + 1.0:
                time.sleep(0.05)
        attempts = list(clients.attempts)

    assert killed_at <= started < killed_at + 5
    served_until = window_end - SERVED_UNTIL_BEFORE_END_S
    refused_from = window_end + GRACEFUL_S
    served_period = [a for a in attempts if a.started <= served_until]
    after_kill = [a for a in served_period if a.started >= killed_at]
    late = [a for a in attempts if a.started > refused_from]
    between = [a for a in attempts if served_until < a.started <= refused_from]
    not_served = [a for a in served_period if a.outcome != OK]
    assert not_served == [], f"{len(not_served)} of {len(served_period)} before the window's end"
    # Served after the SIGTERM for most of the window: not the old immediate close.
    assert len(after_kill) >= 5 * drain_s, len(after_kill)
    assert late, "no client tried after the window end + graceful timeout"
    assert {a.outcome for a in late} == {REFUSED}, [a.outcome for a in late]
    # In between: served, or failed at connect or before any response byte. Never cut short.
    assert {a.outcome for a in between} <= {OK, REFUSED, CONNECT_FAILED, BEFORE_RESPONSE}

    # The keep-alive client: its last response said Connection: close, during the window (not
    # at the workers' stop), the server closed the connection, and none before said so.
    assert kept.failure is None, kept.failure
    *before, last = kept.responses
    assert last.headers.get("connection") == "close"
    # Answered after the SIGTERM, asked before the window's end: a request already on its way
    # when the signal came is answered with the close too (the drain began while it was served).
    assert last.answered is not None
    assert killed_at <= last.answered
    assert last.started < window_end
    assert kept.closed_by_server
    assert before
    assert all("connection" not in r.headers for r in before)
    assert all(r.outcome == OK for r in kept.responses)


# The default graceful timeout (20 s): a stop that waited for it would show.
READYZ_ENV = {
    "GLASSBOX_DRAIN_SECONDS": "12",
    "GLASSBOX_WORKER_PID_HEADER": "true",
    "GLASSBOX_LOG_FORMAT": "json",
}
QUICK_STOP_S = 5.0


def probe_readyz(server: Server, until: float, wanted: set[int]) -> list[httpx2.Response]:
    """GET /readyz on new connections from four threads until every pid in ``wanted`` has
    answered, or ``until`` (time.time())."""
    responses: list[httpx2.Response] = []
    lock = threading.Lock()

    def seen() -> set[int]:
        with lock:
            return {int(r.headers["x-worker-pid"]) for r in responses}

    def run() -> None:
        while time.time() < until and not wanted <= seen():
            with httpx2.Client(base_url=server.url, timeout=5.0) as client:
                response = client.get("/readyz")
            with lock:
                responses.append(response)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return responses


def test_from_one_second_into_the_drain_every_worker_answers_readyz_503(tmp_path: Path) -> None:
    with gunicorn(tmp_path, workers=3, env=READYZ_ENV) as server:
        workers = set(server.worker_pids())
        assert len(workers) == 3
        with httpx2.Client(base_url=server.url, timeout=5.0) as client:
            ready = client.get("/readyz")
            assert ready.status_code == 200
            assert int(ready.headers["x-worker-pid"]) in workers
            assert value(client.get("/metrics").text, "glassbox_draining") == 0

        server.process.send_signal(signal.SIGTERM)
        started = server.drain_started_at()
        time.sleep(max(0.0, started + 1 - time.time()))
        probes = probe_readyz(server, until=started + 11, wanted=workers)
        answered = {int(r.headers["x-worker-pid"]) for r in probes}

        assert [r.status_code for r in probes] == [503] * len(probes)
        assert all(r.json() == {"status": "not_ready", "reason": "draining"} for r in probes)
        assert answered == workers == set(server.worker_pids())
        with httpx2.Client(base_url=server.url, timeout=5.0) as client:
            assert client.get("/healthz").status_code == 200
            assert value(client.get("/metrics").text, "glassbox_draining") == 1

        # SIGINT still stops at once, in the middle of a drain.
        interrupted = time.monotonic()
        server.process.send_signal(signal.SIGINT)
        assert server.process.wait(timeout=60) == 0
        assert time.monotonic() - interrupted < QUICK_STOP_S
        assert time.time() < started + 12, "the drain window ran to its end"


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGQUIT], ids=["SIGINT", "SIGQUIT"])
def test_sigint_and_sigquit_keep_gunicorns_fast_stop(tmp_path: Path, sig: int) -> None:
    """To the master alone (``kill``, ``podman kill``): no drain window, no wait for open
    connections (an upload stuck halfway holds nothing), and every worker's shutdown still
    runs, well inside the 20 s graceful timeout gunicorn would otherwise wait out."""
    with gunicorn(tmp_path, workers=2, env=READYZ_ENV) as server:
        workers = set(server.worker_pids())
        with stuck_upload(server.port), stuck_upload(server.port):
            time.sleep(0.5)  # the uploads reach the app
            sent = time.monotonic()
            server.process.send_signal(sig)
            assert server.process.wait(timeout=60) == 0
            took_s = time.monotonic() - sent
        lines = server.log_events()
    events = [line.get("event") for line in lines]
    assert took_s < QUICK_STOP_S
    assert "drain started" not in events
    assert "Shutting down: Master" in events
    finished = {
        line["pid"] for line in lines if line.get("event") == "Application shutdown complete."
    }
    assert finished == workers
