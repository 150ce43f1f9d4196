"""Alertmanager's configuration routes each severity to its receiver, and its inhibitions keep
one cause from paging twice, checked with amtool and on a real Alertmanager with the label sets
the rules really produce: those the promtool tests expect."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.alertmanager import alertmanager
from tests.support.rules import MONITORING, TEST_FILES, load
from tests.support.tools import require_tool

CONFIG = MONITORING / "alertmanager.yml"


def amtool(*args: str) -> str:
    binary = require_tool("amtool", "prometheus-alertmanager")
    done = subprocess.run([binary, *args], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_the_configuration_is_valid() -> None:
    assert "SUCCESS" in amtool("check-config", str(CONFIG))


@pytest.mark.parametrize(
    ("labels", "receiver"),
    [(["severity=page"], "page"), (["severity=ticket"], "ticket"),
     (["alertname=SomethingElse"], "default"), (["severity=info"], "default")],
)  # fmt: skip
def test_each_severity_routes_to_its_receiver(labels: list[str], receiver: str) -> None:
    amtool(
        "config", "routes", "test", f"--config.file={CONFIG}",
        f"--verify.receivers={receiver}", *labels,
    )  # fmt: skip


def test_a_route_test_fails_on_the_wrong_receiver() -> None:
    """So that the route tests above are checks."""
    binary = require_tool("amtool", "prometheus-alertmanager")
    done = subprocess.run(
        [binary, "config", "routes", "test", f"--config.file={CONFIG}",
         "--verify.receivers=ticket", "severity=page"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode != 0


def expected_alerts() -> dict[tuple[str, str], dict[str, str]]:
    """{(alertname, severity): one label set the promtool tests expect of that alert}."""
    found: dict[tuple[str, str], dict[str, str]] = {}
    for path in TEST_FILES:
        for group in load(path)["tests"]:
            for case in group.get("alert_rule_test", []):
                for alert in case["exp_alerts"]:
                    labels = {"alertname": case["alertname"], **alert["exp_labels"]}
                    found.setdefault((case["alertname"], labels["severity"]), labels)
    return found


def as_job(labels: dict[str, str], job: str) -> dict[str, str]:
    return {**{k: str(v) for k, v in labels.items()}, "job": job}


# The inhibition rules of alertmanager.yml, by their index there.
SLO_ALERTS_OF_A_SILENT_JOB, DRIFT_OF_A_SILENT_JOB, SLO_TICKET_UNDER_ITS_PAGE = 0, 1, 2


def inhibitions() -> list[tuple[int, str, tuple[str, str], tuple[str, str]]]:
    """(rule, why, source, target): every inhibition rule, with each of its source alerts."""
    silent = {"GlassboxTargetDown": "page", "GlassboxTargetAbsent": "page",
              "GlassboxNoTraffic": "ticket"}  # fmt: skip
    cases = []
    for source, severity in silent.items():
        cases += [
            (SLO_ALERTS_OF_A_SILENT_JOB, f"{source} silences an SLO page",
             (source, severity), ("GlassboxPredictionErrors", "page")),
            (SLO_ALERTS_OF_A_SILENT_JOB, f"{source} silences an SLO no-data alert",
             (source, severity), ("GlassboxPredictionsNoData", "page")),
            (DRIFT_OF_A_SILENT_JOB, f"{source} silences drift",
             (source, severity), ("GlassboxFeatureDrift", "ticket")),
        ]  # fmt: skip
    for slo_alert in ("GlassboxPredictionErrors", "GlassboxSlowPredictions"):
        cases.append((SLO_TICKET_UNDER_ITS_PAGE, f"{slo_alert}'s page silences its ticket",
                      (slo_alert, "page"), (slo_alert, "ticket")))  # fmt: skip
    return cases


def test_every_inhibition_rule_is_exercised() -> None:
    config = yaml.safe_load(CONFIG.read_text())
    assert {rule for rule, *_ in inhibitions()} == set(range(len(config["inhibit_rules"])))


def test_inhibitions_on_a_real_alertmanager(tmp_path: Path) -> None:
    """Per case, its own job: the source and the target of that job; the target is suppressed by
    that source, and the same target of another job stays active."""
    expected = expected_alerts()
    with alertmanager(tmp_path, CONFIG) as am:
        results: list[tuple[str, dict[str, Any], dict[str, Any]]] = []
        for i, (_rule, why, source_key, target_key) in enumerate(inhibitions()):
            job, other = f"case-{i}", f"case-{i}-other"
            source = as_job(expected[source_key], job)
            target = as_job(expected[target_key], job)
            untouched = as_job(expected[target_key], other)
            am.post(source, target, untouched)
            results.append((why, am.status_of(target), am.status_of(untouched)))
        for why, inhibited, other_job in results:
            assert inhibited["state"] == "suppressed", why
            assert inhibited["inhibitedBy"], why
            assert other_job["state"] == "active", why
            assert other_job["inhibitedBy"] == [], why


def test_an_slo_ticket_without_its_page_is_not_silenced(tmp_path: Path) -> None:
    expected = expected_alerts()
    with alertmanager(tmp_path, CONFIG) as am:
        ticket = as_job(expected[("GlassboxPredictionErrors", "ticket")], "alone")
        other_page = as_job(expected[("GlassboxSlowPredictions", "page")], "alone")
        am.post(ticket, other_page)
        assert am.status_of(ticket)["state"] == "active", "another SLO's page is another cause"
