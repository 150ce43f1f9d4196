"""One table from errors to HTTP responses: every error is answered with the one documented
body, ``{"error", "message", "detail": [{"loc", "msg", "type"}]}``, and never echoes the input.

The oracle for each status and code is README.md's error table, read from the README itself;
for the rejection labels, the README's description of ``glassbox_validation_failures_total``
and the card file. The handlers are installed on a small FastAPI app of the test's own first,
then checked through the service's app.
"""

import json
import logging
from typing import Any

import orjson
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException

from app.api.errors import (
    ERROR_TABLE,
    REASONS,
    ClientDisconnectedError,
    DeadlineExceededError,
    ModelNotReadyError,
    OverloadedError,
    classify,
    error_body,
    error_details,
    failure_label_pairs,
    install_error_handlers,
)
from app.model.card import ModelCard
from app.model.errors import ModelError, ModelIntegrityError
from app.telemetry.http_labels import RouteLabels
from tests.conftest import BUNDLED_MODEL_DIR
from tests.support.bad_requests import (
    ACCEPTED,
    BAD_REQUESTS,
    JSON,
    Accepted,
    BadRequest,
    check_error_response,
)
from tests.support.processes import ROOT

README = (ROOT / "README.md").read_text()


def readme_error_table() -> set[tuple[int, str]]:
    """(status, error code) of each row of README.md's error table."""
    section = README.split("Every error has one body", 1)[1].split("\n## ", 1)[0]
    pairs = set()
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0][:3].isdigit():
            statuses, codes = cells[0].split(" / "), cells[1].replace("`", "").split(" / ")
            pairs |= {(int(s), c) for s, c in zip(statuses, codes, strict=True)}
    return pairs


DOCUMENTED = readme_error_table()


def readme_failure_reasons() -> list[str]:
    """The reasons README.md lists for glassbox_validation_failures_total."""
    (line,) = [x for x in README.splitlines() if x.startswith("| `glassbox_validation_failures")]
    reasons = line.split("`reason` is ", 1)[1].split(" — ", 1)[0]
    return [r.strip(" `") for r in reasons.replace(" or ", ", ").split(",")]


class Item(BaseModel):
    age: int = Field(ge=18)


class Service:
    """A FastAPI app with the service's error handlers, its routes raising what a test asks, and
    the rejections the handlers reported."""

    def __init__(self) -> None:
        self.rejections: list[tuple[str, list[tuple[str, str]]]] = []
        self.raise_next: Exception = RuntimeError("nothing to raise")
        app = FastAPI()

        @app.post("/items")
        async def items(item: Item) -> dict[str, int]:
            return {"age": item.age}

        @app.get("/raises")
        async def raises() -> None:
            raise self.raise_next

        install_error_handlers(
            app, {"age"}, RouteLabels(["/items"]), lambda r, f: self.rejections.append((r, f))
        )
        self.client = TestClient(app, raise_server_exceptions=False)

    def raising(self, exc: Exception) -> Any:
        self.raise_next = exc
        return self.client.get("/raises")


@pytest.fixture
def service() -> Service:
    return Service()


def check_error_body(response: Any, status: int, code: str) -> dict[str, Any]:
    assert (status, code) in DOCUMENTED, f"{status} {code} is not in README.md's error table"
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    body: dict[str, Any] = response.json()
    assert body.keys() == {"error", "message", "detail"}
    assert body["error"] == code
    assert isinstance(body["message"], str)
    assert body["message"]
    return body


def test_the_readme_error_table_is_read() -> None:
    assert {(413, "body_too_large"), (500, "internal_error"), (405, "method_not_allowed")} <= (
        DOCUMENTED
    )


# --- the table: each error type and the status and code it gets -----------------------------------

# README.md's rows, each with an error raised while a request is served.
RAISED = [
    (ModelNotReadyError(), 503, "model_not_ready"),
    (ModelError("the model file changed"), 503, "model_unavailable"),
    (ModelIntegrityError("sha256 mismatch"), 503, "model_unavailable"),  # a kind of ModelError
    (OverloadedError(), 503, "overloaded"),
    (DeadlineExceededError(), 504, "deadline_exceeded"),
    (ClientDisconnectedError(), 499, "client_closed_request"),
    (RuntimeError("secret internals"), 500, "internal_error"),
]


@pytest.mark.parametrize(("exc", "status", "code"), RAISED, ids=lambda v: type(v).__name__)
def test_each_error_gets_its_documented_status_and_code_and_no_detail(
    service: Service, exc: Exception, status: int, code: str
) -> None:
    response = service.raising(exc)
    assert check_error_body(response, status, code)["detail"] == []
    if str(exc):
        assert str(exc) not in response.text, "the exception's own text is not sent"


def test_every_entry_of_the_table_is_held_to_the_readme() -> None:
    assert set(ERROR_TABLE) <= {type(exc) for exc, _, _ in RAISED}


def test_an_unexpected_error_is_logged_with_its_traceback_and_not_sent(
    service: Service, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="app.api.errors"):
        response = service.raising(RuntimeError("secret internals"))
    assert "secret internals" not in response.text
    assert "Traceback" not in response.text
    (record,) = [r for r in caplog.records if r.name == "app.api.errors"]
    assert record.exc_info is not None
    assert str(record.exc_info[1]) == "secret internals"


def test_domain_errors_are_not_rejections_of_the_input(service: Service) -> None:
    for exc, _, _ in RAISED:
        service.raising(exc)
    assert service.rejections == []


# --- request errors -------------------------------------------------------------------------------


