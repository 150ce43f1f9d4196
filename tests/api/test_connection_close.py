"""While the pod drains, every response tells its client to close the connection, and only
then: through the app here, once the master's flag is set."""

from fastapi.testclient import TestClient

from app.drain_flag import DrainFlag

ROW = {"age": 30, "signup_month": "June"}


def test_before_the_drain_the_worker_keeps_connections(worker: TestClient) -> None:
    assert "connection" not in worker.post("/predict", json=ROW).headers


def test_once_the_master_sets_the_flag_every_response_closes_its_connection(
    worker: TestClient, master_flag: DrainFlag
) -> None:
    master_flag.set()
    ready = worker.get("/readyz")
    health = worker.get("/healthz")
    predicted = worker.post("/predict", json=ROW)
    for response in (ready, health, predicted):
        assert response.headers["connection"] == "close"
