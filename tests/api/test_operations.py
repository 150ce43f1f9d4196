"""Probes, the model card endpoint and the OpenAPI document."""

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.model.card import MODEL_FILE
from tests.api.conftest import make_client
from tests.conftest import BUNDLED_MODEL_DIR


def test_healthz_is_ok(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}


def test_readyz_names_the_loaded_model(client: TestClient) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    card = json.loads((BUNDLED_MODEL_DIR / "card.json").read_text())
    assert response.json()["model_version"] == card["version"]


def test_model_returns_the_card(client: TestClient) -> None:
    card = json.loads((BUNDLED_MODEL_DIR / "card.json").read_text())
    assert client.get("/model").json() == card


def test_a_corrupt_model_keeps_the_service_alive_but_unready(model_copy: Path) -> None:
    path = model_copy / MODEL_FILE
    path.write_bytes(path.read_bytes()[:-100])
    with make_client(model_dir=model_copy) as c:
        assert c.get("/healthz").status_code == 200
        ready = c.get("/readyz")
        assert ready.status_code == 503
        assert "sha256" in ready.json()["reason"]
        response = c.post("/predict", json={"age": 30, "signup_month": "June"})
        assert response.status_code == 503
        assert response.json()["error"] == "model_not_ready"


def _operations(openapi: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (path, op)
        for path, item in openapi["paths"].items()
        for method, op in item.items()
        if method == "post"
    ]


def _resolve(openapi: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if ref:
        return openapi["components"]["schemas"][ref.rsplit("/", 1)[1]]  # type: ignore[no-any-return]
    return schema


def test_every_openapi_example_gets_its_documented_status(client: TestClient) -> None:
    openapi = client.get("/openapi.json").json()
    posted = 0
    for path, op in _operations(openapi):
        schema = _resolve(openapi, op["requestBody"]["content"]["application/json"]["schema"])
        examples = schema.get("examples", [])
        if path == "/predict/batch":
            row = _resolve(openapi, schema["properties"]["rows"]["items"])
            examples = [{"rows": row["examples"]}]
        assert examples, f"{path} documents no example"
        for example in examples:
            response = client.post(path, json=example)
            assert str(response.status_code) in op["responses"], (path, response.status_code)
            assert response.status_code == 200, (path, example, response.text)
            posted += 1
    assert posted >= 3


def test_openapi_documents_the_error_statuses(client: TestClient) -> None:
    op = client.get("/openapi.json").json()["paths"]["/predict"]["post"]
    assert {"200", "400", "413", "415", "422", "503"} <= op["responses"].keys()


def test_the_request_schema_comes_from_the_card(client: TestClient) -> None:
    openapi = client.get("/openapi.json").json()
    customer = openapi["components"]["schemas"]["Customer"]
    card = json.loads((BUNDLED_MODEL_DIR / "card.json").read_text())
    assert set(customer["properties"]) == {f["name"] for f in card["features"]}
    assert set(customer["required"]) == {f["name"] for f in card["features"] if f["required"]}
    assert customer["additionalProperties"] is False


@pytest.mark.parametrize("path", ["/docs", "/openapi.json"])
def test_docs_are_served(client: TestClient, path: str) -> None:
    assert client.get(path).status_code == 200
