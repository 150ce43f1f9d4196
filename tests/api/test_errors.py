"""One table from errors to HTTP responses: every error is answered with the one documented
body, ``{"error", "message", "detail": [{"loc", "msg", "type"}]}``, and never echoes the input."""

import json

import pytest
from fastapi.testclient import TestClient

from app.api.errors import REASONS, classify
from tests.support.bad_requests import BAD_REQUESTS, JSON, BadRequest, check_bad_request

# --- through the app --------------------------------------------------------------------------


@pytest.mark.parametrize("case", BAD_REQUESTS, ids=lambda c: c.id)
def test_bad_requests_get_a_clear_4xx(client: TestClient, case: BadRequest) -> None:
    response = client.post(case.path, content=case.body, headers=case.headers)
    check_bad_request(response.status_code, response.json(), case)


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


def test_unknown_paths_and_methods_use_the_error_body(client: TestClient) -> None:
    assert client.get("/nope").json()["error"] == "not_found"
    response = client.get("/predict")
    assert response.status_code == 405
    assert response.json()["error"] == "method_not_allowed"


# --- validation failures as metric labels -----------------------------------------------------


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        ({"type": "missing", "loc": ("body", "age")}, ("age", "missing")),
        ({"type": "int_type", "loc": ("body", "rows", 3, "age")}, ("age", "type")),
        ({"type": "greater_than_equal", "loc": ("body", "age")}, ("age", "out_of_bounds")),
        (
            {"type": "literal_error", "loc": ("body", "plan"), "input": "gold"},
            ("plan", "unknown_category"),
        ),
        ({"type": "literal_error", "loc": ("body", "plan"), "input": 6}, ("plan", "type")),
        ({"type": "extra_forbidden", "loc": ("body", "zzz")}, ("_extra", "extra_field")),
        ({"type": "json_invalid", "loc": ("body", 12)}, ("_body", "body")),
        ({"type": "too_long", "loc": ("body", "rows")}, ("_body", "body")),
        ({"type": "model_attributes_type", "loc": ("body",)}, ("_body", "body")),
    ],
)
def test_validation_errors_map_to_bounded_labels(
    error: dict[str, object], expected: tuple[str, str]
) -> None:
    assert classify([error], {"age", "plan"}) == [expected]
    assert expected[1] in REASONS
