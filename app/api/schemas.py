"""The wire contract. The request schema is generated from the model card's feature contract.

JSON types are strict: an integer must be a JSON integer (no strings, booleans or fractions),
a number any finite JSON number, a category one of the card's strings, a boolean a JSON boolean.
Values outside the card's validity bounds, unknown categories and extra fields are refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt, create_model

from app.model.card import ModelCard
from app.model.contract import Feature, FeatureKind

_ROW_CONFIG = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)

PREDICTION_ID_DOC = (
    "32 lowercase hex digits: 12 of the request's Unix time in milliseconds, 12 random per "
    "request, then the row's index in the request as 8 (single predictions end in 00000000). "
    "Unique per row and sortable by time."
)


def _field_type(feature: Feature) -> Any:
    lo, hi = feature.minimum, feature.maximum
    if feature.kind is FeatureKind.INTEGER:
        return Annotated[StrictInt, Field(ge=lo, le=hi)]
    if feature.kind is FeatureKind.NUMBER:
        return Annotated[StrictFloat, Field(ge=lo, le=hi)]
    if feature.kind is FeatureKind.BOOLEAN:
        return StrictBool
    return Literal[feature.categories]


def _example(feature: Feature) -> Any:
    if feature.kind is FeatureKind.CATEGORY:
        return feature.categories[min(5, len(feature.categories) - 1)]
    if feature.kind is FeatureKind.BOOLEAN:
        return True
    low = feature.minimum if feature.minimum is not None else 0
    value = low + 12 if feature.name != "age" else 30
    return int(value) if feature.kind is FeatureKind.INTEGER else float(value)


def build_row_model(card: ModelCard) -> type[BaseModel]:
    """A pydantic model of one record: required features first-class, the rest optional."""
    fields: dict[str, Any] = {}
    for feature in card.contract:
        annotation = _field_type(feature)
        if feature.required:
            fields[feature.name] = (annotation, Field(description=feature.description))
        else:
            fields[feature.name] = (annotation | None, Field(None, description=feature.description))
    minimal = {f.name: _example(f) for f in card.contract if f.required}
    full = {f.name: _example(f) for f in card.contract}
    config = _ROW_CONFIG | ConfigDict(json_schema_extra={"examples": [minimal, full]})
    return create_model("Customer", __config__=config, **fields)


class PredictionOut(BaseModel):
    prediction_id: str = Field(description=PREDICTION_ID_DOC)
    churn_probability: float = Field(ge=0.0, le=1.0)
    churn: bool = Field(description="churn_probability >= the card's decision threshold")
    model_version: str


class BatchPredictionOut(BaseModel):
    model_version: str
    predictions: list[PredictionOut] = Field(description="One per input row, in input order.")


class ErrorDetail(BaseModel):
    loc: list[str | int] = Field(description="Where: ['body', <row index>?, <field>].")
    msg: str
    type: str


class ErrorOut(BaseModel):
    """The body of every 4xx and 5xx response."""

    error: str = Field(description="A stable machine-readable code, e.g. 'validation_error'.")
    message: str
    detail: list[ErrorDetail] = Field(default_factory=list)


@dataclass(frozen=True)
class Schemas:
    """The request models for one model card."""

    row: type[BaseModel]
    batch: type[BaseModel]


def build_schemas(card: ModelCard, max_batch_rows: int) -> Schemas:
    row = build_row_model(card)
    batch = create_model(
        "CustomerBatch",
        __config__=ConfigDict(extra="forbid", strict=True),
        rows=(list[row], Field(min_length=1, max_length=max_batch_rows)),  # type: ignore[valid-type]
    )
    return Schemas(row=row, batch=batch)
