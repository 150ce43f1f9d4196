"""``x-worker-pid`` on every response names the worker process that served it, added to the
response's own headers; off unless switched on (``GLASSBOX_WORKER_PID_HEADER``).

``WorkerPidHeader`` is driven as an ASGI callable first, then the switch through the app.
"""

import os

import pytest
from fastapi.testclient import TestClient

from app.api.worker_pid_header import WorkerPidHeader
from app.drain_flag import DrainFlag
from app.main import create_app
from app.settings import Settings
from tests.conftest import BUNDLED_MODEL_DIR
from tests.support.asgi import LIFESPAN_SCOPE, Body, Endpoint, Sent, call, http_scope

ROW = {"age": 30, "signup_month": "June"}
OWN_HEADERS = [(b"content-type", b"application/json"), (b"x-own", b"1")]


def test_every_response_names_this_process_after_its_own_headers() -> None:
    endpoint = Endpoint(status=422, body=b"{}", headers=OWN_HEADERS)
    sent = call(WorkerPidHeader(endpoint), http_scope())
    assert sent.header_list == [*OWN_HEADERS, (b"x-worker-pid", str(os.getpid()).encode())]
    assert (sent.status, sent.body) == (422, b"{}"), "status and body untouched"


def test_a_lifespan_scope_passes_through() -> None:
    endpoint = Endpoint()
    body, sent = Body(), Sent()
    call(WorkerPidHeader(endpoint), LIFESPAN_SCOPE, body, sent)
    assert (endpoint.calls, endpoint.receive, endpoint.send) == (1, body, sent)


# --- through the app ------------------------------------------------------------------------------


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
