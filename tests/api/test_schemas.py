"""The wire contract, generated from the model card: every feature of the card and only those,
the required ones required; strict JSON types; the card's validity bounds (inclusive) and
categories (exact strings); no extra fields; 1 to max_batch_rows rows a batch; the response
fields named by the card's output section; the one error body.

The oracle is the card file itself, read as plain JSON, and README.md's words, never the
schema code: ``card.json`` says what each feature is, and these tests say what the wire must
then accept and refuse.
"""

import copy
import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import BaseModel, ValidationError

from app.api.errors import error_body
from app.api.schemas import ErrorDetail, ErrorOut, Schemas, build_schemas
from app.model.card import ModelCard
from tests.conftest import BUNDLED_MODEL_DIR

CARD: dict[str, Any] = json.loads((BUNDLED_MODEL_DIR / "card.json").read_text())
FEATURES: list[dict[str, Any]] = CARD["features"]
REQUIRED = [f for f in FEATURES if f["required"]]
OPTIONAL = [f for f in FEATURES if not f["required"]]
BOUNDED = [f for f in FEATURES if "minimum" in f or "maximum" in f]
CATEGORIES = [f for f in FEATURES if f["type"] == "category"]
MAX_ROWS = 3
# The card's own examples, for the required features: the smallest valid record.
MINIMAL = {f["name"]: f["example"] for f in REQUIRED}


def ids(features: list[dict[str, Any]]) -> list[str]:
    return [f["name"] for f in features]


@pytest.fixture(scope="module")
def schemas() -> Schemas:
    return build_schemas(ModelCard.from_dict(CARD), max_batch_rows=MAX_ROWS)


def errors_of(model: type[BaseModel], record: object) -> list[tuple[str, tuple[Any, ...]]]:
    """(type, loc) of each error validating ``record`` sent as JSON; [] when it is valid."""
    raw = record if isinstance(record, bytes) else json.dumps(record).encode()
    try:
        model.model_validate_json(raw)
    except ValidationError as exc:
        return [(e["type"], e["loc"]) for e in exc.errors()]
    return []


# --- one record -----------------------------------------------------------------------------------


def test_a_record_has_every_feature_of_the_card_and_requires_exactly_the_required_ones(
    schemas: Schemas,
) -> None:
    schema = schemas.row.model_json_schema()
    assert set(schema["properties"]) == {f["name"] for f in FEATURES}
    assert set(schema["required"]) == {f["name"] for f in REQUIRED}
    assert schema["additionalProperties"] is False


def test_the_record_is_named_by_the_card_s_record_name(schemas: Schemas) -> None:
    assert schemas.row.__name__ == CARD["record_name"]


def test_the_required_features_alone_make_a_valid_record(schemas: Schemas) -> None:
    assert errors_of(schemas.row, MINIMAL) == []


@pytest.mark.parametrize("feature", REQUIRED, ids=ids(REQUIRED))
def test_a_record_without_a_required_feature_is_refused_as_missing(
    schemas: Schemas, feature: dict[str, Any]
) -> None:
    record = {k: v for k, v in MINIMAL.items() if k != feature["name"]}
    assert errors_of(schemas.row, record) == [("missing", (feature["name"],))]


@pytest.mark.parametrize("feature", OPTIONAL, ids=ids(OPTIONAL))
def test_an_optional_feature_may_be_null_absent_or_its_example(
    schemas: Schemas, feature: dict[str, Any]
) -> None:
    name = feature["name"]
    assert errors_of(schemas.row, MINIMAL | {name: None}) == []
    assert (
        schemas.row.model_validate_json(json.dumps(MINIMAL | {name: None})).__dict__[name] is None
    )
    assert schemas.row.model_validate_json(json.dumps(MINIMAL)).__dict__[name] is None
    assert errors_of(schemas.row, MINIMAL | {name: feature["example"]}) == []


def test_a_field_the_card_does_not_name_is_refused(schemas: Schemas) -> None:
    assert errors_of(schemas.row, MINIMAL | {"shoe_size": 44}) == [
        ("extra_forbidden", ("shoe_size",))
    ]


