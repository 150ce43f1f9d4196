"""The routes, through the real app and its lifespan, in process: POST /predict and
/predict/batch answer each row with the raw model's probability under the card's output names,
in input order, with a unique time-sortable id; /healthz answers while the process lives and
/readyz only while the model is loaded and the pod is not draining; /model is the card; the
OpenAPI document's examples are served; GET /drift reports exactly the rows that were served.
The oracles: LightGBM on a matrix encoded by hand from card.json, the card file, README.md."""

import json
import re
import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.api.routes import json_response, prediction_id, prediction_id_prefix
from app.api.schemas import build_schemas
from app.drain_flag import DrainFlag
from app.model.card import MODEL_FILE
from examples.churn.generator import SHIFTS, generate
from tests.api.conftest import make_client
from tests.conftest import BUNDLED_MODEL_DIR
from tests.support.drift_check import check_metrics, check_report
from tests.support.drift_oracle import Oracle
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


def test_every_batch_size_gets_its_rows_ids_whatever_came_before(client: TestClient) -> None:
    """Ids count 0, 1, ... in each request, for a batch larger than any before, then smaller."""
    for size in (3, 47, 50, 1, 20):
        rows = [{"age": 30, "signup_month": "June"}] * size
        ids = [
            p["prediction_id"]
            for p in client.post("/predict/batch", json={"rows": rows}).json()["predictions"]
        ]
        assert [int(i[-8:], 16) for i in ids] == list(range(size))
        assert all(PREDICTION_ID.match(i) for i in ids)


# --- probes, the model card, the OpenAPI document -------------------------------------------------


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


def test_before_the_drain_the_worker_is_ready(worker: TestClient) -> None:
    ready = worker.get("/readyz")
    assert ready.status_code == 200


def test_once_the_master_sets_the_flag_the_worker_is_unready_but_still_serves(
    worker: TestClient, master_flag: DrainFlag
) -> None:
    master_flag.set()
    ready = worker.get("/readyz")
    assert ready.status_code == 503
    assert ready.json() == {"status": "not_ready", "reason": "draining"}
    health = worker.get("/healthz")
    assert health.status_code == 200
    predicted = worker.post("/predict", json={"age": 30, "signup_month": "June"})
    assert predicted.status_code == 200  # still served: the window is for serving


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


@pytest.mark.parametrize("path", ["/docs", "/openapi.json"])
def test_docs_are_served(client: TestClient, path: str) -> None:
    assert client.get(path).status_code == 200


# --- GET /drift -----------------------------------------------------------------------------------


def test_drift_report_equals_the_oracle() -> None:
    singles = list(generate(40, seed=31, population=SHIFTS["older"]).records())
    batch = list(generate(300, seed=32, population=SHIFTS["more_missing"]).records())
    with make_client() as client:
        for record in singles:
            assert client.post("/predict", json=record).status_code == 200
        assert client.post("/predict/batch", json={"rows": batch}).status_code == 200
        client.post("/predict", json={"age": "bad"})  # rejected rows are not counted
        report = client.get("/drift").json()
        metrics = client.get("/metrics").text
    oracle = Oracle(BUNDLED_MODEL_DIR)
    check_report(report["since_start"], oracle, singles + batch)
    check_metrics(metrics, oracle, singles + batch)


def test_a_fresh_service_reports_no_statistics() -> None:
    with make_client() as fresh:
        report = fresh.get("/drift").json()
    assert report["since_start"]["features"]["age"]["psi"] is None
    assert report["since_start"]["features"]["age"]["status"] == "insufficient_data"
    assert report["windows"] is None


def test_drift_recording_can_be_switched_off() -> None:
    with make_client(drift={"enabled": False}) as client:
        response = client.post("/predict", json={"age": 30, "signup_month": "June"})
        report = client.get("/drift").json()
    assert response.status_code == 200, "a prediction was served, and not binned"
    assert report["since_start"]["features"]["age"]["count"] == 0


# --- prediction ids and the JSON the handlers render ----------------------------------------------
# README: "32 lowercase hex digits - 12 of the request's Unix time in milliseconds, 12 random
# per request, then the row's index in the request as 8 (a single prediction ends in 00000000)".


def test_a_request_s_id_prefix_is_its_unix_time_in_milliseconds_then_12_random_hex_digits() -> None:
    before = time.time_ns() // 1_000_000
    prefix = prediction_id_prefix()
    after = time.time_ns() // 1_000_000
    assert re.fullmatch(r"[0-9a-f]{24}", prefix)
    assert before <= int(prefix[:12], 16) <= after
    randoms = {prediction_id_prefix()[12:] for _ in range(100)}
    assert len(randoms) == 100


@pytest.mark.parametrize(("row", "suffix"), [(0, "00000000"), (1, "00000001"), (999, "000003e7"),
                                             (2**32 - 1, "ffffffff")])  # fmt: skip
def test_a_row_s_id_is_the_prefix_then_its_index_as_8_hex_digits(row: int, suffix: str) -> None:
    prefix = "0123456789abcdef01234567"
    assert prediction_id(prefix, row) == prefix + suffix
    assert PREDICTION_ID.match(prediction_id(prefix, row))


def test_ids_sort_by_time() -> None:
    earlier = prediction_id(prediction_id_prefix(), 7)
    time.sleep(0.002)
    later = prediction_id(prediction_id_prefix(), 0)
    assert earlier < later


def test_the_handlers_json_is_application_json_and_keeps_every_float_exactly() -> None:
    content = {"p": 0.1 + 0.2, "tiny": 5e-324, "ok": True, "ids": ["a", "b"], "n": None}
    response = json_response(content)
    assert response.media_type == "application/json"
    assert response.headers["content-type"] == "application/json"
    assert json.loads(bytes(response.body)) == content
