"""``x-worker-pid`` on every response names the worker process that served it; off unless
switched on."""

import os

import pytest
from fastapi.testclient import TestClient

from app.drain_flag import DrainFlag
from app.main import create_app
from app.settings import Settings
from tests.conftest import BUNDLED_MODEL_DIR

ROW = {"age": 30, "signup_month": "June"}


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
