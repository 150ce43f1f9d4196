"""The service overview: traffic, errors and latency by route, the SLOs, saturation, the pod's
processes and tracing, for the jobs and namespaces picked above the panels."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard
from grafana_foundation_sdk.cog.builder import Builder
from grafana_foundation_sdk.models import dashboard as models

from grafana.panels import Look, Override, Query, big_number, bucket_heatmap, dashed, emphasised
from grafana.panels import time_series as ts
from grafana.queries import JOB, SERVICE, by, increase, rate, select
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


def saturation() -> list[Builder[models.Panel]]:
    limit = (
        f"{select('glassbox_http_in_flight_limit', SERVICE)} * on (namespace, job, instance) "
        f"{select('glassbox_workers', SERVICE)} > 0"
    )
    return [
        ts(
            Look(
                "Active requests",
                "Requests being served now per pod, over all its workers (each worker's "
                "count sampled every second); dashed, the pod's in-flight limit once one is "
                "set (glassbox_http_in_flight_limit per worker x workers; none today).",
                "a pod far above the others, or a pod at its limit (it sheds: next panel).",
                width=8,
            ),
            [
                Query(
                    by(
                        ["namespace", "instance"],
                        "sum",
                        select("http_server_active_requests", SERVICE),
                    ),
                    "{{instance}}",
                ),
                Query(limit, "limit {{instance}}"),
            ],
            "short",
            minimum=0,
            overrides=[Override("limit .*", dashed("red"))],
        ),
        ts(
            Look(
                "Shed requests",
                "Requests refused per second because the in-flight limit was hit, by route "
                "(zero until load shedding is switched on).",
                "anything above zero: callers get 503s; add pods or workers.",
                width=8,
            ),
            [
                Query(
                    by(["route"], "sum", rate("glassbox_requests_shed_total", SERVICE)), "{{route}}"
                )
            ],
            "reqps",
            minimum=0,
        ),
        ts(
            Look(
                "Scrape targets up",
                "Per job, the pods Prometheus scrapes and how many of them answered the last "
                "scrape (up).",
                "'up' below 'targets' (a pod Prometheus cannot scrape), or no line at all (no "
                "target: every other panel is empty too).",
                width=8,
            ),
            [
                Query(by(["job"], "sum", select("up", SERVICE)), "up {{job}}"),
                Query(by(["job"], "count", select("up", SERVICE)), "targets {{job}}"),
            ],
            "short",
            minimum=0,
            overrides=[Override("targets .*", dashed("green"))],
        ),
    ]


def processes() -> list[Builder[models.Panel]]:
    return [
        ts(
            Look(
                "Workers",
                "Live gunicorn worker processes per pod.",
                "below WEB_CONCURRENCY, or dipping (workers dying; the annotations mark each "
                "restart).",
                width=8,
            ),
            [Query(by(["instance"], "sum", select("glassbox_workers", SERVICE)), "{{instance}}")],
            "short",
            minimum=0,
        ),
        ts(
            Look(
                "Worker restarts",
                "Worker processes started per pod in each interval, after the pod's first "
                "workers (restart churn).",
                "anything above zero: a worker was killed (memory, the heartbeat timeout) or "
                "crashed; its pod's log has the reason.",
                width=8,
            ),
            [
                Query(
                    by(["instance"], "sum", increase("glassbox_worker_starts_total", SERVICE)),
                    "{{instance}}",
                )
            ],
            "short",
            minimum=0,
        ),
        ts(
            Look(
                "Multiprocess metric files",
                "Files in each pod's multiprocess metrics directory; every worker ever started "
                "leaves its own.",
                "a steady climb: worker churn, and every scrape reads more files.",
                width=8,
            ),
            [
                Query(
                    by(["instance"], "max", select("glassbox_metrics_multiprocess_files", SERVICE)),
                    "{{instance}}",
                )
            ],
            "short",
            minimum=0,
        ),
        ts(
            Look(
                "Resident memory per process role",
                "Resident memory of each pod's processes, summed per role (the gunicorn "
                "master, its workers, or a single process).",
                "workers' memory climbing without levelling off (a leak), or near the "
                "container's memory limit (the kernel kills a worker).",
            ),
            [
                Query(
                    by(
                        ["instance", "role"],
                        "sum",
                        select("glassbox_process_resident_memory_bytes", SERVICE),
                    ),
                    "{{role}} {{instance}}",
                )
            ],
            "bytes",
            minimum=0,
        ),
        ts(
            Look(
                "CPU per process role",
                "CPU used by each pod's processes per role, in cores (1 = one core busy).",
                "workers at the pod's CPU limit (requests queue, latency rises), or the master "
                "busy (it should idle).",
            ),
            [
                Query(
                    by(
                        ["instance", "role"],
                        "sum",
                        rate("glassbox_process_cpu_seconds_total", SERVICE),
                    ),
                    "{{role}} {{instance}}",
                )
            ],
            "short",
            minimum=0,
        ),
    ]


def tracing() -> list[Builder[models.Panel]]:
    return [
        ts(
            Look(
                "Spans exported",
                "Sampled spans per second the collector accepted, per pod.",
                "zero while requests flow and tracing is on: no trace reaches the collector.",
            ),
            [
                Query(
                    by(["instance"], "sum", rate("glassbox_trace_spans_exported_total", SERVICE)),
                    "{{instance}}",
                )
            ],
            "ops",
            minimum=0,
        ),
        ts(
            Look(
                "Spans dropped by reason",
                "Sampled spans per second that never reached the collector: queue_full (the "
                "exporter cannot keep up), export_failed (the collector refused or is down), "
                "shutdown (not flushed in time).",
                "anything above zero for long: traces have holes; export_failed means the "
                "collector is down.",
            ),
            [
                Query(
                    by(["reason"], "sum", rate("glassbox_trace_spans_dropped_total", SERVICE)),
                    "{{reason}}",
                )
            ],
            "ops",
            minimum=0,
        ),
    ]


ROWS = {
    "Traffic and errors": traffic,
    "Latency": latency,
    "SLOs": slos,
    "Saturation": saturation,
    "Processes": processes,
    "Tracing": tracing,
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
