"""The rules are tested code: every expression parses, selects only series that exist and selects
the service by its one job; every alert is complete and has a promtool test on both sides of its
firing boundary; every recording rule has an expression test."""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta
from typing import Any

import pytest

from monitoring import promql, service, slo_rules
from monitoring.sloth_rules import WINDOWS
from monitoring.sloth_spec import render_window
from tests.support.rules import (
    MONITORING,
    PROMETHEUS_OWN,
    RULE_FILES,
    SLO_RULE_FILES,
    SLO_TEST_FILES,
    TEST_FILES,
    duration,
    groups,
    inventory,
    load,
    recorded,
    rules,
    unknown,
)


def spec_queries() -> list[str]:
    """slo.yaml's SLI queries, rendered for every window Sloth records."""
    spec = load(service.SPEC)
    out = []
    for slo in spec["slos"]:
        for query in slo["sli"]["events"].values():
            out += [render_window(query, window) for window in WINDOWS]
    return out


def rule_expressions() -> list[str]:
    return [rule["expr"] for rule in rules(RULE_FILES)]


def expression_test_expressions() -> list[str]:
    return [
        case["expr"]
        for path in TEST_FILES
        for group in load(path)["tests"]
        for case in group.get("promql_expr_test", [])
    ]


def every_expression() -> list[str]:
    return [*rule_expressions(), *spec_queries(), *expression_test_expressions()]


def test_every_expression_parses() -> None:
    expressions = every_expression()
    assert len(expressions) > 100
    for expr in expressions:
        promql.parse(expr)  # raises, naming the expression


def test_the_parser_refuses_what_prometheus_refuses() -> None:
    """So that a parse above is a check: bad syntax and a wrong argument type both fail."""
    for bad in ("sum(rate(x[5m])", "rate(x)", 'x{job="a"', "max(x[5m])", "x > > 1"):
        with pytest.raises(ValueError, match="x"):
            promql.parse(bad)


def test_every_selector_selects_a_real_series() -> None:
    """A metric of the real server's inventory (with its labels), a recording rule's output, or
    one of Prometheus's own series."""
    exposed = inventory()
    known = recorded() | PROMETHEUS_OWN
    selectors = [s for expr in every_expression() for s in promql.selectors(expr)]
    assert len(selectors) > 100
    for selector in selectors:
        problem = unknown(selector, exposed, known)
        assert problem is None, problem


def test_the_inventory_check_sees_a_wrong_name_or_label() -> None:
    exposed = inventory()
    assert "http_server_request_duration_seconds_bucket" in exposed
    assert "le" in exposed["http_server_request_duration_seconds_bucket"]
    assert "http_server_request_duration_seconds" not in exposed  # the family is not a series
    assert "glassbox_predictions_total" in exposed
    assert "glassbox_predictions" not in exposed
    assert "status_code" not in exposed["http_server_request_duration_seconds_count"]


def test_every_service_selector_is_the_scrape_job() -> None:
    """Every selector of a metric the service exposes carries the one job, and prometheus.yml
    scrapes the service under that job."""
    job = service.selector()
    assert job == 'job="glassbox"'
    config = load(MONITORING / "prometheus.yml")
    assert [c["job_name"] for c in config["scrape_configs"]] == ["glassbox"]
    exposed = inventory()
    for expr in every_expression():
        for selector in promql.selectors(expr):
            if selector.metric in exposed:
                jobs = [m for m in selector.matchers if m[0] == "job"]
                assert jobs == [("job", "=", "glassbox")], selector.text


def test_prometheus_yml_loads_every_rule_file() -> None:
    config = load(MONITORING / "prometheus.yml")
    assert sorted(MONITORING / path for path in config["rule_files"]) == RULE_FILES
    assert config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"]


def test_the_prometheus_rule_holds_every_rule_file() -> None:
    """The Operator's Prometheus gets the groups the plain one loads, in the same order."""
    wrapped = load(slo_rules.OPERATOR)
    assert wrapped["kind"] == "PrometheusRule"
    config = load(MONITORING / "prometheus.yml")
    loaded = groups([MONITORING / path for path in config["rule_files"]])
    assert wrapped["spec"]["groups"] == loaded


def alert_rules() -> list[dict[str, Any]]:
    """Every alert of every rule file: the SLOs' and the service's."""
    return [rule for rule in rules(RULE_FILES) if "alert" in rule]


def runbook_anchors() -> set[str]:
    """The anchors of the runbook's headings (a heading of one word: the word in lower case)."""
    text = (MONITORING / "runbook.md").read_text()
    return {line[3:].strip().lower() for line in text.splitlines() if line.startswith("## ")}


