"""Sends realistic traffic from the generator to a running service, at a chosen rate, optionally
from a shifted population, so drift can be watched appearing on /drift, /metrics and the
dashboards. Bounded: it stops after --duration seconds or --count requests, whichever is first.

    python -m examples.churn.traffic --rate 50 --duration 120 --shift older
    make traffic TRAFFIC_ARGS="--shift support_surge --batch 20"
"""

from __future__ import annotations

import argparse
import http.client
import json
import sys
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

from examples.churn.generator import SHIFTS, generate

CHUNK = 2000


def records(shift: str, seed: int) -> Iterator[dict[str, Any]]:
    """An endless stream of customers from the named population."""
    population = SHIFTS[shift]
    while True:
        yield from generate(CHUNK, seed=seed, population=population).records()
        seed += 1


def run(
    url: str, rate: float, duration_s: float, count: int | None, shift: str, batch: int, seed: int
) -> Counter[str]:
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 80,
                                            timeout=10)  # fmt: skip
    path = "/predict/batch" if batch > 1 else "/predict"
    stream = records(shift, seed)
    outcomes: Counter[str] = Counter()
    started = time.monotonic()
    sent = 0
    while time.monotonic() - started < duration_s and (count is None or sent < count):
        rows = [next(stream) for _ in range(batch)]
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
    args = parser.parse_args(argv)
    if args.rate <= 0 or args.batch < 1:
        parser.error("--rate must be positive and --batch at least 1")
    started = time.monotonic()
    outcomes = run(args.url, args.rate, args.duration, args.count, args.shift, args.batch,
                   args.seed)  # fmt: skip
    elapsed = time.monotonic() - started
    total = sum(outcomes.values())
    print(json.dumps({
        "requests": total, "rows": total * args.batch, "seconds": round(elapsed, 2),
        "rate": round(total / elapsed, 1) if elapsed else None, "shift": args.shift,
        "outcomes": dict(outcomes),
    }))  # fmt: skip
    return 0 if set(outcomes) <= {"200"} else 1


if __name__ == "__main__":
    sys.exit(main())
