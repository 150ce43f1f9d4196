"""Issue 29's verdicts: per-round paired ratios of a target row to its reference in one cell,
their median against a bound, and the two ways a verdict is "invalid" rather than met: a row
that lost spans, and a tail read from a run of fewer than 50,000 requests."""

from __future__ import annotations

import math

from bench.breakdown import Component, gate, targets
from bench.configs import CONFIGS
from bench.report import summarise
from bench.runner import Run

FULL, BARE, ENGINE = "glassbox-full", "bare", "bare-engine"


def run(
    config: str,
    round_: int,
    connections: int,
    rps: float,
    p99_ms: float = 10.0,
    p999_ms: float = 20.0,
    requests: int = 60_000,
    endpoint: str = "single",
) -> Run:
    return Run(
        round_, config, endpoint, connections, 5, rps=rps, cpu_us_per_request=1e6 / rps,
        latency_us={"p50": 1000.0, "p90": 2000.0, "p99": p99_ms * 1e3, "p999": p999_ms * 1e3},
        wrk_requests=requests,
    )  # fmt: skip


def by_target(items: list[dict[str, object]]) -> dict[str, dict[str, object]]:
    return {str(t["target"]): t for t in items}


def test_throughput_is_the_median_of_per_round_ratios_not_the_ratio_of_medians() -> None:
    # Rounds: full/bare = 1100/1000, 900/1000, 2100/2000 -> 1.10, 0.90, 1.05: median 1.05,
    # met; the medians' ratio would be 1100/1000 = 1.10.
    runs = [
        run(BARE, 0, 16, 1000), run(FULL, 0, 16, 1100),
        run(BARE, 1, 16, 1000), run(FULL, 1, 16, 900),
        run(BARE, 2, 16, 2000), run(FULL, 2, 16, 2100),
    ]  # fmt: skip
    (t,) = [t for t in targets(runs) if t["target"] == "glassbox-full >= 1.0x bare rps, c16"]
    assert t["ratio"] == 1.05
    assert t["ratios"] == [1.1, 0.9, 1.05]
    assert (t["met"], t["verdict"], t["rounds"]) == (True, "met", 3)


def test_a_median_under_the_bound_is_not_met_and_a_cell_without_the_row_has_no_verdict() -> None:
    runs = [run(BARE, 0, 64, 1000), run(FULL, 0, 64, 990), run(BARE, 0, 16, 1000)]
    found = by_target(targets(runs))
    at_64 = found["glassbox-full >= 1.0x bare rps, c64"]
    assert (at_64["met"], at_64["verdict"]) == (False, "NOT met")
    assert "glassbox-full >= 1.0x bare rps, c16" not in found  # full did not run at 16


def test_tail_targets_compare_the_percentile_of_each_round_and_bound_it_from_above() -> None:
    # p99 at 64 connections: 30/20 = 1.5 (met: <= 1.5), 45/20 = 2.25, 20/20 = 1.0 -> median 1.5.
    runs = [
        run(BARE, 0, 64, 1000, p99_ms=20), run(FULL, 0, 64, 1000, p99_ms=30),
        run(BARE, 1, 64, 1000, p99_ms=20), run(FULL, 1, 64, 1000, p99_ms=45),
        run(BARE, 2, 64, 1000, p99_ms=20), run(FULL, 2, 64, 1000, p99_ms=20),
    ]  # fmt: skip
    t = by_target(targets(runs))["glassbox-full p99 <= 1.5x bare's, c64"]
    assert t["ratio"] == 1.5
    assert t["met"] is True
    # p99.9 at 16: 50/20 = 2.5 in the only round: over 2x.
    runs16 = [run(BARE, 0, 16, 1000, p999_ms=20), run(FULL, 0, 16, 1000, p999_ms=50)]
    t16 = by_target(targets(runs16))["glassbox-full p99.9 <= 2x bare's, c16"]
    assert (t16["ratio"], t16["met"], t16["verdict"]) == (2.5, False, "NOT met")


def test_a_tail_read_from_a_run_under_50000_requests_is_invalid_whichever_row_it_is() -> None:
    for short in (BARE, FULL):
        runs = [
            run(BARE, 0, 16, 1000, requests=49_999 if short == BARE else 80_000),
            run(FULL, 0, 16, 1000, requests=49_999 if short == FULL else 80_000),
            run(BARE, 1, 16, 1000), run(FULL, 1, 16, 1000),
        ]  # fmt: skip
        found = by_target(targets(runs))
        tail = found["glassbox-full p99.9 <= 2x bare's, c16"]
        assert tail["met"] is None
        assert str(tail["verdict"]).startswith("invalid: a run of 49,999 requests")
        # Throughput is read over the window: the request count does not void it.
        assert found["glassbox-full >= 1.0x bare rps, c16"]["verdict"] == "met"
    exactly = [run(BARE, 0, 16, 1000, requests=50_000), run(FULL, 0, 16, 1000, requests=50_000)]
    assert by_target(targets(exactly))["glassbox-full p99.9 <= 2x bare's, c16"]["met"] is True


