"""Drift statistics over bin counts: pure functions of numbers.

Counts merge by addition, so every statistic here can be computed for one worker, one pod or a
fleet from the same additive state.

* PSI (population stability index), with empty bins smoothed: each proportion is clamped to at
  least ``EPSILON`` (1e-4) before ``sum((q - p) * ln(q / p))``. The clamp is what a Prometheus
  recording rule can express too (``clamp_min``), so pod and fleet PSI agree.
* Jensen-Shannon distance, base 2, in [0, 1] (``scipy.spatial.distance.jensenshannon``).
* Chi-square goodness of fit against the reference proportions (``scipy.stats.chisquare``),
  for categorical features: reported, never used for a status (with many rows every difference
  is "significant").
* Missing-rate difference: observed minus reference.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from pydantic import BaseModel, ConfigDict
from scipy.spatial.distance import jensenshannon
from scipy.stats import chisquare

EPSILON = 1e-4


def proportions(counts: np.ndarray) -> np.ndarray:
    total = counts.sum()
    if total == 0:
        return np.zeros(len(counts), dtype=np.float64)
    return np.asarray(counts, dtype=np.float64) / float(total)


def psi(reference: np.ndarray, observed: np.ndarray, epsilon: float = EPSILON) -> float:
    """PSI between two proportion vectors (each summing to 1), empty bins clamped to epsilon."""
    p = np.maximum(np.asarray(reference, dtype=np.float64), epsilon)
    q = np.maximum(np.asarray(observed, dtype=np.float64), epsilon)
    return float(np.sum((q - p) * np.log(q / p)))


def js_distance(reference: np.ndarray, observed: np.ndarray) -> float:
    """Jensen-Shannon distance, base 2: 0 for equal distributions, 1 for disjoint ones."""
    if len(reference) < 2:
        return 0.0
    return float(jensenshannon(reference, observed, base=2))


@dataclass(frozen=True)
class ChiSquare:
    statistic: float
    p_value: float


def chi_square(reference: np.ndarray, counts: np.ndarray, epsilon: float = EPSILON) -> ChiSquare:
    """Goodness of fit of observed counts to the reference proportions (smoothed, renormalised
    so that expected and observed totals agree)."""
    n = float(counts.sum())
    if n == 0 or len(counts) < 2:
        return ChiSquare(0.0, 1.0)
    expected = np.maximum(np.asarray(reference, dtype=np.float64), epsilon)
    expected = expected / expected.sum() * n
    result = chisquare(np.asarray(counts, dtype=np.float64), expected)
    return ChiSquare(float(result.statistic), float(result.pvalue))


class Bin(BaseModel):
    """One value bin: its label, the reference's proportion and the observed one."""

    model_config = ConfigDict(frozen=True)

    bin: str
    reference: float
    observed: float


class FeatureDrift(BaseModel):
    """One feature (or the prediction) against its reference, as the drift report shows it."""

    model_config = ConfigDict(frozen=True)

    count: int  # values present
    missing: int
    psi: float | None
    js_distance: float | None
    chi_square: ChiSquare | None
    missing_rate: float | None
    missing_rate_difference: float | None
    bins: tuple[Bin, ...]


def compare(
    labels: tuple[str, ...],
    reference: tuple[float, ...],
    counts: np.ndarray,
    missing: int = 0,
    reference_missing_rate: float = 0.0,
    categorical: bool = False,
) -> FeatureDrift:
    """Statistics of observed value-bin counts (and a missing count) against the reference.

    With no values observed there is nothing to compare: the statistics are None.
    """
    present = int(counts.sum())
    total = present + missing
    observed = proportions(counts)
    ref = np.asarray(reference, dtype=np.float64)
    return FeatureDrift(
        count=present,
        missing=missing,
        psi=psi(ref, observed) if present else None,
        js_distance=js_distance(ref, observed) if present else None,
        chi_square=chi_square(ref, counts) if present and categorical else None,
        missing_rate=missing / total if total else None,
        missing_rate_difference=missing / total - reference_missing_rate if total else None,
        bins=tuple(
            Bin(bin=label, reference=share, observed=float(seen))
            for label, share, seen in zip(labels, reference, observed, strict=True)
        ),
    )
