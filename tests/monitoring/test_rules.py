"""Monitoring is tested code: the rules and prometheus.yml load in promtool, the promtool tests
pass, and the generated files are what their generators write today."""

import subprocess

import pytest

from monitoring import drift_rules, slo_rules
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


def test_generated_slo_rules_prometheus_yml_and_prometheus_rule_are_current() -> None:
    generated = slo_rules.current()
    assert len(generated) == 4
    for path, text in generated.items():
        assert path.read_text() == text, f"stale: {path}; run `make rules`"


def promtool(*args: str) -> None:
    binary = require_tool("promtool", "prometheus")
    result = subprocess.run([binary, *args], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_rules_load_in_promtool() -> None:
    assert RULES
    promtool("check", "rules", *map(str, RULES))


def test_prometheus_yml_loads_in_promtool() -> None:
    """The config, and through it every rule file it names."""
    promtool("check", "config", str(ROOT / "monitoring" / "prometheus.yml"))


def test_promtool_rule_tests_pass() -> None:
    assert RULE_TESTS
    promtool("test", "rules", *map(str, RULE_TESTS))


# PSI = sum over bins of (q - p) * ln(q / p), p the reference share, q the observed share, each
# clamped to at least 1e-4; worked by hand from the generator's FIXTURE (both pods added up).
#
# Steady hour, age: counts per minute 2+1, 5+4, 3+6 = 3, 9, 9 of 21 -> q = 1/7, 3/7, 3/7,
#   p = 0.25, 0.5, 0.25:
#   (1/7 - 0.25) ln((1/7)/0.25)  = -0.107143 * -0.559616 = 0.059959
#   (3/7 - 0.5)  ln((3/7)/0.5)   = -0.071429 * -0.154151 = 0.011011
#   (3/7 - 0.25) ln((3/7)/0.25)  =  0.178571 *  0.538997 = 0.096249   sum 0.167219
# Steady hour, plan: 4+5, 3+2, 0+0 = 9, 5, 0 of 14 -> q = 9/14, 5/14, 0 (clamped to 1e-4),
#   p = 0.45, 0.35, 0.2:
#   (9/14 - 0.45) ln((9/14)/0.45) =  0.192857 *  0.356675 = 0.068787
#   (5/14 - 0.35) ln((5/14)/0.35) =  0.007143 *  0.020203 = 0.000144
#   (1e-4 - 0.2)  ln(1e-4/0.2)    = -0.1999   * -7.600902 = 1.519420   sum 1.588352
# Last 15 minutes of the shift, age: 5+4, 2+1, 1+1 = 9, 3, 2 of 14:
#   (9/14 - 0.25) ln((9/14)/0.25) =  0.392857 *  0.944462 = 0.371038
#   (3/14 - 0.5)  ln((3/14)/0.5)  = -0.285714 * -0.847298 = 0.242085
#   (2/14 - 0.25) ln((2/14)/0.25) = -0.107143 * -0.559616 = 0.059959   sum 0.673082
# Last 15 minutes of the shift, plan: 1+2, 2+2, 3+4 = 3, 4, 7 of 14:
#   (3/14 - 0.45) ln((3/14)/0.45) = -0.235714 * -0.741937 = 0.174885
#   (4/14 - 0.35) ln((4/14)/0.35) = -0.064286 * -0.202941 = 0.013046
#   (7/14 - 0.2)  ln((7/14)/0.2)  =  0.3      *  0.916291 = 0.274887   sum 0.462819
# The literals below are the same sums to full double precision (plain math.log, by hand).
HAND_WORKED_PSI = {
    # (feature, scenario): PSI
    ("age", "steady"): 0.16721897239729355,
    ("plan", "steady"): 1.588352017331486,
    ("age", "shifted"): 0.6730824265769023,
    ("plan", "shifted"): 0.46281864793395844,
}


def _promtool_check(window: str, feature: str, value: float) -> str:
    return f'abs(model_feature:glassbox_drift_psi:{window}{{feature="{feature}"}} - {value!r})'


@pytest.mark.parametrize("feature", ["age", "plan"])
def test_the_fleet_psi_expectations_are_the_values_worked_by_hand(feature: str) -> None:
    steady = drift_rules.expected_psi(feature)
    shifted = drift_rules.expected_psi(feature, "recent_per_minute", drift_rules.SHIFT_MINUTES)
    assert steady == pytest.approx(HAND_WORKED_PSI[(feature, "steady")], rel=1e-12, abs=0)
    assert shifted == pytest.approx(HAND_WORKED_PSI[(feature, "shifted")], rel=1e-12, abs=0)
    # ...and the promtool test holds both windows to them: the hour and the last 15 minutes of
    # steady traffic, and the last 15 minutes alone once the mix has shifted.
    test = drift_rules.TEST.read_text()
    assert _promtool_check("1h", feature, steady) in test
    assert _promtool_check("15m", feature, steady) in test
    assert _promtool_check("15m", feature, shifted) in test
