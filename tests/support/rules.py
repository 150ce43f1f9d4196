"""monitoring/'s rule files, promtool tests and metric inventory, read as data for the tests."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import promql_parser
import yaml

from monitoring.promql import Selector
from tests.support.processes import ROOT

MONITORING = ROOT / "monitoring"
RULE_FILES = sorted((MONITORING / "rules").glob("*.yml"))
SLO_RULE_FILES = [
    MONITORING / "rules" / "slo.rules.yml",
    MONITORING / "rules" / "slo-no-data.rules.yml",
]
TEST_FILES = sorted((MONITORING / "tests").glob("*.test.yml"))
SLO_TEST_FILES = sorted((MONITORING / "tests").glob("slo*.test.yml"))
INVENTORY = MONITORING / "metrics-inventory.txt"

# Series Prometheus makes itself: listed here once.
PROMETHEUS_OWN = {
    "up",
    "scrape_duration_seconds",
    "scrape_samples_scraped",
    "scrape_samples_post_metric_relabeling",
    "scrape_series_added",
    "ALERTS",
    "ALERTS_FOR_STATE",
}
# Labels Prometheus gives every scraped series (the target's)...
TARGET_LABELS = {"job", "instance"}
# ...and those a Kubernetes scrape (ServiceMonitor, PodMonitor) adds.
KUBERNETES_TARGET_LABELS = {"namespace", "pod"}


def load(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def groups(paths: list[Path]) -> list[dict[str, Any]]:
    return [group for path in paths for group in load(path)["groups"]]


def rules(paths: list[Path]) -> list[dict[str, Any]]:
    return [rule for group in groups(paths) for rule in group["rules"]]


def duration(text: str) -> timedelta:
    return promql_parser.parse_duration(text)


def inventory() -> dict[str, set[str]]:
    """{sample name: its label names} for every family a real server exposes (a counter's
    samples end in ``_total``; a histogram's in ``_bucket`` (which adds ``le``), ``_count`` and
    ``_sum``)."""
    names: dict[str, set[str]] = {}
    for line in INVENTORY.read_text().splitlines():
        family, kind, labels, _help = line.split("\t")
        label_names = set(filter(None, labels.split(",")))
        if kind == "counter":
            names[f"{family}_total"] = label_names
        elif kind == "histogram":
            names[f"{family}_bucket"] = label_names | {"le"}
            names[f"{family}_count"] = label_names
            names[f"{family}_sum"] = label_names
        else:
            names[family] = label_names
    return names


def recorded() -> set[str]:
    """Every recording rule's output, as monitoring/rules/ records it."""
    return {rule["record"] for rule in rules(RULE_FILES) if "record" in rule}


def unknown(
    selector: Selector,
    exposed: dict[str, set[str]],
    known: set[str],
    target_labels: set[str] = TARGET_LABELS,
) -> str | None:
    """Why ``selector`` selects no real series, or None: its metric must be a sample of the
    inventory, matched only on that family's labels and ``target_labels``, or one of ``known``
    (recording rules' outputs, Prometheus's own series)."""
    if selector.metric in exposed:
        labels = {name for name, _, _ in selector.matchers}
        extra = labels - exposed[selector.metric] - target_labels
        return f"{selector.text}: {extra} is no label of {selector.metric}" if extra else None
    return None if selector.metric in known else f"{selector.text}: no such series"
