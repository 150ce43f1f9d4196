"""Records every predicted row's bins, its features' and its probability's, in a fixed number
of numpy calls per request and one write into the worker's counts."""

from __future__ import annotations

import numpy as np

from app.drift.binning import Binner
from app.drift.store import MemoryCounts, SharedCounts


class DriftRecorder:
    def __init__(self, binner: Binner, store: MemoryCounts | SharedCounts) -> None:
        if store.size != binner.size:
            raise ValueError(f"a store of {store.size} bins for a layout of {binner.size}")
        self.binner = binner
        self.store = store

    def record(self, matrix: np.ndarray, probabilities: np.ndarray) -> None:
        """Count the bins of an encoded (n_rows, n_features) matrix and of its rows'
        predicted probabilities."""
        if matrix.shape[0] == 1:
            self.store.add_one_each(
                self.binner.row_indices(matrix[0].tolist(), float(probabilities[0]))
            )
        else:
            self.store.add(self.binner.counts(matrix, probabilities))

    def totals(self) -> np.ndarray:
        """Counts over every worker of the pod."""
        return self.store.total()
