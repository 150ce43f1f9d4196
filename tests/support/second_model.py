"""A second binary model, shaped unlike the bundled one, trained in a temp dir: what a user
brings. Other feature names and types, a category coded as LightGBM was trained on it, other
output names; its spec and a CSV sample are written beside it for `app.describe_model`."""

from __future__ import annotations

import csv
from pathlib import Path

import lightgbm
import numpy as np
import yaml

COUNTRIES = ["DE", "FR", "US", "BR"]
SPEC = {
    "name": "fraud",
    "description": "Probability that a card transaction is fraudulent.",
    "record_name": "Transaction",
    "label": "is_fraud",
    "output": {
        "probability_field": "fraud_probability", "decision_field": "fraud",
        "positive_outcome": "fraud", "negative_outcome": "legit",
    },
    "features": [
        {"name": "amount_eur", "type": "number", "minimum": 0, "maximum": 50000,
         "required": True, "description": "Transaction amount.", "example": 120.0},
        {"name": "country", "type": "category", "categories": COUNTRIES, "required": True},
        {"name": "new_device", "type": "boolean"},
        {"name": "hour", "type": "integer", "minimum": 0, "maximum": 23},
    ],
}  # fmt: skip
NAMES = [f["name"] for f in SPEC["features"]]


def make(directory: Path, rows: int = 3000, seed: int = 7) -> tuple[Path, Path, Path]:
    """Train it; write model.txt, sample.csv and spec.yaml into ``directory``."""
    rng = np.random.default_rng(seed)
    amount = rng.gamma(2.0, 80.0, rows)
    country = rng.integers(0, len(COUNTRIES), rows)
    new_device = rng.random(rows) < 0.2
    hour = rng.integers(0, 24, rows)
    logit = -3 + 0.004 * amount + 1.5 * new_device + 0.8 * (country == 3) + 0.6 * (hour < 5)
    label = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(int)
    matrix = np.column_stack([amount, country, new_device, hour]).astype(np.float64)
    matrix[rng.random(rows) < 0.05, 2] = np.nan  # new_device sometimes unknown
    data = lightgbm.Dataset(matrix, label=label, feature_name=NAMES, categorical_feature=[1],
                            params={"verbose": -1})  # fmt: skip
    params = {"objective": "binary", "num_leaves": 7, "verbose": -1, "num_threads": 1,
              "deterministic": True, "seed": seed}  # fmt: skip
    booster = lightgbm.train(params, data, num_boost_round=20)
    model = directory / "fraud.txt"
    booster.save_model(str(model))
    sample = directory / "sample.csv"
    with sample.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow([*NAMES, "is_fraud"])
        for i in range(rows):
            device = "" if np.isnan(matrix[i, 2]) else str(bool(matrix[i, 2])).lower()
            writer.writerow([round(amount[i], 2), COUNTRIES[country[i]], device, hour[i], label[i]])
    spec = directory / "spec.yaml"
    spec.write_text(yaml.safe_dump(SPEC, sort_keys=False))
    return model, sample, spec
