"""The KEDA component: its triggers read the service's own series, by the rules' job."""

from __future__ import annotations

import promql_parser

from monitoring import service
from tests.support.kustomize import one, render
from tests.support.processes import ROOT


def test_the_prometheus_triggers_select_the_rules_job_in_the_overlay_s_namespace() -> None:
    scaled = one(render("keda"), "ScaledObject")
    triggers = [t for t in scaled["spec"]["triggers"] if t["type"] == "prometheus"]
    assert {t["name"] for t in triggers} == {"requests-per-pod", "shed-per-pod"}
    for trigger in triggers:
        query = trigger["metadata"]["query"]
        promql_parser.parse(query)
        assert service.selector() in query
        assert f'namespace="{scaled["metadata"]["namespace"]}"' in query
        assert float(trigger["metadata"]["threshold"]) > 0


def test_the_triggers_metrics_are_ones_the_service_exposes() -> None:
    inventory = (ROOT / "monitoring" / "metrics-inventory.txt").read_text().split()
    scaled = one(render("keda"), "ScaledObject")
    for trigger in (t for t in scaled["spec"]["triggers"] if t["type"] == "prometheus"):
        names = {
            name
            for name in inventory
            if name.startswith(("glassbox_", "http_")) and name in trigger["metadata"]["query"]
        }
        assert names, trigger["name"]
