"""What a Prometheus loads to watch Glassbox: ``monitoring/prometheus.yml`` (a scrape job named by
the SLO spec's ``labels.job``, the rule files, an Alertmanager) and the same rules wrapped in a
Prometheus Operator ``PrometheusRule``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from monitoring.service import job_name
from monitoring.slo_extras import Extras
from monitoring.sloth_rules import Group
from monitoring.sloth_spec import Spec


def prometheus_config(spec: Spec, extras: Extras, rule_files: list[Path]) -> dict[str, Any]:
    """``rule_files`` relative to the config's directory (Prometheus resolves them from there)."""
    settings = extras.prometheus
    return {
        "global": {
            "scrape_interval": settings.scrape_interval,
            "evaluation_interval": settings.evaluation_interval,
        },
        "rule_files": [str(path) for path in rule_files],
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": settings.alertmanagers}]}]},
        "scrape_configs": [
            {"job_name": job_name(spec), "static_configs": [{"targets": settings.targets}]}
        ],
    }


def prometheus_rule(spec: Spec, groups: list[Group]) -> dict[str, Any]:
    """Every rule group in one PrometheusRule; the Operator's ruleSelector must match its labels."""
    name = job_name(spec)
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {
            "name": name,
            "labels": {"app.kubernetes.io/name": name, "app.kubernetes.io/component": "monitoring"},
        },
        "spec": {"groups": groups},
    }
