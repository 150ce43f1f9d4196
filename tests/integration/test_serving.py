"""The service as a user runs it: gunicorn.conf.py, two uvicorn workers, real HTTP."""

import json
import signal
import time
from collections.abc import Iterator

import httpx2
import pytest

from app.settings import LogSettings
from examples.churn.generator import generate
from tests.conftest import BUNDLED_MODEL_DIR
from tests.support.processes import ROOT, Server, group_members
from tests.support.raw_model import RawModel

TIMEOUT = httpx2.Timeout(10.0)
# Request lines reach the log at most GLASSBOX_LOG_FLUSH_SECONDS after their response (error
# lines at once); a test's lines are all in the log this long after it ends.
LOG_SETTLE_S = LogSettings.model_fields["flush_seconds"].default + 0.05


@pytest.fixture(scope="module")
def raw_model() -> RawModel:
    """The oracle for predictions: LightGBM on a matrix encoded by hand from card.json."""
    return RawModel(BUNDLED_MODEL_DIR)


@pytest.fixture(scope="module")
def http(server: Server) -> httpx2.Client:
    with httpx2.Client(base_url=server.url, timeout=TIMEOUT) as client:
        yield client  # type: ignore[misc]


# How far each shared server's log has been checked, by log path.
_checked: dict[str, int] = {}


def _tracebacks(server: Server, start: int) -> tuple[str, int]:
    """(the log from byte ``start`` on if it holds a Traceback, else "", where it ends)."""
    with server.log_path.open("rb") as log:
        log.seek(start)
        new = log.read()
    text = new.decode(errors="replace")
    return (text if "Traceback" in text else ""), start + len(new)


@pytest.fixture(autouse=True)
def no_traceback_in_the_shared_server_s_log(request: pytest.FixtureRequest) -> Iterator[None]:
    """Per test, the part of the module's shared server log written while it ran holds no
    Traceback: a failure names the test that caused it. Lines written between tests (start-up,
    or a test's lines later than LOG_SETTLE_S) are checked, and blamed as such, before the
    next test starts."""
    if "server" not in request.fixturenames:
        yield
        return
    server: Server = request.getfixturevalue("server")
    key = str(server.log_path)
    between, start = _tracebacks(server, _checked.get(key, 0))
    assert not between, f"a Traceback before this test (start-up or an earlier test):\n{between}"
    yield
    time.sleep(LOG_SETTLE_S)
    during, _checked[key] = _tracebacks(server, start)
    assert not during, f"a Traceback in the server log during this test:\n{during}"


def test_two_workers_serve(server: Server, http: httpx2.Client) -> None:
    assert len(server.worker_pids()) == 2
    assert http.get("/healthz").json() == {"status": "ok"}
    assert http.get("/readyz").status_code == 200


def test_predict_over_http_matches_the_raw_model(http: httpx2.Client, raw_model: RawModel) -> None:
    minimal = {"age": 30, "signup_month": "June"}
    records = [minimal, *generate(20, seed=20).records()]
    for record, expected in zip(records, raw_model.predict(records), strict=True):
        response = http.post("/predict", json=record)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["churn_probability"] == expected
        assert body["churn"] == (expected >= raw_model.threshold)
        assert body["model_version"] == raw_model.version


def test_batch_over_http_keeps_input_order(http: httpx2.Client, raw_model: RawModel) -> None:
    records = list(generate(1000, seed=21).records())
    response = http.post("/predict/batch", json={"rows": records})
    assert response.status_code == 200
    got = [p["churn_probability"] for p in response.json()["predictions"]]
    assert got == raw_model.predict(records)


def test_a_batch_over_the_default_limit_is_refused(http: httpx2.Client) -> None:
    response = http.post(
        "/predict/batch", json={"rows": [{"age": 30, "signup_month": "May"}] * 1001}
    )
    assert response.status_code == 422
    assert "at most 1000" in response.json()["detail"][0]["msg"]


def test_sigterm_stops_master_and_workers_cleanly(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from tests.support.processes import gunicorn

    with gunicorn(tmp_path, workers=2) as running:
        pgid = running.master_pid
        started = time.monotonic()
        running.process.send_signal(signal.SIGTERM)
        assert running.process.wait(timeout=30) == 0
        assert time.monotonic() - started < 25
        assert group_members(pgid) == []
        assert "Shutting down: Master" in running.log()
        assert "Traceback" not in running.log()


def test_openapi_is_served_by_the_real_server(http: httpx2.Client) -> None:
    """And it is the committed copy (`make openapi`): gunicorn's workers, their settings read
    from the environment, serve the document the generator wrote in process."""
    response = http.get("/openapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    schema = response.json()
    assert "/predict" in schema["paths"]
    assert schema == json.loads((ROOT / "app" / "api" / "openapi.json").read_text()), (
        "the served document is not the committed copy: run `make openapi`"
    )
