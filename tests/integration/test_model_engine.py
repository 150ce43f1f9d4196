"""The compiled engine under real gunicorn: every worker loads the verified artifact, says so on
/readyz and in glassbox_model_info, and answers LightGBM's probabilities to the bit; a damaged
artifact leaves every worker on LightGBM, each saying why once, and the pod ready."""

from __future__ import annotations

import shutil
from contextlib import AbstractContextManager
from pathlib import Path

import httpx2

from examples.churn.generator import generate
from tests.conftest import BUNDLED_MODEL_DIR
from tests.support.metrics import samples
from tests.support.processes import Server, gunicorn
from tests.support.raw_model import RawModel

WORKERS = 2


def engines_by_worker(server: Server) -> dict[str, str]:
    """Each worker's /readyz engine, asked on fresh connections until every worker answered."""
    seen: dict[str, str] = {}
    for _ in range(200):
        r = httpx2.get(f"{server.url}/readyz", headers={"connection": "close"}, timeout=10)
        assert r.status_code == 200, r.text
        seen[r.headers["x-worker-pid"]] = r.json()["engine"]
        if len(seen) == WORKERS:
            break
    assert len(seen) == WORKERS, seen
    return seen


def model_info_engines(server: Server) -> set[str]:
    text = httpx2.get(f"{server.url}/metrics", timeout=10).text
    return {dict(labels)["engine"] for (n, labels) in samples(text) if n == "glassbox_model_info"}


def serve(tmp_path: Path, engine_dir: Path) -> AbstractContextManager[Server]:
    env = {"GLASSBOX_MODEL_ENGINE_DIR": str(engine_dir), "GLASSBOX_WORKER_PID_HEADER": "true",
           "GLASSBOX_TRACING_ENABLED": "false", "GLASSBOX_LOG_FORMAT": "json"}  # fmt: skip
    return gunicorn(tmp_path, workers=WORKERS, env=env)


def test_every_worker_serves_the_compiled_engine_with_lightgbms_answers(
    tmp_path: Path, engine_dir: Path
) -> None:
    records = list(generate(500, 28).records())
    with serve(tmp_path, engine_dir) as server:
        assert set(engines_by_worker(server).values()) == {"lleaves"}
        assert model_info_engines(server) == {"lleaves"}
        r = httpx2.post(f"{server.url}/predict/batch", json={"rows": records}, timeout=30)
        assert r.status_code == 200, r.text
        got = [row["churn_probability"] for row in r.json()["predictions"]]
        loaded = [e for e in server.log_events() if str(e.get("event")).startswith("model loaded")]
    # JSON carries a float64 exactly (orjson writes the shortest repr that reads back the same).
    assert got == RawModel(BUNDLED_MODEL_DIR).predict(records)
    assert len(loaded) == WORKERS
    assert all(e["event"].endswith("; engine lleaves") for e in loaded), loaded


def test_a_damaged_artifact_leaves_every_worker_on_lightgbm_and_ready(
    tmp_path: Path, engine_dir: Path
) -> None:
    damaged = Path(shutil.copytree(engine_dir, tmp_path / "engine"))
    (artifact,) = damaged.glob("*.lleaves.o")
    data = bytearray(artifact.read_bytes())
    data[100] ^= 0xFF
    artifact.write_bytes(bytes(data))
    with serve(tmp_path, damaged) as server:
        assert set(engines_by_worker(server).values()) == {"lightgbm"}
        assert model_info_engines(server) == {"lightgbm"}
        loaded = [e for e in server.log_events() if str(e.get("event")).startswith("model loaded")]
    assert len(loaded) == WORKERS
    for event in loaded:
        assert event["level"] == "warning"
        assert "the compiled engine refused" in event["event"]
        assert "corrupt or replaced" in event["event"]
