"""With an admin port, /metrics and /drift answer only there and everything else only on the
public port; a path asked on the wrong port gets the service's 404 and never reaches the
service (not counted). Unset, one port serves everything. In process: the test client's URL
sets the port a request arrives on (``scope["server"]``)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from fastapi.testclient import TestClient
from httpx2 import Response
from pydantic import ValidationError
from starlette.types import Message, Scope

from app.api.ports import PortSplit
from app.main import create_app
from app.settings import ServerSettings, Settings
from tests.conftest import BUNDLED_MODEL_DIR
from tests.support.metrics import MissingSample, value

PUBLIC, ADMIN = 8000, 9100
ROW = {"age": 30, "signup_month": "June"}
ADMIN_GETS = ["/metrics", "/drift"]
PUBLIC_GETS = ["/healthz", "/readyz", "/model", "/docs", "/redoc", "/openapi.json"]
DOCS = ["/docs", "/redoc", "/openapi.json", "/docs/oauth2-redirect"]
REQUESTS = "http_server_request_duration_seconds_count"


class Port:
    """Requests to one port of the app (one client and its lifespan serve both ports)."""

    def __init__(self, client: TestClient, port: int) -> None:
        self.client = client
        self.base = f"http://testserver:{port}"

    def get(self, path: str) -> Response:
        return self.client.get(self.base + path)

    def post(self, path: str, json: object) -> Response:
        return self.client.post(self.base + path, json=json)


@contextmanager
def two_ports(**server: object) -> Iterator[tuple[Port, Port]]:
    settings = Settings(
        model_dir=BUNDLED_MODEL_DIR,
        server=ServerSettings(port=PUBLIC, admin_port=ADMIN, **server),  # type: ignore[arg-type]
    )
    with TestClient(create_app(settings)) as client:
        yield Port(client, PUBLIC), Port(client, ADMIN)


@pytest.fixture(scope="module")
def ports() -> Iterator[tuple[Port, Port]]:
    with two_ports() as both:
        yield both


@pytest.fixture(scope="module")
def unknown_path_404(ports: tuple[Port, Port]) -> dict[str, object]:
    """The body the app's own router and error handler give a path it does not have."""
    public, _ = ports
    response = public.get("/no-such-path")
    assert response.status_code == 404
    return dict(response.json())


@pytest.mark.parametrize(
    ("path", "home"), [(p, ADMIN) for p in ADMIN_GETS] + [(p, PUBLIC) for p in PUBLIC_GETS]
)
def test_each_path_answers_on_its_own_port_only(
    ports: tuple[Port, Port], unknown_path_404: dict[str, object], path: str, home: int
) -> None:
    """/metrics and /drift on the admin port; the probes, /model and the docs on the public
    one. The other port answers the service's own 404."""
    public, admin = ports
    own, other = (admin, public) if home == ADMIN else (public, admin)
    assert own.get(path).status_code == 200
    refused = other.get(path)
    assert refused.status_code == 404
    assert refused.json() == unknown_path_404
    assert refused.headers["content-type"] == "application/json"


def test_predictions_answer_on_the_public_port_only(
    ports: tuple[Port, Port], unknown_path_404: dict[str, object]
) -> None:
    public, admin = ports
    assert public.post("/predict", json=ROW).status_code == 200
    assert public.post("/predict/batch", json={"rows": [ROW, ROW]}).status_code == 200
    for path, body in (("/predict", ROW), ("/predict/batch", {"rows": [ROW]})):
        refused = admin.post(path, json=body)
        assert refused.status_code == 404
        assert refused.json() == unknown_path_404


def test_a_request_on_the_wrong_port_is_not_the_services_traffic(
    ports: tuple[Port, Port],
) -> None:
    """Counted are the requests the service answered, on their own port: three predictions on
    the public port are three; the ones sent to the admin port, and /drift asked on the public
    port, are not counted at all (not even as 404s)."""
    public, admin = ports

    def counts() -> tuple[float, float, float]:
        scrape = admin.get("/metrics").text
        predict = value(scrape, REQUESTS, http_route="/predict", http_response_status_code="200")
        try:
            refused = value(scrape, REQUESTS, http_response_status_code="404")
        except MissingSample:
            refused = 0.0  # a 404 series appears with the first 404 the service counts
        drift = value(scrape, REQUESTS, http_route="/drift")
        return predict, refused, drift

    before = counts()
    for _ in range(3):
        assert public.post("/predict", json=ROW).status_code == 200
        assert admin.post("/predict", json=ROW).status_code == 404
        assert public.get("/drift").status_code == 404
    assert admin.get("/drift").status_code == 200
    after = counts()
    assert after[0] - before[0] == 3
    assert after[1] == before[1]
    assert after[2] - before[2] == 1, "/drift answered on its port is counted, as on one port"


def test_the_docs_can_move_to_the_admin_port() -> None:
    with two_ports(public_docs=False) as (public, admin):
        for path in DOCS:
            assert public.get(path).status_code == 404, path
            assert admin.get(path).status_code == 200, path
        assert public.post("/predict", json=ROW).status_code == 200
        assert admin.get("/metrics").status_code == 200


def test_without_an_admin_port_the_docs_can_be_hidden() -> None:
    settings = Settings(model_dir=BUNDLED_MODEL_DIR, server=ServerSettings(public_docs=False))
    with TestClient(create_app(settings)) as client:
        for path in DOCS:
            assert client.get(path).status_code == 404, path
        for path in [*ADMIN_GETS, "/model", "/readyz"]:
            assert client.get(path).status_code == 200, path


def test_without_an_admin_port_one_port_serves_everything() -> None:
    app = create_app(Settings(model_dir=BUNDLED_MODEL_DIR))
    with TestClient(app, base_url=f"http://testserver:{ADMIN}") as client:
        for path in [*ADMIN_GETS, *PUBLIC_GETS]:
            assert client.get(path).status_code == 200, path
        assert client.post("/predict", json=ROW).status_code == 200


@pytest.mark.parametrize(
    ("variables", "message"),
    [({"PORT": "9100", "GLASSBOX_ADMIN_PORT": "9100"}, "must differ from PORT"),
     ({"GLASSBOX_ADMIN_PORT": "0"}, "greater than or equal to 1")],
)  # fmt: skip
def test_an_admin_port_that_cannot_work_refuses_to_start(
    monkeypatch: pytest.MonkeyPatch, variables: dict[str, str], message: str
) -> None:
    for name, text in variables.items():
        monkeypatch.setenv(name, text)
    with pytest.raises(ValidationError, match=message):
        Settings()


def test_a_request_without_a_local_address_is_a_public_one() -> None:
    """An ASGI server may leave ``scope["server"]`` out (a Unix socket): the public port."""
    asyncio.run(without_a_local_address())


async def without_a_local_address() -> None:
    seen: list[str] = []

    async def inner(scope: Scope, receive: object, send: object) -> None:
        seen.append(scope.get("path", scope["type"]))

    split = PortSplit(inner, admin_port=ADMIN, admin_only={"/metrics"})  # type: ignore[arg-type]
    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    async def receive() -> Message:
        return {"type": "http.request", "body": b""}

    for path in ("/predict", "/metrics"):
        scope = {"type": "http", "path": path, "server": None, "method": "GET", "headers": []}
        await split(scope, receive, send)
    assert seen == ["/predict"]
    assert sent[0]["status"] == 404
    lifespan: Scope = {"type": "lifespan"}
    await split(lifespan, receive, send)
    assert seen == ["/predict", "lifespan"], "the lifespan passed through"
    assert len(sent) == 2, "the 404's start and body, nothing more"
