"""The test variant of the rules: every time in them scaled down, for a Prometheus that scrapes
every second to evaluate in a minute what the real rules see in an hour.

Every range window (``[5m]``, a subquery's range and step), every ``offset`` and every ``for:``
is multiplied by FACTOR (1/60: an hour becomes a minute, 5m becomes 5s) with a floor of FLOOR
(4 s, four scrape intervals at a 1 s scrape: the least a ``rate()`` can be trusted on). Nothing
else changes: record and alert names (``slo:sli_error:ratio_rate5m`` stays its name over 5s),
labels (``sloth_window="5m"`` too), annotations, numbers and label matchers. So the variant is the
real rules at another speed, written by the generators (``python -m monitoring.slo_rules
--test-variant DIR``), never by hand.
"""

from __future__ import annotations

import re
from datetime import timedelta
from fractions import Fraction
from typing import Any

import promql_parser

FACTOR = Fraction(1, 60)
FLOOR = timedelta(seconds=4)

_UNITS_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000,
             "w": 604_800_000, "y": 31_536_000_000}  # fmt: skip
_DURATION = r"(?:[0-9]+(?:ms|[smhdwy]))+"
# Where PromQL holds a duration: a range or a subquery's [range:step] and after ``offset``.
_RANGE = re.compile(rf"\[\s*({_DURATION})\s*(?::\s*({_DURATION})?\s*)?\]")
_OFFSET = re.compile(rf"\boffset(\s+-?)({_DURATION})")
# PromQL's string literals: label values, never durations.
_STRING = re.compile(r"\"(?:[^\"\\\\]|\\\\.)*\"|'(?:[^'\\\\]|\\\\.)*'|`[^`]*`")


def parse(text: str) -> timedelta:
    """A Prometheus duration (``1h30m``, ``250ms``)."""
    ms = sum(int(n) * _UNITS_MS[u] for n, u in re.findall(r"([0-9]+)(ms|[smhdwy])", text))
    if not re.fullmatch(_DURATION, text):
        raise ValueError(f"not a Prometheus duration: {text!r}")
    return timedelta(milliseconds=ms)


def format_duration(value: timedelta) -> str:
    ms = round(value.total_seconds() * 1000)
    return f"{ms // 1000}s" if ms % 1000 == 0 else f"{ms}ms"


def scaled(value: timedelta) -> timedelta:
    """``value`` times FACTOR, at least FLOOR, to the millisecond."""
    ms = Fraction(round(value.total_seconds() * 1000)) * FACTOR
    return max(FLOOR, timedelta(milliseconds=round(ms)))


def scale_duration(text: str) -> str:
    return format_duration(scaled(parse(text)))


def scale_expr(expr: str) -> str:
    """The PromQL expression with every range, subquery step and offset scaled."""

    def scale_range(match: re.Match[str]) -> str:
        window, step = match.group(1), match.group(2)
        if ":" not in match.group(0):
            return f"[{scale_duration(window)}]"
        return f"[{scale_duration(window)}:{scale_duration(step) if step else ''}]"

    def scale_offset(match: re.Match[str]) -> str:
        return f"offset{match.group(1)}{scale_duration(match.group(2))}"

    parts, last = [], 0
    for string in _STRING.finditer(expr):
        code = expr[last : string.start()]
        parts += [_OFFSET.sub(scale_offset, _RANGE.sub(scale_range, code)), string.group(0)]
        last = string.end()
    parts.append(_OFFSET.sub(scale_offset, _RANGE.sub(scale_range, expr[last:])))
    out = "".join(parts)
    promql_parser.parse(out)  # still PromQL
    return out


def scale_rule(rule: dict[str, Any]) -> dict[str, Any]:
    out = dict(rule)
    out["expr"] = scale_expr(rule["expr"])
    if "for" in rule:
        out["for"] = scale_duration(rule["for"])
    return out


def scale_groups(groups: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every group with its rules scaled (a group's own ``interval`` too, when it has one)."""
    out = []
    for group in groups:
        copy = {**group, "rules": [scale_rule(r) for r in group["rules"]]}
        if "interval" in group:
            copy["interval"] = scale_duration(group["interval"])
        out.append(copy)
    return out
