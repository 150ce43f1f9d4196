"""Metrics: exact in multiprocess mode, bounded labels, series present from the start."""

import time
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry, Counter, Histogram

from app.api.errors import REASONS, classify
from app.main import create_app
from app.settings import Settings
from app.telemetry.metrics import HistogramWriter, latency_buckets, value_adder
from tests.conftest import BUNDLED_MODEL_DIR
from tests.support.metrics import samples, series_count, value

OK_ROW = {"age": 30, "signup_month": "June"}


@pytest.fixture
def client(multiprocess_dir: Path) -> TestClient:
    with TestClient(create_app(Settings(model_dir=BUNDLED_MODEL_DIR))) as c:
        yield c  # type: ignore[misc]


def scrape(client: TestClient) -> str:
    response = client.get("/metrics")
    assert response.status_code == 200
    return response.text


@pytest.mark.parametrize("mode", ["single-process", "multiprocess"])
@pytest.mark.parametrize("method", ["observe", "observe_many"])
def test_histogram_writer_observes_exactly_as_the_library(
    mode: str, method: str, request: pytest.FixtureRequest
) -> None:
    if mode == "multiprocess":
        request.getfixturevalue("multiprocess_dir")
    edges = (0.1, 0.25, 0.5, 0.75)
    values = np.array([0.0, 0.1, 0.1000001, 0.3, 0.5, 0.9, 1.0, 0.25, 0.05, 0.75, 7.0, -1.0])
    one, ours = CollectorRegistry(), CollectorRegistry()
    by_one = Histogram("h_one", "h", buckets=edges, registry=one)
    writer = HistogramWriter(Histogram("h_ours", "h", buckets=edges, registry=ours))
    for v in values:
        by_one.observe(float(v))
    if method == "observe":
        for v in values:
            writer.observe(float(v))
    else:
        writer.observe_many(values)
    got = {name.replace("h_ours", "h_one"): v for name, v in samples_of(ours).items()}
    want = samples_of(one)
    # Buckets and count exactly; the sum up to float rounding (it is added in another order).
    assert got.pop("h_one_sum[]") == pytest.approx(want.pop("h_one_sum[]"), rel=1e-12)
    assert got == want


def test_value_adder_counts_as_inc_does() -> None:
    registry = CollectorRegistry()
    counter = Counter("c", "c", ["outcome"], registry=registry)
    counter.labels("a").inc(2)
    value_adder(counter.labels("a"))(3)
    assert registry.get_sample_value("c_total", {"outcome": "a"}) == 5


def samples_of(registry: CollectorRegistry) -> dict[str, float]:
    return {
        s.name + str(sorted(s.labels.items())): s.value
        for family in registry.collect()
        for s in family.samples
        if not s.name.endswith("_created")
    }


def test_latency_buckets_have_the_slo_as_an_exact_boundary() -> None:
    assert 0.3 in latency_buckets(0.3)
    assert latency_buckets(0.1) == tuple(sorted(latency_buckets(0.1)))
    assert min(latency_buckets(0.1)) < 0.001


def test_counts_are_exact(client: TestClient) -> None:
    for _ in range(7):
        assert client.post("/predict", json=OK_ROW).status_code == 200
    assert client.post("/predict/batch", json={"rows": [OK_ROW] * 5}).status_code == 200
    assert client.post("/predict", json={"age": "x", "signup_month": "Nope"}).status_code == 422
    text = scrape(client)
    requests = "glassbox_http_requests_total"
    assert value(text, requests, route="/predict", status="200") == 7
    assert value(text, requests, route="/predict/batch", status="200") == 1
    assert value(text, requests, route="/predict", status="422") == 1
    assert value(text, "glassbox_predictions_total") == 12
    assert value(text, "glassbox_prediction_probability_count") == 12
    assert value(text, "glassbox_batch_size_rows_count") == 1
    assert value(text, "glassbox_batch_size_rows_sum") == 5
    failures = "glassbox_validation_failures_total"
    assert value(text, failures, route="/predict", field="age", reason="type") == 1
    assert value(text, failures, route="/predict", field="signup_month",
                 reason="unknown_category") == 1  # fmt: skip
    assert value(text, failures) == 2
    assert value(text, "glassbox_http_request_duration_seconds_count", route="/predict") == 8
    assert value(text, "glassbox_model_inference_duration_seconds_count") == 8
    # Every request that started has finished: the live count, and the gauge once it is
    # published from it (the lifespan publishes once a second, so a stale gauge proves nothing).
    metrics = client.app.state.service.metrics  # type: ignore[attr-defined]
    assert metrics.requests_in_flight == 0
    metrics.publish_in_flight()
    assert value(scrape(client), "glassbox_http_requests_in_flight") == 0


