"""Trains the churn model and writes its three artifacts: model, card and reference profile.

Run ``python -m examples.churn.training --out models/churn`` (``make train``). The output is
byte-identical on every run: data come from seeded generators, LightGBM runs deterministic and
single-threaded, and the only date comes from ``SOURCE_DATE_EPOCH`` or a fixed default.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import lightgbm
import numpy as np
import scipy

from app.drift.reference import build_profile
from app.model.card import CARD_FILE, MODEL_FILE, PROFILE_FILE, ModelOutput
from app.model.encoding import Encoder
from app.model.evaluation import THRESHOLD_RULE, best_f1_threshold, log_loss, roc_auc
from examples.churn.generator import CONTRACT, REFERENCE, generate

MODEL_NAME = "churn"
DEFAULT_TRAINING_DATE = date(2026, 11, 1)
SEED = 20261101
TRAIN_ROWS = 40_000
VALID_ROWS = 10_000
HOLDOUT_ROWS = 20_000
NUM_TREES = 300
PARAMS: dict[str, Any] = {
    "objective": "binary",
    "learning_rate": 0.03,
    "num_leaves": 15,
    "min_data_in_leaf": 40,
    "feature_fraction": 0.9,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "lambda_l2": 1.0,
    "cat_smooth": 10,
    "deterministic": True,
    "force_col_wise": True,
    "num_threads": 1,
    "seed": SEED,
    "verbose": -1,
}


def training_date() -> date:
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch:
        return datetime.fromtimestamp(int(epoch), tz=UTC).date()
    return DEFAULT_TRAINING_DATE


def _dump_json(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=2, sort_keys=False, allow_nan=False) + "\n"


def train(out_dir: Path, trained_on: date | None = None) -> dict[str, Any]:
    """Train, evaluate and write model.txt, card.json and reference_profile.json to out_dir."""
    trained_on = trained_on or training_date()
    encoder = Encoder(CONTRACT)
    train_set = generate(TRAIN_ROWS, seed=SEED, population=REFERENCE)
    valid_set = generate(VALID_ROWS, seed=SEED + 1, population=REFERENCE)
    holdout = generate(HOLDOUT_ROWS, seed=SEED + 2, population=REFERENCE)

    dataset = lightgbm.Dataset(
        encoder.encode_columns(train_set.columns),
        label=train_set.churned,
        feature_name=list(encoder.names),
        categorical_feature=encoder.categorical_indices,
        params={"verbose": -1},
        free_raw_data=True,
    )
    booster = lightgbm.train(PARAMS, dataset, num_boost_round=NUM_TREES)
    model_text = booster.model_to_string().encode("utf-8")
    sha256 = hashlib.sha256(model_text).hexdigest()

    valid_p = np.asarray(booster.predict(encoder.encode_columns(valid_set.columns)))
    holdout_p = np.asarray(booster.predict(encoder.encode_columns(holdout.columns)))
    threshold = best_f1_threshold(valid_set.churned, valid_p)
    gains = booster.feature_importance(importance_type="gain")
    total_gain = float(gains.sum())

    card: dict[str, Any] = {
        "name": MODEL_NAME,
        "version": f"{MODEL_NAME}-{trained_on:%Y%m%d}-{sha256[:8]}",
        "description": "Probability that a customer churns within the next quarter. Trained on "
        "a seeded synthetic customer base (examples/churn/generator.py tells its causal story).",
        "trained_at": f"{trained_on.isoformat()}T00:00:00Z",
        "model": {
            "file": MODEL_FILE,
            "format": "lightgbm-text",
            "sha256": sha256,
            "num_trees": booster.num_trees(),
        },
        "record_name": "Customer",
        "output": ModelOutput(
            probability_field="churn_probability",
            decision_field="churn",
            positive_outcome="churn",
            negative_outcome="no_churn",
        ).to_dict(),
        "decision_threshold": threshold,
        "decision_threshold_rule": THRESHOLD_RULE,
        "features": [f.to_dict() for f in CONTRACT],
        "encoding": {
            "integer": "the value, as float64",
            "number": "the value, as float64",
            "boolean": "false -> 0.0, true -> 1.0",
            "category": "0-based index of the value in the feature's 'categories' list, "
            "declared to LightGBM as categorical",
            "missing": "an absent or null value -> NaN (LightGBM's missing-value branch)",
        },
        "metrics": {
            "holdout": {
                "rows": HOLDOUT_ROWS,
                "auc": round(roc_auc(holdout.churned, holdout_p), 6),
                "log_loss": round(log_loss(holdout.churned, holdout_p), 6),
                "churn_rate": round(float(holdout.churned.mean()), 6),
                "bayes_auc": round(roc_auc(holdout.churned, holdout.churn_probability), 6),
            }
        },
        "feature_importance_gain_share": {
            name: round(float(g) / total_gain, 6)
            for name, g in zip(encoder.names, gains, strict=True)
        },
        "training": {
            "generator": "examples.churn.generator.generate(population=REFERENCE)",
            "seed": SEED,
            "rows": {"train": TRAIN_ROWS, "validation": VALID_ROWS, "holdout": HOLDOUT_ROWS},
            "num_boost_round": NUM_TREES,
            "params": PARAMS,
        },
        "libraries": {
            "lightgbm": lightgbm.__version__,
            "numpy": np.__version__,
            "scipy": scipy.__version__,
            "python": f"{sys.version_info.major}.{sys.version_info.minor}",
        },
    }
    profile = build_profile(CONTRACT, holdout.columns, holdout_p, model_version=card["version"])

    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / MODEL_FILE).write_bytes(model_text)
    (out_dir / CARD_FILE).write_text(_dump_json(card), encoding="utf-8")
    (out_dir / PROFILE_FILE).write_text(_dump_json(profile.to_dict()), encoding="utf-8")
    return card


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("models/churn"))
    args = parser.parse_args(argv)
    card = train(args.out)
    holdout = card["metrics"]["holdout"]
    print(
        f"wrote {args.out}: {card['version']} auc={holdout['auc']} "
        f"log_loss={holdout['log_loss']} threshold={card['decision_threshold']}"
    )


if __name__ == "__main__":
    main()
