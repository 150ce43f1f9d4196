"""monitoring/slo.yaml is a pure Sloth spec whose queries select what the service really exposes:
every SLI selector matches series a real scrape has at zero, and every latency threshold is a
bucket boundary written exactly as the service writes ``le``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from fastapi.testclient import TestClient
from prometheus_client import values
from pydantic import ValidationError

from app.main import create_app
from app.settings import DEFAULT_LATENCY_BUCKETS_SECONDS, Settings
from monitoring import promql, service, slo_rules
from monitoring.no_data_rules import total_selector
from monitoring.slo_extras import load_extras
from monitoring.sloth_spec import SLO, Spec, load_spec, render_window
from tests.conftest import BUNDLED_MODEL_DIR
from tests.support.metrics import samples
from tests.support.rules import MONITORING, load

SPEC = load_spec(service.SPEC)


def test_slo_yaml_is_a_sloth_spec() -> None:
    assert SPEC.version == "prometheus/v1"
    assert [slo.name for slo in SPEC.slos] == [
        "prediction-availability",
        "predict-latency",
        "batch-latency",
    ]
    assert {slo.name: slo.objective for slo in SPEC.slos} == {
        "prediction-availability": 99.9,
        "predict-latency": 99,
        "batch-latency": 99,
    }


@pytest.mark.parametrize(
    ("where", "field"),
    [
        ((), "runbook_base_url"),
        (("slos", 0), "absent"),
        (("slos", 0, "alerting"), "for"),
        (("slos", 0, "alerting", "page_alert"), "severity"),
    ],
)
def test_a_field_sloths_spec_does_not_have_is_refused(
    where: tuple[str | int, ...], field: str
) -> None:
    """So that loading slo.yaml proves it holds Sloth's fields only."""
    data = yaml.safe_load(service.SPEC.read_text())
    node = data
    for key in where:
        node = node[key]
    node[field] = "x"
    with pytest.raises(ValidationError, match=field):
        Spec.model_validate(data)


def test_the_spec_labels_carry_the_scrape_job_the_alerts_match_on() -> None:
    config = load(MONITORING / "prometheus.yml")
    assert SPEC.labels == {"job": "glassbox"}
    assert config["scrape_configs"][0]["job_name"] == SPEC.labels["job"]


def test_every_runbook_url_of_the_spec_is_the_extras_base_and_the_alerts_name() -> None:
    extras = load_extras(slo_rules.EXTRAS)
    for slo in SPEC.slos:
        annotations = slo.alerting.annotations
        assert annotations["runbook_url"] == extras.runbook_url(slo.alerting.name), slo.name


def test_every_slo_has_a_no_data_alert_and_every_no_data_alert_an_slo() -> None:
    extras = load_extras(slo_rules.EXTRAS)
    assert set(extras.no_data_alerts.slos) == {slo.name for slo in SPEC.slos}


# --- against a real scrape ------------------------------------------------------------------


@pytest.fixture
def scrape(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The service's /metrics, in multiprocess mode as under gunicorn, before any traffic: the
    series the SLOs select exist at zero from the start."""
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(metrics_dir))
    monkeypatch.setattr(values, "ValueClass", values.MultiProcessValue())
    with TestClient(create_app(Settings(model_dir=BUNDLED_MODEL_DIR))) as client:
        response = client.get("/metrics")
        assert response.status_code == 200
        yield response.text


def scraped_series(text: str) -> list[dict[str, str]]:
    """Every sample's labels as Prometheus stores them: the name, and the target's job."""
    job = SPEC.labels["job"]
    return [
        {**dict(labels), "__name__": name, "job": job, "instance": "pod-a"}
        for name, labels in samples(text)
    ]


def sli_selectors(slo: SLO) -> list[promql.Selector]:
    assert slo.sli.events is not None
    queries = (slo.sli.events.error_query, slo.sli.events.total_query)
    return [s for q in queries for s in promql.selectors(render_window(q, "5m"))]


@pytest.mark.parametrize("slo", SPEC.slos, ids=[s.name for s in SPEC.slos])
def test_every_sli_selector_matches_series_the_service_exposes_at_zero(
    slo: SLO, scrape: str
) -> None:
    series = scraped_series(scrape)
    for selector in [*sli_selectors(slo), total_selector(slo)]:
        matched = [s for s in series if selector.matches(s)]
        assert matched, f"{slo.name}: {selector.text} selects nothing the service exposes"


def test_the_series_match_sees_a_wrong_label_value(scrape: str) -> None:
    series = scraped_series(scrape)
    for wrong in (
        'http_server_request_duration_seconds_count{job="glassbox",http_route="predict"}',
        'http_server_request_duration_seconds_count{job="other",http_route="/predict"}',
        'http_server_request_duration_seconds_bucket{job="glassbox",le="0.10"}',
    ):
        (selector,) = promql.selectors(wrong)
        assert not any(selector.matches(s) for s in series), wrong


def latency_thresholds() -> dict[str, tuple[str, str]]:
    """{SLO name: (route, le)} of every SLO whose good events are a bucket of the histogram."""
    found = {}
    for slo in SPEC.slos:
        buckets = [s for s in sli_selectors(slo) if s.metric.endswith("_bucket")]
        if buckets:
            (bucket,) = buckets
            matchers = {name: value for name, op, value in bucket.matchers if op == "="}
            found[slo.name] = (matchers["http_route"], matchers["le"])
    return found


def test_the_latency_slos_and_their_thresholds() -> None:
    assert latency_thresholds() == {
        "predict-latency": ("/predict", "0.1"),
        "batch-latency": ("/predict/batch", "1.0"),
    }


def test_every_latency_threshold_is_a_boundary_as_the_service_writes_it(scrape: str) -> None:
    for name, (route, le) in latency_thresholds().items():
        exposed = {
            dict(labels)["le"]
            for sample, labels in samples(scrape)
            if sample == "http_server_request_duration_seconds_bucket"
            and dict(labels)["http_route"] == route
        }
        assert le in exposed, f"{name}: le={le!r} is not one of {sorted(exposed)}"
        assert float(le) in DEFAULT_LATENCY_BUCKETS_SECONDS, name


def test_the_single_row_threshold_is_the_services_latency_slo_setting() -> None:
    """The service keeps slow requests' log lines and adds the threshold to its buckets by
    GLASSBOX_LATENCY_SLO_SECONDS: its default is the /predict SLO's threshold. (The batch
    threshold is a default bucket boundary the service has no setting for.)"""
    default = Settings.model_fields["latency_slo_seconds"].default
    assert float(latency_thresholds()["predict-latency"][1]) == default


def test_a_latency_sli_counts_the_bucket_of_the_same_series_as_its_total() -> None:
    """Good events are the threshold's bucket of exactly the requests the total counts."""
    for slo in SPEC.slos:
        if slo.name not in latency_thresholds():
            continue
        total = total_selector(slo)
        (bucket,) = [s for s in sli_selectors(slo) if s.metric.endswith("_bucket")]
        assert total.metric.removesuffix("_count") == bucket.metric.removesuffix("_bucket")
        assert {m for m in bucket.matchers if m[0] != "le"} == set(total.matchers), slo.name
