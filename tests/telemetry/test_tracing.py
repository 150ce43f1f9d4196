"""Traces: one server span per request named by route template, the child spans that matter,
W3C context in and out, and an exact account of every sampled span."""

import json
import threading
import time
from collections.abc import Sequence

import pytest
from fastapi.testclient import TestClient
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from app.main import create_app
from app.settings import Settings
from app.telemetry.tracing import (
    HashedResource,
    ParentBasedRatio,
    default_sampler,
    export_configured,
    sdk_disabled,
    setup_tracing,
)
from tests.conftest import BUNDLED_MODEL_DIR
from tests.support.binomial import binomial_bounds

OK_ROW = {"age": 30, "signup_month": "June"}
CARD_VERSION = json.loads((BUNDLED_MODEL_DIR / "card.json").read_text())["version"]
PARENT_TRACE = "0af7651916cd43dd8448eb211c80319c"
PARENT_SPAN = "b7ad6b7169203331"


def traced(
    monkeypatch: pytest.MonkeyPatch, sampler: str = "always_on", **settings: object
) -> tuple[TestClient, InMemorySpanExporter]:
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", sampler)
    exporter = InMemorySpanExporter()
    app = create_app(Settings(model_dir=BUNDLED_MODEL_DIR, **settings), span_exporter=exporter)  # type: ignore[arg-type]
    return TestClient(app), exporter


def finished(exporter: InMemorySpanExporter) -> list[ReadableSpan]:
    return list(exporter.get_finished_spans())


@pytest.mark.parametrize("fast_paths", ["all", "none"])
def test_a_prediction_makes_a_server_span_and_two_children(
    monkeypatch: pytest.MonkeyPatch, fast_paths: str
) -> None:
    client, exporter = traced(monkeypatch, fast_paths=fast_paths)
    with client:
        response = client.post("/predict", json=OK_ROW)
    spans = {s.name: s for s in finished(exporter)}
    assert set(spans) == {"POST /predict", "decode_validate", "predict"}
    server = spans["POST /predict"]
    assert server.kind is SpanKind.SERVER
    assert server.attributes["http.route"] == "/predict"
    assert server.attributes["http.request.method"] == "POST"
    assert server.attributes["url.path"] == "/predict"
    assert server.attributes["http.response.status_code"] == 200
    assert server.attributes["glassbox.prediction_id"] == response.json()["prediction_id"]
    for child in ("decode_validate", "predict"):
        assert spans[child].parent.span_id == server.context.span_id
    assert spans["predict"].attributes["glassbox.rows"] == 1
    assert spans["predict"].attributes["glassbox.model_version"] == CARD_VERSION
    assert server.resource.attributes["service.name"] == "glassbox"
    assert server.resource.attributes["service.version"] == response.json()["model_version"]


def test_batches_record_rows_and_the_id_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    client, exporter = traced(monkeypatch)
    with client:
        body = client.post("/predict/batch", json={"rows": [OK_ROW] * 3}).json()
    server = next(s for s in finished(exporter) if s.name == "POST /predict/batch")
    assert server.attributes["glassbox.rows"] == 3
    assert body["predictions"][2]["prediction_id"].startswith(
        server.attributes["glassbox.prediction_id_prefix"]
    )


@pytest.mark.parametrize("fast_paths", ["all", "none"])
def test_the_caller_s_traceparent_becomes_the_parent(
    monkeypatch: pytest.MonkeyPatch, fast_paths: str
) -> None:
    client, exporter = traced(monkeypatch, fast_paths=fast_paths)
    with client:
        response = client.post(
            "/predict", json=OK_ROW, headers={"traceparent": f"00-{PARENT_TRACE}-{PARENT_SPAN}-01"}
        )
    server = next(s for s in finished(exporter) if s.name == "POST /predict")
    assert f"{server.context.trace_id:032x}" == PARENT_TRACE
    assert f"{server.parent.span_id:016x}" == PARENT_SPAN
    version, trace_id, span_id, flags = response.headers["traceresponse"].split("-")
    assert (version, trace_id, flags) == ("00", PARENT_TRACE, "01")
    assert span_id == f"{server.context.span_id:016x}"


