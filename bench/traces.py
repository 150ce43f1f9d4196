"""The span account of every exporting configuration, taken before its server stops: requests
served and spans exported or dropped (the service's own counters on /metrics), against spans
the receiver got. Every sampled span must be one or the other; the receiver must have every
exported one. A row whose receiver missed more than ``LOST_LIMIT`` of its sampled spans (dropped
by the service, or exported and never received) measured less work than it claims: its figures
are marked invalid (issue 29), in the table and in every target it takes part in.
"""

from __future__ import annotations

import time
import urllib.request
from typing import Any

from app.api.routes import PREDICTION_ROUTES
from app.telemetry.metrics import SPAN_DROP_REASONS
from bench.otlp_sink import Sink
from bench.server import Server, ServerError
from tests.support.metrics import value

# The batch processor exports what is pending at most one OTEL_BSP_SCHEDULE_DELAY (the SDK's
# default: 5 s) after the last span ended; then the receiver answers within this margin.
DEFAULT_SCHEDULE_DELAY_MS = 5000.0
EXPORT_MARGIN_S = 1.0
SETTLE_TIMEOUT_S = 10.0
POLL_S = 0.5
# Issue 29: a row that lost more than this share of its sampled spans is invalid.
LOST_LIMIT = 0.001


def scrape(server: Server) -> str:
    try:
        with urllib.request.urlopen(server.url("/metrics"), timeout=30) as response:
            return bytes(response.read()).decode()
    except OSError as exc:
        raise ServerError(f"{server.config.name}: /metrics failed: {exc}") from exc


def _snapshot(server: Server, sink: Sink) -> dict[str, Any]:
    text = scrape(server)
    return {
        "requests": sum(
            value(text, "http_server_request_duration_seconds_count", http_route=r)
            for r in PREDICTION_ROUTES
        ),
        "exported": value(text, "glassbox_trace_spans_exported_total"),
        "dropped": {
            reason: value(text, "glassbox_trace_spans_dropped_total", reason=reason)
            for reason in SPAN_DROP_REASONS
        },
        "received": sink.report()["spans"].get(server.config.name, 0),
    }


def accounts(servers: list[Server], sink: Sink) -> dict[str, dict[str, Any]]:
    """The span account of each server, once its last spans can have left (at the end of a full
    bench run they left minutes ago: there is nothing to wait for)."""
    ready_at = max(
        s.last_load_end
        + float(s.env_overrides.get("OTEL_BSP_SCHEDULE_DELAY", DEFAULT_SCHEDULE_DELAY_MS)) / 1e3
        + EXPORT_MARGIN_S
        for s in servers
    )
    time.sleep(max(0.0, ready_at - time.monotonic()))
    return {s.config.name: _account(s, sink) for s in servers}


def _account(server: Server, sink: Sink) -> dict[str, Any]:
    """Poll until the receiver has every exported span and two polls agree (or
    SETTLE_TIMEOUT_S); ``settled`` says which."""
    deadline = time.monotonic() + SETTLE_TIMEOUT_S
    previous = None
    while True:
        now = _snapshot(server, sink)
        settled = now == previous and now["received"] == now["exported"]
        if settled or time.monotonic() > deadline:
            break
        previous = now
        time.sleep(POLL_S)
    sampled = now["exported"] + sum(now["dropped"].values())
    return {
        **now,
        "settled": settled,
        "sampled": sampled,
        "spans_per_request": sampled / now["requests"] if now["requests"] else float("nan"),
        "lost_share": lost_share(sampled, now["received"]),
    }


def lost_share(sampled: float, received: float) -> float:
    """The share of sampled spans the receiver did not get (NaN when none was sampled)."""
    return max(0.0, sampled - received) / sampled if sampled else float("nan")


def invalid(accounts: dict[str, dict[str, Any]]) -> dict[str, str]:
    """The exporting rows whose figures do not count, each with the reason: more than
    ``LOST_LIMIT`` of their sampled spans lost, or no span sampled at all."""
    out = {}
    for name, a in accounts.items():
        share = lost_share(a["sampled"], a["received"])
        if a["sampled"] == 0:
            out[name] = "no span was sampled"
        elif share > LOST_LIMIT:
            out[name] = (
                f"{share:.2%} of its {a['sampled']:.0f} sampled spans lost (dropped "
                f"{sum(a['dropped'].values()):.0f}, received {a['received']:.0f}; over "
                f"{LOST_LIMIT:.1%})"
            )
    return out


def table(accounts: dict[str, dict[str, Any]], sink_cpu_s: float | None) -> str:
    lines = [
        "spans (each exporting server's whole life up to the end of its last run):",
        f"  {'config':14} {'requests':>9} {'spans/req':>9} {'sampled':>9} {'exported':>9} "
        f"{'received':>9} {'dropped':>8} {'lost':>7}  by reason",
    ]
    bad = invalid(accounts)
    for name, a in accounts.items():
        reasons = ", ".join(f"{k} {v:.0f}" for k, v in a["dropped"].items() if v) or "-"
        share = lost_share(a["sampled"], a["received"])
        lines.append(
            f"  {name:14} {a['requests']:9.0f} {a['spans_per_request']:9.2f} "
            f"{a['sampled']:9.0f} {a['exported']:9.0f} {a['received']:9.0f} "
            f"{sum(a['dropped'].values()):8.0f} {share:7.2%}  {reasons}"
            + ("" if a["settled"] else "  (NOT settled)")
            + ("  INVALID" if name in bad else "")
        )
    lines.append(
        f"  lost: sampled spans the receiver did not get; over {LOST_LIMIT:.1%} makes the "
        "row INVALID (issue 29)"
    )
    if sink_cpu_s is not None:
        lines.append(f"  receiver process (on the load core): {sink_cpu_s:.1f} s CPU in all")
    return "\n".join(lines)


def problems(accounts: dict[str, dict[str, Any]]) -> list[str]:
    out = []
    for name, a in accounts.items():
        if a["received"] != a["exported"]:
            out.append(
                f"spans of {name}: the service counted {a['exported']:.0f} exported, the "
                f"receiver got {a['received']:.0f}" + ("" if a["settled"] else " (not settled)")
            )
        if a["sampled"] == 0:
            out.append(f"spans of {name}: no span was sampled: is tracing on?")
    out += [f"INVALID {name}: {reason}" for name, reason in invalid(accounts).items()]
    return out