def test_probes_and_metrics_are_not_in_the_red_series(client: TestClient) -> None:
    for path in ("/healthz", "/readyz", "/metrics"):
        client.get(path)
    text = scrape(client)
    routes = {dict(labels).get("route") for (name, labels) in samples(text)
              if name.startswith("glassbox_http_request")}  # fmt: skip
    assert routes & {"/healthz", "/readyz", "/metrics"} == set()


def test_unknown_paths_share_one_label(client: TestClient) -> None:
    for i in range(20):
        assert client.get(f"/no/such/{i}").status_code == 404
    text = scrape(client)
    assert value(text, "glassbox_http_requests_total", route="unmatched", status="404") == 20


def test_series_exist_at_zero_before_any_traffic(client: TestClient) -> None:
    text = scrape(client)
    names = {name for name, _ in samples(text)}
    for name in (
        "glassbox_predictions_total", "glassbox_validation_failures_total",
        "glassbox_requests_shed_total", "glassbox_draining", "glassbox_http_in_flight_limit",
        "glassbox_model_ready", "glassbox_model_info", "glassbox_worker_starts_total",
        "glassbox_model_trained_timestamp_seconds", "glassbox_workers",
        "glassbox_process_resident_memory_bytes", "glassbox_metrics_multiprocess_files",
        "glassbox_http_requests_total",
    ):  # fmt: skip
        assert name in names, name
    assert value(text, "glassbox_predictions_total") == 0
    assert value(text, "glassbox_model_ready") == 1
    assert value(text, "glassbox_worker_starts_total") == 1
    assert value(text, "glassbox_validation_failures_total", field="_extra") == 0


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


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        ({"type": "missing", "loc": ("body", "age")}, ("age", "missing")),
        ({"type": "int_type", "loc": ("body", "rows", 3, "age")}, ("age", "type")),
        ({"type": "greater_than_equal", "loc": ("body", "age")}, ("age", "out_of_bounds")),
        (
            {"type": "literal_error", "loc": ("body", "plan"), "input": "gold"},
            ("plan", "unknown_category"),
        ),
        ({"type": "literal_error", "loc": ("body", "plan"), "input": 6}, ("plan", "type")),
        ({"type": "extra_forbidden", "loc": ("body", "zzz")}, ("_extra", "extra_field")),
        ({"type": "json_invalid", "loc": ("body", 12)}, ("_body", "body")),
        ({"type": "too_long", "loc": ("body", "rows")}, ("_body", "body")),
        ({"type": "model_attributes_type", "loc": ("body",)}, ("_body", "body")),
    ],
)
def test_validation_errors_map_to_bounded_labels(
    error: dict[str, object], expected: tuple[str, str]
) -> None:
    assert classify([error], {"age", "plan"}) == [expected]
    assert expected[1] in REASONS


def test_metrics_can_be_switched_off(multiprocess_dir: Path) -> None:
    settings = Settings(model_dir=BUNDLED_MODEL_DIR, metrics_enabled=False)
    with TestClient(create_app(settings)) as c:
        c.post("/predict", json=OK_ROW)
        assert value(scrape(c), "glassbox_http_requests_total", status="200") == 0


def test_in_flight_is_counted_per_request_and_published_to_the_gauge(
    multiprocess_dir: Path,
) -> None:
    app = create_app(Settings(model_dir=BUNDLED_MODEL_DIR))
    metrics = app.state.service.metrics
    metrics.request_started()
    metrics.request_started()
    assert metrics.requests_in_flight == 2
    assert metrics.in_flight._value.get() == 0, "written only when published"
    metrics.publish_in_flight()
    assert metrics.in_flight._value.get() == 2
    metrics.request_finished("/predict", "POST", 200, 0.01)
    assert metrics.requests_in_flight == 1
    metrics.publish_in_flight()
    assert metrics.in_flight._value.get() == 1
    metrics.request_finished("/predict", "POST", 200, 0.01)
    assert metrics.requests_in_flight == 0
    metrics.publish_in_flight()
    assert metrics.in_flight._value.get() == 0


def test_the_lifespan_publishes_in_flight_every_second(multiprocess_dir: Path) -> None:
    app = create_app(Settings(model_dir=BUNDLED_MODEL_DIR))
    metrics = app.state.service.metrics
    with TestClient(app):
        metrics.request_started()  # as if a request were being served
        deadline = time.monotonic() + 3
        while metrics.in_flight._value.get() != 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert metrics.in_flight._value.get() == 1
        metrics.requests_in_flight = 0