@pytest.mark.parametrize("fast_paths", ["all", "none"])
def test_unsampled_requests_still_carry_ids_but_export_nothing(
    monkeypatch: pytest.MonkeyPatch, fast_paths: str
) -> None:
    client, exporter = traced(monkeypatch, sampler="always_off", fast_paths=fast_paths)
    with client:
        response = client.post("/predict", json=OK_ROW)
    assert finished(exporter) == []
    flags = int(response.headers["traceresponse"].rsplit("-", 1)[1], 16)
    assert flags & 0x01 == 0  # not sampled (0x02, "random trace id", may be set)


def test_otel_sdk_disabled_switches_tracing_off(monkeypatch: pytest.MonkeyPatch) -> None:
    assert sdk_disabled({"OTEL_SDK_DISABLED": " True "})
    assert not sdk_disabled({})
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    client, exporter = traced(monkeypatch)
    with client:
        response = client.post("/predict", json=OK_ROW)
    assert response.status_code == 200
    assert "traceresponse" not in response.headers
    assert finished(exporter) == []
    assert setup_tracing({}, 10, lambda n: None, lambda reason, n: None) is None


def test_request_ids_are_kept_only_when_well_formed(monkeypatch: pytest.MonkeyPatch) -> None:
    client, _ = traced(monkeypatch)
    with client:
        kept = client.post("/predict", json=OK_ROW, headers={"x-request-id": "abc.DEF_1-2"})
        replaced = client.post("/predict", json=OK_ROW, headers={"x-request-id": "no spaces!"})
        too_long = client.post("/predict", json=OK_ROW, headers={"x-request-id": "a" * 65})
    assert kept.headers["x-request-id"] == "abc.DEF_1-2"
    assert replaced.headers["x-request-id"] != "no spaces!"
    assert len(too_long.headers["x-request-id"]) == 16


def test_probes_and_metrics_make_no_spans(monkeypatch: pytest.MonkeyPatch) -> None:
    client, exporter = traced(monkeypatch)
    with client:
        for path in ("/healthz", "/readyz", "/metrics"):
            client.get(path)
    assert finished(exporter) == []


def test_rejected_requests_are_traced_under_their_route(monkeypatch: pytest.MonkeyPatch) -> None:
    client, exporter = traced(monkeypatch)
    with client:
        client.post("/predict", json={"age": "x"})
        client.get("/nowhere/42")
    names = sorted(s.name for s in finished(exporter))
    assert names == ["GET unmatched", "POST /predict"]


def test_tracing_can_be_switched_off(monkeypatch: pytest.MonkeyPatch) -> None:
    client, exporter = traced(monkeypatch, tracing={"enabled": False})
    with client:
        response = client.post("/predict", json=OK_ROW)
    assert finished(exporter) == []
    assert "traceresponse" not in response.headers
    assert "x-request-id" in response.headers


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, True),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318/v1/traces"}, True),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_TRACES_EXPORTER": "none"}, False),
    ],
)
def test_export_needs_an_endpoint(environ: dict[str, str], expected: bool) -> None:
    assert export_configured(environ) is expected


class Failing(SpanExporter):
    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.FAILURE


class Raising(SpanExporter):
    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        raise ConnectionError("collector down")


class Hanging(SpanExporter):
    def __init__(self) -> None:
        self.release = threading.Event()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.release.wait(30)
        return SpanExportResult.SUCCESS


class Account:
    def __init__(self) -> None:
        self.exported = 0
        self.dropped: dict[str, int] = {}

    def on_exported(self, count: int) -> None:
        self.exported += count

    def on_dropped(self, reason: str, count: int) -> None:
        self.dropped[reason] = self.dropped.get(reason, 0) + count


def make_spans(exporter: SpanExporter, count: int, max_pending: int = 2048) -> Account:
    account = Account()
    monkey = setup_tracing({}, max_pending, account.on_exported, account.on_dropped, exporter)
    assert monkey is not None
    for i in range(count):
        monkey.tracer.start_span(f"s{i}").end()
    monkey.shutdown(timeout_s=1.0)
    return account


