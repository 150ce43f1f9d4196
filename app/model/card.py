"""The model card: the one source of truth about a trained model, read at serving time."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.model.contract import Feature, FeatureContract
from app.model.errors import ModelCardError

CARD_FILE = "card.json"
MODEL_FILE = "model.txt"
PROFILE_FILE = "reference_profile.json"


@dataclass(frozen=True, slots=True)
class ModelCard:
    """The parts of the card the service acts on; ``document`` is the whole card as written."""

    name: str
    version: str
    model_file: str
    model_sha256: str
    threshold: float
    trained_at: str
    num_trees: int
    contract: FeatureContract
    document: dict[str, Any]

    @property
    def short_sha(self) -> str:
        return self.model_sha256[:8]

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> ModelCard:
        try:
            card = cls(
                name=str(doc["name"]),
                version=str(doc["version"]),
                model_file=str(doc["model"]["file"]),
                model_sha256=str(doc["model"]["sha256"]),
                threshold=float(doc["decision_threshold"]),
                trained_at=str(doc["trained_at"]),
                num_trees=int(doc["model"]["num_trees"]),
                contract=FeatureContract(tuple(Feature.from_dict(f) for f in doc["features"])),
                document=doc,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelCardError(f"model card is missing or has a bad field: {exc!r}") from exc
        if not 0.0 < card.threshold < 1.0:
            raise ModelCardError(f"decision_threshold {card.threshold} is not in (0, 1)")
        if Path(card.model_file).name != card.model_file:
            raise ModelCardError(f"model file {card.model_file!r} must be a bare file name")
        return card

    @classmethod
    def load(cls, path: Path) -> ModelCard:
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise ModelCardError(f"no model card at {path}") from exc
        except (OSError, ValueError) as exc:
            raise ModelCardError(f"cannot read model card {path}: {exc}") from exc
        if not isinstance(doc, dict):
            raise ModelCardError(f"model card {path} is not a JSON object")
        return cls.from_dict(doc)
