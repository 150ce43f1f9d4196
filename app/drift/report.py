"""The drift report: per feature and for the prediction, observed bins against the reference,
with a status once there are enough samples."""

from __future__ import annotations

from itertools import pairwise
from typing import Any

import numpy as np

from app.drift.binning import Binner
from app.drift.stats import FeatureDrift, compare
from app.drift.status import Thresholds, status

PREDICTION = "_prediction"


def prediction_labels(edges: list[float]) -> tuple[str, ...]:
    """Right-closed bins, as Prometheus histogram buckets are: '(-inf,0.03]', ..., '(0.6,+inf)'."""
    bounds = ["-inf", *(f"{e:g}" for e in edges), "+inf"]
    labels = [f"({lo},{hi}]" for lo, hi in pairwise(bounds)]
    labels[-1] = labels[-1][:-1] + ")"
    return tuple(labels)


class DriftAnalysis:
    """Turns one count vector (the features' bins, then the prediction's bins) into a report
    section. The layout is the binner's, then one entry per prediction bin."""

    def __init__(self, binner: Binner, profile: dict[str, Any], thresholds: Thresholds) -> None:
        self.binner = binner
        self.thresholds = thresholds
        prediction = profile["prediction"]
        self.prediction_labels = prediction_labels(prediction["edges"])
        self.prediction_reference = tuple(prediction["proportions"])
        self.size = binner.size + len(self.prediction_labels)

    def combine(self, features: np.ndarray, prediction: np.ndarray) -> np.ndarray:
        if prediction.size != len(self.prediction_labels):
            prediction = np.zeros(len(self.prediction_labels), dtype=np.int64)
        return np.concatenate([features, prediction]).astype(np.int64)

    def drifts(self, counts: np.ndarray) -> list[FeatureDrift]:
        out = []
        for f in self.binner.features:
            bins = counts[f.start : f.stop]
            out.append(
                compare(
                    f.name,
                    f.labels[:-1],
                    f.reference,
                    bins[:-1],
                    missing=int(bins[-1]),
                    reference_missing_rate=f.reference_missing_rate,
                    categorical=f.kind == "categorical",
                )
            )
        out.append(
            compare(
                PREDICTION,
                self.prediction_labels,
                self.prediction_reference,
                counts[self.binner.size :],
            )
        )
        return out

    def section(self, counts: np.ndarray) -> dict[str, Any]:
        """{"features": {...}, "prediction": {...}}, each entry with its status."""
        entries = {}
        for drift in self.drifts(counts):
            entry = drift.as_dict()
            entry["status"] = status(
                drift.psi, drift.js_distance, drift.missing_rate_difference,
                drift.count + drift.missing, self.thresholds,
            ).value  # fmt: skip
            entries[drift.name] = entry
        prediction = entries.pop(PREDICTION)
        return {"features": entries, "prediction": prediction}
