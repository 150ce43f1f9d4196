"""The Prometheus rules Sloth (v0.16) generates from a ``prometheus/v1`` spec, as plain data.

Per SLO, three groups, named, labelled and written as Sloth writes them:

- ``sloth-slo-sli-recordings-<id>``: the error ratio over every window the alerts use, a ratio of
  rates (``slo:sli_error:ratio_rate<window>``), and over the 30-day period, which Sloth takes as the
  average of the 5-minute ratios (cheap on a long window, and documented as an approximation);
- ``sloth-slo-meta-recordings-<id>``: objective, error budget, period, burn rates, budget left and
  ``sloth_slo_info``;
- ``sloth-slo-alerts-<id>``: Google's multiwindow, multi-burn-rate alerts, a page (14.4x over 5m and
  1h, or 6x over 30m and 6h) and a ticket (3x over 2h and 1d, or 1x over 6h and 3d) sharing the
  SLO's alert name and told apart by ``sloth_severity``.

Numbers are written as Go writes them (``99.9`` gives ``vector(0.9990000000000001)``, an error
budget of ``0.0009999999999999432``): Python's ``repr`` of the same float arithmetic.
``tests/monitoring/test_sloth_conformance.py`` holds the output to Sloth's own on its examples.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from monitoring.sloth_spec import SLO, Alert, Spec, render_window

Rule = dict[str, Any]
Group = dict[str, Any]

PERIOD = "30d"
PERIOD_DAYS = 30
SLI_ERROR = "slo:sli_error:ratio_rate{window}"
WINDOW_LABEL = "sloth_window"
MODE = "cli-gen-prom"
SPEC_VERSION = "prometheus/v1"


@dataclass(frozen=True)
class BurnRate:
    """One multiwindow condition: the error ratio above ``factor`` times the budget over both."""

    short: str
    long: str
    factor: float


@dataclass(frozen=True)
class Severity:
    name: str  # sloth_severity: page or ticket
    quick: BurnRate
    slow: BurnRate


# Sloth's defaults for a 30-day period (the SRE workbook's table): 2 % of the budget in 1 h or
# 5 % in 6 h pages; 10 % in 1 d or 10 % in 3 d opens a ticket.
PAGE = Severity("page", BurnRate("5m", "1h", 14.4), BurnRate("30m", "6h", 6))
TICKET = Severity("ticket", BurnRate("2h", "1d", 3), BurnRate("6h", "3d", 1))
_SECONDS = {"m": 60, "h": 3600, "d": 86400}


def _seconds(window: str) -> int:
    return int(window[:-1]) * _SECONDS[window[-1]]


# Every window an alert reads, shortest first, then the period.
WINDOWS = (
    *sorted(
        {w for s in (PAGE, TICKET) for b in (s.quick, s.slow) for w in (b.short, b.long)},
        key=_seconds,
    ),
    PERIOD,
)


def go_float(value: float) -> str:
    """A float as Go's ``%v`` and ``%g`` print it (shortest round-trip digits, no ``.0``)."""
    text = repr(float(value))
    return text[:-2] if text.endswith(".0") else text


def go_fixed(value: float) -> str:
    """A float as Go's ``strconv.FormatFloat(v, 'f', -1, 64)`` prints it: never an exponent."""
    text = format(Decimal(repr(float(value))), "f")
    return text[:-2] if text.endswith(".0") else text


def slo_id(spec: Spec, slo: SLO) -> str:
    return f"{spec.service}-{slo.name}"


def id_labels(spec: Spec, slo: SLO) -> dict[str, str]:
    return {"sloth_id": slo_id(spec, slo), "sloth_service": spec.service, "sloth_slo": slo.name}


def slo_labels(spec: Spec, slo: SLO) -> dict[str, str]:
    """The spec's labels, then the SLO's own (the later wins, as in Sloth)."""
    return {**spec.labels, **slo.labels}


def _filter(labels: dict[str, str]) -> str:
    return "{" + ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}"


def _sorted(labels: dict[str, str]) -> dict[str, str]:
    return dict(sorted(labels.items()))


def error_budget(slo: SLO) -> float:
    """The budget as Sloth computes it for alert thresholds: (100 - objective) / 100."""
    return (100 - slo.objective) / 100


def sli_expr(slo: SLO, window: str) -> str:
    if slo.sli.events is not None:
        error = render_window(slo.sli.events.error_query, window)
        total = render_window(slo.sli.events.total_query, window)
        return f"({error})\n/\n({total})\n"
    assert slo.sli.raw is not None  # the spec allows exactly one kind
    return f"({render_window(slo.sli.raw.error_ratio_query, window)})"


