"""The requests the benchmark sends and the answers they must get, taken from the raw model.

wrk rotates through several distinct bodies per endpoint (seeded generator rows, some with
missing features, as real traffic has), so a server cannot get fast by answering one repeated
request from a cache; every body's answer is checked against the raw model.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from app.model.predictor import Predictor
from bench.configs import BATCH, ENDPOINTS, SINGLE
from examples.churn.generator import generate

SEED = 4  # issue 4
SINGLE_BODIES = 128
BATCH_BODIES = 4
TOLERANCE = 1e-12


class WrongAnswerError(Exception):
    """A server answered a known request with something other than the raw model's answer."""


@dataclass(frozen=True, slots=True)
class Body:
    label: str
    data: bytes
    expected: list[float]  # the raw model's churn probabilities, one per row


@dataclass(frozen=True)
class Workload:
    """The bodies wrk sends, per endpoint name, in rotation order."""

    bodies: dict[str, list[Body]]

    def lines(self, endpoint: str) -> bytes:
        """The bodies as wrk's script reads them: one JSON document per line."""
        return b"".join(body.data + b"\n" for body in self.bodies[endpoint])

    def describe(self) -> dict[str, Any]:
        return {
            "seed": SEED,
            "bodies": {name: len(bodies) for name, bodies in self.bodies.items()},
            "rows_per_body": {name: ENDPOINTS[name].rows for name in self.bodies},
            "first_single_body": json.loads(self.bodies[SINGLE.name][0].data),
        }


def build(predictor: Predictor) -> Workload:
    records = list(generate(max(SINGLE_BODIES, BATCH_BODIES * BATCH.rows), SEED).records())

    def proba(rows: list[dict[str, Any]]) -> list[float]:
        return [float(p) for p in predictor.predict_proba(rows)]

    single = [
        Body(f"row {i}", json.dumps(row).encode(), proba([row]))
        for i, row in enumerate(records[:SINGLE_BODIES])
    ]
    batches = [records[i * BATCH.rows : (i + 1) * BATCH.rows] for i in range(BATCH_BODIES)]
    batch = [
        Body(f"batch {i}", json.dumps({"rows": rows}).encode(), proba(rows))
        for i, rows in enumerate(batches)
    ]
    return Workload({SINGLE.name: single, BATCH.name: batch})


def probabilities(doc: Any) -> list[float]:
    """The churn probabilities in a response, from the service's or the bare reference's shape."""
    if isinstance(doc, dict) and isinstance(doc.get("predictions"), list):
        return [float(p["churn_probability"]) for p in doc["predictions"]]
    value = doc["churn_probability"]
    return [float(v) for v in value] if isinstance(value, list) else [float(value)]


def compare(label: str, doc: Any, expected: list[float]) -> None:
    try:
        got = probabilities(doc)
    except (KeyError, TypeError, ValueError) as exc:
        raise WrongAnswerError(f"{label}: no churn probabilities in {str(doc)[:200]!r}") from exc
    if len(got) != len(expected):
        raise WrongAnswerError(f"{label}: {len(got)} probabilities, expected {len(expected)}")
    for i, (g, e) in enumerate(zip(got, expected, strict=True)):
        if not math.isclose(g, e, rel_tol=0.0, abs_tol=TOLERANCE):
            raise WrongAnswerError(f"{label}: row {i} is {g!r}, the raw model says {e!r}")
