"""A worker's side of the drain, in process: once the master's flag is set, /readyz is 503
"draining", /healthz stays 200, every response closes its connection and glassbox_draining is
1. The worker-pid header is off unless switched on."""

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client import values

from app.drain_flag import DrainFlag
from app.main import create_app
from app.settings import Settings
from tests.conftest import BUNDLED_MODEL_DIR
from tests.support.metrics import value

ROW = {"age": 30, "signup_month": "June"}


@pytest.fixture
def master_flag(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> DrainFlag:
    """The flag a master made in the multiprocess directory before this worker started."""
    path = tmp_path / "metrics"
    path.mkdir()
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(path))
    monkeypatch.setattr(values, "ValueClass", values.MultiProcessValue())
    return DrainFlag.create(path)


@pytest.fixture
def client(master_flag: DrainFlag) -> Iterator[TestClient]:
    with TestClient(create_app(Settings(model_dir=BUNDLED_MODEL_DIR))) as c:
        yield c


def draining_gauge(client: TestClient) -> float:
    return value(client.get("/metrics").text, "glassbox_draining")


def test_before_the_drain_the_worker_is_ready_and_keeps_connections(client: TestClient) -> None:
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert "connection" not in client.post("/predict", json=ROW).headers
    assert draining_gauge(client) == 0


def test_once_the_master_sets_the_flag_the_worker_drains(
    client: TestClient, master_flag: DrainFlag
) -> None:
    master_flag.set()
    ready = client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json() == {"status": "not_ready", "reason": "draining"}
    health = client.get("/healthz")
    assert health.status_code == 200
    predicted = client.post("/predict", json=ROW)
    assert predicted.status_code == 200  # still served: the window is for serving
    for response in (ready, health, predicted):
        assert response.headers["connection"] == "close"
    deadline = time.monotonic() + 10
    while draining_gauge(client) != 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert draining_gauge(client) == 1


@pytest.mark.parametrize("switched_on", [False, True])
def test_the_worker_pid_header_is_off_by_default(master_flag: DrainFlag, switched_on: bool) -> None:
    settings = Settings(model_dir=BUNDLED_MODEL_DIR)
    if switched_on:
        settings = Settings(model_dir=BUNDLED_MODEL_DIR, server={"worker_pid_header": True})
    with TestClient(create_app(settings)) as c:
        for response in (c.get("/healthz"), c.post("/predict", json=ROW), c.get("/nowhere")):
            assert response.headers.get("x-worker-pid") == (
                str(os.getpid()) if switched_on else None
            )