@pytest.mark.parametrize("feature", BOUNDED, ids=ids(BOUNDED))
def test_the_card_s_bounds_are_inclusive_and_a_value_past_one_is_refused(
    schemas: Schemas, feature: dict[str, Any]
) -> None:
    name, lo, hi = feature["name"], feature["minimum"], feature["maximum"]
    step = 1 if feature["type"] == "integer" else 0.5
    assert errors_of(schemas.row, MINIMAL | {name: lo}) == []
    assert errors_of(schemas.row, MINIMAL | {name: hi}) == []
    assert errors_of(schemas.row, MINIMAL | {name: lo - step}) == [("greater_than_equal", (name,))]
    assert errors_of(schemas.row, MINIMAL | {name: hi + step}) == [("less_than_equal", (name,))]


@pytest.mark.parametrize("feature", CATEGORIES, ids=ids(CATEGORIES))
def test_a_category_is_one_of_the_card_s_strings_exactly(
    schemas: Schemas, feature: dict[str, Any]
) -> None:
    name = feature["name"]
    for category in feature["categories"]:
        assert errors_of(schemas.row, MINIMAL | {name: category}) == [], category
    first = feature["categories"][0]
    for near_miss in (first.upper(), first.lower(), f" {first}", first + "x"):
        if near_miss not in feature["categories"]:
            assert errors_of(schemas.row, MINIMAL | {name: near_miss}) == [
                ("literal_error", (name,))
            ], near_miss
    assert [t for t, _ in errors_of(schemas.row, MINIMAL | {name: 0})] == ["literal_error"]


def feature_of_type(kind: str) -> str:
    return next(f["name"] for f in FEATURES if f["type"] == kind)


# (card type, a JSON value that is not of that type): README, "an integer is a JSON number without
# a fractional part" (so 30.0 is one: test_an_integral_float_is_an_integer), "no strings,
# booleans or fractions", a boolean a JSON boolean.
NOT_OF_THE_TYPE = [
    ("integer", "30"), ("integer", True), ("integer", 30.5),
    ("number", "39.5"), ("number", True),
    ("boolean", 1), ("boolean", "true"), ("boolean", 0),
]  # fmt: skip


@pytest.mark.parametrize(("kind", "value"), NOT_OF_THE_TYPE, ids=repr)
def test_json_types_are_strict(schemas: Schemas, kind: str, value: object) -> None:
    name = feature_of_type(kind)
    assert [loc for _, loc in errors_of(schemas.row, MINIMAL | {name: value})] == [(name,)]


def test_an_integral_float_is_an_integer(schemas: Schemas) -> None:
    """JSON Schema's integer, which the OpenAPI document declares: 30.0 is the integer 30."""
    assert errors_of(schemas.row, MINIMAL | {feature_of_type("integer"): 30.0}) == []


def test_a_json_integer_is_a_number(schemas: Schemas) -> None:
    assert errors_of(schemas.row, MINIMAL | {feature_of_type("number"): 70}) == []


@pytest.mark.parametrize("literal", [b"NaN", b"Infinity", b"-Infinity"])
def test_a_number_must_be_finite(schemas: Schemas, literal: bytes) -> None:
    name = feature_of_type("number")
    raw = json.dumps(MINIMAL)[:-1].encode() + b', "' + name.encode() + b'": ' + literal + b"}"
    assert errors_of(schemas.row, raw) == [("finite_number", (name,))]


# --- a batch --------------------------------------------------------------------------------------


def test_a_batch_holds_one_to_max_batch_rows_rows(schemas: Schemas) -> None:
    assert errors_of(schemas.batch, {"rows": []}) == [("too_short", ("rows",))]
    for n in range(1, MAX_ROWS + 1):
        assert errors_of(schemas.batch, {"rows": [MINIMAL] * n}) == [], n
    assert errors_of(schemas.batch, {"rows": [MINIMAL] * (MAX_ROWS + 1)}) == [
        ("too_long", ("rows",))
    ]


def test_a_bad_row_is_named_by_its_index(schemas: Schemas) -> None:
    name = REQUIRED[0]["name"]
    rows = [MINIMAL, {k: v for k, v in MINIMAL.items() if k != name}]
    assert errors_of(schemas.batch, {"rows": rows}) == [("missing", ("rows", 1, name))]


def test_a_batch_has_no_field_but_rows(schemas: Schemas) -> None:
    assert errors_of(schemas.batch, {"rows": [MINIMAL], "extra": 1}) == [
        ("extra_forbidden", ("extra",))
    ]


# --- the documented examples ----------------------------------------------------------------------


