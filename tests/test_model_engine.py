"""A worker says which engine serves its model: /readyz's body, glassbox_model_info's ``engine``
label, and one log line at load, which says why when the compiled engine was refused."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from app.settings import Settings
from tests.conftest import BUNDLED_MODEL_DIR
from tests.support.metrics import samples

OK_ROW = {"age": 30, "signup_month": "June"}


def serve(
    capsys: pytest.CaptureFixture[str], **settings: object
) -> tuple[dict[str, str], str, list[dict[str, object]]]:
    """/readyz's body, the engine label of glassbox_model_info and the load's log lines."""
    app = create_app(Settings(model_dir=BUNDLED_MODEL_DIR, log={"format": "json"}, **settings))  # type: ignore[arg-type]
    with TestClient(app) as client:
        ready = client.get("/readyz")
        assert ready.status_code == 200, ready.text
        assert client.post("/predict", json=OK_ROW).status_code == 200
        text = client.get("/metrics").text
    (engine,) = {
        dict(labels)["engine"] for (name, labels) in samples(text) if name == "glassbox_model_info"
    }
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line]
    loaded = [line for line in lines if str(line.get("event", "")).startswith("model loaded")]
    return ready.json(), engine, loaded


@pytest.mark.usefixtures("multiprocess_dir")
def test_a_verified_artifact_serves_and_says_so(
    engine_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    body, engine, lines = serve(capsys, model_engine_dir=engine_dir)
    assert (body["engine"], engine) == ("lleaves", "lleaves")
    assert [(line["level"], line["event"].rsplit("; ", 1)[1]) for line in lines] == [
        ("info", "engine lleaves")
    ], lines


@pytest.mark.usefixtures("multiprocess_dir")
def test_the_setting_keeps_lightgbm(engine_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    body, engine, lines = serve(capsys, model_engine_dir=engine_dir, model_engine="lightgbm")
    assert (body["engine"], engine) == ("lightgbm", "lightgbm")
    assert [(line["level"], line["event"].rsplit("; ", 1)[1]) for line in lines] == [
        ("info", "engine lightgbm (GLASSBOX_MODEL_ENGINE=lightgbm)")
    ], lines


@pytest.mark.usefixtures("multiprocess_dir")
def test_a_damaged_artifact_falls_back_to_lightgbm_and_says_why_once(
    engine_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    damaged = Path(shutil.copytree(engine_dir, tmp_path / "engine"))
    (artifact,) = damaged.glob("*.lleaves.o")
    artifact.write_bytes(artifact.read_bytes()[:-1])
    body, engine, lines = serve(capsys, model_engine_dir=damaged)
    assert (body["engine"], engine) == ("lightgbm", "lightgbm")
    ((level, event),) = [(line["level"], str(line["event"])) for line in lines]
    assert level == "warning"
    assert "engine lightgbm, the compiled engine refused" in event
    assert "corrupt or replaced" in event


@pytest.mark.usefixtures("multiprocess_dir")
def test_without_an_engine_directory_lightgbm_serves(capsys: pytest.CaptureFixture[str]) -> None:
    body, engine, lines = serve(capsys)
    assert (body["engine"], engine) == ("lightgbm", "lightgbm")
    assert [(line["level"], line["event"].rsplit("; ", 1)[1]) for line in lines] == [
        ("info", "engine lightgbm (no GLASSBOX_MODEL_ENGINE_DIR)")
    ], lines
