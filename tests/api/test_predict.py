"""POST /predict and /predict/batch through the real app and its lifespan, in process."""

import json
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.api.schemas import build_schemas
from examples.churn.generator import generate
from tests.api.conftest import make_client
from tests.support.bad_requests import (
    ACCEPTED,
    BAD_REQUESTS,
    JSON,
    Accepted,
    BadRequest,
    check_error_response,
)
from tests.support.raw_model import RawModel

PREDICTION_ID = re.compile(r"^[0-9a-f]{32}$")


def test_minimal_record_gets_a_probability(client: TestClient, raw_model: RawModel) -> None:
    response = client.post("/predict", json={"age": 30, "signup_month": "June"})
    assert response.status_code == 200
    body = response.json()
    assert body.keys() == {"prediction_id", "churn_probability", "churn", "model_version"}
    assert PREDICTION_ID.match(body["prediction_id"])
    assert body["prediction_id"].endswith("00000000")
    assert body["model_version"] == raw_model.version
    (expected,) = raw_model.predict([{"age": 30, "signup_month": "June"}])
    assert body["churn_probability"] == expected
    assert body["churn"] == (expected >= raw_model.threshold)


def test_full_records_match_the_raw_model(client: TestClient, raw_model: RawModel) -> None:
    for record in generate(20, seed=12).records():
        response = client.post("/predict", json=record)
        assert response.status_code == 200, response.text
        assert response.json()["churn_probability"] == raw_model.predict([record])[0]


def listed_values(feature: dict[str, Any]) -> list[Any]:
    """The values a card feature enumerates: its categories, or false and true for a boolean."""
    if feature["type"] == "boolean":
        return [False, True]
    return list(feature.get("categories") or [])


def value_variants(raw_model: RawModel, bases: list[dict[str, object]]) -> list[dict[str, object]]:
    """Each base record with, one feature at a time, each of the feature's listed values, and
    null and absent for an optional feature."""
    variants = []
    for base in bases:
        for feature in raw_model.features:
            name = feature["name"]
            variants += [{**base, name: value} for value in listed_values(feature)]
            if not feature["required"]:
                variants.append({**base, name: None})
                variants.append({k: v for k, v in base.items() if k != name})
    return variants


def test_every_category_boolean_and_missing_value_is_encoded_as_the_card_says(
    client: TestClient, raw_model: RawModel
) -> None:
    """Single rows and batches (two encoding paths) against LightGBM on a hand-built matrix."""
    bases = list(generate(5, seed=14).records())
    records = value_variants(raw_model, bases)
    expected = raw_model.predict(records)
    # The probe can see a swapped code: for every categorical or boolean feature, some base
    # record gets a different probability for each of the feature's values.
    for feature in raw_model.features:
        values = listed_values(feature)
        if values:
            assert any(
                len(set(raw_model.predict([{**b, feature["name"]: v} for v in values])))
                == len(values)
                for b in bases
            ), feature["name"]
    singles = [client.post("/predict", json=r).json()["churn_probability"] for r in records]
    assert singles == expected
    batched = []
    for start in range(0, len(records), 50):
        response = client.post("/predict/batch", json={"rows": records[start : start + 50]})
        assert response.status_code == 200, response.text
        batched += [p["churn_probability"] for p in response.json()["predictions"]]
    assert batched == expected


def test_null_optional_features_are_missing_like_absent_ones(client: TestClient) -> None:
    absent = client.post("/predict", json={"age": 44, "signup_month": "March"}).json()
    null = client.post(
        "/predict",
        json={"age": 44, "signup_month": "March", "plan": None, "tenure_months": None},
    ).json()
    assert absent["churn_probability"] == null["churn_probability"]


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


