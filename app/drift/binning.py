"""Bins a prediction request's rows against the reference profile: every feature of every row,
and every row's predicted probability.

The layout is one flat count array. Feature j owns a slice of it: its value bins, then one
"missing" bin. Numeric features use the profile's edges (bin 0 is (-inf, e1), the last [ek, +inf));
categorical features their categories in card order; booleans false/true. The prediction's bins
come last: the profile's prediction edges, closed on the right as Prometheus histogram buckets
are (bin 0 is (-inf, e1], the last (ek, +inf)), so they count what the probability histogram
counts.

A batch takes one ``np.searchsorted`` per feature on the feature's own edges, and one for the
probabilities: a fixed number of numpy calls however many rows, and one ``np.bincount``. (One
search over all features' edges, each feature shifted into a range of its own, saved a few calls
but was wrong: the shift rounds a value a few ulps below an edge onto it, a bin too high.
``13.03 * 3`` is such a value for the bundled profile.)

One row (the common request) takes a plain-Python path instead: a ``bisect`` per feature and
one for the probability cost a fraction of the numpy calls on one row. Tests check that both
paths agree with each other and with an independent histogram, on every edge and the floats
either side of it.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

import numpy as np

from app.model.contract import FeatureContract
from app.model.profile import NumericBins, ReferenceProfile

MISSING = "missing"


def _format_edge(value: float) -> str:
    return f"{value:g}"


def numeric_labels(edges: list[float]) -> list[str]:
    """Bin labels: '(-inf,24)', '[24,30)', ..., '[60,+inf)'."""
    if not edges:
        return ["(-inf,+inf)"]
    bounds = ["-inf", *map(_format_edge, edges), "+inf"]
    labels = [f"[{lo},{hi})" for lo, hi in pairwise(bounds)]
    labels[0] = "(" + labels[0][1:]
    return labels


def prediction_labels(edges: Sequence[float]) -> tuple[str, ...]:
    """Right-closed bins, as Prometheus histogram buckets are: '(-inf,0.03]', ..., '(0.6,+inf)'."""
    bounds = ["-inf", *map(_format_edge, edges), "+inf"]
    labels = [f"({lo},{hi}]" for lo, hi in pairwise(bounds)]
    labels[-1] = labels[-1][:-1] + ")"
    return tuple(labels)


@dataclass(frozen=True)
class FeatureBins:
    """Where one feature's bins sit in the flat count array."""

    name: str
    kind: str  # "numeric" or "categorical"
    labels: tuple[str, ...]  # value bins, then MISSING
    start: int
    reference: tuple[float, ...]  # reference proportions of the value bins (present values)
    reference_missing_rate: float

    @property
    def stop(self) -> int:
        return self.start + len(self.labels)

    @property
    def value_bins(self) -> int:
        return len(self.labels) - 1


@dataclass(frozen=True)
class PredictionBins:
    """Where the predicted probability's bins sit: after every feature's, to the end."""

    labels: tuple[str, ...]
    start: int
    reference: tuple[float, ...]

    @property
    def stop(self) -> int:
        return self.start + len(self.labels)


class Binner:
    """Turns an encoded matrix (the model's input, NaN for missing) and its predicted
    probabilities into bin counts."""

    def __init__(self, contract: FeatureContract, profile: ReferenceProfile) -> None:
        features: list[FeatureBins] = []
        edges_of: list[np.ndarray] = []
        start = 0
        for feature in contract:
            entry = profile.feature(feature.name)
            if isinstance(entry, NumericBins):
                edges = np.asarray(entry.edges, dtype=np.float64)
                labels = numeric_labels(list(entry.edges))
                kind = "numeric"
            else:
                labels = list(entry.categories)
                # Category codes (and booleans as 0/1) are binned by half-integer edges.
                edges = np.arange(len(labels) - 1, dtype=np.float64) + 0.5
                kind = "categorical"
            edges_of.append(edges)
            features.append(
                FeatureBins(
                    name=feature.name,
                    kind=kind,
                    labels=(*labels, MISSING),
                    start=start,
                    reference=entry.proportions,
                    reference_missing_rate=entry.missing_rate,
                )
            )
            start += len(labels) + 1
        self.features = tuple(features)
        self.prediction = PredictionBins(
            labels=prediction_labels(profile.prediction.edges),
            start=start,
            reference=profile.prediction.proportions,
        )
        self.size = self.prediction.stop
        self._edges = tuple(edges_of)
        self._starts = np.asarray([[f.start] for f in features], dtype=np.intp)
        self._missing = np.asarray([f.stop - 1 for f in features], dtype=np.intp)
        # One row's path: per feature, its edges as a tuple, first bin and missing bin.
        self._per_feature = tuple(
            (tuple(edges.tolist()), f.start, f.stop - 1)
            for edges, f in zip(edges_of, features, strict=True)
        )
        self._prediction_edges = tuple(profile.prediction.edges)
        self._prediction_edges_array = np.asarray(self._prediction_edges, dtype=np.float64)
        if contract.names != [f.name for f in features]:  # pragma: no cover - by construction
            raise ValueError("binner layout does not follow the contract")

    def indices(self, matrix: np.ndarray) -> np.ndarray:
        """The flat bin index of every cell of an (n_rows, n_features) encoded matrix."""
        by_feature = matrix.T
        index = np.empty(by_feature.shape, dtype=np.intp)
        for j, edges in enumerate(self._edges):
            # NaN sorts past every edge; np.where sends it to the missing bin.
            index[j] = np.searchsorted(edges, by_feature[j], side="right")
        index += self._starts
        return np.where(np.isnan(matrix), self._missing, index.T)

    def prediction_indices(self, probabilities: np.ndarray) -> np.ndarray:
        """The flat bin index of each probability (right-closed: an edge is its bin's top)."""
        index = np.searchsorted(self._prediction_edges_array, probabilities, side="left")
        return index + self.prediction.start

    def row_indices(self, row: Sequence[float], probability: float) -> list[int]:
        """The flat bin index of each feature of one encoded row (NaN for missing), then of its
        probability: the same as ``indices`` and ``prediction_indices`` give for one row."""
        out = [
            missing if value != value else start + bisect_right(edges, value)
            for value, (edges, start, missing) in zip(row, self._per_feature, strict=True)
        ]
        out.append(self.prediction.start + bisect_left(self._prediction_edges, probability))
        return out

    def counts(self, matrix: np.ndarray, probabilities: np.ndarray) -> np.ndarray:
        """Bin counts of a batch and its probabilities, as one int64 array of the layout's
        size."""
        index = np.concatenate(
            (self.indices(matrix).ravel(), self.prediction_indices(probabilities))
        )
        return np.bincount(index, minlength=self.size)

    def feature(self, name: str) -> FeatureBins:
        for feature in self.features:
            if feature.name == name:
                return feature
        raise KeyError(name)
