"""The committed copy of /openapi.json (app/api/openapi.json) is what the app serves today with
the default settings, whatever this machine's environment; `make openapi` rewrites it and its
check fails on a stale or missing copy. What the copy holds: tests/api/test_openapi_json.py."""

from __future__ import annotations

import json
import re
import socket
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app import openapi_document
from app.main import create_app
from app.settings import Settings
from tests.conftest import BUNDLED_MODEL_DIR
from tests.support.processes import ROOT

COPY = ROOT / "app" / "api" / "openapi.json"

# Every setting the document could plausibly follow, and some it must not, away from its
# default: the model's directory, the batch limit (the batch schema's maxItems), the ports and
# the docs' port, the fast paths (the prediction routes' class), the telemetry switches.
HOSTILE_ENVIRONMENT = {
    "GLASSBOX_MODEL_DIR": "/nonexistent/model",
    "GLASSBOX_MAX_BATCH_ROWS": "7",
    "GLASSBOX_MAX_BODY_BYTES": "1000",
    "PORT": "8123",
    "HOST": "127.0.0.9",
    "GLASSBOX_ADMIN_PORT": "8124",
    "GLASSBOX_PUBLIC_DOCS": "false",
    "GLASSBOX_FAST_PATHS": "none",
    "GLASSBOX_TRACING_ENABLED": "false",
    "GLASSBOX_METRICS_ENABLED": "false",
    "GLASSBOX_DRIFT_ENABLED": "false",
    "GLASSBOX_ENVIRONMENT": "prod",
    "POD_NAME": "glassbox-0",
    "POD_NAMESPACE": "elsewhere",
}


def test_the_committed_copy_is_what_the_app_serves_today() -> None:
    wanted = openapi_document.current()
    assert list(wanted) == [COPY]
    assert COPY.exists(), "no app/api/openapi.json: run `make openapi`"
    assert COPY.read_text() == wanted[COPY], "stale: app/api/openapi.json; run `make openapi`"
    assert openapi_document.main(["--check"]) == 0


def test_the_copy_is_the_served_document_of_an_app_with_the_default_settings() -> None:
    """Against the route itself, in process: the bundled model, nothing else set."""
    served = TestClient(create_app(Settings(model_dir=BUNDLED_MODEL_DIR))).get("/openapi.json")
    assert served.status_code == 200
    assert served.json() == json.loads(COPY.read_text())


def test_the_copy_does_not_follow_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in HOSTILE_ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    # The oracle that the environment bites: the settings read it, and an app built from them
    # serves another batch limit.
    read = Settings()
    assert (read.max_batch_rows, read.model_dir) == (7, Path("/nonexistent/model"))
    moved = create_app(read.model_copy(update={"model_dir": BUNDLED_MODEL_DIR})).openapi()
    assert moved["components"]["schemas"]["CustomerBatch"]["properties"]["rows"]["maxItems"] == 7
    assert openapi_document.current()[COPY] == COPY.read_text()


def test_the_copy_names_nothing_of_this_machine() -> None:
    text = COPY.read_text()
    assert str(ROOT) not in text
    assert str(Path.home()) not in text
    assert not re.search(rf"\b{re.escape(socket.gethostname())}\b", text)
    assert "servers" not in json.loads(text)  # FastAPI adds them for a root path or a proxy
    assert text.isascii()
    assert text.endswith("}\n")


def test_the_check_fails_on_a_stale_or_missing_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    copy = tmp_path / "openapi.json"
    monkeypatch.setattr(openapi_document, "COPY", copy)
    assert openapi_document.main(["--check"]) == 1  # none written yet
    assert "run `make openapi`" in capsys.readouterr().out
    assert openapi_document.main([]) == 0
    assert openapi_document.main(["--check"]) == 0
    assert copy.read_text() == COPY.read_text()
    copy.write_text(copy.read_text().replace('"maxItems": 1000', '"maxItems": 999', 1))
    assert openapi_document.main(["--check"]) == 1
    assert "run `make openapi`" in capsys.readouterr().out
