"""What issues 5-7 ask of the table: the CPU per request of each telemetry component, and the
throughput targets, from the single-row runs at 16 connections.

Every figure is the median over rounds of a figure computed inside one round, from runs of the
same cell (back to back, in alternating order), so a machine that drifts between rounds does
not leak into a difference.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Any

from bench.configs import SINGLE
from bench.report import Row
from bench.runner import Cell, Run

CELL = Cell(SINGLE.name, 16)


@dataclass(frozen=True, slots=True)
class Component:
    """A cost as a signed sum of configurations' CPU per request."""

    name: str
    terms: tuple[tuple[str, int], ...]  # (config, +1 or -1)

    @property
    def formula(self) -> str:
        text = " ".join(f"{'+' if sign > 0 else '-'} {name}" for name, sign in self.terms)
        return text.removeprefix("+ ")


COMPONENTS = (
    # Every row but "service" serves with LightGBM, as bare does: "service-lightgbm" stands for
    # the shipped telemetry in the differences, and the engine's saving is a component of its own.
    Component("service core, no telemetry, over bare", (("telemetry-off", 1), ("bare", -1))),
    Component("RED metrics middleware (issue 5)", (("service-lightgbm", 1), ("metrics-off", -1))),
    Component(
        "request log line",
        (("metrics+logs", 1), ("telemetry-off", -1), ("service-lightgbm", -1), ("metrics-off", 1)),
    ),
    Component("tracing @0.1, not exported", (("drift-off", 1), ("metrics+logs", -1))),
    Component("drift recording (issue 7)", (("service-lightgbm", 1), ("drift-off", -1))),
    Component("OTLP export of the 10 % sampled", (("full@0.1", 1), ("drift-off", -1))),
    Component("tracing @1.0 over @0.1, exported", (("full@1.0", 1), ("full@0.1", -1))),
    Component("all telemetry as shipped", (("service-lightgbm", 1), ("telemetry-off", -1))),
    Component(
        "saved by the fast paths (issue 27)", (("no-fast-paths", 1), ("service-lightgbm", -1))
    ),
    Component("full@1.0 exported over no telemetry", (("full@1.0", 1), ("telemetry-off", -1))),
    Component(
        "saved by the compiled engine (issue 28)", (("service-lightgbm", 1), ("service", -1))
    ),
)


@dataclass(frozen=True, slots=True)
class Target:
    """rps of ``config`` / rps of ``versus`` (same round) must be at least ``minimum``."""

    issue: int
    text: str
    config: str
    versus: str
    minimum: float


TARGETS = (
    Target(6, "full@0.1 >= 0.75x bare rps", "full@0.1", "bare", 0.75),
    Target(6, "metrics+logs >= 0.85x bare rps", "metrics+logs", "bare", 0.85),
    Target(7, "drift costs <= 5 % of rps", "service-lightgbm", "drift-off", 0.95),
)


def _by_round(runs: list[Run], cell: Cell = CELL) -> list[dict[str, Run]]:
    rounds: dict[int, dict[str, Run]] = {}
    for r in runs:
        if (r.endpoint, r.connections) == (cell.endpoint, cell.connections) and r.error is None:
            rounds.setdefault(r.round, {})[r.config] = r
    return list(rounds.values())


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else math.nan


def components(runs: list[Run]) -> list[dict[str, Any]]:
    """The components whose configurations ran, with their CPU us/request."""
    rounds = _by_round(runs)
    out = []
    for c in COMPONENTS:
        values = [
            sum(sign * by[name].cpu_us_per_request for name, sign in c.terms)
            for by in rounds
            if all(name in by for name, _ in c.terms)
        ]
        if values:
            out.append(
                {"component": c.name, "formula": c.formula,
                 "cpu_us_per_request": _median(values), "rounds": len(values),
                 "per_round": values}
            )  # fmt: skip
    return out


def targets(runs: list[Run], rows: list[Row]) -> list[dict[str, Any]]:
    rounds = _by_round(runs)
    out = []
    for t in TARGETS:
        pairs = [(by[t.config], by[t.versus]) for by in rounds if t.config in by and t.versus in by]
        if not pairs:
            continue
        ratio = _median([a.rps / b.rps for a, b in pairs])
        # When the server is CPU-bound, rps ~ 1 / CPU per request: the budget that meets it.
        budget = _median([b.cpu_us_per_request for _, b in pairs]) / t.minimum
        out.append(
            {"issue": t.issue, "target": t.text, "config": t.config, "versus": t.versus,
             "minimum": t.minimum, "ratio": ratio, "met": ratio >= t.minimum,
             "rounds": len(pairs), "cpu_us_per_request": _median(
                 [a.cpu_us_per_request for a, _ in pairs]),
             "cpu_budget_us_per_request": budget}
        )  # fmt: skip
    for row in rows:
        if row.config == "full@1.0" and (row.endpoint, row.connections) == (
            CELL.endpoint,
            CELL.connections,
        ):
            out.append(
                {"issue": 6, "target": "full@1.0 exported: reported, no target",
                 "config": row.config, "versus": row.reference, "minimum": None,
                 "ratio": row.rps_ratio, "met": None, "rounds": row.rounds_ok,
                 "p99_ms": row.p99_ms, "cpu_us_per_request": row.cpu_us_per_request}
            )  # fmt: skip
    return out


def components_table(items: list[dict[str, Any]]) -> str:
    lines = [
        f"CPU per request by component ({CELL.endpoint} row, {CELL.connections} connections; "
        "median over rounds of in-round differences):"
    ]
    for c in items:
        lines.append(
            f"  {c['component']:40} {c['cpu_us_per_request']:7.0f} us   = {c['formula']}"
            f"  ({c['rounds']} rounds)"
        )
    return "\n".join(lines)


def targets_table(items: list[dict[str, Any]]) -> str:
    lines = ["targets (median of per-round paired ratios):"]
    for t in items:
        head = f"  issue {t['issue']}  {t['target']:36}"
        if t["minimum"] is None:
            lines.append(f"{head} {t['ratio']:.2f}x {t['versus']} rps, p99 {t['p99_ms']:.1f} ms")
            continue
        if t["versus"] == "bare":
            figure = f"{t['ratio']:.2f}x"
            detail = (
                f"by {t['ratio'] - t['minimum']:+.2f}; CPU {t['cpu_us_per_request']:.0f} us/req, "
                f"budget {t['cpu_budget_us_per_request']:.0f}"
            )
        else:
            figure = f"{1 - t['ratio']:.1%}"
            detail = f"cost {1 - t['ratio']:.1%} vs {1 - t['minimum']:.0%} allowed"
        verdict = "met" if t["met"] else "NOT met"
        lines.append(f"{head} {figure:>6}  {verdict} ({detail})")
    return "\n".join(lines)
