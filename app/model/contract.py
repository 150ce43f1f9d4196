"""The feature contract: which features a model takes, their types, bounds and categories.

The contract is data (it lives in the model card); the request schema, the encoding and the
drift profile are all derived from it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from app.model.errors import ModelCardError


class FeatureKind(StrEnum):
    INTEGER = "integer"
    NUMBER = "number"
    BOOLEAN = "boolean"
    CATEGORY = "category"


@dataclass(frozen=True, slots=True)
class Feature:
    """One model input. Bounds are validity bounds set from the domain, not training ranges."""

    name: str
    kind: FeatureKind
    description: str
    required: bool = False
    minimum: float | None = None
    maximum: float | None = None
    categories: tuple[str, ...] = ()
    # A value for the OpenAPI examples; absent: derived from the bounds or categories.
    example: Any = None

    @property
    def is_numeric(self) -> bool:
        """Numeric features are binned by edges for drift; the others by value."""
        return self.kind in (FeatureKind.INTEGER, FeatureKind.NUMBER)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "type": self.kind.value,
            "required": self.required,
            "description": self.description,
        }
        if self.minimum is not None:
            out["minimum"] = self.minimum
        if self.maximum is not None:
            out["maximum"] = self.maximum
        if self.categories:
            out["categories"] = list(self.categories)
        if self.example is not None:
            out["example"] = self.example
        return out

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Feature:
        try:
            feature = cls(
                name=str(raw["name"]),
                kind=FeatureKind(raw["type"]),
                description=str(raw.get("description", "")),
                required=bool(raw.get("required", False)),
                minimum=raw.get("minimum"),
                maximum=raw.get("maximum"),
                categories=tuple(raw.get("categories", ())),
                example=raw.get("example"),
            )
        except (KeyError, ValueError, TypeError) as exc:
            raise ModelCardError(f"invalid feature entry {dict(raw)!r}: {exc}") from exc
        feature.check()
        return feature

    def check(self) -> None:
        if not self.name.isidentifier():
            raise ModelCardError(f"feature name {self.name!r} is not an identifier")
        if self.kind is FeatureKind.CATEGORY:
            if not self.categories or len(set(self.categories)) != len(self.categories):
                raise ModelCardError(f"feature {self.name!r} needs distinct categories")
        elif self.categories:
            raise ModelCardError(f"feature {self.name!r} is {self.kind}, not a category")
        lo, hi = self.minimum, self.maximum
        if self.is_numeric and (lo is None or hi is None):
            # The request schema refuses what lies outside them, and drift bins rely on them.
            raise ModelCardError(
                f"numeric feature {self.name!r} needs validity bounds: set its 'minimum' and "
                "'maximum' from the domain (what a valid input can be), not the training range"
            )
        if lo is not None and hi is not None and lo > hi:
            raise ModelCardError(f"feature {self.name!r}: minimum {lo} > maximum {hi}")


@dataclass(frozen=True, slots=True)
class FeatureContract:
    """The ordered features of a model: column order is the model's input order."""

    features: tuple[Feature, ...]

    def __post_init__(self) -> None:
        names = [f.name for f in self.features]
        if len(set(names)) != len(names):
            raise ModelCardError(f"duplicate feature names in {names}")

    @property
    def names(self) -> list[str]:
        return [f.name for f in self.features]

    def __iter__(self) -> Iterator[Feature]:
        return iter(self.features)

    def __len__(self) -> int:
        return len(self.features)

    def __getitem__(self, name: str) -> Feature:
        for feature in self.features:
            if feature.name == name:
                return feature
        raise KeyError(name)
