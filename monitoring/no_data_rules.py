"""One no-data alert per SLO, on the series its SLI's total selects: a silent service is not a
healthy one.

A burn-rate alert divides errors by the total: with no series it computes nothing and stays quiet
while the target is down, unscraped, or its series renamed. ``absent()`` of the total's selector
fires then, after ``for`` (the service's series exist at zero from its start, so an idle service
is not "no data"; a stale marker from a failed scrape or a vanished target is).
"""

from __future__ import annotations

from typing import Any

from monitoring import promql
from monitoring.slo_extras import Extras
from monitoring.sloth_rules import Group, Rule, id_labels, slo_labels
from monitoring.sloth_spec import SLO, Spec, render_window

GROUP = "glassbox-slo-no-data"


def total_selector(slo: SLO) -> promql.Selector:
    """The one vector selector of the SLO's total query."""
    assert slo.sli.events is not None, "a no-data alert needs an events SLI's total"
    found = promql.selectors(render_window(slo.sli.events.total_query, "5m"))
    if len(found) != 1:
        raise ValueError(f"{slo.name}: the total query must select one series set, not {found}")
    return found[0]


def no_data_rule(spec: Spec, slo: SLO, extras: Extras) -> Rule:
    settings = extras.no_data_alerts
    alert = settings.slos[slo.name]
    selector = total_selector(slo).text
    labels: dict[str, Any] = {**slo_labels(spec, slo), **id_labels(spec, slo)}
    labels["severity"] = alert.severity
    return {
        "alert": alert.alert,
        "expr": f"absent({selector})",
        "for": settings.for_,
        "labels": dict(sorted(labels.items())),
        "annotations": {
            # The template sees the labels absent() gives (the selector's equality matchers:
            # job), not the rule's: the SLO's name is written in.
            "summary": f"No data for the {slo.name} SLO: its burn-rate alerts cannot fire",
            "description": (
                f"No series {selector} for {settings.for_}: the {{{{$labels.job}}}} target is "
                f"down or not scraped, or the series were renamed. Until they come back the "
                f"{slo.name} SLO measures nothing and its burn-rate alerts stay silent."
            ),
            "runbook_url": extras.runbook_url(alert.alert),
        },
    }


def no_data_groups(spec: Spec, extras: Extras) -> list[Group]:
    names = {slo.name for slo in spec.slos}
    configured = set(extras.no_data_alerts.slos)
    if names != configured:
        raise ValueError(
            f"slo-extras.yaml's no_data_alerts must name every SLO of slo.yaml exactly once: "
            f"missing {sorted(names - configured)}, unknown {sorted(configured - names)}"
        )
    return [{"name": GROUP, "rules": [no_data_rule(spec, slo, extras) for slo in spec.slos]}]
