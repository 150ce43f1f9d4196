"""The oracle for predictions: the model file run by LightGBM itself, on a float64 matrix encoded
by hand from the card's raw JSON.

It imports nothing from app/ (not the encoder, the contract, the card reader or the predictor),
so an encoding bug in the service (a wrong category index, a boolean or a missing value mapped
wrongly, a column out of order) cannot hide in its own oracle. The encoding is the one the card
documents in its "encoding" section:

* integer, number: the value, as float64;
* boolean: false -> 0.0, true -> 1.0;
* category: the 0-based index of the value in the feature's "categories" list;
* missing (an absent key or null): NaN;

one column per card feature, in the card's order.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import lightgbm
import numpy as np


def encode_value(feature: Mapping[str, Any], value: Any) -> float:
    """One value of one card feature, as the card's "encoding" section says."""
    if value is None:
        return math.nan
    kind = feature["type"]
    if kind == "category":
        return float(feature["categories"].index(value))
    if kind == "boolean":
        if value is True:
            return 1.0
        if value is False:
            return 0.0
        raise ValueError(f"{feature['name']}: {value!r} is not a boolean")
    if kind in ("integer", "number") and not isinstance(value, bool):
        return float(value)
    raise ValueError(f"{feature['name']}: cannot encode {value!r} as {kind}")


class RawModel:
    """The bundled (or any) model directory, read without the service's code."""

    def __init__(self, model_dir: Path) -> None:
        self.card: dict[str, Any] = json.loads((model_dir / "card.json").read_text())
        self.features: list[dict[str, Any]] = self.card["features"]
        self.version: str = self.card["version"]
        self.threshold: float = self.card["decision_threshold"]
        model_file = model_dir / self.card["model"]["file"]
        self.booster = lightgbm.Booster(model_file=str(model_file))

    def encode(self, records: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """Records (a missing value absent or None) -> the (rows, features) float64 matrix."""
        rows = [
            [encode_value(f, record.get(f["name"])) for f in self.features] for record in records
        ]
        return np.array(rows, dtype=np.float64).reshape(len(records), len(self.features))

    def predict(self, records: Sequence[Mapping[str, Any]]) -> list[float]:
        """Churn probabilities, straight from LightGBM."""
        return [float(p) for p in self.booster.predict(self.encode(records), num_threads=1)]
