"""An independent oracle for drift: bins raw records with np.histogram on the profile's edges,
predicts with LightGBM directly, and writes PSI out by hand. It imports nothing from app/."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import lightgbm
import numpy as np
from scipy.spatial.distance import jensenshannon

EPSILON = 1e-4


class Oracle:
    def __init__(self, model_dir: Path) -> None:
        self.card = json.loads((model_dir / "card.json").read_text())
        self.profile = json.loads((model_dir / "reference_profile.json").read_text())
        self.booster = lightgbm.Booster(model_file=str(model_dir / "model.txt"))

    def _column(self, records: list[dict[str, Any]], feature: dict[str, Any]) -> list[Any]:
        return [r.get(feature["name"]) for r in records]

    def feature_counts(self, records: list[dict[str, Any]]) -> dict[str, tuple[list[int], int]]:
        """{feature: (value-bin counts, missing count)}."""
        out = {}
        for feature in self.card["features"]:
            values = self._column(records, feature)
            present = [v for v in values if v is not None]
            missing = len(values) - len(present)
            entry = self.profile["features"][feature["name"]]
            if entry["type"] == "numeric":
                edges = [-math.inf, *entry["edges"], math.inf]
                counts, _ = np.histogram(np.array(present, dtype=float), bins=edges)
                out[feature["name"]] = ([int(c) for c in counts], missing)
            else:
                keys = [str(v).lower() if isinstance(v, bool) else v for v in present]
                out[feature["name"]] = ([keys.count(c) for c in entry["categories"]], missing)
        return out

    def predictions(self, records: list[dict[str, Any]]) -> np.ndarray:
        matrix = []
        for r in records:
            row = []
            for feature in self.card["features"]:
                value = r.get(feature["name"])
                if value is None:
                    row.append(math.nan)
                elif feature["type"] == "category":
                    row.append(float(feature["categories"].index(value)))
                else:
                    row.append(float(value))
            matrix.append(row)
        return np.asarray(self.booster.predict(np.array(matrix), num_threads=1))

    def prediction_counts(self, records: list[dict[str, Any]]) -> list[int]:
        # Right-closed bins (Prometheus buckets): negate to use np.histogram's left-closed bins.
        edges = self.profile["prediction"]["edges"]
        flipped = [-math.inf, *sorted(-e for e in edges), math.inf]
        counts, _ = np.histogram(-self.predictions(records), bins=flipped)
        return [int(c) for c in counts[::-1]]

    @staticmethod
    def psi(reference: list[float], counts: list[int]) -> float:
        total = sum(counts)
        value = 0.0
        for ref, count in zip(reference, counts, strict=True):
            p = max(ref, EPSILON)
            q = max(count / total, EPSILON)
            value += (q - p) * math.log(q / p)
        return value

    @staticmethod
    def js(reference: list[float], counts: list[int]) -> float:
        return float(jensenshannon(reference, np.array(counts) / sum(counts), base=2))
