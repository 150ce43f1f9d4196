"""The wire contract, generated from the model card: the request schema from its feature
contract, the response's field names from its ``output`` section, the OpenAPI names from its
``record_name``.

JSON types are strict: an integer must be a JSON number with no fractional part (``30`` or
``30.0``, as JSON Schema's ``integer`` has it; no strings, booleans or fractions), a number any
finite JSON number, a category one of the card's strings, a boolean a JSON boolean.
Values outside the card's validity bounds, unknown categories and extra fields are refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    create_model,
)

from app.model.card import ModelCard
from app.model.contract import Feature, FeatureKind

_ROW_CONFIG = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)

PREDICTION_ID_DOC = (
    "32 lowercase hex digits: 12 of the request's Unix time in milliseconds, 12 random per "
    "request, then the row's index in the request as 8 (single predictions end in 00000000). "
    "Unique per row and sortable by time."
)


def _integral_float_as_int(value: Any) -> Any:
    """``30.0`` -> ``30``: the OpenAPI schema says ``integer``, which JSON Schema defines as any
    number with a zero fractional part, so a client generated from it may send either. Every
    other value is left to the strict integer (which refuses fractions, strings and booleans)."""
    if type(value) is float and value.is_integer():
        return int(value)
    return value


def _field_type(feature: Feature) -> Any:
    lo, hi = feature.minimum, feature.maximum
    if feature.kind is FeatureKind.INTEGER:
        return Annotated[StrictInt, Field(ge=lo, le=hi), BeforeValidator(_integral_float_as_int)]
    if feature.kind is FeatureKind.NUMBER:
        return Annotated[StrictFloat, Field(ge=lo, le=hi)]
    if feature.kind is FeatureKind.BOOLEAN:
        return StrictBool
    return Literal[feature.categories]


def _example(feature: Feature) -> Any:
    """The card's example for the feature, else a valid value: the first category, true, or a
    quarter of the way into the validity bounds."""
    if feature.example is not None:
        return feature.example
    if feature.kind is FeatureKind.CATEGORY:
        return feature.categories[0]
    if feature.kind is FeatureKind.BOOLEAN:
        return True
    # The card refuses a numeric feature without bounds.
    assert feature.minimum is not None
    assert feature.maximum is not None
    value = feature.minimum + (feature.maximum - feature.minimum) / 4
    return round(value) if feature.kind is FeatureKind.INTEGER else round(float(value), 2)


def example_rows(card: ModelCard) -> list[dict[str, Any]]:
    """The documented examples of a record: its required features only, then every feature."""
    minimal = {f.name: _example(f) for f in card.contract if f.required}
    full = {f.name: _example(f) for f in card.contract}
    return [minimal, full]


def build_row_model(card: ModelCard) -> type[BaseModel]:
    """A pydantic model of one record: required features first-class, the rest optional."""
    fields: dict[str, Any] = {}
    for feature in card.contract:
        annotation = _field_type(feature)
        if feature.required:
            fields[feature.name] = (annotation, Field(description=feature.description))
        else:
            fields[feature.name] = (annotation | None, Field(None, description=feature.description))
    examples: list[Any] = list(example_rows(card))
    config = _ROW_CONFIG | ConfigDict(json_schema_extra={"examples": examples})
    return create_model(card.record_name, __config__=config, **fields)


def build_prediction_model(card: ModelCard) -> type[BaseModel]:
    """One prediction, its fields named by the card's output section."""
    output = card.output
    probability = output.probability_field
    fields: dict[str, Any] = {
        "prediction_id": (str, Field(description=PREDICTION_ID_DOC)),
        probability: (float, Field(ge=0.0, le=1.0,
                                   description=f"Probability of {output.positive_outcome!r}.")),
        output.decision_field: (bool, Field(
            description=f"{probability} >= the card's decision threshold")),
        "model_version": (str, ...),
    }  # fmt: skip
    return create_model(f"{card.record_name}Prediction", **fields)


def build_batch_prediction_model(card: ModelCard, prediction: type[BaseModel]) -> type[BaseModel]:
    return create_model(
        f"{card.record_name}BatchPrediction",
        model_version=(str, ...),
        predictions=(
            list[prediction],  # type: ignore[valid-type]
            Field(description="One per input row, in input order."),
        ),
    )


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
    """The request and response models for one model card."""

    row: type[BaseModel]
    batch: type[BaseModel]
    prediction: type[BaseModel]
    batch_prediction: type[BaseModel]


def build_schemas(card: ModelCard, max_batch_rows: int) -> Schemas:
    row = build_row_model(card)
    batch = create_model(
        f"{card.record_name}Batch",
        __config__=ConfigDict(extra="forbid", strict=True),
        rows=(list[row], Field(min_length=1, max_length=max_batch_rows)),  # type: ignore[valid-type]
    )
    prediction = build_prediction_model(card)
    return Schemas(row, batch, prediction, build_batch_prediction_model(card, prediction))
