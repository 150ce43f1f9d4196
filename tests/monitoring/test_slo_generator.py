"""The generator refuses what would give silently wrong rules: an SLO without its no-data alert,
a spec without the scrape job, a total that is not one series set, a query without its window."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from monitoring import slo_rules
from monitoring.no_data_rules import no_data_groups, total_selector
from monitoring.service import job_name
from monitoring.slo_extras import load_extras
from monitoring.sloth_spec import Spec


def spec(**slo: Any) -> Spec:
    query = 'sum(rate(x_total{job="j"}[{{.window}}]))'
    return Spec.model_validate(
        {
            "version": "prometheus/v1",
            "service": "s",
            "labels": {"job": "j"},
            "slos": [
                {
                    "name": "a",
                    "objective": 99,
                    "sli": {"events": {"error_query": query, "total_query": query}},
                    "alerting": {"name": "A"},
                    **slo,
                }
            ],
        }
    )


def test_every_slo_needs_its_no_data_alert() -> None:
    with pytest.raises(ValueError, match=r"missing \['a'\]"):
        no_data_groups(spec(), load_extras(slo_rules.EXTRAS))


def test_the_spec_must_name_the_scrape_job() -> None:
    assert job_name(spec()) == "j"
    with pytest.raises(ValueError, match=r"labels\.job"):
        job_name(spec().model_copy(update={"labels": {}}))


def test_a_total_is_one_series_set() -> None:
    two = 'sum(rate(x_total{job="j"}[{{.window}}])) + sum(rate(y_total[{{.window}}]))'
    slo = spec(sli={"events": {"error_query": two, "total_query": two}}).slos[0]
    with pytest.raises(ValueError, match="one series set"):
        total_selector(slo)


@pytest.mark.parametrize(
    "sli",
    [
        {"events": {"error_query": "sum(rate(x[5m]))", "total_query": "sum(rate(x[5m]))"}},
        {"plugin": {"id": "sloth-common/availability"}},
        {},
    ],
    ids=["no window", "a plugin", "no SLI"],
)
def test_an_sli_sloth_could_not_render_here_is_refused(sli: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        spec(sli=sli)


def test_alerts_need_a_name_unless_both_are_disabled() -> None:
    with pytest.raises(ValidationError, match=r"alerting\.name"):
        spec(alerting={})
    off = {"page_alert": {"disable": True}, "ticket_alert": {"disable": True}}
    assert spec(alerting=off).slos[0].alerting.name == ""
