"""While the pod drains, every response tells its client to close the connection, and only
then: ``Connection: close`` (RFC 9110 section 7.6.1) on every response once the master's flag
is set, added to the response's own headers; nothing changes outside a drain.

``CloseConnectionsWhileDraining`` is driven as an ASGI callable first, with a real drain flag
in a temporary directory; then through the app.
"""

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.api.connection_close import CloseConnectionsWhileDraining
from app.drain_flag import DrainFlag
from tests.support.asgi import LIFESPAN_SCOPE, Body, Endpoint, Sent, call, http_scope

ROW = {"age": 30, "signup_month": "June"}
OWN_HEADERS = [(b"content-type", b"application/json"), (b"x-own", b"1")]


@pytest.fixture
def flag(tmp_path: Path) -> DrainFlag:
    return DrainFlag.create(tmp_path)


def layer_over(endpoint: Endpoint, flag: DrainFlag) -> CloseConnectionsWhileDraining:
    return CloseConnectionsWhileDraining(endpoint, flag)


def test_outside_a_drain_the_response_goes_out_as_the_app_sent_it(flag: DrainFlag) -> None:
    endpoint = Endpoint(headers=OWN_HEADERS)
    sent = Sent()
    call(layer_over(endpoint, flag), http_scope(), Body(), sent)
    assert endpoint.send is sent, "no wrapper outside a drain"
    assert sent.header_list == OWN_HEADERS


def test_while_draining_the_response_says_connection_close_after_its_own_headers(
    flag: DrainFlag,
) -> None:
    flag.set()
    endpoint = Endpoint(status=503, body=b"not ready", headers=OWN_HEADERS)
    sent = call(layer_over(endpoint, flag), http_scope("/readyz", "GET"))
    assert sent.header_list == [*OWN_HEADERS, (b"connection", b"close")]
    assert sent.status == 503
    assert sent.body == b"not ready", "the body is untouched"


def test_while_draining_a_response_without_headers_gets_connection_close(flag: DrainFlag) -> None:
    flag.set()
    endpoint = Endpoint(headers=())
    assert call(layer_over(endpoint, flag), http_scope()).header("connection") == "close"


def test_the_flag_is_read_per_request_so_the_drain_starts_with_the_next_one(
    flag: DrainFlag,
) -> None:
    layer = layer_over(Endpoint(), flag)
    assert call(layer, http_scope()).header("connection") is None
    flag.set()
    assert call(layer, http_scope()).header("connection") == "close"


def test_a_worker_sees_the_flag_its_master_set(tmp_path: Path) -> None:
    master = DrainFlag.create(tmp_path)
    layer = layer_over(Endpoint(), DrainFlag.open(tmp_path))
    master.set()
    assert call(layer, http_scope()).header("connection") == "close"


def test_without_a_master_there_is_no_drain() -> None:
    layer = layer_over(Endpoint(), DrainFlag.open(None))
    assert call(layer, http_scope()).header("connection") is None


def test_a_lifespan_scope_passes_through_while_draining(flag: DrainFlag) -> None:
    flag.set()
    endpoint = Endpoint()
    body, sent = Body(), Sent()
    call(layer_over(endpoint, flag), LIFESPAN_SCOPE, body, sent)
    assert (endpoint.calls, endpoint.receive, endpoint.send) == (1, body, sent)


# --- through the app ------------------------------------------------------------------------------


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
