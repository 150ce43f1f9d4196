"""Logs: one canonical line per request with what on-call needs and no feature values; every
other logger through the same chain; JSON lines that parse."""

import json
import logging
import os
import re
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Iterator

import lightgbm
import numpy as np
import pytest
import structlog
from fastapi.testclient import TestClient
from opentelemetry import trace
from structlog.testing import capture_logs

from app.fast_paths import FastPaths
from app.main import create_app
from app.settings import Settings
from app.telemetry.logging import (
    RequestLog,
    add_trace_context,
    configure_logging,
    install_process_hooks,
    route_lightgbm_logs,
    write_bytes_line,
    write_line,
)
from app.telemetry.request_context import RequestRecord, close_record, open_record
from tests.conftest import BUNDLED_MODEL_DIR
from tests.support.processes import ROOT

OK_ROW = {"age": 30, "signup_month": "June", "tenure_months": 7}


def app_client(
    latency_slo_seconds: float = 0.1, fast_paths: str = "all", **log: object
) -> TestClient:
    """An in-process app whose log settings are ``log`` (JSON lines unless it says otherwise)."""
    settings = Settings(
        model_dir=BUNDLED_MODEL_DIR,
        latency_slo_seconds=latency_slo_seconds,
        fast_paths=fast_paths,
        log={"format": "json", **log},  # type: ignore[arg-type]
    )
    return TestClient(create_app(settings))


def request_lines(capsys: pytest.CaptureFixture[str]) -> list[dict[str, object]]:
    """The canonical request lines the app wrote to stdout, parsed."""
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line]
    return [line for line in lines if line.get("event") == "request"]


@pytest.mark.parametrize("fast_paths", ["all", "none"])
def test_one_canonical_line_per_prediction(
    capsys: pytest.CaptureFixture[str], fast_paths: str
) -> None:
    with app_client(fast_paths=fast_paths) as client:
        response = client.post("/predict", json=OK_ROW, headers={"x-request-id": "req-1"})
    (line,) = request_lines(capsys)
    body = response.json()
    assert line["logger"] == "glassbox.request"
    assert line["method"] == "POST"
    assert line["route"] == "/predict"
    assert line["status"] == 200
    assert line["duration_ms"] > 0  # type: ignore[operator]
    assert line["prediction_id"] == body["prediction_id"]
    assert line["model_version"] == body["model_version"]
    assert line["churn_probability"] == body["churn_probability"]
    assert line["request_id"] == "req-1"
    assert line["trace_id"] == response.headers["traceresponse"].split("-")[1]
    assert line["span_id"] == response.headers["traceresponse"].split("-")[2]
    assert line["pid"] == os.getpid()
    assert line["level"] == "info"
    assert not {"age", "signup_month", "tenure_months"} & line.keys(), "no feature values"


@pytest.mark.parametrize("fast_paths", ["all", "none"])
def test_the_request_line_has_the_shape_of_every_other_line(
    capsys: pytest.CaptureFixture[str], fast_paths: str
) -> None:
    """Written by the fast path or by the chain, the line carries what the chain adds."""
    with app_client(fast_paths=fast_paths) as client:
        client.post("/predict", json=OK_ROW)
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines() if x]
    request = next(line for line in lines if line["event"] == "request")
    other = next(line for line in lines if line["event"] != "request")
    assert {"event", "level", "ts", "logger", "pid"} <= request.keys() & other.keys()
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", str(request["ts"]))
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", str(other["ts"]))


def test_a_batch_line_counts_rows(capsys: pytest.CaptureFixture[str]) -> None:
    with app_client() as client:
        client.post("/predict/batch", json={"rows": [OK_ROW] * 4})
    (line,) = request_lines(capsys)
    assert line["rows"] == 4
    assert len(line["prediction_id_prefix"]) == 24  # type: ignore[arg-type]
    assert "churn_probability" not in line


def test_probes_are_not_logged(capsys: pytest.CaptureFixture[str]) -> None:
    with app_client() as client:
        for path in ("/healthz", "/readyz", "/metrics"):
            client.get(path)
    assert request_lines(capsys) == []