def test_the_documented_examples_are_the_card_s_and_are_valid(schemas: Schemas) -> None:
    minimal, full = schemas.row.model_json_schema()["examples"]
    assert minimal == MINIMAL
    assert full == {f["name"]: f["example"] for f in FEATURES}
    assert errors_of(schemas.row, minimal) == []
    assert errors_of(schemas.row, full) == []


def test_a_card_without_examples_still_gets_valid_ones_inside_its_bounds() -> None:
    bare = copy.deepcopy(CARD)
    for feature in bare["features"]:
        feature.pop("example", None)
    row = build_schemas(ModelCard.from_dict(bare), max_batch_rows=MAX_ROWS).row
    minimal, full = row.model_json_schema()["examples"]
    assert set(minimal) == {f["name"] for f in REQUIRED}
    assert set(full) == {f["name"] for f in FEATURES}
    assert errors_of(row, minimal) == []
    assert errors_of(row, full) == []
    for feature in FEATURES:
        value = full[feature["name"]]
        if feature["type"] == "category":
            assert value in feature["categories"]
        elif feature["type"] == "boolean":
            assert isinstance(value, bool)
        else:
            assert feature["minimum"] <= value <= feature["maximum"]


# --- the response ---------------------------------------------------------------------------------


def test_a_prediction_s_fields_are_named_by_the_card_s_output_section(schemas: Schemas) -> None:
    output = CARD["output"]
    assert list(schemas.prediction.model_fields) == [
        "prediction_id", output["probability_field"], output["decision_field"], "model_version",
    ]  # fmt: skip
    assert list(schemas.batch_prediction.model_fields) == ["model_version", "predictions"]


@pytest.mark.parametrize(("probability", "valid"), [(0.0, True), (1.0, True), (-0.01, False),
                                                    (1.01, False)])  # fmt: skip
def test_a_probability_is_between_0_and_1(
    schemas: Schemas, probability: float, valid: bool
) -> None:
    output = CARD["output"]
    prediction = {
        "prediction_id": "0" * 32, output["probability_field"]: probability,
        output["decision_field"]: False, "model_version": CARD["version"],
    }  # fmt: skip
    assert (errors_of(schemas.prediction, prediction) == []) is valid


def test_the_error_body_is_the_one_the_readme_documents() -> None:
    # README: `{"error": <code>, "message": <text>, "detail": [{"loc", "msg", "type"}]}`
    assert list(ErrorOut.model_fields) == ["error", "message", "detail"]
    assert list(ErrorDetail.model_fields) == ["loc", "msg", "type"]
    detail = [{"loc": ["body", "rows", 1, "age"], "msg": "Field required", "type": "missing"}]
    ErrorOut.model_validate_json(error_body("validation_error", "no", detail), strict=True)


# --- through the app ------------------------------------------------------------------------------


def test_the_request_schema_comes_from_the_card(client: TestClient) -> None:
    openapi = client.get("/openapi.json").json()
    customer = openapi["components"]["schemas"]["Customer"]
    card = json.loads((BUNDLED_MODEL_DIR / "card.json").read_text())
    assert set(customer["properties"]) == {f["name"] for f in card["features"]}
    assert set(customer["required"]) == {f["name"] for f in card["features"] if f["required"]}
    assert customer["additionalProperties"] is False


def test_values_inside_the_bounds_but_outside_training_are_served(client: TestClient) -> None:
    response = client.post(
        "/predict",
        json={"age": 120, "signup_month": "May", "tenure_months": 600, "monthly_charges": 999.5},
    )
    assert response.status_code == 200


def test_an_integer_is_accepted_for_a_number_feature(client: TestClient) -> None:
    response = client.post(
        "/predict", json={"age": 30, "signup_month": "May", "monthly_charges": 70}
    )
    assert response.status_code == 200


def test_batch_over_the_limit_is_a_422_that_states_the_limit(client: TestClient) -> None:
    rows = [{"age": 30, "signup_month": "June"}] * 51
    response = client.post("/predict/batch", json={"rows": rows})
    assert response.status_code == 422
    (detail,) = response.json()["detail"]
    assert detail["loc"] == ["body", "rows"]
    assert "at most 50" in detail["msg"]


def test_batch_at_the_limit_is_served(client: TestClient) -> None:
    response = client.post(
        "/predict/batch", json={"rows": [{"age": 30, "signup_month": "June"}] * 50}
    )
    assert response.status_code == 200
    assert len(response.json()["predictions"]) == 50
