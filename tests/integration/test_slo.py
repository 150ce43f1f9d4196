"""The SLO rules on a real Prometheus scraping a real server: every SLO's ratios are recorded from
the series the service exposes, and no availability or no-data alert fires while the service
is healthy."""

from __future__ import annotations

from pathlib import Path

import httpx2
import pytest

from monitoring import service, slo_rules
from monitoring.sloth_spec import load_spec
from tests.support.processes import Server, gunicorn
from tests.support.prometheus import prometheus
from tests.support.rules import MONITORING, load

OK_ROW = {"age": 30, "signup_month": "June"}
SLOS = [slo.name for slo in load_spec(service.SPEC).slos]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    with gunicorn(tmp_path_factory.mktemp("gunicorn-slo"), workers=2) as running:
        yield running


def test_every_slo_is_recorded_from_the_real_series_and_nothing_fires(
    server: Server, tmp_path: Path
) -> None:
    config = load(MONITORING / "prometheus.yml")
    rule_files = [MONITORING / path for path in config["rule_files"]]
    assert slo_rules.SLO_RULES in rule_files
    assert slo_rules.NO_DATA_RULES in rule_files
    with prometheus(tmp_path, f"127.0.0.1:{server.port}", rule_files=rule_files) as prom:
        assert prom.wait_for(f"up{{{service.selector()}}}", 1.0) == 1.0
        with httpx2.Client(base_url=server.url, timeout=10.0) as client:
            for _ in range(20):
                assert client.post("/predict", json=OK_ROW).status_code == 200
            for _ in range(3):
                assert (
                    client.post("/predict/batch", json={"rows": [OK_ROW] * 10}).status_code == 200
                )
            assert client.post("/predict", json={"age": "x"}).status_code == 422
        # Every SLO's 5-minute ratio, once two scrapes have seen the traffic: no 5xx was sent.
        for name in SLOS:
            ratio = f'slo:sli_error:ratio_rate5m{{sloth_slo="{name}"}}'
            assert prom.wait_for(f"count({ratio} >= 0)", 1.0) == 1.0, name
        availability = 'slo:sli_error:ratio_rate5m{sloth_slo="prediction-availability"}'
        assert prom.scalar(availability) == 0.0
        assert prom.scalar("count(sloth_slo_info)") == len(SLOS)
        # Not even pending: the totals are there, and no request failed. (The latency alerts are
        # left out: on a loaded machine a few of these requests may be slower than the SLO.)
        assert prom.query('ALERTS{alertname=~".+NoData|GlassboxPredictionErrors"}') == []
