"""The composition root's own helpers."""

import asyncio
import gc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import app.main
from app.main import every
from app.model.card import CARD_FILE, MODEL_FILE, PROFILE_FILE
from app.model.predictor import Predictor
from tests.api.conftest import make_client
from tests.support.file_opens import opened_files


def test_a_periodic_action_that_fails_keeps_running() -> None:
    calls: list[int] = []

    def flaky() -> None:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("first run fails")

    async def run_for_a_while() -> None:
        task = asyncio.create_task(every(0.01, flaky))
        await asyncio.sleep(0.2)
        task.cancel()

    asyncio.run(run_for_a_while())
    assert len(calls) > 2


@pytest.fixture
def nothing_frozen() -> Iterator[None]:
    gc.unfreeze()
    yield
    gc.unfreeze()


@pytest.mark.usefixtures("nothing_frozen")
def test_a_ready_worker_has_frozen_its_start_up_objects_out_of_the_collector() -> None:
    """Full collections over start-up's long-lived objects stall the event loop (~50 ms)."""
    with make_client() as client:
        assert client.get("/readyz").status_code == 200
        assert gc.get_freeze_count() > 50_000, "the app, the model and the libraries"


@pytest.mark.usefixtures("nothing_frozen")
def test_gc_freeze_can_be_switched_off() -> None:
    with make_client(server={"gc_freeze": False}) as client:
        assert client.get("/readyz").status_code == 200
        assert gc.get_freeze_count() == 0


def test_a_worker_reads_its_card_profile_and_model_once(model_copy: Path) -> None:
    """The app is built on the card and profile it read; the lifespan loads the model against
    that card rather than reading it again."""
    with opened_files(model_copy) as opened, make_client(model_copy) as client:
        assert client.get("/readyz").status_code == 200
        assert client.post("/predict", json={"age": 30, "signup_month": "June"}).status_code == 200
        assert client.get("/drift").status_code == 200
    assert opened == {
        (model_copy / name).resolve(): 1 for name in (CARD_FILE, PROFILE_FILE, MODEL_FILE)
    }


def test_the_worker_warms_its_paths_before_it_says_ready(monkeypatch: pytest.MonkeyPatch) -> None:
    """Readiness waits for the warm-up (app/warm_up.py): while it runs, the worker has no
    predictor, so /readyz answers 503 and predictions are refused."""
    seen: list[object] = []
    real = app.main.warm_up

    def observed(predictor: Predictor, *args: Any) -> None:
        state = client.app.state.service  # type: ignore[attr-defined]
        seen.append(state.predictor)
        real(predictor, *args)

    monkeypatch.setattr(app.main, "warm_up", observed)
    client = make_client()
    with client:
        assert seen == [None]
        assert client.get("/readyz").status_code == 200


def test_the_warm_up_counts_records_and_logs_nothing(
    capsys: pytest.CaptureFixture[str], multiprocess_dir: Path
) -> None:
    """The metrics, the drift counts and the request log hold served requests only."""
    with make_client(log={"format": "json"}) as client:
        capsys.readouterr()
        metrics = client.get("/metrics").text
        drift = client.get("/drift").json()
    assert "glassbox_predictions_total{" not in metrics or all(
        line.endswith(" 0.0")
        for line in metrics.splitlines()
        if line.startswith("glassbox_predictions_total{")
    )
    assert drift["since_start"]["prediction"]["count"] == 0
    assert '"route":"/predict' not in capsys.readouterr().out