def test_sampling_drops_successes_but_keeps_errors_and_slow_requests(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with app_client(sample_ratio=0.0) as client:
        for _ in range(5):
            client.post("/predict", json=OK_ROW)
            client.post("/predict", json=OK_ROW)
        client.post("/predict", json={"age": "x", "signup_month": "June"})
    assert [line["status"] for line in request_lines(capsys)] == [422]

    with app_client(sample_ratio=0.0, latency_slo_seconds=1e-9) as slow:
        slow.post("/predict", json=OK_ROW)
    assert [line["status"] for line in request_lines(capsys)] == [200]


def test_request_lines_follow_the_log_level(capsys: pytest.CaptureFixture[str]) -> None:
    with app_client(level="WARNING") as client:
        client.post("/predict", json=OK_ROW)
        client.post("/predict", json={"age": "x", "signup_month": "June"})
    assert request_lines(capsys) == []


def test_on_a_terminal_the_request_line_takes_the_structlog_chain() -> None:
    client = app_client(format="console")
    with capture_logs() as logs, client:
        client.post("/predict", json=OK_ROW)
    (line,) = [e for e in logs if e.get("event") == "request"]
    assert line["route"] == "/predict"
    assert line["log_level"] == "info"


def test_json_lines_parse_and_carry_trace_ids(capsys: pytest.CaptureFixture[str]) -> None:
    client = app_client(format="json")
    with client:
        response = client.post("/predict", json=OK_ROW)
        logging.getLogger("some.library").warning("a library speaks")
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line]
    assert lines, "nothing was logged"
    request = next(line for line in lines if line["event"] == "request")
    assert request["trace_id"] == response.headers["traceresponse"].split("-")[1]
    library = next(line for line in lines if line["event"] == "a library speaks")
    assert library["logger"] == "some.library"
    assert library["level"] == "warning"


