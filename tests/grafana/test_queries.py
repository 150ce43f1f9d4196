"""Every expression of the dashboards is PromQL Prometheus accepts once Grafana has put its
variables in, and selects only series that exist: a family of the real server's inventory (with
its labels, or a label the scrape adds), a recording rule's output or one of Prometheus's own.
Variable queries (``label_values(...)``) are Grafana's, not PromQL: checked apart."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml

from monitoring import promql
from tests.support.dashboards import (
    dashboards,
    expressions,
    substitute,
    variable_queries,
    variables,
)
from tests.support.rules import (
    KUBERNETES_TARGET_LABELS,
    PROMETHEUS_OWN,
    TARGET_LABELS,
    inventory,
    recorded,
    unknown,
)
from tests.support.tools import require_tool

SCRAPE_LABELS = TARGET_LABELS | KUBERNETES_TARGET_LABELS


def every_expression() -> list[tuple[str, str, set[str]]]:
    """(where, expression, the dashboard's variable names) over both dashboards."""
    out = []
    for board in dashboards().values():
        names = {v["name"] for v in variables(board)}
        out += [(where, expr, names) for where, expr in expressions(board)]
    return out


def known() -> set[str]:
    return recorded() | PROMETHEUS_OWN


def test_every_expression_parses_with_the_variables_substituted_and_none_left() -> None:
    found = every_expression()
    assert len(found) > 40
    for where, expr, names in found:
        sent = substitute(expr, names)
        assert "$" not in sent, f"{where}: a variable no dashboard defines: {sent}"
        promql.parse(sent)  # raises, naming the expression


def test_prometheus_itself_accepts_every_expression(tmp_path: Path) -> None:
    """The same expressions as recording rules that promtool (Prometheus's own parser and type
    checks) loads: a second parser, not the one the checks above share with monitoring/."""
    found = every_expression()
    rules = [
        {"record": f"grafana_check:expression:{i}", "expr": substitute(expr, names)}
        for i, (_, expr, names) in enumerate(found)
    ]
    path = tmp_path / "dashboards.rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}))
    binary = require_tool("promtool", "prometheus")
    result = subprocess.run(
        [binary, "check", "rules", str(path)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{len(found)} rules found" in result.stdout


def test_every_selector_selects_a_real_series() -> None:
    exposed, series = inventory(), known()
    count = 0
    for where, expr, names in every_expression():
        for selector in promql.selectors(substitute(expr, names)):
            problem = unknown(selector, exposed, series, SCRAPE_LABELS)
            assert problem is None, f"{where}: {problem}"
            count += 1
    assert count > 50


def test_every_selector_picks_the_jobs_and_namespaces_of_the_variables() -> None:
    """A series the pods export is filtered by both pickers; a recording rule's output (the SLO
    and fleet drift rules, which carry ``job``) at least by the job."""
    exposed = inventory()
    checked = 0
    for where, expr, names in every_expression():
        for selector in promql.selectors(substitute(expr, names, dashboard_value=None)):
            matchers = set(selector.matchers)
            assert ("job", "=~", "$job") in matchers, f"{where}: {selector.text}"
            if selector.metric in exposed or selector.metric.startswith("namespace_"):
                assert ("namespace", "=~", "$namespace") in matchers, f"{where}: {selector.text}"
            checked += 1
    assert checked > 50


LABEL_VALUES = re.compile(r"label_values\((?:(?P<selector>.+),\s*)?(?P<label>\w+)\)")


def label_values_problem(query: str, names: set[str]) -> str | None:
    """Why a variable query would list nothing real, or None."""
    found = LABEL_VALUES.fullmatch(query.strip())
    if not found or not found.group("selector"):
        return f"{query}: not label_values(<metric selector>, <label>)"
    sent = substitute(found.group("selector"), names)
    if "$" in sent:
        return f"{query}: a variable no dashboard defines"
    (selector,) = promql.selectors(sent)
    exposed = inventory()
    if selector.metric not in exposed:
        return f"{query}: {selector.metric} is no family of the inventory"
    problem = unknown(selector, exposed, set(), SCRAPE_LABELS)
    if problem:
        return problem
    if found.group("label") not in exposed[selector.metric] | SCRAPE_LABELS:
        return f"{query}: {found.group('label')} is no label of {selector.metric}"
    return None


def test_every_variable_query_lists_a_label_of_a_real_metric() -> None:
    count = 0
    for board in dashboards().values():
        names = {v["name"] for v in variables(board)}
        for name, query in variable_queries(board):
            assert label_values_problem(query, names) is None, f"{name}: {query}"
            count += 1
    assert count == 6


@pytest.mark.parametrize(
    ("query", "problem"),
    [
        ("label_values(glassbox_model_info, model_sha)", None),
        ("label_values(glassbox_model_info, pod)", None),
        ("label_values(glassbox_model_info, feature)", "feature is no label"),
        ("label_values(glassbox_model_infos, job)", "no family"),
        ('label_values(glassbox_workers{route=~"$job"}, job)', "is no label of"),
        ('label_values(glassbox_workers{job=~"$nope"}, job)', "no dashboard defines"),
        ("label_values(job)", "not label_values"),
        ("query_result(up)", "not label_values"),
    ],
)
def test_the_variable_check_sees_a_wrong_metric_label_or_form(
    query: str, problem: str | None
) -> None:
    found = label_values_problem(query, {"job"})
    assert found is None if problem is None else problem in (found or ""), found


def test_the_expression_checks_see_a_leftover_variable_a_wrong_series_or_label() -> None:
    assert substitute('rate(x{job=~"$job"}[$__rate_interval])', {"job"}) == (
        'rate(x{job=~".*"}[1m])'
    )
    assert substitute("x[${__range}] offset $__interval", set()) == "x[1h] offset 1m"
    assert "$nope" in substitute('x{a=~"$nope"}', {"job"})
    exposed, series = inventory(), known()
    cases = {
        'glassbox_workers{namespace=~".*", pod="p"}': None,
        'glassbox_workers{route="x"}': "is no label",
        "glassbox_worker_starts": "no such series",  # a counter's family, not its sample
        "slo:current_burn_rate:ratio": None,
        "namespace_job_model_feature:glassbox_drift_psi:5m": "no such series",
    }
    for expr, problem in cases.items():
        (selector,) = promql.selectors(expr)
        found = unknown(selector, exposed, series, SCRAPE_LABELS)
        assert found is None if problem is None else problem in (found or ""), expr
    with pytest.raises(ValueError, match="x"):
        promql.parse(substitute("rate(x[$__rate_interval)", set()))
