"""An independent oracle for drift: bins raw records with np.histogram on the profile's edges,
predicts with the raw model (tests/support/raw_model.py: LightGBM on a matrix encoded by hand),
and writes PSI out by hand. It imports nothing from app/; the profile and the card are read as
JSON."""

from __future__ import annotations

import json
import math
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
from scipy.spatial.distance import jensenshannon

from tests.support.raw_model import RawModel

EPSILON = 1e-4
PREDICTION = "_prediction"
MISSING = "missing"


def _edge(value: float) -> str:
    return f"{value:g}"


def numeric_labels(edges: list[float]) -> list[str]:
    """Left-closed bins with open outer bins, as the README documents them:
    '(-inf,e1)', '[e1,e2)', ..., '[ek,+inf)'."""
    bounds = ["-inf", *map(_edge, edges), "+inf"]
    labels = [f"[{lo},{hi})" for lo, hi in pairwise(bounds)]
    return ["(" + labels[0][1:], *labels[1:]]


def prediction_labels(edges: list[float]) -> list[str]:
    """Right-closed bins, as Prometheus buckets are: '(-inf,e1]', ..., '(ek,+inf)'."""
    bounds = ["-inf", *map(_edge, edges), "+inf"]
    labels = [f"({lo},{hi}]" for lo, hi in pairwise(bounds)]
    return [*labels[:-1], labels[-1][:-1] + ")"]


class Oracle:
    def __init__(self, model_dir: Path) -> None:
        self.model = RawModel(model_dir)
        self.card = self.model.card
        self.profile = json.loads((model_dir / "reference_profile.json").read_text())

    def _column(self, records: list[dict[str, Any]], feature: dict[str, Any]) -> list[Any]:
        return [r.get(feature["name"]) for r in records]

    def labels(self, feature: str) -> list[str]:
        """The value bins' labels of a feature (or of the prediction), missing bin excluded."""
        if feature == PREDICTION:
            return prediction_labels(self.profile["prediction"]["edges"])
        entry = self.profile["features"][feature]
        if entry["type"] == "numeric":
            return numeric_labels(entry["edges"])
        return list(entry["categories"])

    def reference(self, feature: str) -> list[float]:
        """The profile's proportions of a feature's (or the prediction's) value bins."""
        if feature == PREDICTION:
            return list(self.profile["prediction"]["proportions"])
        return list(self.profile["features"][feature]["proportions"])

    def feature_counts(self, records: list[dict[str, Any]]) -> dict[str, tuple[list[int], int]]:
        """{feature: (value-bin counts, missing count)}."""
        out = {}
        for feature in self.card["features"]:
            values = self._column(records, feature)
            present = [v for v in values if v is not None]
            missing = len(values) - len(present)
            entry = self.profile["features"][feature["name"]]
            if entry["type"] == "numeric":
                edges = [-math.inf, *entry["edges"], math.inf]
                counts, _ = np.histogram(np.array(present, dtype=float), bins=edges)
                out[feature["name"]] = ([int(c) for c in counts], missing)
            else:
                keys = [str(v).lower() if isinstance(v, bool) else v for v in present]
                out[feature["name"]] = ([keys.count(c) for c in entry["categories"]], missing)
        return out

    def predictions(self, records: list[dict[str, Any]]) -> np.ndarray:
        return np.asarray(self.model.predict(records))

    def prediction_counts(self, records: list[dict[str, Any]]) -> list[int]:
        # Right-closed bins (Prometheus buckets): negate to use np.histogram's left-closed bins.
        edges = self.profile["prediction"]["edges"]
        flipped = [-math.inf, *sorted(-e for e in edges), math.inf]
        counts, _ = np.histogram(-self.predictions(records), bins=flipped)
        return [int(c) for c in counts[::-1]]

    def bin_counts(self, records: list[dict[str, Any]]) -> dict[tuple[str, str], int]:
        """{(feature, bin label): count} for every bin /metrics exposes: each feature's value
        bins and its missing bin, and the prediction's bins."""
        out = {}
        for feature, (counts, missing) in self.feature_counts(records).items():
            out.update(zip(((feature, b) for b in self.labels(feature)), counts, strict=True))
            out[(feature, MISSING)] = missing
        labels = self.labels(PREDICTION)
        out.update(zip(((PREDICTION, b) for b in labels), self.prediction_counts(records),
                       strict=True))  # fmt: skip
        return out

    @staticmethod
    def psi(reference: list[float], counts: list[int]) -> float:
        total = sum(counts)
        value = 0.0
        for ref, count in zip(reference, counts, strict=True):
            p = max(ref, EPSILON)
            q = max(count / total, EPSILON)
            value += (q - p) * math.log(q / p)
        return value

    @staticmethod
    def js(reference: list[float], counts: list[int]) -> float:
        return float(jensenshannon(reference, np.array(counts) / sum(counts), base=2))