def test_a_body_that_breaks_the_schema_is_a_422_naming_the_field(service: Service) -> None:
    response = service.client.post("/items", json={"age": 3})
    body = check_error_body(response, 422, "validation_error")
    (detail,) = body["detail"]
    assert detail["loc"] == ["body", "age"]
    assert detail["type"] == "greater_than_equal"
    assert detail.keys() == {"loc", "msg", "type"}, "no input, no context"
    assert service.rejections == [("/items", [("age", "out_of_bounds")])]


def test_a_body_that_is_not_json_is_a_400(service: Service) -> None:
    response = service.client.post("/items", content=b'{"age": ', headers=JSON)
    check_error_body(response, 400, "invalid_json")
    assert service.rejections == [("/items", [("_body", "body")])]


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded"])
def test_a_body_of_another_media_type_is_a_415(service: Service, content_type: str) -> None:
    response = service.client.post(
        "/items", content=b"age=30", headers={"content-type": content_type}
    )
    assert check_error_body(response, 415, "unsupported_media_type")["detail"] == []
    assert service.rejections == [("/items", [("_body", "body")])]


def test_a_bare_400_from_the_json_parser_is_invalid_json(service: Service) -> None:
    check_error_body(service.raising(HTTPException(400)), 400, "invalid_json")
    assert service.rejections == [("/raises", [("_body", "body")])]


def test_a_413_raised_while_the_body_is_read_keeps_its_message_and_is_a_rejection(
    service: Service,
) -> None:
    response = service.raising(HTTPException(413, "The body is larger than 1024 bytes."))
    body = check_error_body(response, 413, "body_too_large")
    assert body["message"] == "The body is larger than 1024 bytes."
    assert len(service.rejections) == 1


def test_an_unknown_path_is_a_404_and_not_a_rejection(service: Service) -> None:
    check_error_body(service.client.get("/nowhere"), 404, "not_found")
    assert service.rejections == []


def test_a_405_keeps_the_allow_header_http_requires(service: Service) -> None:
    """RFC 9110 section 15.5.6: a 405 response must carry Allow."""
    response = service.client.get("/items")
    check_error_body(response, 405, "method_not_allowed")
    assert [m.strip() for m in response.headers["allow"].split(",")] == ["POST"]


# --- the detail: nothing of the input but field names, made safe ----------------------------------


def test_the_detail_keeps_where_what_and_why_and_drops_the_input_and_context() -> None:
    error = {
        "type": "greater_than_equal", "loc": ("body", "rows", 3, "age"),
        "msg": "Input should be greater than or equal to 18", "input": 17, "ctx": {"ge": 18},
        "url": "https://errors.pydantic.dev/2/v/greater_than_equal",
    }  # fmt: skip
    assert error_details([error]) == [
        {"loc": ["body", "rows", 3, "age"], "msg": error["msg"], "type": "greater_than_equal"}
    ]


def test_a_lone_surrogate_in_a_field_name_is_replaced_so_the_body_can_be_sent() -> None:
    with pytest.raises(UnicodeEncodeError):
        "\udfff".encode()
    (detail,) = error_details([{"type": "extra_forbidden", "loc": ("body", "\udfff"), "msg": "x"}])
    assert orjson.loads(error_body("validation_error", "m", [detail]))["detail"] == [detail]


def test_a_long_field_name_is_cut_short() -> None:
    name = "x" * 10_000
    (detail,) = error_details([{"type": "extra_forbidden", "loc": ("body", name), "msg": "x"}])
    cut = detail["loc"][1]
    assert len(cut) < 100
    assert name.startswith(cut.rstrip("…"))


def test_the_error_body_has_the_documented_shape() -> None:
    assert orjson.loads(error_body("overloaded", "Retry later.")) == {
        "error": "overloaded", "message": "Retry later.", "detail": [],
    }  # fmt: skip


# --- the rejection labels -------------------------------------------------------------------------


def test_the_rejection_reasons_are_the_readme_s() -> None:
    assert sorted(REASONS) == sorted(readme_failure_reasons())


def test_every_rejection_label_that_can_occur_exists_from_the_start() -> None:
    """README: ``field`` is a card field, ``_extra`` or ``_body``; a bounded feature can be out
    of bounds, a category's value unknown, any feature missing or of the wrong type."""
    card = json.loads((BUNDLED_MODEL_DIR / "card.json").read_text())
    can_occur = {("_extra", "extra_field"), ("_body", "body")}
    for feature in card["features"]:
        name = feature["name"]
        can_occur.add((name, "type"))
        if feature["required"]:
            can_occur.add((name, "missing"))
        if "minimum" in feature or "maximum" in feature:
            can_occur.add((name, "out_of_bounds"))
        if feature["type"] == "category":
            can_occur.add((name, "unknown_category"))
    pairs = failure_label_pairs(ModelCard.from_dict(card).contract)
    assert len(pairs) == len(set(pairs)), "each label set once"
    assert can_occur <= set(pairs)
    names = {f["name"] for f in card["features"]} | {"_extra", "_body"}
    never = {(f["name"], r) for f in card["features"] for r in ("out_of_bounds", "unknown_category")
             if not can_occur >= {(f["name"], r)}}  # fmt: skip
    for field, reason in pairs:
        assert field in names
        assert reason in REASONS
        assert (field, reason) not in never, "no series for a failure the card rules out"


# --- validation failures as metric labels ---------------------------------------------------------


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


# --- through the app ------------------------------------------------------------------------------


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


def test_unknown_paths_and_methods_use_the_error_body(client: TestClient) -> None:
    assert client.get("/nope").json()["error"] == "not_found"
    response = client.get("/predict")
    assert response.status_code == 405
    assert response.json()["error"] == "method_not_allowed"
