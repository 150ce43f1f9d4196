"""Traces and logs from real gunicorn workers: spans reach a real OTLP/HTTP receiver with the
ids the logs and the response headers carry; a dead or hanging collector costs no request and
loses no span unaccounted; every line the processes print is JSON."""

import json
import os
import signal
import time
from pathlib import Path

import httpx2
import pytest
from prometheus_client.multiprocess import MultiProcessCollector

from app.fast_paths import NAMES
from tests.support.otlp import otlp_receiver
from tests.support.processes import Server, free_port, gunicorn

OK_ROW = {"age": 30, "signup_month": "June"}
PARENT_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_SPAN = "00f067aa0ba902b7"
TRACING_ENV = {
    "OTEL_TRACES_SAMPLER": "always_on",
    "OTEL_BSP_SCHEDULE_DELAY": "100",
    "OTEL_EXPORTER_OTLP_TIMEOUT": "1",
    "GLASSBOX_TRACES_FLUSH_TIMEOUT_SECONDS": "2",
    "GLASSBOX_LOG_FORMAT": "json",
}


def log_lines(server: Server) -> list[dict[str, object]]:
    return [json.loads(line) for line in server.log().splitlines() if line.strip()]


def stop(server: Server) -> float:
    """SIGTERM the master; return how long it took to exit."""
    started = time.monotonic()
    server.process.send_signal(signal.SIGTERM)
    assert server.process.wait(timeout=30) == 0
    return time.monotonic() - started


def final_counters(metrics_dir: Path) -> dict[str, float]:
    """Counter totals from the multiprocess files, readable after the server is gone."""
    totals: dict[str, float] = {}
    collector = MultiProcessCollector(None, path=str(metrics_dir))  # type: ignore[arg-type]
    for family in collector.collect():
        for s in family.samples:
            key = s.name + "".join(f"|{v}" for k, v in sorted(s.labels.items()) if k == "reason")
            totals[key] = totals.get(key, 0.0) + s.value
    return totals


def send(server: Server, count: int) -> list[httpx2.Response]:
    with httpx2.Client(base_url=server.url, timeout=10.0) as client:
        return [client.post("/predict", json=OK_ROW) for _ in range(count)]


@pytest.mark.parametrize("fast_paths", ["all", "none"])
def test_spans_logs_and_headers_share_ids(tmp_path: Path, fast_paths: str) -> None:
    """With every fast path (as shipped) and with none: the SDK's exporter, sampling and the
    structlog chain."""
    with otlp_receiver() as receiver:
        env = TRACING_ENV | {
            "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url, "GLASSBOX_FAST_PATHS": fast_paths,
        }  # fmt: skip
        with gunicorn(tmp_path, workers=2, env=env) as server:
            responses = send(server, 10)
            with httpx2.Client(base_url=server.url, timeout=10.0) as client:
                child = client.post("/predict", json=OK_ROW, headers={
                    "traceparent": f"00-{PARENT_TRACE}-{PARENT_SPAN}-01",
                    "x-request-id": "from-the-caller",
                })  # fmt: skip
            assert stop(server) < 20
            lines = {line["request_id"]: line for line in log_lines(server)
                     if line.get("event") == "request"}  # fmt: skip

    for response in [*responses, child]:
        assert response.status_code == 200
        _, trace_id, span_id, _ = response.headers["traceresponse"].split("-")
        line = lines[response.headers["x-request-id"]]
        assert (line["trace_id"], line["span_id"]) == (trace_id, span_id)
        spans = {s.name: s for s in receiver.by_trace(trace_id)}
        assert set(spans) == {"POST /predict", "decode_validate", "predict"}
        server_span = spans["POST /predict"]
        assert server_span.span_id == span_id
        assert server_span.attributes["glassbox.prediction_id"] == response.json()["prediction_id"]
        assert spans["predict"].parent_span_id == span_id
        assert server_span.resource["service.version"] == response.json()["model_version"]
    parent = next(s for s in receiver.by_trace(PARENT_TRACE) if s.name == "POST /predict")
    assert parent.parent_span_id == PARENT_SPAN
    assert child.headers["x-request-id"] == "from-the-caller"


@pytest.mark.parametrize("collector", ["closed-port", "hanging"])
def test_a_broken_collector_costs_no_request_and_no_unaccounted_span(
    tmp_path: Path, collector: str
) -> None:
    def run(endpoint: str) -> tuple[list[httpx2.Response], float]:
        env = TRACING_ENV | {"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint}
        with gunicorn(tmp_path, workers=2, env=env) as server:
            responses = send(server, 40)
            return responses, stop(server)

    if collector == "closed-port":
        responses, shutdown_s = run(f"http://127.0.0.1:{free_port()}")
        received = 0
    else:
        with otlp_receiver(hang=True) as receiver:
            responses, shutdown_s = run(receiver.url)
            received = len(receiver.spans)

    assert [r.status_code for r in responses] == [200] * 40
    assert shutdown_s < 20, "graceful timeout"
    totals = final_counters(tmp_path / "metrics")
    sampled = 3 * 40  # a server span and two children per prediction
    exported = totals.get("glassbox_trace_spans_exported_total", 0.0)
    dropped = sum(v for k, v in totals.items() if k.startswith("glassbox_trace_spans_dropped"))
    assert exported == received == 0
    assert exported + dropped == sampled


@pytest.mark.parametrize("fast_paths", ["all", "none"])
def test_every_line_the_processes_print_is_json(tmp_path: Path, fast_paths: str) -> None:
    env = {"GLASSBOX_LOG_FORMAT": "json", "GLASSBOX_FAST_PATHS": fast_paths}
    with gunicorn(tmp_path, workers=2, env=env) as server:
        send(server, 5)
        httpx2.post(f"{server.url}/predict", json={"age": "x"}, timeout=10.0)
        victim = server.worker_pids()[0]
        os.kill(victim, signal.SIGKILL)  # a worker crash; the master replaces it
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and victim in server.worker_pids():
            time.sleep(0.1)
        server.wait_ready(workers=2)
        time.sleep(1.0)
        stop(server)
        text = server.log()
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) > 20
    for line in lines:
        json.loads(line)  # raises on any line that is not JSON
    parsed = [json.loads(line) for line in lines]
    # No collector is configured: OpenTelemetry has nothing to warn about.
    assert not [e for e in parsed if str(e.get("logger", "")).startswith("opentelemetry")
                and e.get("level") in ("warning", "error", "critical")]  # fmt: skip
    events = " ".join(e["event"] for e in parsed)
    assert "Booting worker" in events
    on = {"all": ", ".join(sorted(NAMES)), "none": "none"}[fast_paths]
    assert events.count(f"fast paths: {on}") >= 3, "each worker says what it uses"
    assert "was sent SIGKILL" in events or "exited" in events
    assert "Shutting down: Master" in events


def test_a_worker_that_cannot_boot_logs_its_traceback_as_json(tmp_path: Path) -> None:
    broken = tmp_path / "model"
    broken.mkdir()
    (broken / "card.json").write_text("{not json")
    env = {"GLASSBOX_LOG_FORMAT": "json", "GLASSBOX_MODEL_DIR": str(broken)}
    with gunicorn(tmp_path, workers=1, env=env, wait=False) as server:
        assert server.process.wait(timeout=60) != 0
        text = server.log()
    lines = [json.loads(line) for line in text.splitlines() if line.strip()]
    assert any("ModelCardError" in str(line.get("exception", "")) for line in lines)
