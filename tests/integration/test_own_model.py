"""Bring your own model: a second, differently shaped binary model, described by the command
and served end to end by real gunicorn with no code change."""

import subprocess
import sys
import time
from pathlib import Path

import httpx2
import lightgbm
import numpy as np
import pytest

from tests.support import second_model
from tests.support.metrics import value
from tests.support.processes import ROOT, gunicorn

TRANSACTION = {"amount_eur": 900.0, "country": "BR", "new_device": True, "hour": 3}
# The same transaction as the model takes it: country codes in the spec's order (BR is 3).
TRANSACTION_ENCODED = [900.0, 3.0, 1.0, 3.0]


def test_a_described_model_is_served_end_to_end(tmp_path: Path) -> None:
    model, sample, spec = second_model.make(tmp_path)
    out = tmp_path / "models" / "fraud"
    described = subprocess.run(
        [sys.executable, "-m", "app.describe_model", "--model", str(model), "--sample",
         str(sample), "--spec", str(spec), "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert described.returncode == 0, described.stderr
    raw = float(lightgbm.Booster(model_file=str(model)).predict(np.array([TRANSACTION_ENCODED]))[0])
    env = {"GLASSBOX_MODEL_DIR": str(out), "GLASSBOX_DRIFT_INTERVAL_SECONDS": "0.5"}
    with (
        gunicorn(tmp_path, workers=2, env=env) as server,
        httpx2.Client(base_url=server.url, timeout=10.0) as client,
    ):
        single = client.post("/predict", json=TRANSACTION)
        assert single.status_code == 200, single.text
        body = single.json()
        assert list(body) == ["prediction_id", "fraud_probability", "fraud", "model_version"]
        assert abs(body["fraud_probability"] - raw) < 1e-12
        batch = client.post("/predict/batch", json={"rows": [TRANSACTION, {
            "amount_eur": 10.0, "country": "DE"}]})  # fmt: skip
        assert batch.status_code == 200, batch.text
        first = batch.json()["predictions"][0]
        assert first["fraud_probability"] == pytest.approx(raw, abs=1e-12)
        bad = client.post("/predict", json={"amount_eur": -1.0, "country": "XX", "age": 3})
        assert bad.status_code == 422
        fields = sorted(d["loc"][-1] for d in bad.json()["detail"])
        assert fields == ["age", "amount_eur", "country"]
        assert client.post("/predict", json={"country": "DE"}).status_code == 422

        schemas = client.get("/openapi.json").json()["components"]["schemas"]
        assert {"Transaction", "TransactionPrediction", "TransactionBatch"} <= set(schemas)
        assert "Customer" not in schemas

        text = client.get("/metrics").text
        version = client.get("/model").json()["version"]
        assert version.startswith("fraud-")
        predicted = value(text, "glassbox_predictions_total", model_version=version)
        assert predicted == 3
        fraud = value(text, "glassbox_predictions_total", outcome="fraud")
        legit = value(text, "glassbox_predictions_total", outcome="legit")
        assert fraud + legit == 3
        failures = "glassbox_validation_failures_total"
        assert value(text, failures, field="amount_eur", reason="out_of_bounds") == 1
        assert value(text, failures, field="amount_eur", reason="missing") == 1
        assert value(text, failures, field="country", reason="unknown_category") == 1
        assert value(text, "glassbox_drift_bin_observations_total", feature="country",
                     bin="BR") == 2  # fmt: skip

        deadline = time.monotonic() + 20
        drift = client.get("/drift").json()
        while drift["windows"] is None and time.monotonic() < deadline:
            time.sleep(0.2)
            drift = client.get("/drift").json()
        assert drift["model_version"] == version
        assert drift["since_start"]["features"]["country"]["count"] == 3
        assert set(drift["since_start"]["features"]) == set(second_model.NAMES)
        assert drift["windows"] is not None, "the drift loop runs on the described model"
    assert "Traceback" not in server.log()