def test_a_row_that_lost_spans_voids_every_target_it_is_in() -> None:
    runs = [run(BARE, 0, 16, 1000), run(FULL, 0, 16, 2000), run(ENGINE, 0, 16, 1500)]
    found = by_target(targets(runs, {FULL: "1% of its spans lost"}))
    for name in ("glassbox-full >= 1.0x bare rps, c16", "glassbox-full p99.9 <= 2x bare's, c16",
                 "telemetry's cost: glassbox-full / bare-engine, c16"):  # fmt: skip
        assert found[name]["met"] is None
        assert found[name]["verdict"] == "invalid: glassbox-full lost spans"
    # The engine's saving does not involve the full row.
    saving = found["engine's saving: bare-engine / bare, c16"]
    assert (saving["ratio"], saving["verdict"]) == (1.5, "reported")


def test_the_split_of_the_ratio_reports_telemetry_and_engine_apart() -> None:
    # full 1200, bare-engine 1500, bare 1000: telemetry keeps 0.8 of the engine's 1.5x.
    runs = [run(BARE, 0, 64, 1000), run(FULL, 0, 64, 1200), run(ENGINE, 0, 64, 1500)]
    found = by_target(targets(runs))
    assert found["telemetry's cost: glassbox-full / bare-engine, c64"]["ratio"] == 0.8
    assert found["engine's saving: bare-engine / bare, c64"]["ratio"] == 1.5
    assert found["glassbox-full >= 1.0x bare rps, c64"]["ratio"] == 1.2


def test_the_batch_target_holds_the_full_row_to_the_shipped_service() -> None:
    runs = [
        run("service", 0, 16, 60, endpoint="batch"), run(FULL, 0, 16, 56, endpoint="batch"),
        run("service", 0, 64, 60, endpoint="batch"), run(FULL, 0, 64, 58, endpoint="batch"),
    ]  # fmt: skip
    found = by_target(targets(runs))
    # 56/60 = 0.933 < 0.95; 58/60 = 0.967 >= 0.95.
    assert found["batch: glassbox-full >= 0.95x service, c16"]["met"] is False
    assert found["batch: glassbox-full >= 0.95x service, c64"]["met"] is True


def test_the_gate_needs_every_connection_count_at_or_over_its_minimum_and_valid_spans() -> None:
    runs = [
        run(BARE, 0, 16, 1000), run(FULL, 0, 16, 950),
        run(BARE, 0, 64, 1000), run(FULL, 0, 64, 880),
    ]  # fmt: skip
    rows = summarise(runs, CONFIGS)
    assert gate(rows, 0.88, (16, 64), {})[0] is True
    passed, line = gate(rows, 0.9, (16, 64), {})
    assert not passed
    assert "c16 0.950x, c64 0.880x" in line
    assert line.endswith("FAILED")
    assert gate(rows, 0.5, (16, 64), {FULL: "lost"})[0] is False
    # A count the full row has no figure at (its runs failed) fails the gate.
    assert gate(rows, 0.5, (16, 32), {})[0] is False


def test_rss_is_reported_per_worker_as_the_median_over_rounds() -> None:
    runs = [
        Run(0, FULL, "single", 16, 5, rps=1.0, rss_kib={1: 100 * 1024}),
        Run(1, FULL, "single", 16, 5, rps=1.0, rss_kib={1: 104 * 1024}),
        Run(2, FULL, "single", 16, 5, rps=1.0, rss_kib={1: 101 * 1024}),
        Run(0, BARE, "single", 16, 5, rps=1.0, rss_kib={1: 40 * 1024, 2: 60 * 1024}),
    ]
    rows = {r.config: r for r in summarise(runs, CONFIGS)}
    assert rows[FULL].rss_mib == 101.0
    assert rows[BARE].rss_mib == 50.0  # two workers: their mean
    assert math.isnan(summarise([Run(0, FULL, "single", 16, 5, rps=1.0)], CONFIGS)[0].rss_mib)


def test_a_component_is_the_signed_sum_of_its_rows_and_nothing_without_one() -> None:
    component = Component("x", (("a", 1), ("b", -1), ("c", 1)))
    assert component.of({"a": 10.0, "b": 3.0, "c": 1.5}) == 8.5
    assert component.of({"a": 10.0, "b": 3.0}) is None
