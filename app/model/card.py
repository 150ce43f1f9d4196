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
class ModelOutput:
    """What the model answers and how the service names it: the card's ``output`` section.

    ``binary`` is the one kind served today (a probability of the positive class, decided at
    the card's threshold). A card without the section gets these generic names.
    """

    kind: str = "binary"
    probability_field: str = "probability"
    decision_field: str = "positive"
    positive_outcome: str = "positive"
    negative_outcome: str = "negative"

    @classmethod
    def from_dict(cls, raw: dict[str, Any] | None) -> ModelOutput:
        if raw is None:
            return cls()
        output = cls(**{k: str(v) for k, v in raw.items()})
        if output.kind != "binary":
            raise ModelCardError(
                f"output kind {output.kind!r} is not served: only 'binary' classifiers are"
            )
        fields = (output.probability_field, output.decision_field)
        if not all(f.isidentifier() for f in fields) or len(set(fields)) != 2:
            raise ModelCardError(f"output fields {fields} must be two distinct identifiers")
        if reserved := {"prediction_id", "model_version"} & set(fields):
            raise ModelCardError(f"output field names {sorted(reserved)} are the service's own")
        if output.positive_outcome == output.negative_outcome:
            raise ModelCardError("output's positive and negative outcomes must differ")
        return output

    def to_dict(self) -> dict[str, str]:
        return {
            "kind": self.kind, "probability_field": self.probability_field,
            "decision_field": self.decision_field, "positive_outcome": self.positive_outcome,
            "negative_outcome": self.negative_outcome,
        }  # fmt: skip


def _schema_name(doc: dict[str, Any]) -> str:
    """The OpenAPI name of one input record: the card's ``record_name``, else from its name."""
    name = str(doc.get("record_name") or "".join(p.title() for p in str(doc["name"]).split("_")))
    if not name.isidentifier():
        raise ModelCardError(f"record_name {name!r} is not an identifier")
    return name


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
    output: ModelOutput
    record_name: str
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
                output=ModelOutput.from_dict(doc.get("output")),
                record_name=_schema_name(doc),
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
