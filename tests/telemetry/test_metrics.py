"""Metrics: exact in multiprocess mode, bounded labels, series present from the start."""

import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.drain_flag import DrainFlag
from app.main import create_app
from app.settings import Settings
from tests.conftest import BUNDLED_MODEL_DIR
from tests.support.metrics import samples, series_count, value
from tests.support.processes import IN_PROCESS_ONLY_VARIABLE

OK_ROW = {"age": 30, "signup_month": "June"}


@pytest.fixture
def client(multiprocess_dir: Path) -> TestClient:
    with TestClient(create_app(Settings(model_dir=BUNDLED_MODEL_DIR))) as c:
        yield c  # type: ignore[misc]


@pytest.fixture(params=["all", "none"])
def either_client(multiprocess_dir: Path, request: pytest.FixtureRequest) -> TestClient:
    """The app with every fast path (GLASSBOX_FAST_PATHS=all), and with none."""
    settings = Settings(model_dir=BUNDLED_MODEL_DIR, fast_paths=request.param)
    with TestClient(create_app(settings)) as c:
        yield c  # type: ignore[misc]


def scrape(client: TestClient) -> str:
    response = client.get("/metrics")
    assert response.status_code == 200
    return response.text


def test_latency_buckets_have_the_slo_as_an_exact_boundary() -> None:
    buckets = Settings(latency_slo_seconds=0.3).request_latency_buckets_seconds
    assert 0.3 in buckets
    assert buckets == tuple(sorted(set(buckets)))
    assert min(buckets) < 0.001
    assert max(buckets) == 10.0


def test_counts_are_exact(either_client: TestClient) -> None:
    client = either_client
    for _ in range(7):
        assert client.post("/predict", json=OK_ROW).status_code == 200
    assert client.post("/predict/batch", json={"rows": [OK_ROW] * 5}).status_code == 200
    assert client.post("/predict", json={"age": "x", "signup_month": "Nope"}).status_code == 422
    text = scrape(client)
    requests = "http_server_request_duration_seconds_count"
    assert value(text, requests, http_route="/predict", http_response_status_code="200") == 7
    assert value(text, requests, http_route="/predict/batch", http_response_status_code="200") == 1
    assert value(text, requests, http_route="/predict", http_response_status_code="422") == 1
    assert value(text, requests, http_request_method="POST") == 9
    assert value(text, "glassbox_predictions_total") == 12
    assert value(text, "glassbox_prediction_probability_count") == 12
    assert value(text, "glassbox_batch_size_rows_count") == 1
    assert value(text, "glassbox_batch_size_rows_sum") == 5
    failures = "glassbox_validation_failures_total"
    assert value(text, failures, route="/predict", field="age", reason="type") == 1
    assert value(text, failures, route="/predict", field="signup_month",
                 reason="unknown_category") == 1  # fmt: skip
    assert value(text, failures) == 2
    assert value(text, requests, http_route="/predict") == 8
    assert value(text, "glassbox_model_inference_duration_seconds_count") == 8
    # Every request that started has finished: the live count, and the gauge once it is
    # published from it (the lifespan publishes once a second, so a stale gauge proves nothing).
    metrics = client.app.state.service.metrics  # type: ignore[attr-defined]
    assert metrics.requests_in_flight == 0
    metrics.publish_in_flight()
    assert value(scrape(client), "http_server_active_requests") == 0


def test_probes_and_metrics_are_not_in_the_red_series(client: TestClient) -> None:
    for path in ("/healthz", "/readyz", "/metrics"):
        client.get(path)
    text = scrape(client)
    routes = {dict(labels).get("http_route") for (name, labels) in samples(text)
              if name.startswith("http_server_request_duration_seconds")}  # fmt: skip
    assert routes == {"/predict", "/predict/batch"}, "only the series declared at zero"


def test_unknown_paths_share_one_label(client: TestClient) -> None:
    for i in range(20):
        assert client.get(f"/no/such/{i}").status_code == 404
    text = scrape(client)
    assert value(text, "http_server_request_duration_seconds_count", http_route="unmatched",
                 http_response_status_code="404") == 20  # fmt: skip


