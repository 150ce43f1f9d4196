"""monitoring/'s rule files, promtool tests and metric inventory, read as data for the tests."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import promql_parser
import yaml

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
