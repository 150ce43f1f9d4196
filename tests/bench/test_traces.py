"""Issue 29's rule for exporting rows: one whose receiver missed more than 0.1 % of the spans it
sampled (dropped by the service, or exported and lost on the way) measured less work than it
claims, and is invalid."""

from __future__ import annotations

import math

from bench.traces import invalid, lost_share


def account(sampled: int, received: int, dropped: int = 0) -> dict[str, object]:
    return {
        "sampled": sampled, "exported": sampled - dropped, "received": received,
        "dropped": {"queue_full": dropped}, "requests": sampled * 10,
    }  # fmt: skip


def test_up_to_a_thousandth_of_the_sampled_spans_lost_is_still_valid() -> None:
    assert invalid({"a": account(10_000, 10_000), "b": account(10_000, 9_990, dropped=10)}) == {}


def test_over_a_thousandth_lost_makes_the_row_invalid_whether_dropped_or_not_received() -> None:
    found = invalid({
        "dropped": account(10_000, 9_989, dropped=11),
        "in transit": account(10_000, 9_989),
        "fine": account(10_000, 9_990),
    })  # fmt: skip
    assert set(found) == {"dropped", "in transit"}
    assert found["dropped"].startswith("0.11% of its 10000 sampled spans lost (dropped 11")


def test_a_row_that_sampled_nothing_is_invalid() -> None:
    assert invalid({"off": account(0, 0)}) == {"off": "no span was sampled"}


def test_the_lost_share_is_of_the_sampled_and_never_negative() -> None:
    assert lost_share(2000, 1999) == 0.0005
    assert lost_share(2000, 2001) == 0.0  # the receiver counted a span twice: not a gain
    assert math.isnan(lost_share(0, 0))
