"""However stuck its dependencies, a SIGTERMed pod is gone within drain window + graceful
timeout + 5 s, and its workers' shutdown still runs: request lines flushed, every sampled span
exported or counted as dropped. A hanging trace collector, a drift computation stuck on its
thread and uploads that never finish, all at once; without a graceful shutdown timeout for
uvicorn, the stuck uploads would hold each worker until gunicorn killed it, shutdown unrun."""

import signal
import time
from pathlib import Path

import httpx2

from tests.integration.test_telemetry import final_counters
from tests.support.http_attempts import stuck_upload
from tests.support.otlp import otlp_receiver
from tests.support.processes import gunicorn
from tests.support.slow_drift_app import STARTED_EVENT

DRAIN_S = 1
GRACEFUL_S = 5
ENV = {
    "GLASSBOX_DRAIN_SECONDS": str(DRAIN_S),
    "GLASSBOX_GRACEFUL_TIMEOUT_SECONDS": str(GRACEFUL_S),
    "GLASSBOX_DRIFT_STOP_TIMEOUT_SECONDS": "1",
    "GLASSBOX_TRACES_FLUSH_TIMEOUT_SECONDS": "2",  # uvicorn gets 5 - (1 + 2 + 0.5) = 1.5 s
    "GLASSBOX_DRIFT_INTERVAL_SECONDS": "0.2",
    "GLASSBOX_LOG_FORMAT": "json",
    "OTEL_TRACES_SAMPLER": "always_on",
    "OTEL_BSP_SCHEDULE_DELAY": "100",
    # The exporter's own timeout (10 s by default) outlasts every bound: the export thread is
    # still waiting on the collector when the worker shuts down.
}
ROW = {"age": 30, "signup_month": "June"}
STUCK_UPLOADS = 4


def test_the_master_exits_in_time_and_the_workers_shutdown_runs(tmp_path: Path) -> None:
    with otlp_receiver(hang=True) as receiver:
        env = ENV | {"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url}
        app = ("tests.support.slow_drift_app:create_app()",)
        with gunicorn(tmp_path, workers=2, env=env, extra_args=app) as server:
            workers = set(server.worker_pids())
            with httpx2.Client(base_url=server.url, timeout=10.0) as client:
                responses = [client.post("/predict", json=ROW) for _ in range(20)]
            server.wait_for_event(STARTED_EVENT)
            uploads = [stuck_upload(server.port) for _ in range(STUCK_UPLOADS)]
            time.sleep(0.5)  # the uploads reach the app
            sent = time.monotonic()
            server.process.send_signal(signal.SIGTERM)
            assert server.process.wait(timeout=DRAIN_S + GRACEFUL_S + 30) == 0
            took_s = time.monotonic() - sent
            for upload in uploads:
                upload.close()
            received = len(receiver.spans)
            lines = server.log_events()

    assert [r.status_code for r in responses] == [200] * 20
    assert took_s < DRAIN_S + GRACEFUL_S + 5
    # Each worker's lifespan shutdown ran to its end; gunicorn killed none of them.
    finished = {
        line["pid"] for line in lines if line.get("event") == "Application shutdown complete."
    }
    assert finished == workers
    assert not [line for line in lines if "SIGKILL" in str(line.get("event"))]
    # Every request line reached the log.
    logged = {line.get("request_id") for line in lines if line.get("event") == "request"}
    assert {r.headers["x-request-id"] for r in responses} <= logged
    # Every sampled span is accounted for: three per prediction, one per stuck upload (its
    # server span, ended when uvicorn cancelled it).
    totals = final_counters(tmp_path / "metrics")
    exported = totals.get("glassbox_trace_spans_exported_total", 0.0)
    dropped = sum(v for k, v in totals.items() if k.startswith("glassbox_trace_spans_dropped"))
    assert exported == received == 0
    assert exported + dropped == 3 * len(responses) + STUCK_UPLOADS
