"""Monitoring is tested code: the rules load in promtool, their promtool tests pass, and the
generated files are what their generator writes today."""

import subprocess

from monitoring import drift_rules
from tests.support.processes import ROOT
from tests.support.tools import require_tool

RULES = sorted((ROOT / "monitoring" / "rules").glob("*.yml"))
RULE_TESTS = sorted((ROOT / "monitoring" / "tests").glob("*.test.yml"))


def test_generated_drift_rules_and_test_are_current() -> None:
    assert drift_rules.RULES.read_text() == drift_rules.rules_yaml(), (
        "stale: run `python -m monitoring.drift_rules`"
    )
    assert drift_rules.TEST.read_text() == drift_rules.test_yaml(), (
        "stale: run `python -m monitoring.drift_rules`"
    )


def promtool(*args: str) -> None:
    binary = require_tool("promtool", "prometheus")
    result = subprocess.run([binary, *args], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_rules_load_in_promtool() -> None:
    assert RULES
    promtool("check", "rules", *map(str, RULES))


def test_promtool_rule_tests_pass() -> None:
    assert RULE_TESTS
    promtool("test", "rules", *map(str, RULE_TESTS))


def test_the_fleet_psi_expectation_comes_from_the_python_function() -> None:
    import numpy as np

    from app.drift.stats import psi

    spec = drift_rules.FIXTURE["plan"]
    counts = np.array(spec["per_minute"]["pod-a"]) + np.array(spec["per_minute"]["pod-b"])
    direct = psi(np.array(spec["reference"]), counts / counts.sum())
    assert drift_rules.expected_psi("plan") == direct
    assert repr(direct) in drift_rules.TEST.read_text()
