"""The reference profile: what the training population looked like, as bin proportions.

Numeric features are binned on training quantiles with open outer bins, so values beyond the
training range still land somewhere: bin 0 is (-inf, e1), bin i is [e_i, e_{i+1}), the last bin
is [e_k, +inf). Categorical and boolean features are binned by value in card order. Missing
values are counted apart (``missing_rate``); proportions are over the values present.

The predicted probability is binned on its deciles too, but with Prometheus' histogram convention
(``closed: "right"``: bin i is (e_{i-1}, e_i], a value equal to an edge falls in the bin below),
so the prediction histogram on /metrics counts exactly these bins and nothing records it twice.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import numpy as np

from app.model.contract import FeatureContract, FeatureKind

QUANTILES = tuple(i / 10 for i in range(1, 10))
BOOLEAN_CATEGORIES = ("false", "true")
_DECIMALS = 6


def quantile_edges(values: np.ndarray, decimals: int = _DECIMALS) -> list[float]:
    """Interior bin edges at the deciles of the values present (duplicates removed)."""
    present = values[~np.isnan(values)]
    if present.size == 0:
        return []
    edges = np.unique(np.round(np.quantile(present, QUANTILES), decimals))
    return [float(e) for e in edges]


def numeric_bin_counts(values: np.ndarray, edges: list[float], closed: str = "left") -> np.ndarray:
    """Counts per bin (len(edges) + 1 bins) of the values present; ``closed`` says which end
    of a bin includes its edge ("left": [e_i, e_{i+1}), "right": (e_i, e_{i+1}])."""
    present = values[~np.isnan(values)]
    side: Literal["left", "right"] = "right" if closed == "left" else "left"
    index = np.searchsorted(np.asarray(edges, dtype=np.float64), present, side=side)
    return np.bincount(index, minlength=len(edges) + 1)


def _proportions(counts: np.ndarray) -> list[float]:
    total = counts.sum()
    if total == 0:
        return [0.0] * len(counts)
    return [round(float(c) / float(total), _DECIMALS) for c in counts]


def categories_of(kind: FeatureKind, categories: tuple[str, ...]) -> tuple[str, ...]:
    return BOOLEAN_CATEGORIES if kind is FeatureKind.BOOLEAN else categories


def build_profile(
    contract: FeatureContract,
    columns: Mapping[str, np.ndarray],
    probabilities: np.ndarray,
) -> dict[str, Any]:
    """The profile of a population given column-wise (NaN / None for missing)."""
    features: dict[str, Any] = {}
    for feature in contract:
        column = columns[feature.name]
        n = len(column)
        if feature.is_numeric:
            values = np.asarray(column, dtype=np.float64)
            edges = quantile_edges(values)
            counts = numeric_bin_counts(values, edges)
            features[feature.name] = {
                "type": "numeric",
                "closed": "left",
                "edges": edges,
                "proportions": _proportions(counts),
                "missing_rate": round(float(np.isnan(values).mean()), _DECIMALS),
            }
        else:
            labels = categories_of(feature.kind, feature.categories)
            raw = column.tolist()
            present = [v for v in raw if v is not None]
            keyed = (
                [str(v).lower() for v in present]
                if feature.kind is FeatureKind.BOOLEAN
                else present
            )
            counts = np.array([keyed.count(label) for label in labels])
            features[feature.name] = {
                "type": "categorical",
                "categories": list(labels),
                "proportions": _proportions(counts),
                "missing_rate": round(1.0 - len(present) / n, _DECIMALS) if n else 0.0,
            }
    edges = quantile_edges(probabilities, decimals=4)
    prediction = {
        "type": "numeric",
        "closed": "right",
        "edges": edges,
        "proportions": _proportions(numeric_bin_counts(probabilities, edges, closed="right")),
        "missing_rate": 0.0,
    }
    return {"rows": len(probabilities), "features": features, "prediction": prediction}


def load_profile(path: Path) -> dict[str, Any]:
    doc = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(doc, dict) or "features" not in doc or "prediction" not in doc:
        raise ValueError(f"{path} is not a reference profile")
    return doc
