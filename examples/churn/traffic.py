"""Sends realistic traffic from the generator to a running service, at a chosen rate, optionally
from a shifted population, so drift can be watched appearing on /drift, /metrics and the
dashboards. Bounded: it stops after --duration seconds or --count requests, whichever is first.
With --invalid, that share of the requests carries a value the schema refuses (a 422: an
unknown category or an age below its bound, in turn), so the rejection metrics move too.

    python -m examples.churn.traffic --rate 50 --duration 120 --shift older
    python -m examples.churn.traffic --invalid 0.1
    make traffic TRAFFIC_ARGS="--shift support_surge --batch 20"
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import sys
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

from examples.churn.generator import SHIFTS, generate

CHUNK = 2000
# What an invalid request gets instead of a valid value, in turn: both are 422s.
SPOILERS: tuple[tuple[str, Any], ...] = (("signup_month", "Juneuary"), ("age", 17))


def records(shift: str, seed: int) -> Iterator[dict[str, Any]]:
    """An endless stream of customers from the named population."""
    population = SHIFTS[shift]
    while True:
        yield from generate(CHUNK, seed=seed, population=population).records()
        seed += 1


def spoil(rows: list[dict[str, Any]], turn: int) -> list[dict[str, Any]]:
    """The rows with the first one's value replaced by one the schema refuses."""
    field, value = SPOILERS[turn % len(SPOILERS)]
    return [{**rows[0], field: value}, *rows[1:]]


def run(
    url: str,
    rate: float,
    duration_s: float,
    count: int | None,
    shift: str,
    batch: int,
    seed: int,
    invalid: float = 0.0,
) -> Counter[str]:
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 80,
                                            timeout=10)  # fmt: skip
    path = "/predict/batch" if batch > 1 else "/predict"
    stream = records(shift, seed)
    chance = random.Random(seed)
    spoiled = 0
    outcomes: Counter[str] = Counter()
    started = time.monotonic()
    sent = 0
    while time.monotonic() - started < duration_s and (count is None or sent < count):
        rows = [next(stream) for _ in range(batch)]
        if invalid and chance.random() < invalid:
            rows = spoil(rows, spoiled)
            spoiled += 1
        body = json.dumps({"rows": rows} if batch > 1 else rows[0])
        try:
            connection.request("POST", path, body, {"content-type": "application/json"})
            response = connection.getresponse()
            response.read()
            outcomes[str(response.status)] += 1
        except (OSError, http.client.HTTPException) as exc:
            outcomes[type(exc).__name__] += 1
            connection.close()
        sent += 1
        # Pace to the target rate: the i-th request leaves at started + i / rate.
        delay = started + sent / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
    connection.close()
    return outcomes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--rate", type=float, default=20.0, help="requests per second")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds, at most")
    parser.add_argument("--count", type=int, default=None, help="requests, at most")
    parser.add_argument("--shift", choices=sorted(SHIFTS), default="reference")
    parser.add_argument("--batch", type=int, default=1, help="rows per request (batch if > 1)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--invalid",
        type=float,
        default=0.0,
        help="share of requests sent with a value the schema refuses (422)",
    )
    args = parser.parse_args(argv)
    if args.rate <= 0 or args.batch < 1 or not 0 <= args.invalid <= 1:
        parser.error("--rate must be positive, --batch at least 1, --invalid in [0, 1]")
    started = time.monotonic()
    outcomes = run(args.url, args.rate, args.duration, args.count, args.shift, args.batch,
                   args.seed, args.invalid)  # fmt: skip
    elapsed = time.monotonic() - started
    total = sum(outcomes.values())
    print(json.dumps({
        "requests": total, "rows": total * args.batch, "seconds": round(elapsed, 2),
        "rate": round(total / elapsed, 1) if elapsed else None, "shift": args.shift,
        "outcomes": dict(outcomes),
    }))  # fmt: skip
    expected = {"200", "422"} if args.invalid else {"200"}
    return 0 if set(outcomes) <= expected else 1


if __name__ == "__main__":
    sys.exit(main())
