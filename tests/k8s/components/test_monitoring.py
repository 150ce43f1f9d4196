"""The monitoring component as the prod overlay renders it: a PodMonitor whose targets get the
rules' job, the rules, a ConfigMap per dashboard with the sidecar's label, and the selector
labels kube-prometheus-stack looks for."""

from __future__ import annotations

import json

import pytest
import yaml

from monitoring import service
from tests.support.dashboards import DASHBOARD_FILES
from tests.support.kustomize import Object, of_kind, one, render
from tests.support.processes import ROOT


@pytest.fixture(scope="module")
def objects() -> list[Object]:
    return render("prod")


def test_the_pod_monitor_s_targets_get_the_job_the_rules_select(objects: list[Object]) -> None:
    """jobLabel names a pod label whose value becomes the targets' job: it must be the job in
    every rule's selector (else the job is <namespace>/<name> and the absent alerts page)."""
    monitor = one(objects, "PodMonitor")["spec"]
    pod = one(objects, "Deployment")["spec"]["template"]
    assert pod["metadata"]["labels"][monitor["jobLabel"]] == service.job()
    assert (
        service.selector() in (ROOT / "k8s/components/monitoring/prometheusrule.yaml").read_text()
    )


def test_the_pod_monitor_scrapes_the_admin_port_of_the_deployment_s_pods(
    objects: list[Object],
) -> None:
    monitor = one(objects, "PodMonitor")
    deployment = one(objects, "Deployment")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert monitor["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert monitor["metadata"]["namespace"] == deployment["metadata"]["namespace"]
    (endpoint,) = monitor["spec"]["podMetricsEndpoints"]
    assert (endpoint["port"], endpoint["path"]) == ("admin", "/metrics")
    ports = [
        p["name"] for c in deployment["spec"]["template"]["spec"]["containers"] for p in c["ports"]
    ]
    assert "admin" in ports


def test_the_prometheus_rule_holds_every_rule_group_of_the_repo(objects: list[Object]) -> None:
    rendered = one(objects, "PrometheusRule")
    source = yaml.safe_load((ROOT / "monitoring/operator/prometheusrule.yaml").read_text())
    assert rendered["spec"] == source["spec"]
    files = sorted((ROOT / "monitoring/rules").glob("*.rules.yml"))
    groups = [g["name"] for f in files for g in yaml.safe_load(f.read_text())["groups"]]
    assert sorted(g["name"] for g in rendered["spec"]["groups"]) == sorted(groups)


def test_the_operator_s_selector_label_is_set_by_the_overlay(objects: list[Object]) -> None:
    for kind in ("PodMonitor", "PrometheusRule"):
        assert one(objects, kind)["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    component = (ROOT / "k8s/components/monitoring").rglob("*.yaml")
    assert not [
        p for p in component if "release:" in p.read_text() and p.name != "prometheusrule.yaml"
    ]


def test_one_config_map_per_dashboard_with_the_sidecar_s_label(objects: list[Object]) -> None:
    boards = {
        name: json.loads(text)
        for cm in of_kind(objects, "ConfigMap")
        if cm["metadata"].get("labels", {}).get("grafana_dashboard") == "1"
        for name, text in cm["data"].items()
    }
    assert boards == {path.name: json.loads(path.read_text()) for path in DASHBOARD_FILES}
    names = [
        cm["metadata"]["name"]
        for cm in of_kind(objects, "ConfigMap")
        if "grafana_dashboard" in cm["metadata"].get("labels", {})
    ]
    assert len(names) == len(DASHBOARD_FILES)