def sli_rules(spec: Spec, slo: SLO) -> list[Rule]:
    ids = id_labels(spec, slo)
    rules = []
    for window in WINDOWS:
        if window == PERIOD:
            short = SLI_ERROR.format(window=PAGE.quick.short) + _filter(ids)
            expr = (
                f"sum_over_time({short}[{window}])\n/ ignoring ({WINDOW_LABEL})\n"
                f"count_over_time({short}[{window}])\n"
            )
        else:
            expr = sli_expr(slo, window)
        labels = {**ids, WINDOW_LABEL: window, **slo_labels(spec, slo)}
        rules.append(
            {"record": SLI_ERROR.format(window=window), "expr": expr, "labels": _sorted(labels)}
        )
    return rules


def _burn_rate(sli_error: str, ids: dict[str, str]) -> str:
    return (
        f"{sli_error}{_filter(ids)}\n/ on(sloth_id, sloth_slo, sloth_service) group_left\n"
        f"slo:error_budget:ratio{_filter(ids)}\n"
    )


def meta_rules(spec: Spec, slo: SLO, version: str) -> list[Rule]:
    ids = id_labels(spec, slo)
    labels = _sorted({**ids, **slo_labels(spec, slo)})
    objective = slo.objective / 100
    exprs = {
        "slo:objective:ratio": f"vector({go_float(objective)})",
        "slo:error_budget:ratio": f"vector(1-{go_float(objective)})",
        "slo:time_period:days": f"vector({PERIOD_DAYS})",
        "slo:current_burn_rate:ratio": _burn_rate(SLI_ERROR.format(window=PAGE.quick.short), ids),
        "slo:period_burn_rate:ratio": _burn_rate(SLI_ERROR.format(window=PERIOD), ids),
        "slo:period_error_budget_remaining:ratio": (
            f"1 - slo:period_burn_rate:ratio{_filter(ids)}"
        ),
    }
    rules: list[Rule] = [{"record": r, "expr": e, "labels": labels} for r, e in exprs.items()]
    info = {
        **labels,
        "sloth_version": version,
        "sloth_mode": MODE,
        "sloth_spec": SPEC_VERSION,
        "sloth_objective": go_fixed(slo.objective),
    }
    rules.append({"record": "sloth_slo_info", "expr": "vector(1)", "labels": _sorted(info)})
    return rules


def alert_expr(slo: SLO, ids: dict[str, str], severity: Severity) -> str:
    budget = go_float(error_budget(slo))

    def above(window: str, factor: float) -> str:
        metric = SLI_ERROR.format(window=window) + _filter(ids)
        return f"max({metric} > ({go_float(factor)} * {budget})) without ({WINDOW_LABEL})"

    def both(burn: BurnRate) -> str:
        short, long = above(burn.short, burn.factor), above(burn.long, burn.factor)
        return f"(\n    {short}\n    and\n    {long}\n)"

    return f"{both(severity.quick)}\nor\n{both(severity.slow)}\n"


def alert_rule(spec: Spec, slo: SLO, severity: Severity, alert: Alert) -> Rule:
    who = "{{$labels.sloth_service}} {{$labels.sloth_slo}}"
    annotations = {
        "title": f"({severity.name}) {who} SLO error budget burn rate is too fast.",
        "summary": f"{who} SLO error budget burn rate is over expected.",
        **slo.alerting.annotations,
        **alert.annotations,
    }
    labels = {"sloth_severity": severity.name, **slo.alerting.labels, **alert.labels}
    return {
        "alert": slo.alerting.name,
        "expr": alert_expr(slo, id_labels(spec, slo), severity),
        "labels": _sorted(labels),
        "annotations": _sorted(annotations),
    }


def alert_rules(spec: Spec, slo: SLO) -> list[Rule]:
    alerts = ((PAGE, slo.alerting.page_alert), (TICKET, slo.alerting.ticket_alert))
    return [alert_rule(spec, slo, sev, alert) for sev, alert in alerts if not alert.disable]


def rule_groups(spec: Spec, version: str) -> list[Group]:
    """Every group Sloth writes for the spec, in its order; an empty group is left out."""
    groups = []
    for slo in spec.slos:
        ident = slo_id(spec, slo)
        for kind, rules in (
            ("sli-recordings", sli_rules(spec, slo)),
            ("meta-recordings", meta_rules(spec, slo, version)),
            ("alerts", alert_rules(spec, slo)),
        ):
            if rules:
                groups.append({"name": f"sloth-slo-{kind}-{ident}", "rules": rules})
    return groups
