"""The wire contract, generated from the model card: required fields, strict JSON types, the
card's validity bounds and categories, no extra fields, and at most max_batch_rows rows."""

import json

from fastapi.testclient import TestClient

from tests.conftest import BUNDLED_MODEL_DIR

# --- through the app --------------------------------------------------------------------------


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
