"""Max-size batches never starve liveness: while 1000-row batches saturate the one worker,
every /healthz is answered 200 within the liveness probe's 1 s, and no worker restarts."""

import json
import threading
import time
from pathlib import Path

import httpx2

from tests.support.closed_loop import run_load
from tests.support.metrics import value
from tests.support.processes import gunicorn

BATCH = json.dumps({"rows": [{"age": 30, "signup_month": "June"}] * 1000}).encode()
PROBE_TIMEOUT_S = 1.0


def test_healthz_answers_within_a_second_while_max_size_batches_saturate_the_worker(
    tmp_path: Path,
) -> None:
    env = {"GLASSBOX_LOG_SAMPLE_RATIO": "0", "GLASSBOX_TRACING_ENABLED": "false"}
    with gunicorn(tmp_path, workers=1, env=env) as server:
        workers = server.worker_pids()
        answers: list[int | str] = []
        stop = threading.Event()

        def probe() -> None:
            with httpx2.Client(timeout=PROBE_TIMEOUT_S) as client:
                while not stop.is_set():
                    try:
                        answers.append(client.get(f"{server.url}/healthz").status_code)
                    except httpx2.TimeoutException:
                        answers.append("timeout")
                    time.sleep(0.1)

        prober = threading.Thread(target=probe)
        prober.start()
        try:
            result = run_load(server.port, "/predict/batch", BATCH, connections=8, seconds=5)
        finally:
            stop.set()
            prober.join()
        assert result.errors == 0
        assert result.statuses[200] > 0, result.statuses  # the batches did run
        assert set(result.statuses) <= {200, 503}, result.statuses
        assert len(answers) >= 20
        assert set(answers) == {200}, answers
        assert server.worker_pids() == workers
        text = httpx2.get(f"{server.url}/metrics", timeout=10).text
        assert value(text, "glassbox_worker_starts_total") == 1
        assert "WORKER TIMEOUT" not in server.log()  # no heartbeat missed either
