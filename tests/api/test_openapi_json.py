"""The committed OpenAPI document (app/api/openapi.json, `make openapi`) keeps the contract:
POST /predict takes one record whose fields are the card's features and answers one prediction
under the card's output names; POST /predict/batch takes {"rows": [...]} of those records, at
most the default batch limit, and answers them in a list; every error status is the one error
body; the record's examples are valid records. The oracles: models/churn/card.json read as
plain JSON, README's error body, the settings' default batch limit, and jsonschema (not pydantic,
which wrote the schemas) validating the examples."""

from __future__ import annotations

import json
from typing import Any

import pytest
from jsonschema import Draft202012Validator, ValidationError

from app.settings import Settings
from tests.conftest import BUNDLED_MODEL_DIR
from tests.support.processes import ROOT

DOCUMENT: dict[str, Any] = json.loads((ROOT / "app" / "api" / "openapi.json").read_text())
CARD: dict[str, Any] = json.loads((BUNDLED_MODEL_DIR / "card.json").read_text())
FEATURES = [feature["name"] for feature in CARD["features"]]
REQUIRED = [feature["name"] for feature in CARD["features"] if feature["required"]]
RECORD = CARD["record_name"]
OUTPUT = CARD["output"]


def component(name: str) -> dict[str, Any]:
    return DOCUMENT["components"]["schemas"][name]  # type: ignore[no-any-return]


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def validator(name: str) -> Draft202012Validator:
    """The component ``name`` as a JSON Schema (OpenAPI 3.1's dialect), its references
    resolved in the document."""
    assert DOCUMENT["openapi"].startswith("3.1.")
    schema = {**ref(name), "components": DOCUMENT["components"]}
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def post(path: str) -> dict[str, Any]:
    return DOCUMENT["paths"][path]["post"]  # type: ignore[no-any-return]


def json_schema(part: dict[str, Any]) -> dict[str, Any]:
    return part["content"]["application/json"]["schema"]  # type: ignore[no-any-return]


def test_the_service_s_paths_and_their_methods() -> None:
    methods = {path: set(item) for path, item in DOCUMENT["paths"].items()}
    assert methods == {
        "/predict": {"post"}, "/predict/batch": {"post"}, "/drift": {"get"},
        "/healthz": {"get"}, "/readyz": {"get"}, "/model": {"get"},
    }  # fmt: skip
    assert DOCUMENT["info"]["version"] == CARD["version"]


def test_predict_takes_one_record_of_the_card_s_features() -> None:
    body = post("/predict")["requestBody"]
    assert body["required"] is True
    assert json_schema(body) == ref(RECORD)
    record = component(RECORD)
    assert list(record["properties"]) == FEATURES
    assert record["required"] == REQUIRED
    assert record["additionalProperties"] is False
    for feature in CARD["features"]:
        described = record["properties"][feature["name"]]
        assert described["description"] == feature["description"]
        if feature["type"] == "category":
            values = described if feature["required"] else described["anyOf"][0]
            assert values["enum"] == feature["categories"]


def test_predict_batch_takes_rows_of_those_records_up_to_the_default_limit() -> None:
    body = post("/predict/batch")["requestBody"]
    assert body["required"] is True
    assert json_schema(body) == ref(f"{RECORD}Batch")
    batch = component(f"{RECORD}Batch")
    assert batch["required"] == ["rows"]
    assert batch["additionalProperties"] is False
    rows = batch["properties"]["rows"]
    assert rows["type"] == "array"
    assert rows["items"] == ref(RECORD)
    assert rows["minItems"] == 1
    assert rows["maxItems"] == Settings.model_fields["max_batch_rows"].default == 1000


def test_the_responses_carry_the_card_s_output_names() -> None:
    one = {"prediction_id", OUTPUT["probability_field"], OUTPUT["decision_field"], "model_version"}
    assert json_schema(post("/predict")["responses"]["200"]) == ref(f"{RECORD}Prediction")
    prediction = component(f"{RECORD}Prediction")
    assert set(prediction["properties"]) == set(prediction["required"]) == one
    probability = prediction["properties"][OUTPUT["probability_field"]]
    assert (probability["type"], probability["minimum"], probability["maximum"]) == ("number", 0, 1)
    assert prediction["properties"][OUTPUT["decision_field"]]["type"] == "boolean"

    batch = json_schema(post("/predict/batch")["responses"]["200"])
    assert batch == ref(f"{RECORD}BatchPrediction")
    answered = component(f"{RECORD}BatchPrediction")
    assert (
        set(answered["properties"]) == set(answered["required"]) == {"model_version", "predictions"}
    )
    assert answered["properties"]["predictions"]["items"] == ref(f"{RECORD}Prediction")


@pytest.mark.parametrize("path", ["/predict", "/predict/batch"])
def test_every_error_status_is_the_one_error_body(path: str) -> None:
    responses = post(path)["responses"]
    errors = {status: part for status, part in responses.items() if int(status) >= 400}
    # README's error table ("The API"), less 404 (no route), 499 (recorded only) and 500.
    assert errors.keys() == {"400", "405", "408", "413", "415", "422", "431", "503", "504"}
    for status, part in errors.items():
        assert json_schema(part) == ref("ErrorOut"), status
    # README: {"error": <code>, "message": <text>, "detail": [{"loc", "msg", "type"}]}.
    error = component("ErrorOut")
    assert set(error["properties"]) == {"error", "message", "detail"}
    assert error["properties"]["detail"]["items"] == ref("ErrorDetail")
    assert set(component("ErrorDetail")["properties"]) == {"loc", "msg", "type"}
    detail = [{"loc": ["body", "rows", 0, "age"], "msg": "m", "type": "t"}]
    body = {"error": "validation_error", "message": "m", "detail": detail}
    validator("ErrorOut").validate(body)
    with pytest.raises(ValidationError):
        validator("ErrorOut").validate({"message": "no code"})


def test_the_record_s_examples_are_the_minimal_and_the_full_record_and_validate() -> None:
    examples = component(RECORD)["examples"]
    assert [set(example) for example in examples] == [set(REQUIRED), set(FEATURES)]
    # Each feature's example is the card's own where it gives one.
    for feature in CARD["features"]:
        if "example" in feature:
            assert examples[1][feature["name"]] == feature["example"], feature["name"]
    record = validator(RECORD)
    for example in examples:
        record.validate(example)
    validator(f"{RECORD}Batch").validate({"rows": examples})


def test_the_validator_refuses_what_the_service_refuses() -> None:
    """The oracle that the schemas bite: a missing required feature, an unknown field, a value
    out of the card's bounds, a category the card does not list, an empty batch."""
    minimal = component(RECORD)["examples"][0]
    record = validator(RECORD)
    age = next(f for f in CARD["features"] if f["name"] == "age")
    month = next(f for f in CARD["features"] if f["type"] == "category")
    refused = [
        {k: v for k, v in minimal.items() if k != REQUIRED[0]},
        {**minimal, "no_such_feature": 1},
        {**minimal, "age": age["maximum"] + 1},
        {**minimal, month["name"]: "Smarch"},
    ]
    for bad in refused:
        with pytest.raises(ValidationError):
            record.validate(bad)
    with pytest.raises(ValidationError):
        validator(f"{RECORD}Batch").validate({"rows": []})
