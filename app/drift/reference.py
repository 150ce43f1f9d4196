"""Making a reference profile from a population: decile edges and bin proportions per feature,
and the predicted probabilities' deciles (the format, typed and checked, is
``app/model/profile.py``'s :class:`~app.model.profile.ReferenceProfile`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

import numpy as np

from app.model.contract import FeatureContract, FeatureKind
from app.model.profile import (
    CategoricalBins,
    NumericBins,
    ReferenceProfile,
    categories_of,
)

QUANTILES = tuple(i / 10 for i in range(1, 10))
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


def build_profile(
    contract: FeatureContract,
    columns: Mapping[str, np.ndarray],
    probabilities: np.ndarray,
    model_version: str | None = None,
) -> ReferenceProfile:
    """The profile of a population given column-wise (NaN / None for missing)."""
    features: dict[str, NumericBins | CategoricalBins] = {}
    for feature in contract:
        column = columns[feature.name]
        n = len(column)
        if feature.is_numeric:
            values = np.asarray(column, dtype=np.float64)
            edges = quantile_edges(values)
            counts = numeric_bin_counts(values, edges)
            features[feature.name] = NumericBins(
                type="numeric",
                closed="left",
                edges=tuple(edges),
                proportions=tuple(_proportions(counts)),
                missing_rate=round(float(np.isnan(values).mean()), _DECIMALS),
            )
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
            features[feature.name] = CategoricalBins(
                type="categorical",
                categories=labels,
                proportions=tuple(_proportions(counts)),
                missing_rate=round(1.0 - len(present) / n, _DECIMALS) if n else 0.0,
            )
    edges = quantile_edges(probabilities, decimals=4)
    prediction = NumericBins(
        type="numeric",
        closed="right",
        edges=tuple(edges),
        proportions=tuple(_proportions(numeric_bin_counts(probabilities, edges, closed="right"))),
        missing_rate=0.0,
    )
    return ReferenceProfile(
        model_version=model_version,
        rows=len(probabilities),
        features=features,
        prediction=prediction,
    )
