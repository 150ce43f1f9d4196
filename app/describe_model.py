"""Describe a LightGBM binary classifier for serving: write its ``card.json`` and
``reference_profile.json`` (and a copy of the model) into a model directory.

    python -m app.describe_model --model model.txt --sample sample.csv --spec spec.yaml \
        --out models/mine        # or: make describe MODEL=... SAMPLE=... SPEC=... OUT=...

What only the model's owner knows comes from the spec (YAML): the model's name, each feature's
type, validity bounds (what a valid input can be, never the data's min and max) and categories
(in the order of the codes the model was trained on), and the names of the response's fields.
The sample (CSV, a header naming the feature columns and optionally the label column) is what
the reference profile, and so drift, is measured against: take it from the training data's
holdout. A model whose feature names or count differ from the spec's, or that is not a binary
classifier, is refused.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import math
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import lightgbm
import numpy as np
import yaml

from app.drift.reference import build_profile
from app.model.card import CARD_FILE, MODEL_FILE, PROFILE_FILE, ModelCard, ModelOutput
from app.model.contract import Feature, FeatureContract, FeatureKind
from app.model.encoding import Encoder
from app.model.errors import ModelError
from app.model.evaluation import THRESHOLD_RULE, best_f1_threshold, log_loss, roc_auc

MISSING = frozenset({"", "na", "nan", "null", "none"})
TRUE, FALSE = frozenset({"true", "1", "yes"}), frozenset({"false", "0", "no"})
ENCODING = {
    "integer": "the value, as float64",
    "number": "the value, as float64",
    "boolean": "false -> 0.0, true -> 1.0",
    "category": "0-based index of the value in the feature's 'categories' list",
    "missing": "an absent or null value -> NaN (LightGBM's missing-value branch)",
}


class DescribeError(ValueError):
    """The model, the sample or the spec cannot be described as asked; the message says why."""


def _parse(feature: Feature, raw: str, where: str) -> Any:
    """One CSV cell as the feature's Python value (None for missing)."""
    text = raw.strip()
    if text.lower() in MISSING:
        return None
    if feature.kind is FeatureKind.CATEGORY:
        if text not in feature.categories:
            raise DescribeError(f"{where}: {text!r} is not one of {feature.name}'s categories")
        return text
    if feature.kind is FeatureKind.BOOLEAN:
        if text.lower() in TRUE:
            return True
        if text.lower() in FALSE:
            return False
        raise DescribeError(f"{where}: {text!r} is not a boolean")
    try:
        value = float(text)
    except ValueError:
        raise DescribeError(f"{where}: {text!r} is not a number") from None
    if not math.isfinite(value):
        raise DescribeError(f"{where}: {text!r} is not finite")
    return value


def read_sample(
    path: Path, contract: FeatureContract, label: str | None
) -> tuple[dict[str, np.ndarray], np.ndarray | None]:
    """The sample, column-wise (numeric: float64 with NaN; others: object with None), and its
    labels (0/1) when a label column is named."""
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        header = reader.fieldnames or []
        absent = [name for name in contract.names if name not in header]
        if absent:
            raise DescribeError(f"{path}: no column for features {absent}")
        if label is not None and label not in header:
            raise DescribeError(f"{path}: no label column {label!r}")
        values: dict[str, list[Any]] = {name: [] for name in contract.names}
        labels: list[float] = []
        for line, row in enumerate(reader, start=2):
            for feature in contract:
                values[feature.name].append(_parse(feature, row[feature.name], f"{path}:{line}"))
            if label is not None:
                labels.append(float(row[label]))
    if not labels and not values[contract.names[0]]:
        raise DescribeError(f"{path}: no rows")
    columns = {
        f.name: (
            np.array([np.nan if v is None else v for v in values[f.name]], dtype=np.float64)
            if f.is_numeric
            else np.array(values[f.name], dtype=object)
        )
        for f in contract
    }
    if label is None:
        return columns, None
    y = np.asarray(labels)
    if not set(np.unique(y)) <= {0.0, 1.0}:
        raise DescribeError(f"{path}: label {label!r} must be 0 or 1")
    return columns, y


