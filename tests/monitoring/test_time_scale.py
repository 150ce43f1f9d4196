"""The test variant of the rules (monitoring/time_scale.py, written by ``python -m
monitoring.slo_rules --test-variant``): every duration is the real one's scaled, nothing else
differs. The durations are read back with promql-parser's syntax tree, not the scaler's regexes."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import promql_parser
import pytest

from monitoring import slo_rules, time_scale
from tests.monitoring.test_rules import promtool
from tests.support.rules import MONITORING, load

SCRAPE = timedelta(seconds=1)


def expected(original: timedelta) -> timedelta:
    """The scaling, worked independently: a sixtieth, at least four 1 s scrape intervals."""
    return max(original / 60, 4 * SCRAPE)


def durations(expr: str) -> list[tuple[str, timedelta]]:
    """Every duration of the expression, in the order the syntax tree holds them."""
    found: list[tuple[str, timedelta]] = []

    def visit(node: promql_parser.Expr) -> None:
        if isinstance(node, promql_parser.MatrixSelector):
            found.append(("range", node.range))
        if isinstance(node, promql_parser.SubqueryExpr):
            found.append(("range", node.range))
            if node.step is not None:
                found.append(("step", node.step))
        offset = getattr(node, "offset", None)  # a vector selector's or a subquery's
        if offset is not None:
            found.append(("offset", offset))

    promql_parser.walk(promql_parser.parse(expr), visit)
    return found


@pytest.fixture(scope="module")
def variant(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return slo_rules.test_variant(tmp_path_factory.mktemp("variant"))


def pairs(variant: list[Path]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    out = []
    for path in variant:
        real = load(MONITORING / "rules" / path.name)["groups"]
        scaled = load(path)["groups"]
        assert [g["name"] for g in scaled] == [g["name"] for g in real]
        for real_group, scaled_group in zip(real, scaled, strict=True):
            out += list(zip(real_group["rules"], scaled_group["rules"], strict=True))
    return out


def test_the_variant_has_every_rule_file_prometheus_loads(variant: list[Path]) -> None:
    config = load(MONITORING / "prometheus.yml")
    assert [p.name for p in variant] == [Path(f).name for f in config["rule_files"]]
    promtool("check", "rules", *map(str, variant))


def test_every_duration_is_the_real_ones_scaled_and_nothing_else_changes(
    variant: list[Path],
) -> None:
    rules = pairs(variant)
    assert len(rules) > 70
    scaled_count = 0
    for real, scaled in rules:
        assert real.keys() == scaled.keys()
        for key in real.keys() - {"expr", "for"}:
            assert scaled[key] == real[key], (key, real.get("record") or real.get("alert"))
        if "for" in real:
            want = expected(promql_parser.parse_duration(real["for"]))
            assert promql_parser.parse_duration(scaled["for"]) == want
        got, was = durations(scaled["expr"]), durations(real["expr"])
        assert [kind for kind, _ in got] == [kind for kind, _ in was], real["expr"]
        assert [d for _, d in got] == [expected(d) for _, d in was], real["expr"]
        scaled_count += len(was)
        # Outside its brackets and offsets, the expression is the same text.
        strip = re.compile(r"\[[^\]]*\]|offset\s+-?[0-9a-z]+")
        assert strip.sub("", scaled["expr"]) == strip.sub("", real["expr"])
    assert scaled_count > 50


def test_the_shortest_window_is_four_scrape_intervals_and_the_sloth_windows_keep_their_names(
    variant: list[Path],
) -> None:
    rules = [scaled for _, scaled in pairs(variant)]
    windows = [d for r in rules for kind, d in durations(r["expr"]) if kind == "range"]
    assert min(windows) == 4 * SCRAPE + timedelta(seconds=1)  # 5m: 5 s
    assert max(windows) == timedelta(hours=12)  # Sloth's 30 d: 12 h
    records = {r["record"] for r in rules if "record" in r}
    assert {"slo:sli_error:ratio_rate5m", "slo:sli_error:ratio_rate30d"} <= records
    five = next(r for r in rules if r.get("record") == "slo:sli_error:ratio_rate5m")
    assert five["labels"]["sloth_window"] == "5m"
    assert "[5s]" in five["expr"]


@pytest.mark.parametrize(
    ("text", "want"),
    [("5m", "5s"), ("2m", "4s"), ("90s", "4s"), ("1h30m", "90s"), ("30d", "43200s"),
     ("5m10s", "5167ms")],
)  # fmt: skip
def test_scale_duration(text: str, want: str) -> None:
    assert time_scale.scale_duration(text) == want


def test_subqueries_and_offsets_are_scaled_too() -> None:
    expr = "max_over_time(rate(x[10m] offset 1h)[30m:1m]) - y offset -2h"
    assert time_scale.scale_expr(expr) == (
        "max_over_time(rate(x[10s] offset 60s)[30s:4s]) - y offset -120s"
    )
    # A duration-like text inside a string is a label value, not a duration.
    assert time_scale.scale_expr("x{a=\"[5m]\", b=~'offset 1h'}[5m]") == (
        "x{a=\"[5m]\", b=~'offset 1h'}[5s]"
    )