def test_exceptions_render_into_one_json_line(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO", "json")
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        logging.getLogger("glassbox.test").exception("it failed")
    (line,) = [json.loads(x) for x in capsys.readouterr().out.splitlines() if "it failed" in x]
    assert "RuntimeError: boom" in line["exception"]


@pytest.fixture
def process_hooks() -> Iterator[None]:
    """The server's process-wide hooks for one test, then pytest's own back."""
    saved = (sys.excepthook, threading.excepthook, sys.stderr, warnings.showwarning)
    try:
        install_process_hooks("json")
        yield
    finally:
        logging.captureWarnings(False)
        sys.excepthook, threading.excepthook, sys.stderr, warnings.showwarning = saved


@pytest.mark.usefixtures("process_hooks")
def test_python_warnings_go_through_the_chain(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO", "json")
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.warn("careful", UserWarning, stacklevel=1)
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines() if "careful" in x]
    assert lines
    assert lines[0]["logger"] == "py.warnings"


def test_lightgbm_messages_go_through_the_chain(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO", "json")
    route_lightgbm_logs()
    rng = np.random.default_rng(0)
    data = lightgbm.Dataset(rng.random((50, 2)), label=rng.integers(0, 2, 50))
    lightgbm.train({"objective": "binary", "verbose": 1, "num_threads": 1}, data, 1)
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines() if x]
    native = [line for line in lines if line.get("logger") == "lightgbm"]
    assert native
    assert "[LightGBM]" in native[0]["event"]


def test_events_logged_inside_a_span_carry_its_ids() -> None:
    from opentelemetry.sdk.trace import TracerProvider

    span = TracerProvider().get_tracer("test").start_span("work")
    with capture_logs(processors=[add_trace_context]) as logs, trace.use_span(span):
        structlog.get_logger().info("inside")
    context = span.get_span_context()
    assert logs[0]["trace_id"] == f"{context.trace_id:032x}"
    assert logs[0]["span_id"] == f"{context.span_id:016x}"


def test_events_logged_during_an_unsampled_request_carry_its_ids() -> None:
    """An unsampled server span is not made current (it would cost every request); the
    request's record carries its ids instead."""
    record = RequestRecord(request_id="r", started_ns=0, trace_id="ab" * 16, span_id="cd" * 8)
    token = open_record(record)
    try:
        with capture_logs(processors=[add_trace_context]) as logs:
            structlog.get_logger().warning("inside")
    finally:
        close_record(token)
    assert logs[0]["trace_id"] == "ab" * 16
    assert logs[0]["span_id"] == "cd" * 8


def test_byte_lines_and_text_lines_keep_their_order_on_a_real_descriptor(
    capfd: pytest.CaptureFixture[str],
) -> None:
    write_line("one\n")
    write_bytes_line(b"two\n")
    write_line("three\n")
    write_bytes_line("quatre \u00e9\n".encode())
    assert capfd.readouterr().out == "one\ntwo\nthree\nquatre \u00e9\n"


CRASHING_SERVER = """
import sys, threading
from app.telemetry.logging import configure_logging, install_process_hooks
configure_logging("INFO", "json")
install_process_hooks("json")
print("raw text a library prints", file=sys.stderr)
thread = threading.Thread(target=lambda: 1 / 0, name="doomed")
thread.start()
thread.join()
raise RuntimeError("main thread dies")
"""


def test_a_server_process_logs_crashes_and_raw_stderr_as_json_lines() -> None:
    """What the servers install (gunicorn's master, the app factory they call), run in a
    process of its own: the hooks are process-wide."""
    done = subprocess.run(
        [sys.executable, "-c", CRASHING_SERVER], cwd=ROOT, capture_output=True, text=True,
        timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 1
    stderr = [json.loads(x) for x in done.stderr.splitlines() if x]
    assert [(x["event"], x["logger"]) for x in stderr] == [("raw text a library prints", "stderr")]
    crashes = [json.loads(x) for x in done.stdout.splitlines() if x]
    assert [(x["event"], x["logger"], x["level"]) for x in crashes] == [
        ("uncaught exception in thread doomed", "glassbox.crash", "critical"),
        ("uncaught exception", "glassbox.crash", "critical"),
    ]
    assert "ZeroDivisionError" in crashes[0]["exception"]
    assert "RuntimeError: main thread dies" in crashes[1]["exception"]


def test_an_app_built_in_process_leaves_the_process_hooks_alone() -> None:
    before = (sys.excepthook, threading.excepthook, sys.stderr, warnings.showwarning)
    with app_client(format="json") as client:
        assert client.get("/healthz").status_code == 200
        during = (sys.excepthook, threading.excepthook, sys.stderr, warnings.showwarning)
    assert during == before


@pytest.mark.xfail(
    raises=pytest.PytestUnhandledThreadExceptionWarning,
    reason="pytest sees a background thread's exception after an app was built",
)
def test_a_thread_crash_after_an_app_was_built_fails_the_test() -> None:
    with app_client(format="json") as client:
        assert client.get("/healthz").status_code == 200
    thread = threading.Thread(target=lambda: 1 / 0)
    thread.start()
    thread.join()


def request_log(flush_seconds: float, fast_paths: str = "all") -> RequestLog:
    """With capfd, sys.stdout has a descriptor and the lines take the production path:
    ``os.write`` on it, not the fallback through sys.stdout."""
    assert sys.stdout.fileno() >= 0, "capsys's stream has no descriptor: use capfd"
    paths = FastPaths.from_setting(fast_paths)
    return RequestLog(1.0, 1.0, "INFO", "json", flush_seconds=flush_seconds, fast_paths=paths)


@pytest.mark.parametrize("fast_paths", ["all", "none"])
def test_buffered_request_lines_wait_for_a_flush_but_errors_do_not(
    capfd: pytest.CaptureFixture[str], fast_paths: str
) -> None:
    configure_logging("INFO", "json")
    log = request_log(flush_seconds=0.1, fast_paths=fast_paths)
    log.write(200, 0.001, {"route": "/predict", "n": 1})
    log.write(422, 0.001, {"route": "/predict", "n": 2})
    assert capfd.readouterr().out == ""
    log.write(503, 0.001, {"route": "/predict", "n": 3})
    lines = [json.loads(x) for x in capfd.readouterr().out.splitlines()]
    assert [line["n"] for line in lines] == [1, 2, 3], "an error flushes, in order"
    assert [line["level"] for line in lines] == ["info", "info", "error"]
    log.write(200, 0.001, {"n": 4})
    log.flush()
    assert [json.loads(x)["n"] for x in capfd.readouterr().out.splitlines()] == [4]


def test_a_full_buffer_is_written_at_once(capfd: pytest.CaptureFixture[str]) -> None:
    log = request_log(flush_seconds=10.0)
    padding = "x" * 1000
    buffered = 0
    out = ""
    while not out and buffered < 100:
        log.write(200, 0.001, {"n": buffered, "padding": padding})
        buffered += 1
        out = capfd.readouterr().out
    lines = out.splitlines()
    assert len(lines) == buffered, "the whole buffer, in one write"
    assert len(out) >= RequestLog.BUFFER_BYTES > len(out) - len(lines[-1]) - 1


def test_without_a_flush_interval_every_line_is_written_at_once(
    capfd: pytest.CaptureFixture[str],
) -> None:
    log = request_log(flush_seconds=0.0)
    log.write(200, 0.001, {"n": 1})
    assert json.loads(capfd.readouterr().out)["n"] == 1


def test_the_lifespan_flushes_request_lines_while_running_and_at_shutdown(
    capfd: pytest.CaptureFixture[str],
) -> None:
    with app_client(flush_seconds=0.05) as client:
        client.post("/predict", json=OK_ROW)
        time.sleep(0.5)
        assert len(request_lines(capfd)) == 1, "flushed by the timer"
        client.post("/predict", json=OK_ROW)
    assert len(request_lines(capfd)) == 1, "flushed at shutdown"


def test_a_failing_log_sink_does_not_fail_the_request(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(data: bytes) -> None:
        raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr("app.telemetry.logging.write_bytes_line", broken)
    with app_client(flush_seconds=0.0) as client:
        assert client.post("/predict", json=OK_ROW).status_code == 200
        assert client.post("/predict", json={"age": "x"}).status_code == 422
        log = client.app.state.service.request_log  # type: ignore[attr-defined]
    assert log.lines_lost == 2