def test_every_alert_has_a_severity_a_summary_a_description_of_its_labels_and_a_runbook() -> None:
    extras = load(slo_rules.EXTRAS)
    anchors = runbook_anchors()
    alerts = alert_rules()
    # Three SLOs (a page, a ticket and a no-data alert each) and the 12 service alerts.
    assert len(alerts) == 21
    for rule in alerts:
        name, annotations = rule["alert"], rule["annotations"]
        assert rule["labels"]["severity"] in {"page", "ticket"}, name
        assert annotations["summary"], name
        assert "{{$labels." in annotations["description"], name
        base, _, anchor = annotations["runbook_url"].partition("#")
        assert base == extras["runbook_base_url"], name
        assert anchor == name.lower(), name
        assert anchor in anchors, name


# --- the promtool tests ---------------------------------------------------------------------


def promtool_tests() -> list[tuple[str, timedelta, int, dict[str, Any]]]:
    """(file, its evaluation interval, index, test group) of every promtool test group."""
    out = []
    for path in TEST_FILES:
        data = load(path)
        interval = duration(data["evaluation_interval"])
        out += [(path.name, interval, i, group) for i, group in enumerate(data["tests"])]
    return out


def firing_by_time(group: dict[str, Any]) -> dict[str, dict[timedelta, set[str]]]:
    """{alertname: {eval time: the severities expected firing}} of one test group."""
    out: dict[str, dict[timedelta, set[str]]] = defaultdict(dict)
    for case in group.get("alert_rule_test", []):
        severities = {alert["exp_labels"]["severity"] for alert in case["exp_alerts"]}
        out[case["alertname"]][duration(case["eval_time"])] = severities
    return out


def boundaries() -> set[tuple[str, str]]:
    """(alertname, severity) pairs with, in one test group, an evaluation where the alert is
    expected firing and the evaluation before it tested with that alert expected silent."""
    found = set()
    for _file, interval, _i, group in promtool_tests():
        for alertname, times in firing_by_time(group).items():
            for at, severities in times.items():
                before = times.get(at - interval)
                if before is not None:
                    found |= {(alertname, s) for s in severities - before}
    return found


def test_every_alert_is_tested_one_evaluation_before_it_fires_and_when_it_fires() -> None:
    """Keyed on (alertname, severity): Sloth's page and ticket share their alert's name."""
    wanted = {(rule["alert"], rule["labels"]["severity"]) for rule in alert_rules()}
    assert len(wanted) == 21
    assert wanted <= boundaries(), sorted(wanted - boundaries())


def test_the_boundary_check_sees_a_missing_evaluation_before() -> None:
    """A test that only checks the firing time is no boundary test."""
    group = {
        "alert_rule_test": [
            {"eval_time": "10m", "alertname": "A", "exp_alerts": []},
            {
                "eval_time": "12m",
                "alertname": "A",
                "exp_alerts": [{"exp_labels": {"severity": "s"}}],
            },
        ]
    }
    times = firing_by_time(group)["A"]
    assert times[timedelta(minutes=12)] == {"s"}
    assert times.get(timedelta(minutes=12) - timedelta(minutes=1)) is None


def test_every_expected_alert_is_exact() -> None:
    """Every expected alert lists every label and annotation of its rule (promtool then compares
    them exactly)."""
    by_key = {(r["alert"], r["labels"]["severity"]): r for r in alert_rules()}
    count = 0
    for _file, _interval, _i, group in promtool_tests():
        for case in group.get("alert_rule_test", []):
            for alert in case["exp_alerts"]:
                rule = by_key[(case["alertname"], alert["exp_labels"]["severity"])]
                assert set(rule["labels"]) <= set(alert["exp_labels"])
                assert set(alert["exp_annotations"]) == set(rule["annotations"])
                count += 1
    assert count >= 20


def test_every_recording_rule_has_an_expression_test() -> None:
    tested = {
        selector.metric
        for path in SLO_TEST_FILES
        for group in load(path)["tests"]
        for case in group.get("promql_expr_test", [])
        for selector in promql.selectors(case["expr"])
    }
    records = {rule["record"] for rule in rules(SLO_RULE_FILES) if "record" in rule}
    assert len(records) == 15
    assert records <= tested, sorted(records - tested)


def test_the_test_files_evaluate_the_groups_in_the_rule_files_order() -> None:
    """Alerts read the ratios of the same evaluation only if their groups come after the ratios'
    (promtool's default order is not fixed)."""
    names = [group["name"] for group in groups(SLO_RULE_FILES)]
    for path in SLO_TEST_FILES:
        data = load(path)
        assert data["group_eval_order"] == names, path.name
        assert sorted((path.parent / f).resolve() for f in data["rule_files"]) == sorted(
            SLO_RULE_FILES
        )
