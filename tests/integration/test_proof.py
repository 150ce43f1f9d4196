"""The proof: the repo's rules (their test variant, written by the generators: every window and
``for`` a sixtieth, at least 4 s) and every dashboard expression on a real Prometheus scraping a
real gunicorn (2 workers) every second, under mixed traffic from the traffic tool: single rows
with some invalid, and batches from a shifted population (``older``: only ``age`` moves).

While the bounded traffic still runs: every recording rule and every dashboard expression
returns ``success`` and at least one finite series (but grafana/allowed-empty.yaml's), the
availability error ratios read 0 (their 5xx series exist at zero), the drift alert of the
shifted feature is pending or firing and that of an unshifted one never was. After it stops:
the prediction requests Prometheus counts are the requests sent, and every family of the
metric inventory was scraped.

The drift alerts need the window's sample count at least ``glassbox_drift_min_samples``: the
server runs with GLASSBOX_DRIFT_MIN_SAMPLES=500, reached in a few seconds of this traffic (the
scaled hour is a minute)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx2
import pytest
import yaml

from monitoring import service, slo_rules, sloth_rules
from tests.support.dashboards import GRAFANA, dashboards, expressions, substitute, variables
from tests.support.metrics import MissingSample, value
from tests.support.processes import ROOT, STARTED_GROUPS, Server, gunicorn, kill_group
from tests.support.prometheus import Prometheus, finite_values, prometheus
from tests.support.rules import inventory

SCRAPE_S = 1.0
RUN_S = 35.0  # how long the traffic runs, at most
MIN_SAMPLES = 500
SHIFTED, UNSHIFTED = "age", "plan"
JOB = service.selector()
PREDICTED = 'http_route=~"/predict|/predict/batch"'


def predictions(*matchers: str) -> str:
    """The prediction routes' request counts (with more ``matchers``)."""
    return f"http_server_request_duration_seconds_count{{{', '.join([JOB, PREDICTED, *matchers])}}}"


# The traffic tool's runs, side by side: (name, arguments).
TRAFFIC = (
    ("rows", ["--rate", "25", "--invalid", "0.1", "--seed", "1"]),
    ("shifted batches", ["--rate", "4", "--batch", "20", "--shift", "older", "--seed", "2"]),
)
ALLOWED_EMPTY: dict[str, str] = {
    entry["where"]: entry["reason"]
    for entry in yaml.safe_load((GRAFANA / "allowed-empty.yaml").read_text())["allowed"]
}


def start_traffic(server: Server, args: list[str]) -> subprocess.Popen[str]:
    rate = float(args[args.index("--rate") + 1])
    argv = [sys.executable, "-m", "examples.churn.traffic", "--url", server.url,
            "--duration", str(RUN_S), "--count", str(int(rate * RUN_S)), *args]  # fmt: skip
    process = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, text=True,
                               start_new_session=True)  # fmt: skip
    STARTED_GROUPS.add(process.pid)
    return process


def checks(prom: Prometheus) -> dict[str, str]:
    """{where: PromQL} of every recording rule Prometheus loaded and every dashboard expression
    with its variables substituted as tests/grafana does."""
    found = {}
    for rule in prom.rules():
        if rule["type"] == "recording":
            slo = rule.get("labels", {}).get("sloth_slo")
            where = f"rule {rule['group']}: {rule['name']}"
            found[where + (f" {slo}" if slo and slo not in rule["group"] else "")] = rule["query"]
    for board in dashboards().values():
        names = {v["name"] for v in variables(board)}
        for where, expr in expressions(board):
            found[where] = substitute(expr, names)
    return found


def settled(prom: Prometheus, expr: str, timeout_s: float = 30.0) -> float | None:
    """The value of ``expr`` once it has not changed for two scrape intervals (bounded)."""
    deadline = time.monotonic() + timeout_s
    last, since = prom.scalar(expr), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(SCRAPE_S / 4)
        now = prom.scalar(expr)
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= 2 * SCRAPE_S:
            return now
    return last


def outcomes(processes: list[subprocess.Popen[str]]) -> dict[str, int]:
    total: dict[str, int] = {}
    for process in processes:
        out, _ = process.communicate(timeout=RUN_S + 15)
        report: dict[str, Any] = json.loads(out)
        for outcome, n in report["outcomes"].items():
            total[outcome] = total.get(outcome, 0) + n
    return total


