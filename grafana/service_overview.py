"""The service overview: traffic, errors and latency by route, the SLOs, saturation, the pod's
processes and tracing, for the jobs and namespaces picked above the panels."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard
from grafana_foundation_sdk.cog.builder import Builder
from grafana_foundation_sdk.models import dashboard as models

from grafana import pod_panels
from grafana.panels import Look, Override, Query, big_number, bucket_heatmap, dashed, emphasised
from grafana.panels import time_series as ts
from grafana.queries import JOB, SERVICE, by, rate, select
from grafana.shared import MODEL_HEALTH, SERVICE_OVERVIEW, events, link, service_variables
from grafana.templating import frame
from monitoring.service import SPEC
from monitoring.sloth_spec import load_spec

REQUESTS = "http_server_request_duration_seconds_count"
BUCKETS = "http_server_request_duration_seconds_bucket"
FIVE_XX = 'http_response_status_code=~"5.."'


def _slo() -> str:
    """Sloth's SLO series of this service (its name in slo.yaml) for the jobs picked."""
    return f'sloth_service="{load_spec(SPEC).service}", job=~"${JOB}"'


def _percentile(q: float) -> Query:
    buckets = by(["le", "http_route"], "sum", rate(BUCKETS, SERVICE))
    return Query(f"histogram_quantile({q}, {buckets})", f"p{round(q * 100)} {{{{http_route}}}}")


def traffic() -> list[Builder[models.Panel]]:
    per_route = by(["http_route"], "sum", rate(REQUESTS, SERVICE))
    errors = by(["http_route"], "sum", rate(REQUESTS, SERVICE, FIVE_XX))
    return [
        ts(
            Look(
                "Request rate by route",
                "Requests per second answered on each route template, over the picked pods "
                "(probes and /metrics are not counted; unknown paths are `unmatched`).",
                "a drop to zero on /predict while callers still send (look at the SLO row), "
                "or a surge that saturates the workers.",
                width=8,
            ),
            [Query(per_route, "{{http_route}}")],
            "reqps",
            minimum=0,
        ),
        ts(
            Look(
                "Error ratio by route",
                "Share of each route's responses that are server errors (5xx, a shed 503 "
                "included); 4xx are the caller's and not counted here.",
                "anything above zero on /predict or /predict/batch for more than a blip: the "
                "availability SLO allows 0.1 % over 30 days.",
                width=8,
            ),
            [Query(f"{errors} / {per_route}", "{{http_route}}")],
            "percentunit",
            minimum=0,
        ),
        ts(
            Look(
                "Responses by status code",
                "Responses per second by HTTP status code, all routes together.",
                "5xx (drawn thick and red) at all; a rise of 422 or 413 is callers sending "
                "bad input (see Glassbox model health, Inputs).",
                width=8,
            ),
            [
                Query(
                    by(["http_response_status_code"], "sum", rate(REQUESTS, SERVICE)),
                    "{{http_response_status_code}}",
                )
            ],
            "reqps",
            minimum=0,
            overrides=[Override("5..", emphasised("red"))],
        ),
    ]


def latency() -> list[Builder[models.Panel]]:
    inference = by(
        ["le", "route", "model_version"],
        "sum",
        rate("glassbox_model_inference_duration_seconds_bucket", SERVICE),
    )
    return [
        ts(
            Look(
                "Latency percentiles by route",
                "p50, p90 and p99 of the request duration per route, from the histogram's "
                "buckets summed over the pods before the quantile is taken.",
                "/predict's p99 near 100 ms or /predict/batch's near 1 s (the latency SLOs' "
                "thresholds), or p50 and p99 far apart (queueing).",
                width=8,
            ),
            [_percentile(0.5), _percentile(0.9), _percentile(0.99)],
            "s",
            minimum=0,
        ),
        bucket_heatmap(
            Look(
                "Request latency heatmap",
                "How many requests per second fall in each latency bucket, every route "
                "together: darker is more.",
                "a second band above the main one (a slow pod or a stalled worker), or the "
                "band climbing over time.",
                width=8,
            ),
            Query(by(["le"], "sum", rate(BUCKETS, SERVICE)), "{{le}}"),
            "s",
        ),
        ts(
            Look(
                "Model inference p99 by route",
                "p99 of the time spent in the model alone (encoding and predict) per route "
                "and model version; the rest of a request's time is the service and queueing.",
                "a jump at a model version change (a bigger model), or the request p99 rising "
                "while this stays flat (the time goes elsewhere: saturation, tracing).",
                width=8,
            ),
            [Query(f"histogram_quantile(0.99, {inference})", "{{route}} · {{model_version}}")],
            "s",
            minimum=0,
        ),
    ]


def slos() -> list[Builder[models.Panel]]:
    slo = _slo()
    return [
        ts(
            Look(
                "SLO burn rate",
                "How fast each SLO spends its 30-day error budget now (Sloth's "
                "slo:current_burn_rate:ratio, over 5 minutes): 1 is exactly the budget's pace.",
                "above 1 for long; the page fires at 14.4 over both 1h and 5m, or 6 over both "
                "6h and 30m (the dashed lines).",
            ),
            [Query(select("slo:current_burn_rate:ratio", slo), "{{sloth_slo}}")],
            "short",
            minimum=0,
            lines=[(1, "green"), (6, "orange"), (14.4, "red")],
        ),
        ts(
            Look(
                "SLO burn rate over the period",
                "Each SLO's average burn rate over its 30-day period (slo:period_burn_rate:ratio).",
                "above 1: at this pace the budget is gone before the period ends.",
            ),
            [Query(select("slo:period_burn_rate:ratio", slo), "{{sloth_slo}}")],
            "short",
            minimum=0,
            lines=[(1, "red")],
        ),
        big_number(
            Look(
                "Error budget remaining",
                "Share of each SLO's 30-day error budget still unspent "
                "(slo:period_error_budget_remaining:ratio).",
                "below 25 % (orange: hold risky changes) and below 0 (red: the SLO is missed "
                "for the period).",
                width=8,
            ),
            [Query(select("slo:period_error_budget_remaining:ratio", slo), "{{sloth_slo}}")],
            "percentunit",
            [(None, "red"), (0, "orange"), (0.25, "green")],
        ),
        ts(
            Look(
                "SLO error ratio against its budget",
                "Each SLO's error ratio over the last hour (slo:sli_error:ratio_rate1h), "
                "and dashed the ratio its objective allows (slo:error_budget:ratio).",
                "a solid line above its dashed one: the SLO burns budget faster than it earns it.",
                width=16,
            ),
            [
                Query(select("slo:sli_error:ratio_rate1h", slo), "{{sloth_slo}}"),
                Query(select("slo:error_budget:ratio", slo), "{{sloth_slo}} budget"),
            ],
            "percentunit",
            minimum=0,
            overrides=[Override(".* budget", dashed("red"))],
        ),
    ]


ROWS = {
    "Traffic and errors": traffic,
    "Latency": latency,
    "SLOs": slos,
    "Saturation": pod_panels.saturation,
    "Processes": pod_panels.processes,
    "Tracing": pod_panels.tracing,
}


def build() -> models.Dashboard:
    uid, title = SERVICE_OVERVIEW
    board = frame(
        uid,
        title,
        "Glassbox as a service: its routes' traffic, errors and latency, its SLOs, saturation, "
        "processes and tracing.",
    )
    board = board.variables(service_variables()).annotations(events()).link(link(MODEL_HEALTH))
    for row, panels in ROWS.items():
        board = board.with_row(dashboard.Row(row))
        for panel in panels():
            board = board.with_panel(panel)
    return board.build()
