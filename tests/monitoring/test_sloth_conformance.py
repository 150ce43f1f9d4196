"""The generator writes what Sloth writes: on Sloth's own example specs (tests/monitoring/sloth/,
copied from slok/sloth with its licence), its rules equal Sloth v0.16.0's published output as YAML
data, once whitespace inside expressions is normalized and the labels naming the generating
command and version (``cmd``, ``sloth_version``) are set aside."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from monitoring.sloth_rules import rule_groups
from monitoring.sloth_spec import load_spec

EXAMPLES = Path(__file__).parent / "sloth"
SPECS = sorted(EXAMPLES.glob("*.yml"))
SET_ASIDE = {"cmd", "sloth_version"}


def normalized(groups: list[dict[str, Any]]) -> list[dict[str, Any]]:
    groups = copy.deepcopy(groups)
    for group in groups:
        for rule in group["rules"]:
            rule["expr"] = re.sub(r"\s+", " ", rule["expr"]).strip()
            for name in SET_ASIDE:
                rule.get("labels", {}).pop(name, None)
    return groups


def sloths(spec: Path) -> list[dict[str, Any]]:
    groups: list[dict[str, Any]] = yaml.safe_load((EXAMPLES / "_gen" / spec.name).read_text())[
        "groups"
    ]
    return groups


def test_the_examples_are_sloths_three() -> None:
    assert [p.name for p in SPECS] == ["getting-started.yml", "home-wifi.yml", "no-alerts.yml"]
    licence = (EXAMPLES / "LICENSE").read_text()
    assert licence.split()[:4] == ["Apache", "License", "Version", "2.0,"]


@pytest.mark.parametrize("spec", SPECS, ids=[p.stem for p in SPECS])
def test_the_rules_are_sloths(spec: Path) -> None:
    assert normalized(rule_groups(load_spec(spec), version="any")) == normalized(sloths(spec))


def test_only_whitespace_and_the_set_aside_labels_are_normalized() -> None:
    """The comparison sees a changed factor, window, label or annotation (not only a crash)."""
    spec = EXAMPLES / "getting-started.yml"
    ours = rule_groups(load_spec(spec), version="any")
    theirs = normalized(sloths(spec))
    mutations = [
        ("expr", lambda r: r.update(expr=r["expr"].replace("14.4", "14"))),
        ("expr", lambda r: r.update(expr=r["expr"].replace("[30m]", "[31m]"))),
        ("labels", lambda r: r["labels"].update(sloth_window="6h")),
        ("annotations", lambda r: r["annotations"].update(title="x")),
    ]
    for field, mutate in mutations:
        changed = copy.deepcopy(ours)
        for group in changed:
            for rule in group["rules"]:
                if field in rule:
                    mutate(rule)
        assert normalized(changed) != theirs, field
