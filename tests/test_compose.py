"""compose.yaml, checked statically (nothing here runs Docker): podman-compose parses it, the
compose spec's schema validates it, every file it mounts exists, its Prometheus scrapes the
service where the service's settings put /metrics, the OTLP endpoint reaches the collector and
the collector Tempo, and the Loki derived field finds the trace id on a real canonical line."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient

from app.main import create_app
from app.settings import Settings
from tests.conftest import BUNDLED_MODEL_DIR
from tests.support.processes import ROOT
from tests.test_dockerfile import instructions

BIN = Path(sys.executable).parent
COMPOSE = ROOT / "compose.yaml"
HERE = ROOT / "deploy" / "compose"


def load(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    """The file as podman-compose resolves it (`config`, with --dry-run: no podman needed)."""
    done = subprocess.run(
        [str(BIN / "podman-compose"), "--dry-run", "-f", str(COMPOSE), "config"],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    resolved: dict[str, Any] = yaml.safe_load(done.stdout)
    return resolved


def test_podman_compose_resolves_every_service(compose: dict[str, Any]) -> None:
    assert set(compose["services"]) == {
        "glassbox", "prometheus", "alertmanager", "grafana", "otel-collector", "tempo", "loki",
        "promtail",
    }  # fmt: skip
    assert compose["services"]["glassbox"]["build"]["context"] == str(ROOT)


def test_the_compose_spec_schema_validates_it_offline() -> None:
    done = subprocess.run(
        [str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(COMPOSE)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_mounted_file_of_the_repo_exists(compose: dict[str, Any]) -> None:
    """Bind mounts from the repo; the engine's socket (an absolute host path) is the host's."""
    sources = [
        volume.split(":")[0]
        for service in compose["services"].values()
        for volume in service.get("volumes", [])
    ]
    relative = [s for s in sources if s.startswith("./")]
    assert relative
    assert set(sources) - set(relative) == {"/var/run/docker.sock"}
    missing = [s for s in relative if not (ROOT / s).exists()]
    assert missing == []


def test_images_are_tags_and_grafana_is_the_dashboards_version(compose: dict[str, Any]) -> None:
    images = {name: s["image"] for name, s in compose["services"].items()}
    assert all(re.fullmatch(r"[\w./-]+:[\w.-]+", image) for image in images.values()), images
    # The dashboards' pinned Grafana (the SDK's 11.6 build; README, Dashboards).
    assert images["grafana"].startswith("grafana/grafana:11.6.")
    assert "grafana-foundation-sdk==1769699379!11.6." in (ROOT / "pyproject.toml").read_text()


def service_settings(compose: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The service's Settings under its environment: the image's ENV, then compose's."""
    image_env = dict(re.findall(r"(\w+)=(\S+)", " ".join(instructions("ENV"))))
    for key, value in {**image_env, **compose["services"]["glassbox"]["environment"]}.items():
        monkeypatch.setenv(key, str(value))
    monkeypatch.setenv("GLASSBOX_MODEL_DIR", str(BUNDLED_MODEL_DIR))
    monkeypatch.delenv("GLASSBOX_WORKER_TMP_DIR")  # a directory of the image's
    return Settings()


def test_prometheus_scrapes_the_admin_port_with_the_repos_rules(
    compose: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = service_settings(compose, monkeypatch)
    ours, repos = load(HERE / "prometheus.yml"), load(ROOT / "monitoring" / "prometheus.yml")
    (job,) = ours["scrape_configs"]
    (repo_job,) = repos["scrape_configs"]
    assert job["job_name"] == repo_job["job_name"]
    assert job["static_configs"] == [{"targets": [f"glassbox:{settings.server.admin_port}"]}]
    assert ours["global"] == repos["global"]
    assert ours["rule_files"] == repos["rule_files"]
    prometheus = compose["services"]["prometheus"]
    assert "./monitoring/rules:/etc/prometheus/rules:ro" in prometheus["volumes"]
    assert "--config.file=/etc/prometheus/prometheus.yml" in prometheus["command"]
    (alerting,) = ours["alerting"]["alertmanagers"]
    assert alerting["static_configs"] == [{"targets": ["alertmanager:9093"]}]
    assert "9093:9093" in compose["services"]["alertmanager"]["ports"]


def test_spans_go_to_the_collector_and_on_to_tempo(compose: dict[str, Any]) -> None:
    endpoint = compose["services"]["glassbox"]["environment"]["OTEL_EXPORTER_OTLP_ENDPOINT"]
    collector = load(HERE / "otel-collector.yaml")
    http_port = collector["receivers"]["otlp"]["protocols"]["http"]["endpoint"].rsplit(":", 1)[1]
    assert endpoint == f"http://otel-collector:{http_port}"
    assert collector["service"]["pipelines"]["traces"]["exporters"] == ["otlp/tempo"]
    tempo = load(HERE / "tempo.yaml")
    grpc = tempo["distributor"]["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"]
    assert collector["exporters"]["otlp/tempo"]["endpoint"] == f"tempo:{grpc.rsplit(':', 1)[1]}"


def datasources() -> dict[str, dict[str, Any]]:
    return {
        d["uid"]: d for d in load(HERE / "grafana" / "datasources" / "glassbox.yml")["datasources"]
    }


def test_the_prometheus_data_source_is_the_repos_at_the_compose_address() -> None:
    (repo,) = load(ROOT / "grafana" / "provisioning" / "datasources" / "glassbox.yml")[
        "datasources"
    ]
    ours = datasources()[repo["uid"]]
    assert ours == {**repo, "url": "http://prometheus:9090"}


def test_the_derived_field_yields_the_trace_id_of_a_real_canonical_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A request through the real app, its JSON line as the container writes it to stdout."""
    settings = Settings(model_dir=BUNDLED_MODEL_DIR, log={"format": "json"})  # type: ignore[arg-type]
    with TestClient(create_app(settings)) as client:
        response = client.post("/predict", json={"age": 30, "signup_month": "June"})
    trace_id = response.headers["traceresponse"].split("-")[1]
    (line,) = [line for line in capsys.readouterr().out.splitlines() if '"event":"request"' in line]
    (field,) = datasources()["glassbox-loki"]["jsonData"]["derivedFields"]
    match = re.search(field["matcherRegex"], line)
    assert match is not None, line
    assert match.group(1) == trace_id
    assert field["datasourceUid"] == "glassbox-tempo"
    assert datasources()[field["datasourceUid"]]["type"] == "tempo"
