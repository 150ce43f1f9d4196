"""A last check before a compiled engine serves: on rows drawn from the card's own contract
(every feature within its validity bounds, every category, missing values), its probabilities
must equal LightGBM's. Cheap (a few hundred rows, milliseconds), it catches an artifact that
verified by its hashes but is not this model's trees (a manifest written for another one)."""

from __future__ import annotations

import numpy as np

from app.model.contract import FeatureContract, FeatureKind
from app.model.engines import Engine

PROBE_ROWS = 512
MISSING_SHARE = 0.1


def probe_matrix(contract: FeatureContract, rows: int = PROBE_ROWS, seed: int = 0) -> np.ndarray:
    """Encoded rows within the contract: uniform in each numeric feature's bounds (integers
    rounded), every category and both booleans, and a share of missing values."""
    rng = np.random.default_rng(seed)
    matrix = np.empty((rows, len(contract)), dtype=np.float64)
    for j, feature in enumerate(contract):
        if feature.kind is FeatureKind.CATEGORY:
            column = rng.integers(0, len(feature.categories), rows).astype(np.float64)
        elif feature.kind is FeatureKind.BOOLEAN:
            column = rng.integers(0, 2, rows).astype(np.float64)
        else:
            lo, hi = float(feature.minimum or 0.0), float(feature.maximum or 0.0)
            column = rng.uniform(lo, hi, rows)
            if feature.kind is FeatureKind.INTEGER:
                column = np.rint(column)
        column[rng.random(rows) < MISSING_SHARE] = np.nan
        matrix[:, j] = column
    return matrix


def agreement(contract: FeatureContract, reference: Engine, candidate: Engine) -> str | None:
    """None when ``candidate`` answers ``reference``'s probabilities on the probe rows bit for
    bit (what tests/model/test_engine_equality.py proves on tens of thousands of rows), else
    what differs."""
    matrix = probe_matrix(contract)
    expected, got = reference.predict(matrix), candidate.predict(matrix)
    if got.shape != expected.shape:
        return f"{got.shape} probabilities for {expected.shape}"
    unequal = int(np.count_nonzero(got.view(np.uint64) != expected.view(np.uint64)))
    if unequal:
        difference = float(np.nanmax(np.abs(got - expected), initial=0.0))
        return f"{unequal} of {len(matrix)} probe rows differ, by up to {difference:.3g}"
    return None
