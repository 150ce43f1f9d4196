"""What issues 5-7 and 29 ask of the table: the CPU per request of each telemetry component
(single rows at 16 connections), and the targets: throughput and tail ratios to a reference,
each in its cell, with a verdict ("met", "NOT met", or "invalid" when its figures do not count).

Every figure is the median over rounds of a figure computed inside one round, from runs of the
same cell (back to back, in alternating order), so a machine that drifts between rounds does
not leak into a difference.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bench.configs import BARE, BARE_ENGINE, BATCH, COMPONENT_CELL, FULL, SINGLE
from bench.report import Row
from bench.runner import Cell, Run

CELL = Cell(*COMPONENT_CELL)


@dataclass(frozen=True, slots=True)
class Component:
    """A cost as a signed sum of configurations' CPU per request."""

    name: str
    terms: tuple[tuple[str, int], ...]  # (config, +1 or -1)

    @property
    def formula(self) -> str:
        text = " ".join(f"{'+' if sign > 0 else '-'} {name}" for name, sign in self.terms)
        return text.removeprefix("+ ")

    def of(self, figures: Mapping[str, float]) -> float | None:
        """The signed sum of the configurations' ``figures``; None when one is missing."""
        if not all(name in figures for name, _ in self.terms):
            return None
        return sum(sign * figures[name] for name, sign in self.terms)


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
    cpu = [{name: run.cpu_us_per_request for name, run in by.items()} for by in rounds]
    for c in COMPONENTS:
        values = [value for figures in cpu if (value := c.of(figures)) is not None]
        if values:
            out.append(
                {"component": c.name, "formula": c.formula,
                 "cpu_us_per_request": _median(values), "rounds": len(values),
                 "per_round": values}
            )  # fmt: skip
    return out


RPS = "rps"
# Issue 29: every run a tail target reads must have answered this many requests (wrk's whole
# run, which its percentiles cover); fewer make the verdict invalid. `python -m bench --tails`.
TAIL_REQUESTS = 50_000
SINGLE_16, SINGLE_64 = Cell(SINGLE.name, 16), Cell(SINGLE.name, 64)
BATCH_16, BATCH_64 = Cell(BATCH.name, 16), Cell(BATCH.name, 64)


@dataclass(frozen=True, slots=True)
class Target:
    """In ``cell``, ``figure`` (rps, or a wrk latency percentile: ``p99``, ``p999``) of
    ``config`` over the same of ``versus`` in the same round: the median of these per-round
    ratios must be at least ``minimum`` or at most ``maximum``; neither: reported, no target.
    ``min_requests``: every run both rows had in the paired rounds must have answered that
    many (its whole wrk run), else the verdict is invalid. ``cost``: printed as 1 - ratio."""

    issue: int
    text: str
    config: str
    versus: str
    minimum: float | None = None
    maximum: float | None = None
    cell: Cell = CELL
    figure: str = RPS
    min_requests: int = 0
    cost: bool = False


TARGETS = (
    Target(6, "full@0.1 >= 0.75x bare rps", "full@0.1", BARE.name, minimum=0.75),
    Target(6, "metrics+logs >= 0.85x bare rps", "metrics+logs", BARE.name, minimum=0.85),
    Target(7, "drift costs <= 5 % of rps", "service-lightgbm", "drift-off", minimum=0.95,
           cost=True),
    Target(6, "full@1.0 exported: reported, no target", "full@1.0", BARE.name),
    # Issue 29: full telemetry (configs.FULL_TELEMETRY, the compiled engine) against bare.
    Target(29, f"{FULL} >= 1.0x bare rps, c16", FULL, BARE.name, minimum=1.0, cell=SINGLE_16),
    Target(29, f"{FULL} >= 1.0x bare rps, c64", FULL, BARE.name, minimum=1.0, cell=SINGLE_64),
    Target(29, f"{FULL} p99 <= 1.5x bare's, c64", FULL, BARE.name, maximum=1.5,
           cell=SINGLE_64, figure="p99", min_requests=TAIL_REQUESTS),
    Target(29, f"{FULL} p99.9 <= 2x bare's, c16", FULL, BARE.name, maximum=2.0,
           cell=SINGLE_16, figure="p999", min_requests=TAIL_REQUESTS),
    # "No worse with full telemetry" on 1000-row batches, within the noise of a ratio that is
    # 1.0 by construction (one batch request's telemetry against its 1000 rows' work); the
    # rows/s against raw Booster.predict (issue 28's target) is report.batch_over_raw's.
    Target(29, f"batch: {FULL} >= 0.95x service, c16", FULL, "service", minimum=0.95,
           cell=BATCH_16),
    Target(29, f"batch: {FULL} >= 0.95x service, c64", FULL, "service", minimum=0.95,
           cell=BATCH_64),
    # The split of the ratio to bare: telemetry's own cost and the engine's saving.
    Target(29, f"telemetry's cost: {FULL} / {BARE_ENGINE.name}, c16", FULL, BARE_ENGINE.name,
           cell=SINGLE_16),
    Target(29, f"telemetry's cost: {FULL} / {BARE_ENGINE.name}, c64", FULL, BARE_ENGINE.name,
           cell=SINGLE_64),
    Target(29, f"engine's saving: {BARE_ENGINE.name} / bare, c16", BARE_ENGINE.name, BARE.name,
           cell=SINGLE_16),
    Target(29, f"engine's saving: {BARE_ENGINE.name} / bare, c64", BARE_ENGINE.name, BARE.name,
           cell=SINGLE_64),
)  # fmt: skip


