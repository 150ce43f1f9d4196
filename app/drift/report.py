"""The drift report: per feature and for the prediction, observed bins against the reference."""

from __future__ import annotations

from itertools import pairwise
from typing import Any

import numpy as np

from app.drift.binning import Binner
from app.drift.stats import FeatureDrift, compare

PREDICTION = "_prediction"


def prediction_labels(edges: list[float]) -> tuple[str, ...]:
    """Right-closed bins, as Prometheus histogram buckets are: '(-inf,0.03]', ..., '(0.6,+inf)'."""
    bounds = ["-inf", *(f"{e:g}" for e in edges), "+inf"]
    labels = [f"({lo},{hi}]" for lo, hi in pairwise(bounds)]
    labels[-1] = labels[-1][:-1] + ")"
    return tuple(labels)


def feature_drifts(binner: Binner, totals: np.ndarray) -> list[FeatureDrift]:
    out = []
    for f in binner.features:
        counts = totals[f.start : f.stop]
        out.append(
            compare(
                f.name,
                f.labels[:-1],
                f.reference,
                counts[:-1],
                missing=int(counts[-1]),
                reference_missing_rate=f.reference_missing_rate,
                categorical=f.kind == "categorical",
            )
        )
    return out


def prediction_drift(profile: dict[str, Any], bucket_counts: np.ndarray) -> FeatureDrift:
    prediction = profile["prediction"]
    return compare(
        PREDICTION, prediction_labels(prediction["edges"]), tuple(prediction["proportions"]),
        bucket_counts,
    )  # fmt: skip


def drift_report(
    model_version: str, features: list[FeatureDrift], prediction: FeatureDrift
) -> dict[str, Any]:
    return {
        "model_version": model_version,
        "window": "since_start",
        "features": {f.name: f.as_dict() for f in features},
        "prediction": prediction.as_dict(),
    }