def _check_model(booster: lightgbm.Booster, contract: FeatureContract, path: Path) -> None:
    objective = str(booster.dump_model().get("objective", ""))
    if not objective.startswith(("binary", "cross_entropy")):
        raise DescribeError(
            f"{path} is a {objective.split()[0] or 'unknown'!r} model: only binary classifiers "
            "are served (multiclass and regression are not yet)"
        )
    if booster.feature_name() != contract.names:
        raise DescribeError(
            f"{path} takes {booster.num_feature()} features {booster.feature_name()}; the spec "
            f"declares {len(contract)}: {contract.names} (same names, same order)"
        )


def describe(
    model: Path, sample: Path, spec: Mapping[str, Any], out: Path, now: datetime | None = None
) -> dict[str, Any]:
    """Write the card, the profile and the model into ``out``; return the card."""
    try:
        contract = FeatureContract(tuple(Feature.from_dict(f) for f in spec["features"]))
        output = ModelOutput.from_dict(spec.get("output"))
        name = str(spec["name"])
    except KeyError as exc:
        raise DescribeError(f"the spec has no {exc.args[0]!r}") from exc
    text = model.read_bytes()
    booster = lightgbm.Booster(model_str=text.decode("utf-8"))
    _check_model(booster, contract, model)
    columns, labels = read_sample(sample, contract, spec.get("label"))
    probabilities = np.asarray(booster.predict(Encoder(contract).encode_columns(columns)))

    sha256 = hashlib.sha256(text).hexdigest()
    now = now or datetime.now(UTC)
    if "decision_threshold" in spec:
        threshold, rule = float(spec["decision_threshold"]), "set in the spec"
    elif labels is not None:
        threshold, rule = best_f1_threshold(labels, probabilities), THRESHOLD_RULE
        rule = rule.replace("the validation split", "the sample")
    else:
        threshold, rule = 0.5, "default (no label in the sample to choose one by)"
    card: dict[str, Any] = {
        "name": name,
        "version": str(spec.get("version") or f"{name}-{now:%Y%m%d}-{sha256[:8]}"),
        "description": str(spec.get("description", "")),
        "trained_at": str(spec.get("trained_at") or f"{now:%Y-%m-%dT%H:%M:%SZ}"),
        "model": {
            "file": MODEL_FILE,
            "format": "lightgbm-text",
            "sha256": sha256,
            "num_trees": booster.num_trees(),
        },
        "output": output.to_dict(),
        "decision_threshold": threshold,
        "decision_threshold_rule": rule,
        "features": [f.to_dict() for f in contract],
        "encoding": ENCODING,
        "reference_sample": {"file": sample.name, "rows": len(probabilities)},
    }
    if "record_name" in spec:
        card["record_name"] = str(spec["record_name"])
    if labels is not None:
        card["metrics"] = {"sample": {
            "rows": len(labels), "auc": round(roc_auc(labels, probabilities), 6),
            "log_loss": round(log_loss(labels, probabilities), 6),
            "positive_rate": round(float(labels.mean()), 6),
        }}  # fmt: skip
    ModelCard.from_dict(card)  # what the service will refuse, refused now
    profile = build_profile(contract, columns, probabilities, model_version=card["version"])

    out.mkdir(parents=True, exist_ok=True)
    (out / MODEL_FILE).write_bytes(text)
    (out / CARD_FILE).write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
    (out / PROFILE_FILE).write_text(
        json.dumps(profile.to_dict(), indent=2) + "\n", encoding="utf-8"
    )
    return card


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True, help="LightGBM model (text)")
    parser.add_argument("--sample", type=Path, required=True, help="CSV sample of training data")
    parser.add_argument("--spec", type=Path, required=True, help="YAML: names, types, bounds")
    parser.add_argument("--out", type=Path, required=True, help="the model directory to write")
    args = parser.parse_args(argv)
    try:
        spec = yaml.safe_load(args.spec.read_text(encoding="utf-8"))
        card = describe(args.model, args.sample, spec, args.out)
    except (ValueError, OSError, ModelError, lightgbm.basic.LightGBMError) as exc:
        print(f"describe_model: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {args.out}: {card['version']}, {len(card['features'])} features, "
          f"threshold {card['decision_threshold']}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
