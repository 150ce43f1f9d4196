"""A route whose JSON body is validated straight from its bytes: its OpenAPI document is the one
FastAPI makes for the same endpoint as a plain route; a valid body is served without Python's
``json``; every other body is answered by FastAPI's own handler, as a plain route answers it;
and for the bodies both parsers take, the record validated from the bytes is the record FastAPI
validates from Python's parse (the oracle: ``json.loads`` then ``model_validate``, FastAPI's
path), the bundled card's schema, generator rows and the edge inputs of the hostile table."""

import json
from typing import Any

import pytest
import starlette.requests
from fastapi import FastAPI, Request, Response
from fastapi.testclient import TestClient
from pydantic import BaseModel, ValidationError

from app.api.errors import install_error_handlers
from app.api.json_body import JsonBodyRoute
from app.api.schemas import build_schemas
from app.model.card import ModelCard
from app.telemetry.http_labels import RouteLabels
from examples.churn.generator import SHIFTS, generate
from tests.conftest import BUNDLED_MODEL_DIR
from tests.support.bad_requests import ACCEPTED, BAD_REQUESTS

SCHEMAS = build_schemas(ModelCard.load(BUNDLED_MODEL_DIR / "card.json"), max_batch_rows=50)
Row: Any = SCHEMAS.row


async def echo(row: Row, request: Request) -> Response:
    return Response(row.model_dump_json(), media_type="application/json")


REJECTED: dict[str, list[Any]] = {"fast": [], "plain": []}


def app_with(name: str, route_class: type | None) -> FastAPI:
    """The echo route, the service's error handlers; rejections reported to REJECTED[name]."""
    app = FastAPI()
    install_error_handlers(
        app, SCHEMAS.row.model_fields, RouteLabels(("/echo",)),
        lambda route, failures: REJECTED[name].append((route, failures)),
    )  # fmt: skip
    extra = {} if route_class is None else {"route_class_override": route_class}
    app.router.add_api_route(
        "/echo", echo, methods=["POST"], response_model=SCHEMAS.row, responses={422: {}}, **extra
    )
    return app


@pytest.fixture(scope="module")
def fast() -> TestClient:
    return TestClient(app_with("fast", JsonBodyRoute))


@pytest.fixture(scope="module")
def plain() -> TestClient:
    return TestClient(app_with("plain", None))


def test_the_openapi_document_is_the_plain_route_s(fast: TestClient, plain: TestClient) -> None:
    assert fast.get("/openapi.json").json() == plain.get("/openapi.json").json()


def test_a_valid_body_is_served_without_python_s_json(
    fast: TestClient, plain: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("parsed by Python's json")

    body = b'{"age": 30, "signup_month": "June", "plan": "basic"}'
    headers = {"content-type": "application/json"}
    with monkeypatch.context() as patch:
        patch.setattr(starlette.requests.json, "loads", refuse)
        response = fast.post("/echo", content=body, headers=headers)
        # The oracle that the patch bites: the plain route parses with it (and FastAPI turns
        # the parser's failure into its 400).
        assert plain.post("/echo", content=body, headers=headers).status_code == 400
    assert response.status_code == 200
    assert json.loads(response.content)["plan"] == "basic"


ROW_CASES = [case for case in BAD_REQUESTS if case.path == "/predict"]


@pytest.mark.parametrize("case", ROW_CASES, ids=lambda c: c.id)
def test_a_refused_body_gets_what_the_plain_route_answers(
    fast: TestClient, plain: TestClient, case: Any
) -> None:
    for rejected in REJECTED.values():
        rejected.clear()
    got = fast.post("/echo", content=case.body, headers=case.headers)
    expected = plain.post("/echo", content=case.body, headers=case.headers)
    assert expected.status_code == case.status  # the oracle answers as the table says
    assert (got.status_code, got.json()) == (expected.status_code, expected.json())
    assert REJECTED["fast"] == REJECTED["plain"] != []


def fastapi_s(model: type[BaseModel], body: bytes) -> BaseModel | None:
    """What FastAPI's path makes of a body: Python's json, then validation; None if refused."""
    try:
        return model.model_validate(json.loads(body))
    except (ValueError, RecursionError, ValidationError):
        return None


def bodies() -> list[bytes]:
    records = list(generate(300, seed=41).records())
    records += [
        r for shift in SHIFTS.values() for r in generate(30, seed=42, population=shift).records()
    ]
    out = [json.dumps(r).encode() for r in records]
    out += [json.dumps(r, indent=1).encode() for r in records[:20]]
    out += [case.body for case in ACCEPTED]
    out += [case.body for case in ROW_CASES]
    # Number and text forms the JSON grammar refuses or that parsers read differently.
    numbers = [
        "030",
        "-030",
        "30.",
        ".5",
        "+30",
        "3e",
        "3e1",
        "3E+1",
        "30.0e0",
        "-0",
        "0x1E",
        "1_000",
        "30 ",
        "\\u0033\\u0030",
        "3\u0030",
        "30\n",
        "Infinity",
        "NaN",
        "-",
    ]
    out += [b'{"age": ' + n.encode() + b', "signup_month": "June"}' for n in numbers]
    out += [
        b'{"age": 30, "signup_month": "June", "monthly_charges": ' + n.encode() + b"}"
        for n in ["40.5", "4.05e1", "405e-1", "1e-400", "39.999999999999999999", "-0.0"]
    ]
    out += [
        b'{"age": 30, "signup_month": "\\u004aune"}',
        b'{"age": 30, "signup_month": "Ju\\ne"}',
        b'{"age": 30, "signup_month": "June", "autopay": True}',
        b'\xef\xbb\xbf{"age": 30, "signup_month": "June"}',
        b'{"age": 30, "signup_month": "June",}',
    ]
    return out


def test_what_both_paths_accept_they_read_alike() -> None:
    """Valid under pydantic-core's parser means valid under FastAPI's, with the same values;
    whatever only FastAPI's takes is served by it (the fallback)."""
    served_fast = 0
    for body in bodies():
        expected = fastapi_s(Row, body)
        try:
            got = Row.model_validate_json(body)
        except ValidationError:
            continue
        served_fast += 1
        assert expected is not None, body[:200]
        assert got.__dict__ == expected.__dict__, body[:200]
        assert [type(v) for v in got.__dict__.values()] == [
            type(v) for v in expected.__dict__.values()
        ]
    assert served_fast >= 500


def test_a_batch_validates_alike_from_bytes() -> None:
    records = list(generate(50, seed=43).records())
    body = json.dumps({"rows": records}).encode()
    got, expected = SCHEMAS.batch.model_validate_json(body), fastapi_s(SCHEMAS.batch, body)
    assert expected is not None
    assert [r.__dict__ for r in got.rows] == [r.__dict__ for r in expected.rows]  # type: ignore[attr-defined]


def test_an_endpoint_of_another_shape_is_refused() -> None:
    async def two_bodies(row: Row, other: Row) -> Response:
        return Response()

    app = FastAPI()
    with pytest.raises(TypeError, match="two_bodies"):
        app.router.add_api_route(
            "/x", two_bodies, methods=["POST"], route_class_override=JsonBodyRoute
        )