def figure_of(run: Run, figure: str) -> float:
    """A run's ``figure``: its rps, or a latency percentile of its whole wrk run (us)."""
    if figure == RPS:
        return run.rps
    return run.latency_us[figure] if run.latency_us else math.nan


def verdict(
    t: Target, ratio: float, fewest_requests: int, invalid: dict[str, str] | None = None
) -> tuple[bool | None, str]:
    """(met, the verdict's words): met is None when the target has no bound or its figures do
    not count: a row that lost spans (``invalid``, traces.invalid), or a run of fewer than
    ``t.min_requests``."""
    lost = [name for name in (t.config, t.versus) if invalid and name in invalid]
    if lost:
        return None, f"invalid: {', '.join(lost)} lost spans"
    if fewest_requests < t.min_requests:
        return None, (
            f"invalid: a run of {fewest_requests:,} requests, under {t.min_requests:,} "
            "(python -m bench --tails)"
        )
    if t.minimum is None and t.maximum is None:
        return None, "reported"
    met = (t.minimum is None or ratio >= t.minimum) and (t.maximum is None or ratio <= t.maximum)
    return met, "met" if met else "NOT met"


def targets(runs: list[Run], invalid: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """Every target whose two rows ran in its cell, with its verdict (``verdict``)."""
    out = []
    for t in TARGETS:
        rounds = _by_round(runs, t.cell)
        pairs = [(by[t.config], by[t.versus]) for by in rounds if t.config in by and t.versus in by]
        if not pairs:
            continue
        ratios = [figure_of(a, t.figure) / figure_of(b, t.figure) for a, b in pairs]
        ratio = _median(ratios)
        fewest = min(r.wrk_requests for pair in pairs for r in pair)
        met, words = verdict(t, ratio, fewest, invalid)
        # When the server is CPU-bound, rps ~ 1 / CPU per request: the budget that meets it.
        budget = (
            _median([b.cpu_us_per_request for _, b in pairs]) / t.minimum
            if t.figure == RPS and t.minimum
            else None
        )
        out.append(
            {"issue": t.issue, "target": t.text, "config": t.config, "versus": t.versus,
             "endpoint": t.cell.endpoint, "connections": t.cell.connections,
             "figure": t.figure, "minimum": t.minimum, "maximum": t.maximum, "cost": t.cost,
             "ratio": ratio, "ratios": ratios, "met": met, "verdict": words,
             "rounds": len(pairs), "fewest_requests": fewest,
             "config_figure": _median([figure_of(a, t.figure) for a, _ in pairs]),
             "versus_figure": _median([figure_of(b, t.figure) for _, b in pairs]),
             "p99_ms": _median([figure_of(a, "p99") / 1e3 for a, _ in pairs]),
             "cpu_us_per_request": _median([a.cpu_us_per_request for a, _ in pairs]),
             "cpu_budget_us_per_request": budget}
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


def _bound(t: dict[str, Any]) -> str:
    if t["minimum"] is not None:
        return f">= {t['minimum']:g}x"
    return f"<= {t['maximum']:g}x" if t["maximum"] is not None else ""


def targets_table(items: list[dict[str, Any]]) -> str:
    lines = ["targets (median of per-round paired ratios; (min..max) over rounds):"]
    for t in items:
        head = f"  issue {t['issue']:<2} {t['target']:50}"
        spread = f"({min(t['ratios']):.2f}..{max(t['ratios']):.2f}, {t['rounds']} rounds)"
        if t["cost"]:
            figure = f"{1 - t['ratio']:.1%}"
            detail = f"cost {1 - t['ratio']:.1%} vs {1 - t['minimum']:.0%} allowed"
        elif t["figure"] == RPS:
            figure = f"{t['ratio']:.2f}x"
            detail = f"{t['config_figure']:.0f} vs {t['versus_figure']:.0f} rps"
            if t["minimum"] is not None:
                detail += (
                    f"; by {t['ratio'] - t['minimum']:+.2f}; CPU {t['cpu_us_per_request']:.0f} "
                    f"us/req, budget {t['cpu_budget_us_per_request']:.0f}"
                )
            else:
                detail += f"; p99 {t['p99_ms']:.1f} ms"
        else:
            figure = f"{t['ratio']:.2f}x"
            detail = (
                f"{t['figure']} {t['config_figure'] / 1e3:.1f} vs {t['versus_figure'] / 1e3:.1f} "
                f"ms; fewest requests in a run {t['fewest_requests']:,}"
            )
        lines.append(f"{head} {figure:>6} {_bound(t):>7}  {t['verdict']} {spread} ({detail})")
    return "\n".join(lines)


def gate(
    rows: list[Row], minimum: float, connections: tuple[int, ...], invalid: dict[str, str]
) -> tuple[bool, str]:
    """`make bench-quick`'s regression gate: passed when the full row's single-row rps over
    bare's (the table's median of per-round ratios) is at least ``minimum`` at every count of
    ``connections`` and its spans count (``invalid``); (passed, the line saying so)."""
    ratios = {
        n: next(
            (r.rps_ratio for r in rows
             if (r.config, r.endpoint, r.connections) == (FULL, SINGLE.name, n)),
            math.nan,
        )
        for n in connections
    }  # fmt: skip
    passed = all(ratio >= minimum for ratio in ratios.values()) and FULL not in invalid
    figures = ", ".join(f"c{n} {ratio:.3f}x" for n, ratio in ratios.items())
    line = (
        f"gate: {FULL} rps / bare rps (median of per-round ratios) {figures}; fails below "
        f"{minimum:.2f}x"
        + (f" or with invalid spans ({invalid[FULL]})" if FULL in invalid else "")
        + (": passed" if passed else ": FAILED")
    )
    return passed, line
