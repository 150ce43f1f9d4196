"""Turns records into the float64 matrix the model takes, straight from the feature contract.

Category codes are the category's index in the card; booleans are 0/1; a missing value (an
absent key or ``None``) is NaN, which LightGBM routes with its learned missing-value branch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from app.model.contract import FeatureContract, FeatureKind

NAN = float("nan")


class Encoder:
    """Encodes validated records; it trusts its input to satisfy the contract."""

    def __init__(self, contract: FeatureContract) -> None:
        self.contract = contract
        self.names = tuple(contract.names)
        # One lookup per categorical feature; None (missing) maps to NaN through .get's default.
        self._codes: dict[str, dict[Any, float]] = {
            f.name: {c: float(i) for i, c in enumerate(f.categories)}
            for f in contract
            if f.kind is FeatureKind.CATEGORY
        }

    def encode_row(self, row: Mapping[str, Any]) -> np.ndarray:
        """One record -> a (1, n_features) matrix."""
        codes = self._codes
        values = [
            codes[name].get(row.get(name), NAN) if name in codes else row.get(name)
            for name in self.names
        ]
        # dtype=float turns None into NaN and True/False into 1.0/0.0.
        return np.array([values], dtype=np.float64)

    def encode_rows(self, rows: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """Many records -> a (n_rows, n_features) matrix, filled column by column."""
        matrix = np.empty((len(rows), len(self.names)), dtype=np.float64)
        for j, name in enumerate(self.names):
            codes = self._codes.get(name)
            if codes is None:
                matrix[:, j] = np.array([row.get(name) for row in rows], dtype=np.float64)
            else:
                matrix[:, j] = [codes.get(row.get(name), NAN) for row in rows]
        return matrix

    def encode_columns(self, columns: Mapping[str, np.ndarray]) -> np.ndarray:
        """Column arrays (numeric with NaN, object arrays with None) -> a matrix."""
        n = len(next(iter(columns.values())))
        matrix = np.empty((n, len(self.names)), dtype=np.float64)
        for j, name in enumerate(self.names):
            codes = self._codes.get(name)
            column = columns[name]
            if codes is None:
                matrix[:, j] = (
                    np.asarray(column, dtype=np.float64)
                    if column.dtype != object
                    else np.array(column.tolist(), dtype=np.float64)
                )
            else:
                matrix[:, j] = [codes.get(v, NAN) for v in column.tolist()]
        return matrix

    @property
    def categorical_indices(self) -> list[int]:
        return [j for j, name in enumerate(self.names) if name in self._codes]