def test_bodies_are_what_the_openapi_document_promises(client: TestClient) -> None:
    """The handlers render their JSON themselves (orjson): it must still be the models' that
    the card's output section names, and for the bundled model the wire format of old."""
    schemas = client.app.state.service  # type: ignore[attr-defined]
    built = build_schemas(schemas.card, max_batch_rows=50)
    single = client.post("/predict", json={"age": 30, "signup_month": "June"})
    assert single.headers["content-type"] == "application/json"
    built.prediction.model_validate_json(single.content, strict=True)
    assert list(single.json()) == ["prediction_id", "churn_probability", "churn", "model_version"]
    batch = client.post("/predict/batch", json={"rows": [{"age": 30, "signup_month": "June"}] * 3})
    assert batch.headers["content-type"] == "application/json"
    built.batch_prediction.model_validate_json(batch.content, strict=True)
    assert list(batch.json()) == ["model_version", "predictions"]
    paths = client.get("/openapi.json").json()["paths"]
    for path, model in (
        ("/predict", "CustomerPrediction"), ("/predict/batch", "CustomerBatchPrediction")
    ):  # fmt: skip
        ok = paths[path]["post"]["responses"]["200"]["content"]["application/json"]["schema"]
        assert ok == {"$ref": f"#/components/schemas/{model}"}
    request = paths["/predict"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert request == {"$ref": "#/components/schemas/Customer"}


def test_prediction_ids_are_unique(client: TestClient) -> None:
    ids = {client.post("/predict", json={"age": 30, "signup_month": "June"}).json()["prediction_id"]
           for _ in range(50)}  # fmt: skip
    assert len(ids) == 50


def test_batch_results_come_in_input_order(client: TestClient, raw_model: RawModel) -> None:
    records = list(generate(40, seed=13).records())
    response = client.post("/predict/batch", json={"rows": records})
    assert response.status_code == 200
    body = response.json()
    probabilities = [p["churn_probability"] for p in body["predictions"]]
    assert probabilities == raw_model.predict(records)
    assert [p["churn"] for p in body["predictions"]] == [
        p >= raw_model.threshold for p in probabilities
    ]
    ids = [p["prediction_id"] for p in body["predictions"]]
    assert [int(i[-8:], 16) for i in ids] == list(range(40))
    assert len({i[:24] for i in ids}) == 1
    assert body["model_version"] == raw_model.version


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


@pytest.mark.parametrize("case", BAD_REQUESTS, ids=lambda c: c.id)
def test_bad_requests_get_a_clear_4xx(client: TestClient, case: BadRequest) -> None:
    response = client.post(case.path, content=case.body, headers=case.headers)
    content_type = response.headers.get("content-type")
    check_error_response(response.status_code, content_type, response.content, case)


@pytest.mark.parametrize("case", ACCEPTED, ids=lambda c: c.id)
def test_edge_inputs_that_are_valid_are_served(client: TestClient, case: Accepted) -> None:
    response = client.post("/predict", content=case.body, headers=case.headers)
    assert response.status_code == 200, response.text


def test_field_errors_say_what_is_wrong(client: TestClient) -> None:
    response = client.post("/predict", content=b'{"age": 17, "signup_month": "Juneuary"}',
                           headers=JSON)  # fmt: skip
    messages = {d["loc"][-1]: d["msg"] for d in response.json()["detail"]}
    assert "greater than or equal to 18" in messages["age"]
    assert "'June'" in messages["signup_month"]


def test_junk_field_names_are_not_echoed_at_length(client: TestClient) -> None:
    body = json.dumps({"age": 30, "signup_month": "June", "x" * 10_000: 1}).encode()
    response = client.post("/predict", content=body, headers=JSON)
    assert response.status_code == 422
    assert len(response.content) < 1000


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
def test_too_large_a_body_is_a_413(declared: bool) -> None:
    body = json.dumps({"rows": [{"age": 30, "signup_month": "June"}] * 100}).encode()
    content = body if declared else iter([body[:1000], body[1000:]])
    with make_client(max_body_bytes=1024) as small:
        response = small.post("/predict/batch", headers=JSON, content=content)
    assert response.status_code == 413
    assert response.json()["error"] == "body_too_large"


def test_unknown_paths_and_methods_use_the_error_body(client: TestClient) -> None:
    assert client.get("/nope").json()["error"] == "not_found"
    response = client.get("/predict")
    assert response.status_code == 405
    assert response.json()["error"] == "method_not_allowed"