@pytest.mark.parametrize("exporter", [Failing(), Raising()], ids=["failure", "exception"])
def test_failed_exports_are_counted_as_dropped(
    exporter: SpanExporter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "always_on")
    account = make_spans(exporter, 10)
    assert account.exported == 0
    assert account.dropped == {"export_failed": 10}


def test_every_span_is_exported_or_counted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "always_on")
    memory = InMemorySpanExporter()
    account = make_spans(memory, 25)
    assert account.exported == len(memory.get_finished_spans()) == 25
    assert account.dropped == {}


def test_a_hanging_collector_bounds_shutdown_and_counts_the_rest(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "always_on")
    hanging = Hanging()
    started = time.monotonic()
    account = make_spans(hanging, 50, max_pending=20)
    assert time.monotonic() - started < 3.0
    hanging.release.set()
    # 20 pending when the queue filled, 30 refused; none exported before the deadline.
    assert account.dropped == {"queue_full": 30, "shutdown": 20}
    assert account.exported == 0


def test_the_shipped_default_samples_a_tenth_and_honours_the_caller() -> None:
    sampler = default_sampler({})
    assert isinstance(sampler, ParentBasedRatio)
    assert "TraceIdRatioBased{0.1}" in sampler.get_description()
    assert default_sampler({"OTEL_TRACES_SAMPLER": "always_on"}) is None


@pytest.mark.parametrize(
    ("name", "arg"),
    [
        ("parentbased_traceidratio", "0.25"),
        ("ParentBased_TraceIdRatio", "0"),
        ("parentbased_traceidratio", "1"),
        ("parentbased_traceidratio", None),
        ("parentbased_traceidratio", "not a number"),
        ("parentbased_traceidratio", "2"),
        ("parentbased_traceidratio", "nan"),
    ],
)
def test_the_parent_based_ratio_variable_builds_the_sampler_the_sdk_would(
    monkeypatch: pytest.MonkeyPatch, name: str, arg: str | None
) -> None:
    from opentelemetry.sdk.trace.sampling import _get_from_env_or_default

    monkeypatch.setenv("OTEL_TRACES_SAMPLER", name)
    if arg is None:
        monkeypatch.delenv("OTEL_TRACES_SAMPLER_ARG", raising=False)
    else:
        monkeypatch.setenv("OTEL_TRACES_SAMPLER_ARG", arg)
    ours = default_sampler()
    assert isinstance(ours, ParentBasedRatio)
    assert ours.get_description() == _get_from_env_or_default().get_description()


@pytest.mark.parametrize("fast_paths", ["all", "none"])
def test_unset_sampler_follows_a_sampled_caller(
    monkeypatch: pytest.MonkeyPatch, fast_paths: str
) -> None:
    monkeypatch.delenv("OTEL_TRACES_SAMPLER", raising=False)
    exporter = InMemorySpanExporter()
    settings = Settings(model_dir=BUNDLED_MODEL_DIR, fast_paths=fast_paths)
    app = create_app(settings, span_exporter=exporter)
    n = 300
    with TestClient(app) as client:
        client.post(
            "/predict", json=OK_ROW, headers={"traceparent": f"00-{PARENT_TRACE}-{PARENT_SPAN}-01"}
        )
        unsampled = [client.post("/predict", json=OK_ROW) for _ in range(n)]
    assert all(r.status_code == 200 for r in unsampled)
    servers = [s for s in finished(exporter) if s.name == "POST /predict"]
    followed = [s for s in servers if f"{s.context.trace_id:032x}" == PARENT_TRACE]
    assert len(followed) == 1
    # New traces: a tenth of them, within a binomial bound that a half (150 of 300) is far out of.
    low, high = binomial_bounds(n, 0.1)  # 30 +- 26
    assert not low <= n * 0.5 <= high
    assert low <= len(servers) - len(followed) <= high


def test_the_hashed_resource_is_the_same_resource() -> None:
    resource = Resource.create({"service.name": "glassbox", "service.version": "v1"})
    hashed = HashedResource(resource)
    assert hashed == resource
    assert hash(hashed) == hash(resource)
    assert hashed.attributes == resource.attributes
    assert {resource: 1}[hashed] == 1
