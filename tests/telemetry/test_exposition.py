"""The /metrics payload: a fresh registry per scrape. In multiprocess mode a scrape merges
prometheus_client's files once and reads drift's counts files once (drift never reads a
metric's files); the pod's processes and the directory's size come from collectors of their own,
and a single process is the whole pod."""

import os
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client.metrics_core import GaugeMetricFamily

from app.main import create_app
from app.settings import Settings
from app.telemetry import exposition
from app.telemetry.exposition import pod_processes, render
from app.telemetry.metrics import Metrics, ModelLabels
from examples.churn.generator import generate
from tests.conftest import BUNDLED_MODEL_DIR
from tests.support.file_opens import opened_files
from tests.support.metrics import samples, value


def test_a_scrape_merges_the_metric_files_once_and_reads_drift_s_counts_once(
    multiprocess_dir: Path,
) -> None:
    with TestClient(create_app(Settings(model_dir=BUNDLED_MODEL_DIR))) as client:
        for record in generate(5, seed=1).records():
            assert client.post("/predict", json=record).status_code == 200
        batch = list(generate(20, seed=2).records())
        assert client.post("/predict/batch", json={"rows": batch}).status_code == 200
        with opened_files(multiprocess_dir) as opened:
            text = client.get("/metrics").text
    metric_files = sorted(p.resolve() for p in multiprocess_dir.glob("*.db"))
    drift_files = sorted(p.resolve() for p in multiprocess_dir.glob("drift_*.counts"))
    assert any(p.name.startswith("histogram_") for p in metric_files)
    assert len(drift_files) == 1
    for path in metric_files + drift_files:
        assert opened[path] == 1, path.name
    assert max(opened.values()) == 1, opened
    # The scrape carries both: the probability histogram and drift's prediction bins.
    assert value(text, "glassbox_prediction_probability_count") == 25
    assert value(text, "glassbox_drift_bin_observations_total", feature="_prediction") == 25


def metrics() -> Metrics:
    labels = ModelLabels("v1", "abcd1234", 0.0, (0.5,), ("yes", "no"))
    return Metrics(labels, ["/predict"], [], (0.1, 1.0), (0.1, 1.0))


class OneGauge:
    def collect(self) -> list[GaugeMetricFamily]:
        return [GaugeMetricFamily("extra_gauge", "An extra collector's family.", value=7)]


def test_a_single_process_is_the_whole_pod(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    assert exposition.multiprocess_dir() is None
    m = metrics()
    m.count_shed("/predict")
    text, content_type = render(m, None, [OneGauge()])
    assert content_type == "text/plain; version=0.0.4; charset=utf-8"
    parsed = text.decode()
    assert value(parsed, "glassbox_requests_shed_total", route="/predict") == 1
    assert value(parsed, "extra_gauge") == 7
    assert value(parsed, "glassbox_workers") == 1  # this process, serving alone
    roles = {dict(labels)["role"] for (name, labels) in samples(parsed)
             if name == "glassbox_process_resident_memory_bytes"}  # fmt: skip
    assert roles == {"single"}
    assert "glassbox_metrics_multiprocess_files" not in parsed


def test_outside_gunicorn_the_pod_is_this_process() -> None:
    assert pod_processes() == [(os.getpid(), "single")]


def test_in_multiprocess_mode_the_directory_s_files_are_counted(multiprocess_dir: Path) -> None:
    assert exposition.multiprocess_dir() == multiprocess_dir
    m = metrics()
    m.count_shed("/predict")
    (multiprocess_dir / "not-a-metric.txt").write_text("x")
    (multiprocess_dir / "a-directory").mkdir()
    text, _ = render(m, None)
    parsed = text.decode()
    files = sum(1 for p in multiprocess_dir.iterdir() if p.is_file())
    assert files >= 2  # the metrics' own .db files, and the stray one
    assert value(parsed, "glassbox_metrics_multiprocess_files") == files
    assert value(parsed, "glassbox_requests_shed_total", route="/predict") == 1


@pytest.mark.parametrize(
    ("accept", "content_type"),
    [
        (None, "text/plain; version=0.0.4; charset=utf-8"),
        ("application/openmetrics-text; version=1.0.0",
         "application/openmetrics-text; version=1.0.0; charset=utf-8; escaping=underscores"),
    ],
)  # fmt: skip
def test_the_format_is_the_one_the_scraper_asks_for(accept: str | None, content_type: str) -> None:
    payload, negotiated = render(metrics(), accept)
    assert negotiated == content_type
    assert payload.endswith(b"# EOF\n") == (accept is not None)  # OpenMetrics ends with EOF


def test_every_scrape_builds_a_fresh_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """A collector registered for one scrape is not in the next: nothing accumulates."""
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    m = metrics()
    first, _ = render(m, None, [OneGauge()])
    second, _ = render(m, None)
    assert b"extra_gauge" in first
    assert b"extra_gauge" not in second