def test_series_exist_at_zero_before_any_traffic(client: TestClient) -> None:
    text = scrape(client)
    names = {name for name, _ in samples(text)}
    for name in (
        "glassbox_predictions_total", "glassbox_validation_failures_total",
        "glassbox_requests_shed_total", "glassbox_draining", "glassbox_shed_threshold_seconds",
        "glassbox_event_loop_lag_seconds",
        "glassbox_model_ready", "glassbox_model_info", "glassbox_worker_starts_total",
        "glassbox_model_trained_timestamp_seconds", "glassbox_workers",
        "glassbox_process_resident_memory_bytes", "glassbox_metrics_multiprocess_files",
        "http_server_request_duration_seconds_count", "http_server_active_requests",
    ):  # fmt: skip
        assert name in names, name
    assert value(text, "glassbox_predictions_total") == 0
    assert value(text, "glassbox_model_ready") == 1
    assert value(text, "glassbox_worker_starts_total") == 1
    assert value(text, "glassbox_validation_failures_total", field="_extra") == 0
    assert value(text, "glassbox_requests_shed_total", route="/predict") == 0


def test_the_shed_threshold_gauge_shows_the_shipped_threshold(
    multiprocess_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In the signal's unit, seconds of loop lag (README: Overload, 25 ms)."""
    monkeypatch.delenv(IN_PROCESS_ONLY_VARIABLE)  # the shipped default, not the tests' own
    with TestClient(create_app(Settings(model_dir=BUNDLED_MODEL_DIR))) as shipped:
        assert value(scrape(shipped), "glassbox_shed_threshold_seconds") == 0.025


def test_model_series_carry_the_model_version(client: TestClient) -> None:
    version = client.get("/readyz").json()["model_version"]
    client.post("/predict", json=OK_ROW)
    text = scrape(client)
    names = (
        "glassbox_predictions_total", "glassbox_prediction_probability_count",
        "glassbox_model_inference_duration_seconds_count", "glassbox_model_info",
    )  # fmt: skip
    for name in names:
        series = [dict(labels) for (n, labels) in samples(text) if n == name]
        assert series, name
        assert all(s["model_version"] == version for s in series), name


def test_probability_buckets_are_the_reference_profile_bins(client: TestClient) -> None:
    import json

    profile = json.loads((BUNDLED_MODEL_DIR / "reference_profile.json").read_text())
    text = scrape(client)
    bounds = sorted(float(dict(labels)["le"]) for (n, labels) in samples(text)
                    if n == "glassbox_prediction_probability_bucket")  # fmt: skip
    assert bounds[:-1] == profile["prediction"]["edges"]


def test_junk_field_names_add_no_series(client: TestClient) -> None:
    client.post("/predict", json=OK_ROW | {"junk_0": 1})
    before = series_count(scrape(client))
    for i in range(1, 300):
        assert client.post("/predict", json=OK_ROW | {f"junk_{i}": 1}).status_code == 422
    text = scrape(client)
    assert series_count(text) == before
    assert value(text, "glassbox_validation_failures_total", field="_extra") == 300


def test_openmetrics_when_the_scraper_asks(client: TestClient) -> None:
    response = client.get("/metrics", headers={"accept": "application/openmetrics-text"})
    assert response.headers["content-type"].startswith("application/openmetrics-text")
    assert response.text.rstrip().endswith("# EOF")
    assert client.get("/metrics").headers["content-type"].startswith("text/plain")


def test_metrics_can_be_switched_off(multiprocess_dir: Path) -> None:
    settings = Settings(model_dir=BUNDLED_MODEL_DIR, metrics_enabled=False)
    with TestClient(create_app(settings)) as c:
        c.post("/predict", json=OK_ROW)
        text = scrape(c)
        assert value(text, "http_server_request_duration_seconds_count",
                     http_response_status_code="200") == 0  # fmt: skip


def test_in_flight_is_counted_per_request_and_published_to_the_gauge(
    multiprocess_dir: Path,
) -> None:
    app = create_app(Settings(model_dir=BUNDLED_MODEL_DIR))
    metrics = app.state.service.metrics
    metrics.request_started()
    metrics.request_started()
    assert metrics.requests_in_flight == 2
    assert metrics.active_requests._value.get() == 0, "written only when published"
    metrics.publish_in_flight()
    assert metrics.active_requests._value.get() == 2
    metrics.request_finished("POST", "/predict", 200, 0.01)
    assert metrics.requests_in_flight == 1
    metrics.publish_in_flight()
    assert metrics.active_requests._value.get() == 1
    metrics.request_finished("POST", "/predict", 200, 0.01)
    assert metrics.requests_in_flight == 0
    metrics.publish_in_flight()
    assert metrics.active_requests._value.get() == 0


def test_the_lifespan_publishes_in_flight_every_second(multiprocess_dir: Path) -> None:
    app = create_app(Settings(model_dir=BUNDLED_MODEL_DIR))
    metrics = app.state.service.metrics
    with TestClient(app):
        metrics.request_started()  # as if a request were being served
        deadline = time.monotonic() + 3
        while metrics.active_requests._value.get() != 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert metrics.active_requests._value.get() == 1
        metrics.requests_in_flight = 0


def test_the_lifespan_publishes_the_master_s_drain_flag_to_glassbox_draining(
    multiprocess_dir: Path,
) -> None:
    master_flag = DrainFlag.create(multiprocess_dir)
    with TestClient(create_app(Settings(model_dir=BUNDLED_MODEL_DIR))) as client:
        assert value(scrape(client), "glassbox_draining") == 0
        master_flag.set()
        deadline = time.monotonic() + 10
        while value(scrape(client), "glassbox_draining") != 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert value(scrape(client), "glassbox_draining") == 1


LATENCY = "http_server_request_duration_seconds"


def latency_label_sets(text: str) -> set[tuple[str, str, str]]:
    return {
        (d["http_request_method"], d["http_route"], d["http_response_status_code"])
        for name, labels in samples(text)
        if name == f"{LATENCY}_count"
        for d in [dict(labels)]
    }


def test_only_the_statuses_the_availability_slo_needs_exist_at_zero(client: TestClient) -> None:
    assert latency_label_sets(scrape(client)) == latency_label_sets_at_zero()


def test_the_latency_series_after_mixed_traffic_are_pinned(client: TestClient) -> None:
    """The status label multiplies the histogram: a label change must not grow it unnoticed."""
    assert client.post("/predict", json=OK_ROW).status_code == 200
    assert client.post("/predict/batch", json={"rows": [OK_ROW] * 3}).status_code == 200
    for _ in range(3):
        invalid = {"age": "x", "signup_month": "June"}
        assert client.post("/predict", json=invalid).status_code == 422
        assert client.get(f"/nothing/here/{_}").status_code == 404
    too_large = b"{" + b" " * (4 * 1024 * 1024) + b"}"
    headers = {"content-type": "application/json"}
    assert client.post("/predict", content=too_large, headers=headers).status_code == 413
    text = scrape(client)
    assert latency_label_sets(text) - latency_label_sets_at_zero() == {
        ("POST", "/predict", "422"), ("GET", "unmatched", "404"), ("POST", "/predict", "413"),
    }  # fmt: skip
    latency_series = sum(1 for name, _ in samples(text) if name.startswith(LATENCY))
    # 9 label sets x (14 bucket boundaries + "+Inf" + _sum + _count)
    assert latency_series == 9 * 17


def latency_label_sets_at_zero() -> set[tuple[str, str, str]]:
    return {("POST", r, s) for r in ("/predict", "/predict/batch") for s in ("200", "500", "503")}


def test_a_method_http_does_not_define_is_counted_as_other(client: TestClient) -> None:
    assert client.request("BREW", "/predict").status_code in (404, 405)
    assert client.request("PUT", "/predict").status_code == 405
    sets = latency_label_sets(scrape(client))
    assert {m for m, _, _ in sets} == {"POST", "PUT", "_OTHER"}


# What Prometheus sends (2.x's default scrape, 3.x's, an OpenMetrics-only scraper, curl) and
# the exact Content-Type each must get back: Prometheus 3 refuses a scrape whose type is
# missing or wrong.
PROMETHEUS_2_ACCEPT = (
    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;"
    "q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
)
NEGOTIATED_CONTENT_TYPES = [
    (None, "text/plain; version=0.0.4; charset=utf-8"),
    ("*/*", "text/plain; version=0.0.4; charset=utf-8"),
    ("text/plain;version=0.0.4", "text/plain; version=0.0.4; charset=utf-8"),
    (
        "text/plain;version=1.0.0;escaping=underscores",
        "text/plain; version=1.0.0; charset=utf-8; escaping=underscores",
    ),
    (
        "application/openmetrics-text;version=1.0.0",
        "application/openmetrics-text; version=1.0.0; charset=utf-8; escaping=underscores",
    ),
    (
        "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8",
        "application/openmetrics-text; version=1.0.0; charset=utf-8; escaping=allow-utf-8",
    ),
    (
        PROMETHEUS_2_ACCEPT,
        "application/openmetrics-text; version=1.0.0; charset=utf-8; escaping=underscores",
    ),
]


@pytest.mark.parametrize(("accept", "content_type"), NEGOTIATED_CONTENT_TYPES)
def test_metrics_answer_with_the_exact_content_type_of_the_format_negotiated(
    client: TestClient, accept: str | None, content_type: str
) -> None:
    headers = {} if accept is None else {"accept": accept}
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200
    assert response.headers["content-type"] == content_type
    if content_type.startswith("application/openmetrics-text"):
        assert response.text.endswith("# EOF\n")
    else:
        assert "# EOF" not in response.text
        assert "# TYPE http_server_request_duration_seconds histogram" in response.text
