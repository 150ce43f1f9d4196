"""GET /drift in process: the report equals the oracle on exactly the rows that were sent."""

from examples.churn.generator import SHIFTS, generate
from tests.api.conftest import make_client
from tests.conftest import BUNDLED_MODEL_DIR
from tests.support.drift_check import check_metrics, check_report
from tests.support.drift_oracle import Oracle


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
