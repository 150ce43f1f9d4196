"""The alerts beyond the SLOs: what pages (the service is gone, or no pod can serve) and what
makes a ticket worth reading (the model, its inputs, the pod's plumbing). Written to
``rules/service-alerts.rules.yml`` by ``python -m monitoring.slo_rules`` (``make rules``).

Each alert selects the service by its one job, keeps ``namespace`` and ``job`` (Alertmanager's
inhibitions match on ``job``), has a ``severity`` of ``page`` or ``ticket``, a summary, a
description that templates its labels and value, and a runbook section named after it. The
drift alerts read the fleet recording rules, never a pod's report, are guarded by the window's
sample count, and take their thresholds from the service's own ``glassbox_drift_threshold`` and
``glassbox_drift_min_samples`` gauges, so the service and its alerts cannot disagree.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from monitoring import drift_rules, service
from monitoring.slo_extras import Extras
from monitoring.sloth_rules import Group, Rule

GROUP = "glassbox-service"
PREDICTIONS = 'http_route=~"/predict|/predict/batch"'
REQUESTS = "http_server_request_duration_seconds_count"
BY_DEPLOYMENT = "by (namespace, job)"
# Drift alerts read the hour's window: enough rows for a verdict at a few requests a second.
DRIFT_WINDOW = "1h"
# Files in a pod's multiprocess directory beyond which GlassboxMultiprocessFilesPiling counts
# its 30 minutes: worker restarts, well before a 64 MiB volume fills (README: In a pod;
# bench/multiprocess_footprint.py measures what each restart leaves).
MULTIPROCESS_FILES_THRESHOLD = 200


@dataclass(frozen=True)
class Alert:
    name: str
    severity: str  # "page" or "ticket"
    expr: str
    for_: str
    summary: str
    description: str
    labels: dict[str, str] = field(default_factory=dict)


def _drift(name: str, features: str, what: str, job: str) -> Alert:
    psi = drift_rules.PSI_RECORD.format(window=DRIFT_WINDOW)
    samples = drift_rules.SAMPLES_RECORD.format(window=DRIFT_WINDOW)
    keep = drift_rules.KEEP
    threshold = (
        f'max {BY_DEPLOYMENT} (glassbox_drift_threshold{{{job},statistic="psi",level="drift"}})'
    )
    expr = (
        f"{psi}{{{features}}} > on (namespace, job) group_left () {threshold}\n"
        f"and on ({keep})\n"
        f"{samples} >= on (namespace, job) group_left ()"
        f" max {BY_DEPLOYMENT} (glassbox_drift_min_samples{{{job}}})"
    )
    return Alert(
        name=name, severity="ticket", expr=expr, for_="15m",
        summary=f"{what} has drifted from the reference profile across the deployment",
        description=(
            "Fleet PSI of {{$labels.feature}} for model {{$labels.model_version}} of job "
            "{{$labels.job}} is {{$value | printf \"%.3f\"}} over the last hour, above the "
            "service's drift threshold, on at least its minimum sample count."
        ),
        labels={"category": "drift"},
    )  # fmt: skip


def alerts(job: str, max_model_age_days: int) -> list[Alert]:
    """Every alert of the group, in order: the pages first."""
    predictions = f"{REQUESTS}{{{job},{PREDICTIONS}}}"
    age_seconds = max_model_age_days * 86400
    return [
        Alert(
            name="GlassboxTargetDown", severity="page", expr=f"up{{{job}}} == 0", for_="2m",
            summary="Prometheus cannot scrape a Glassbox pod",
            description=(
                "{{$labels.instance}} of job {{$labels.job}} has failed every scrape for 2 "
                "minutes: the pod is down, hung or unreachable, and nothing it serves is seen."
            ),
        ),
        Alert(
            name="GlassboxTargetAbsent", severity="page", expr=f"absent(up{{{job}}})",
            for_="5m",
            summary="Prometheus has no Glassbox target at all",
            description=(
                "No target of job {{$labels.job}} for 5 minutes: the service is gone from "
                "discovery (deleted, scaled to zero, or its scrape configuration broke)."
            ),
        ),
        Alert(
            name="GlassboxModelNotReady", severity="page",
            expr=f"max {BY_DEPLOYMENT} (glassbox_model_ready{{{job}}}) == 0", for_="5m",
            summary="No pod of the deployment has its model loaded",
            description=(
                "Every pod of job {{$labels.job}} has reported its model not ready for 5 "
                "minutes: predictions are refused with 503. /readyz "
                "says why."
            ),
        ),
        Alert(
            name="GlassboxNoTraffic", severity="ticket",
            expr=(
                f"sum {BY_DEPLOYMENT} (increase({predictions}[30m])) == 0\n"
                f"and on (namespace, job)\n"
                f"sum {BY_DEPLOYMENT} (increase({predictions}[6h])) > 0"
            ),
            for_="5m",
            summary="Predictions stopped arriving",
            description=(
                "Job {{$labels.job}} served predictions in the last 6 hours but none in the "
                "last 30 minutes: a caller, a route or the traffic in front of the service has "
                "stopped."
            ),
        ),
        Alert(
            name="GlassboxWorkerRestarts", severity="ticket",
            expr=f"sum by (namespace, job, instance) "
                 f"(increase(glassbox_worker_starts_total{{{job}}}[1h])) > 3",
            for_="15m",
            summary="Worker processes keep restarting",
            description=(
                "{{$labels.instance}} of job {{$labels.job}} started {{$value | printf "
                "\"%.0f\"}} workers in the last hour: workers crash, are killed for memory, or "
                "miss gunicorn's heartbeat (a blocked event loop)."
            ),
        ),
        Alert(
            name="GlassboxSpansDropped", severity="ticket",
            expr=(
                f"sum {BY_DEPLOYMENT} (rate(glassbox_trace_spans_dropped_total{{{job}}}[15m]))\n"
                f"/\n"
                f"(sum {BY_DEPLOYMENT} (rate(glassbox_trace_spans_dropped_total{{{job}}}[15m]))"
                f" + sum {BY_DEPLOYMENT} (rate(glassbox_trace_spans_exported_total{{{job}}}"
                f"[15m])))\n"
                f"> 0.01"
            ),
            for_="15m",
            summary="Sampled spans are lost before they reach the collector",
            description=(
                "Job {{$labels.job}} dropped {{$value | humanizePercentage}} of its sampled "
                "spans over 15 minutes: the collector is down or slow, or the queue is too small."
            ),
        ),
        Alert(
            name="GlassboxMultiprocessFilesPiling", severity="ticket",
            expr=f"max by (namespace, job, instance) "
                 f"(glassbox_metrics_multiprocess_files{{{job}}}) > {MULTIPROCESS_FILES_THRESHOLD}",
            for_="30m",
            summary="Metric files pile up in the multiprocess directory",
            description=(
                "{{$labels.instance}} of job {{$labels.job}} holds {{$value}} files in its "
                "multiprocess directory (a handful per worker ever started): worker churn, and "
                "every scrape reads them all; the volume fills if it goes on."
            ),
        ),
        Alert(
            name="GlassboxRejectionsHigh", severity="ticket",
            expr=(
                f"sum by (namespace, job, http_route) (rate({REQUESTS}"
                f'{{{job},{PREDICTIONS},http_response_status_code="422"}}[15m]))\n'
                f"/\n"
                f"sum by (namespace, job, http_route) (rate({predictions}[15m]))\n"
                f"> 0.1"
            ),
            for_="15m",
            summary="A prediction route refuses a large share of its requests",
            description=(
                "{{$value | humanizePercentage}} of {{$labels.http_route}} requests of job "
                "{{$labels.job}} got a 422 over 15 minutes. 4xx are good for the availability "
                "SLO, so only this notices a caller or a card change that rejects real traffic."
            ),
        ),
        Alert(
            name="GlassboxUnknownCategories", severity="ticket",
            expr=(
                f"sum by (namespace, job, field) (rate(glassbox_validation_failures_total"
                f'{{{job},reason="unknown_category"}}[15m]))\n'
                f"/ on (namespace, job) group_left ()\n"
                f"sum {BY_DEPLOYMENT} (rate({predictions}[15m]))\n"
                f"> 0.01"
            ),
            for_="15m",
            summary="Requests carry categories the model does not know",
            description=(
                "{{$labels.field}} of job {{$labels.job}} has an unknown category in "
                "{{$value | humanizePercentage}} of prediction requests over 15 minutes: an "
                "upstream schema change (a new or renamed value) the model was not trained on."
            ),
        ),
        Alert(
            name="GlassboxModelStale", severity="ticket",
            expr=f"time() - max by (namespace, job, model_version) "
                 f"(glassbox_model_trained_timestamp_seconds{{{job}}}) > {age_seconds}",
            for_="1h",
            summary=f"The served model is older than {max_model_age_days} days",
            description=(
                "Model {{$labels.model_version}} of job {{$labels.job}} was trained "
                "{{$value | humanizeDuration}} ago, past the "
                f"{max_model_age_days}-day age its team allows: retrain on recent data."
            ),
        ),
        _drift("GlassboxFeatureDrift", 'feature!="_prediction"', "An input feature", job),
        _drift("GlassboxPredictionDrift", 'feature="_prediction"', "The prediction", job),
    ]  # fmt: skip


def rule(alert: Alert, extras: Extras) -> Rule:
    return {
        "alert": alert.name,
        "expr": alert.expr,
        "for": alert.for_,
        "labels": {**alert.labels, "severity": alert.severity},
        "annotations": {
            "summary": alert.summary,
            "description": alert.description,
            "runbook_url": extras.runbook_url(alert.name),
        },
    }


def service_alert_groups(extras: Extras) -> list[Group]:
    chosen = alerts(service.selector(), extras.model_max_age_days)
    return [{"name": GROUP, "rules": [rule(a, extras) for a in chosen]}]