def test_allowed_empty_is_short_and_says_why() -> None:
    assert len(ALLOWED_EMPTY) <= 5
    assert all(reason.strip() for reason in ALLOWED_EMPTY.values())


@pytest.mark.timeout(90)
def test_every_rule_and_panel_shows_data_on_a_real_prometheus_under_real_traffic(
    tmp_path: Path,
) -> None:
    rule_files = slo_rules.test_variant(tmp_path / "rules")
    env = {"GLASSBOX_DRIFT_MIN_SAMPLES": str(MIN_SAMPLES)}
    with gunicorn(tmp_path / "service", workers=2, env=env) as server:
        traffic = [start_traffic(server, args) for _, args in TRAFFIC]
        try:
            # Traffic flows before Prometheus' first scrape: no 5-second ratio is ever 0/0, whose
            # NaN Sloth's 30-day average would carry for its whole (scaled) period.
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline:
                try:
                    metrics = httpx2.get(f"{server.url}/metrics", timeout=5.0).text
                    if value(metrics, "glassbox_predictions_total") > 0:
                        break
                except MissingSample:
                    pass
                time.sleep(0.1)
            target = f"127.0.0.1:{server.port}"
            with prometheus(tmp_path, target, SCRAPE_S, rule_files=rule_files) as prom:
                prove(prom, server, traffic)
        finally:
            for process in traffic:
                kill_group(process.pid)


def prove(prom: Prometheus, server: Server, traffic: list[subprocess.Popen[str]]) -> None:
    started = time.monotonic()
    assert prom.wait_for(f"up{{{JOB}}}", 1.0) == 1.0
    pending = checks(prom)
    assert len(pending) > 100
    assert set(ALLOWED_EMPTY) <= set(pending), "allowed-empty names what does not exist"
    shifted = f'ALERTS{{alertname="GlassboxFeatureDrift",feature="{SHIFTED}"}}'
    drifted: list[dict[str, Any]] = []
    # Until the traffic is about to stop: rates need two scrapes, the drift alert its samples.
    while time.monotonic() < started + RUN_S - 8 and (
        pending.keys() - ALLOWED_EMPTY or not drifted
    ):
        for where, expr in list(pending.items()):
            if finite_values(prom.evaluate(expr)):
                del pending[where]
        drifted = prom.query(shifted)
        time.sleep(SCRAPE_S)
    assert sorted(pending.keys() - ALLOWED_EMPTY) == [], f"no finite series: {sorted(pending)}"
    assert [a["metric"]["alertstate"] for a in drifted] in (["pending"], ["firing"]), drifted
    assert all(p.poll() is None for p in traffic), "the traffic still runs for all of this"

    unhealthy = [(r["name"], r["health"], r.get("lastError")) for r in prom.rules()
                 if r["health"] != "ok"]  # fmt: skip
    assert unhealthy == []
    # Nothing failed: the availability ratios are 0 over every window, not "no data", because
    # their 5xx series exist at zero.
    fives = prom.query(predictions('http_response_status_code=~"5.."'))
    assert fives
    assert {float(s["value"][1]) for s in fives} == {0.0}
    ratios = prom.query(
        '{__name__=~"slo:sli_error:ratio_rate.+",sloth_slo="prediction-availability"}'
    )
    assert len(ratios) == len(sloth_rules.WINDOWS)
    assert {float(s["value"][1]) for s in ratios} == {0.0}, ratios
    # The unshifted feature's drift alert never even went pending.
    never = f'ALERTS{{alertname="GlassboxFeatureDrift",feature="{UNSHIFTED}"}}[10m]'
    assert prom.query(f"count_over_time({never})") == []

    sent = outcomes(traffic)
    assert set(sent) == {"200", "422"}, sent
    assert settled(prom, f"sum({predictions()})") == sum(sent.values())
    refused = predictions('http_response_status_code="422"')
    assert prom.scalar(f"sum({refused})") == sent["422"]

    stale = [name for name in inventory() if not prom.query(f'{{__name__="{name}",{JOB}}}')]
    assert stale == [], "inventory families Prometheus did not scrape"
